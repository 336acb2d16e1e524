/* test_kernels_bwd.c — the backward kernels and AdamW pieces against their
** naive references (kernels/backward.h, kernels/adamw.h): layernorm, GELU
** (both forms, and the bf16 form the AMX trainer uses), linear, flash-style attention, fused cross-entropy, the AdamW
** update, clipping and the LR schedule. Tolerances are stated per case. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/rng.h"
#include "kernels/adamw.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "tests/check.h"

static float *randv(size_t n, wf_rng *r, float sd) {
    float *p = wf_alloc(NULL, n * sizeof(float), "test", NULL);
    for (size_t i = 0; i < n; i++) p[i] = (float)wf_rng_normal(r) * sd;
    return p;
}
static float *zerov(size_t n) { return wf_calloc(NULL, n * sizeof(float), "test", NULL); }

/* max |a-b| / max(max|b|, 1e-12): the relative error used throughout. */
static double relerr(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        md = wf_check_max(md, d);
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / (mb > 1e-12 ? mb : 1e-12);
}

static void layernorm_backward_matches_reference(void) {
    wf_rng r;
    wf_rng_seed(&r, 1);
    int N = 37, C = 200;
    float *x = randv((size_t)N * C, &r, 1.5f), *w = randv(C, &r, 1.0f), *b = randv(C, &r, 1.0f);
    float *go = randv((size_t)N * C, &r, 1.0f), *y = zerov((size_t)N * C), *mean = zerov(N), *rstd = zerov(N);
    wf_layernorm_forward(y, mean, rstd, x, w, b, N, C, 1e-5f);
    float *dx = randv((size_t)N * C, &r, 1.0f), *dx2 = wf_alloc(NULL, sizeof(float) * N * C, "t", NULL);
    memcpy(dx2, dx, sizeof(float) * N * C);
    float *dw = zerov(C), *db = zerov(C), *dw2 = zerov(C), *db2 = zerov(C);
    wf_layernorm_backward(dx, dw, db, go, x, w, mean, rstd, N, C);
    wf_layernorm_backward_ref(dx2, dw2, db2, go, x, w, mean, rstd, N, C);
    double e1 = relerr(dx, dx2, (size_t)N * C), e2 = relerr(dw, dw2, C), e3 = relerr(db, db2, C);
    printf("layernorm bwd rel err dx %.2e dw %.2e db %.2e\n", e1, e2, e3);
    WF_CHECK(e1 < 1e-5 && e2 < 1e-5 && e3 < 1e-5);
    /* finite difference of sum(go * LN(x)) wrt x[3] */
    double h = 1e-3, fp = 0, fm = 0;
    float x0 = x[3];
    x[3] = x0 + (float)h;
    wf_layernorm_forward(y, NULL, NULL, x, w, b, N, C, 1e-5f);
    for (int c = 0; c < C; c++) fp += (double)go[c] * y[c];
    x[3] = x0 - (float)h;
    wf_layernorm_forward(y, NULL, NULL, x, w, b, N, C, 1e-5f);
    for (int c = 0; c < C; c++) fm += (double)go[c] * y[c];
    x[3] = x0;
    float *dxz = zerov((size_t)N * C);
    memset(dw2, 0, sizeof(float) * C), memset(db2, 0, sizeof(float) * C);
    wf_layernorm_backward(dxz, dw2, db2, go, x, w, mean, rstd, N, C);
    WF_CHECK_NEAR(dxz[3], (fp - fm) / (2 * h), 2e-2 * fabs(dxz[3]) + 1e-3);
    void *all[] = {x, w, b, go, y, mean, rstd, dx, dx2, dw, db, dw2, db2, dxz};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) wf_free(NULL, all[i]);
}

static void gelu_backward_matches_reference_both_forms(void) {
    wf_rng r;
    wf_rng_seed(&r, 2);
    size_t n = 100000;
    float *x = randv(n, &r, 3.0f), *go = randv(n, &r, 1.0f), *a = zerov(n), *b = zerov(n);
    for (int act = 0; act < 2; act++) {
        wf_gelu_backward(a, x, go, n, act);
        wf_gelu_backward_ref(b, x, go, n, act);
        double e = relerr(a, b, n);
        printf("gelu%s bwd rel err %.2e\n", act ? "_new" : "", e);
        WF_CHECK(e < 1e-5);
        /* finite difference against the engine's forward at x = 0.7 */
        float xs[2] = {0.7f + 1e-3f, 0.7f - 1e-3f}, ys[2], g, one = 1.0f, x0 = 0.7f;
        if (act) wf_gelu_new_forward(ys, xs, 2);
        else wf_gelu_forward(ys, xs, 2);
        wf_gelu_backward(&g, &x0, &one, 1, act);
        WF_CHECK_NEAR(g, (ys[0] - ys[1]) / 2e-3, 1e-3);
    }
    wf_free(NULL, x), wf_free(NULL, go), wf_free(NULL, a), wf_free(NULL, b);
}

