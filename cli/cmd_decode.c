/* cmd_decode.c — `wafer decode --model DIR`: reads whitespace-separated token
** ids from stdin and writes the raw bytes of those tokens to stdout (no UTF-8
** repair, so encode | decode gives back the input byte for byte). A bad id is
** a one-line error naming it and its position (0-based), exit 1. */
#include "cli/cli.h"
#include "model/tokenizer.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void decode_help(FILE *f) {
    fprintf(f, "usage: wafer decode --model DIR < ids\n"
               "  Writes the bytes of the whitespace-separated token ids on stdin.\n"
               "  DIR: a folder with vocab.json + merges.txt, or tokenizer.json;\n"
               "       'gpt2' means the bundled GPT-2 vocabulary.\n");
}

/* Parses every id on stdin into a wf_alloc array. */
static wf_status read_ids(int32_t **out, size_t *n_out, wf_err *err) {
    size_t cap = 1024, n = 0;
    int32_t *ids = wf_alloc(NULL, cap * sizeof *ids, "token ids", err);
    if (!ids) return err->code;
    char word[64];
    int c = getchar();
    for (;;) {
        while (c != EOF && isspace(c)) c = getchar();
        if (c == EOF) break;
        size_t k = 0;
        while (c != EOF && !isspace(c)) {
            if (k < sizeof word - 1) word[k++] = (char)c;
            c = getchar();
        }
        word[k] = 0;
        char *end;
        errno = 0;
        long long v = strtoll(word, &end, 10);
        if (!k || *end || errno || k == sizeof word - 1 || v < INT32_MIN || v > INT32_MAX) {
            wf_free(NULL, ids);
            return WF_FAIL(err, WF_ECORRUPT, "stdin: position %zu: '%s' is not a token id", n, word);
        }
        if (n == cap) {
            int32_t *p = wf_realloc(NULL, ids, cap * 2 * sizeof *ids, "token ids", err);
            if (!p) {
                wf_free(NULL, ids);
                return err->code;
            }
            ids = p;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
    }
    *out = ids;
    *n_out = n;
    return WF_OK;
}

int wf_cmd_decode(int argc, char **argv) {
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            decode_help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            model = argv[++i];
        } else {
            return wf_cli_usage("decode", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!model) return wf_cli_usage("decode", "--model DIR is required");
    wf_err err = {0};
    wf_tokenizer *t = NULL;
    int32_t *ids = NULL;
    char *text = NULL;
    size_t n = 0, len = 0;
    int rc = 0;
    if (wf_tokenizer_open(model, &t, &err) || read_ids(&ids, &n, &err) ||
        wf_tokenizer_decode(t, ids, n, &text, &len, &err)) {
        rc = wf_cli_fail("decode", &err);
        goto done;
    }
    fwrite(text, 1, len, stdout); /* a failed write is reported by main() */
done:
    wf_free(NULL, ids);
    wf_free(NULL, text);
    wf_tokenizer_free(t);
    return rc;
}
