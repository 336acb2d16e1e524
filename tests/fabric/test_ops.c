/* test_ops.c — every DSD op against a plain C reference, bit for bit, and
** its cycle charge from the cost table: dsd_setup + ceil(n / width), plus the
** bank-conflict penalty when both sources start in one 6 KB bank. Also
** multi-dimensional strided DSDs, scalar operands, a fabric-in operand, the
** fp16 conversions against the compiler's _Float16, and op misuse errors. */
#include "../../sdk/sdk.h"
#include "../../base/rng.h"
#include "../check.h"

#include <math.h>
#include <string.h>

#define NMAX 256
/* A in bank 0, B in bank 1, D in bank 2, A2 in bank 0 (after A) */
enum { S_A, S_A2, S_PADA, S_B, S_PADB, S_D, S_CFG };
static const wf_symbol_decl syms[] = {{"A", 4 * NMAX}, {"A2", 4 * NMAX}, {"padA", 0}, {"B", 4 * NMAX},
                                      {"padB", 0},     {"D", 4 * NMAX},  {"cfg", 16}};

enum { K_FMACS, K_FADDS, K_FSUBS, K_FMULS, K_FMOVS, K_MOV32, K_MOV16, K_FMACH, K_FADDH, K_FMULH,
       K_FADDS_SCALAR, K_FMULS_SCALAR, K_FMOVS_FILL, K_FADDS_CONFLICT, K_FMOVS_2D, K_FMULS_REV, K_FMACHS, K_COUNT };
static const char *const kname[K_COUNT] = {"fmacs", "fadds", "fsubs", "fmuls", "fmovs", "mov32", "mov16",
                                           "fmach", "faddh", "fmulh", "fadds scalar", "fmuls scalar",
                                           "fmovs fill", "fadds conflict", "fmovs 2d", "fmuls reversed",
                                           "fmachs"};
static const float S = 0.7f;
static const uint16_t SH = 0x3a66; /* fp16 ~0.8 */

static void run(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t *cfg = wf_sym(pe, S_CFG);
    uint32_t n = cfg[1];
    int es = cfg[0] == K_MOV16 || cfg[0] == K_FMACH || cfg[0] == K_FADDH || cfg[0] == K_FMULH ? 2 : 4;
    wf_dsd a = wf_dsd_mem1d(pe, wf_sym(pe, S_A), n, 1, es), b = wf_dsd_mem1d(pe, wf_sym(pe, S_B), n, 1, es);
    wf_dsd a2 = wf_dsd_mem1d(pe, wf_sym(pe, S_A2), n, 1, es), dd = wf_dsd_mem1d(pe, wf_sym(pe, S_D), n, 1, es);
    switch (cfg[0]) {
    case K_FMACS: wf_fmacs(pe, dd, a, b, S, WF_SYNC); break;
    case K_FADDS: wf_fadds(pe, dd, a, b, WF_SYNC); break;
    case K_FSUBS: wf_fsubs(pe, dd, a, b, WF_SYNC); break;
    case K_FMULS: wf_fmuls(pe, dd, a, b, WF_SYNC); break;
    case K_FMOVS: wf_fmovs(pe, dd, a, WF_SYNC); break;
    case K_MOV32: wf_mov32(pe, dd, a, WF_SYNC); break;
    case K_MOV16: wf_mov16(pe, dd, a, WF_SYNC); break;
    case K_FMACH: wf_fmach(pe, dd, a, b, SH, WF_SYNC); break;
    case K_FMACHS: /* fp32 dst and a, fp16 b and scalar */
        wf_fmachs(pe, dd, a, wf_dsd_mem1d(pe, wf_sym(pe, S_B), n, 1, 2), SH, WF_SYNC);
        break;
    case K_FADDH: wf_faddh(pe, dd, a, b, WF_SYNC); break;
    case K_FMULH: wf_fmulh(pe, dd, a, b, WF_SYNC); break;
    case K_FADDS_SCALAR: wf_fadds(pe, dd, a, wf_dsd_scalar_f32(S), WF_SYNC); break;
    case K_FMULS_SCALAR: wf_fmuls(pe, dd, wf_dsd_scalar_f32(S), b, WF_SYNC); break;
    case K_FMOVS_FILL: wf_fmovs(pe, dd, wf_dsd_scalar_f32(S), WF_SYNC); break;
    case K_FADDS_CONFLICT: wf_fadds(pe, dd, a, a2, WF_SYNC); break;
    case K_FMULS_REV: { /* D[i] = A[n-1-i] * B[i]: a negative stride */
        float *pa = wf_sym(pe, S_A);
        wf_fmuls(pe, dd, wf_dsd_mem1d(pe, pa + n - 1, n, -1, 4), b, WF_SYNC);
        break;
    }
    case K_FMOVS_2D: { /* D[i*16+j] = A[j*16+i]: a 16x16 transpose through a 2-D DSD */
        uint32_t len[2] = {16, 16};
        int32_t st[2] = {16, 1};
        wf_dsd src = wf_dsd_mem(pe, wf_sym(pe, S_A), 2, len, st, 4);
        wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_D), 256, 1, 4), src, WF_SYNC);
        break;
    }
    }
}
static const wf_export_decl ex[] = {{"run", run}};
static const wf_kernel k = {"ops", syms, 7, NULL, 0, ex, 1, NULL};

