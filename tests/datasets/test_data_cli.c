/* test_data_cli.c — `wafer tokenize` and `wafer tokenizer-train` as a user runs
** them: exit codes and the exact messages for bad flags, and a small end-to-end
** run (learn a vocabulary, tokenize with it, read the shards back); every
** command's output to a full stdout (/dev/full) is an error, not exit 0.
** Runs the built binary (WF_WAFER, set by CMake). */
#include "datasets/shards.h"
#include "model/tokenizer.h"
#include "tests/check.h"
#include "tests/run_cmd.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Needs the dataset and tokenizer of test_end_to_end. A preset trained on
** them ships the tokenizer meta.json names, with bos/eos at its
** <|endoftext|> (263, not GPT-2's 50256, outside a 264-id vocabulary); with
** the tokenizer gone the run says its checkpoints hold none. */
static void train_ships_the_datas_tokenizer(void) {
    char cmd[1024], path[160], *cfg = NULL;
    size_t n = 0;
    const char *m = "--model cerebras-gpt-111m --n-layer 1 --n-embd 16 --n-head 2 --n-positions 16 --vocab-size 264 "
                    "--seq 8 --batch 1 --steps 1 --threads 1";
    snprintf(cmd, sizeof cmd, "train %s --data %s/data --out %s/run", m, root, root);
    WF_CHECK_EQ(run(cmd), 0);
    WF_CHECK(strstr(out, "no tokenizer") == NULL);
    snprintf(path, sizeof path, "%s/run/ckpt-00000001/config.json", root);
    WF_CHECK_EQ(wf_file_read(NULL, path, &cfg, &n, NULL), WF_OK);
    WF_CHECK_HAS(cfg ? cfg : "", "\"bos_token_id\":\t263");
    WF_CHECK_HAS(cfg ? cfg : "", "\"eos_token_id\":\t263");
    wf_free(NULL, cfg);
    snprintf(path, sizeof path, "%s/run/ckpt-00000001/vocab.json", root);
    WF_CHECK(wf_path_exists(path));
    snprintf(cmd, sizeof cmd, "mv %s/tok %s/tok.moved", root, root);
    WF_CHECK_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "train %s --data %s/data --out %s/run2", m, root, root);
    WF_CHECK_EQ(run(cmd), 0);
    WF_CHECK_HAS(out, "warning: checkpoints will hold no tokenizer files (");
    WF_CHECK_HAS(out, "give --tokenizer DIR to ship one");
    snprintf(cmd, sizeof cmd, "mv %s/tok.moved %s/tok", root, root);
    WF_CHECK_EQ(system(cmd), 0);
}

/* Runs `wafer ARGS >/dev/full`; stderr alone lands in out. Returns the exit code. */
static int run_full(const char *args) {
    char cmd[2048], path[128];
    snprintf(path, sizeof path, "%s/stderr.txt", root);
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/full 2>%s", WF_WAFER, args, path);
    int rc = wf_run_cmd(cmd, out, sizeof out);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    if (f) fclose(f);
    out[n] = 0;
    return rc;
}

