/* cmd_encode.c — `wafer encode --model DIR`: reads all of stdin as bytes and
** prints its GPT-2 BPE token ids, space-separated, on one line. DIR holds
** vocab.json + merges.txt or tokenizer.json; "gpt2" is the bundled vocabulary. */
#include "cli/cli.h"
#include "model/tokenizer.h"

#include <stdio.h>
#include <string.h>

static void encode_help(FILE *f) {
    fprintf(f, "usage: wafer encode --model DIR < text\n"
               "  Prints the token ids of stdin (raw bytes) on one line.\n"
               "  DIR: a folder with vocab.json + merges.txt, or tokenizer.json;\n"
               "       'gpt2' means the bundled GPT-2 vocabulary.\n");
}

/* Reads all of stdin into a wf_alloc buffer. */
static wf_status read_stdin(char **out, size_t *len, wf_err *err) {
    size_t cap = 1 << 16, n = 0;
    char *buf = wf_alloc(NULL, cap, "stdin", err);
    if (!buf) return err->code;
    for (;;) {
        if (n == cap) {
            char *p = wf_realloc(NULL, buf, cap * 2, "stdin", err);
            if (!p) {
                wf_free(NULL, buf);
                return err->code;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) {
        wf_free(NULL, buf);
        return WF_FAIL(err, WF_EIO, "stdin: read failed");
    }
    *out = buf;
    *len = n;
    return WF_OK;
}

int wf_cmd_encode(int argc, char **argv) {
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            encode_help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            model = argv[++i];
        } else {
            return wf_cli_usage("encode", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!model) return wf_cli_usage("encode", "--model DIR is required");
    wf_err err = {0};
    wf_tokenizer *t = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0, len = 0;
    int rc = 0;
    if (wf_tokenizer_open(model, &t, &err) || read_stdin(&text, &len, &err) ||
        wf_tokenizer_encode(t, text, len, &ids, &n, &cap, &err)) {
        rc = wf_cli_fail("encode", &err);
        goto done;
    }
    char line[1 << 16];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > sizeof line - 16) {
            fwrite(line, 1, k, stdout);
            k = 0;
        }
        if (i) line[k++] = ' ';
        k += (size_t)snprintf(line + k, 16, "%d", (int)ids[i]);
    }
    line[k++] = '\n';
    fwrite(line, 1, k, stdout); /* a failed write is reported by main() */
done:
    wf_free(NULL, ids);
    wf_free(NULL, text);
    wf_tokenizer_free(t);
    return rc;
}