/* wf_gelu_backward_bf16 (the trainer's AMX path): the rows of
** wf_gelu_backward rounded by wf_bf16_from_f32, and db += the fp32 column
** sums with wf_colsum_add's bits; both forms, a column tail (F = 3000 is not
** a multiple of the strips), one and two threads, db NULL. */
static void gelu_backward_bf16_rounds_the_fp32_gradient(void) {
    wf_rng r;
    wf_rng_seed(&r, 21);
    const int N = 37, F = 3000;
    size_t n = (size_t)N * F;
    float *x = randv(n, &r, 3.0f), *go = randv(n, &r, 1.0f), *g = zerov(n);
    float *db1 = randv(F, &r, 1.0f), *db2 = zerov(F);
    uint16_t *h1 = wf_alloc(NULL, n * 2, "test", NULL), *h2 = wf_alloc(NULL, n * 2, "test", NULL);
    int cases = 0;
    for (int act = 0; act < 2; act++)
        for (int nt = 1; nt <= 2; nt++) {
            wf_kernels_set_threads(nt);
            memcpy(db2, db1, sizeof(float) * F);
            wf_gelu_backward(g, x, go, n, act);
            wf_bf16_from_f32(h2, g, n);
            wf_colsum_add(db2, g, F, N, F);
            memset(h1, 0xFF, n * 2);
            wf_gelu_backward_bf16(h1, db1, x, go, N, F, act);
            WF_CHECK(memcmp(h1, h2, n * 2) == 0);
            WF_CHECK(memcmp(db1, db2, sizeof(float) * F) == 0);
            memset(h1, 0xFF, n * 2);
            wf_gelu_backward_bf16(h1, NULL, x, go, N, F, act);
            WF_CHECK(memcmp(h1, h2, n * 2) == 0);
            cases++;
        }
    wf_kernels_set_threads(2);
    printf("gelu bwd bf16: %d cases, rows and bias sums with the bits of the fp32 kernels\n", cases);
    wf_free(NULL, x), wf_free(NULL, go), wf_free(NULL, g), wf_free(NULL, db1), wf_free(NULL, db2);
    wf_free(NULL, h1), wf_free(NULL, h2);
}

static void matmul_backward_matches_reference(void) {
    wf_rng r;
    wf_rng_seed(&r, 3);
    int N = 33, Cin = 70, Cout = 45;
    float *x = randv((size_t)N * Cin, &r, 1), *w = randv((size_t)Cin * Cout, &r, 1), *go = randv((size_t)N * Cout, &r, 1);
    float *dx = zerov((size_t)N * Cin), *dw = zerov((size_t)Cin * Cout), *db = zerov(Cout);
    float *dx2 = zerov((size_t)N * Cin), *dw2 = zerov((size_t)Cin * Cout), *db2 = zerov(Cout);
    for (int rep = 0; rep < 2; rep++) { /* twice: checks that it accumulates */
        wf_matmul_backward(dx, dw, db, go, x, w, N, Cin, Cout);
        wf_matmul_backward_ref(dx2, dw2, db2, go, x, w, N, Cin, Cout);
    }
    double e1 = relerr(dx, dx2, (size_t)N * Cin), e2 = relerr(dw, dw2, (size_t)Cin * Cout), e3 = relerr(db, db2, Cout);
    printf("matmul bwd rel err dx %.2e dw %.2e db %.2e\n", e1, e2, e3);
    WF_CHECK(e1 < 1e-5 && e2 < 1e-5 && e3 < 1e-5);
    void *all[] = {x, w, go, dx, dw, db, dx2, dw2, db2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) wf_free(NULL, all[i]);
}

