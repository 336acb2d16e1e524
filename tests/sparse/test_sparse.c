/* test_sparse.c — sparse/: the sparse kernels against their naive references
** and against the dense kernels on the same matrix with its zeros (fp32
** tolerance, max diff printed); random and magnitude masks keep the counts
** asked for; the mask file round-trips and refuses another model's shape, a
** damaged file and a sparsity outside [0, 1) with one clear message. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "base/rng.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "model/infer.h"
#include "sparse/sparse.h"
#include "tests/check.h"

static void tiny(wf_gpt_config *c, int L, int C) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "custom");
    c->n_layer = L, c->n_embd = C, c->n_head = 2, c->n_inner = 4 * C, c->n_positions = 16, c->vocab_size = 32;
    c->layer_norm_eps = 1e-5f, c->act = WF_ACT_GELU;
}

static float *randv(wf_rng *r, size_t n, float scale) {
    float *v = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) v[i] = (float)wf_rng_normal(r) * scale;
    return v;
}

/* One K x OC matrix at the given density, N rows: sparse == naive == dense-with-zeros. */
static void kernels_match(int N, int K, int OC, double density, int threads) {
    wf_kernels_set_threads(threads);
    wf_rng r;
    wf_rng_seed(&r, (uint64_t)(N * 1000 + K * 10 + OC));
    size_t nw = (size_t)K * OC;
    uint64_t *bits = calloc((nw + 63) / 64, 8);
    float *W = randv(&r, nw, 0.5f);
    for (size_t i = 0; i < nw; i++) {
        if (wf_rng_uniform(&r) < density) bits[i / 64] |= 1ULL << (i % 64);
        else W[i] = 0.0f;
    }
    float *x = randv(&r, (size_t)N * K, 1.0f), *dy = randv(&r, (size_t)N * OC, 1.0f), *bias = randv(&r, OC, 1.0f);
    wf_spmat *s;
    wf_err e;
    WF_CHECK_EQ(wf_spmat_new(bits, K, OC, NULL, &s, &e), WF_OK);
    wf_spmat_load(s, W);
    /* one float past malloc's alignment: the products align their tiles themselves */
    float *scr0 = malloc(sizeof(float) * (wf_spmm_scratch(s, N) + 1)), *scr = scr0 + 1;
    float *y = malloc(sizeof(float) * N * OC), *yn = malloc(sizeof(float) * N * OC), *yd = malloc(sizeof(float) * N * OC);
    wf_spmm_forward(y, x, s, bias, N, scr);
    wf_spmm_forward_naive(yn, x, s, bias, N);
    wf_matmul_forward(yd, x, W, bias, N, K, OC);
    double tol = 1e-5 * (1 + K * density);
    double d1 = wf_check_maxdiff(y, yn, (size_t)N * OC), d2 = wf_check_maxdiff(y, yd, (size_t)N * OC);
    WF_CHECK(d1 <= tol);
    WF_CHECK(d2 <= tol);
    float *dx = calloc((size_t)N * K, 4), *dxn = calloc((size_t)N * K, 4), *dxd = calloc((size_t)N * K, 4);
    for (size_t i = 0; i < (size_t)N * K; i++) dx[i] = dxn[i] = dxd[i] = 0.25f; /* accumulates */
    wf_spmm_backward_input(dx, dy, s, N, scr);
    wf_spmm_backward_input_naive(dxn, dy, s, N);
    float *dwd = calloc(nw, 4), *dbd = calloc(OC, 4);
    wf_matmul_backward(dxd, dwd, dbd, dy, x, W, N, K, OC);
    double tolb = 1e-5 * (1 + OC * density);
    double d3 = wf_check_maxdiff(dx, dxn, (size_t)N * K), d4 = wf_check_maxdiff(dx, dxd, (size_t)N * K);
    WF_CHECK(d3 <= tolb);
    WF_CHECK(d4 <= tolb);
    float *dw = calloc(nw, 4), *dwn = calloc(nw, 4);
    for (size_t i = 0; i < nw; i++) dw[i] = dwn[i] = ((bits[i / 64] >> (i % 64)) & 1) ? 0.5f : 0.0f;
    wf_spmm_backward_weight(dw, x, dy, s, N, scr);
    wf_spmm_backward_weight_naive(dwn, x, dy, s, N);
    double d5 = wf_check_maxdiff(dw, dwn, nw), d6 = 0;
    int outside = 0;
    for (size_t i = 0; i < nw; i++) {
        int kept = (bits[i / 64] >> (i % 64)) & 1;
        if (!kept) outside += dw[i] != 0.0f;
        else d6 = wf_check_max(d6, fabs((double)dw[i] - 0.5 - dwd[i]));
    }
    double tolw = 1e-5 * (1 + N);
    WF_CHECK(d5 <= tolw);
    WF_CHECK(d6 <= tolw);
    WF_CHECK_EQ(outside, 0);
    printf("N %d K %d OC %d density %.2f threads %d: nnz %llu; max diff fwd %.2g/%.2g dinp %.2g/%.2g dW %.2g/%.2g "
           "(naive/dense)\n", N, K, OC, density, threads, (unsigned long long)s->nnz, d1, d2, d3, d4, d5, d6);
    wf_spmat_free(s);
    free(bits), free(W), free(x), free(dy), free(bias), free(scr0), free(y), free(yn), free(yd);
    free(dx), free(dxn), free(dxd), free(dwd), free(dbd), free(dw), free(dwn);
}