static float f32(uint32_t u) { return wf_bits_f32(u); }
static uint32_t b32(float f) { return wf_f32_bits(f); }

#if defined(__FLT16_MAX__)
static _Float16 hf(uint16_t u) { _Float16 h; memcpy(&h, &u, 2); return h; }
static uint16_t hb(_Float16 h) { uint16_t u; memcpy(&u, &h, 2); return u; }
#endif

/* The plain C reference for element i. fp16 uses the compiler's _Float16
** (float evaluation of one op is correctly rounded: 24 >= 2*11+2 bits) and
** __float128 for the fused fmach (exact, then one rounding). */
static int n_ref; /* n of the op under test, for the reversed case */
static uint32_t ref(int kk, const uint32_t *a, const uint32_t *a2, const uint32_t *b, int i) {
    const uint16_t *ah = (const uint16_t *)a, *bh = (const uint16_t *)b;
    switch (kk) {
    case K_FMACS: return b32(f32(a[i]) + f32(b[i]) * S);
    case K_FADDS: return b32(f32(a[i]) + f32(b[i]));
    case K_FSUBS: return b32(f32(a[i]) - f32(b[i]));
    case K_FMULS: return b32(f32(a[i]) * f32(b[i]));
    case K_FMOVS: case K_MOV32: return a[i];
    case K_MOV16: return ah[i];
#if defined(__FLT16_MAX__)
    case K_FMACH: {
        __float128 q = (__float128)hf(ah[i]) + (__float128)hf(bh[i]) * (__float128)hf(SH);
        return hb((_Float16)q);
    }
    case K_FADDH: return hb(hf(ah[i]) + hf(bh[i]));
    case K_FMULH: return hb(hf(ah[i]) * hf(bh[i]));
#else
    case K_FMACH: return wf_f64_to_f16(fma((double)wf_f16_to_f32(bh[i]), wf_f16_to_f32(SH), wf_f16_to_f32(ah[i])));
    case K_FADDH: return wf_f64_to_f16((double)wf_f16_to_f32(ah[i]) + wf_f16_to_f32(bh[i]));
    case K_FMULH: return wf_f64_to_f16((double)wf_f16_to_f32(ah[i]) * wf_f16_to_f32(bh[i]));
#endif
    case K_FADDS_SCALAR: return b32(f32(a[i]) + S);
    case K_FMULS_SCALAR: return b32(S * f32(b[i]));
    case K_FMOVS_FILL: return b32(S);
    case K_FADDS_CONFLICT: return b32(f32(a[i]) + f32(a2[i]));
    case K_FMOVS_2D: return a[(i % 16) * 16 + i / 16];
    case K_FMULS_REV: return b32(f32(a[n_ref - 1 - i]) * f32(b[i]));
    /* the fp16 product is exact: one rounding, which fmaf does (correctly rounded) */
    case K_FMACHS: return b32(fmaf(wf_f16_to_f32(bh[i]), wf_f16_to_f32(SH), f32(a[i])));
    }
    return 0;
}

static uint32_t width(int kk, const wf_cost_model *cm) {
    switch (kk) {
    case K_FMACS: return cm->w_f32_fma;
    case K_FADDS: case K_FSUBS: case K_FADDS_SCALAR: case K_FADDS_CONFLICT: return cm->w_f32_add;
    case K_FMULS: case K_FMULS_SCALAR: case K_FMULS_REV: return cm->w_f32_mul;
    case K_FMOVS: case K_MOV32: case K_FMOVS_FILL: case K_FMOVS_2D: return cm->w_mov32;
    case K_MOV16: return cm->w_mov16;
    case K_FMACH: case K_FMACHS: return cm->w_f16_fma;
    case K_FADDH: return cm->w_f16_add;
    case K_FMULH: return cm->w_f16_mul;
    }
    return 1;
}