static void attention_backward_matches_reference(int B, int T, int C, int H) {
    wf_rng r;
    wf_rng_seed(&r, 4 + T);
    size_t N = (size_t)B * T;
    float *qkv = randv(N * 3 * C, &r, 1.0f), *go = randv(N * C, &r, 1.0f);
    float *out = zerov(N * C), *lse = zerov((size_t)B * H * T), *out2 = zerov(N * C), *lse2 = zerov((size_t)B * H * T);
    wf_attention_forward(out, lse, qkv, B, T, C, H);
    wf_attention_forward_ref(out2, lse2, qkv, B, T, C, H);
    double ef = relerr(out, out2, N * C), el = relerr(lse, lse2, (size_t)B * H * T);
    float *d1 = randv(N * 3 * C, &r, 1.0f), *d2 = zerov(N * 3 * C); /* d1 garbage: must be overwritten */
    int nth = wf_kernels_threads();
    float *scr = zerov(wf_attention_backward_scratch(T, C / H, nth));
    wf_attention_backward(d1, go, qkv, out, lse, B, T, C, H, scr, nth);
    wf_attention_backward_ref(d2, go, qkv, out, lse, B, T, C, H);
    double e = relerr(d1, d2, N * 3 * C);
    printf("attention B%d T%d C%d H%d: fwd out %.2e lse %.2e, bwd rel err %.2e\n", B, T, C, H, ef, el, e);
    WF_CHECK(ef < 1e-5 && el < 1e-5);
    WF_CHECK(e < 1e-5);
    /* determinism: a second run gives the same bits */
    float *d3 = zerov(N * 3 * C);
    wf_attention_backward(d3, go, qkv, out, lse, B, T, C, H, scr, 1); /* 1 thread: same bits */
    WF_CHECK(memcmp(d1, d3, N * 3 * C * sizeof(float)) == 0);
    void *all[] = {qkv, go, out, lse, out2, lse2, d1, d2, d3, scr};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) wf_free(NULL, all[i]);
}

static void crossentropy_fused_matches_reference(void) {
    wf_rng r;
    wf_rng_seed(&r, 5);
    int N = 45, C = 32, V = 301;
    float *h = randv((size_t)N * C, &r, 1), *wte = randv((size_t)V * C, &r, 0.5f);
    int32_t *tg = wf_alloc(NULL, sizeof(int32_t) * N, "t", NULL);
    for (int i = 0; i < N; i++) tg[i] = (int32_t)(wf_rng_next(&r) % V);
    float *l1 = zerov(N), *l2 = zerov(N), *dh1 = zerov((size_t)N * C), *dh2 = zerov((size_t)N * C);
    float *dw1 = zerov((size_t)V * C), *dw2 = zerov((size_t)V * C), *scr = zerov((size_t)16 * V);
    wf_crossentropy_fused(dh1, dw1, l1, h, wte, tg, N, C, V, 1.0f / N, scr, 16); /* 3 chunks, last partial */
    wf_crossentropy_fused_ref(dh2, dw2, l2, h, wte, tg, N, C, V, 1.0f / N);
    double e1 = relerr(l1, l2, N), e2 = relerr(dh1, dh2, (size_t)N * C), e3 = relerr(dw1, dw2, (size_t)V * C);
    printf("cross-entropy rel err loss %.2e dh %.2e dwte %.2e\n", e1, e2, e3);
    WF_CHECK(e1 < 1e-5 && e2 < 1e-5 && e3 < 1e-5);
    float *l3 = zerov(N);
    wf_crossentropy_fused(NULL, NULL, l3, h, wte, tg, N, C, V, 1.0f, scr, 16);
    WF_CHECK(memcmp(l1, l3, sizeof(float) * N) == 0);
    /* a NaN or an Inf logit makes that row's loss NaN, never a number (the
    ** trainer stops on it); the other rows are untouched */
    float *lg = zerov((size_t)3 * V), lo[3];
    int32_t t3[3] = {1, 2, 3};
    for (int k = 0; k < 3; k++)
        for (int v = 0; v < V; v++) lg[(size_t)k * V + v] = (float)((v * 7 + k) % 13) * 0.1f;
    lg[5] = NAN;
    lg[(size_t)V + V - 1] = INFINITY; /* in the tail past the last 16 */
    wf_crossentropy_rows(lg, 3, V, t3, lo, 1.0f, 1);
    printf("cross-entropy rows with NaN / Inf logits: losses %g %g %g\n", lo[0], lo[1], lo[2]);
    WF_CHECK(isnan(lo[0]) && isnan(lo[1]) && isfinite(lo[2]));
    wf_free(NULL, lg);
    void *all[] = {h, wte, tg, l1, l2, dh1, dh2, dw1, dw2, scr, l3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) wf_free(NULL, all[i]);
}

