/* test_forward.c — the inference forward (model/infer.h) against Hugging Face
** GPT2LMHeadModel logits (tests/fixtures/models, made by oracle/make_models.py):
** every fixture model, both checkpoint formats, T = 1, 7, 260, max abs error
** <= 1e-4 (the max diff is printed). Then: KV-cache decoding (prefill k, then
** one token at a time) equals one full forward; chunked prefill and batches
** equal single runs; bad ids / overlong input fail with the message and leave
** the cache alone; allocation failures leak nothing. */
#include "model/infer.h"

#include "base/base.h"
#include "kernels/kernels.h"
#include "model/checkpoint.h"
#include "model/params.h"
#include "tests/check.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIX "tests/fixtures/models"
#define TOL 1e-4


/* Reads ids_T<T>.json; returns the count (0 when missing). */
static int read_ids(const char *dir, int T, int32_t *ids, int cap) {
    char p[512];
    snprintf(p, sizeof p, "%s/ids_T%d.json", dir, T);
    char *txt;
    size_t len;
    wf_err e;
    if (wf_file_read(NULL, p, &txt, &len, &e)) return 0;
    cJSON *j = cJSON_Parse(txt);
    wf_free(NULL, txt);
    cJSON *a = cJSON_GetObjectItem(j, "ids");
    int n = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, a) if (n < cap) ids[n++] = (int32_t)it->valueint;
    cJSON_Delete(j);
    return n;
}

static float *read_logits(const char *dir, int T, size_t want) {
    char p[512];
    snprintf(p, sizeof p, "%s/logits_T%d.f32", dir, T);
    char *buf;
    size_t len;
    wf_err e;
    if (wf_file_read(NULL, p, &buf, &len, &e)) return NULL;
    WF_CHECK_EQ(len, want * sizeof(float));
    return (float *)buf;
}

static int copy_file(const char *from, const char *to) {
    char *buf;
    size_t len;
    wf_err e;
    if (wf_file_read(NULL, from, &buf, &len, &e)) return -1;
    int r = wf_file_write_atomic(to, buf, len, &e) ? -1 : 0;
    wf_free(NULL, buf);
    return r;
}

/* Compares one loaded model against the fixture logits of dir, for the
** first nt of T = 1, 7, 260, with the weights as loaded and packed for
** decoding (wf_infer_opts.pack). Every one of them must be there: a missing
** or short ids file fails, it is not skipped. */
static void check_model(const char *label, const char *dir, int nt, const wf_gpt_config *cfg, const float *w) {
    static const int Ts[3] = {1, 7, 260};
    int V = cfg->vocab_size;
    for (int k = 0; k < 2 * nt; k++) {
        int T = Ts[k % nt], pack = k >= nt;
        int32_t ids[300];
        int got = read_ids(dir, T, ids, 300);
        if (got != T) fprintf(stderr, "%s: ids_T%d.json missing or short (%d ids)\n", dir, T, got);
        WF_CHECK_EQ(got, T);
        if (got != T) continue;
        float *ref = read_logits(dir, T, (size_t)T * V);
        WF_CHECK(ref != NULL);
        if (!ref) continue;
        wf_infer *ctx;
        wf_err e;
        WF_CHECK_EQ(wf_infer_new(cfg, w, &(wf_infer_opts){.pack = pack}, NULL, &ctx, &e), WF_OK);
        float *lg = wf_alloc(NULL, sizeof(float) * (size_t)T * V, "logits", &e);
        WF_CHECK_EQ(wf_infer_forward(ctx, ids, 1, T, lg, WF_LOGITS_ALL, &e), WF_OK);
        double d = wf_check_maxdiff(lg, ref, (size_t)T * V);
        printf("%-28s T=%-3d %s max abs diff vs HF %.3g\n", label, T, pack ? "packed" : "      ", d);
        WF_CHECK(d <= TOL);

        /* KV cache: prefill k tokens, then one at a time, last logits only. */
        if (T > 1) {
            int pre = T < 7 ? 1 : 5;
            wf_infer_reset(ctx);
            float *last = wf_alloc(NULL, sizeof(float) * V, "last", &e);
            WF_CHECK_EQ(wf_infer_forward(ctx, ids, 1, pre, last, WF_LOGITS_LAST, &e), WF_OK);
            double dk = wf_check_maxdiff(last, ref + (size_t)(pre - 1) * V, V);
            for (int t = pre; t < T; t++) {
                WF_CHECK_EQ(wf_infer_forward(ctx, ids + t, 1, 1, last, WF_LOGITS_LAST, &e), WF_OK);
                dk = wf_check_max(dk, wf_check_maxdiff(last, ref + (size_t)t * V, V));
            }
            WF_CHECK_EQ(wf_infer_pos(ctx), T);
            printf("%-28s T=%-3d %s KV-cache decode max abs diff vs HF %.3g\n", label, T, pack ? "packed" : "      ",
                   dk);
            WF_CHECK(dk <= TOL);
            wf_free(NULL, last);
        }
        wf_free(NULL, lg);
        wf_free(NULL, ref);
        wf_infer_free(ctx);
    }
}