static void every_op_matches_reference_and_table(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(1, 1, &l, &e), WF_OK);
    /* place A at 4096 (bank 0), A2 right after (bank 0), B at 6144 (bank 1), D at 12288 */
    uint32_t sz[7] = {4 * NMAX, 4 * NMAX, 0, 4 * NMAX, 0, 4 * NMAX, 16};
    sz[2] = 6144 - (4096 + 8 * NMAX);
    sz[4] = 12288 - (6144 + 4 * NMAX);
    wf_code_opts o = {NULL, 0, sz};
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &k, &o, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    uint32_t addr;
    WF_CHECK_EQ(wf_fabric_symbol(wf_host_fabric(h), 0, 0, "B", &addr, NULL), S_B);
    WF_CHECK_EQ(addr, 6144);
    WF_CHECK_EQ(wf_fabric_symbol(wf_host_fabric(h), 0, 0, "D", &addr, NULL), S_D);
    WF_CHECK_EQ(addr, 12288);
    const wf_cost_model *cm = wf_fabric_cost(wf_host_fabric(h));
    wf_rng rng;
    wf_rng_seed(&rng, 7);
    static const uint32_t ns[] = {1, 7, 100, 256};
    for (int kk = 0; kk < K_COUNT; kk++)
        for (int ni = 0; ni < 4; ni++) {
            uint32_t n = kk == K_FMOVS_2D ? 256 : ns[ni];
            n_ref = (int)n;
            uint32_t a[NMAX], a2[NMAX], b[NMAX], dd[NMAX];
            int half = kk == K_MOV16 || kk == K_FMACH || kk == K_FADDH || kk == K_FMULH;
            for (int i = 0; i < NMAX; i++) {
                float fa = ((float)wf_rng_uniform(&rng) - 0.5f) * 8, fb = ((float)wf_rng_uniform(&rng) - 0.5f) * 8;
                float fc = ((float)wf_rng_uniform(&rng) - 0.5f) * 8;
                if (kk == K_FMACHS) { /* a fp32, b as 2*NMAX fp16 values */
                    uint16_t *bh = (uint16_t *)&b[i];
                    a[i] = b32(fa * 100);
                    bh[0] = wf_f32_to_f16(fb), bh[1] = wf_f32_to_f16(fc);
                } else if (half) {
                    uint16_t *ah = (uint16_t *)&a[i], *bh = (uint16_t *)&b[i];
                    ah[0] = wf_f32_to_f16(fa); ah[1] = wf_f32_to_f16(fb);
                    bh[0] = wf_f32_to_f16(fc); bh[1] = wf_f32_to_f16(fa * fc);
                } else {
                    a[i] = b32(fa);
                    b[i] = b32(fb);
                }
                a2[i] = b32(fc);
                dd[i] = 0xdeadbeef;
            }
            wf_memcpy m = {"A", 0, 0, 0, 1, 1, NMAX, 0, 4, WF_ROW_MAJOR};
            WF_CHECK_EQ(wf_host_h2d(h, &m, a, &e), WF_OK);
            m.symbol = "A2";
            WF_CHECK_EQ(wf_host_h2d(h, &m, a2, &e), WF_OK);
            m.symbol = "B";
            WF_CHECK_EQ(wf_host_h2d(h, &m, b, &e), WF_OK);
            m.symbol = "D";
            WF_CHECK_EQ(wf_host_h2d(h, &m, dd, &e), WF_OK);
            uint32_t cfg[4] = {(uint32_t)kk, n, 0, 0};
            wf_memcpy mc = {"cfg", 0, 0, 0, 1, 1, 4, 0, 4, WF_ROW_MAJOR};
            WF_CHECK_EQ(wf_host_h2d(h, &mc, cfg, &e), WF_OK);
            wf_pe_stats before, after;
            wf_fabric_pe_stats(wf_host_fabric(h), 0, 0, &before);
            WF_CHECK_EQ(wf_host_launch(h, "run", &e), WF_OK);
            wf_fabric_pe_stats(wf_host_fabric(h), 0, 0, &after);
            m.symbol = "D";
            WF_CHECK_EQ(wf_host_d2h(h, &m, dd, &e), WF_OK);
            int bad = 0, first = -1;
            if (half) {
                const uint16_t *dh = (const uint16_t *)dd;
                for (uint32_t i = 0; i < n; i++)
                    if (dh[i] != ref(kk, a, a2, b, (int)i)) { bad++; if (first < 0) first = (int)i; }
                for (uint32_t i = n; i < 2 * NMAX; i++)
                    if (dh[i] != ((i & 1) ? 0xdead : 0xbeef)) bad++; /* untouched past n */
            } else {
                for (uint32_t i = 0; i < n; i++)
                    if (dd[i] != ref(kk, a, a2, b, (int)i)) { bad++; if (first < 0) first = (int)i; }
                for (uint32_t i = n; i < NMAX; i++)
                    if (dd[i] != 0xdeadbeef) bad++;
            }
            if (bad) fprintf(stderr, "op %s n=%u: %d mismatches, first at %d\n", kname[kk], n, bad, first);
            WF_CHECK_EQ(bad, 0);
            uint32_t w = width(kk, cm);
            uint64_t want = cm->task_switch + cm->dsd_setup + (n + w - 1) / w;
            uint64_t conflict = kk == K_FADDS_CONFLICT ? (n + w - 1) / w : 0;
            want += conflict;
            if (after.busy - before.busy != want) fprintf(stderr, "op %s n=%u\n", kname[kk], n);
            WF_CHECK_EQ(after.busy - before.busy, want);
            /* the per-PE bank counter: the conflicting op and exactly its extra cycles, nothing else */
            WF_CHECK_EQ(after.bank_ops - before.bank_ops, conflict ? 1u : 0u);
            WF_CHECK_EQ(after.bank_cycles - before.bank_cycles, conflict);
        }
    wf_host_free(h);
    wf_layout_free(l);
}

