/* ops.c — DSDs and DSD ops. An op on memory (and scalars) only is computed
** natively at issue and charged analytically: dsd_setup + ceil(n/width)
** (+ bank conflict). An op with a fabric operand becomes a microthread work
** item queued on its color's input queue (fabric-in) or output queue
** (fabric-out only); the head of each queue moves one element per cycle when
** a wavelet is there / the queue has room, and sleeps otherwise until the
** router wakes it. Completion may activate or unblock a task. */
#include "fabric_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *const op_names[OP_CODE_COUNT] = {"fmacs", "fadds", "fsubs", "fmuls", "mov32",
                                                    "mov16", "fmach", "faddh", "fmulh", "fmovs",
                                                    "fmachs", "inject"};
const char *op_name(int code) { return code >= 0 && code < OP_CODE_COUNT ? op_names[code] : "?"; }
const char *wf_op_name(int code) { return op_name(code); }

/* ---- DSD constructors ------------------------------------------------------------ */
static wf_dsd dsd_bad(void) {
    wf_dsd d;
    memset(&d, 0, sizeof d);
    d.kind = WF_DSD_MEM;
    d.sym = WF_DSD_NOSYM;
    d.addr = UINT32_MAX; /* invalid: the op using it fails */
    return d;
}

/* The symbol whose bytes hold SRAM address addr, or WF_DSD_NOSYM (a gap, or
** one past the end of the last symbol). Kernels have few symbols: a scan,
** once per DSD built. */
static uint16_t sym_at(const wf_pe *pe, uint32_t addr) {
    const wf_pe_image *img = pe->img;
    int ns = img->kernel->nsymbols;
    for (int i = 0; i < ns && i < (int)WF_DSD_NOSYM; i++)
        if (addr >= img->sym_addr[i] && addr - img->sym_addr[i] < img->sym_bytes[i]) return (uint16_t)i;
    /* one past a symbol's end (an empty DSD, or one about to overrun it) */
    for (int i = 0; i < ns && i < (int)WF_DSD_NOSYM; i++)
        if (img->sym_bytes[i] && addr == img->sym_addr[i] + img->sym_bytes[i]) return (uint16_t)i;
    return WF_DSD_NOSYM;
}

/* The SRAM address of base, or UINT32_MAX (the PE failed) when base is not
** in the PE's backed SRAM. */
static uint32_t dsd_addr(wf_pe *pe, const void *base) {
    if (!pe->img || (!pe->sram && pe_sram_touch(pe))) return UINT32_MAX;
    const uint8_t *p = base;
    size_t span = pe->img->sram_hi - pe->img->sram_lo;
    if (!p || p < pe->sram || p > pe->sram + span) {
        wf_pe_fail(pe, WF_EUSAGE, "memory DSD: base pointer is not in this PE's SRAM");
        return UINT32_MAX;
    }
    return pe->img->sram_lo + (uint32_t)(p - pe->sram);
}

wf_dsd wf_dsd_mem(wf_pe *pe, const void *base, int rank, const uint32_t *len, const int32_t *stride,
                  int esize) {
    if (rank < 1 || rank > 4 || (esize != 2 && esize != 4)) {
        wf_pe_fail(pe, WF_EUSAGE, "memory DSD: rank %d, esize %d, expected rank 1..4 and esize 2 or 4", rank,
                   esize);
        return dsd_bad();
    }
    uint32_t addr = dsd_addr(pe, base);
    if (addr == UINT32_MAX) return dsd_bad();
    wf_dsd d;
    memset(&d, 0, sizeof d);
    d.kind = WF_DSD_MEM;
    d.rank = (uint8_t)rank;
    d.esize = (uint8_t)esize;
    d.sym = sym_at(pe, addr);
    d.addr = addr;
    d.n = 1;
    for (int i = 0; i < 4; i++) {
        d.len[i] = i < rank ? len[i] : 1;
        d.stride[i] = i < rank ? stride[i] : 0;
        d.n *= d.len[i];
    }
    return d;
}

wf_dsd wf_dsd_mem1d(wf_pe *pe, const void *base, uint32_t n, int32_t stride, int esize) {
    if (esize != 2 && esize != 4) return wf_dsd_mem(pe, base, 1, &n, &stride, esize); /* reports it */
    uint32_t addr = dsd_addr(pe, base);
    if (addr == UINT32_MAX) return dsd_bad();
    return (wf_dsd){.kind = WF_DSD_MEM, .rank = 1, .esize = (uint8_t)esize, .sym = sym_at(pe, addr), .addr = addr,
                    .len = {n, 1, 1, 1}, .stride = {stride, 0, 0, 0}, .n = n};
}

static wf_dsd dsd_fab(int kind, int color, uint32_t n) {
    wf_dsd d;
    memset(&d, 0, sizeof d);
    d.kind = (uint8_t)kind;
    d.sym = WF_DSD_NOSYM;
    d.color = (uint8_t)(color < 0 || color > 255 ? 255 : color);
    d.n = n;
    d.rank = 1;
    d.len[0] = n;
    d.len[1] = d.len[2] = d.len[3] = 1;
    return d;
}
wf_dsd wf_dsd_fabin(int color, uint32_t n) { return dsd_fab(WF_DSD_FABIN, color, n); }
wf_dsd wf_dsd_fabout(int color, uint32_t n) { return dsd_fab(WF_DSD_FABOUT, color, n); }
/* 0x80 marks a direction that was asked for but names no port (checked at issue) */
static uint8_t dsd_dir(unsigned m) { return (uint8_t)(m & 15u ? m & 15u : 0x80u); }
wf_dsd wf_dsd_fabin_from(int color, uint32_t n, unsigned from) {
    wf_dsd d = dsd_fab(WF_DSD_FABIN, color, n);
    d.dir = dsd_dir(from);
    return d;
}
wf_dsd wf_dsd_fabout_to(int color, uint32_t n, unsigned to) {
    wf_dsd d = dsd_fab(WF_DSD_FABOUT, color, n);
    d.dir = dsd_dir(to);
    return d;
}