static void sparse_kernels_equal_references_and_dense_products_with_zeros(void) {
    kernels_match(70, 37, 29, 0.3, 1);    /* a partial tile, odd shapes */
    kernels_match(130, 64, 96, 0.1, 2);
    kernels_match(64, 48, 144, 0.9, 2);
    kernels_match(5, 16, 16, 0.0, 2);     /* nothing kept: zero products */
    kernels_match(1, 96, 80, 0.2, 2);     /* decode: the row-gather forward */
    kernels_match(15, 33, 47, 0.5, 1);
    kernels_match(128, 40, 24, 1.0, 3);   /* everything kept */
    WF_CHECK_EQ(wf_heap_live(NULL), 0);
}

static void random_masks_keep_exact_counts_and_are_deterministic(void) {
    wf_gpt_config c;
    tiny(&c, 2, 16);
    wf_sparse_mask *m, *m2;
    wf_err e;
    WF_CHECK_EQ(wf_sparse_mask_random(&c, 0.75, WF_SPARSE_UNIFORM, 7, NULL, &m, &e), WF_OK);
    for (int l = 0; l < 2; l++)
        for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
            int r, k;
            wf_sparse_mat_shape(&c, (wf_sparse_mat)s, &r, &k);
            WF_CHECK_EQ(wf_sparse_mask_nnz(m, l, (wf_sparse_mat)s), (uint64_t)(r * k / 4));
        }
    WF_CHECK_NEAR(wf_sparse_mask_actual(m), 0.75, 1e-9);
    WF_CHECK_EQ(wf_sparse_mask_random(&c, 0.75, WF_SPARSE_UNIFORM, 7, NULL, &m2, &e), WF_OK);
    WF_CHECK(memcmp(wf_sparse_mask_bits(m, 1, WF_SPARSE_FC), wf_sparse_mask_bits(m2, 1, WF_SPARSE_FC), 16 * 64 / 8) == 0);
    WF_CHECK(memcmp(wf_sparse_mask_bits(m, 0, WF_SPARSE_FC), wf_sparse_mask_bits(m, 1, WF_SPARSE_FC), 16 * 64 / 8) != 0);
    wf_sparse_mask_free(m2);
    /* ERK: the square attention projection is denser than qkv and fc, total still 75% */
    WF_CHECK_EQ(wf_sparse_mask_random(&c, 0.75, WF_SPARSE_ERK, 7, NULL, &m2, &e), WF_OK);
    double da = (double)wf_sparse_mask_nnz(m2, 0, WF_SPARSE_APROJ) / (16 * 16);
    double df = (double)wf_sparse_mask_nnz(m2, 0, WF_SPARSE_FC) / (16 * 64);
    printf("erk densities: attn_proj %.3f fc %.3f, sparsity %.4f\n", da, df, wf_sparse_mask_actual(m2));
    WF_CHECK(da > df * 1.2);
    WF_CHECK_NEAR(wf_sparse_mask_actual(m2), 0.75, 2e-3);
    wf_sparse_mask_free(m2);
    /* apply zeros exactly the masked positions */
    size_t n = wf_gpt_numel(&c);
    float *w = malloc(sizeof(float) * n);
    wf_gpt_init_random(&c, w, 3);
    WF_CHECK(wf_sparse_mask_violations(m, w) > 0);
    wf_sparse_mask_apply(m, w);
    WF_CHECK_EQ(wf_sparse_mask_violations(m, w), 0);
    wf_tensor_info ti;
    wf_gpt_tensor_info(&c, 2 + WF_T_FC_W, &ti);
    const uint64_t *b = wf_sparse_mask_bits(m, 0, WF_SPARSE_FC);
    int kept_nonzero = 0;
    for (size_t i = 0; i < ti.numel; i++) kept_nonzero += ((b[i / 64] >> (i % 64)) & 1) && w[ti.offset + i] != 0;
    WF_CHECK_EQ(kept_nonzero, 16 * 64 / 4);
    /* LayerNorm weights are untouched */
    wf_gpt_tensor_info(&c, 2 + WF_T_LN1_W, &ti);
    WF_CHECK_FEQ(w[ti.offset], 1.0f);
    free(w);
    wf_sparse_mask_free(m);
    WF_CHECK_EQ(wf_sparse_mask_random(&c, 1.0, WF_SPARSE_UNIFORM, 7, NULL, &m, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "sparsity 1: expected a fraction of zeros in [0, 1)");
    WF_CHECK_EQ(wf_sparse_mask_random(&c, -0.1, WF_SPARSE_UNIFORM, 7, NULL, &m, &e), WF_EUSAGE);
    WF_CHECK_EQ(wf_heap_live(NULL), 0);
}

