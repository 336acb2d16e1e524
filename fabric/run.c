/* run.c — the one dispatch loop (STYLE 17). Per cycle: due events (core
** free, op start/done, launches), then every router with wavelets, every
** active microthread op, every PE that may pick a task, band by band in the
** three phases fabric_int.h describes (on several threads: pool.c). Idle
** PEs are on no list and cost nothing; with all lists empty the clock jumps
** to the next event. No progress for a few cycles with nothing in the
** future means deadlock: the report names PEs, colors and what each waits
** on. */
#include "fabric_int.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Thread_local wf_tctx *wf_tc;

/* Doubles a growable array of *cap elements of `elem` bytes (`first` when
** empty); the new block, or NULL with the run failed (the old one stays). */
static void *grow(wf_fabric *f, void *v, size_t *cap, size_t first, size_t elem, const char *what) {
    size_t nc = *cap ? *cap * 2 : first;
    wf_err e = {0};
    void *nv = wf_realloc(f->heap, v, nc * elem, what, &e);
    if (!nv) {
        fabric_fail(f, WF_ENOMEM, "%s", e.msg);
        return NULL;
    }
    *cap = nc;
    return nv;
}

int ilist_push(wf_fabric *f, wf_ilist *l, uint32_t x) {
    if (l->n == l->c) {
        uint32_t *nv = grow(f, l->v, &l->c, 256, sizeof *nv, "fabric list");
        if (!nv) return -1;
        l->v = nv;
    }
    if (l->sorted == l->n && (l->n == 0 || l->v[l->n - 1] <= x)) l->sorted++;
    l->v[l->n++] = x;
    return 0;
}

/* Phase B (rows where two bands touch): a push into a band's list or event
** heap is recorded in the pair's buffer; the band applies it in phase C. */
static void defer(wf_fabric *f, wf_band *pair, int b, uint32_t kind, uint32_t arg, uint64_t time) {
    if (pair->nd == pair->cd) {
        wf_deferred *nv = grow(f, pair->dv, &pair->cd, 256, sizeof *nv, "fabric deferred pushes");
        if (!nv) return;
        pair->dv = nv;
    }
    pair->dv[pair->nd++] = (wf_deferred){time, arg, kind, (uint8_t)b};
}

#define KIND_LIST 256u /* wf_deferred.kind: KIND_LIST + list, else an event kind */

void list_add(wf_fabric *f, int b, int which, uint32_t x) {
    wf_tctx *t = wf_tc;
    if (t && t->defer) defer(f, t->defer, b, KIND_LIST + (uint32_t)which, x, 0);
    else ilist_push(f, &f->band[b].l[which], x);
}

static int ev_less(const wf_event *a, const wf_event *b) {
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void heap_push(wf_fabric *f, wf_band *bd, uint64_t time, uint32_t kind, uint32_t arg) {
    if (bd->nheap == bd->cheap) {
        wf_event *nv = grow(f, bd->heapv, &bd->cheap, 1024, sizeof *nv, "fabric events");
        if (!nv) return;
        bd->heapv = nv;
    }
    wf_event ev = {time, bd->seq++, kind, arg};
    size_t i = bd->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&ev, &bd->heapv[p])) break;
        bd->heapv[i] = bd->heapv[p];
        i = p;
    }
    bd->heapv[i] = ev;
}

void ev_push(wf_fabric *f, uint64_t time, uint32_t kind, uint32_t arg) {
    int b = ev_pe(f, kind, arg)->band;
    wf_tctx *t = wf_tc;
    if (t && t->defer) defer(f, t->defer, b, kind, arg, time);
    else heap_push(f, &f->band[b], time, kind, arg);
}

static wf_event ev_pop(wf_band *bd) {
    wf_event top = bd->heapv[0], last = bd->heapv[--bd->nheap];
    size_t i = 0, n = bd->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && ev_less(&bd->heapv[c + 1], &bd->heapv[c])) c++;
        if (!ev_less(&bd->heapv[c], &last)) break;
        bd->heapv[i] = bd->heapv[c];
        i = c;
    }
    if (n) bd->heapv[i] = last;
    return top;
}

void wake_router_slow(wf_fabric *f, wf_pe *pe) {
    if (wf_tc) wf_tc->rlive = 1; /* work for the next cycle (outside runs: none counted) */
    if (pe->asleep) { /* blocked until now: count the stalled cycles it slept */
        pe->st.stalled += f->now - pe->sleep_at;
        pe->asleep = 0;
    }
    if (pe->in_rlist) return;
    pe->in_rlist = RL_ON;
    list_add(f, pe->band, L_RMID + pe->edge, pe->idx);
}

void wake_pick(wf_pe *pe) {
    if (pe->in_plist) return;
    pe->in_plist = 1;
    list_add(pe->f, pe->band, pe->edge ? L_PICK_EDGE : L_PICK, pe->idx);
}

void fabric_fail_at(wf_fabric *f, const char *file, int line, wf_status code, const char *fmt, ...) {
    if (f->skewing) { /* one thread: the error the cycle order meets first wins */
        if (f->skew_failed && f->skew_cur >= f->skew_key) return;
        f->skew_failed = 1;
        f->skew_key = f->skew_cur;
        f->skew_fail_at = f->now;
    } else if (atomic_exchange(&f->failed, 1)) {
        return; /* the first one wins */
    }
    f->ferr.code = code;
    f->ferr.file = file;
    f->ferr.line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->ferr.msg, sizeof f->ferr.msg, fmt, ap);
    va_end(ap);
}

wf_status wf_fabric_call(wf_fabric *f, int x, int y, wf_task_fn fn, uint64_t at, wf_err *err) {
    wf_status st = wf_fabric_load(f, err);
    if (st) return st;
    wf_pe *pe = pe_at(f, x, y);
    if (!pe || !pe->img) return WF_FAIL(err, WF_EUSAGE, "fabric: call: PE(%d,%d) has no program", x, y);
    if (pe->launch_fn) return WF_FAIL(err, WF_EUSAGE, "fabric: call: PE(%d,%d) already has a pending call", x, y);
    pe->launch_fn = fn;
    ev_push(f, at < f->now ? f->now : at, EV_CALL, pe->idx);
    return WF_OK;
}

static void do_event(wf_fabric *f, const wf_event *ev) {
    wf_tc->steps++;
    switch (ev->kind) {
    case EV_CORE_FREE:
    case EV_CALL: wake_pick(f->pes[ev->arg]); break;
    case EV_OP_START: op_start_event(f, ev->arg); break;
    case EV_OP_DONE: op_done_event(f, ev->arg); break;
    case EV_OP_FINISH: op_finish_event(f, ev->arg); break;
    default: WF_ASSERT(0);
    }
    wf_tc->progress = 1;
}

