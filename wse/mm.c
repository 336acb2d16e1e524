/* mm.c — the weight-streaming matrix multiply on the simulated fabric (the
** mapping and the operation order are in wse.h), its host program and its
** analytic cycle model. */
#include "wse.h"

#include "../sdk/diag.h"
#include "../sdk/sdk.h"

#include <math.h>
#include <string.h>

/* Symbols, in SRAM order. The state words and a pad fill bank 0 after the
** code reserve, so that WB sits alone in bank 1 and P starts in bank 2: the
** two memory sources of every multiply-add (P and WB) are then in different
** banks and the bank-conflict rule never applies. */
enum { S_ST, S_PAD0, S_WB, S_PAD1, S_P, S_X, S_Y, S_COUNT };
enum { P_TR, P_KC, P_NB, P_NCH, P_FP16, P_STORE, P_KX, P_KY, P_COUNT };
enum { C_R0 = 1, C_R1 = 2, C_W = 3, C_E = 4 };
/* The compute task has the highest ID: the picker runs ready tasks lowest ID
** first, so every pending completion is booked (and the next receive issued)
** before a long compute starts. */
enum { T_RECV = 30, T_SENT = 31, T_RED0 = 32, T_RED1 = 33, T_COMPUTE = 40 };
/* state words */
enum { RECV_I, RECV_D, SEND_I, SEND_D, COMP, RED_I, RED_D, ST_WORDS };

#define ST_BYTES 64u

static wf_dsd mem(wf_pe *pe, const void *base, uint32_t n, int esize) {
    return wf_dsd_mem1d(pe, base, n, 1, esize);
}

/* Issues whatever the counters allow; called from every task. At most one
** receive and one send are outstanding, and at most one reduce per partial
** buffer (completing into T_RED0 / T_RED1 by parity), so the activation of
** a completion task (a bit, not a count) is never lost. Reduces queue FIFO
** on their color, so they complete in order. */
static void advance(wf_pe *pe) {
    uint32_t *s = wf_sym(pe, S_ST);
    int tr = (int)wf_pe_param(pe, P_TR), kc = (int)wf_pe_param(pe, P_KC), nb = (int)wf_pe_param(pe, P_NB);
    uint32_t nch = (uint32_t)wf_pe_param(pe, P_NCH);
    /* es: weights and X (fp16 in both 16-bit modes); eo: partials and Y (fp32 in mixed mode) */
    int mode = (int)wf_pe_param(pe, P_FP16), f16 = mode != 0, o16 = mode == 1, es = f16 ? 2 : 4, eo = o16 ? 2 : 4;
    int rx = wf_pe_rx(pe), ry = wf_pe_ry(pe), kx = (int)wf_pe_param(pe, P_KX), ky = (int)wf_pe_param(pe, P_KY);
    int west = rx == 0, fwd = west && kx > 1;
    uint8_t *wb = wf_sym(pe, S_WB), *p = wf_sym(pe, S_P);
    size_t wchunk = (size_t)kc * nb * es, pchunk = (size_t)tr * nb * eo;
    static const int R[2] = {C_R0, C_R1};
    for (int progress = 1; progress;) {
        progress = 0;
        /* west column: pass the received chunk on east */
        if (fwd && s[SEND_I] == s[SEND_D] && s[SEND_I] < s[RECV_D]) {
            const uint8_t *src = wb + (s[SEND_I] & 1) * wchunk;
            wf_dsd d = mem(pe, src, (uint32_t)(kc * nb), es), o = wf_dsd_fabout(C_E, (uint32_t)(kc * nb));
            if (f16) wf_mov16(pe, o, d, wf_async_activate(T_SENT));
            else wf_mov32(pe, o, d, wf_async_activate(T_SENT));
            s[SEND_I]++;
            progress = 1;
        }
        /* receive the next chunk into the buffer the chunk before last used */
        uint32_t j = s[RECV_I];
        if (s[RECV_I] == s[RECV_D] && j < nch && s[COMP] + 1 >= j && (!fwd || s[SEND_D] + 1 >= j)) {
            uint8_t *dst = wb + (j & 1) * wchunk;
            wf_dsd d = mem(pe, dst, (uint32_t)(kc * nb), es), in = wf_dsd_fabin(west ? C_W : C_E, (uint32_t)(kc * nb));
            if (f16) wf_mov16(pe, d, in, wf_async_activate(T_RECV));
            else wf_mov32(pe, d, in, wf_async_activate(T_RECV));
            s[RECV_I]++;
            progress = 1;
        }
        /* compute chunk COMP once it is here and its partial buffer is free */
        if (s[COMP] < nch && s[RECV_D] > s[COMP] && s[RED_D] + 1 >= s[COMP]) wf_activate(pe, T_COMPUTE);
        /* sum the partials down the column, chunk by chunk */
        uint32_t r = s[RED_I];
        if (r < s[COMP]) {
            uint8_t *pp = p + (r & 1) * pchunk;
            uint32_t n = (uint32_t)(tr * nb);
            wf_dsd dp = mem(pe, pp, n, eo);
            wf_async done = wf_async_activate(r & 1 ? T_RED1 : T_RED0);
            s[RED_I]++;
            progress = 1;
            if (ky == 1) {
                s[RED_D]++; /* nothing to sum: keep the result in place */
                if (wf_pe_param(pe, P_STORE)) {
                    wf_dsd dy = mem(pe, (uint8_t *)wf_sym(pe, S_Y) + (size_t)r * n * eo, n, eo);
                    if (o16) wf_mov16(pe, dy, dp, WF_SYNC);
                    else wf_fmovs(pe, dy, dp, WF_SYNC);
                }
            } else if (ry == 0) {
                wf_dsd o = wf_dsd_fabout(R[0], n);
                if (o16) wf_mov16(pe, o, dp, done);
                else wf_fmovs(pe, o, dp, done);
            } else {
                wf_dsd in = wf_dsd_fabin(R[(ry - 1) & 1], n);
                uint8_t *yr = (uint8_t *)wf_sym(pe, S_Y) + (size_t)r * n * eo;
                wf_dsd dst = ry < ky - 1               ? wf_dsd_fabout(R[ry & 1], n)
                             : wf_pe_param(pe, P_STORE) ? mem(pe, yr, n, eo)
                                                        : dp;
                if (o16) wf_faddh(pe, dst, in, dp, done);
                else wf_fadds(pe, dst, in, dp, done);
            }
        }
    }
}