/* fmacs with a fabric-in operand: D = A + fabin * S on PE(1,0), fed by PE(0,0). */
enum { C = 5 };
static void fab_send(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_fabout(C, 64), wf_dsd_mem1d(pe, wf_sym(pe, S_B), 64, 1, 4), wf_async_none());
}
static void fab_recv(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_dsd a = wf_dsd_mem1d(pe, wf_sym(pe, S_A), 64, 1, 4), dd = wf_dsd_mem1d(pe, wf_sym(pe, S_D), 64, 1, 4);
    wf_fmacs(pe, dd, a, wf_dsd_fabin(C, 64), S, wf_async_none());
}
/* fmachs with its fp16 source from the fabric (16-bit payloads in the low half) */
static void fab_send16(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_mov16(pe, wf_dsd_fabout(C, 64), wf_dsd_mem1d(pe, wf_sym(pe, S_B), 64, 1, 2), wf_async_none());
}
static void fab_recv16(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_dsd a = wf_dsd_mem1d(pe, wf_sym(pe, S_A), 64, 1, 4), dd = wf_dsd_mem1d(pe, wf_sym(pe, S_D), 64, 1, 4);
    wf_fmachs(pe, dd, a, wf_dsd_fabin(C, 64), SH, wf_async_none());
}
static const wf_export_decl fs_ex[] = {{"run", fab_send}, {"run16", fab_send16}};
static const wf_export_decl fr_ex[] = {{"run", fab_recv}, {"run16", fab_recv16}};
static const wf_kernel fs = {"fs", syms, 7, NULL, 0, fs_ex, 2, NULL};
static const wf_kernel fr = {"fr", syms, 7, NULL, 0, fr_ex, 2, NULL};

static void fabric_operand_matches_reference(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &fs, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &fr, NULL, &e), WF_OK);
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &r0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &r1, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    float a[64], b[64], dd[64];
    for (int i = 0; i < 64; i++) a[i] = (float)i / 7.0f, b[i] = (float)(64 - i) / 3.0f;
    wf_memcpy m = {"A", 0, 1, 0, 1, 1, 64, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &m, a, &e), WF_OK);
    wf_memcpy mb = {"B", 0, 0, 0, 1, 1, 64, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &mb, b, &e), WF_OK);
    uint64_t t0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_launch(h, "run", &e), WF_OK);
    /* the first element reaches the receiver ready at t0+107 (test_router.c:
    ** launch 100 + task switch 2 + send setup, op_latency 1, ramp, hop, ramp),
    ** the other 63 follow at the link's 1 wavelet per cycle; the run ends
    ** when the last is consumed */
    WF_CHECK_EQ(wf_host_cycles(h), t0 + 107 + 63);
    m.symbol = "D";
    WF_CHECK_EQ(wf_host_d2h(h, &m, dd, &e), WF_OK);
    int bad = 0;
    for (int i = 0; i < 64; i++) bad += b32(dd[i]) != b32(a[i] + b[i] * S);
    WF_CHECK_EQ(bad, 0);
    /* fmachs: the fp16 b arrives as wavelets */
    uint16_t bh[128];
    for (int i = 0; i < 64; i++) bh[i] = wf_f32_to_f16((float)(64 - i) / 3.0f), a[i] = (float)i * 1000.0f / 7.0f;
    wf_memcpy mb16 = {"B", 0, 0, 0, 1, 1, 64, 0, 2, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &mb16, bh, &e), WF_OK);
    m.symbol = "A";
    WF_CHECK_EQ(wf_host_h2d(h, &m, a, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "run16", &e), WF_OK);
    m.symbol = "D";
    WF_CHECK_EQ(wf_host_d2h(h, &m, dd, &e), WF_OK);
    bad = 0;
    for (int i = 0; i < 64; i++) bad += b32(dd[i]) != b32(fmaf(wf_f16_to_f32(bh[i]), wf_f16_to_f32(SH), a[i]));
    WF_CHECK_EQ(bad, 0);
    wf_host_free(h);
    wf_layout_free(l);
}