static void magnitude_masks_keep_the_largest_weights(void) {
    wf_gpt_config c;
    tiny(&c, 1, 8);
    size_t n = wf_gpt_numel(&c);
    float *w = malloc(sizeof(float) * n);
    wf_gpt_init_random(&c, w, 5);
    wf_sparse_mask *m;
    wf_err e;
    WF_CHECK_EQ(wf_sparse_mask_magnitude(&c, w, 0.5, 0, NULL, &m, &e), WF_OK);
    wf_tensor_info ti;
    wf_gpt_tensor_info(&c, 2 + WF_T_QKV_W, &ti);
    const uint64_t *b = wf_sparse_mask_bits(m, 0, WF_SPARSE_QKV);
    float min_kept = 1e30f, max_dropped = 0;
    for (size_t i = 0; i < ti.numel; i++) {
        float a = fabsf(w[ti.offset + i]);
        if ((b[i / 64] >> (i % 64)) & 1) min_kept = a < min_kept ? a : min_kept;
        else max_dropped = a > max_dropped ? a : max_dropped;
    }
    WF_CHECK(min_kept >= max_dropped);
    WF_CHECK_EQ(wf_sparse_mask_nnz(m, 0, WF_SPARSE_QKV), (uint64_t)ti.numel / 2);
    WF_CHECK_EQ(wf_sparse_mask_dist(m), WF_SPARSE_MAGNITUDE);
    wf_sparse_mask_free(m);
    free(w);
}

static char dir[] = "/tmp/wf_test_sparseXXXXXX";