static void t_compute(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t *s = wf_sym(pe, S_ST);
    int tr = (int)wf_pe_param(pe, P_TR), kc = (int)wf_pe_param(pe, P_KC), nb = (int)wf_pe_param(pe, P_NB);
    uint32_t nch = (uint32_t)wf_pe_param(pe, P_NCH);
    int mode = (int)wf_pe_param(pe, P_FP16), es = mode ? 2 : 4, eo = mode == 1 ? 2 : 4;
    uint8_t *wb = wf_sym(pe, S_WB), *p = wf_sym(pe, S_P), *x = wf_sym(pe, S_X);
    size_t wchunk = (size_t)kc * nb * es, pchunk = (size_t)tr * nb * eo;
    uint32_t c = s[COMP];
    if (c < nch && s[RECV_D] > c && s[RED_D] + 1 >= c) {
            const uint8_t *w = wb + (c & 1) * wchunk;
            uint8_t *pp = p + (c & 1) * pchunk;
            for (int t = 0; t < tr; t++) {
                wf_dsd dp = mem(pe, pp + (size_t)t * nb * eo, (uint32_t)nb, eo);
                for (int k = 0; k < kc; k++) {
                    wf_dsd dw = mem(pe, w + (size_t)k * nb * es, (uint32_t)nb, es);
                    if (mode) {
                        uint16_t xv;
                        memcpy(&xv, x + ((size_t)t * kc + k) * 2, 2);
                        if (mode == 1) wf_fmach(pe, dp, k ? dp : wf_dsd_scalar_u16(0), dw, xv, WF_SYNC);
                        else wf_fmachs(pe, dp, k ? dp : wf_dsd_scalar_f32(0), dw, xv, WF_SYNC); /* fp32 sums */
                    } else {
                        float xv;
                        memcpy(&xv, x + ((size_t)t * kc + k) * 4, 4);
                        wf_fmacs(pe, dp, k ? dp : wf_dsd_scalar_f32(0), dw, xv, WF_SYNC);
                    }
                }
            }
            s[COMP]++;
        }
    advance(pe);
}