/* misuse: wrong element size, out-of-SRAM DSD, sync fabric-in, memcpy color */
static void bad_esize(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_dsd a = wf_dsd_mem1d(pe, wf_sym(pe, S_A), 4, 1, 2);
    wf_fadds(pe, a, a, a, WF_SYNC);
}
static void bad_esize_b(wf_pe *pe, uint32_t d) { /* fmachs with an fp32 source b */
    (void)d;
    wf_dsd a = wf_dsd_mem1d(pe, wf_sym(pe, S_A), 4, 1, 4);
    wf_fmachs(pe, a, a, a, SH, WF_SYNC);
}
static void bad_range(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_dsd a = wf_dsd_mem1d(pe, wf_sym(pe, S_D), 300, 1, 4);
    wf_fmovs(pe, a, wf_dsd_scalar_f32(1), WF_SYNC);
}
/* line of the op in spill_next (checked against the error's file:line) */
#define SPILL_LINE_AT (spill_line_base + 6)
enum { spill_line_base = __LINE__ };
/* The silent mistake of issue 18: a DSD on A that runs on into A2 (both
** inside the PE's symbols, so the union check alone let it pass). */
static void spill_next(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_dsd a = wf_dsd_mem1d(pe, wf_sym(pe, S_A), NMAX + 3, 1, 4);
    wf_fmovs(pe, a, wf_dsd_scalar_f32(7), WF_SYNC);
}
/* ... and one moved before its symbol's start by wf_dsd_offset, as a source */
static void spill_before(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_dsd dd = wf_dsd_mem1d(pe, wf_sym(pe, S_D), 8, 1, 4);
    wf_dsd b = wf_dsd_offset(wf_dsd_mem1d(pe, wf_sym(pe, S_B), 8, 1, 4), -2);
    wf_fadds(pe, dd, dd, b, WF_SYNC);
}
/* ... and a 2-D one whose outer stride leaves the symbol */
static void spill_2d(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t len[2] = {4, NMAX / 4 + 1};
    int32_t st[2] = {1, 4};
    wf_dsd a = wf_dsd_mem(pe, wf_sym(pe, S_A2), 2, len, st, 4);
    wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_D), len[0] * len[1] - 8, 1, 4), wf_dsd_scalar_f32(1), WF_SYNC);
    wf_fmovs(pe, a, wf_dsd_scalar_f32(1), WF_SYNC);
}
static void sync_fabin(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_D), 4, 1, 4), wf_dsd_fabin(3, 4), WF_SYNC);
}
static void bad_symbol(wf_pe *pe, uint32_t d) {
    (void)d;
    float *p = wf_sym(pe, 99);
    p[0] = 1; /* scratch: no crash, the run stops with the error */
}
static void memcpy_color(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_send(pe, 22, 1);
}
static const wf_export_decl bad_ex[] = {{"esize", bad_esize}, {"range", bad_range}, {"sync", sync_fabin},
                                        {"color", memcpy_color}, {"sym", bad_symbol}, {"spill", spill_next},
                                        {"before", spill_before}, {"spill2d", spill_2d}, {"esize_b", bad_esize_b}};
static const wf_task_decl bad_tasks[] = {{3, WF_TASK_DATA, bad_esize, 1, "d3"}};
static const wf_kernel badk = {"bad", syms, 7, bad_tasks, 1, bad_ex, 9, NULL};