/* The link ports of a color's route (every switch position) that deliver to
** the core (in) or take the core's wavelets (out). */
static unsigned route_ports(const wf_cslot *s, int in) {
    unsigned m = 0;
    if (!s->has_route) return 0;
    for (int p = 0; p < s->route.npos; p++) {
        const wf_route_pos *q = &s->route.pos[p];
        if (in ? (q->tx & WF_RAMP) : (q->rx & WF_RAMP)) m |= in ? q->rx : q->tx;
    }
    return m & (WF_N | WF_S | WF_E | WF_W);
}
static const char *dir_set(unsigned m, char *b, size_t n) {
    static const char *const nm[4] = {"NORTH", "SOUTH", "EAST", "WEST"};
    size_t at = 0;
    at += (size_t)snprintf(b, n, "{");
    for (int p = 0, k = 0; p < 4; p++)
        if (m >> p & 1 && at < n) at += (size_t)snprintf(b + at, n - at, "%s%s", k++ ? ", " : "", nm[p]);
    if (at < n) snprintf(b + at, n - at, "}");
    return b;
}
/* A fabric operand's declared direction against the route (see wf_dsd_fabin_from). */
static int check_dir(wf_pe *pe, const char *nm, const wf_dsd *d, const wf_cslot *s) {
    if (!d->dir) return 0;
    int in = d->kind == WF_DSD_FABIN;
    if (d->dir == 0x80u) {
        wf_pe_fail(pe, WF_EUSAGE, "%s: color %d: %s names no direction (a mask of WF_DIR_N/S/E/W)", nm, d->color,
                   in ? "wf_dsd_fabin_from" : "wf_dsd_fabout_to");
        return 1;
    }
    unsigned got = route_ports(s, in);
    if (got && !(got & ~(unsigned)d->dir)) return 0;
    char g[48], w[48];
    if (!got)
        wf_pe_fail(pe, WF_ECOLOR, "%s: color %d: the DSD expects wavelets %s %s, but the PE's route %s", nm,
                   d->color, in ? "from" : "to", dir_set(d->dir, w, sizeof w),
                   in ? "delivers none from a link to the core" : "sends none of the core's to a link");
    else
        wf_pe_fail(pe, WF_ECOLOR, "%s: color %d: the PE's route %s %s, the DSD expects %s %s only "
                   "(swapped halo colors?)", nm, d->color,
                   in ? "delivers wavelets from" : "sends the core's wavelets to", dir_set(got, g, sizeof g),
                   in ? "from" : "to", dir_set(d->dir, w, sizeof w));
    return 1;
}

wf_dsd wf_dsd_scalar_u32(uint32_t v) {
    wf_dsd d;
    memset(&d, 0, sizeof d);
    d.kind = WF_DSD_SCALAR;
    d.sym = WF_DSD_NOSYM;
    d.bits = v;
    return d;
}
wf_dsd wf_dsd_scalar_f32(float v) { return wf_dsd_scalar_u32(wf_f32_bits(v)); }
wf_dsd wf_dsd_scalar_u16(uint16_t v) { return wf_dsd_scalar_u32(v); }

wf_dsd wf_dsd_offset(wf_dsd d, int32_t elems) {
    if (d.kind == WF_DSD_MEM && d.addr != UINT32_MAX) d.addr += (uint32_t)(elems * (int32_t)d.esize);
    return d;
}
wf_dsd wf_dsd_length(wf_dsd d, uint32_t n) {
    if (d.kind == WF_DSD_SCALAR) return d;
    d.n = n;
    d.len[0] = n;
    d.len[1] = d.len[2] = d.len[3] = 1;
    return d;
}

uint64_t wf_op_cycles(const wf_pe *pe, uint32_t n, uint32_t width) {
    return pe->f->cm.dsd_setup + (n + width - 1) / width;
}

/* ---- element arithmetic (the one definition both paths use) ------------------------ */
static inline float f32(uint32_t u) { return wf_bits_f32(u); }
static inline double h64(uint32_t u) { return (double)wf_f16_to_f32((uint16_t)u); }

/* a + p rounded once to fp16: round-to-odd in double, then to fp16. */
static uint16_t f16_sum(double a, double p) {
    double s = a + p;
    double bb = s - a;
    double e = (a - (s - bb)) + (p - bb);
    if (e != 0 && isfinite(s)) {
        uint64_t u;
        memcpy(&u, &s, 8);
        if (!(u & 1)) s = nextafter(s, e > 0 ? INFINITY : -INFINITY);
    }
    return wf_f64_to_f16(s);
}

static inline uint32_t elem(int code, uint32_t a, uint32_t b, uint32_t s) {
    switch (code) {
    case OP_FMACS: return wf_f32_bits(f32(a) + f32(b) * f32(s));
    case OP_FADDS: return wf_f32_bits(f32(a) + f32(b));
    case OP_FSUBS: return wf_f32_bits(f32(a) - f32(b));
    case OP_FMULS: return wf_f32_bits(f32(a) * f32(b));
    case OP_MOV32: case OP_FMOVS: return a;
    case OP_MOV16: return a & 0xffffu;
    case OP_FMACH: return f16_sum(h64(a), h64(b) * h64(s)); /* b*s exact in double */
    case OP_FADDH: return wf_f64_to_f16(h64(a) + h64(b));   /* exact in double */
    case OP_FMULH: return wf_f64_to_f16(h64(a) * h64(b));   /* exact in double */
    /* fp16 x fp16 has 22 significant bits: exact in fp32, so the sum is the one rounding */
    case OP_FMACHS: return wf_f32_bits(f32(a) + wf_f16_to_f32((uint16_t)b) * wf_f16_to_f32((uint16_t)s));
    default: return 0;
    }
}

/* The bytes [*a0, *a1) a memory DSD's elements cover (all dimensions). */
static void dsd_span(const wf_dsd *d, int esize, int64_t *a0, int64_t *a1) {
    int64_t lo = 0, hi = 0;
    for (int i = 0; i < 4; i++) {
        int64_t span = (int64_t)(d->len[i] ? d->len[i] - 1 : 0) * d->stride[i] * esize;
        if (span < 0) lo += span;
        else hi += span;
    }
    *a0 = (int64_t)d->addr + lo;
    *a1 = (int64_t)d->addr + hi + esize;
}