/* wf_crossentropy_rows_bf16: the losses of wf_crossentropy_rows bit for bit,
** and each row's gradient is wf_bf16_from_f32 of that function's fp32
** gradient, in the row's first V uint16: V = 50257 (a 1-element tail) and
** 301, targets at 0, in the middle, last (the tail), rows with a NaN and an
** Inf logit (the scalar fallback), on the active path and the portable one. */
static void crossentropy_rows_bf16_rounds_the_fp32_gradient(void) {
    wf_rng r;
    wf_rng_seed(&r, 9);
    static const int vs[] = {50257, 301};
    for (int path = 0; path < 2; path++) {
        wf_isa was = wf_isa_active();
        if (path) wf_isa_force(WF_ISA_PORTABLE);
        for (size_t iv = 0; iv < 2; iv++) {
            int V = vs[iv], R = 7;
            int32_t tg[7] = {0, V / 2, V - 1, 5, V - 2, 17, 3};
            float *a = randv((size_t)R * V, &r, 3), *b = zerov((size_t)R * V);
            a[(size_t)5 * V + 11] = NAN, a[(size_t)6 * V + V - 1] = INFINITY;
            memcpy(b, a, sizeof(float) * (size_t)R * V);
            float la[7], lb[7];
            wf_crossentropy_rows(a, R, V, tg, la, 0.37f, 1);
            wf_crossentropy_rows_bf16(b, R, V, tg, lb, 0.37f);
            int same = 1;
            for (int i = 0; i < R; i++) {
                same &= memcmp(&la[i], &lb[i], sizeof(float)) == 0 || (isnan(la[i]) && isnan(lb[i]));
                uint16_t *want = wf_alloc(NULL, sizeof(uint16_t) * (size_t)V, "t", NULL);
                wf_bf16_from_f32(want, a + (size_t)i * V, (size_t)V);
                if (i < 5) same &= memcmp(want, (uint16_t *)(b + (size_t)i * V), sizeof(uint16_t) * (size_t)V) == 0;
                wf_free(NULL, want);
            }
            WF_CHECK(isnan(lb[5]) && isnan(lb[6]) && isfinite(lb[0]));
            printf("cross-entropy rows bf16 (V %d, %s): %s\n", V, path ? "portable" : wf_isa_name(was),
                   same ? "losses and rounded gradients match" : "DIFFER");
            WF_CHECK(same);
            wf_free(NULL, a);
            wf_free(NULL, b);
        }
        wf_isa_force(was);
    }
}

/* torch.optim.AdamW on one range, in double, written here from the formula of
** adamw.h (torch's _single_tensor_adamw), not from adamw.c: wf_adamw_update_ref
** shares adamw.c's per-element step with the fast path, so a wrong term
** there would pass the bitwise comparison below. */
static void adamw_double(double *p, const float *g, double *m, double *v, size_t n, const wf_adamw_params *a) {
    double b1 = a->beta1, b2 = a->beta2, lr = a->lr;
    double bc1 = 1 - pow(b1, (double)a->step), bc2 = 1 - pow(b2, (double)a->step);
    for (size_t i = 0; i < n; i++) {
        double gg = (double)g[i] * a->grad_scale;
        p[i] *= 1 - lr * a->weight_decay;
        m[i] = b1 * m[i] + (1 - b1) * gg;
        v[i] = b2 * v[i] + (1 - b2) * gg * gg;
        p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + a->eps);
    }
}

/* max |a - b| / max|b| for a float result against a double reference. */
static double relerr_d(const float *a, const double *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) md = wf_check_max(md, fabs(a[i] - b[i])), mb = wf_check_max(mb, fabs(b[i]));
    return md / (mb > 1e-300 ? mb : 1e-300);
}