static void op_misuse_fails_with_pe_and_task(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(3, 2, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 2, 1, 1, 1, &badk, NULL, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "esize", &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "PE(2,1): cycle ");
    WF_CHECK_HAS(e.msg, "launched function: fadds: destination: memory DSD has 2-byte elements, the op needs 4");
    WF_CHECK_EQ(wf_host_launch(h, "esize_b", &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "fmachs: source b: memory DSD has 4-byte elements, the op needs 2");
    WF_CHECK_EQ(wf_host_launch(h, "range", &e), WF_ESRAM);
    WF_CHECK_HAS(e.msg, "fmovs: destination: memory DSD on symbol 'D' (1024 bytes) covers byte offsets [0,1200) "
                 "of it: runs 176 bytes past its end");
    /* per-symbol bounds: the neighbour is left alone, the message names the overrun */
    WF_CHECK_EQ(wf_host_launch(h, "spill", &e), WF_ESRAM);
    {
        char want[64];
        snprintf(want, sizeof want, "tests/fabric/test_ops.c:%d: PE(2,1): cycle ", SPILL_LINE_AT);
        WF_CHECK(strncmp(e.msg, want, strlen(want)) == 0);
        if (strncmp(e.msg, want, strlen(want))) fprintf(stderr, "  got: %s\n  want prefix: %s\n", e.msg, want);
    }
    {
        uint32_t lo, hi, a2addr, a2bytes;
        uint8_t *sram = wf_fabric_sram(wf_host_fabric(h), 2, 1, &lo, &hi, &e);
        WF_CHECK(sram != NULL);
        WF_CHECK_EQ(wf_fabric_symbol(wf_host_fabric(h), 2, 1, "A2", &a2addr, &a2bytes), S_A2);
        float v;
        memcpy(&v, sram + (a2addr - lo), 4);
        WF_CHECK(v != 7.0f); /* the op stopped before touching the neighbour */
    }
    WF_CHECK_HAS(e.msg, "PE(2,1): cycle ");
    WF_CHECK_HAS(e.msg, "launched function: fmovs: destination: memory DSD on symbol 'A' (1024 bytes) covers byte "
                 "offsets [0,1036) of it: runs 12 bytes past its end (into symbol 'A2')");
    WF_CHECK_EQ(wf_host_launch(h, "before", &e), WF_ESRAM);
    WF_CHECK_HAS(e.msg, "fadds: source b: memory DSD on symbol 'B' (1024 bytes) covers byte offsets [-8,24) of "
                 "it: starts 8 bytes before its start");
    WF_CHECK_EQ(wf_host_launch(h, "spill2d", &e), WF_ESRAM);
    WF_CHECK_HAS(e.msg, "fmovs: destination: memory DSD on symbol 'A2' (1024 bytes) covers byte offsets [0,1040)");
    WF_CHECK_EQ(wf_host_launch(h, "sync", &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "color 3: a fabric-in op must be async");
    WF_CHECK_EQ(wf_host_launch(h, "color", &e), WF_ECOLOR);
    WF_CHECK_HAS(e.msg, "send: color 22 is not usable by kernels"); /* the call, not the mov32 it makes */
    WF_CHECK_EQ(wf_host_launch(h, "sym", &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "symbol 99 does not exist (kernel has 7)");
    wf_host_free(h);
    wf_layout_free(l);
}

static void fp16_conversions_match_the_compiler(void) {
#if defined(__FLT16_MAX__)
    int bad = 0;
    for (uint32_t u = 0; u < 65536; u++) {
        float want = (float)hf((uint16_t)u), got = wf_f16_to_f32((uint16_t)u);
        if (isnan(want) ? !isnan(got) : b32(want) != b32(got)) bad++;
        if (!isnan(want) && wf_f32_to_f16(want) != u) bad++; /* round trip */
    }
    WF_CHECK_EQ(bad, 0);
    wf_rng rng;
    wf_rng_seed(&rng, 3);
    bad = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t bits = (uint32_t)wf_rng_next(&rng);
        /* focus on the fp16 range, subnormals and overflow edges */
        bits = (bits & 0x807fffffu) | ((uint32_t)(96 + (bits >> 23) % 50) << 23);
        float f = f32(bits);
        if (wf_f32_to_f16(f) != hb((_Float16)f)) bad++;
    }
    WF_CHECK_EQ(bad, 0);
#endif
    WF_CHECK_EQ(wf_f32_to_f16(1.0f), 0x3c00);
    WF_CHECK_EQ(wf_f32_to_f16(65520.0f), 0x7c00);  /* rounds to inf */
    WF_CHECK_EQ(wf_f32_to_f16(65519.0f), 0x7bff);
    WF_CHECK_EQ(wf_f32_to_f16(-0.0f), 0x8000);
    WF_CHECK_EQ(wf_f32_to_f16(0x1p-25f), 0);        /* tie to even: 0 */
    WF_CHECK_EQ(wf_f32_to_f16(0x1.8p-25f), 1);      /* above the tie */
    WF_CHECK_EQ(b32(wf_f16_to_f32(0x0001)), b32(0x1p-24f));
}

/* 16-bit data over the fabric (low halves of wavelets), DSD offset/length,
** a 3-D DSD with a negative stride, index/value wavelets. */
enum { C16 = 6 };
static void h_send(wf_pe *pe, uint32_t d) {
    (void)d;
    uint16_t *b = wf_sym(pe, S_B);
    wf_dsd src = wf_dsd_mem1d(pe, b, 64, 1, 2);
    src = wf_dsd_length(wf_dsd_offset(src, 8), 16); /* halves 8..23 */
    wf_mov16(pe, wf_dsd_fabout(C16, 16), src, wf_async_none());
    wf_send(pe, C16, wf_wavelet_iv(7, 0x3c00)); /* index 7, fp16 1.0 */
}
static void h_recv(wf_pe *pe, uint32_t d) {
    (void)d;
    uint16_t *a = wf_sym(pe, S_A), *dd = wf_sym(pe, S_D);
    wf_faddh(pe, wf_dsd_mem1d(pe, dd, 16, 1, 2), wf_dsd_mem1d(pe, a, 16, 1, 2), wf_dsd_fabin(C16, 16),
             wf_async_none());
    wf_mov32(pe, wf_dsd_mem1d(pe, (uint32_t *)(void *)(dd + 32), 1, 1, 4), wf_dsd_fabin(C16, 1), wf_async_none());
    /* 3-D with a negative innermost stride: D[64 + k] = A[(k2*4 + k1)*2 + (1 - k0)] */
    uint32_t len[3] = {2, 4, 2};
    int32_t st[3] = {-1, 2, 8};
    wf_dsd src = wf_dsd_mem(pe, a + 1, 3, len, st, 2);
    wf_mov16(pe, wf_dsd_mem1d(pe, dd + 64, 16, 1, 2), src, WF_SYNC);
}
static const wf_export_decl hs_ex[] = {{"run", h_send}};
static const wf_export_decl hr_ex[] = {{"run", h_recv}};
static const wf_kernel hs = {"hs", syms, 7, NULL, 0, hs_ex, 1, NULL};
static const wf_kernel hr = {"hr", syms, 7, NULL, 0, hr_ex, 1, NULL};

static void half_precision_over_the_fabric(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &hs, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &hr, NULL, &e), WF_OK);
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C16, &r0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C16, &r1, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    uint16_t a[64], b[64], dd[128];
    for (int i = 0; i < 64; i++) {
        a[i] = wf_f32_to_f16((float)i * 0.37f - 5);
        b[i] = wf_f32_to_f16((float)i * -0.11f + 2);
    }
    wf_memcpy ma = {"A", 0, 1, 0, 1, 1, 64, 0, 2, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &ma, a, &e), WF_OK);
    wf_memcpy mb = {"B", 0, 0, 0, 1, 1, 64, 0, 2, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &mb, b, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "run", &e), WF_OK);
    wf_memcpy md = {"D", 0, 1, 0, 1, 1, 128, 0, 2, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &md, dd, &e), WF_OK);
    int bad = 0;
    for (int i = 0; i < 16; i++) {
#if defined(__FLT16_MAX__)
        bad += dd[i] != hb(hf(a[i]) + hf(b[8 + i]));
#else
        bad += dd[i] != wf_f64_to_f16((double)wf_f16_to_f32(a[i]) + wf_f16_to_f32(b[8 + i]));
#endif
    }
    WF_CHECK_EQ(bad, 0);
    uint32_t iv;
    memcpy(&iv, dd + 32, 4);
    WF_CHECK_EQ(wf_wavelet_index(iv), 7);
    WF_CHECK_EQ(wf_wavelet_value(iv), 0x3c00);
    bad = 0;
    for (int q = 0; q < 16; q++) {
        int k0 = q % 2, k1 = (q / 2) % 4, k2 = q / 8;
        bad += dd[64 + q] != a[1 + (k2 * 8 + k1 * 2) - k0];
    }
    WF_CHECK_EQ(bad, 0);
    wf_host_free(h);
    wf_layout_free(l);
}