static uint8_t *read_all(const char *p, size_t *n) {
    char *buf;
    wf_err e;
    if (wf_file_read(NULL, p, &buf, n, &e)) return NULL;
    return (uint8_t *)buf;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes bytes with both CRCs made valid again (to reach the checks behind them). */
static void write_fixed(const char *p, uint8_t *d, size_t n) {
    put32(d + 56, (uint32_t)crc32(0, d + 64, (uInt)(n - 64)));
    put32(d + 60, (uint32_t)crc32(0, d, 60));
    wf_err e;
    WF_CHECK_EQ(wf_file_write_atomic(p, d, n, &e), WF_OK);
}

static void mask_file_round_trips_and_refuses_bad_files(void) {
    wf_gpt_config c, other;
    tiny(&c, 2, 8);
    tiny(&other, 2, 16);
    wf_sparse_mask *m, *m2;
    wf_err e;
    char p[256], q[256];
    snprintf(p, sizeof p, "%s/%s", dir, WF_SPARSE_MASK_FILE);
    snprintf(q, sizeof q, "%s/bad.bin", dir);
    WF_CHECK_EQ(wf_sparse_mask_random(&c, 0.6, WF_SPARSE_ERK, 1, NULL, &m, &e), WF_OK);
    wf_sparse_mask_set_use(m, 1, WF_SPARSE_FC, WF_SPARSE_USE_SPARSE);
    WF_CHECK_EQ(wf_sparse_mask_save(p, m, &e), WF_OK);
    WF_CHECK(wf_sparse_mask_in(dir));
    WF_CHECK_EQ(wf_sparse_mask_load(p, &c, NULL, &m2, &e), WF_OK);
    if (m2) {
        for (int l = 0; l < 2; l++)
            for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
                int r, k;
                wf_sparse_mat_shape(&c, (wf_sparse_mat)s, &r, &k);
                WF_CHECK(memcmp(wf_sparse_mask_bits(m, l, (wf_sparse_mat)s), wf_sparse_mask_bits(m2, l, (wf_sparse_mat)s),
                                (size_t)(r * k + 63) / 64 * 8) == 0);
                WF_CHECK_EQ(wf_sparse_mask_use(m2, l, (wf_sparse_mat)s), wf_sparse_mask_use(m, l, (wf_sparse_mat)s));
            }
        WF_CHECK_FEQ(wf_sparse_mask_sparsity(m2), 0.6);
        WF_CHECK_EQ(wf_sparse_mask_dist(m2), WF_SPARSE_ERK);
        wf_sparse_mask_free(m2);
    }
    /* another model's shape */
    WF_CHECK_EQ(wf_sparse_mask_load(p, &other, NULL, &m2, &e), WF_ESHAPE);
    WF_CHECK_HAS(e.msg, "mask for a model of 2 layers, n_embd 8, n_inner 32; this model has 2 layers, n_embd 16");
    size_t n;
    uint8_t *d = read_all(p, &n);
    WF_CHECK(d != NULL);
    if (!d) return;
    uint8_t *t = malloc(n);
    /* a flipped bit in the body */
    memcpy(t, d, n);
    t[n - 3] ^= 0x10;
    WF_CHECK_EQ(wf_file_write_atomic(q, t, n, &e), WF_OK);
    WF_CHECK_EQ(wf_sparse_mask_load(q, &c, NULL, &m2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "bad.bin: offset 64: body CRC mismatch");
    /* truncated */
    WF_CHECK_EQ(wf_file_write_atomic(q, d, n - 8, &e), WF_OK);
    WF_CHECK_EQ(wf_sparse_mask_load(q, &c, NULL, &m2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "offset 48: body of");
    WF_CHECK_EQ(wf_file_write_atomic(q, d, 20, &e), WF_OK);
    WF_CHECK_EQ(wf_sparse_mask_load(q, &c, NULL, &m2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "20 bytes, shorter than the 64-byte header");
    /* a damaged header */
    memcpy(t, d, n);
    t[13] ^= 1;
    WF_CHECK_EQ(wf_file_write_atomic(q, t, n, &e), WF_OK);
    WF_CHECK_EQ(wf_sparse_mask_load(q, &c, NULL, &m2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "offset 60: header CRC mismatch");
    /* sparsity outside [0, 1) with valid CRCs */
    double bad[3] = {1.0, -0.5, NAN};
    for (int i = 0; i < 3; i++) {
        memcpy(t, d, n);
        memcpy(t + 32, &bad[i], 8);
        write_fixed(q, t, n);
        WF_CHECK_EQ(wf_sparse_mask_load(q, &c, NULL, &m2, &e), WF_ECORRUPT);
        WF_CHECK_HAS(e.msg, "offset 32: sparsity");
        WF_CHECK_HAS(e.msg, "outside [0, 1)");
    }
    /* kept count disagreeing with the bits */
    memcpy(t, d, n);
    t[40] ^= 1;
    write_fixed(q, t, n);
    WF_CHECK_EQ(wf_sparse_mask_load(q, &c, NULL, &m2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "offset 40: header counts");
    /* an unknown kernel choice */
    memcpy(t, d, n);
    t[64] = 9;
    write_fixed(q, t, n);
    WF_CHECK_EQ(wf_sparse_mask_load(q, &c, NULL, &m2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "offset 64: kernel choice 9");
    /* not a mask file; a missing file */
    WF_CHECK_EQ(wf_file_write_atomic(q, "{\"hello\": 1234567890123456789012345678901234567890123456789012345678}", 70, &e), WF_OK);
    WF_CHECK_EQ(wf_sparse_mask_load(q, &c, NULL, &m2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "bad magic");
    snprintf(q, sizeof q, "%s/missing.bin", dir);
    WF_CHECK(wf_sparse_mask_load(q, &c, NULL, &m2, &e) != WF_OK);
    WF_CHECK_HAS(e.msg, "missing.bin");
    free(t), wf_free(NULL, d);
    wf_sparse_mask_free(m);
    WF_CHECK_EQ(wf_heap_live(NULL), 0);
}

static void plan_forced_and_timed_choices(void) {
    wf_gpt_config c;
    tiny(&c, 2, 16);
    size_t n = wf_gpt_numel(&c);
    float *w = malloc(sizeof(float) * n);
    wf_gpt_init_random(&c, w, 3);
    wf_sparse_mask *m;
    wf_sparse_plan *p;
    wf_err e;
    WF_CHECK_EQ(wf_sparse_mask_random(&c, 0.9, WF_SPARSE_UNIFORM, 1, NULL, &m, &e), WF_OK);
    WF_CHECK_EQ(wf_sparse_plan_new(m, w, 40, WF_SPARSE_KERNELS_SPARSE, NULL, &p, &e), WF_OK);
    WF_CHECK_EQ(wf_sparse_plan_count_sparse(p), 8);
    WF_CHECK(wf_sparse_plan_mat(p, 1, WF_SPARSE_FPROJ) != NULL);
    wf_sparse_plan_free(p);
    /* the choice now lives in the mask: forcing dense later keeps it (resume) */
    WF_CHECK_EQ(wf_sparse_plan_new(m, w, 40, WF_SPARSE_KERNELS_DENSE, NULL, &p, &e), WF_OK);
    WF_CHECK_EQ(wf_sparse_plan_count_sparse(p), 8);
    wf_sparse_plan_free(p);
    for (int l = 0; l < 2; l++)
        for (int s = 0; s < 4; s++) wf_sparse_mask_set_use(m, l, (wf_sparse_mat)s, WF_SPARSE_UNDECIDED);
    WF_CHECK_EQ(wf_sparse_plan_new(m, w, 40, WF_SPARSE_KERNELS_AUTO, NULL, &p, &e), WF_OK);
    char buf[2048];
    wf_sparse_plan_describe(p, buf, sizeof buf);
    printf("%s\n", buf);
    WF_CHECK_HAS(buf, "fc [16x64] density 0.100: dense");
    for (int s = 0; s < 4; s++) WF_CHECK(wf_sparse_mask_use(m, 1, (wf_sparse_mat)s) != WF_SPARSE_UNDECIDED);
    wf_sparse_plan_free(p);
    wf_sparse_mask_free(m);
    free(w);
    WF_CHECK_EQ(wf_heap_live(NULL), 0);
}

/* counts the hook's sparse products, forwards to wf_sparse_infer_linear */
typedef struct {
    wf_sparse_infer *s;
    int sparse_calls, small_calls;
} counting;

static int count_linear(void *ud, int l, int which, float *out, const float *inp, const float *bias, int N) {
    counting *c = ud;
    int done = wf_sparse_infer_linear(c->s, l, which, out, inp, bias, N);
    c->sparse_calls += done;
    c->small_calls += done && N < 16;
    return done;
}

static void inference_hook_matches_dense_with_zeros(void) {
    wf_gpt_config c;
    tiny(&c, 2, 32);
    c.n_positions = 64;
    size_t n = wf_gpt_numel(&c);
    float *w = malloc(sizeof(float) * n);
    wf_gpt_init_random(&c, w, 11);
    wf_sparse_mask *m;
    wf_err e;
    WF_CHECK_EQ(wf_sparse_mask_magnitude(&c, w, 0.8, 0, NULL, &m, &e), WF_OK);
    wf_sparse_mask_apply(m, w);
    counting cnt = {0};
    WF_CHECK_EQ(wf_sparse_infer_new(m, w, 64, NULL, &cnt.s, &e), WF_OK);
    int lc, nmat = wf_sparse_infer_count(cnt.s, &lc);
    WF_CHECK_EQ(nmat, 8);
    WF_CHECK_EQ(lc, 8); /* density 0.2, undecided: long chunks too */
    wf_infer *dense, *sp;
    wf_infer_opts od = {.max_batch = 1, .max_rows = 64}, os = od;
    os.linear = count_linear, os.linear_ud = &cnt;
    WF_CHECK_EQ(wf_infer_new(&c, w, &od, NULL, &dense, &e), WF_OK);
    WF_CHECK_EQ(wf_infer_new(&c, w, &os, NULL, &sp, &e), WF_OK);
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 7 + 3) % c.vocab_size;
    float *ld = malloc(sizeof(float) * 40 * c.vocab_size), *ls = malloc(sizeof(float) * 40 * c.vocab_size);
    /* prefill of 32 (tiled kernel), then 8 decode steps (row gather) */
    WF_CHECK_EQ(wf_infer_forward(dense, ids, 1, 32, ld, WF_LOGITS_ALL, &e), WF_OK);
    WF_CHECK_EQ(wf_infer_forward(sp, ids, 1, 32, ls, WF_LOGITS_ALL, &e), WF_OK);
    double d = wf_check_maxdiff(ld, ls, (size_t)32 * c.vocab_size);
    for (int t = 32; t < 40; t++) {
        WF_CHECK_EQ(wf_infer_forward(dense, ids + t, 1, 1, ld, WF_LOGITS_LAST, &e), WF_OK);
        WF_CHECK_EQ(wf_infer_forward(sp, ids + t, 1, 1, ls, WF_LOGITS_LAST, &e), WF_OK);
        d = wf_check_max(d, wf_check_maxdiff(ld, ls, (size_t)c.vocab_size));
    }
    printf("inference at 80%% sparsity: max logit diff sparse vs dense %.3g; %d sparse products (%d decode)\n", d,
           cnt.sparse_calls, cnt.small_calls);
    WF_CHECK(d <= 1e-4);
    WF_CHECK_EQ(cnt.sparse_calls, 8 * 9);
    WF_CHECK_EQ(cnt.small_calls, 8 * 8);
    wf_infer_free(dense), wf_infer_free(sp);
    wf_sparse_infer_free(cnt.s);
    wf_sparse_mask_free(m);
    free(w), free(ld), free(ls);
    WF_CHECK_EQ(wf_heap_live(NULL), 0);
}

/* Every allocation of load, plan and inference setup fails in turn: an
** error each time, nothing leaked, then success (STYLE 15). */
static void allocation_failures_leak_nothing(void) {
    wf_gpt_config c;
    tiny(&c, 2, 8);
    size_t n = wf_gpt_numel(&c);
    float *w = malloc(sizeof(float) * n);
    wf_gpt_init_random(&c, w, 3);
    char p[256];
    snprintf(p, sizeof p, "%s/alloc.bin", dir);
    wf_sparse_mask *m0;
    wf_err e;
    WF_CHECK_EQ(wf_sparse_mask_random(&c, 0.5, WF_SPARSE_UNIFORM, 1, NULL, &m0, &e), WF_OK);
    WF_CHECK_EQ(wf_sparse_mask_save(p, m0, &e), WF_OK);
    wf_sparse_mask_free(m0);
    wf_heap *h = wf_heap_new(0);
    int rounds = 0, bad = 0;
    for (int k = 0; k < 200; k++, rounds++) {
        wf_heap_fail_at(h, k);
        wf_sparse_mask *m = NULL;
        wf_sparse_plan *pl = NULL;
        wf_sparse_infer *si = NULL;
        wf_status st = wf_sparse_mask_load(p, &c, h, &m, &e);
        if (!st) st = wf_sparse_plan_new(m, w, 20, WF_SPARSE_KERNELS_SPARSE, h, &pl, &e);
        if (!st) st = wf_sparse_infer_new(m, w, 20, h, &si, &e);
        if (!st) st = wf_sparse_mask_magnitude(&c, w, 0.5, 1, h, &m0, &e);
        if (!st) wf_sparse_mask_free(m0);
        wf_sparse_infer_free(si);
        wf_sparse_plan_free(pl);
        wf_sparse_mask_free(m);
        if (st != WF_OK && st != WF_ENOMEM) bad++;
        WF_CHECK_EQ(wf_heap_live(h), 0);
        if (st == WF_OK) break;
    }
    wf_heap_fail_at(h, -1);
    printf("allocation failures: %d points, each an error without a leak\n", rounds);
    WF_CHECK(rounds > 10 && rounds < 200);
    WF_CHECK_EQ(bad, 0);
    wf_heap_free(h);
    free(w);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    sparse_kernels_equal_references_and_dense_products_with_zeros();
    random_masks_keep_exact_counts_and_are_deterministic();
    magnitude_masks_keep_the_largest_weights();
    mask_file_round_trips_and_refuses_bad_files();
    plan_forced_and_timed_choices();
    inference_hook_matches_dense_with_zeros();
    allocation_failures_leak_nothing();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    return wf_check_report();
}