/* 1 when the DSD's bytes [a0, a1) stay inside its own symbol (or it has no
** symbol and stays inside the backed SRAM) — the per-op bounds rule. */
static inline int span_ok(const wf_pe *pe, const wf_dsd *d, int64_t a0, int64_t a1) {
    if (!d->n) return 1;
    if (d->sym != WF_DSD_NOSYM) {
        int64_t s0 = pe->img->sym_addr[d->sym];
        return a0 >= s0 && a1 <= s0 + (int64_t)pe->img->sym_bytes[d->sym];
    }
    return a0 >= pe->img->sram_lo && a1 <= pe->img->sram_hi;
}

/* Fails the run for a DSD that leaves its symbol: names the operand, the
** symbol, the byte offsets the elements cover and the overrun. */
static void span_fail(wf_pe *pe, const wf_dsd *d, int64_t a0, int64_t a1, const char *what) {
    if (d->sym == WF_DSD_NOSYM) {
        wf_pe_fail(pe, WF_ESRAM, "%s: memory DSD covers bytes [%lld,%lld), outside the PE's symbols [%u,%u)",
                   what, (long long)a0, (long long)a1, pe->img->sram_lo, pe->img->sram_hi);
        return;
    }
    const char *nm = pe->img->kernel->symbols[d->sym].name;
    int64_t s0 = pe->img->sym_addr[d->sym], sb = pe->img->sym_bytes[d->sym];
    int64_t o0 = a0 - s0, o1 = a1 - s0;
    char over[160];
    if (o1 > sb) {
        uint16_t nx = a1 - 1 <= UINT32_MAX ? sym_at(pe, (uint32_t)(a1 - 1)) : WF_DSD_NOSYM;
        snprintf(over, sizeof over, "runs %lld bytes past its end%s%s%s", (long long)(o1 - sb),
                 nx != WF_DSD_NOSYM ? " (into symbol '" : "",
                 nx != WF_DSD_NOSYM ? pe->img->kernel->symbols[nx].name : "", nx != WF_DSD_NOSYM ? "')" : "");
    } else {
        snprintf(over, sizeof over, "starts %lld bytes before its start", (long long)-o0);
    }
    wf_pe_fail(pe, WF_ESRAM, "%s: memory DSD on symbol '%s' (%lld bytes) covers byte offsets [%lld,%lld) of it: "
               "%s", what, nm ? nm : "?", (long long)sb, (long long)o0, (long long)o1, over);
}

/* Binds a memory DSD to an operand, checking it stays inside its symbol. */
static int bind_mem(wf_pe *pe, const wf_dsd *d, int esize, wf_operand *c, wf_dims *x, const char *op,
                    const char *role) {
    char what[48];
    if (d->addr == UINT32_MAX || d->esize != esize) snprintf(what, sizeof what, "%s: %s", op, role);
    if (d->addr == UINT32_MAX) {
        wf_pe_fail(pe, WF_EUSAGE, "%s: invalid memory DSD", what);
        return -1;
    }
    if (d->esize != esize) {
        wf_pe_fail(pe, WF_EUSAGE, "%s: memory DSD has %d-byte elements, the op needs %d", what, d->esize, esize);
        return -1;
    }
    int64_t a0, a1;
    dsd_span(d, esize, &a0, &a1);
    if (!span_ok(pe, d, a0, a1) || (d->n && (a0 < pe->img->sram_lo || a1 > pe->img->sram_hi))) {
        snprintf(what, sizeof what, "%s: %s", op, role);
        span_fail(pe, d, a0, a1, what);
        return -1;
    }
    if (pe_sram_touch(pe)) return -1;
    c->p = pe->sram + (d->addr - pe->img->sram_lo);
    c->k0 = 0;
    c->len0 = d->len[0] ? d->len[0] : 1;
    /* within the SRAM bounds just checked, so it fits 32 bits; unused with one element */
    int64_t st0 = (int64_t)d->stride[0] * esize;
    c->st0 = c->len0 > 1 && st0 >= INT32_MIN && st0 <= INT32_MAX ? (int32_t)st0 : 0;
    for (int i = 1; i < 4; i++) {
        x->k[i - 1] = 0;
        x->len[i - 1] = d->len[i] ? d->len[i] : 1;
        x->st[i - 1] = (int64_t)d->stride[i] * esize;
    }
    return 0;
}

static int bind(wf_pe *pe, const wf_dsd *d, int esize, wf_operand *o, wf_dims *x, const char *op,
                const char *role) {
    memset(o, 0, sizeof *o);
    memset(x, 0, sizeof *x);
    o->kind = d->kind;
    o->color = d->color;
    o->bits = d->bits;
    if (d->kind == WF_DSD_MEM) return bind_mem(pe, d, esize, o, x, op, role);
    return 0;
}

/* ---- issue ------------------------------------------------------------------------------- */
/* A fresh chunk of ops for band b (under the fabric lock: bands of other
** threads may be adding chunks too; existing chunks never move). */
static int op_grow(wf_fabric *f, wf_band *bd) {
    wf_err e = {0};
    wf_op *c = NULL;
    uint32_t base = 0;
    pthread_mutex_lock(&f->mu);
    if (f->nopch < OP_MAX_CHUNKS && (c = wf_calloc(f->heap, OP_CHUNK * sizeof *c, "fabric ops", &e))) {
        base = f->nopch * OP_CHUNK;
        f->opch[f->nopch++] = c;
    }
    pthread_mutex_unlock(&f->mu);
    if (!c) {
        if (e.code) fabric_fail(f, WF_ENOMEM, "%s", e.msg);
        else fabric_fail(f, WF_ENOMEM, "fabric: more than %u async ops in flight", OP_MAX_CHUNKS * OP_CHUNK);
        return 0;
    }
    for (uint32_t i = OP_CHUNK; i-- > (base ? 0u : 1u);) { /* op 0 is never used */
        c[i].next = bd->op_free;
        bd->op_free = base + i;
    }
    return 1;
}