/* Direction-checked fabric DSDs (wf_dsd_fabin_from / wf_dsd_fabout_to): on
** a row of 3, PE 0 sends color 1 east and PE 2 color 2 west; PE 1 fills its
** west halo (A) from color 1 and its east halo (B) from color 2. Swapping
** the colors in PE 1's code passes every route check and would give wrong
** numbers; naming the direction at the DSD makes it fail at the op. */
enum { HN = 8, C_EAST = 1, C_WEST = 2 };
static int halo_mode; /* 0 right, 1 swapped receive, 2 wrong send direction, 3 no direction */
static int halo_line; /* the line of PE 1's receive that fails when swapped */
static void halo_send(wf_pe *pe, uint32_t d) {
    (void)d;
    float *a = wf_sym(pe, S_A);
    int x = wf_pe_x(pe);
    for (int i = 0; i < HN; i++) a[i] = (float)(x * 10 + i);
    unsigned to = x == 0 ? WF_DIR_E : WF_DIR_W;
    if (halo_mode == 2 && x == 0) to = WF_DIR_W;
    if (halo_mode == 3 && x == 0) to = 0;
    wf_fmovs(pe, wf_dsd_fabout_to(x == 0 ? C_EAST : C_WEST, HN, to), wf_dsd_mem1d(pe, a, HN, 1, 4), wf_async_none());
}
static void halo_recv(wf_pe *pe, uint32_t d) {
    (void)d;
    float *a = wf_sym(pe, S_A), *b = wf_sym(pe, S_B);
    int cw = halo_mode == 1 ? C_WEST : C_EAST, ce = halo_mode == 1 ? C_EAST : C_WEST;
    halo_line = __LINE__ + 1;
    wf_fmovs(pe, wf_dsd_mem1d(pe, a, HN, 1, 4), wf_dsd_fabin_from(cw, HN, WF_DIR_W), wf_async_none());
    wf_fmovs(pe, wf_dsd_mem1d(pe, b, HN, 1, 4), wf_dsd_fabin_from(ce, HN, WF_DIR_E), wf_async_none());
}
static const wf_export_decl ds_ex[] = {{"go", halo_send}}, dr_ex[] = {{"go", halo_recv}};
static const wf_kernel ds_k = {"halo_send", syms, 7, NULL, 0, ds_ex, 1, NULL};
static const wf_kernel dr_k = {"halo_recv", syms, 7, NULL, 0, dr_ex, 1, NULL};
static wf_status halo_run(int mode, float *a, float *b, wf_err *e) {
    halo_mode = mode;
    wf_layout *l;
    WF_CHECK_EQ(wf_layout_new(3, 1, &l, e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &ds_k, NULL, e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &dr_k, NULL, e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 2, 0, 1, 1, &ds_k, NULL, e), WF_OK);
    wf_route se = wf_route_simple(WF_RAMP, WF_E), rw = wf_route_simple(WF_W, WF_RAMP);
    wf_route sw = wf_route_simple(WF_RAMP, WF_W), re = wf_route_simple(WF_E, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C_EAST, &se, e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C_EAST, &rw, e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 2, 0, 1, 1, C_WEST, &sw, e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C_WEST, &re, e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, e), WF_OK);
    wf_status st = wf_host_launch(h, "go", e);
    if (!st) {
        wf_memcpy ma = {"A", 0, 1, 0, 1, 1, HN, 0, 4, WF_ROW_MAJOR}, mb = {"B", 0, 1, 0, 1, 1, HN, 0, 4, WF_ROW_MAJOR};
        WF_CHECK_EQ(wf_host_d2h(h, &ma, a, e), WF_OK);
        WF_CHECK_EQ(wf_host_d2h(h, &mb, b, e), WF_OK);
    }
    wf_host_free(h);
    wf_layout_free(l);
    return st;
}
static void fabric_directions_are_checked(void) {
    float a[HN], b[HN];
    wf_err e = {0};
    WF_CHECK_EQ(halo_run(0, a, b, &e), WF_OK);
    for (int i = 0; i < HN; i++) { /* west halo from PE 0, east halo from PE 2 */
        WF_CHECK_FEQ(a[i], (float)i);
        WF_CHECK_FEQ(b[i], (float)(20 + i));
    }
    WF_CHECK_EQ(halo_run(1, a, b, &e), WF_ECOLOR);
    char want[64];
    snprintf(want, sizeof want, "tests/fabric/test_ops.c:%d: PE(1,0): cycle ", halo_line);
    WF_CHECK(strncmp(e.msg, want, strlen(want)) == 0);
    if (strncmp(e.msg, want, strlen(want))) fprintf(stderr, "  got: %s\n  want prefix: %s\n", e.msg, want);
    WF_CHECK_HAS(e.msg, "fmovs: color 2: the PE's route delivers wavelets from {EAST}, the DSD expects from {WEST} "
                        "only (swapped halo colors?)");
    WF_CHECK_EQ(halo_run(2, a, b, &e), WF_ECOLOR);
    WF_CHECK_HAS(e.msg, "PE(0,0): cycle ");
    WF_CHECK_HAS(e.msg, "fmovs: color 1: the PE's route sends the core's wavelets to {EAST}, the DSD expects to "
                        "{WEST} only (swapped halo colors?)");
    WF_CHECK_EQ(halo_run(3, a, b, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "fmovs: color 1: wf_dsd_fabout_to names no direction (a mask of WF_DIR_N/S/E/W)");
}

int main(void) {
    fabric_directions_are_checked();
    every_op_matches_reference_and_table();
    fabric_operand_matches_reference();
    op_misuse_fails_with_pe_and_task();
    fp16_conversions_match_the_compiler();
    half_precision_over_the_fabric();
    return wf_check_report();
}
