/* fabric.c — building and owning a fabric: the sparse PE array, the arena
** small state comes from, configuration (routes, images), load (queue
** assignment, kernel init), lazy SRAM, statistics and the trace hook.
** The dispatch loop is in run.c; routers, cores and ops in their own files. */
#include "fabric_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void *arena_get(wf_fabric *f, wf_arena *a, size_t n, wf_err *err) {
    n = (n + 15) & ~(size_t)15;
    /* big objects (PE blocks) start on a cache line: the hot fields of a PE
    ** then span as few lines as fabric_int.h lays out */
    size_t pad = n >= 256 && a->left ? (size_t)(-(uintptr_t)a->bump & 63) : 0;
    if (pad && pad < a->left) {
        a->bump += pad;
        a->left -= pad;
    }
    if (n > a->left) {
        size_t sz = n > a->chunk ? n : a->chunk;
        if (a->n == a->cap) {
            size_t nc = a->cap ? a->cap * 2 : 64;
            uint8_t **c = wf_realloc(f->heap, a->chunks, nc * sizeof *c, "fabric arena index", err);
            if (!c) return NULL;
            a->chunks = c;
            a->cap = nc;
        }
        uint8_t *p = wf_alloc(f->heap, sz, "fabric arena", err);
        if (!p) return NULL;
        memset(p, 0, sz);
        a->chunks[a->n++] = p;
        a->bump = p;
        a->left = sz;
    }
    void *r = a->bump;
    a->bump += n;
    a->left -= n;
    return r;
}

void arena_release(wf_fabric *f, wf_arena *a) {
    for (size_t i = 0; i < a->n; i++) wf_free(f->heap, a->chunks[i]);
    wf_free(f->heap, a->chunks);
    a->chunks = NULL;
    a->n = a->cap = 0;
    a->bump = NULL;
    a->left = 0;
}

wf_status wf_fabric_new(int w, int h, const wf_cost_model *cm, wf_heap *heap, wf_fabric **out,
                        wf_err *err) {
    *out = NULL;
    if (w < 1 || h < 1 || w > WF_FABRIC_MAX_W || h > WF_FABRIC_MAX_H)
        return WF_FAIL(err, WF_ERANGE, "fabric: size %dx%d, expected 1x1 .. %dx%d", w, h,
                       WF_FABRIC_MAX_W, WF_FABRIC_MAX_H);
    if (!cm) cm = &wf_cost_wse2;
    if (cm->hop_latency < 1 || cm->hop_latency > 64 || cm->ramp_latency < 1 || cm->ramp_latency > 64 ||
        cm->op_latency > 64 || cm->router_depth < 1 || cm->router_depth > 64 || cm->task_switch < 1 || cm->w_f16_add < 1 ||
        cm->w_f16_mul < 1 || cm->w_f16_fma < 1 || cm->w_f32_add < 1 || cm->w_f32_mul < 1 ||
        cm->w_f32_fma < 1 || cm->w_mov32 < 1 || cm->w_mov16 < 1 || cm->bank_bytes < 4 ||
        cm->io_words_per_cycle < 1 || cm->sram_bytes < 64)
        return WF_FAIL(err, WF_EUSAGE, "fabric: cost model: latencies, depths, widths and I/O rate "
                                       "must be >= 1 (latencies <= 64, op_latency 0..64)");
    for (int i = 0; i < WF_FABRIC_IQ; i++)
        if (cm->iq_depth[i] < 1) return WF_FAIL(err, WF_EUSAGE, "fabric: cost model: iq_depth[%d] is 0", i);
    for (int i = 0; i < WF_FABRIC_OQ; i++)
        if (cm->oq_depth[i] < 1) return WF_FAIL(err, WF_EUSAGE, "fabric: cost model: oq_depth[%d] is 0", i);
    wf_fabric *f = wf_calloc(heap, sizeof *f, "fabric", err);
    if (!f) return err ? err->code : WF_ENOMEM;
    pthread_mutex_init(&f->mu, NULL); /* before any failure: wf_fabric_free destroys it */
    f->w = w;
    f->h = h;
    f->cm = *cm;
    f->heap = heap;
    f->dbg_at = UINT64_MAX; /* no debugger */
    /* small fabrics: 1 MB chunks; big ones: 32 MB (transparent huge pages measured
    ** 3x slower here: page clearing dominated, so we do not ask for them) */
    f->arena.chunk = (size_t)w * h > 65536 ? (size_t)32 << 20 : (size_t)1 << 20;
    f->sram_arena.chunk = f->arena.chunk;
    f->pes = wf_calloc(heap, (size_t)w * h * sizeof *f->pes, "fabric PE index", err);
    if (!f->pes) goto fail;
    f->threads = 1;
    /* the cut of the rows into bands: several threads' until
    ** wf_fabric_set_threads (before any PE exists) or a run on another thread
    ** count recuts it (bands.c; results do not depend on it) */
    for (int b = 0; b < WF_FABRIC_MAX_BANDS; b++) f->band[b].op_free = NO_OP;
    fabric_cut(f, fabric_bands_for(f, 2));
    f->tw.x1 = w;
    f->tw.y1 = h;
    *out = f;
    return WF_OK;
fail:
    wf_fabric_free(f);
    return err ? err->code : WF_ENOMEM;
}