/* ---- deadlock report ------------------------------------------------------ */
static size_t rep(char *b, size_t cap, size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static size_t rep(char *b, size_t cap, size_t at, const char *fmt, ...) {
    if (at >= cap) return at;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b + at, cap - at, fmt, ap);
    va_end(ap);
    return k < 0 ? at : at + (size_t)k;
}

static const char *task_label(const wf_pe *pe, int t, char *buf, size_t n) {
    const char *nm = pe->prog && t < WF_FABRIC_TASKS ? pe->prog->name[t] : NULL;
    if (nm) snprintf(buf, n, "%d '%s'", t, nm);
    else snprintf(buf, n, "%d", t);
    return buf;
}

/* " (kernel.c:42)": where an op was issued, when the kernel's site is known. */
static const char *op_site(const wf_op *o, char *b, size_t n) {
    if (o->site) snprintf(b, n, " (%s:%d)", o->site, o->site_line);
    else b[0] = 0;
    return b;
}

/* Writes one line per waiting thing into f->report; returns how many. The
** first line is copied into *first. */
static int build_report(wf_fabric *f, char *first, size_t nfirst) {
    size_t at = 0, cap = sizeof f->report;
    int count = 0;
    char line[400], lb[64], sb[160];
    first[0] = 0;
    for (size_t i = 0; i < (size_t)f->w * f->h; i++) {
        wf_pe *pe = f->pes[i];
        if (!pe) continue;
        for (int si = 0; si < pe->ncolors; si++) {
            wf_cslot *s = &pe->slots[si];
            for (int part = 0; part < 2; part++) { /* 0: the core side, 1: the router */
                line[0] = 0;
                if (part == 0 && s->in_ops) {
                    const wf_op *o = op_at(f, s->in_ops);
                    snprintf(line, sizeof line, "PE(%d,%d): color %d: async %s receive%s waits for a wavelet "
                             "(%u of %u received, %u in input queue)", pe->x, pe->y, s->color, op_name(o->code),
                             op_site(o, sb, sizeof sb), o->i, o->n, s->in.n);
                } else if (part == 0 && s->out_ops) {
                    const wf_op *o = op_at(f, s->out_ops);
                    snprintf(line, sizeof line, "PE(%d,%d): color %d: async %s send%s waits for output queue room "
                             "(%u of %u sent)", pe->x, pe->y, s->color, op_name(o->code), op_site(o, sb, sizeof sb),
                             o->i, o->n);
                } else if (part == 0 && s->in.n) {
                    int has = pe->prog && (pe->prog->data_colors >> s->color & 1);
                    if (has)
                        snprintf(line, sizeof line, "PE(%d,%d): color %d: %u wavelets wait in input queue, data "
                                 "task %s is blocked", pe->x, pe->y, s->color, s->in.n,
                                 task_label(pe, s->color, lb, sizeof lb));
                    else
                        snprintf(line, sizeof line, "PE(%d,%d): color %d: %u wavelets wait in input queue, no "
                                 "task or receive consumes them", pe->x, pe->y, s->color, s->in.n);
                } else if (part == 1 && (s->rb.n || s->out.n)) {
                    wf_wv *w = s->rb.n ? fifo_head(&s->rb) : fifo_head(&s->out);
                    int port = s->rb.n ? (w->flags >> 1) & 7 : WF_PORT_RAMP;
                    const wf_route_pos *p = &s->route.pos[s->route.cur];
                    if (!((p->rx >> port) & 1))
                        snprintf(line, sizeof line, "PE(%d,%d): color %d: wavelet from %s waits at the router: "
                                 "switch position %d does not accept %s", pe->x, pe->y, s->color,
                                 wf_port_name(port), s->route.cur, wf_port_name(port));
                    else {
                        /* name the first full target */
                        char who[96] = "downstream";
                        static const int ddx[4] = {0, 0, 1, -1}, ddy[4] = {-1, 1, 0, 0};
                        for (unsigned m = p->tx; m; m &= m - 1) {
                            int q = __builtin_ctz(m);
                            if (q == WF_PORT_RAMP) {
                                if (s->iq >= 0 && s->in.n >= s->in.cap) {
                                    snprintf(who, sizeof who, "its own input queue (%u full)", s->in.cap);
                                    break;
                                }
                            } else if (pe->nb[q]) {
                                wf_cslot *ns = slot_of(pe->nb[q], s->color);
                                if (ns && ns->rb.n >= ns->rb.cap) {
                                    snprintf(who, sizeof who, "%s: PE(%d,%d)'s router buffer is full", wf_port_name(q),
                                             pe->x + ddx[q], pe->y + ddy[q]);
                                    break;
                                }
                            }
                        }
                        snprintf(line, sizeof line, "PE(%d,%d): color %d: %u wavelets wait at the router for room "
                                 "in %s", pe->x, pe->y, s->color, (unsigned)(s->rb.n + s->out.n), who);
                    }
                }
                if (line[0]) {
                    if (!count) snprintf(first, nfirst, "%s", line);
                    if (count < 32) at = rep(f->report, cap, at, "%s\n", line);
                    count++;
                }
            }
        }
        uint64_t stuck = pe->ready & pe->blocked;
        if (stuck) {
            int t = __builtin_ctzll(stuck);
            snprintf(line, sizeof line, "PE(%d,%d): task %s is activated but blocked", pe->x, pe->y,
                     task_label(pe, t, lb, sizeof lb));
            if (!count) snprintf(first, nfirst, "%s", line);
            if (count < 32) at = rep(f->report, cap, at, "%s\n", line);
            count++;
        }
    }
    if (count > 32) rep(f->report, cap, at, "... and %d more\n", count - 32);
    return count;
}

/* ---- one band's lists --------------------------------------------------------- */
/* Sorts an active list so the cycle walks PE (or op) state in memory order.
** Lists are nearly sorted (kept entries keep their order, a few woken ones
** are appended), so insertion sort usually costs O(n); when it starts to
** move a lot, an LSD radix sort (12-bit digits over the keys' span) takes
** over. Order inside a cycle does not change results (credit lag, ready
** stamps), only speed. */
static void radix_sort(wf_fabric *f, uint32_t *v, size_t n) {
    wf_tctx *t = wf_tc; /* scratch is per thread: two pairs may sort one band's lists */
    if (t->ctmp < n) {
        wf_err e = {0};
        uint32_t *nt = wf_realloc(f->heap, t->tmp, n * sizeof *nt, "fabric sort", &e);
        if (!nt) return; /* unsorted is still correct */
        t->tmp = nt;
        t->ctmp = n;
    }
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < lo) lo = v[i];
        if (v[i] > hi) hi = v[i];
    }
    uint32_t span = hi - lo; /* a band's keys are close together: often one pass */
    uint32_t *a = v, *b = t->tmp;
    int passes = 0;
    for (int shift = 0; shift == 0 || (shift < 32 && (span >> shift)); shift += 12, passes++) {
        size_t cnt[4096];
        uint32_t nb = (span >> shift) >= 4095 ? 4096 : (span >> shift) + 1;
        memset(cnt, 0, nb * sizeof cnt[0]);
        for (size_t i = 0; i < n; i++) cnt[((a[i] - lo) >> shift) & 4095]++;
        size_t sum = 0;
        for (uint32_t d = 0; d < nb; d++) { size_t c = cnt[d]; cnt[d] = sum; sum += c; }
        for (size_t i = 0; i < n; i++) b[cnt[((a[i] - lo) >> shift) & 4095]++] = a[i];
        uint32_t *tt = a; a = b; b = tt;
    }
    if (passes & 1) memcpy(v, a, n * sizeof *v);
}

