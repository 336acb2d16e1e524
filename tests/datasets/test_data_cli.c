/* test_data_cli.c — `wafer tokenize` and `wafer tokenizer-train` as a user runs
** them: exit codes and the exact messages for bad flags, and a small end-to-end
** run (learn a vocabulary, tokenize with it, read the shards back). Runs the
** built binary (WF_WAFER, set by CMake). */
#include "datasets/shards.h"
#include "model/tokenizer.h"
#include "tests/check.h"
#include "tests/run_cmd.h"

#include <stdlib.h>
#include <sys/wait.h>

static char root[64];
static char out[8192];

/* Runs `wafer ARGS` with stderr merged into out; returns the exit code. */
static int run(const char *args) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s", WF_WAFER, args);
    return wf_run_cmd(cmd, out, sizeof out);
}

static void test_bad_flags(void) {
    WF_CHECK_EQ(run("tokenize --out x in"), 2);
    WF_CHECK_STR(out, "wafer tokenize: --model DIR is required (the tokenizer to encode with) "
                      "(see 'wafer tokenize --help')\n");
    WF_CHECK_EQ(run("tokenize --model data/gpt2 in"), 2);
    WF_CHECK_HAS(out, "wafer tokenize: --out DATA_DIR is required");
    WF_CHECK_EQ(run("tokenize --model data/gpt2 --out x"), 2);
    WF_CHECK_HAS(out, "wafer tokenize: no INPUT files or folders given");
    WF_CHECK_EQ(run("tokenize --model data/gpt2 --out x --val-fraction 0.9 in"), 2);
    WF_CHECK_HAS(out, "wafer tokenize: --val-fraction '0.9': expected a number in [0, 0.5]");
    WF_CHECK_EQ(run("tokenize --model data/gpt2 --out x --threads 0 in"), 2);
    WF_CHECK_HAS(out, "wafer tokenize: --threads '0': expected an integer in [1, 64]");
    WF_CHECK_EQ(run("tokenize --model data/gpt2 --out x --bogus in"), 2);
    WF_CHECK_STR(out, "wafer tokenize: unknown option '--bogus' (see 'wafer tokenize --help')\n");
    WF_CHECK_EQ(run("tokenize --model data/gpt2 --out"), 2);
    WF_CHECK_HAS(out, "wafer tokenize: --out needs a value");
    WF_CHECK_EQ(run("tokenize --model /nonexistent/tok --out x in"), 1);
    WF_CHECK_HAS(out, "/nonexistent/tok");
    WF_CHECK_EQ(run("tokenize --help"), 0);
    WF_CHECK_HAS(out, "usage: wafer tokenize --model DIR --out DATA_DIR");

    WF_CHECK_EQ(run("tokenizer-train --out x in"), 2);
    WF_CHECK_HAS(out, "wafer tokenizer-train: --vocab-size N is required");
    WF_CHECK_EQ(run("tokenizer-train --vocab-size 100 --out x in"), 2);
    WF_CHECK_HAS(out, "wafer tokenizer-train: --vocab-size '100': expected an integer in [257, 4194304]");
    WF_CHECK_EQ(run("tokenizer-train --vocab-size 300 --min-frequency 0 --out x in"), 2);
    WF_CHECK_HAS(out, "wafer tokenizer-train: --min-frequency '0': expected a positive integer");
    WF_CHECK_EQ(run("tokenizer-train --vocab-size"), 2);
    WF_CHECK_HAS(out, "wafer tokenizer-train: --vocab-size needs a value");
    WF_CHECK_EQ(run("tokenizer-train --vocab-size 300 in"), 2);
    WF_CHECK_HAS(out, "wafer tokenizer-train: --out DIR is required");
    WF_CHECK_EQ(run("tokenizer-train --vocab-size 300 --out x /nonexistent/corpus"), 1);
    WF_CHECK_STR(out, "wafer tokenizer-train: /nonexistent/corpus: No such file or directory\n");
}

static void test_end_to_end(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/in && printf 'the cat sat on the mat. the cat ate the rat.\\n' > %s/in/a.txt && "
             "printf '{\"text\": \"the rat sat on the cat\"}\\n{\"text\": 5}\\n' > %s/in/b.jsonl && "
             "printf 'x\\000y' > %s/in/c.txt",
             root, root, root, root);
    WF_CHECK_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "tokenizer-train --vocab-size 264 --out %s/tok --quiet %s/in", root, root);
    WF_CHECK_EQ(run(cmd), 0);
    WF_CHECK_HAS(out, "skipped ");
    WF_CHECK_HAS(out, "/in/b.jsonl:2: no \"text\" string member\n");
    WF_CHECK_HAS(out, "/in/c.txt: binary file (NUL byte at byte 1)\n");
    WF_CHECK_HAS(out, "tokenizer-train: 2 files read, 1 skipped, 1 lines skipped");
    snprintf(cmd, sizeof cmd, "tokenize --model %s/tok --out %s/data --val-fraction 0 --quiet %s/in", root, root,
             root);
    WF_CHECK_EQ(run(cmd), 0);
    WF_CHECK_HAS(out, "tokenize: 2 files read, 1 skipped, 1 lines skipped, 0 folder entries ignored\n");
    char dir[128];
    snprintf(dir, sizeof dir, "%s/data", root);
    wf_shards *s = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_shards_open(dir, &s, &e), WF_OK);
    snprintf(dir, sizeof dir, "%s/tok", root);
    wf_tokenizer *t = NULL;
    WF_CHECK_EQ(wf_tokenizer_load(dir, &t, &e), WF_OK);
    if (s && t) {
        WF_CHECK_EQ(wf_shards_vocab_size(s), 264);
        WF_CHECK_EQ(wf_shards_eos(s), 263);
        uint64_t n = wf_shards_count(s, WF_SPLIT_TRAIN);
        int32_t ids[256];
        WF_CHECK(n < 256);
        WF_CHECK_EQ(wf_shards_read(s, WF_SPLIT_TRAIN, 0, (size_t)n, ids, &e), WF_OK);
        char *text = NULL;
        size_t len = 0;
        WF_CHECK_EQ(wf_tokenizer_decode(t, ids, (size_t)n, &text, &len, &e), WF_OK);
        WF_CHECK_STR(text, "the cat sat on the mat. the cat ate the rat.\n<|endoftext|>"
                           "the rat sat on the cat<|endoftext|>");
        wf_free(NULL, text);
    }
    wf_tokenizer_free(t);
    wf_shards_close(s);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/wf_test_data_cli_XXXXXX");
    if (!mkdtemp(root)) return 1;
    test_bad_flags();
    test_end_to_end();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) return 1;
    return wf_check_report();
}