uint32_t op_new(wf_fabric *f, wf_pe *pe) {
    wf_band *bd = &f->band[pe->band];
    if (bd->op_free == NO_OP && !op_grow(f, bd)) return NO_OP;
    uint32_t oi = bd->op_free;
    wf_op *o = op_at(f, oi);
    bd->op_free = o->next;
    memset(o, 0, sizeof *o);
    o->pe = pe;
    o->seq = pe->op_seq++;
    return oi;
}

void op_release(wf_fabric *f, uint32_t oi) {
    wf_op *o = op_at(f, oi);
    wf_band *bd = &f->band[o->pe->band];
    wf_free(f->heap, o->inj);
    o->inj = NULL;
    o->next = bd->op_free;
    bd->op_free = oi;
}

static void op_activate(wf_fabric *f, uint32_t oi) {
    wf_op *o = op_at(f, oi);
    if (o->active) return;
    o->active = 1;
    wf_pe *pe = o->pe;
    o->anext = pe->aop;
    pe->aop = oi;
    if (!pe->in_olist) {
        pe->in_olist = 1;
        list_add(f, pe->band, pe->edge ? L_OPE_EDGE : L_OPE, pe->idx);
    }
}

/* Takes an active op off its PE's chain (it completes outside a step). */
static void op_unlink(wf_fabric *f, uint32_t oi) {
    wf_op *o = op_at(f, oi);
    uint32_t *p = &o->pe->aop;
    while (*p != NO_OP && *p != oi) p = &op_at(f, *p)->anext;
    if (*p == oi) *p = o->anext;
    o->active = 0;
}

/* Element width of the op's destination and source a (*esize) and source b
** (*esize_b: all ops but fmachs read b as they write dst). */
static void count_width(const wf_fabric *f, int code, uint32_t *w, int *esize, int *esize_b) {
    const wf_cost_model *cm = &f->cm;
    *esize_b = code == OP_FMACHS ? 2 : 0;
    switch (code) {
    case OP_FMACS: *w = cm->w_f32_fma; *esize = 4; break;
    case OP_FADDS: case OP_FSUBS: *w = cm->w_f32_add; *esize = 4; break;
    case OP_FMULS: *w = cm->w_f32_mul; *esize = 4; break;
    case OP_MOV32: case OP_FMOVS: *w = cm->w_mov32; *esize = 4; break;
    case OP_MOV16: *w = cm->w_mov16; *esize = 2; break;
    case OP_FMACH: *w = cm->w_f16_fma; *esize = 2; break;
    case OP_FADDH: *w = cm->w_f16_add; *esize = 2; break;
    case OP_FMULH: *w = cm->w_f16_mul; *esize = 2; break;
    case OP_FMACHS: *w = cm->w_f16_fma; *esize = 4; break; /* fp16 products at the fp16 rate (wf_cost_model) */
    default: *w = 1; *esize = 4;
    }
    if (!*esize_b) *esize_b = *esize;
}

/* Fast path of the memory-only loop for 1-D fp32/32-bit operands: plain
** strided loops, one per op (a scalar is a stride-0 operand), straight from
** the DSDs, without the general cursors. Same float expressions as elem(),
** so the same bits; test_ops.c checks both against the reference. */
static void mem_loop(int code, uint8_t *pd, int64_t dd, const uint8_t *pa, int64_t da, const uint8_t *pb,
                     int64_t db, uint32_t n, uint32_t sbits) {
    float sv = wf_bits_f32(sbits);
    float x, y, r;
#define MEM_LOOP(EXPR)                                                  \
    for (uint32_t i = 0; i < n; i++) {                                  \
        memcpy(&x, pa + (int64_t)i * da, 4);                            \
        memcpy(&y, pb + (int64_t)i * db, 4);                            \
        r = (EXPR);                                                     \
        memcpy(pd + (int64_t)i * dd, &r, 4);                            \
    }
    switch (code) {
    case OP_FMACS: MEM_LOOP(x + y * sv) break;
    case OP_FADDS: MEM_LOOP(x + y) break;
    case OP_FSUBS: MEM_LOOP(x - y) break;
    case OP_FMULS: MEM_LOOP(x * y) break;
    default: /* MOV32 / FMOVS: bit copy */
        for (uint32_t i = 0; i < n; i++) memmove(pd + (int64_t)i * dd, pa + (int64_t)i * da, 4);
        break;
    }
#undef MEM_LOOP
    (void)y;
}

/* What bind() would make of a 1-D 32-bit memory DSD of a PE with backed
** SRAM, without the general cursor: its first byte and byte stride. NULL
** when bind() must decide: other shapes, and every error (bind() then
** reports it). */
static inline uint8_t *mem1d(const wf_pe *pe, const wf_dsd *d, int64_t *st) {
    if (d->kind != WF_DSD_MEM || d->esize != 4 || d->addr == UINT32_MAX || d->len[1] > 1 || d->len[2] > 1 ||
        d->len[3] > 1)
        return NULL;
    int64_t span = (int64_t)(d->len[0] ? d->len[0] - 1 : 0) * d->stride[0] * 4;
    int64_t a0 = (int64_t)d->addr + (span < 0 ? span : 0), a1 = (int64_t)d->addr + (span > 0 ? span : 0) + 4;
    if (d->n && (a0 < pe->img->sram_lo || a1 > pe->img->sram_hi || !span_ok(pe, d, a0, a1))) return NULL;
    *st = d->len[0] > 1 ? (int64_t)d->stride[0] * 4 : 0;
    return pe->sram + (d->addr - pe->img->sram_lo);
}