static void adamw_fast_path_is_bitwise_the_reference(void) {
    wf_rng r;
    wf_rng_seed(&r, 6);
    size_t n = 200003;
    float *p = randv(n, &r, 1), *g = randv(n, &r, 1), *m = zerov(n), *v = zerov(n);
    float *p2 = wf_alloc(NULL, n * 4, "t", NULL), *m2 = zerov(n), *v2 = zerov(n);
    memcpy(p2, p, n * 4);
    double *pd = wf_alloc(NULL, n * 8, "t", NULL), *md = wf_calloc(NULL, n * 8, "t", NULL);
    double *vd = wf_calloc(NULL, n * 8, "t", NULL);
    for (size_t i = 0; i < n; i++) pd[i] = p[i];
    for (long s = 1; s <= 3; s++) {
        wf_adamw_params a = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                             .weight_decay = s == 2 ? 0.0f : 0.1f, .step = s, .grad_scale = 0.5f};
        wf_adamw_update(p, g, m, v, n, &a);
        wf_adamw_update_ref(p2, g, m2, v2, n, &a);
        adamw_double(pd, g, md, vd, n, &a);
    }
    /* vectorized / threaded == the scalar loop, bit for bit */
    WF_CHECK(memcmp(p, p2, n * 4) == 0 && memcmp(m, m2, n * 4) == 0 && memcmp(v, v2, n * 4) == 0);
    /* and so on every instruction-set path this CPU has (AVX-512, AVX2 lanes, scalar) */
    wf_isa was = wf_isa_active();
    for (int i = WF_ISA_PORTABLE; i <= (int)was; i++) {
        if (wf_isa_force((wf_isa)i) != (wf_isa)i) continue;
        float *p3 = wf_alloc(NULL, n * 4, "t", NULL), *m3 = wf_alloc(NULL, n * 4, "t", NULL);
        float *v3 = wf_alloc(NULL, n * 4, "t", NULL);
        memcpy(p3, p2, n * 4), memcpy(m3, m2, n * 4), memcpy(v3, v2, n * 4);
        float *p4 = wf_alloc(NULL, n * 4, "t", NULL), *m4 = wf_alloc(NULL, n * 4, "t", NULL);
        float *v4 = wf_alloc(NULL, n * 4, "t", NULL);
        memcpy(p4, p2, n * 4), memcpy(m4, m2, n * 4), memcpy(v4, v2, n * 4);
        wf_adamw_params a = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                             .step = 4, .grad_scale = 0.5f};
        wf_adamw_update(p3, g, m3, v3, n, &a);
        wf_adamw_update_ref(p4, g, m4, v4, n, &a);
        int same = !memcmp(p3, p4, n * 4) && !memcmp(m3, m4, n * 4) && !memcmp(v3, v4, n * 4);
        printf("adamw on %s: %s\n", wf_isa_name((wf_isa)i), same ? "the scalar bits" : "DIFFERS");
        WF_CHECK(same);
        void *tmp[] = {p3, m3, v3, p4, m4, v4};
        for (size_t k = 0; k < sizeof tmp / sizeof *tmp; k++) wf_free(NULL, tmp[k]);
    }
    wf_isa_force((wf_isa)-1);
    /* and both == the formula, to float rounding (a few ulp over 3 steps) */
    double ep = relerr_d(p, pd, n), em = relerr_d(m, md, n), ev = relerr_d(v, vd, n);
    printf("adamw vs double formula, 3 steps: rel err p %.3g, m %.3g, v %.3g\n", ep, em, ev);
    WF_CHECK(ep < 1e-6);
    WF_CHECK(em < 1e-6);
    WF_CHECK(ev < 1e-6);
    wf_free(NULL, pd), wf_free(NULL, md), wf_free(NULL, vd);
    /* one hand-computed element: p=1, g=2, step 1, lr .1, wd .1, scale 1:
    ** p*=0.99; m=0.2; v=0.2; m_hat=2, v_hat=4 -> p = 0.99 - 0.1*2/(2+1e-8) = 0.89 */
    float pp = 1, gg = 2, mm = 0, vv = 0;
    wf_adamw_params a = {.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                         .step = 1, .grad_scale = 1};
    wf_adamw_update(&pp, &gg, &mm, &vv, 1, &a);
    WF_CHECK_NEAR(pp, 0.89, 1e-6);
    WF_CHECK_NEAR(mm, 0.2, 1e-7);
    WF_CHECK_NEAR(vv, 0.2, 1e-7);
    void *all[] = {p, g, m, v, p2, m2, v2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) wf_free(NULL, all[i]);
}