static void t_recv(wf_pe *pe, uint32_t d) {
    (void)d;
    ((uint32_t *)wf_sym(pe, S_ST))[RECV_D]++;
    advance(pe);
}
static void t_sent(wf_pe *pe, uint32_t d) {
    (void)d;
    ((uint32_t *)wf_sym(pe, S_ST))[SEND_D]++;
    advance(pe);
}
static void t_red(wf_pe *pe, uint32_t d) {
    (void)d;
    ((uint32_t *)wf_sym(pe, S_ST))[RED_D]++;
    advance(pe);
}
static void go(wf_pe *pe, uint32_t d) {
    (void)d;
    memset(wf_sym(pe, S_ST), 0, ST_BYTES);
    advance(pe);
}

static const wf_symbol_decl mm_syms[S_COUNT] = {{"st", ST_BYTES}, {"pad0", 4}, {"wb", 4}, {"pad1", 4},
                                                 {"p", 4},         {"x", 4},    {"y", 4}};
static const wf_task_decl mm_tasks[] = {{T_RECV, WF_TASK_LOCAL, t_recv, 0, "recv"},
                                        {T_SENT, WF_TASK_LOCAL, t_sent, 0, "sent"},
                                        {T_RED0, WF_TASK_LOCAL, t_red, 0, "reduced0"},
                                        {T_RED1, WF_TASK_LOCAL, t_red, 0, "reduced1"},
                                        {T_COMPUTE, WF_TASK_LOCAL, t_compute, 0, "compute"}};
static const wf_export_decl mm_exports[] = {{"mm", go}};
static const wf_kernel mm_kernel = {"wse_mm", mm_syms, S_COUNT, mm_tasks, 5, mm_exports, 1, NULL};

/* ---- sizes ------------------------------------------------------------------------ */
typedef struct {
    int tr, kc, nch, es, eo; /* element bytes: weights and X; partials and Y */
    uint32_t bytes[S_COUNT];
} sizes;

static void get_sizes(const wf_wse_mm_cfg *c, const wf_cost_model *cm, sizes *z) {
    z->tr = c->T / c->kx;
    z->kc = c->K / c->ky;
    z->nch = c->N / c->nb;
    z->es = c->fp16 ? 2 : 4;
    z->eo = c->fp16 == 1 ? 2 : 4;
    uint32_t bank = cm->bank_bytes ? cm->bank_bytes : 6144;
    uint64_t wb = 2ull * (uint64_t)z->kc * (uint64_t)c->nb * (uint64_t)z->es;
    /* st + pad0 end at the next bank boundary after the code reserve */
    uint32_t end0 = (cm->code_reserve / bank + 1) * bank;
    z->bytes[S_ST] = ST_BYTES;
    z->bytes[S_PAD0] = end0 - cm->code_reserve - ST_BYTES;
    z->bytes[S_WB] = (uint32_t)(wb > UINT32_MAX / 2 ? UINT32_MAX / 2 : wb);
    z->bytes[S_PAD1] = wb < bank ? bank - (uint32_t)wb : 4;
    z->bytes[S_P] = (uint32_t)(2ull * z->tr * c->nb * z->eo);
    z->bytes[S_X] = (uint32_t)((uint64_t)z->tr * z->kc * z->es);
    z->bytes[S_Y] = c->store ? (uint32_t)((uint64_t)z->nch * z->tr * c->nb * z->eo) : 4;
    for (int i = 0; i < S_COUNT; i++) z->bytes[i] = (z->bytes[i] + 3) & ~3u;
}

wf_status wf_wse_mm_check(const wf_wse_mm_cfg *c, wf_err *err) {
    const wf_cost_model *cm = c->cost ? c->cost : &wf_cost_wse2;
    if (c->T < 1 || c->K < 1 || c->N < 1 || c->T > (1 << 24) || c->K > (1 << 24) || c->N > (1 << 24))
        return WF_FAIL(err, WF_EUSAGE, "wse mm: sizes T %d, K %d, N %d: expected 1..16777216", c->T, c->K, c->N);
    if (c->kx < 1 || c->ky < 1 || c->kx > WF_FABRIC_MAX_W || c->ky > WF_FABRIC_MAX_H)
        return WF_FAIL(err, WF_EUSAGE, "wse mm: grid %d x %d PEs: expected 1..%d x 1..%d", c->kx, c->ky,
                       WF_FABRIC_MAX_W, WF_FABRIC_MAX_H);
    if (c->T % c->kx || c->K % c->ky)
        return WF_FAIL(err, WF_EUSAGE, "wse mm: T %d over kx %d columns and K %d over ky %d rows: both must divide",
                       c->T, c->kx, c->K, c->ky);
    if (c->fp16 < 0 || c->fp16 > 2)
        return WF_FAIL(err, WF_EUSAGE, "wse mm: precision %d: expected 0 (fp32), 1 (fp16) or 2 (fp16 products, fp32 "
                       "sums)", c->fp16);
    if (c->nb < 1 || c->N % c->nb)
        return WF_FAIL(err, WF_EUSAGE, "wse mm: chunk nb %d: expected a divisor of N %d", c->nb, c->N);
    sizes z;
    get_sizes(c, cm, &z);
    if ((uint64_t)z.kc * c->nb * z.es * 2 > cm->bank_bytes)
        return WF_FAIL(err, WF_ESRAM, "wse mm: weight buffers 2 x %d x %d x %d bytes exceed one %u-byte bank", z.kc,
                       c->nb, z.es, cm->bank_bytes);
    uint64_t tot = cm->code_reserve;
    for (int i = 0; i < S_COUNT; i++) tot += z.bytes[i];
    if (tot > cm->sram_bytes)
        return WF_FAIL(err, WF_ESRAM, "wse mm: a PE needs %llu bytes (tr %d, kc %d, nb %d%s), SRAM is %u",
                       (unsigned long long)tot, z.tr, z.kc, c->nb, c->store ? ", storing Y" : "", cm->sram_bytes);
    return WF_OK;
}

