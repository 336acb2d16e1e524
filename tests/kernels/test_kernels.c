/* test_kernels.c — the forward kernels against references: flash attention
** (tiled, online softmax) and its KV-cache form against the naive two-pass
** attention including lse; layernorm against a double computation; GELU
** forms against known values; softmax / logsumexp / cross-entropy. */
#include "kernels/kernels.h"
#include "base/base.h"
#include "base/rng.h"
#include "tests/check.h"

#include <math.h>
#include <stdlib.h>

static float *randmat(wf_rng *r, size_t n, float scale) {
    float *x = wf_alloc(NULL, n * sizeof(float) + 64, "test", NULL);
    for (size_t i = 0; i < n; i++) x[i] = (float)((wf_rng_uniform(r) * 2 - 1) * scale);
    return x;
}


static void attention_case(int B, int T, int C, int H) {
    wf_rng r;
    wf_rng_seed(&r, (uint64_t)(B * 1000 + T * 10 + H));
    size_t nqkv = (size_t)B * T * 3 * C, no = (size_t)B * T * C, nl = (size_t)B * H * T;
    float *qkv = randmat(&r, nqkv, 2.0f);
    float *o1 = randmat(&r, no, 1), *o2 = randmat(&r, no, 1), *l1 = randmat(&r, nl, 1), *l2 = randmat(&r, nl, 1);
    wf_attention_forward(o1, l1, qkv, B, T, C, H);
    wf_attention_forward_naive(o2, l2, qkv, B, T, C, H);
    double eo = wf_check_maxdiff(o1, o2, no), el = wf_check_maxdiff(l1, l2, nl);
    printf("attention B=%d T=%d C=%d H=%d: max diff out %.3g lse %.3g\n", B, T, C, H, eo, el);
    WF_CHECK(eo < 1e-5);
    WF_CHECK(el < 1e-5);

    /* KV-cache form: keys/values in a separate cache [B, Tmax, C], queries
    ** for positions pos0.. in their own buffer [B, T-pos0, C]. */
    int pos0 = T / 2, Tq = T - pos0, Tmax = T + 3;
    float *kc = randmat(&r, (size_t)B * Tmax * C, 1), *vc = randmat(&r, (size_t)B * Tmax * C, 1);
    float *q = randmat(&r, (size_t)B * Tq * C, 1), *o3 = randmat(&r, (size_t)B * Tq * C, 1);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                const float *row = qkv + ((size_t)b * T + t) * 3 * C;
                kc[((size_t)b * Tmax + t) * C + c] = row[C + c];
                vc[((size_t)b * Tmax + t) * C + c] = row[2 * C + c];
                if (t >= pos0) q[((size_t)b * Tq + t - pos0) * C + c] = row[c];
            }
    wf_attention_forward_kv(o3, (long)Tq * C, C, NULL, q, (long)Tq * C, C, kc, vc, (long)Tmax * C, C,
                            B, Tq, pos0, C, H);
    double ek = 0;
    for (int b = 0; b < B; b++)
        ek = wf_check_max(ek, wf_check_maxdiff(o3 + (size_t)b * Tq * C, o2 + ((size_t)b * T + pos0) * C, (size_t)Tq * C));
    WF_CHECK(ek < 1e-5);
    wf_free(NULL, qkv); wf_free(NULL, o1); wf_free(NULL, o2); wf_free(NULL, l1); wf_free(NULL, l2);
    wf_free(NULL, kc); wf_free(NULL, vc); wf_free(NULL, q); wf_free(NULL, o3);
}