static void sort_list(wf_fabric *f, wf_ilist *l, size_t n) {
    uint32_t *v = l->v;
    size_t i = l->sorted > 1 ? l->sorted : 1; /* known in order (wf_ilist.sorted) */
    while (i < n && v[i - 1] <= v[i]) i++; /* the sorted prefix: often all of it */
    size_t budget = 4 * n + 64;
    for (; i < n; i++) {
        uint32_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
            if (!--budget) {
                v[j] = x;
                radix_sort(f, v, n);
                return;
            }
        }
        v[j] = x;
    }
}

/* After a walk over the sorted v[0, n) kept its first k entries (in order):
** moves the entries appended meanwhile, v[n, l->n), behind them. */
static void compact_tail(wf_ilist *l, size_t n, size_t k) {
    size_t sorted = k;
    for (size_t i = n; i < l->n; i++) {
        if (sorted == k && (k == 0 || l->v[k - 1] <= l->v[i])) sorted++;
        l->v[k++] = l->v[i];
    }
    l->n = k;
    l->sorted = sorted;
}

/* Three-stage prefetch along a sorted router list: the hot lines of the PE
** PF_FAR entries ahead; the color slots of the one PF_MID ahead (its first
** line is in cache by then); the queue heads and receive op of the one
** PF_NEAR ahead (its slots are in cache by then). */
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((p), 1, 3)
#else
#define PREFETCH(p) ((void)(p))
#endif
#define PF_FAR 12
#define PF_MID 6
#define PF_NEAR 2
static void prefetch_far(const wf_pe *pe) { /* its hot lines 0-2 (fabric_int.h) */
    for (size_t b = 0; b < offsetof(wf_pe, st) + 64; b += 64) PREFETCH((const char *)pe + b);
}
static void prefetch_mid(const wf_pe *pe) { /* a slot is one line */
    for (uint32_t m = pe->rpend; m; m &= m - 1) PREFETCH(&pe->slots[pe->cidx[__builtin_ctz(m)]]);
}
static void prefetch_near(const wf_fabric *f, const wf_pe *pe) {
    for (uint32_t m = pe->rpend; m; m &= m - 1) {
        const wf_cslot *s = &pe->slots[pe->cidx[__builtin_ctz(m)]];
        if (s->rb.n) PREFETCH(fifo_head(&s->rb));
        if (s->out.n) PREFETCH(fifo_head(&s->out));
        if (s->in_ops != NO_OP) { /* a receive the router may hand a wavelet to */
            const char *o = (const char *)op_at(f, s->in_ops);
            for (size_t b = 0; b < offsetof(wf_op, xa); b += 64) PREFETCH(o + b);
        }
    }
}

/* The three stages for entry i of a sorted router list of n. */
static inline void prefetch_routers(const wf_fabric *f, const wf_ilist *l, size_t i, size_t n) {
    if (i + PF_FAR < n) prefetch_far(f->pes[l->v[i + PF_FAR]]);
    if (i + PF_MID < n) prefetch_mid(f->pes[l->v[i + PF_MID]]);
    if (i + PF_NEAR < n) prefetch_near(f, f->pes[l->v[i + PF_NEAR]]);
}

/* What a walk's router steps did, added to the thread's counts at its end. */
typedef struct {
    uint64_t steps;
    int live, moved;
} rwalk;
static inline void rwalk_end(const rwalk *w) {
    wf_tc->steps += w->steps;
    if (w->live) wf_tc->rlive = 1;
    if (w->moved) wf_tc->progress = 1;
}

/* A router step and the list bookkeeping around it; 1: it stays listed.
** A router that sent its last wavelet lingers on the list for one cycle:
** in a stream the next wavelet usually arrives in the same cycle (from a
** neighbour stepped later), and dropping and re-adding it every cycle cost
** more than the step that finds nothing (which drops it, and is not counted).
** A router kept with work sets `live`, and so do wake_router_push and
** wake_router_slow, so lingering entries alone do not keep the clock from
** jumping (results are unchanged). */
static inline int step_router(wf_fabric *f, wf_pe *pe, rwalk *w) {
    if (pe->in_rlist != RL_ON) {
        if (pe->in_rlist == RL_SKIP) { /* live is set already */
            pe->in_rlist = RL_ON;
            return 1;
        }
        if (!pe->rpend) { /* lingered, and nothing came */
            pe->in_rlist = RL_OFF;
            return 0;
        }
        pe->in_rlist = RL_ON;
    }
    w->steps++;
    w->moved |= router_step(f, pe);
    if (pe->asleep) {
        pe->in_rlist = RL_OFF;
        return 0;
    }
    if (pe->rpend) {
        w->live = 1;
    } else {
        pe->in_rlist = RL_LINGER;
        pe->linger_at = (uint32_t)f->now;
    }
    return 1;
}

/* Steps the routers listed before the phase began (edge rows, phase B);
** routers woken meanwhile stay listed for the next cycle. */
static void step_routers(wf_fabric *f, wf_ilist *l) {
    size_t n = l->snap, k = 0;
    sort_list(f, l, n);
    rwalk w = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        prefetch_routers(f, l, i, n);
        wf_pe *pe = f->pes[l->v[i]];
        if (step_router(f, pe, &w)) l->v[k++] = pe->idx;
    }
    rwalk_end(&w);
    compact_tail(l, n, k);
    l->snap = 0;
}

/* The ops of one PE on an L_OPE list; keeps the PE listed while it has any. */
static inline int step_ops_of(wf_fabric *f, wf_pe *pe) {
    if (pe->aop != NO_OP) wf_tc->steps += op_step_pe(f, pe);
    if (pe->aop != NO_OP) return 1;
    pe->in_olist = 0;
    return 0;
}

