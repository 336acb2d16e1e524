/* test_gemv.c — an integration test of the whole core: GEMV y = A x on a
** grid of PEs (x broadcast south on one color, partial sums reduced east on
** two alternating colors, fmacs on memory in between). The result must match
** a plain C reference and two runs must give the same cycles and bits
** (determinism), also with the fast paths off (reference mode).
** WF_TEST_QUICK shrinks the grid. */
#include "../../sdk/sdk.h"
#include "../check.h"

#include <stdlib.h>
#include <string.h>

enum { CX = 1, CY = 2, T_X = 30, T_Y = 31, T_DONE = 32 };
enum { S_A, S_X, S_Y, S_N };
static const wf_symbol_decl syms[] = {{"A", 0}, {"x", 0}, {"y", 0}};
/* params: 0 nc, 1 mr */
static void compute(wf_pe *pe) {
    int nc = (int)wf_pe_param(pe, 0), mr = (int)wf_pe_param(pe, 1);
    float *A = wf_sym(pe, S_A), *x = wf_sym(pe, S_X), *y = wf_sym(pe, S_Y);
    wf_dsd dy = wf_dsd_mem1d(pe, y, (uint32_t)mr, 1, 4);
    for (int j = 0; j < nc; j++) /* A tile column-major: column j at A + j*mr */
        wf_fmacs(pe, dy, dy, wf_dsd_mem1d(pe, A + j * mr, (uint32_t)mr, 1, 4), x[j], WF_SYNC);
    int W = wf_pe_rw(pe), i = wf_pe_rx(pe);
    if (W == 1) return;
    int cout = CY + (i & 1), cin = CY + ((i + 1) & 1);
    if (i == 0) wf_fmovs(pe, wf_dsd_fabout(cout, (uint32_t)mr), dy, wf_async_none());
    else if (i == W - 1) wf_fadds(pe, dy, dy, wf_dsd_fabin(cin, (uint32_t)mr), wf_async_none());
    else wf_fadds(pe, wf_dsd_fabout(cout, (uint32_t)mr), dy, wf_dsd_fabin(cin, (uint32_t)mr), wf_async_none());
}
static void x_done(wf_pe *pe, uint32_t d) { (void)d; compute(pe); }
static void go(wf_pe *pe, uint32_t d) {
    (void)d;
    int nc = (int)wf_pe_param(pe, 0);
    float *x = wf_sym(pe, S_X);
    if (wf_pe_ry(pe) == 0) {
        if (wf_pe_rh(pe) > 1) wf_fmovs(pe, wf_dsd_fabout(CX, (uint32_t)nc), wf_dsd_mem1d(pe, x, (uint32_t)nc, 1, 4), wf_async_none());
        compute(pe);
    } else {
        wf_fmovs(pe, wf_dsd_mem1d(pe, x, (uint32_t)nc, 1, 4), wf_dsd_fabin(CX, (uint32_t)nc), wf_async_activate(T_X));
    }
}
static const wf_task_decl tk[] = {{T_X, WF_TASK_LOCAL, x_done, 0, "x_done"}};
static const wf_export_decl ex[] = {{"go", go}};
static const wf_kernel k = {"gemv", syms, 3, tk, 1, ex, 1, NULL};


typedef struct { uint64_t cycles, hops; float *y; } result;