static void test_layernorm(void) {
    wf_rng r;
    wf_rng_seed(&r, 5);
    int N = 5, C = 77;
    float *x = randmat(&r, (size_t)N * C, 3), *w = randmat(&r, C, 1), *b = randmat(&r, C, 1);
    float *o = randmat(&r, (size_t)N * C, 1), mean[5], rstd[5];
    for (int i = 0; i < C; i++) x[i] += 100.0f; /* large offset: two-pass must hold */
    wf_layernorm_forward(o, mean, rstd, x, w, b, N, C, 1e-5f);
    double md = 0;
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[n * C + c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[n * C + c] - m) * (x[n * C + c] - m);
        v /= C;
        double rs = 1 / sqrt(v + 1e-5);
        WF_CHECK_NEAR(mean[n], m, 1e-5 * fabs(m) + 1e-6);
        WF_CHECK_NEAR(rstd[n], rs, 1e-5 * rs);
        for (int c = 0; c < C; c++) md = wf_check_max(md, fabs(o[n * C + c] - ((x[n * C + c] - m) * rs * w[c] + b[c])));
    }
    WF_CHECK(md < 1e-4);
    wf_free(NULL, x); wf_free(NULL, w); wf_free(NULL, b); wf_free(NULL, o);
    /* the bf16 output rounds the fp32 one's floats: rows longer than its
    ** 512-column pieces, and threaded */
    int N2 = 97, C2 = 1100;
    x = randmat(&r, (size_t)N2 * C2, 3), w = randmat(&r, C2, 1), b = randmat(&r, C2, 1);
    o = randmat(&r, (size_t)N2 * C2, 1);
    uint16_t *o16 = wf_alloc(NULL, sizeof(uint16_t) * (size_t)N2 * C2, "t", NULL);
    uint16_t *ref = wf_alloc(NULL, sizeof(uint16_t) * (size_t)N2 * C2, "t", NULL);
    float *m1 = randmat(&r, N2, 1), *r1 = randmat(&r, N2, 1), *m2 = randmat(&r, N2, 1), *r2 = randmat(&r, N2, 1);
    wf_layernorm_forward(o, m1, r1, x, w, b, N2, C2, 1e-5f);
    wf_layernorm_forward_bf16(o16, m2, r2, x, w, b, N2, C2, 1e-5f);
    wf_bf16_from_f32(ref, o, (size_t)N2 * C2);
    WF_CHECK(memcmp(o16, ref, sizeof(uint16_t) * (size_t)N2 * C2) == 0);
    WF_CHECK(memcmp(m1, m2, sizeof(float) * N2) == 0 && memcmp(r1, r2, sizeof(float) * N2) == 0);
    wf_free(NULL, x); wf_free(NULL, w); wf_free(NULL, b); wf_free(NULL, o); wf_free(NULL, o16);
    wf_free(NULL, ref); wf_free(NULL, m1); wf_free(NULL, r1); wf_free(NULL, m2); wf_free(NULL, r2);
}

static void test_gelu(void) {
    /* Values from torch.nn.functional.gelu(x) and gelu(x, approximate="tanh"). */
    float xv[4] = {-3.0f, -0.5f, 0.0f, 1.5f}, y[4], z[4];
    wf_gelu_forward(y, xv, 4);
    wf_gelu_new_forward(z, xv, 4);
    WF_CHECK_NEAR(y[0], -0.00405023, 1e-6);
    WF_CHECK_NEAR(y[1], -0.15426877, 1e-6);
    WF_CHECK_NEAR(y[2], 0.0, 0);
    WF_CHECK_NEAR(y[3], 1.39978909, 1e-6);
    WF_CHECK_NEAR(z[0], -0.00363743, 1e-6);
    WF_CHECK_NEAR(z[1], -0.15428599, 1e-6);
    WF_CHECK_NEAR(z[3], 1.39957154, 1e-6);
    /* against libm over a sweep (the kernels use their own erf/tanh) */
    enum { NG = 20001 };
    float *xs = wf_alloc(NULL, sizeof(float) * NG, "t", NULL), *g1 = wf_alloc(NULL, sizeof(float) * NG, "t", NULL);
    float *g2 = wf_alloc(NULL, sizeof(float) * NG, "t", NULL);
    for (int i = 0; i < NG; i++) xs[i] = -10.0f + 20.0f * (float)i / (NG - 1);
    wf_gelu_forward(g1, xs, NG);
    wf_gelu_new_forward(g2, xs, NG);
    double e1 = 0, e2 = 0;
    for (int i = 0; i < NG; i++) {
        double x = xs[i];
        e1 = wf_check_max(e1, fabs(g1[i] - 0.5 * x * (1 + erf(x / sqrt(2.0)))));
        e2 = wf_check_max(e2, fabs(g2[i] - 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))));
    }
    printf("gelu max abs error vs libm on [-10, 10]: erf %.3g, tanh %.3g\n", e1, e2);
    /* the bf16 outputs round the fp32 ones' floats (as a block of 1 x NG and of
    ** 3 x 6667 rows, row pitches 6667 and 7000) */
    uint16_t *h = wf_alloc(NULL, sizeof(uint16_t) * (NG * 2 + 1000), "t", NULL), *hr = h + NG + 1000;
    for (int form = 0; form < 2; form++) {
        wf_gelu_block_bf16(h, 0, xs, 0, 1, NG, form);
        wf_bf16_from_f32(hr, form ? g2 : g1, NG);
        WF_CHECK(memcmp(h, hr, sizeof(uint16_t) * NG) == 0);
        memset(h, 0xFF, sizeof(uint16_t) * NG);
        wf_gelu_block_bf16(h, 7000, xs, 6667, 3, 6667, form);
        for (int r = 0; r < 3; r++) WF_CHECK(memcmp(h + r * 7000, hr + r * 6667, sizeof(uint16_t) * 6667) == 0);
    }
    wf_free(NULL, h);
    WF_CHECK(e1 < 1e-6);
    WF_CHECK(e2 < 1e-6);
    wf_free(NULL, xs); wf_free(NULL, g1); wf_free(NULL, g2);
    float a[3] = {1, 2, 3}, b[3] = {10, 20, 30};
    wf_residual_forward(a, a, b, 3);
    WF_CHECK_NEAR(a[2], 33.0, 0);
}