void wf_fabric_free(wf_fabric *f) {
    if (!f) return;
    fabric_pool_free(f);
    for (uint32_t k = 0; k < f->nopch; k++) {
        for (uint32_t i = 0; i < OP_CHUNK; i++) wf_free(f->heap, f->opch[k][i].inj);
        wf_free(f->heap, f->opch[k]);
    }
    arena_release(f, &f->arena);
    arena_release(f, &f->sram_arena);
    wf_free(f->heap, f->pes);
    wf_free(f->heap, f->xhops);
    wf_free(f->heap, f->statics.copy);
    snapshot_free(f);
    for (int b = 0; b < WF_FABRIC_MAX_BANDS; b++) { /* a band of an earlier cut may hold buffers */
        wf_band *bd = &f->band[b];
        for (int i = 0; i < L_COUNT; i++) wf_free(f->heap, bd->l[i].v);
        wf_free(f->heap, bd->heapv);
        wf_free(f->heap, bd->dv);
    }
    for (int i = 0; i < WF_FABRIC_MAX_THREADS; i++) wf_free(f->heap, f->tc[i].tmp);
    pthread_mutex_destroy(&f->mu);
    wf_free(f->heap, f);
}

int wf_fabric_w(const wf_fabric *f) { return f->w; }
int wf_fabric_h(const wf_fabric *f) { return f->h; }
const wf_cost_model *wf_fabric_cost(const wf_fabric *f) { return &f->cm; }
uint64_t wf_fabric_now(const wf_fabric *f) { return f->now; }
void wf_fabric_advance(wf_fabric *f, uint64_t cycles) { f->now += cycles; }
void wf_fabric_set_reference_mode(wf_fabric *f, int on) { f->ref_mode = on != 0; }

wf_status wf_fabric_capture(wf_fabric *f, int x, int y, int color, uint32_t *buf, uint32_t n, wf_err *err) {
    wf_status st = wf_fabric_load(f, err);
    if (st) return st;
    wf_pe *pe = pe_at(f, x, y);
    wf_cslot *s = pe && color >= 0 && color < WF_FABRIC_COLORS ? slot_of(pe, color) : NULL;
    if (!s || s->oq < 0)
        return WF_FAIL(err, WF_ECOLOR, "fabric: capture: PE(%d,%d): no output queue for color %d (route the "
                       "color from RAMP, e.g. wf_route_simple(WF_RAMP, 0))", x, y, color);
    wf_cslot_cold *c = slot_cold(pe, s);
    c->cap = buf;
    c->cap_n = buf ? n : 0;
    c->cap_i = 0;
    s->capture = buf != NULL;
    if (buf && s->out.n) { /* wavelets already waiting: the router takes them now */
        pe->rpend |= 1u << color;
        wake_router(f, pe);
    }
    return WF_OK;
}