/* ---- data by formula (time-only runs) ---------------------------------------------- */
static float x_at(int64_t t, int64_t k) { return (float)((t * 7 + k * 3) % 17 - 8) / 16.0f; }
static float w_at(int64_t k, int64_t n) { return (float)((k * 5 + n * 11) % 13 - 6) / 8.0f; }

static float rnd16(float v) { return wf_f16_to_f32(wf_f32_to_f16(v)); }

void wf_wse_mm_ref(const wf_wse_mm_cfg *c, const float *X, const float *W, float *Y) {
    int tr = c->T / c->kx, kc = c->K / c->ky;
    (void)tr;
    for (int t = 0; t < c->T; t++)
        for (int n = 0; n < c->N; n++) {
            float acc = 0;
            for (int r = 0; r < c->ky; r++) {
                float p = 0;
                for (int k = r * kc; k < (r + 1) * kc; k++) {
                    if (c->fp16 == 1) {
                        double e = (double)p + (double)rnd16(W[(size_t)k * c->N + n]) * rnd16(X[(size_t)t * c->K + k]);
                        p = wf_f16_to_f32(wf_f64_to_f16(e));
                    } else if (c->fp16 == 2) { /* exact product, one rounding: fmachs */
                        p = fmaf(rnd16(W[(size_t)k * c->N + n]), rnd16(X[(size_t)t * c->K + k]), p);
                    } else {
                        p = p + W[(size_t)k * c->N + n] * X[(size_t)t * c->K + k];
                    }
                }
                if (r == 0) acc = p;
                else acc = c->fp16 == 1 ? wf_f16_to_f32(wf_f64_to_f16((double)acc + p)) : acc + p;
            }
            Y[(size_t)t * c->N + n] = acc;
        }
}

/* ---- the host program --------------------------------------------------------------- */
static void put(uint8_t *dst, size_t i, float v, int f16) {
    if (f16) {
        uint16_t h = wf_f32_to_f16(v);
        memcpy(dst + i * 2, &h, 2);
    } else {
        memcpy(dst + i * 4, &v, 4);
    }
}
static float get(const uint8_t *src, size_t i, int f16) {
    if (f16) {
        uint16_t h;
        memcpy(&h, src + i * 2, 2);
        return wf_f16_to_f32(h);
    }
    float v;
    memcpy(&v, src + i * 4, 4);
    return v;
}