static void test_fixtures(void) {
    /* Every fixture is required: a missing folder, ids or logits file fails.
    ** nt: how many of T = 1, 7, 260 it has logits for; bin: it carries a
    ** pytorch_model.bin as well. */
    static const struct { const char *name; int nt, bin; } models[] = {
        {"tiny-gelu", 3, 1}, {"tiny-gelu-new", 3, 1}, {"wide-head", 3, 0},
        {"tiny-gelu-sharded", 3, 0}, {"hub-style", 2, 1}};
    int seen = 0;
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        char dir[256], label[128];
        snprintf(dir, sizeof dir, FIX "/%s", models[m].name);
        if (!wf_path_is_dir(dir)) fprintf(stderr, "fixture %s missing\n", dir);
        WF_CHECK(wf_path_is_dir(dir));
        /* Copies of tiny-gelu in another format carry no logits of their own. */
        char ref[256], probe[300];
        snprintf(probe, sizeof probe, "%s/ids_T1.json", dir);
        snprintf(ref, sizeof ref, "%s", wf_path_exists(probe) ? dir : FIX "/tiny-gelu");
        wf_gpt_config cfg;
        float *w;
        wf_err e;
        /* Format 1: whatever the folder prefers (safetensors / shards). */
        if (wf_checkpoint_load(dir, NULL, &cfg, &w, &e) == WF_OK) {
            snprintf(label, sizeof label, "%s (safetensors)", models[m].name);
            check_model(label, ref, models[m].nt, &cfg, w);
            wf_free(NULL, w);
            seen++;
        } else {
            fprintf(stderr, "load %s: %s\n", dir, e.msg);
            WF_CHECK(0);
        }
        /* Format 2: pytorch_model.bin alone in a scratch folder. */
        char bin[300];
        snprintf(bin, sizeof bin, "%s/pytorch_model.bin", dir);
        WF_CHECK_EQ(wf_path_exists(bin), models[m].bin);
        if (!models[m].bin || !wf_path_exists(bin)) continue;
        char tmp[] = "/tmp/wf_test_forward_XXXXXX";
        WF_CHECK(mkdtemp(tmp) != NULL);
        char src[300], dst[300];
        snprintf(src, sizeof src, "%s/config.json", dir);
        snprintf(dst, sizeof dst, "%s/config.json", tmp);
        WF_CHECK_EQ(copy_file(src, dst), 0);
        snprintf(dst, sizeof dst, "%s/pytorch_model.bin", tmp);
        WF_CHECK_EQ(copy_file(bin, dst), 0);
        if (wf_checkpoint_load(tmp, NULL, &cfg, &w, &e) == WF_OK) {
            snprintf(label, sizeof label, "%s (pytorch_model.bin)", models[m].name);
            check_model(label, ref, models[m].nt, &cfg, w);
            wf_free(NULL, w);
        } else {
            fprintf(stderr, "load %s: %s\n", tmp, e.msg);
            WF_CHECK(0);
        }
        remove(dst);
        snprintf(dst, sizeof dst, "%s/config.json", tmp);
        remove(dst);
        remove(tmp);
    }
    WF_CHECK_EQ(seen, (int)(sizeof models / sizeof models[0]));
}

