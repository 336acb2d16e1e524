/* test_attention_bf16.c — the bf16 attention of bf16 training
** (wf_attention_forward_bf16 / wf_attention_backward_bf16, attention_amx.c)
** for B = 2, T = 1, 17, 64, 100, 257 and head sizes 64 and 128:
**  (a) against an emulation written here: double-precision attention whose
**      operands are rounded to bf16 at exactly the points of the contract
**      (kernels.h, backward.h): Q, K, V, dO; the unnormalised probabilities
**      of the online softmax (key blocks of 64, running max) before P V; P
**      and dS before the three backward products;
**  (b) against the fp32 kernels, with a bf16-sized tolerance;
**  (c) the logsumexp against both;
**  (d) 1 and 2 threads give the same bits;
**  (f) outputs start as NaN and any NaN fails a comparison, so an element
**      left unwritten or a NaN produced fails.
** Where AMX is not available (or WAFER_ISA lowers the path) the AMX path is
** not run (said so on stdout) and the fallback is checked: the bits of the
** fp32 kernels. Forcing the avx512 path and a head size of 48 check that
** fallback on an AMX machine too. */
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "base/base.h"
#include "base/rng.h"
#include "tests/check.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Tolerances, as max |x - ref| / max |ref| over a tensor.
** EMUL: the kernel and the emulation round the same values to bf16 at the
** same points, so what is left is fp32 against double sums of exact bf16
** products (2^-24 relative per add) and the polynomial exp (about 2 ulp):
** a few 1e-7 (measured worst over these shapes 4.8e-7). One more effect is
** not small: a P or dS that lies within that fp32 error of a bf16 rounding
** midpoint may round the other way in the kernel, one bf16 ulp (2^-8
** relative) off in one term; the emulation finds such borderline values
** (bfr_u) and allows their other rounding, term by term (the slack arrays),
** so the bound stays tight everywhere else. 5e-6 is 10x the worst seen and
** far below what leaving out one rounding point or mask costs (1e-3 and up).
** F32: bf16 operands (8-bit mantissa: 2^-9 relative rounding) against the
** fp32 kernels: scores move by |q||k| 2^-8, outputs by up to 1% of their
** range on short rows (measured worst 7.7e-3). */
#define TOL_EMUL 5e-6
#define TOL_F32 3e-2
#define TOL_LSE_EMUL 5e-6 /* absolute, in nats: the lse are O(1..6); measured 9.5e-7 */
#define TOL_LSE_F32 5e-2  /* absolute; measured 1.7e-2 */

static float bfr(float x) { /* round to bf16, nearest even (finite inputs) */
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    memcpy(&x, &u, 4);
    return x;
}

/* max |a - b| / max |b|; NaN anywhere (in a or b) gives INFINITY. */
static double relerr(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d == d) || isnan(b[i])) return INFINITY;
        if (d > md) md = d;
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
    }
    return mb > 0 ? md / mb : md;
}

static double abserr(const float *a, const float *b, size_t n) {
    double md = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d == d ? d : INFINITY;
    }
    return md;
}

/* A value v the kernel computes in fp32, within about u of the double value
** x here, rounded to bf16: returns bf16(x); *d = how far the rounding of
** x - u or x + u lies from it (0 unless x sits within u of a rounding
** midpoint, where the kernel may legitimately round the other way). */
static double bfr_u(double x, double u, double *d) {
    double r = bfr((float)x), a = bfr((float)(x + u)), b = bfr((float)(x - u));
    *d = fmax(fabs(a - r), fabs(b - r));
    return r;
}

/* The error budget of an fp32 value computed from n terms: U_SUM of the sum
** of their magnitudes (16 fp32 units: a random-order sum of up to 257 terms
** stays well inside), plus U_EXP relative for the polynomial exp. Used only
** to find the borderline roundings above. */
#define U_SUM 0x1p-20
#define U_EXP 0x1p-20