/* Prefetch for a PE whose ops step soon: its first active op (header and
** operands), then that op's memory elements and input queue head. */
static void prefetch_op_far(const wf_fabric *f, const wf_pe *pe) {
    if (pe->aop == NO_OP) return;
    const char *o = (const char *)op_at(f, pe->aop);
    for (size_t b = 0; b < offsetof(wf_op, xa); b += 64) PREFETCH(o + b);
}
static void prefetch_op_near(const wf_fabric *f, const wf_pe *pe) {
    if (pe->aop == NO_OP) return;
    const wf_op *o = op_at(f, pe->aop);
    if (o->a.kind == WF_DSD_MEM) PREFETCH(o->a.p);
    if (o->b.kind == WF_DSD_MEM) PREFETCH(o->b.p);
    if (o->dst.kind == WF_DSD_MEM) PREFETCH(o->dst.p);
    if (o->in_color != 255 && pe->cidx[o->in_color] >= 0) {
        const wf_cslot *s = &pe->slots[pe->cidx[o->in_color]];
        PREFETCH(fifo_head(&s->in));
    }
}

/* Phase A's walk over the inner rows: routers (l, listed before the phase)
** and PEs with active ops (o) merged in PE order; a PE's ops step right
** after its router, as with one list: ops only touch their own PE. */
static void step_inner(wf_fabric *f, wf_ilist *l, wf_ilist *o) {
    size_t nr = l->snap, no = o->n, i = 0, j = 0, kr = 0, ko = 0;
    rwalk w = {0, 0, 0};
    sort_list(f, l, nr);
    sort_list(f, o, no);
    while (i < nr || j < no) {
        uint32_t ri = i < nr ? l->v[i] : UINT32_MAX, oj = j < no ? o->v[j] : UINT32_MAX;
        if (ri <= oj) {
            prefetch_routers(f, l, i, nr);
            i++;
        }
        if (oj <= ri) {
            if (j + PF_MID < no) prefetch_op_far(f, f->pes[o->v[j + PF_MID]]);
            if (j + PF_NEAR < no) prefetch_op_near(f, f->pes[o->v[j + PF_NEAR]]);
            j++;
        }
        wf_pe *pe = f->pes[ri < oj ? ri : oj];
        if (ri <= oj && step_router(f, pe, &w)) l->v[kr++] = ri;
        /* ops its router just activated step now too (the PE went on o's tail) */
        if (oj <= ri) {
            if (step_ops_of(f, pe)) o->v[ko++] = oj;
        } else if (pe->aop != NO_OP) {
            wf_tc->steps += op_step_pe(f, pe);
        }
    }
    rwalk_end(&w);
    compact_tail(l, nr, kr);
    l->snap = 0;
    compact_tail(o, no, ko);
}

/* Ops of the edge rows (phase C). */
static void step_ops(wf_fabric *f, wf_ilist *l) {
    size_t n = l->n, k = 0;
    sort_list(f, l, n);
    for (size_t i = 0; i < n; i++) {
        if (i + PF_FAR < n) prefetch_op_far(f, f->pes[l->v[i + PF_FAR]]);
        if (i + PF_NEAR < n) prefetch_op_near(f, f->pes[l->v[i + PF_NEAR]]);
        if (step_ops_of(f, f->pes[l->v[i]])) l->v[k++] = l->v[i];
    }
    compact_tail(l, n, k);
}

static void step_picks(wf_fabric *f, wf_ilist *l) {
    /* tasks run here may wake other PEs: those go to the next round */
    size_t n = l->n, k = 0;
    for (size_t i = 0; i < n; i++) {
        wf_pe *pe = f->pes[l->v[i]];
        int keep = 0;
        pe->in_plist = 0;
        core_pick(f, pe, &keep);
        if (keep && !pe->in_plist) {
            pe->in_plist = 1;
            l->v[k++] = pe->idx;
        }
        if (f->failed) break;
    }
    for (size_t i = n; i < l->n; i++) l->v[k++] = l->v[i];
    l->n = k;
    l->sorted = 0; /* pick lists are walked in the order they were filled */
}

/* ---- the three phases of a cycle ---------------------------------------------- */
/* A: due events, then routers, ops and picks of the band's inner rows. */
static void phase_a(wf_fabric *f, int b) {
    wf_band *bd = &f->band[b];
    while (bd->nheap && bd->heapv[0].time <= f->now) {
        wf_event ev = ev_pop(bd);
        do_event(f, &ev);
    }
    for (int i = L_RMID; i <= L_RBOT; i++) bd->l[i].snap = bd->l[i].n;
    if (bd->l[L_RMID].snap || bd->l[L_OPE].n) step_inner(f, &bd->l[L_RMID], &bd->l[L_OPE]);
    if (bd->l[L_PICK].n) step_picks(f, &bd->l[L_PICK]);
}

/* B: the two rows where band k meets band k+1. Their routers reach into
** both bands, so every push they make waits in band k's buffer. */
static void phase_b(wf_fabric *f, int k) {
    wf_band *up = &f->band[k], *dn = &f->band[k + 1];
    up->nd = 0;
    wf_tc->defer = up;
    if (up->l[L_RBOT].snap) step_routers(f, &up->l[L_RBOT]);
    if (dn->l[L_RTOP].snap) step_routers(f, &dn->l[L_RTOP]);
    wf_tc->defer = NULL;
}

static void apply_deferred(wf_fabric *f, int b, const wf_band *pair) {
    for (size_t i = 0; i < pair->nd; i++) {
        const wf_deferred *d = &pair->dv[i];
        if (d->band != b) continue;
        if (d->kind >= KIND_LIST) ilist_push(f, &f->band[b].l[d->kind - KIND_LIST], d->arg);
        else heap_push(f, &f->band[b], d->time, d->kind, d->arg);
    }
}

/* C: what phase B deferred for this band (the pair above first), then ops
** and task picks of the edge rows. */
static void phase_c(wf_fabric *f, int b) {
    wf_band *bd = &f->band[b];
    if (b > 0) apply_deferred(f, b, &f->band[b - 1]);
    if (b + 1 < f->nbands) apply_deferred(f, b, bd);
    if (bd->l[L_OPE_EDGE].n) step_ops(f, &bd->l[L_OPE_EDGE]);
    if (bd->l[L_PICK_EDGE].n) step_picks(f, &bd->l[L_PICK_EDGE]);
}

/* Thread `tid` of `nt` runs bands tid, tid+nt, ... (pairs likewise). */
void fabric_run_phase(wf_fabric *f, int ph, int tid, int nt) {
    wf_tc = &f->tc[tid];
    int n = ph == PH_B ? f->nbands - 1 : f->nbands;
    for (int b = tid; b < n; b += nt) {
        if (ph == PH_A) phase_a(f, b);
        else if (ph == PH_B) phase_b(f, b);
        else phase_c(f, b);
    }
}

/* Work listed for this cycle, to decide whether splitting it pays. */
static size_t cycle_work(const wf_fabric *f) {
    size_t w = 0;
    for (int b = 0; b < f->nbands; b++) {
        const wf_band *bd = &f->band[b];
        for (int i = 0; i < L_COUNT; i++) w += bd->l[i].n;
    }
    return w;
}
/* Cycles with less listed work run on the caller's thread alone (same order,
** same results). Env WF_FABRIC_PAR_MIN overrides it (tests force 1). */
#define PAR_MIN_WORK 512
static size_t par_min_work(void) {
    const char *e = getenv("WF_FABRIC_PAR_MIN");
    return e && *e ? (size_t)strtoull(e, NULL, 10) : PAR_MIN_WORK;
}