/* Chunked prefill, batches and errors on the tiny-gelu model. */
static void test_chunks_batches_errors(void) {
    wf_gpt_config cfg;
    float *w;
    wf_err e;
    if (wf_checkpoint_load(FIX "/tiny-gelu", NULL, &cfg, &w, &e)) {
        WF_CHECK(0);
        return;
    }
    int V = cfg.vocab_size, T = 100;
    int32_t ids[2 * 100];
    for (int i = 0; i < 2 * T; i++) ids[i] = (int32_t)((i * 37 + 11) % V);
    float *full = wf_alloc(NULL, sizeof(float) * 2 * T * V, "t", &e);
    float *got = wf_alloc(NULL, sizeof(float) * 2 * T * V, "t", &e);
    wf_infer *a, *b;
    WF_CHECK_EQ(wf_infer_new(&cfg, w, &(wf_infer_opts){.max_batch = 2}, NULL, &a, &e), WF_OK);
    WF_CHECK_EQ(wf_infer_new(&cfg, w, &(wf_infer_opts){.max_batch = 2, .max_rows = 24}, NULL, &b, &e), WF_OK);
    /* batch 2 (rows b*T + t), in one chunk vs chunks of 12 tokens */
    WF_CHECK_EQ(wf_infer_forward(a, ids, 2, T, full, WF_LOGITS_ALL, &e), WF_OK);
    WF_CHECK_EQ(wf_infer_forward(b, ids, 2, T, got, WF_LOGITS_ALL, &e), WF_OK);
    WF_CHECK(wf_check_maxdiff(full, got, (size_t)2 * T * V) <= 1e-5);
    /* sequence 1 alone equals row 1 of the batch */
    wf_infer_reset(a);
    WF_CHECK_EQ(wf_infer_forward(a, ids + T, 1, T, got, WF_LOGITS_ALL, &e), WF_OK);
    WF_CHECK(wf_check_maxdiff(full + (size_t)T * V, got, (size_t)T * V) <= 1e-5);
    /* LAST mode with batch 2 and chunking */
    wf_infer_reset(b);
    WF_CHECK_EQ(wf_infer_forward(b, ids, 2, T, got, WF_LOGITS_LAST, &e), WF_OK);
    WF_CHECK(wf_check_maxdiff(full + (size_t)(T - 1) * V, got, V) <= 1e-5);
    WF_CHECK(wf_check_maxdiff(full + (size_t)(2 * T - 1) * V, got + V, V) <= 1e-5);

    /* bad token id: message names id and position; the cache is untouched */
    wf_infer_reset(a);
    int32_t bad[3] = {1, 2, (int32_t)V};
    WF_CHECK_EQ(wf_infer_forward(a, bad, 1, 3, got, WF_LOGITS_LAST, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "token id 512 at (batch 0, position 2) out of range [0, 512)");
    WF_CHECK_EQ(wf_infer_pos(a), 0);
    bad[2] = -1;
    WF_CHECK_EQ(wf_infer_forward(a, bad, 1, 3, got, WF_LOGITS_LAST, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "token id -1");
    /* too long: pos + T > n_positions */
    int32_t *many = wf_calloc(NULL, sizeof(int32_t) * (cfg.n_positions + 1), "t", &e);
    WF_CHECK_EQ(wf_infer_forward(a, many, 1, cfg.n_positions + 1, NULL, WF_LOGITS_NONE, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "sequence of 513 tokens exceeds the context of 512");
    WF_CHECK_EQ(wf_infer_forward(a, many, 1, cfg.n_positions, NULL, WF_LOGITS_NONE, &e), WF_OK);
    WF_CHECK_EQ(wf_infer_forward(a, many, 1, 1, got, WF_LOGITS_LAST, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "exceeds the context");
    WF_CHECK_EQ(wf_infer_forward(a, ids, 3, 1, got, WF_LOGITS_LAST, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "batch 3 outside [1, 2]");
    wf_free(NULL, many);
    wf_infer_free(a);
    wf_infer_free(b);

    /* allocation failure at every step: no leak, then success */
    wf_heap *h = wf_heap_new(0);
    for (int k = 0;; k++) {
        wf_heap_fail_at(h, k);
        wf_infer *c = NULL;
        wf_status st = wf_infer_new(&cfg, w, NULL, h, &c, &e);
        if (st == WF_OK) {
            wf_heap_fail_at(h, -1);
            WF_CHECK_EQ(wf_infer_forward(c, ids, 1, 3, got, WF_LOGITS_LAST, &e), WF_OK);
            wf_infer_free(c);
            WF_CHECK_EQ(wf_heap_live(h), 0);
            WF_CHECK(k >= 3);
            break;
        }
        WF_CHECK_EQ(st, WF_ENOMEM);
        WF_CHECK(c == NULL);
        WF_CHECK_EQ(wf_heap_live(h), 0);
        if (k > 20) { WF_CHECK(0); break; }
    }
    wf_heap_free(h);
    wf_free(NULL, full);
    wf_free(NULL, got);
    wf_free(NULL, w);
}

/* bf16 decode (opt-in): products with >= 8 rows (prefill with all logits)
** stay fp32 and exact; decode steps use bf16 weights and stay within 1e-2
** of HF (logits here are ~0.5). */
static void test_bf16_decode(void) {
    const char *dir = FIX "/tiny-gelu";
    wf_gpt_config cfg;
    float *w;
    wf_err e;
    int32_t ids[300];
    if (wf_checkpoint_load(dir, NULL, &cfg, &w, &e) || read_ids(dir, 260, ids, 300) != 260) {
        WF_CHECK(0);
        return;
    }
    int V = cfg.vocab_size, T = 260, pre = 100;
    float *ref = read_logits(dir, T, (size_t)T * V);
    float *lg = wf_alloc(NULL, sizeof(float) * V * pre, "t", &e);
    wf_infer *c;
    WF_CHECK_EQ(wf_infer_new(&cfg, w, &(wf_infer_opts){.bf16_decode = 1}, NULL, &c, &e), WF_OK);
    WF_CHECK_EQ(wf_infer_forward(c, ids, 1, pre, lg, WF_LOGITS_ALL, &e), WF_OK);
    double dp = wf_check_maxdiff(lg, ref, (size_t)pre * V), dd = 0;
    for (int t = pre; t < T; t++) {
        WF_CHECK_EQ(wf_infer_forward(c, ids + t, 1, 1, lg, WF_LOGITS_LAST, &e), WF_OK);
        dd = wf_check_max(dd, wf_check_maxdiff(lg, ref + (size_t)t * V, V));
    }
    printf("bf16 decode: prefill max abs diff vs HF %.3g (fp32 path), decode %.3g (bf16 weights)\n", dp, dd);
    WF_CHECK(dp <= TOL);
    WF_CHECK(dd <= 1e-2);
    WF_CHECK(dd > 1e-6); /* the bf16 path really ran */
    wf_infer_free(c);
    wf_free(NULL, lg);
    wf_free(NULL, ref);
    wf_free(NULL, w);
}

/* int8 weights (opts.int8): prefill and KV-cache decode stay close to HF
** (the quantization moves the logits, here ~0.5 in size, by well under
** 2e-2), the int8 path really ran (not HF-exact), and the argmax agrees with
** HF's at nearly every position. */
static void test_int8(void) {
    const char *dir = FIX "/tiny-gelu";
    wf_gpt_config cfg;
    float *w;
    wf_err e;
    int32_t ids[300];
    if (wf_checkpoint_load(dir, NULL, &cfg, &w, &e) || read_ids(dir, 260, ids, 300) != 260) {
        WF_CHECK(0);
        return;
    }
    int V = cfg.vocab_size, T = 260, pre = 100, agree = 0;
    float *ref = read_logits(dir, T, (size_t)T * V);
    float *lg = wf_alloc(NULL, sizeof(float) * V * pre, "t", &e);
    wf_infer *c;
    WF_CHECK_EQ(wf_infer_new(&cfg, w, &(wf_infer_opts){.int8 = 1}, NULL, &c, &e), WF_OK);
    WF_CHECK_EQ(wf_infer_forward(c, ids, 1, pre, lg, WF_LOGITS_ALL, &e), WF_OK);
    double dp = wf_check_maxdiff(lg, ref, (size_t)pre * V), dd = 0;
    for (int t = 0; t < T; t++) {
        if (t >= pre) {
            WF_CHECK_EQ(wf_infer_forward(c, ids + t, 1, 1, lg, WF_LOGITS_LAST, &e), WF_OK);
            dd = wf_check_max(dd, wf_check_maxdiff(lg, ref + (size_t)t * V, V));
        }
        const float *row = t >= pre ? lg : NULL, *hf = ref + (size_t)t * V;
        if (!row) continue;
        int a = 0, b = 0;
        for (int v = 1; v < V; v++) a = row[v] > row[a] ? v : a, b = hf[v] > hf[b] ? v : b;
        agree += a == b;
    }
    printf("int8: prefill max abs diff vs HF %.3g, decode %.3g, decode top-1 agreement %d/%d\n", dp, dd, agree, T - pre);
    WF_CHECK(dp <= 2e-2 && dd <= 2e-2);
    WF_CHECK(dp > 1e-6 && dd > 1e-6); /* the int8 path really ran */
    WF_CHECK(agree >= (T - pre) * 95 / 100);
    wf_infer_free(c);
    wf_free(NULL, lg);
    wf_free(NULL, ref);
    wf_free(NULL, w);
}

/* Same logits, bit for bit, on 1 and 2 threads (a model big enough for
** the kernels to go parallel): threads split rows and columns, never a sum. */
static void test_threads_deterministic(void) {
    wf_gpt_config cfg;
    wf_err e;
    WF_CHECK_EQ(wf_gpt_config_preset("cerebras-gpt-111m", &cfg, &e), WF_OK);
    cfg.n_layer = 2;
    cfg.n_embd = 256;
    cfg.n_head = 4;
    cfg.n_inner = 1024;
    cfg.vocab_size = 1000;
    cfg.n_positions = 256;
    int T = getenv("WF_TEST_QUICK") ? 64 : 200, V = cfg.vocab_size;
    float *w = wf_alloc(NULL, sizeof(float) * wf_gpt_numel(&cfg), "t", &e);
    wf_gpt_init_random(&cfg, w, 5);
    int32_t ids[200];
    for (int i = 0; i < T; i++) ids[i] = (int32_t)((i * 131 + 7) % V);
    float *a = wf_alloc(NULL, sizeof(float) * T * V, "t", &e), *b = wf_alloc(NULL, sizeof(float) * T * V, "t", &e);
    int nt = wf_kernels_threads();
    for (int pass = 0; pass < 2; pass++) {
        wf_kernels_set_threads(pass ? 2 : 1);
        wf_infer *c;
        WF_CHECK_EQ(wf_infer_new(&cfg, w, NULL, NULL, &c, &e), WF_OK);
        WF_CHECK_EQ(wf_infer_forward(c, ids, 1, T, pass ? b : a, WF_LOGITS_ALL, &e), WF_OK);
        wf_infer_free(c);
    }
    wf_kernels_set_threads(nt);
    WF_CHECK(memcmp(a, b, sizeof(float) * T * V) == 0);
    /* decode, token by token after a prompt, with every decode path: the same
    ** logits at 1 and 2 threads (generate changes the count under load) */
    enum { P = 16, D = 8 };
    for (int variant = 0; variant < 4; variant++) {
        wf_infer_opts io = {.max_batch = 1, .n_ctx = P + D, .pack = variant == 1, .bf16_decode = variant == 2,
                            .int8 = variant == 3};
        for (int pass = 0; pass < 2; pass++) {
            wf_kernels_set_threads(pass ? 2 : 1);
            wf_infer *c;
            float *out = pass ? b : a;
            WF_CHECK_EQ(wf_infer_new(&cfg, w, &io, NULL, &c, &e), WF_OK);
            WF_CHECK_EQ(wf_infer_forward(c, ids, 1, P, out, WF_LOGITS_LAST, &e), WF_OK);
            for (int d = 0; d < D; d++)
                WF_CHECK_EQ(wf_infer_forward(c, ids + P + d, 1, 1, out + (size_t)(d + 1) * V, WF_LOGITS_LAST, &e), WF_OK);
            wf_infer_free(c);
        }
        wf_kernels_set_threads(nt);
        WF_CHECK(memcmp(a, b, sizeof(float) * (D + 1) * V) == 0);
        int finite = 1;
        for (int i = 0; i < (D + 1) * V; i++) finite &= isfinite(a[i]) != 0;
        WF_CHECK(finite);
    }
    wf_free(NULL, a);
    wf_free(NULL, b);
    wf_free(NULL, w);
}

int main(void) {
    test_fixtures();
    test_chunks_batches_errors();
    test_bf16_decode();
    test_int8();
    test_threads_deterministic();
    return wf_check_report();
}