/* The memory-only fp32 ops on 1-D operands (a scalar is a stride-0 one),
** computed straight from the DSDs; 0 when it does not apply. */
static int mem_direct(wf_pe *pe, int code, const wf_dsd *dst, const wf_dsd *a, const wf_dsd *b, int nsrc,
                      uint32_t sbits) {
    if ((code > OP_MOV32 && code != OP_FMOVS) || (!pe->sram && pe_sram_touch(pe))) return 0;
    const wf_dsd *src[2] = {a, nsrc > 1 ? b : NULL};
    uint32_t bits[2] = {0, 0};
    const uint8_t *ps[2];
    int64_t ds[2] = {0, 0}, dd;
    uint8_t *pd = mem1d(pe, dst, &dd);
    if (!pd) return 0;
    for (int i = 0; i < 2; i++) {
        if (!src[i] || src[i]->kind == WF_DSD_SCALAR) {
            bits[i] = src[i] ? src[i]->bits : 0;
            ps[i] = (const uint8_t *)&bits[i];
        } else if (!(ps[i] = mem1d(pe, src[i], &ds[i]))) {
            return 0;
        }
    }
    mem_loop(code, pd, dd, ps[0], ds[0], ps[1], ds[1], dst->n, sbits);
    return 1;
}

/* An op issued. nsrc: how many of a, b are real operands (mov: 1). nm names
** it in errors: the op's own name, or the call that made it (wf_send is a
** mov32 to the fabric: its errors say "send"). */
static void issue_as(wf_pe *pe, const char *nm, int code, const wf_dsd *dst, const wf_dsd *a, const wf_dsd *b,
                     int nsrc, uint32_t sbits, wf_async as);
static void issue(wf_pe *pe, int code, const wf_dsd *dst, const wf_dsd *a, const wf_dsd *b, int nsrc,
                  uint32_t sbits, wf_async as) {
    issue_as(pe, op_names[code], code, dst, a, b, nsrc, sbits, as);
}
static void issue_as(wf_pe *pe, const char *nm, int code, const wf_dsd *dst, const wf_dsd *a, const wf_dsd *b,
                     int nsrc, uint32_t sbits, wf_async as) {
    wf_fabric *f = pe->f;
    if (pe->cur_task < 0) {
        wf_pe_fail(pe, WF_EUSAGE, "%s: DSD ops may only be issued inside a task", nm);
        return;
    }
    pe->st.ops++;
    if (as.async && as.action != WF_DONE_NONE) { /* the task its completion names, checked here, at the op */
        const char *verb = as.action == WF_DONE_ACTIVATE ? "activates" : "unblocks";
        if (as.task < 0 || as.task >= WF_FABRIC_TASKS) {
            wf_pe_fail(pe, WF_EUSAGE, "%s: its completion %s task ID %d, expected 0..%d", nm, verb, (int)as.task,
                       WF_FABRIC_TASKS - 1);
            return;
        }
        if (pe->prog && !pe->prog->fn[as.task]) {
            wf_pe_fail(pe, WF_EUSAGE, "%s: its completion %s task %d, which the kernel does not have", nm, verb,
                       (int)as.task);
            return;
        }
    }
    uint32_t width;
    int esize, esize_b;
    count_width(f, code, &width, &esize, &esize_b);
    if (dst->kind != WF_DSD_MEM && dst->kind != WF_DSD_FABOUT) {
        wf_pe_fail(pe, WF_EUSAGE, "%s: destination must be a memory or fabric-out DSD", nm);
        return;
    }
    const wf_dsd *src[2] = {a, b};
    int nfabin = 0, in_color = 255;
    uint32_t n = dst->n;
    for (int i = 0; i < nsrc; i++) {
        if (src[i]->kind == WF_DSD_FABOUT) {
            wf_pe_fail(pe, WF_EUSAGE, "%s: a fabric-out DSD cannot be a source", nm);
            return;
        }
        if (src[i]->kind == WF_DSD_FABIN) {
            nfabin++;
            in_color = src[i]->color;
        }
        if (src[i]->kind != WF_DSD_SCALAR && src[i]->n != n) {
            wf_pe_fail(pe, WF_EUSAGE, "%s: operand lengths differ: destination %u, source %d has %u", nm, n,
                       i + 1, src[i]->n);
            return;
        }
    }
    if (nfabin > 1) {
        wf_pe_fail(pe, WF_EUSAGE, "%s: at most one fabric-in operand per op", nm);
        return;
    }
    int out_color = dst->kind == WF_DSD_FABOUT ? dst->color : 255;
    int colors[2] = {in_color, out_color};
    for (int i = 0; i < 2; i++) {
        if (colors[i] == 255) continue;
        if (colors[i] >= WF_FABRIC_MEMCPY_COLOR) {
            wf_pe_fail(pe, WF_ECOLOR, "%s: color %d is not usable by kernels (0..20; 21-23 are memcpy's)", nm,
                       colors[i]);
            return;
        }
        wf_cslot *s = slot_of(pe, colors[i]);
        if (i == 0 ? (!s || s->iq < 0) : (!s || s->oq < 0)) {
            wf_pe_fail(pe, WF_ECOLOR, "%s: color %d: the PE has no %s queue for it (%s)", nm, colors[i],
                       i == 0 ? "input" : "output",
                       i == 0 ? "route the color to RAMP or declare a data task" : "route the color from RAMP");
            return;
        }
        const wf_dsd *fd = i == 0 ? (a->kind == WF_DSD_FABIN ? a : b) : dst;
        if (check_dir(pe, nm, fd, s)) return;
    }
    int fabric = in_color != 255 || out_color != 255;
    wf_operand od, oa, ob;
    wf_dims x[3]; /* dst, a, b */
    /* memory only, 1-D fp32: computed here, no cursors */
    int direct = !fabric && mem_direct(pe, code, dst, a, b, nsrc, sbits);
    if (!direct) {
        if (bind(pe, dst, esize, &od, &x[0], nm, "destination") ||
            bind(pe, a, esize, &oa, &x[1], nm, nsrc > 1 ? "source a" : "source") ||
            (nsrc > 1 && bind(pe, b, esize_b, &ob, &x[2], nm, "source b")))
            return;
        if (nsrc < 2) memset(&ob, 0, sizeof ob), memset(&x[2], 0, sizeof x[2]), ob.kind = WF_DSD_SCALAR;
    }
    if (!fabric) {
        /* memory only: compute now, charge analytically */
        if (!direct)
        for (uint32_t i = 0; i < n; i++) {
            uint32_t va = oa.kind == WF_DSD_MEM ? cur_load(&oa, esize) : oa.bits;
            uint32_t vb = ob.kind == WF_DSD_MEM ? cur_load(&ob, esize_b) : ob.bits;
            cur_store(&od, esize, elem(code, va, vb, sbits));
            cur_next(&od, &x[0]);
            if (oa.kind == WF_DSD_MEM) cur_next(&oa, &x[1]);
            if (ob.kind == WF_DSD_MEM) cur_next(&ob, &x[2]);
        }
        uint64_t cost = (n + width - 1) / width;
        if (f->cm.bank_conflict && nsrc > 1 && a->kind == WF_DSD_MEM && b->kind == WF_DSD_MEM &&
            a->addr / f->cm.bank_bytes == b->addr / f->cm.bank_bytes) {
            uint64_t extra = (uint64_t)f->cm.bank_conflict * ((n + width - 1) / width);
            cost += extra;
            pe->st.bank_ops++;
            pe->st.bank_cycles += extra;
        }
        pe->tlocal += f->cm.dsd_setup;
        if (!as.async) {
            pe->tlocal += cost;
            return;
        }
        uint32_t oi = op_new(f, pe);
        if (oi == NO_OP) return;
        wf_op *o = op_at(f, oi);
        o->pe = pe;
        o->code = (uint8_t)code;
        o->action = as.action;
        o->task = as.task;
        o->site = wf_site_file;
        o->site_line = wf_site_line;
        o->n = o->i = n;
        o->in_color = o->out_color = 255;
        o->start = pe->tlocal;
        ev_push(f, pe->tlocal + cost, EV_OP_DONE, oi);
        return;
    }
    if (in_color != 255 && !as.async) {
        wf_pe_fail(pe, WF_EUSAGE, "%s: color %d: a fabric-in op must be async (its data is not there "
                   "while the task runs)", nm, in_color);
        return;
    }
    uint32_t oi = op_new(f, pe);
    if (oi == NO_OP) return;
    wf_op *o = op_at(f, oi);
    o->pe = pe;
    o->code = (uint8_t)code;
    o->action = as.action;
    o->task = as.task;
    o->site = wf_site_file;
    o->site_line = wf_site_line;
    o->in_color = (uint8_t)in_color;
    o->out_color = (uint8_t)out_color;
    o->ctrl = dst->ctrl;
    o->esize = (uint8_t)esize;
    o->esize_b = (uint8_t)esize_b;
    o->n = n;
    o->sbits = sbits;
    o->dst = od;
    o->a = oa;
    o->b = ob;
    o->xdst = x[0];
    o->xa = x[1];
    o->xb = x[2];
    pe->tlocal += f->cm.dsd_setup;
    o->start = pe->tlocal;
    op_enqueue(f, pe, oi);
}