wf_status wf_wse_mm_run(const wf_wse_mm_cfg *c, const float *X, const float *W, float *Y, wf_wse_mm_stats *st,
                        wf_err *err) {
    wf_status rc = wf_wse_mm_check(c, err);
    if (rc) return rc;
    if (c->store && (!X || !W || !Y)) return WF_FAIL(err, WF_EUSAGE, "wse mm: store needs X, W and Y buffers");
    const wf_cost_model *cm = c->cost ? c->cost : &wf_cost_wse2;
    sizes z;
    get_sizes(c, cm, &z);
    int kx = c->kx, ky = c->ky, tr = z.tr, kc = z.kc, nb = c->nb, nch = z.nch, es = z.es, eo = z.eo;
    int f16 = c->fp16 != 0, o16 = c->fp16 == 1;
    int64_t params[P_COUNT] = {tr, kc, nb, nch, c->fp16, c->store, kx, ky};
    wf_code_opts co = {params, P_COUNT, z.bytes};
    wf_layout *l = NULL;
    wf_host *h = NULL;
    uint8_t *xb = NULL, *wbuf = NULL, *yb = NULL;
    wf_tracer *tracer = NULL;
    memset(st, 0, sizeof *st);
    if ((rc = wf_layout_new(kx, ky, &l, err)) || (rc = wf_layout_code(l, 0, 0, kx, ky, &mm_kernel, &co, err)))
        goto done;
    /* weights: in from the west edge at column 0, then east along each row */
    wf_route in_w = wf_route_simple(WF_W, WF_RAMP);
    if ((rc = wf_layout_route(l, 0, 0, 1, ky, C_W, &in_w, err))) goto done;
    if (kx > 1) {
        wf_route src = wf_route_simple(WF_RAMP, WF_E), mid = wf_route_simple(WF_W, WF_RAMP | WF_E),
                 end = wf_route_simple(WF_W, WF_RAMP);
        if ((rc = wf_layout_route(l, 0, 0, 1, ky, C_E, &src, err))) goto done;
        if (kx > 2 && (rc = wf_layout_route(l, 1, 0, kx - 2, ky, C_E, &mid, err))) goto done;
        if ((rc = wf_layout_route(l, kx - 1, 0, 1, ky, C_E, &end, err))) goto done;
    }
    /* partials: south down each column, colors alternating per row */
    for (int y = 0; y < ky; y++) {
        static const int R[2] = {C_R0, C_R1};
        wf_route south = wf_route_simple(WF_RAMP, WF_S), from_n = wf_route_simple(WF_N, WF_RAMP);
        if (y < ky - 1 && (rc = wf_layout_route(l, 0, y, kx, 1, R[y & 1], &south, err))) goto done;
        if (y > 0 && (rc = wf_layout_route(l, 0, y, kx, 1, R[(y - 1) & 1], &from_n, err))) goto done;
    }
    wf_host_opts ho = {cm, NULL, UINT64_MAX, c->threads > 0 ? c->threads : 1, c->defects};
    if ((rc = wf_host_new(l, &ho, &h, err))) goto done;

    /* X tiles, row-major [ky][kx][tr*kc], t-major inside */
    size_t npe = (size_t)kx * ky, xper = (size_t)tr * kc;
    xb = wf_calloc(NULL, npe * xper * es, "wse mm X tiles", err);
    wbuf = wf_calloc(NULL, (size_t)ky * nch * kc * nb * es, "wse mm weight stream", err);
    if (!xb || !wbuf) {
        rc = err->code;
        goto done;
    }
    for (int r = 0; r < ky; r++)
        for (int cx = 0; cx < kx; cx++)
            for (int t = 0; t < tr; t++)
                for (int k = 0; k < kc; k++) {
                    int64_t gt = (int64_t)cx * tr + t, gk = (int64_t)r * kc + k;
                    float v = X ? X[gt * c->K + gk] : x_at(gt, gk);
                    put(xb, ((size_t)r * kx + cx) * xper + (size_t)t * kc + k, v, f16);
                }
    /* weight stream for row r: chunk j, then k, then n within the chunk */
    for (int r = 0; r < ky; r++)
        for (int j = 0; j < nch; j++)
            for (int k = 0; k < kc; k++)
                for (int n = 0; n < nb; n++) {
                    int64_t gk = (int64_t)r * kc + k, gn = (int64_t)j * nb + n;
                    float v = W ? W[gk * c->N + gn] : w_at(gk, gn);
                    put(wbuf, (((size_t)r * nch + j) * kc + k) * nb + n, v, f16);
                }
    uint64_t t0 = wf_host_cycles(h);
    wf_memcpy mx = {"x", 0, 0, 0, kx, ky, (uint32_t)xper, 0, es, WF_ROW_MAJOR};
    if ((rc = wf_host_h2d(h, &mx, xb, err))) goto done;
    st->io_cycles += wf_host_cycles(h) - t0;
    wf_wse_prof_memcpy(c->prof, "memcpy in (activations)", npe, wf_host_cycles(h) - t0);
    if (c->trace && (rc = wf_tracer_open(wf_host_fabric(h), c->trace, NULL, 0, &tracer, err))) goto done;
    double w0 = wf_now();
    uint64_t c0 = wf_host_cycles(h);
    wf_wse_prof_begin(c->prof, wf_host_fabric(h));
    if ((rc = wf_host_launch_nb(h, "mm", err))) goto done;
    wf_memcpy mw = {NULL, C_W, 0, 0, 1, ky, (uint32_t)((size_t)nch * kc * nb), 0, es, WF_ROW_MAJOR};
    if ((rc = wf_host_h2d(h, &mw, wbuf, err))) goto done;
    if (tracer) {
        rc = wf_tracer_close(tracer, err);
        tracer = NULL;
        if (rc) goto done;
    }
    if (c->heatmap && (rc = wf_heatmap_write(wf_host_fabric(h), c->heatmap, WF_HEAT_BUSY, 0, NULL, err))) goto done;
    st->cycles = wf_host_cycles(h) - c0;
    st->wall_s = wf_now() - w0;
    st->flops = 2ull * (uint64_t)c->T * (uint64_t)c->K * (uint64_t)c->N;
    if (c->prof) {
        char name[40];
        snprintf(name, sizeof name, "%s %dx%dx%d", c->what ? c->what : "matmul", c->T, c->K, c->N);
        /* the west edge takes kc x N weights per row, one wavelet per row per cycle */
        wf_wse_prof_end(c->prof, wf_host_fabric(h), WF_WSE_SPAN_MATMUL, name, (uint64_t)kc * (uint64_t)c->N,
                        st->flops);
    }
    if (c->store) {
        size_t yper = (size_t)nch * tr * nb;
        yb = wf_calloc(NULL, (size_t)kx * yper * eo, "wse mm Y", err);
        if (!yb) {
            rc = err->code;
            goto done;
        }
        uint64_t t1 = wf_host_cycles(h);
        wf_memcpy my = {"y", 0, 0, ky - 1, kx, 1, (uint32_t)yper, 0, eo, WF_ROW_MAJOR};
        if ((rc = wf_host_d2h(h, &my, yb, err))) goto done;
        st->io_cycles += wf_host_cycles(h) - t1;
        wf_wse_prof_memcpy(c->prof, "memcpy out (result)", npe, wf_host_cycles(h) - t1);
        for (int cx = 0; cx < kx; cx++)
            for (int j = 0; j < nch; j++)
                for (int t = 0; t < tr; t++)
                    for (int n = 0; n < nb; n++)
                        Y[((size_t)cx * tr + t) * c->N + (size_t)j * nb + n] =
                            get(yb, (size_t)cx * yper + ((size_t)j * tr + t) * nb + n, o16);
    }
done:
    if (tracer) wf_tracer_close(tracer, NULL);
    wf_free(NULL, xb);
    wf_free(NULL, wbuf);
    wf_free(NULL, yb);
    wf_host_free(h);
    wf_layout_free(l);
    return rc;
}