uint32_t wf_fabric_captured(const wf_fabric *f, int x, int y, int color) {
    wf_pe *pe = pe_at(f, x, y);
    wf_cslot *s = pe && color >= 0 && color < WF_FABRIC_COLORS ? slot_of(pe, color) : NULL;
    return s ? slot_cold(pe, s)->cap_i : 0;
}
const char *wf_fabric_report(const wf_fabric *f) { return f->report; }

wf_pe *pe_get(wf_fabric *f, int x, int y, wf_err *err) {
    wf_pe **slot = &f->pes[(size_t)y * f->w + x];
    if (*slot) return *slot;
    wf_pe *pe = arena_alloc(f, sizeof *pe, err);
    if (!pe) return NULL;
    pe->f = f;
    pe->x = (int16_t)x;
    pe->y = (int16_t)y;
    pe->idx = (uint32_t)((size_t)y * f->w + x);
    fabric_place_pe(f, pe);
    memset(pe->cidx, -1, sizeof pe->cidx);
    pe->cur_task = pe->last_task = -1;
    *slot = pe;
    f->pes_used++;
    return pe;
}

static wf_cslot *slot_get(wf_fabric *f, wf_pe *pe, int color, wf_err *err) {
    wf_cslot *s = slot_of(pe, color);
    if (s) return s;
    uint8_t *raw = arena_alloc(f, (size_t)(pe->ncolors + 1) * sizeof(wf_cslot) + 63, err);
    if (!raw) return NULL;
    wf_cslot *ns = (wf_cslot *)(((uintptr_t)raw + 63) & ~(uintptr_t)63); /* slots are line-aligned */
    if (pe->ncolors) memcpy(ns, pe->slots, pe->ncolors * sizeof *ns); /* old copy stays in the arena */
    pe->slots = ns;
    s = &ns[pe->ncolors];
    memset(s, 0, sizeof *s);
    s->color = (uint8_t)color;
    s->iq = s->oq = -1;
    pe->cidx[color] = (int8_t)pe->ncolors++;
    return s;
}

static wf_status check_xy(const wf_fabric *f, int x, int y, const char *what, wf_err *err) {
    if (x < 0 || y < 0 || x >= f->w || y >= f->h)
        return WF_FAIL(err, WF_ERANGE, "fabric: %s: PE(%d,%d) is outside the %dx%d fabric", what, x, y,
                       f->w, f->h);
    if (f->loaded) return WF_FAIL(err, WF_EUSAGE, "fabric: %s: PE(%d,%d): fabric already loaded", what, x, y);
    return WF_OK;
}

wf_status wf_fabric_set_route(wf_fabric *f, int x, int y, int color, const wf_route *r, wf_err *err) {
    wf_status st = check_xy(f, x, y, "set_route", err);
    if (st) return st;
    if (color < 0 || color >= WF_FABRIC_COLORS)
        return WF_FAIL(err, WF_ECOLOR, "fabric: PE(%d,%d): color %d, expected 0..%d", x, y, color,
                       WF_FABRIC_COLORS - 1);
    int npos = r->npos ? r->npos : 1;
    if (npos > WF_FABRIC_SWITCH_POS || r->cur >= npos)
        return WF_FAIL(err, WF_EUSAGE, "fabric: PE(%d,%d): color %d: %d switch positions (current %d), "
                       "expected 1..3", x, y, color, npos, r->cur);
    for (int i = 0; i < npos; i++)
        if ((r->pos[i].rx | r->pos[i].tx) & ~0x1fu)
            return WF_FAIL(err, WF_EUSAGE, "fabric: PE(%d,%d): color %d: bad port mask", x, y, color);
    wf_pe *pe = pe_get(f, x, y, err);
    if (!pe) return err ? err->code : WF_ENOMEM;
    wf_cslot *s = slot_get(f, pe, color, err);
    if (!s) return err ? err->code : WF_ENOMEM;
    s->route = *r;
    s->route.npos = (uint8_t)npos;
    s->has_route = 1;
    s->feed = 0;
    for (int p = 0; p < npos; p++) s->feed |= (uint8_t)(s->route.pos[p].rx & (WF_N | WF_S | WF_E | WF_W));
    return WF_OK;
}