/* Work for the next cycle: listed ops or picks, or a router with something
** pending (rlive of the threads that ran the cycle; lingering routers with
** nothing pending do not count). */
static int any_listed(const wf_fabric *f, int nprog) {
    for (int i = 0; i < nprog; i++)
        if (f->tc[i].rlive) return 1;
    for (int b = 0; b < f->nbands; b++)
        for (int i = 0; i < L_COUNT; i++)
            if (i != L_RMID && i != L_RTOP && i != L_RBOT && f->band[b].l[i].n) return 1;
    return 0;
}

/* Before the clock jumps or the run ends: routers that linger with nothing
** pending leave their lists (so linger_at is always this cycle or the one
** before, and a later run starts from empty lists as before). */
static void drop_lingering(wf_fabric *f) {
    for (int b = 0; b < f->nbands; b++)
        for (int i = L_RMID; i <= L_RBOT; i++) {
            wf_ilist *l = &f->band[b].l[i];
            size_t k = 0, sorted = 0;
            for (size_t j = 0; j < l->n; j++) {
                wf_pe *pe = f->pes[l->v[j]];
                if (pe->in_rlist == RL_LINGER && !pe->rpend) pe->in_rlist = RL_OFF;
                else l->v[k++] = l->v[j];
                if (j < l->sorted) sorted = k; /* dropping keeps a sorted prefix sorted */
            }
            l->n = k;
            l->sorted = sorted;
        }
}

/* A jump of the clock to event time t, not past the max-cycle guard (when
** set): the guard then finds a task that charged more cycles than it allows
** still running, instead of nothing at the task's end. */
static inline uint64_t guard_clamp(uint64_t t, uint64_t start, uint64_t max_cycles) {
    return max_cycles && t > start + max_cycles + 1 ? start + max_cycles + 1 : t;
}

/* The earliest pending event, UINT64_MAX when none. */
static uint64_t next_event(const wf_fabric *f) {
    uint64_t t = UINT64_MAX;
    for (int b = 0; b < f->nbands; b++)
        if (f->band[b].nheap && f->band[b].heapv[0].time < t) t = f->band[b].heapv[0].time;
    return t;
}

/* What PE pe is doing when the max-cycle guard stops the run, in a few
** words ("" when nothing): the task on its core, a ready task (one that keeps
** activating itself spins), an async op waiting, wavelets waiting. */
static int pe_doing(const wf_fabric *f, const wf_pe *pe, char *b, size_t n) {
    char lb[64], sb[160];
    b[0] = 0;
    if (pe->busy_until > f->now && pe->last_task >= 0) {
        if (pe->last_task == TASK_LAUNCH)
            snprintf(b, n, "launched function running (busy until cycle %llu)", (unsigned long long)pe->busy_until);
        else
            snprintf(b, n, "task %s running (busy until cycle %llu: its ops and wf_pe_charge)",
                     task_label(pe, pe->last_task, lb, sizeof lb), (unsigned long long)pe->busy_until);
        return 1;
    }
    uint64_t rdy = pe->ready & ~pe->blocked;
    if (rdy) {
        int t = __builtin_ctzll(rdy);
        snprintf(b, n, "task %s ready%s", task_label(pe, t, lb, sizeof lb),
                 t == pe->last_task && !(pe->prog && pe->prog->kind[t] == WF_TASK_DATA)
                     ? " again after its last run (does it activate itself?)"
                     : "");
        return 1;
    }
    for (int si = 0; si < pe->ncolors; si++) {
        const wf_cslot *s = &pe->slots[si];
        if (s->in_ops || s->out_ops) {
            const wf_op *o = op_at(f, s->in_ops ? s->in_ops : s->out_ops);
            snprintf(b, n, "color %d: async %s %s%s %u of %u", s->color, op_name(o->code),
                     s->in_ops ? "receive" : "send", op_site(o, sb, sizeof sb), o->i, o->n);
            return 2;
        }
    }
    if (pe->ready & pe->blocked) {
        snprintf(b, n, "task %s activated but blocked", task_label(pe, __builtin_ctzll(pe->ready & pe->blocked), lb,
                                                                   sizeof lb));
        return 2;
    }
    for (int si = 0; si < pe->ncolors; si++) {
        const wf_cslot *s = &pe->slots[si];
        if (s->in.n || s->rb.n || s->out.n) {
            snprintf(b, n, "color %d: %u wavelets waiting", s->color, (unsigned)(s->in.n + s->rb.n + s->out.n));
            return 2;
        }
    }
    return 0;
}

/* The max-cycle guard's list: every PE still doing something, one line each
** in f->report (up to 32), the first 8 in *sum ("PE(1,0): task 5 'spin'
** ready; ... (and 3 more)"). PEs running or about to run a task come first:
** a run that never ends is most often a task that keeps itself going, and
** the PEs waiting on it (blocked sends, receives) are its consequence.
** Returns how many PEs. */
static int guard_report(wf_fabric *f, char *sum, size_t nsum) {
    size_t at = 0, cap = sizeof f->report, sat = 0;
    int count = 0, shown = 0;
    char what[320];
    at = rep(f->report, cap, at, "stopped at the max-cycle guard; PEs still working:\n");
    sum[0] = 0;
    for (int pass = 1; pass <= 2; pass++)
        for (size_t i = 0; i < (size_t)f->w * f->h; i++) {
            const wf_pe *pe = f->pes[i];
            if (!pe || pe_doing(f, pe, what, sizeof what) != pass) continue;
            if (count < 32) at = rep(f->report, cap, at, "PE(%d,%d): %s\n", pe->x, pe->y, what);
            if (shown == count && count < 8) { /* whole entries only, leaving room for the tail */
                char one[400];
                int k = snprintf(one, sizeof one, "%sPE(%d,%d): %s", count ? "; " : "", pe->x, pe->y, what);
                if (k > 0 && sat + (size_t)k + 64 < nsum) sat = rep(sum, nsum, sat, "%s", one), shown++;
            }
            count++;
        }
    if (count > 32) rep(f->report, cap, at, "... and %d more\n", count - 32);
    if (count > shown) rep(sum, nsum, sat, " (and %d more PEs: see wf_fabric_report)", count - shown);
    return count;
}

static void one_cycle(wf_fabric *f, int par) {
    f->rot = (unsigned)(f->now % WF_FABRIC_COLORS);
    if (par) {
        fabric_pool_phase(f, PH_A);
        if (f->nbands > 1) fabric_pool_phase(f, PH_B);
        fabric_pool_phase(f, PH_C);
        return;
    }
    for (int b = 0; b < f->nbands; b++) phase_a(f, b);
    for (int k = 0; k + 1 < f->nbands; k++) phase_b(f, k);
    for (int b = 0; b < f->nbands; b++) phase_c(f, b);
}