static result run_gemv(int W, int H, int M, int N, int ref) {
    result res = {0, 0, NULL};
    int nc = (N + W - 1) / W, mr = (M + H - 1) / H;
    wf_err e = {0};
    wf_layout *l;
    WF_CHECK_EQ(wf_layout_new(W, H, &l, &e), WF_OK);
    int64_t prm[2] = {nc, mr};
    uint32_t sz[3] = {(uint32_t)(4 * nc * mr), (uint32_t)(4 * nc), (uint32_t)(4 * mr)};
    wf_code_opts o = {prm, 2, sz};
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, W, H, &k, &o, &e), WF_OK);
    wf_route xs = wf_route_simple(WF_RAMP, WF_S), xm = wf_route_simple(WF_N, WF_RAMP | WF_S);
    wf_route xl = wf_route_simple(WF_N, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, W, 1, CX, &xs, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 0, 1, W, H - 2, CX, &xm, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 0, H - 1, W, 1, CX, &xl, &e), WF_OK);
    for (int i = 0; i < W; i++) {
        wf_route snd = wf_route_simple(WF_RAMP, WF_E), rcv = wf_route_simple(WF_W, WF_RAMP);
        if (i + 1 < W) WF_CHECK_EQ(wf_layout_route(l, i, 0, 1, H, CY + (i & 1), &snd, &e), WF_OK);
        if (i > 0) WF_CHECK_EQ(wf_layout_route(l, i, 0, 1, H, CY + ((i + 1) & 1), &rcv, &e), WF_OK);
    }
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    wf_fabric_set_reference_mode(wf_host_fabric(h), ref);
    size_t nA = (size_t)W * H * nc * mr;
    float *hA = calloc(nA, 4), *hx = calloc((size_t)W * nc, 4);
    res.y = calloc((size_t)H * W * mr, 4);
    for (int pj = 0; pj < H; pj++)
        for (int pi = 0; pi < W; pi++)
            for (int c = 0; c < nc; c++)
                for (int r = 0; r < mr; r++) {
                    int R = pj * mr + r, Cc = pi * nc + c;
                    float v = (R < M && Cc < N) ? (float)((R * 7 + Cc * 3) % 11 - 5) / 3 : 0;
                    hA[((size_t)pj * W + pi) * nc * mr + (size_t)c * mr + r] = v;
                }
    for (int c = 0; c < W * nc; c++) hx[c] = c < N ? (float)(c % 5 - 2) / 7 : 0;
    wf_memcpy mA = {"A", 0, 0, 0, W, H, (uint32_t)(nc * mr), 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &mA, hA, &e), WF_OK);
    wf_memcpy mx = {"x", 0, 0, 0, W, 1, (uint32_t)nc, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &mx, hx, &e), WF_OK);
    uint64_t c0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    res.cycles = wf_host_cycles(h) - c0;
    wf_memcpy my = {"y", 0, 0, 0, W, H, (uint32_t)mr, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &my, res.y, &e), WF_OK);
    wf_fabric_stats st;
    wf_fabric_read_stats(wf_host_fabric(h), &st);
    res.hops = st.hops;
    /* plain C reference in the same order of operations: per PE column a partial
    ** sum over its nc columns (fmacs order), then partials added west to east */
    int bad = 0;
    for (int R = 0; R < M; R++) {
        int pj = R / mr, r = R % mr;
        float acc = 0;
        for (int pi = 0; pi < W; pi++) {
            float part = 0;
            for (int c = 0; c < nc; c++)
                part = part + hA[((size_t)pj * W + pi) * nc * mr + (size_t)c * mr + r] * hx[pi * nc + c];
            acc = pi == 0 ? part : part + acc;
        }
        float got = res.y[((size_t)pj * W + (W - 1)) * mr + r];
        if (wf_f32_bits(got) != wf_f32_bits(acc)) bad++;
    }
    WF_CHECK_EQ(bad, 0);
    free(hA);
    free(hx);
    wf_host_free(h);
    wf_layout_free(l);
    return res;
}

static void gemv_is_exact_and_deterministic(int W, int H, int M, int N) {
    result a = run_gemv(W, H, M, N, 0), b = run_gemv(W, H, M, N, 0), c = run_gemv(W, H, M, N, 1);
    WF_CHECK_EQ(a.cycles, b.cycles);
    WF_CHECK_EQ(a.hops, b.hops);
    WF_CHECK_EQ(a.cycles, c.cycles); /* fast paths off: same cycles, same bits */
    WF_CHECK_EQ(a.hops, c.hops);
    WF_CHECK(memcmp(a.y, c.y, (size_t)H * W * ((M + H - 1) / H) * 4) == 0);
    free(c.y);
    int nc = (N + W - 1) / W, mr = (M + H - 1) / H;
    (void)nc;
    WF_CHECK(memcmp(a.y, b.y, (size_t)H * W * mr * 4) == 0);
    /* x: nc wavelets down H-1 hops, each forwarded by H-1 routers into RAMP (+S);
    ** y: mr wavelets per hop east */
    WF_CHECK(a.cycles > (uint64_t)(H + W));
    printf("gemv %dx%d PEs, %dx%d: %llu cycles, %llu hops\n", W, H, M, N, (unsigned long long)a.cycles,
           (unsigned long long)a.hops);
    free(a.y);
    free(b.y);
}

int main(void) {
    int quick = getenv("WF_TEST_QUICK") != NULL;
    gemv_is_exact_and_deterministic(4, 3, 10, 9);
    if (quick) gemv_is_exact_and_deterministic(20, 16, 150, 170);
    else gemv_is_exact_and_deterministic(60, 50, 800, 900);
    return wf_check_report();
}
