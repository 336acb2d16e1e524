/* cmd_tokenizer_train.c — `wafer tokenizer-train`: learns a byte-level BPE
** vocabulary from the user's text (datasets/bpe_train.h) and writes an HF-
** loadable tokenizer folder (vocab.json, merges.txt, tokenizer.json, ...)
** that `wafer tokenize --model DIR` and transformers both read. */
#include "cli/cli.h"
#include "datasets/bpe_train.h"

#include <string.h>
#include <unistd.h>

static const char *const help =
    "usage: wafer tokenizer-train --vocab-size N --out DIR [options] INPUT...\n"
    "\n"
    "Learns a GPT-2-style byte-level BPE tokenizer from INPUT files and folders\n"
    "(same rules as `wafer tokenize`: *.txt and *.jsonl in folders; bad files are\n"
    "skipped and reported) and writes DIR/vocab.json, merges.txt, tokenizer.json,\n"
    "tokenizer_config.json and special_tokens_map.json.\n"
    "Ids: 0..255 the bytes, 256.. the merges in order, then <|endoftext|> (id N-1).\n"
    "\n"
    "options:\n"
    "  --vocab-size N       total vocabulary incl. 256 bytes and <|endoftext|> (>= 257)\n"
    "  --out DIR            output folder (created)\n"
    "  --min-frequency K    do not merge pairs seen fewer than K times (default 2)\n"
    "  --threads N          pre-tokenizing threads (default: number of CPUs)\n"
    "  --quiet              no progress lines\n";

static void print_skip(const char *msg, void *ud) {
    (void)ud;
    fprintf(stderr, "%s\n", msg);
}

int wf_cmd_tokenizer_train(int argc, char **argv) {
    const char *cmd = "tokenizer-train", *out = NULL;
    long long vocab = 0, minf = 2, threads = sysconf(_SC_NPROCESSORS_ONLN);
    int quiet = 0, n_in = 0, rc = 2;
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    const char **inputs = wf_calloc(NULL, (size_t)argc * sizeof *inputs, "input list", NULL);
    if (!inputs) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--vocab-size") && has) {
            if (wf_cli_parse_long(argv[++i], 257, 1 << 22, &vocab)) {
                rc = wf_cli_usage(cmd, "--vocab-size '%s': expected an integer in [257, %d] "
                                       "(256 bytes + merges + <|endoftext|>)", argv[i], 1 << 22);
                goto out;
            }
        } else if (!strcmp(a, "--out") && has) out = argv[++i];
        else if (!strcmp(a, "--min-frequency") && has) {
            if (wf_cli_parse_long(argv[++i], 1, (long long)1 << 62, &minf)) {
                rc = wf_cli_usage(cmd, "--min-frequency '%s': expected a positive integer", argv[i]);
                goto out;
            }
        } else if (!strcmp(a, "--threads") && has) {
            if (wf_cli_parse_long(argv[++i], 1, 64, &threads)) {
                rc = wf_cli_usage(cmd, "--threads '%s': expected an integer in [1, 64]", argv[i]);
                goto out;
            }
        } else if (!strcmp(a, "--quiet")) quiet = 1;
        else if (!has && (!strcmp(a, "--vocab-size") || !strcmp(a, "--out") || !strcmp(a, "--min-frequency") ||
                          !strcmp(a, "--threads"))) {
            rc = wf_cli_usage(cmd, "%s needs a value", a);
            goto out;
        } else if (a[0] == '-' && a[1]) {
            rc = wf_cli_usage(cmd, "unknown option '%s'", a);
            goto out;
        } else inputs[n_in++] = a;
    }
    if (!vocab) {
        rc = wf_cli_usage(cmd, "--vocab-size N is required");
        goto out;
    }
    if (!out) {
        rc = wf_cli_usage(cmd, "--out DIR is required");
        goto out;
    }
    if (!n_in) {
        rc = wf_cli_usage(cmd, "no INPUT files or folders given");
        goto out;
    }
    wf_cli_log_init(quiet);
    wf_bpe_train_opts o = {.vocab_size = (int)vocab, .min_frequency = minf, .threads = (int)threads,
                           .on_skip = print_skip, .progress_every = quiet ? 0 : 2.0};
    wf_bpe_train_stats s;
    wf_tokenizer *tok = NULL;
    wf_err err = {0};
    if (wf_bpe_train_files(inputs, n_in, &o, &tok, &s, &err) || wf_tokenizer_save(tok, out, &err)) {
        wf_tokenizer_free(tok);
        rc = wf_cli_fail(cmd, &err);
        goto out;
    }
    fprintf(stderr,
            "tokenizer-train: %llu files read, %llu skipped, %llu lines skipped, %llu folder entries ignored\n"
            "tokenizer-train: %.2f MB, %llu words (%llu distinct) counted in %.1f s\n"
            "tokenizer-train: %d merges in %.1f s (last pair seen %lld times; %d merges not taken because their "
            "result was already a token) -> vocabulary %d\n",
            (unsigned long long)s.files, (unsigned long long)s.skipped_files, (unsigned long long)s.skipped_lines,
            (unsigned long long)s.ignored, (double)s.bytes / 1e6, (unsigned long long)s.words,
            (unsigned long long)s.unique_words, s.seconds_count, s.merges, s.seconds_merge, s.last_count,
            s.dup_skipped, wf_tokenizer_vocab_size(tok));
    if (s.long_skipped)
        fprintf(stderr, "tokenizer-train: %d pairs not merged: the token would be longer than %d bytes "
                        "(a long repeated line?)\n", s.long_skipped, WF_BPE_MAX_TOKEN_SPELLED);
    if (s.merges < (int)vocab - 257)
        fprintf(stderr, "warning: stopped at %d merges of the %lld asked: no pair left that occurs at least "
                        "%lld times (the vocabulary is %d, not %lld)\n",
                s.merges, vocab - 257, minf, wf_tokenizer_vocab_size(tok), vocab);
    fprintf(stderr, "tokenizer-train: wrote %s\n", out);
    wf_tokenizer_free(tok);
    rc = 0;
out:
    wf_free(NULL, inputs);
    return rc;
}