/* The emulated forward: per query row, key blocks of 64 (0, 64, ... up to
** the row's own block) with a running max; P~ = exp(s - m) rounded to bf16
** enters the sum over V, its unrounded value the normaliser. slack[] gets the
** room borderline roundings of P~ give each output (see bfr_u). */
static void emul_forward(float *out, float *slack, float *lse, const float *qkv, int B, int T, int C, int H) {
    int D = C / H;
    double scale = 1.0 / sqrt((double)D), *s = wf_alloc(NULL, sizeof(double) * 128, "s", NULL);
    double *acc = wf_alloc(NULL, sizeof(double) * 2 * (size_t)D, "acc", NULL);
    WF_CHECK(s && acc);
    double *slk = acc + D, *sa = s + 64;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float *q = qkv + ((size_t)b * T + i) * 3 * C + h * D;
                double m = -INFINITY, l = 0, amax = 0;
                for (int d = 0; d < D; d++) acc[d] = slk[d] = 0;
                for (int j0 = 0; j0 <= i; j0 += 64) {
                    int j1 = j0 + 64 <= i + 1 ? j0 + 64 : i + 1;
                    double bm = -INFINITY;
                    for (int j = j0; j < j1; j++) {
                        const float *k = qkv + ((size_t)b * T + j) * 3 * C + C + h * D;
                        double dot = 0, ab = 0;
                        for (int d = 0; d < D; d++) {
                            double t = (double)bfr(q[d]) * bfr(k[d]);
                            dot += t, ab += fabs(t);
                        }
                        s[j - j0] = dot * scale, sa[j - j0] = ab * scale;
                        if (s[j - j0] > bm) bm = s[j - j0];
                        if (sa[j - j0] > amax) amax = sa[j - j0];
                    }
                    double mn = bm > m ? bm : m, corr = m == -INFINITY ? 0 : exp(m - mn);
                    l *= corr;
                    for (int d = 0; d < D; d++) acc[d] *= corr, slk[d] *= corr;
                    for (int j = j0; j < j1; j++) {
                        double p = exp(s[j - j0] - mn), dp;
                        double pb = bfr_u(p, p * ((sa[j - j0] + amax) * U_SUM + U_EXP), &dp); /* s and m both err */
                        const float *v = qkv + ((size_t)b * T + j) * 3 * C + 2 * C + h * D;
                        l += p;
                        for (int d = 0; d < D; d++) acc[d] += pb * bfr(v[d]), slk[d] += dp * fabs(bfr(v[d]));
                    }
                    m = mn;
                }
                for (int d = 0; d < D; d++) {
                    out[((size_t)b * T + i) * C + h * D + d] = (float)(acc[d] / l);
                    slack[((size_t)b * T + i) * C + h * D + d] = (float)(slk[d] / l);
                }
                lse[((size_t)b * H + h) * T + i] = (float)(m + log(l));
            }
    wf_free(NULL, s);
    wf_free(NULL, acc);
}