#ifdef WF_DEBUG
/* Consistency walk (STYLE 16): queue bounds, list flags, op queues. */
static void debug_walk(wf_fabric *f) {
    for (size_t i = 0; i < (size_t)f->w * f->h; i++) {
        wf_pe *pe = f->pes[i];
        if (!pe) continue;
        /* placed in the band of its row by the cut in force (bands.c) */
        WF_ASSERT(pe->band < f->nbands && pe->y >= f->band[pe->band].y0 && pe->y < f->band[pe->band].y1);
        for (int si = 0; si < pe->ncolors; si++) {
            wf_cslot *s = &pe->slots[si];
            const wf_fifo *q[3] = {&s->rb, &s->in, &s->out};
            for (int k = 0; k < 3; k++) WF_ASSERT(q[k]->n <= q[k]->cap && (q[k]->cap == 0 || q[k]->head < q[k]->cap));
            WF_ASSERT(pe->cidx[s->color] == si);
            if (s->rb.n || s->out.n) WF_ASSERT(pe->rpend >> s->color & 1);
            uint32_t heads[2] = {s->in_ops, s->out_ops}, tails[2] = {slot_cold(pe, s)->in_ops_tail, slot_cold(pe, s)->out_ops_tail};
            for (int k = 0; k < 2; k++) {
                uint32_t last = NO_OP;
                for (uint32_t oi = heads[k]; oi != NO_OP; oi = op_at(f, oi)->next) {
                    WF_ASSERT(oi < f->nopch * OP_CHUNK && op_at(f, oi)->pe == pe);
                    last = oi;
                }
                if (heads[k] != NO_OP) WF_ASSERT(last == tails[k]);
            }
        }
    }
    for (int b = 0; b < f->nbands; b++) {
        const wf_band *bd = &f->band[b];
        for (int i = L_RMID; i <= L_RBOT; i++)
            for (size_t k = 0; k < bd->l[i].n; k++) {
                const wf_pe *pe = f->pes[bd->l[i].v[k]];
                WF_ASSERT(pe->in_rlist && pe->band == b && L_RMID + pe->edge == i);
                /* a skipped step is taken within its cycle; lingering lasts one */
                WF_ASSERT(f->failed || pe->in_rlist != RL_SKIP);
                WF_ASSERT(f->failed || pe->in_rlist != RL_LINGER || pe->linger_at + 1u >= (uint32_t)f->now);
            }
        for (int i = L_PICK; i <= L_PICK_EDGE; i += L_PICK_EDGE - L_PICK)
            for (size_t k = 0; k < bd->l[i].n; k++) WF_ASSERT(f->pes[bd->l[i].v[k]]->in_plist);
        for (int i = L_OPE; i <= L_OPE_EDGE; i += L_OPE_EDGE - L_OPE)
            for (size_t k = 0; k < bd->l[i].n; k++) {
                const wf_pe *pe = f->pes[bd->l[i].v[k]];
                WF_ASSERT(pe->in_olist && pe->band == b);
                for (uint32_t oi = pe->aop; oi != NO_OP; oi = op_at(f, oi)->anext)
                    WF_ASSERT(op_at(f, oi)->active && op_at(f, oi)->pe == pe);
            }
    }
}
#endif

/* ---- time skewing (one thread) ---------------------------------------------------------
** Band b's cycle t touches its own rows (phases A and C) and, with its
** neighbours, the two rows where they meet (B); its cycle t+1 therefore
** needs only bands b-1..b+1 at cycle t. One thread runs a window of D cycles
** [t0, t0+D) as a wavefront: step s runs, for j = 0 .. D-1, band b = s - j
** at cycle t0 + j as a unit: A(b), then B(b-1) and C(b-1) (and C(b) for the
** last band). Within a step j ascends, so every phase still comes after
** every phase it reads (C(b, t-1) before A(b, t), A(b-1..b, t) before
** B(b-1, t), B(b-2..b-1, t) before C(b-1, t)) and before every phase that
** overwrites what it reads; bands two or more apart share nothing. Each
** phase thus sees the state it sees in cycle order: cycles, counters and
** bits are unchanged, while a band's D cycles run within D units of each
** other, with a few bands' state in cache instead of one pass over the
** whole fabric per cycle.
** The run loop's per-cycle decisions are replayed after the window from
** what each cycle recorded (skew_cyc): a cycle with nothing listed jumps
** the clock to the next event, which the window reached by stepping idle
** cycles (nothing happens in them; lingering routers leave their lists
** either way), or ends the run there. The quiet jump (no progress for
** quiet_max cycles) skips cycles a window would step; stepping them changes
** nothing that the examples show (a router that waits counts stalled cycles,
** but in these stretches only ops poll), yet a window never spans enough
** cycles to reach it. Errors: fabric_fail keeps the one the
** cycle order would meet first (cycle, phase, band; within a unit, the
** first), and the run stops at its cycle. */
#define SKEW_MAX 16
typedef struct {
    uint8_t prog, live, listed; /* progress; a router with work; a non-router list not empty */
    uint64_t nextev;            /* the earliest event left at the end of the cycle */
} skew_cyc;

/* The longest window: SKEW_MAX, or env WF_FABRIC_SKEW (0: off, for comparisons). */
static int skew_env(void) {
    const char *e = getenv("WF_FABRIC_SKEW");
    if (!e || !*e) return SKEW_MAX;
    long v = strtol(e, NULL, 10);
    return v < 0 ? 0 : v > SKEW_MAX ? SKEW_MAX : (int)v;
}

/* A window's length: the bands a window spans (about its length) should hold
** their listed PEs' state (~640 bytes each, fabric_int.h) in SKEW_CACHE bytes. */
#define SKEW_CACHE (1u << 20)
static uint64_t skew_len(const wf_fabric *f, int dmax) {
    size_t work = cycle_work(f);
    if (!work) return 0; /* nothing listed: the loop jumps to the next event */
    size_t per_band = work / (size_t)f->nbands + 1;
    size_t d = SKEW_CACHE / (640 * per_band);
    return d > (size_t)dmax ? (uint64_t)dmax : (uint64_t)d;
}

static void skew_at(wf_fabric *f, uint64_t t, int ph, int b) {
    f->now = t;
    f->rot = (unsigned)(t % WF_FABRIC_COLORS);
    f->skew_cur = ((t - f->skew_t0) * 3 + (uint64_t)ph) * WF_FABRIC_MAX_BANDS + (uint64_t)b;
}

/* After C(b, t): what the run loop would read of band b at the end of cycle t. */
static void skew_band_end(const wf_fabric *f, int b, skew_cyc *c) {
    const wf_band *bd = &f->band[b];
    for (int i = L_OPE; i < L_COUNT; i++)
        if (bd->l[i].n) c->listed = 1;
    if (bd->nheap && bd->heapv[0].time < c->nextev) c->nextev = bd->heapv[0].time;
}