static void clip_and_schedule_follow_the_formulas(void) {
    float norm;
    WF_CHECK_NEAR(wf_clip_coef(4.0, 1.0f, &norm), 1.0 / (2.0 + 1e-6), 1e-7);
    WF_CHECK_NEAR(norm, 2.0, 0);
    WF_CHECK_NEAR(wf_clip_coef(0.25, 1.0f, NULL), 1.0, 0);
    float x[5] = {1, 2, 3, 4, 5};
    WF_CHECK_NEAR(wf_sumsq(x, 5), 55.0, 0);
    /* a long vector (chunks, eight running sums, a tail): within 1e-13 of a
    ** long double sum, and the same bits on 1 and 2 threads */
    size_t nl = 1000003;
    float *xl = wf_alloc(NULL, nl * sizeof *xl, "sumsq", NULL);
    long double ref = 0;
    for (size_t i = 0; i < nl; i++) {
        xl[i] = (float)((double)((i * 2654435761u) % 20001) / 10000.0 - 1.0);
        ref += (long double)xl[i] * xl[i];
    }
    int th = wf_kernels_threads();
    wf_kernels_set_threads(1);
    double s1 = wf_sumsq(xl, nl);
    wf_kernels_set_threads(2);
    double s2 = wf_sumsq(xl, nl);
    wf_kernels_set_threads(th);
    WF_CHECK(fabs(s1 - (double)ref) <= 1e-13 * (double)ref);
    WF_CHECK(memcmp(&s1, &s2, sizeof s1) == 0);
    /* and on every instruction-set path this CPU has (vector lanes = the sums) */
    wf_isa was = wf_isa_active();
    for (int i = WF_ISA_PORTABLE; i <= (int)was; i++) {
        if (wf_isa_force((wf_isa)i) != (wf_isa)i) continue;
        double si = wf_sumsq(xl, nl);
        printf("sumsq on %s: %s\n", wf_isa_name((wf_isa)i), memcmp(&si, &s1, sizeof si) ? "DIFFERS" : "same bits");
        WF_CHECK(memcmp(&si, &s1, sizeof si) == 0);
    }
    wf_isa_force((wf_isa)-1);
    wf_free(NULL, xl);
    /* warm-up 10, total 110, peak 1 */
    WF_CHECK_NEAR(wf_lr_at(WF_SCHED_LINEAR, 1.0, 0.1, 10, 110, 0), 0.1, 1e-12);
    WF_CHECK_NEAR(wf_lr_at(WF_SCHED_LINEAR, 1.0, 0.1, 10, 110, 9), 1.0, 1e-12);
    WF_CHECK_NEAR(wf_lr_at(WF_SCHED_LINEAR, 1.0, 0.1, 10, 110, 10), 1.0, 1e-12);
    WF_CHECK_NEAR(wf_lr_at(WF_SCHED_LINEAR, 1.0, 0.1, 10, 110, 60), 0.55, 1e-12);
    WF_CHECK_NEAR(wf_lr_at(WF_SCHED_LINEAR, 1.0, 0.1, 10, 110, 110), 0.1, 1e-12);
    WF_CHECK_NEAR(wf_lr_at(WF_SCHED_LINEAR, 1.0, 0.1, 10, 110, 500), 0.1, 1e-12);
    WF_CHECK_NEAR(wf_lr_at(WF_SCHED_COSINE, 1.0, 0.1, 10, 110, 60), 0.55, 1e-12);
    WF_CHECK_NEAR(wf_lr_at(WF_SCHED_COSINE, 1.0, 0.1, 10, 110, 35), 0.1 + 0.9 * 0.5 * (1 + cos(M_PI / 4)), 1e-12);
    WF_CHECK_NEAR(wf_lr_at(WF_SCHED_CONSTANT, 1.0, 0.1, 0, 110, 70), 1.0, 0);
}

int main(void) {
    wf_kernels_set_threads(2);
    layernorm_backward_matches_reference();
    gelu_backward_matches_reference_both_forms();
    gelu_backward_bf16_rounds_the_fp32_gradient();
    matmul_backward_matches_reference();
    attention_backward_matches_reference(2, 37, 64, 4);  /* T not a multiple of the tile */
    attention_backward_matches_reference(1, 64, 96, 3);  /* hs = 32 */
    attention_backward_matches_reference(2, 133, 128, 2); /* hs = 64: the AVX-512 tile path, partial tiles */
    attention_backward_matches_reference(1, 70, 256, 2);  /* hs = 128: two 64-column blocks */
    crossentropy_fused_matches_reference();
    crossentropy_rows_bf16_rounds_the_fp32_gradient();
    adamw_fast_path_is_bitwise_the_reference();
    clip_and_schedule_follow_the_formulas();
    return wf_check_report();
}