/* The emulated backward (backward.h's contract), T x T per head, from the
** given out and lse; slack[] as in emul_forward, for P and dS. */
static void emul_backward(float *dqkv, float *slack, const float *dout, const float *qkv, const float *out,
                          const float *lse, int B, int T, int C, int H) {
    int D = C / H;
    double scale = 1.0 / sqrt((double)D);
    double *P = wf_alloc(NULL, sizeof(double) * (size_t)T * T * 4, "P", NULL);
    WF_CHECK(P != NULL);
    double *dS = P + (size_t)T * T, *Pd = dS + (size_t)T * T, *dSd = Pd + (size_t)T * T;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
#define X(t, part, k) bfr(qkv[((size_t)b * T + (t)) * 3 * C + (part) * C + h * D + (k)])
#define GO(t, k) dout[((size_t)b * T + (t)) * C + h * D + (k)]
            for (int i = 0; i < T; i++) {
                double Di = 0, aD = 0;
                for (int k = 0; k < D; k++) {
                    double t = (double)GO(i, k) * out[((size_t)b * T + i) * C + h * D + k];
                    Di += t, aD += fabs(t);
                }
                for (int j = 0; j < T; j++) {
                    size_t e = (size_t)i * T + j;
                    if (j > i) {
                        P[e] = dS[e] = Pd[e] = dSd[e] = 0;
                        continue;
                    }
                    double s = 0, dp = 0, as = 0, adp = 0;
                    for (int k = 0; k < D; k++) {
                        double t = (double)X(i, 0, k) * X(j, 1, k), u = (double)bfr(GO(i, k)) * X(j, 2, k);
                        s += t, as += fabs(t), dp += u, adp += fabs(u);
                    }
                    double l = lse[((size_t)b * H + h) * T + i];
                    double p = exp(s * scale - l), up = p * (as * scale * U_SUM + fabs(l) * 0x1p-23 + U_EXP);
                    double ds = p * (dp - Di) * scale;
                    double uds = scale * (up * fabs(dp - Di) + p * (adp + aD) * U_SUM) + fabs(ds) * 0x1p-21;
                    P[e] = bfr_u(p, up, &Pd[e]);
                    dS[e] = bfr_u(ds, uds, &dSd[e]);
                }
            }
            for (int t = 0; t < T; t++)
                for (int k = 0; k < D; k++) {
                    double dq = 0, dk = 0, dv = 0, sq = 0, sk = 0, sv = 0;
                    for (int u = 0; u < T; u++) {
                        size_t tu = (size_t)t * T + u, ut = (size_t)u * T + t;
                        dq += dS[tu] * X(u, 1, k), sq += dSd[tu] * fabs(X(u, 1, k));
                        dk += dS[ut] * X(u, 0, k), sk += dSd[ut] * fabs(X(u, 0, k));
                        dv += P[ut] * bfr(GO(u, k)), sv += Pd[ut] * fabs(bfr(GO(u, k)));
                    }
                    size_t o = ((size_t)b * T + t) * 3 * C + h * D + k;
                    dqkv[o] = (float)dq, dqkv[o + C] = (float)dk, dqkv[o + 2 * C] = (float)dv;
                    slack[o] = (float)sq, slack[o + C] = (float)sk, slack[o + 2 * C] = (float)sv;
                }
#undef X
#undef GO
        }
    wf_free(NULL, P);
}

/* max(0, |a - b| - slack) / max |b|: the tight comparison with the room of
** the borderline roundings; NaN anywhere gives INFINITY. */
static double emulerr(const float *a, const float *b, const float *slack, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) - slack[i];
        if (isnan(d)) return INFINITY;
        if (d > md) md = d;
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
    }
    return mb > 0 ? md / mb : md;
}