/* ---- the analytic model ------------------------------------------------------------------ */
void wf_wse_mm_predict(const wf_wse_mm_cfg *c, const wf_cost_model *cm, wf_wse_mm_model *m) {
    if (!cm) cm = c->cost ? c->cost : &wf_cost_wse2;
    double tr = (double)c->T / c->kx, kc = (double)c->K / c->ky, nb = c->nb, nch = (double)c->N / c->nb;
    double width = c->fp16 ? cm->w_f16_fma : cm->w_f32_fma;
    double op = cm->dsd_setup + ceil(nb / width);
    /* one advance() per chunk: a task switch, the receive/send/reduce issues */
    double overhead = cm->task_switch + 3.0 * cm->dsd_setup;
    m->compute_chunk = tr * kc * op + overhead;
    m->inflow_chunk = kc * nb;
    m->reduce_chunk = c->ky > 1 ? tr * nb : 0;
    m->per_chunk = fmax(m->compute_chunk, fmax(m->inflow_chunk, m->reduce_chunk));
    /* fill: the first chunk reaches the far column, then the last chunk's
    ** partials drain down the column (per hop: hop + ramp + op latency) */
    double hop = cm->hop_latency, lat = cm->ramp_latency * 2.0 + cm->op_latency;
    double fill = cm->launch_latency + cm->memcpy_setup + hop + m->inflow_chunk + (c->kx - 1) * hop + lat;
    if (c->kx > 1) fill += m->inflow_chunk; /* column 0 receives a chunk whole before passing it on */
    double drain = c->ky > 1 ? (c->ky - 1) * (hop + lat) + m->reduce_chunk : 0;
    m->fill = fill + drain;
    m->total = m->fill + nch * m->per_chunk;
}
