/* cmd_tokenize.c — `wafer tokenize`: text files and folders -> a DATA_DIR of
** token shards (datasets/tokenize.h) for `wafer train` and `wafer eval`.
** Every skipped file or line is printed, one per line, with a count at the end. */
#include "cli/cli.h"
#include "datasets/tokenize.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const help =
    "usage: wafer tokenize --model DIR --out DATA_DIR [options] INPUT...\n"
    "\n"
    "Encodes text with the tokenizer of DIR (vocab.json + merges.txt, or tokenizer.json)\n"
    "into binary token shards in DATA_DIR, plus DATA_DIR/meta.json.\n"
    "\n"
    "INPUT is a file or a folder (read recursively, names in byte order). In folders only\n"
    "*.txt (one document per file) and *.jsonl (one JSON object per line, document =\n"
    "its \"text\" string) are read; other entries are counted and listed by extension.\n"
    "A file named directly is read whatever its name (*.jsonl as JSON lines, else text).\n"
    "Files that are empty, binary (NUL bytes), not valid UTF-8 or only whitespace are\n"
    "skipped, each reported on its own line. Documents are joined with <|endoftext|>.\n"
    "\n"
    "options:\n"
    "  --model DIR          tokenizer folder (a model folder or `wafer tokenizer-train` output);\n"
    "                       'gpt2' is the bundled GPT-2 vocabulary\n"
    "  --out DATA_DIR       output folder (created; an earlier dataset there is replaced whole:\n"
    "                       the new one is built in DATA_DIR.tmp-PID beside it and swapped in)\n"
    "  --val-fraction F     share of tokens held out for validation, 0..0.5 (default 0.005)\n"
    "  --threads N          encoding threads (default: number of CPUs)\n"
    "  --shard-tokens N     tokens per shard file (default 100000000)\n"
    "  --quiet              no progress lines\n";

static void print_skip(const char *msg, void *ud) {
    (void)ud;
    fprintf(stderr, "%s\n", msg);
}

int wf_cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize", *model = NULL, *out = NULL;
    double val = 0.005;
    long long threads = sysconf(_SC_NPROCESSORS_ONLN), shard = 0;
    int quiet = 0;
    const char **inputs = wf_calloc(NULL, (size_t)argc * sizeof *inputs, "input list", NULL);
    int n_in = 0;
    if (!inputs) return 1;
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--model") && has) model = argv[++i];
        else if (!strcmp(a, "--out") && has) out = argv[++i];
        else if (!strcmp(a, "--val-fraction") && has) {
            if (wf_cli_parse_double(argv[++i], 0, 0.5, &val)) {
                rc = wf_cli_usage(cmd, "--val-fraction '%s': expected a number in [0, 0.5]", argv[i]);
                goto out;
            }
        } else if (!strcmp(a, "--threads") && has) {
            if (wf_cli_parse_long(argv[++i], 1, 64, &threads)) {
                rc = wf_cli_usage(cmd, "--threads '%s': expected an integer in [1, 64]", argv[i]);
                goto out;
            }
        } else if (!strcmp(a, "--shard-tokens") && has) {
            if (wf_cli_parse_long(argv[++i], 1, 1000000000000LL, &shard)) {
                rc = wf_cli_usage(cmd, "--shard-tokens '%s': expected a positive integer", argv[i]);
                goto out;
            }
        } else if (!strcmp(a, "--quiet")) quiet = 1;
        else if (!has && (!strcmp(a, "--model") || !strcmp(a, "--out") || !strcmp(a, "--val-fraction") ||
                          !strcmp(a, "--threads") || !strcmp(a, "--shard-tokens"))) {
            rc = wf_cli_usage(cmd, "%s needs a value", a);
            goto out;
        } else if (a[0] == '-' && a[1]) {
            rc = wf_cli_usage(cmd, "unknown option '%s'", a);
            goto out;
        } else inputs[n_in++] = a;
    }
    if (!model) {
        rc = wf_cli_usage(cmd, "--model DIR is required (the tokenizer to encode with)");
        goto out;
    }
    if (!out) {
        rc = wf_cli_usage(cmd, "--out DATA_DIR is required");
        goto out;
    }
    if (!n_in) {
        rc = wf_cli_usage(cmd, "no INPUT files or folders given");
        goto out;
    }
    wf_cli_log_init(quiet);
    wf_err err = {0};
    wf_tokenizer *tok = NULL;
    if (wf_tokenizer_open(model, &tok, &err)) {
        rc = wf_cli_fail(cmd, &err);
        goto out;
    }
    char absdir[4096];
    const char *tokdir = realpath(model, absdir) ? absdir : model; /* recorded in meta.json */
    wf_tokenize_opts o = {.out_dir = out, .tokenizer_dir = tokdir, .val_fraction = val, .threads = (int)threads,
                          .shard_tokens = (uint64_t)shard, .on_skip = print_skip, .progress_every = quiet ? 0 : 5.0};
    wf_tokenize_stats s;
    wf_status st = wf_tokenize_run(tok, inputs, n_in, &o, &s, &err);
    wf_tokenizer_free(tok);
    if (st) {
        rc = wf_cli_fail(cmd, &err);
        goto out;
    }
    uint64_t total = s.tokens[0] + s.tokens[1];
    fprintf(stderr,
            "tokenize: %llu files read, %llu skipped, %llu lines skipped, %llu folder entries ignored\n"
            "tokenize: %llu documents, %.2f MB of text -> %llu tokens (%llu train in %d shards, %llu val in %d), "
            "%.2f bytes/token, %.1f s\n"
            "tokenize: unigram entropy of the train tokens: %.4f nats/token (a model that ignores context "
            "cannot beat this loss)\n",
            (unsigned long long)s.files, (unsigned long long)s.skipped_files, (unsigned long long)s.skipped_lines,
            (unsigned long long)s.ignored, (unsigned long long)s.documents, (double)s.bytes / 1e6,
            (unsigned long long)total, (unsigned long long)s.tokens[0], s.shards[0], (unsigned long long)s.tokens[1],
            s.shards[1], total ? (double)s.bytes / (double)total : 0.0, s.seconds, s.entropy_nats);
    if (s.val_by_tokens)
        fprintf(stderr, "tokenize: the corpus has too few documents to split by document: its last %llu tokens "
                        "(--val-fraction %g) are the validation split\n", (unsigned long long)s.tokens[1], val);
    if (val > 0 && s.tokens[1] == 0)
        fprintf(stderr, "warning: the validation split is empty: the corpus has too few documents or segments "
                        "for --val-fraction %g; raise it or add documents\n", val);
    rc = 0;
out:
    wf_free(NULL, inputs);
    return rc;
}