static float *buf(size_t n) {
    float *p = wf_alloc(NULL, n * sizeof(float) + 64, "test", NULL);
    WF_CHECK(p != NULL);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

static void poison(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = NAN;
}

static double worst_emul, worst_f32, worst_lse_emul, worst_lse_f32;

static double upd(double *w, double x) {
    if (!(x <= *w)) *w = x;
    return x;
}

/* One shape. tiles: the AMX path is expected (else the fallback's bits). */
static void run_case(wf_rng *r, int B, int T, int H, int D, int tiles) {
    int C = H * D;
    size_t nqkv = (size_t)B * T * 3 * C, no = (size_t)B * T * C, nl = (size_t)B * H * T;
    float *qkv = buf(nqkv), *dout = buf(no);
    for (size_t i = 0; i < nqkv; i++) {
        int part = (int)(i / C % 3); /* q and k larger: peaked softmax, running max moves */
        qkv[i] = (float)((wf_rng_uniform(r) * 2 - 1) * (part < 2 ? 2.5 : 1.0));
    }
    for (size_t i = 0; i < no; i++) dout[i] = (float)(wf_rng_uniform(r) * 2 - 1);
    size_t nscr = wf_attention_bf16_scratch(T, D, 2);
    float *scr = buf(nscr);
    float *o32 = buf(no), *l32 = buf(nl), *d32 = buf(nqkv);
    float *ob = buf(no), *lb = buf(nl), *db = buf(nqkv), *ob1 = buf(no), *lb1 = buf(nl), *db1 = buf(nqkv);
    float *oe = buf(no), *le = buf(nl), *de = buf(nqkv), *so = buf(no), *sd = buf(nqkv);
    wf_attention_forward(o32, l32, qkv, B, T, C, H);
    wf_attention_backward(d32, dout, qkv, o32, l32, B, T, C, H, scr, 2);
    poison(scr, nscr);
    wf_attention_forward_bf16(ob, lb, qkv, B, T, C, H, scr, 2);
    wf_attention_backward_bf16(db, dout, qkv, ob, lb, B, T, C, H, scr, 2);
    poison(scr, nscr);
    wf_attention_forward_bf16(ob1, lb1, qkv, B, T, C, H, scr, 1);
    wf_attention_backward_bf16(db1, dout, qkv, ob1, lb1, B, T, C, H, scr, 1);
    /* (d) the thread count does not change a bit */
    WF_CHECK(memcmp(ob, ob1, no * 4) == 0);
    WF_CHECK(memcmp(lb, lb1, nl * 4) == 0);
    WF_CHECK(memcmp(db, db1, nqkv * 4) == 0);
    if (!tiles) { /* the fallback is the fp32 kernels, bit for bit */
        WF_CHECK(memcmp(ob, o32, no * 4) == 0);
        WF_CHECK(memcmp(lb, l32, nl * 4) == 0);
        WF_CHECK(memcmp(db, d32, nqkv * 4) == 0);
    } else {
        emul_forward(oe, so, le, qkv, B, T, C, H);
        emul_backward(de, sd, dout, qkv, ob, lb, B, T, C, H);
        /* (a) and (c) against the emulation */
        double eo = upd(&worst_emul, emulerr(ob, oe, so, no)), ed = upd(&worst_emul, emulerr(db, de, sd, nqkv));
        double el = upd(&worst_lse_emul, abserr(lb, le, nl));
        /* (b) and (c) against fp32 */
        double fo = upd(&worst_f32, relerr(ob, o32, no)), fd = upd(&worst_f32, relerr(db, d32, nqkv));
        double fl = upd(&worst_lse_f32, abserr(lb, l32, nl));
        printf("  B=%d T=%3d H=%d D=%3d  vs emulation: out %.2e dqkv %.2e lse %.2e   vs fp32: out %.2e dqkv %.2e lse %.2e\n",
               B, T, H, D, eo, ed, el, fo, fd, fl);
        WF_CHECK(eo <= TOL_EMUL);
        WF_CHECK(ed <= TOL_EMUL);
        WF_CHECK(el <= TOL_LSE_EMUL);
        WF_CHECK(fo <= TOL_F32);
        WF_CHECK(fd <= TOL_F32);
        WF_CHECK(fl <= TOL_LSE_F32);
        /* the backward from fp32's own forward stays close to fp32's backward too */
        poison(db1, nqkv);
        wf_attention_backward_bf16(db1, dout, qkv, o32, l32, B, T, C, H, scr, 2);
        WF_CHECK(relerr(db1, d32, nqkv) <= TOL_F32);
    }
    float *all[] = {qkv, dout, scr, o32, l32, d32, ob, lb, db, ob1, lb1, db1, oe, le, de, so, sd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) wf_free(NULL, all[i]);
}

int main(void) {
    wf_rng r;
    wf_rng_seed(&r, 20261204);
    static const int Ts[] = {1, 17, 64, 100, 257}, Ds[] = {64, 128};
    int amx = wf_attention_bf16_on_tiles(64);
    if (amx) printf("AMX path: tiles (wf_isa_active = %s)\n", wf_isa_name(wf_isa_active()));
    else printf("AMX path NOT run (active path %s): checking the fp32 fallback only\n", wf_isa_name(wf_isa_active()));
    for (int di = 0; di < 2; di++)
        for (int ti = 0; ti < 5; ti++) run_case(&r, 2, Ts[ti], 2, Ds[di], amx);
    /* the fallbacks: a head size that is not a multiple of 32; a lower path */
    run_case(&r, 2, 100, 2, 48, 0);
    if (amx) {
        wf_isa_force(WF_ISA_AVX512);
        WF_CHECK(!wf_attention_bf16_on_tiles(64));
        run_case(&r, 2, 100, 2, 64, 0);
        wf_isa_force((wf_isa)-1);
        printf("worst vs emulation %.2e (tol %.0e), lse %.2e (tol %.0e); vs fp32 %.2e (tol %.0e), lse %.2e (tol %.0e)\n",
               worst_emul, TOL_EMUL, worst_lse_emul, TOL_LSE_EMUL, worst_f32, TOL_F32, worst_lse_f32, TOL_LSE_F32);
    }
    return wf_check_report();
}