wf_status wf_fabric_set_link_hops(wf_fabric *f, int x, int y, int port, int hops, wf_err *err) {
    static const int ndx[4] = {0, 0, 1, -1}, ndy[4] = {-1, 1, 0, 0}, back[4] = {WF_PORT_S, WF_PORT_N, WF_PORT_W,
                                                                                WF_PORT_E};
    wf_status st = check_xy(f, x, y, "set_link_hops", err);
    if (st) return st;
    if (port < WF_PORT_N || port > WF_PORT_W)
        return WF_FAIL(err, WF_EUSAGE, "fabric: set_link_hops: PE(%d,%d): port %d, expected N, S, E or W", x, y, port);
    int nx = x + ndx[port], ny = y + ndy[port];
    if (nx < 0 || ny < 0 || nx >= f->w || ny >= f->h)
        return WF_FAIL(err, WF_ERANGE, "fabric: set_link_hops: PE(%d,%d): link %s leaves the %dx%d fabric", x, y,
                       wf_port_name(port), f->w, f->h);
    uint64_t lat = (uint64_t)(hops > 0 ? hops : 0) * f->cm.hop_latency;
    if (hops < 1 || lat > 255)
        return WF_FAIL(err, WF_ERANGE, "fabric: set_link_hops: PE(%d,%d): link %s: %d hops (%llu cycles), expected "
                       "1 .. 255 cycles in flight", x, y, wf_port_name(port), hops, (unsigned long long)lat);
    if (!f->xhops) {
        f->xhops = wf_calloc(f->heap, (size_t)f->w * f->h * 4, "fabric link hops", err);
        if (!f->xhops) return err ? err->code : WF_ENOMEM;
    }
    f->xhops[((size_t)y * f->w + x) * 4 + port] = (uint8_t)(hops - 1);
    f->xhops[((size_t)ny * f->w + nx) * 4 + back[port]] = (uint8_t)(hops - 1);
    uint32_t xl = (uint32_t)(hops - 1) * f->cm.hop_latency;
    if (xl > f->max_xlat) f->max_xlat = xl;
    return WF_OK;
}

wf_status wf_fabric_set_image(wf_fabric *f, int x, int y, const wf_pe_image *img, wf_err *err) {
    wf_status st = check_xy(f, x, y, "set_image", err);
    if (st) return st;
    if (img->sram_lo > img->sram_hi || img->sram_hi > f->cm.sram_bytes)
        return WF_FAIL(err, WF_ESRAM, "fabric: PE(%d,%d): SRAM range [%u,%u) exceeds %u bytes", x, y,
                       img->sram_lo, img->sram_hi, f->cm.sram_bytes);
    wf_pe *pe = pe_get(f, x, y, err);
    if (!pe) return err ? err->code : WF_ENOMEM;
    pe->img = img;
    return WF_OK;
}