static void test_softmax_loss(void) {
    float lg[6] = {1.0f, 2.0f, 3.0f, 1000.0f, 1000.0f, -1000.0f}, p[6];
    WF_CHECK_NEAR(wf_logsumexp(lg, 3), 3.40760596, 1e-6);
    WF_CHECK_NEAR(wf_logsumexp(lg + 3, 3), 1000.0 + log(2.0), 1e-3); /* no overflow */
    wf_softmax_forward(p, lg, 2, 3);
    WF_CHECK_NEAR(p[0] + p[1] + p[2], 1.0, 1e-6);
    WF_CHECK_NEAR(p[2], 0.66524096, 1e-6);
    WF_CHECK_NEAR(p[5], 0.0, 1e-30);
    int32_t tg[2] = {0, 1};
    float loss[2];
    wf_crossentropy_forward(loss, lg, tg, 2, 3);
    WF_CHECK_NEAR(loss[0], 2.40760596, 1e-6);
    WF_CHECK_NEAR(loss[1], log(2.0), 1e-3);
}

/* wf_tune: probes the other count every WF_TUNE_EVERY steps, keeps it only
** when clearly faster, and goes back when the cores are free again. */
/* Runs steps that take t_max at all threads and t_less at one fewer; *n is
** the count the next step runs at (carried from one phase to the next). */
static void tune_run(wf_tune *t, int *n, int steps, double t_max, double t_less, int *probes) {
    for (int i = 0; i < steps; i++) {
        *n = wf_tune_next(t, *n == t->max ? t_max : t_less);
        if (*n != t->cur) (*probes)++;
    }
}

static void test_tune(void) {
    wf_tune t;
    int probes = 0, n = 2;
    wf_tune_init(&t, 2);
    WF_CHECK(t.cur == 2);
    /* quiet: one fewer thread is slower; the tuner probes but stays */
    tune_run(&t, &n, 4 * WF_TUNE_EVERY, 0.5, 0.9, &probes);
    WF_CHECK(t.cur == 2);
    WF_CHECK(probes >= 2 && probes <= 3); /* 16, then 32: losing probes space out */
    WF_CHECK(t.every > WF_TUNE_EVERY);
    /* busy: all threads take 0.8 s, one fewer 0.6 s: it switches within the longest interval */
    probes = 0;
    int steps = 0;
    while (!t.was && steps++ < 4 * WF_TUNE_EVERY + 2) n = wf_tune_next(&t, n == t.max ? 0.8 : 0.6);
    WF_CHECK(t.was == 2 && t.cur == 1 && n == 1);
    WF_CHECK(t.t_probe == 0.6 && t.t_best == 0.8); /* one thread's step held against two threads' */
    WF_CHECK(t.every == WF_TUNE_EVERY);
    tune_run(&t, &n, 2 * WF_TUNE_EVERY, 0.8, 0.6, &probes); /* and it stays there */
    WF_CHECK(t.cur == 1);
    /* a 5% gain is below WF_TUNE_GAIN: no switch back */
    tune_run(&t, &n, 3 * WF_TUNE_EVERY, 0.57, 0.6, &probes);
    WF_CHECK(t.cur == 1);
    /* quiet again: back to all threads */
    tune_run(&t, &n, 4 * WF_TUNE_EVERY + 2, 0.5, 0.9, &probes);
    WF_CHECK(t.cur == 2);
    /* one core: never anything but 1; a bad time (0, NaN) changes nothing */
    wf_tune_init(&t, 1);
    probes = 0;
    n = 1;
    tune_run(&t, &n, 3 * WF_TUNE_EVERY, 0.5, 0.1, &probes);
    WF_CHECK(n == 1 && probes == 0);
    wf_tune_init(&t, 4);
    WF_CHECK(wf_tune_next(&t, NAN) == 4 && wf_tune_next(&t, 0) == 4 && t.t1 == 0);
}

int main(void) {
    attention_case(1, 1, 8, 2);
    attention_case(2, 7, 24, 3);
    attention_case(1, 65, 32, 2);   /* crosses a key tile */
    attention_case(2, 150, 64, 1);  /* D = 64, several tiles */
    attention_case(1, 70, 256, 2);  /* D = 128 */
    test_layernorm();
    test_gelu();
    test_softmax_loss();
    test_tune();
    return wf_check_report();
}