/* Appends op oi to its queue; schedules its start if it is the head. */
void op_enqueue(wf_fabric *f, wf_pe *pe, uint32_t oi) {
    wf_op *o = op_at(f, oi);
    wf_cslot *s;
    uint32_t *head, *tail;
    if (o->in_color != 255) {
        s = slot_of(pe, o->in_color);
        head = &s->in_ops;
        tail = &slot_cold(pe, s)->in_ops_tail;
    } else {
        s = slot_of(pe, o->out_color);
        head = &s->out_ops;
        tail = &slot_cold(pe, s)->out_ops_tail;
    }
    o->next = NO_OP;
    if (*head == NO_OP) {
        *head = *tail = oi;
        if (o->n == 0) {
            ev_push(f, o->start, EV_OP_START, oi); /* completes at start */
        } else if (o->start <= f->now) {
            op_activate(f, oi);
        } else {
            ev_push(f, o->start, EV_OP_START, oi);
        }
    } else {
        op_at(f, *tail)->next = oi;
        *tail = oi;
    }
}

static uint32_t *queue_head(wf_fabric *f, wf_pe *pe, const wf_op *o) {
    if (o->code == OP_INJECT) return NULL;
    wf_cslot *s = slot_of(pe, o->in_color != 255 ? o->in_color : o->out_color);
    (void)f;
    return o->in_color != 255 ? &s->in_ops : &s->out_ops;
}

static void op_complete(wf_fabric *f, uint32_t oi) {
    wf_op *o = op_at(f, oi);
    wf_pe *pe = o->pe;
    uint64_t now = f->now;
    uint32_t *head = queue_head(f, pe, o);
    uint64_t el = now + 1 > o->start ? now + 1 - o->start : 0;
    if (el > o->n) pe->st.stalled += el - o->n;
    if (f->trace && trace_on(f, pe->x, pe->y, o->start))
        emit(f, WF_TRACE_OP, o->in_color != 255 ? o->in_color : o->out_color, o->code, 0, pe->x, pe->y, o->n,
             o->start, el);
    int action = o->action, task = o->task;
    uint32_t next = o->next;
    int in_color = o->in_color;
    if (head) {
        WF_ASSERT(*head == oi);
        *head = next;
        if (next != NO_OP) {
            wf_op *nx = op_at(f, next);
            if (nx->n == 0 || nx->start > now) ev_push(f, nx->start > now ? nx->start : now, EV_OP_START, next);
            else op_activate(f, next);
        }
    }
    op_release(f, oi);
    core_done_action(f, pe, action, task);
    if (in_color != 255 && next == NO_OP) {
        wf_cslot *s = slot_of(pe, in_color);
        if (s->in.n) wake_pick(pe); /* the data task may take the rest */
    }
}

void op_start_event(wf_fabric *f, uint32_t oi) {
    wf_op *o = op_at(f, oi);
    wf_pe *pe = o->pe;
    uint32_t *head = queue_head(f, pe, o);
    if (head && *head != oi) return; /* not its turn yet: started when its predecessor completes */
    if (o->n == 0) {
        op_complete(f, oi);
        return;
    }
    op_activate(f, oi);
}