static const wf_prog *prog_for(wf_fabric *f, const wf_pe_image *img, wf_err *err) {
    /* a hash of image pointers: a layout may give every PE its own image */
    size_t mask = f->prog_cap - 1;
    size_t hsh = ((uintptr_t)img >> 4) * 0x9E3779B97F4A7C15ull;
    if (f->prog_cap) {
        for (size_t i = hsh & mask;; i = (i + 1) & mask) {
            if (!f->prog_tab[i]) break;
            if (f->prog_tab[i]->img == img) return f->prog_tab[i];
        }
    }
    if (2 * (f->nprogs + 1) > f->prog_cap) { /* grow and rehash (old table stays in the arena) */
        size_t nc = f->prog_cap ? f->prog_cap * 2 : 64;
        wf_prog **t = arena_alloc(f, nc * sizeof *t, err);
        if (!t) return NULL;
        for (wf_prog *q = f->progs; q; q = q->next) {
            size_t j = (((uintptr_t)q->img >> 4) * 0x9E3779B97F4A7C15ull) & (nc - 1);
            while (t[j]) j = (j + 1) & (nc - 1);
            t[j] = q;
        }
        f->prog_tab = t;
        f->prog_cap = nc;
        mask = nc - 1;
    }
    wf_prog *p = arena_alloc(f, sizeof *p, err);
    if (!p) return NULL;
    p->img = img;
    const wf_kernel *k = img->kernel;
    for (int i = 0; k && i < k->ntasks; i++) {
        const wf_task_decl *t = &k->tasks[i];
        if (t->id < 0 || t->id >= WF_FABRIC_TASKS || !t->fn) {
            WF_FAIL(err, WF_EUSAGE, "fabric: kernel '%s': task %d: bad ID or no function", k->name, t->id);
            return NULL;
        }
        if (t->kind == WF_TASK_DATA && t->id >= WF_FABRIC_COLORS) {
            WF_FAIL(err, WF_EUSAGE, "fabric: kernel '%s': data task %d: ID must be a color 0..23",
                    k->name, t->id);
            return NULL;
        }
        p->fn[t->id] = t->fn;
        p->name[t->id] = t->name;
        p->kind[t->id] = (uint8_t)t->kind;
        if (t->kind == WF_TASK_DATA) p->data_colors |= 1u << t->id;
        if (t->kind == WF_TASK_CONTROL) p->ctrl_tasks |= 1ull << t->id;
        if (t->blocked) p->init_blocked |= 1ull << t->id;
    }
    p->next = f->progs;
    f->progs = p;
    size_t j = hsh & mask;
    while (f->prog_tab[j]) j = (j + 1) & mask;
    f->prog_tab[j] = p;
    f->nprogs++;
    return p;
}

/* Per-color queue capacities, decided at load. */
typedef struct { uint8_t rb, in, out; int8_t iq, oq; } caps;

/* The farthest entry from a queue header: every slot and cold half, then
** rings of at most 64 (router_depth) per color plus 255 per core queue. */
_Static_assert(WF_FABRIC_COLORS * (sizeof(wf_cslot) + sizeof(wf_cslot_cold)) +
                   (WF_FABRIC_COLORS * 64 + (WF_FABRIC_IQ + WF_FABRIC_OQ) * 255) * sizeof(wf_wv) < 65536,
               "wf_fifo.off: queue entries must lie within 64 KB of their header");
static void fifo_place(wf_fifo *q, wf_wv **next, unsigned cap) {
    WF_ASSERT(!cap || (uintptr_t)*next - (uintptr_t)q < 65536);
    q->off = cap ? (uint16_t)((uintptr_t)*next - (uintptr_t)q) : 0;
    *next += cap;
    q->cap = (uint8_t)cap;
    q->head = q->n = q->lag_n = 0;
    q->lag_at = UINT32_MAX;
}