/* Whether a phase has anything to do (an idle band's phases are skipped in
** a window: on a mostly idle fabric most of its bands are). A: an event due
** at t or a list entry (A also snaps the edge router lists phase B steps).
** B of pair k: edge routers snapped in A; skipped, it still empties the
** pair's deferred pushes as phase_b does. C: pushes deferred into band b by
** either pair, or edge ops and picks. */
static inline int busy_a(const wf_band *bd, uint64_t t) {
    if (bd->nheap && bd->heapv[0].time <= t) return 1;
    for (int i = L_RMID; i <= L_PICK; i++)
        if (bd->l[i].n) return 1;
    return 0;
}
static inline int busy_b(const wf_fabric *f, int k) {
    return f->band[k].l[L_RBOT].snap || f->band[k + 1].l[L_RTOP].snap;
}
static inline int busy_c(const wf_fabric *f, int b) {
    const wf_band *bd = &f->band[b];
    return (b > 0 && f->band[b - 1].nd) || (b + 1 < f->nbands && bd->nd) || bd->l[L_OPE_EDGE].n ||
           bd->l[L_PICK_EDGE].n;
}

static void skew_unit(wf_fabric *f, int b, uint64_t t, skew_cyc *c) {
    wf_tctx *tc = wf_tc;
    tc->progress = tc->rlive = 0;
    if (busy_a(&f->band[b], t)) {
        skew_at(f, t, PH_A, b);
        phase_a(f, b);
    }
    if (b >= 1) {
        if (busy_b(f, b - 1)) {
            skew_at(f, t, PH_B, b - 1);
            phase_b(f, b - 1);
        } else {
            f->band[b - 1].nd = 0;
        }
        if (busy_c(f, b - 1)) {
            skew_at(f, t, PH_C, b - 1);
            phase_c(f, b - 1);
        }
        skew_band_end(f, b - 1, c);
    }
    if (b == f->nbands - 1) {
        if (busy_c(f, b)) {
            skew_at(f, t, PH_C, b);
            phase_c(f, b);
        }
        skew_band_end(f, b, c);
    }
    c->prog |= (uint8_t)tc->progress;
    c->live |= (uint8_t)tc->rlive;
}

static void skew_window(wf_fabric *f, int d, skew_cyc *cyc) {
    uint64_t t0 = f->now;
    int nb = f->nbands;
    for (int j = 0; j < d; j++) cyc[j] = (skew_cyc){0, 0, 0, UINT64_MAX};
    f->skewing = 1;
    f->skew_failed = 0;
    f->skew_t0 = t0;
    for (int s = 0; s < nb + d - 1; s++)
        for (int j = 0; j < d && s - j >= 0; j++)
            if (s - j < nb) skew_unit(f, s - j, t0 + (uint64_t)j, &cyc[j]);
    f->skewing = 0;
    f->now = t0; /* the replay sets the clock */
}

/* After a window of d cycles from f->now: what the run loop would have
** decided after each of them (the quiet count, jumps over idle cycles to the
** next event, the end of the run); sets the clock. 1: the run ends. */
static int skew_replay(wf_fabric *f, const skew_cyc *cyc, uint64_t d, uint32_t *quiet) {
    uint64_t w0 = f->now, next = w0 + d;
    int end = 0, idle = 0;
    for (uint64_t j = 0; j < d;) {
        const skew_cyc *c = &cyc[j];
        if (c->live || c->listed) {
            *quiet = c->prog ? 0 : *quiet + 1;
            idle = 0;
            j++;
            continue;
        }
        idle = 1; /* nothing listed: the next event, or the end */
        *quiet = 0;
        if (c->nextev == UINT64_MAX) {
            end = 1;
            next = w0 + j;
            break;
        }
        if (c->nextev >= w0 + d) {
            next = c->nextev;
            break;
        }
        j = c->nextev > w0 + j ? c->nextev - w0 : j + 1;
    }
    f->now = next;
    if (idle) drop_lingering(f); /* as the loop does before it jumps or ends */
    return end;
}

/* A clock jump over idle cycles stops at the debugger's cycle (nothing runs
** in them: the state there is the state now). */
static inline uint64_t jump_to(const wf_fabric *f, uint64_t t) {
    return t > f->dbg_at && f->dbg_at > f->now ? f->dbg_at : t;
}

void wf_fabric_set_progress(wf_fabric *f, double every_s, wf_progress_fn fn, void *ud) {
    int on = fn && every_s > 0;
    f->prog_fn = on ? fn : NULL;
    f->prog_ud = on ? ud : NULL;
    f->prog_every = on ? every_s : 0;
}

/* Reports when every_s has passed since the last report (or the start),
** whose time and cycle are *last and *last_cycle. */
static void progress_tick(wf_fabric *f, uint64_t start, double t0, double *last, uint64_t *last_cycle) {
    double t = wf_now();
    if (t - *last < f->prog_every) return;
    wf_fabric_progress p = {f->now, f->now - start, t - t0, cycle_work(f), f->now - *last_cycle, t - *last};
    *last = t;
    *last_cycle = f->now;
    f->prog_fn(f->prog_ud, &p);
}

/* A checkpoint from the run loop (between cycles); stop: end the run after it. */
static wf_status checkpoint(wf_fabric *f, uint64_t start, uint32_t quiet, double t0, double cpu0, wf_err *err) {
    double t = wf_now();
    f->wall += t - t0; /* the snapshot carries the wall and CPU time so far */
    uint64_t bytes;
    wf_status st = snapshot_save(f, start, quiet, snapshot_cpu_now() - cpu0, &bytes, err);
    f->wall -= t - t0;
    if (f->ck.done) {
        f->ck.done(f->ck.ud, f->ck.path, f->now, bytes, wf_now() - t, st ? err : NULL);
    }
    return st;
}