/* Needs the dataset and tokenizer of test_end_to_end. */
static void every_command_reports_a_full_stdout(void) {
    static const char *const cmds[][2] = {
        {"info tests/fixtures/models/tiny-gelu", "wafer info: "},
        {"score --model tests/fixtures/models/tiny-gelu < %s/ids.txt", "wafer score: "},
        {"eval --model tests/fixtures/models/tiny-gelu --data %s/data --split train --seq 4", "wafer eval: "},
        {"encode --model data/gpt2 < tests/fixtures/models/tiny-gelu/config.json", "wafer encode: "},
        {"decode --model %s/tok < %s/ids.txt", "wafer decode: "},
        {"sim gemv --m 16 --n 16 --kx 2 --ky 2 --json", "gemv: "},
        {"--help", "wafer help: "},
    };
    char path[128];
    snprintf(path, sizeof path, "%s/ids.txt", root);
    WF_CHECK_EQ(wf_file_write_atomic(path, "1 2 3\n", 6, NULL), WF_OK);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[1024];
        snprintf(args, sizeof args, cmds[i][0], root, root);
        WF_CHECK_EQ(run_full(args), 1);
        char want[128];
        snprintf(want, sizeof want, "%swriting standard output: No space left on device\n", cmds[i][1]);
        WF_CHECK_HAS(out, want);
        if (!strstr(out, want)) fprintf(stderr, "  (command: wafer %s)\n", args);
    }
    /* generate flushes every token and stops at the first failed write, naming the reason */
    char gen[600];
    snprintf(gen, sizeof gen, "generate --model tests/fixtures/models/tiny-gelu --prompt a --max-tokens 4 "
             "--tokenizer %s/tok", root);
    WF_CHECK_EQ(run_full(gen), 1);
    WF_CHECK_HAS(out, "wafer generate: writing standard output: No space left on device");
}

/* score --logits and an example's --trace follow a symlink to its target and
** keep the link (they used to replace the link with a regular file). */
static void user_outputs_keep_symlinks(void) {
    char cmd[1024], link[128], real[128];
    struct stat st;
    const char *names[2] = {"logits", "trace"};
    for (int k = 0; k < 2; k++) {
        snprintf(link, sizeof link, "%s/%s.link", root, names[k]);
        snprintf(real, sizeof real, "%s/%s.real", root, names[k]);
        WF_CHECK_EQ(symlink(real, link), 0);
        if (k == 0)
            snprintf(cmd, sizeof cmd, "score --model tests/fixtures/models/tiny-gelu --logits %s < %s/ids.txt", link,
                     root);
        else snprintf(cmd, sizeof cmd, "sim gemv --m 16 --n 16 --kx 2 --ky 2 --trace %s", link);
        WF_CHECK_EQ(run(cmd), 0);
        WF_CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
        WF_CHECK(stat(real, &st) == 0 && S_ISREG(st.st_mode));
        if (k == 0) WF_CHECK_EQ(st.st_size, 3 * 512 * 4); /* [T=3, V=512] float32 */
        else WF_CHECK(st.st_size > 100);
    }
}

/* A FIFO in place of config.json or tokenizer.json is an error naming it,
** never a wait for a writer (timeout 20 turns a hang into exit 124). */
static void fifo_inputs_fail_fast(void) {
    char dir[128], p[192], cmd[512];
    snprintf(dir, sizeof dir, "%s/fifo_model", root);
    WF_CHECK_EQ(mkdir(dir, 0755), 0);
    snprintf(p, sizeof p, "%s/config.json", dir);
    WF_CHECK_EQ(mkfifo(p, 0644), 0);
    snprintf(cmd, sizeof cmd, "timeout 20 '%s' info %s", WF_WAFER, dir);
    WF_CHECK_EQ(wf_run_cmd(cmd, out, sizeof out), 1);
    WF_CHECK_HAS(out, "/fifo_model/config.json: not a regular file (a FIFO)");
    unlink(p);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    WF_CHECK_EQ(mkfifo(p, 0644), 0);
    snprintf(cmd, sizeof cmd, "timeout 20 '%s' encode --model %s < /dev/null", WF_WAFER, dir);
    WF_CHECK_EQ(wf_run_cmd(cmd, out, sizeof out), 1);
    WF_CHECK_HAS(out, "/fifo_model/tokenizer.json: not a regular file (a FIFO)");
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/wf_test_data_cli_XXXXXX");
    if (!mkdtemp(root)) return 1;
    test_bad_flags();
    test_end_to_end();
    train_ships_the_datas_tokenizer();
    every_command_reports_a_full_stdout();
    user_outputs_keep_symlinks();
    fifo_inputs_fail_fast();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) return 1;
    return wf_check_report();
}