/* Color c's input and output ports over every switch position of its
** route, and whether it needs an input / output queue: a route that
** delivers to the core (a data task too) / takes from it. */
static void slot_ports(const wf_pe *pe, int c, const wf_cslot *s, unsigned *rx, unsigned *tx, int *in, int *out) {
    *rx = *tx = 0;
    if (s->has_route)
        for (int p = 0; p < s->route.npos; p++) { *rx |= s->route.pos[p].rx; *tx |= s->route.pos[p].tx; }
    *in = (*tx & WF_RAMP) || (pe->prog && (pe->prog->data_colors >> c & 1));
    *out = (*rx & WF_RAMP) != 0;
}
/* The colors of pe that need an input (in) or output queue. */
static uint32_t queue_colors(const wf_pe *pe, int in) {
    uint32_t m = 0;
    for (int c = 0; c < WF_FABRIC_COLORS; c++) {
        unsigned rx, tx;
        int ni, no;
        if (pe->cidx[c] < 0) continue;
        slot_ports(pe, c, &pe->slots[pe->cidx[c]], &rx, &tx, &ni, &no);
        if (in ? ni : no) m |= 1u << c;
    }
    return m;
}
/* More colors need a queue of one kind than a PE has: all of them, and the
** first left without one. */
static wf_status queues_full(const wf_pe *pe, int in, int first, wf_err *err) {
    uint32_t m = queue_colors(pe, in);
    char list[128];
    size_t at = 0;
    list[0] = 0;
    for (uint32_t r = m; r && at < sizeof list; r &= r - 1)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%d", at ? ", " : "", __builtin_ctz(r));
    int have = in ? WF_FABRIC_IQ : WF_FABRIC_OQ;
    return WF_FAIL(err, WF_ECOLOR, "fabric: PE(%d,%d): %d colors need an %s queue (%s: %s), a PE has %d (queues "
                   "0..%d); color %d is the first without one", pe->x, pe->y, __builtin_popcount(m),
                   in ? "input" : "output", in ? "routes to RAMP or data tasks" : "routes from RAMP", list, have,
                   have - 1, first);
}

/* Decides queues for one PE; fills cp[] per slot and returns the entry count. */
static wf_status plan_queues(wf_fabric *f, wf_pe *pe, caps *cp, size_t *nent, wf_err *err) {
    int niq = 0, noq = 0;
    *nent = 0;
    for (int c = 0; c < WF_FABRIC_COLORS; c++) {
        int si = pe->cidx[c];
        if (si < 0) continue;
        wf_cslot *s = &pe->slots[si];
        caps *k = &cp[si];
        k->rb = k->in = k->out = 0;
        k->iq = k->oq = -1;
        unsigned rx, tx;
        int need_in, need_out;
        slot_ports(pe, c, s, &rx, &tx, &need_in, &need_out);
        if (need_in) {
            if (niq == WF_FABRIC_IQ) return queues_full(pe, 1, c, err);
            k->iq = (int8_t)niq;
            k->in = f->cm.iq_depth[niq++];
        }
        if (need_out) {
            if (noq == WF_FABRIC_OQ) return queues_full(pe, 0, c, err);
            k->oq = (int8_t)noq;
            k->out = f->cm.oq_depth[noq++];
        }
        if (s->has_route && (rx & ~(unsigned)WF_RAMP)) {
            uint32_t depth = f->cm.router_depth;
            if (f->xhops) { /* a detour's routers buffer too: the longest link into this one */
                uint32_t most = 0;
                for (unsigned m = rx & (WF_N | WF_S | WF_E | WF_W); m; m &= m - 1) {
                    uint32_t xh = f->xhops[(size_t)pe->idx * 4 + __builtin_ctz(m)];
                    if (xh > most) most = xh;
                }
                depth += most * f->cm.hop_latency;
                if (depth > 64) depth = 64;
            }
            k->rb = (uint8_t)depth;
        }
        *nent += (size_t)k->rb + k->in + k->out;
    }
    return WF_OK;
}

