/* cmd_score.c — `wafer score --model DIR [--logits FILE] [--threads N]`:
** token ids on stdin (whitespace-separated) -> one JSON object on stdout:
**   {"n_tokens": T, "mean_loss": nats/token over the T-1 predictions (null
**    when T = 1), "logprobs": [log p(id[i+1] | id[0..i]) for i < T-1]}
** --logits FILE writes the full logits as little-endian float32 [T, vocab]
** (atomically for a file; through to a FIFO, device or /dev/stdout).
** The forward runs in chunks through the KV cache, so memory stays bounded
** by the chunk, not by T x vocab. */
#include "cli/cli.h"

#include "kernels/kernels.h"
#include "model/checkpoint.h"
#include "sparse/sparse.h"
#include "model/infer.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_CHUNK 256 /* tokens per forward call: logits chunk = 256 x V floats */

static void usage(FILE *f) {
    fprintf(f, "usage: wafer score --model DIR [--logits FILE] [--threads N] [--mode resident|stream] [--int8] < ids.txt\n"
               "  reads whitespace-separated token ids on stdin, prints JSON\n"
               "  {\"n_tokens\", \"mean_loss\" (nats/token), \"logprobs\"} on stdout;\n"
               "  --logits FILE also writes all logits as little-endian float32 [T, vocab].\n"
               "  DIR is a Hugging Face folder or a preset name (random weights).\n"
               "  --mode stream reads the layers from the folder instead of loading the model (larger than RAM).\n"
               "  --int8 scores with int8 weights (as `generate --int8`: the quantization's cost in loss).\n");
}

/* Reads whitespace-separated integers from stdin into *ids (default heap). */
static wf_status read_ids(int32_t **ids, size_t *n, wf_err *err) {
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    char tok[64];
    int c, len = 0;
    size_t index = 0;
    for (;;) {
        c = getchar();
        if (c != EOF && !isspace(c)) {
            if (len < (int)sizeof tok - 1) tok[len++] = (char)c;
            else return WF_FAIL(err, WF_ECORRUPT, "stdin: token %zu: too long to be a token id", index);
            continue;
        }
        if (len) {
            tok[len] = 0;
            char *end;
            errno = 0;
            long long v = strtoll(tok, &end, 10);
            if (*end || errno || v < INT32_MIN || v > INT32_MAX)
                return WF_FAIL(err, WF_ECORRUPT, "stdin: token %zu: '%s' is not a token id", index, tok);
            if (*n == cap) {
                size_t nc = cap ? cap * 2 : 1024;
                int32_t *p = wf_realloc(NULL, *ids, nc * sizeof(int32_t), "score ids", err);
                if (!p) return WF_ENOMEM;
                *ids = p;
                cap = nc;
            }
            (*ids)[(*n)++] = (int32_t)v;
            index++;
            len = 0;
        }
        if (c == EOF) break;
    }
    if (ferror(stdin)) return WF_FAIL(err, WF_EIO, "stdin: read error: %s", strerror(errno));
    return WF_OK;
}