void op_done_event(wf_fabric *f, uint32_t oi) {
    wf_op *o = op_at(f, oi);
    wf_pe *pe = o->pe;
    if (f->trace && trace_on(f, pe->x, pe->y, o->start))
        emit(f, WF_TRACE_OP, 255, o->code, 0, pe->x, pe->y, o->n, o->start, f->now - o->start);
    int action = o->action, task = o->task;
    op_release(f, oi);
    core_done_action(f, pe, action, task);
}

/* ---- wakers (router.c / core.c call these) ---------------------------------------------- */
void slot_in_arrived_slow(wf_fabric *f, wf_pe *pe, wf_cslot *s) {
    if (s->in_ops != NO_OP) {
        wf_op *o = op_at(f, s->in_ops);
        if (!o->active && o->start <= f->now && o->n) op_activate(f, s->in_ops);
    } else if (pe->prog && (pe->prog->data_colors >> s->color & 1)) {
        wake_pick(pe);
    }
}

void slot_out_popped_slow(wf_fabric *f, wf_pe *pe, wf_cslot *s) {
    (void)pe;
    if (s->out_waiter != NO_OP) {
        uint32_t w = s->out_waiter;
        s->out_waiter = NO_OP;
        op_activate(f, w);
    }
    if (s->out_ops != NO_OP) {
        wf_op *o = op_at(f, s->out_ops);
        if (!o->active && o->start <= f->now && o->n) op_activate(f, s->out_ops);
    }
}

/* ---- one microthread cycle ---------------------------------------------------------------- */
/* Room for a result computed now. It enters the output queue at
** now + op_latency: with op_latency >= 1 a slot the router freed this cycle
** is already free then, so only wavelets still queued count. */
static int out_room(const wf_fabric *f, const wf_fifo *q, uint64_t now) {
    return f->cm.op_latency ? (int)q->cap - (int)q->n : fifo_space(q, now);
}

/* One element: read the sources (fw = the fabric-in wavelet, if any), compute,
** write memory or push onto the output queue. */
static WF_HOT_INLINE void op_element(wf_fabric *f, wf_op *o, wf_pe *pe, wf_cslot *so, uint32_t fw,
                                     uint64_t now, uint64_t at) {
    int es = o->esize;
    uint32_t mask = es == 2 ? 0xffffu : 0xffffffffu;
    uint32_t va, vb;
    if (o->a.kind == WF_DSD_MEM) va = cur_load(&o->a, es);
    else if (o->a.kind == WF_DSD_FABIN) va = fw & mask;
    else va = o->a.bits;
    if (o->b.kind == WF_DSD_MEM) vb = cur_load(&o->b, o->esize_b);
    else if (o->b.kind == WF_DSD_FABIN) vb = o->esize_b == 2 ? fw & 0xffffu : fw;
    else vb = o->b.bits;
    /* the common fp32 add and moves inline, the rest through elem() */
    uint32_t r = o->code == OP_FADDS ? wf_f32_bits(f32(va) + f32(vb))
               : o->code == OP_FMOVS || o->code == OP_MOV32 ? va : elem(o->code, va, vb, o->sbits);
    mark_active(pe, at);
    if (so) {
        fifo_push(&so->out, r, now + f->cm.op_latency + f->cm.ramp_latency, o->ctrl);
        uint32_t old = pe->rpend;
        pe->rpend = old | 1u << so->color;
        wake_router_push(f, pe, old);
    } else {
        cur_store(&o->dst, es, r);
        cur_next(&o->dst, &o->xdst);
    }
    if (o->a.kind == WF_DSD_MEM) cur_next(&o->a, &o->xa);
    if (o->b.kind == WF_DSD_MEM) cur_next(&o->b, &o->xb);
}

/* Cut-through (fabric_int.h) of an op that is not a plain receive into
** memory: the element through op_element. */
void op_cut_through_elem(wf_fabric *f, wf_pe *pe, wf_op *o, uint32_t data, uint64_t now, uint64_t at) {
    op_element(f, o, pe, NULL, data, now, at);
}

void op_finish_event(wf_fabric *f, uint32_t oi) {
    if (op_at(f, oi)->active) op_unlink(f, oi);
    op_complete(f, oi);
}

int op_step(wf_fabric *f, uint32_t oi, wf_op *o) {
    wf_pe *pe = o->pe;
    uint64_t now = f->now;
    if (o->code == OP_INJECT) {
        wf_cslot *s = slot_of(pe, o->in_color);
        if (fifo_space(&s->in, now) <= 0) return 1; /* host injection polls: few of them, short-lived */
        fifo_push(&s->in, o->inj[o->i++], now + f->cm.ramp_latency, 0);
        pe->st.wav_in++;
        note_progress();
        if (f->trace && trace_on(f, pe->x, pe->y, now))
            emit(f, WF_TRACE_DELIVER, s->color, WF_PORT_RAMP, 0, pe->x, pe->y, o->inj[o->i - 1], now, 1);
        slot_in_arrived(f, pe, s);
        if (o->i < o->n) return 1;
        o->active = 0;
        op_release(f, oi);
        return 0;
    }
    if (o->i >= o->n) { /* finished by cut-through; EV_OP_FINISH completes it */
        o->active = 0;
        return 0;
    }
    wf_cslot *si = o->in_color != 255 ? slot_of(pe, o->in_color) : NULL;
    wf_cslot *so = o->out_color != 255 ? slot_of(pe, o->out_color) : NULL;
    if (si) {
        if (!si->in.n) { /* sleep until the router delivers */
            if (f->ref_mode) return 1;
            o->active = 0;
            return 0;
        }
        if (!is_ready(fifo_head(&si->in)->ready, now) || (o->i && o->last_at >= now)) return 1;
    }
    if (so && out_room(f, &so->out, now) <= 0) {
        /* a slot freed this cycle is usable next cycle: poll; else sleep until the
        ** router drains the queue (ops queued on this color are its out_ops; a
        ** fabric-in -> fabric-out op registers as the queue's waiter) */
        if (f->ref_mode || (!f->cm.op_latency && so->out.lag_at == (uint32_t)now && so->out.lag_n) ||
            (si && so->out_waiter != NO_OP && so->out_waiter != oi)) { /* one waiter slot: others poll */
            return 1;
        }
        if (si) so->out_waiter = oi;
        o->active = 0;
        return 0;
    }
    uint32_t fw = si ? fifo_pop(&si->in, now).data : 0;
    o->last_at = now;
    op_element(f, o, pe, so, fw, now, now);
    if (si) slot_in_popped(f, pe, si);
    note_progress();
    if (++o->i < o->n) return 1;
    o->active = 0;
    op_complete(f, oi);
    return 0;
}