static wf_status run_loop(wf_fabric *f, uint64_t max_cycles, wf_err *err) {
    if (f->poisoned) {
        if (err) *err = f->poison_err;
        return f->poison_err.code ? f->poison_err.code : WF_ECORRUPT;
    }
    wf_status st = wf_fabric_load(f, err);
    if (st) return st;
    f->runs++;
    uint64_t start = f->now;
    uint32_t quiet = 0;
    if (f->ck.path || (f->resume_path && f->resume_run == f->runs)) f->start_fp = snapshot_start_fp(f);
    if (f->resume_path && f->resume_run == f->runs) {
        st = snapshot_restore(f, &start, &quiet, err);
        free(f->resume_path);
        f->resume_path = NULL;
        if (st) return st;
    }
    /* tracing calls back into one user function: keep it on this thread */
    /* the statics check compares a whole segment; the debugger inspects one state */
    int nt = f->trace || f->statics.n || f->dbg ? 1 : f->threads;
    /* the cut of the rows into bands for this thread count (bands.c) */
    if ((st = fabric_rebands(f, fabric_bands_for(f, nt), err))) return st;
    double t0 = wf_now(), cpu0 = snapshot_cpu_now();
    uint64_t pstart = f->now; /* progress: this process's part of the run */
    double ck_last = t0;
    const uint32_t quiet_max = f->cm.hop_latency + f->max_xlat /* defect detours */ + 2 * f->cm.ramp_latency +
                               f->cm.op_latency + 4;
    /* time skewing: one thread, no callbacks that watch the cycle order */
    int skew = nt == 1 && !f->trace && !f->statics.n && !f->dbg && f->nbands > 1 ? skew_env() : 0;
    skew_cyc cyc[SKEW_MAX];
    size_t par_min = par_min_work();
    if (nt > 1 && f->nbands > 1 && !f->pool) fabric_pool_start(f, nt < f->nbands ? nt : f->nbands);
    wf_tc = &f->tc[0];
    f->report[0] = 0;
    unsigned ptick = 1; /* the first turn reads the clock and the stop request too */
    double plast = t0;
    uint64_t plast_cycle = pstart;
    /* the planned pause: once per fabric (not again in a run resumed from it) */
    uint64_t ck_at = f->ck.path && f->ck.at_cycle && !f->ck_at_done ? f->ck.at_cycle : UINT64_MAX;
    int stopped = 0;            /* 1: at ck_at, 2: on request */
    wf_status ck_st = WF_OK;    /* a failed final checkpoint */
    while (!f->failed) {
        if (f->now >= f->dbg_at && debug_cycle(f)) break;
        if (f->now >= ck_at && ck_at != UINT64_MAX) { /* a planned pause */
            f->ck_at_done = 1;
            ck_st = checkpoint(f, start, quiet, t0, cpu0, err);
            stopped = 1;
            break;
        }
        if (--ptick == 0) { /* the clock, every 1024 turns */
            ptick = 1024;
            if (f->prog_fn) progress_tick(f, pstart, t0, &plast, &plast_cycle);
            if (f->stop_req) {
                if (f->ck.path) ck_st = checkpoint(f, start, quiet, t0, cpu0, err);
                stopped = 2;
                break;
            }
            if (f->ck.path && f->ck.every_s > 0 && wf_now() - ck_last >= f->ck.every_s) {
                checkpoint(f, start, quiet, t0, cpu0, err); /* a failed write is reported, the run goes on */
                if (err) memset(err, 0, sizeof *err);
                ck_last = wf_now();
            }
        }
        if (max_cycles && f->now - start > max_cycles) {
            f->wall += wf_now() - t0;
            f->cpu += snapshot_cpu_now() - cpu0;
            wf_tc = NULL;
            char sum[sizeof err->msg - 160]; /* the whole message fits a wf_err */
            int npe = guard_report(f, sum, sizeof sum);
            return WF_FAIL(err, WF_ERANGE, "fabric: cycle %llu: run exceeded the max-cycle guard of %llu "
                           "cycles; %d PEs still working: %s", (unsigned long long)f->now,
                           (unsigned long long)max_cycles, npe, sum);
        }
        if (skew) { /* a window of cycles (see skew_window), when it is long enough to pay */
            uint64_t d = skew_len(f, skew);
            if (quiet_max - quiet < d) d = quiet_max - quiet;
            if (ck_at != UINT64_MAX && ck_at - f->now < d) d = ck_at - f->now;
            if (max_cycles && start + max_cycles + 1 - f->now < d) d = start + max_cycles + 1 - f->now;
            if (d >= 2) {
                skew_window(f, (int)d, cyc);
                if (f->skew_failed) {
                    f->failed = 1;
                    f->now = f->skew_fail_at;
                    break;
                }
                int end = skew_replay(f, cyc, d, &quiet);
                f->skewed += d;
                ptick = ptick > d ? ptick - (unsigned)(d - 1) : 1; /* the clock every ~1024 cycles */
                if (end) break;
                continue;
            }
        }
        int par = nt > 1 && f->pool && cycle_work(f) >= par_min;
        int nprog = par ? fabric_pool_threads(f) : 1;
        for (int i = 0; i < nprog; i++) f->tc[i].progress = f->tc[i].rlive = 0;
        one_cycle(f, par);
        if (f->failed) break;
        int progress = 0;
        for (int i = 0; i < nprog; i++) progress |= f->tc[i].progress;
        if (!any_listed(f, nprog)) {
            drop_lingering(f);
            uint64_t t = next_event(f);
            if (t == UINT64_MAX) break;    /* quiescent */
            t = guard_clamp(t, start, max_cycles);
            f->now = t > f->now ? jump_to(f, t) : f->now + 1; /* an event that fell due in this cycle runs in the next */
            quiet = 0;
            continue;
        }
        if (progress) {
            quiet = 0;
        } else if (++quiet > quiet_max) {
            /* nothing moved for longer than any latency: only an event can help */
            drop_lingering(f);
            uint64_t t = next_event(f);
            if (t == UINT64_MAX) break;
            t = guard_clamp(t, start, max_cycles);
            f->now = t > f->now ? t : f->now + 1;
            quiet = 0;
            continue;
        }
        f->now++;
    }
    wf_tc = NULL;
    f->wall += wf_now() - t0;
    f->cpu += snapshot_cpu_now() - cpu0;
#ifdef WF_DEBUG
    debug_walk(f);
#endif
    if (stopped) {
        f->stop_req = 0;
        if (ck_st) return ck_st;
        if (stopped == 1 || f->ck.path)
            return WF_FAIL(err, WF_EINTR, "fabric: stopped at cycle %llu; snapshot written to %s",
                           (unsigned long long)f->now, f->ck.path);
        return WF_FAIL(err, WF_EINTR, "fabric: stopped at cycle %llu on request (no checkpoint file set)",
                       (unsigned long long)f->now);
    }
    if (f->failed) {
        snprintf(f->report, sizeof f->report, "%s\n", f->ferr.msg);
        f->failed = 0; /* the error is reported once */
        if (err) *err = f->ferr;
        return f->ferr.code;
    }
    char first[320];
    int n = build_report(f, first, sizeof first);
    /* stuck items stay on their lists: a later run (after more host input) resumes them */
    if (n) {
        return WF_FAIL(err, WF_EDEADLOCK, "fabric: cycle %llu: deadlock: %s%s",
                       (unsigned long long)f->now, first, n > 1 ? " (and more: see wf_fabric_report)" : "");
    }
    return WF_OK;
}

wf_status wf_fabric_run(wf_fabric *f, uint64_t max_cycles, wf_err *err) {
    wf_err local = {0};
    if (!err) err = &local;
    wf_status st = run_loop(f, max_cycles, err);
    if (st && f->dbg && !f->dbg_quit) debug_error(f, st, err->msg);
    f->dbg_quit = 0;
    return st;
}