int wf_cmd_score(int argc, char **argv) {
    const char *model = NULL, *logits_path = NULL;
    long long threads = 0;
    int stream = 0, int8 = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--int8")) {
            int8 = 1;
            continue;
        }
        if (i + 1 >= argc) return wf_cli_usage("score", "unknown or incomplete option '%s'", a);
        if (!strcmp(a, "--model")) model = argv[++i];
        else if (!strcmp(a, "--logits")) logits_path = argv[++i];
        else if (!strcmp(a, "--mode")) {
            const char *v = argv[++i];
            if (strcmp(v, "resident") && strcmp(v, "stream"))
                return wf_cli_usage("score", "--mode '%s': expected resident or stream", v);
            stream = !strcmp(v, "stream");
        }
        else if (!strcmp(a, "--threads")) {
            if (wf_cli_parse_long(argv[++i], 1, 1024, &threads))
                return wf_cli_usage("score", "--threads '%s': expected an integer in [1, 1024]", argv[i]);
        } else return wf_cli_usage("score", "unknown option '%s'", a);
    }
    if (!model) return wf_cli_usage("score", "--model is required");
    if (stream && int8) return wf_cli_usage("score", "--int8 needs the weights in memory: not with --mode stream");
    if (stream && !wf_path_is_dir(model))
        return wf_cli_usage("score", "--mode stream reads a model folder; '%s' is not one", model);
    wf_cli_log_init(1);
    if (threads) wf_kernels_set_threads((int)threads);

    wf_err err = {0};
    wf_status st;
    int32_t *ids = NULL;
    size_t n = 0;
    float *w = NULL, *lg = NULL, *lp = NULL;
    wf_infer *ctx = NULL;
    wf_sparse_infer *sp = NULL;
    wf_afile *af = NULL;
    wf_gpt_config cfg;
    wf_ckpt_reader *rd = NULL;
    if ((st = read_ids(&ids, &n, &err))) goto fail;
    if (n == 0) {
        st = WF_FAIL(&err, WF_ECORRUPT, "stdin: no token ids, expected at least one");
        goto fail;
    }
    if ((st = stream ? wf_checkpoint_open(model, 0, 0, NULL, &cfg, &rd, &err) : wf_checkpoint_load(model, NULL, &cfg, &w, &err)))
        goto fail;
    int V = cfg.vocab_size;
    for (size_t i = 0; i < n; i++) /* check all ids before any output */
        if (ids[i] < 0 || ids[i] >= V) {
            st = WF_FAIL(&err, WF_ERANGE, "stdin: token id %ld at position %zu out of range [0, %d)",
                         (long)ids[i], i, V);
            goto fail;
        }
    if (n > (size_t)cfg.n_positions) {
        st = WF_FAIL(&err, WF_ERANGE, "stdin: %zu tokens exceed the model's context of %d (n_positions)",
                     n, cfg.n_positions);
        goto fail;
    }
    wf_infer_opts io = {.max_batch = 1, .n_ctx = (int)n, .max_rows = SCORE_CHUNK, .int8 = int8};
    if (!stream && (st = wf_sparse_infer_open(model, &cfg, w, SCORE_CHUNK, NULL, &sp, &err))) goto fail; /* streamed: dense */
    if (sp) io.linear = wf_sparse_infer_linear, io.linear_ud = sp;
    if ((st = stream ? wf_infer_new_stream(&cfg, rd, &io, NULL, &ctx, &err) : wf_infer_new(&cfg, w, &io, NULL, &ctx, &err)))
        goto fail;
    lg = wf_alloc(NULL, sizeof(float) * (size_t)SCORE_CHUNK * V, "score logits", &err);
    lp = wf_alloc(NULL, sizeof(float) * n, "score logprobs", &err);
    if (!lg || !lp) {
        st = WF_ENOMEM;
        goto fail;
    }
    if (logits_path && (st = wf_ofile_open(logits_path, &af, &err))) goto fail;
    double total = 0;
    for (size_t t0 = 0; t0 < n; t0 += SCORE_CHUNK) {
        int Tc = n - t0 < SCORE_CHUNK ? (int)(n - t0) : SCORE_CHUNK;
        if ((st = wf_infer_forward(ctx, ids + t0, 1, Tc, lg, WF_LOGITS_ALL, &err))) goto fail;
        for (int t = 0; t < Tc; t++) {
            size_t i = t0 + (size_t)t;
            if (i + 1 >= n) break;
            const float *row = lg + (size_t)t * V;
            lp[i] = row[ids[i + 1]] - wf_logsumexp(row, V);
            total -= lp[i];
        }
        /* float32 little-endian: the in-memory layout on every target we build for */
        if (af && (st = wf_afile_write(af, lg, sizeof(float) * (size_t)Tc * V, &err))) goto fail;
    }
    if (af) {
        st = wf_afile_commit(af, &err);
        af = NULL;
        if (st) goto fail;
    }
    printf("{\"n_tokens\": %zu, \"mean_loss\": ", n);
    size_t nulls = 0;
    if (n > 1) nulls += (size_t)wf_cli_json_num("%.8g", total / (double)(n - 1));
    else printf("null");
    printf(", \"logprobs\": [");
    for (size_t i = 0; i + 1 < n; i++) {
        if (i) printf(", ");
        nulls += (size_t)wf_cli_json_num("%.8g", (double)lp[i]);
    }
    printf("]}\n");
    if (nulls)
        wf_log(WF_LOG_WARN, "score: %zu values are NaN or Inf (non-finite weights or logits?), printed as null",
               nulls);
    st = WF_OK;
fail:
    wf_afile_abort(af);
    wf_infer_free(ctx);
    wf_sparse_infer_free(sp);
    wf_free(NULL, lg);
    wf_free(NULL, lp);
    wf_free(NULL, w);
    wf_checkpoint_close(rd);
    wf_free(NULL, ids);
    return st ? wf_cli_fail("score", &err) : 0;
}