/* Load rebuilds every PE as ONE block [wf_pe | slots | queue entries] in PE
** index order in a fresh arena, then drops the configuration arena: the hot
** loop then walks memory mostly forward. */
wf_status wf_fabric_load(wf_fabric *f, wf_err *err) {
    if (f->loaded) return WF_OK;
    wf_status st = WF_OK;
    size_t n = (size_t)f->w * f->h;
    wf_arena old = f->arena;
    memset(&f->arena, 0, sizeof f->arena);
    f->arena.chunk = old.chunk;
    caps cp[WF_FABRIC_COLORS];
    for (size_t i = 0; i < n; i++) {
        wf_pe *pe = f->pes[i];
        if (!pe) continue;
        if (pe->img) {
            pe->prog = prog_for(f, pe->img, err);
            if (!pe->prog) { st = err ? err->code : WF_ENOMEM; goto done; }
            pe->blocked = pe->prog->init_blocked;
            for (uint32_t m = pe->prog->data_colors; m; m &= m - 1)
                if (!slot_get(f, pe, __builtin_ctz(m), err)) { st = err ? err->code : WF_ENOMEM; goto done; }
        }
        size_t nent;
        if ((st = plan_queues(f, pe, cp, &nent, err))) goto done;
        /* one block, 64-byte aligned: the PE, its slots (a line each), their
        ** cold halves, the queue entries (the fifo offsets fit 16 bits) */
        size_t pe_sz = (sizeof *pe + 63) & ~(size_t)63, nc = pe->ncolors;
        size_t bytes = pe_sz + nc * (sizeof(wf_cslot) + sizeof(wf_cslot_cold)) + nent * sizeof(wf_wv);
        uint8_t *blk = arena_alloc(f, bytes, err);
        if (!blk) { st = err ? err->code : WF_ENOMEM; goto done; }
        WF_ASSERT(((uintptr_t)blk & 63) == 0);
        wf_pe *np = (wf_pe *)blk;
        *np = *pe;
        np->slots = (wf_cslot *)(blk + pe_sz);
        np->scold = (wf_cslot_cold *)(blk + pe_sz + nc * sizeof(wf_cslot));
        if (nc) memcpy(np->slots, pe->slots, nc * sizeof(wf_cslot));
        wf_wv *next = (wf_wv *)(blk + pe_sz + nc * (sizeof(wf_cslot) + sizeof(wf_cslot_cold)));
        for (int si = 0; si < np->ncolors; si++) {
            wf_cslot *s = &np->slots[si];
            s->iq = cp[si].iq;
            s->oq = cp[si].oq;
            fifo_place(&s->rb, &next, cp[si].rb);
            fifo_place(&s->in, &next, cp[si].in);
            fifo_place(&s->out, &next, cp[si].out);
        }
        f->pes[i] = np;
    }
    for (size_t i = 0; i < n; i++) {
        wf_pe *pe = f->pes[i];
        if (!pe) continue;
        static const int ndx[4] = {0, 0, 1, -1}, ndy[4] = {-1, 1, 0, 0};
        for (int p = 0; p < 4; p++) pe->nb[p] = pe_at(f, pe->x + ndx[p], pe->y + ndy[p]);
    }
    f->loaded = 1;
done:
    arena_release(f, &old);
    if (st) {
        /* PEs not yet moved pointed into the old arena: forget them all */
        memset(f->pes, 0, n * sizeof *f->pes);
        f->pes_used = 0;
        return st;
    }
    /* kernel init, in PE order, at cycle now with 0 cost */
    for (size_t i = 0; i < n; i++) {
        wf_pe *pe = f->pes[i];
        if (!pe || !pe->img || !pe->img->kernel || !pe->img->kernel->init) continue;
        pe->tlocal = f->now;
        pe->cur_task = TASK_LAUNCH;
        wf_site_file = NULL;
        if (f->statics.n) statics_before(f);
        pe->img->kernel->init(pe);
        if (f->statics.n) statics_after(f, pe);
        pe->cur_task = -1;
        if (f->failed) {
            f->failed = 0;
            if (err) *err = f->ferr;
            return f->ferr.code;
        }
    }
    return WF_OK;
}