/* ---- public ops -------------------------------------------------------------------------------- */
void wf_fmacs(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, float s, wf_async as) {
    issue(pe, OP_FMACS, &dst, &a, &b, 2, wf_f32_bits(s), as);
}
void wf_fadds(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, wf_async as) { issue(pe, OP_FADDS, &dst, &a, &b, 2, 0, as); }
void wf_fsubs(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, wf_async as) { issue(pe, OP_FSUBS, &dst, &a, &b, 2, 0, as); }
void wf_fmuls(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, wf_async as) { issue(pe, OP_FMULS, &dst, &a, &b, 2, 0, as); }
void wf_fmovs(wf_pe *pe, wf_dsd dst, wf_dsd src, wf_async as) { issue(pe, OP_FMOVS, &dst, &src, &src, 1, 0, as); }
void wf_mov32(wf_pe *pe, wf_dsd dst, wf_dsd src, wf_async as) { issue(pe, OP_MOV32, &dst, &src, &src, 1, 0, as); }
void wf_mov16(wf_pe *pe, wf_dsd dst, wf_dsd src, wf_async as) { issue(pe, OP_MOV16, &dst, &src, &src, 1, 0, as); }
void wf_fmach(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, uint16_t s, wf_async as) {
    issue(pe, OP_FMACH, &dst, &a, &b, 2, s, as);
}
void wf_fmachs(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, uint16_t s, wf_async as) {
    issue(pe, OP_FMACHS, &dst, &a, &b, 2, s, as);
}
void wf_faddh(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, wf_async as) { issue(pe, OP_FADDH, &dst, &a, &b, 2, 0, as); }
void wf_fmulh(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, wf_async as) { issue(pe, OP_FMULH, &dst, &a, &b, 2, 0, as); }

void wf_send(wf_pe *pe, int color, uint32_t data) {
    wf_dsd d = wf_dsd_fabout(color, 1), s = wf_dsd_scalar_u32(data);
    issue_as(pe, "send", OP_MOV32, &d, &s, &s, 1, 0, wf_async_none());
}
void wf_send_ctrl(wf_pe *pe, int color, uint32_t data) {
    wf_dsd d = wf_dsd_fabout(color, 1), s = wf_dsd_scalar_u32(data);
    d.ctrl = 1;
    issue_as(pe, "send_ctrl", OP_MOV32, &d, &s, &s, 1, 0, wf_async_none());
}

/* ---- host injection ------------------------------------------------------------------------------ */
wf_status wf_fabric_inject(wf_fabric *f, int x, int y, int color, const uint32_t *data, uint32_t n, uint64_t at,
                           wf_err *err) {
    wf_status st = wf_fabric_load(f, err);
    if (st) return st;
    wf_pe *pe = pe_at(f, x, y);
    wf_cslot *s = pe && color >= 0 && color < WF_FABRIC_COLORS ? slot_of(pe, color) : NULL;
    if (!s || s->iq < 0)
        return WF_FAIL(err, WF_ECOLOR, "fabric: inject: PE(%d,%d): no input queue for color %d (declare a "
                       "data task or route the color to RAMP)", x, y, color);
    if (n == 0) return WF_OK;
    uint32_t oi = op_new(f, pe);
    if (oi == NO_OP) goto nomem;
    wf_op *o = op_at(f, oi);
    o->inj = wf_alloc(f->heap, (size_t)n * 4, "inject data", err);
    if (!o->inj) {
        op_release(f, oi);
        return err ? err->code : WF_ENOMEM;
    }
    memcpy(o->inj, data, (size_t)n * 4);
    o->pe = pe;
    o->code = OP_INJECT;
    o->in_color = (uint8_t)color;
    o->out_color = 255;
    o->n = n;
    o->start = at < f->now ? f->now : at;
    ev_push(f, o->start, EV_OP_START, oi);
    return WF_OK;
nomem:
    if (err) *err = f->ferr;
    f->failed = 0;
    return WF_ENOMEM;
}

unsigned op_step_pe_many(wf_fabric *f, wf_pe *pe) {
    uint32_t head = pe->aop, sorted = NO_OP;
    pe->aop = NO_OP;
    /* the snapshot, sorted by issue order on this PE (chains are short:
    ** insertion); not by op index, which depends on the bands' free lists */
    while (head != NO_OP) {
        uint32_t oi = head;
        head = op_at(f, oi)->anext;
        uint16_t seq = op_at(f, oi)->seq;
        uint32_t *p = &sorted;
        while (*p != NO_OP && (int16_t)(uint16_t)(op_at(f, *p)->seq - seq) < 0) p = &op_at(f, *p)->anext;
        op_at(f, oi)->anext = *p;
        *p = oi;
    }
    /* ops activated while these step go to pe->aop; the kept ones go in front */
    uint32_t kept = NO_OP, *tail = &kept;
    unsigned n = 0;
    while (sorted != NO_OP) {
        uint32_t oi = sorted;
        wf_op *o = op_at(f, oi);
        sorted = o->anext;
        n++;
        if (op_step(f, oi, o)) {
            *tail = oi;
            tail = &o->anext;
            *tail = NO_OP;
        }
    }
    if (kept != NO_OP) {
        *tail = pe->aop;
        pe->aop = kept;
    }
    return n;
}