int pe_sram_touch(wf_pe *pe) {
    if (pe->sram) return 0;
    wf_fabric *f = pe->f;
    if (!pe->img) {
        fabric_fail(f, WF_EUSAGE, "PE(%d,%d): has no program, no SRAM to use", pe->x, pe->y);
        return -1;
    }
    size_t n = pe->img->sram_hi - pe->img->sram_lo;
    wf_err e = {0};
    pthread_mutex_lock(&f->mu); /* tasks on several threads may touch first */
    pe->sram = arena_get(f, &f->sram_arena, n ? n : 1, &e);
    if (pe->sram) f->sram_backed += n;
    pthread_mutex_unlock(&f->mu);
    if (!pe->sram) {
        fabric_fail(f, WF_ENOMEM, "PE(%d,%d): %s", pe->x, pe->y, e.msg);
        return -1;
    }
    return 0;
}

uint8_t *wf_fabric_sram(wf_fabric *f, int x, int y, uint32_t *lo, uint32_t *hi, wf_err *err) {
    wf_pe *pe = pe_at(f, x, y);
    if (!pe || !pe->img) {
        WF_FAIL(err, WF_EUSAGE, "fabric: PE(%d,%d) has no program", x, y);
        return NULL;
    }
    if (!pe->sram) {
        size_t n = pe->img->sram_hi - pe->img->sram_lo;
        pe->sram = arena_get(f, &f->sram_arena, n ? n : 1, err);
        if (!pe->sram) return NULL;
        f->sram_backed += n;
    }
    if (lo) *lo = pe->img->sram_lo;
    if (hi) *hi = pe->img->sram_hi;
    return pe->sram;
}

int wf_fabric_symbol(const wf_fabric *f, int x, int y, const char *name, uint32_t *addr, uint32_t *bytes) {
    const wf_pe *pe = pe_at(f, x, y);
    if (!pe || !pe->img || !pe->img->kernel) return -1;
    const wf_kernel *k = pe->img->kernel;
    for (int i = 0; i < k->nsymbols; i++) {
        if (strcmp(k->symbols[i].name, name) == 0) {
            if (addr) *addr = pe->img->sym_addr[i];
            if (bytes) *bytes = pe->img->sym_bytes[i];
            return i;
        }
    }
    return -1;
}

void wf_fabric_pe_stats(const wf_fabric *f, int x, int y, wf_pe_stats *out) {
    memset(out, 0, sizeof *out);
    const wf_pe *pe = pe_at(f, x, y);
    if (!pe) return;
    *out = pe->st;
    out->active += pe->st.busy;
    out->idle = pe->img && f->now > pe->st.busy ? f->now - pe->st.busy : 0;
}

void wf_fabric_read_stats(const wf_fabric *f, wf_fabric_stats *out) {
    memset(out, 0, sizeof *out);
    out->cycles = f->now;
    out->pes_used = f->pes_used;
    out->sram_backed = f->sram_backed;
    for (int i = 0; i < WF_FABRIC_MAX_THREADS; i++) out->steps += f->tc[i].steps; /* per thread */
    out->skewed = f->skewed;
    out->wall_s = f->wall;
    for (size_t i = 0; i < (size_t)f->w * f->h; i++) {
        const wf_pe *pe = f->pes[i];
        if (!pe) continue;
        out->busy += pe->st.busy;
        out->hops += pe->st.hops;
        out->bank_cycles += pe->st.bank_cycles;
        out->tasks += pe->st.tasks;
        out->ops += pe->st.ops;
        out->active += pe->st.active + pe->st.busy;
    }
}

void wf_fabric_set_trace(wf_fabric *f, wf_trace_fn fn, void *ud, const wf_trace_window *win) {
    f->trace = fn;
    f->trace_ud = ud;
    if (win) {
        f->tw = *win;
    } else {
        memset(&f->tw, 0, sizeof f->tw);
        f->tw.x1 = f->w;
        f->tw.y1 = f->h;
    }
}

void emit(wf_fabric *f, int kind, int id, int port, int ctrl, int x, int y, uint32_t data, uint64_t cycle,
          uint64_t dur) {
    wf_trace_event ev = {(uint8_t)kind, (uint8_t)id, (uint8_t)port, (uint8_t)ctrl, (int16_t)x, (int16_t)y,
                         data, cycle, dur};
    f->trace(f->trace_ud, &ev);
}
