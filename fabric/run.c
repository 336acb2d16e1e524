/* run.c — the one dispatch loop (STYLE 17). Per cycle: due events (core
** free, op start/done, launches), then every router with wavelets, every
** active microthread op, every PE that may pick a task. Idle PEs are on no
** list and cost nothing; with all lists empty the clock jumps to the next
** event. No progress for a few cycles with nothing in the future means
** deadlock: the report names PEs, colors and what each waits on. */
#include "fabric_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int list_push(wf_fabric *f, uint32_t **v, size_t *n, size_t *c, uint32_t x) {
    if (*n == *c) {
        size_t nc = *c ? *c * 2 : 256;
        wf_err e = {0};
        uint32_t *nv = wf_realloc(f->heap, *v, nc * sizeof *nv, "fabric list", &e);
        if (!nv) {
            fabric_fail(f, WF_ENOMEM, "%s", e.msg);
            return -1;
        }
        *v = nv;
        *c = nc;
    }
    (*v)[(*n)++] = x;
    return 0;
}

static int ev_less(const wf_event *a, const wf_event *b) {
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void ev_push(wf_fabric *f, uint64_t time, uint32_t kind, uint32_t arg) {
    if (f->nheap == f->cheap) {
        size_t nc = f->cheap ? f->cheap * 2 : 1024;
        wf_err e = {0};
        wf_event *nv = wf_realloc(f->heap, f->heapv, nc * sizeof *nv, "fabric events", &e);
        if (!nv) {
            fabric_fail(f, WF_ENOMEM, "%s", e.msg);
            return;
        }
        f->heapv = nv;
        f->cheap = nc;
    }
    wf_event ev = {time, f->seq++, kind, arg};
    size_t i = f->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&ev, &f->heapv[p])) break;
        f->heapv[i] = f->heapv[p];
        i = p;
    }
    f->heapv[i] = ev;
}

static wf_event ev_pop(wf_fabric *f) {
    wf_event top = f->heapv[0], last = f->heapv[--f->nheap];
    size_t i = 0, n = f->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && ev_less(&f->heapv[c + 1], &f->heapv[c])) c++;
        if (!ev_less(&f->heapv[c], &last)) break;
        f->heapv[i] = f->heapv[c];
        i = c;
    }
    if (n) f->heapv[i] = last;
    return top;
}

void wake_router_slow(wf_pe *pe) {
    if (pe->rsleep) { /* blocked until now: count the stalled cycles it slept */
        pe->st.stalled += pe->f->now + 1 - pe->rsleep;
        pe->rsleep = 0;
    }
    if (pe->in_rlist) return;
    pe->in_rlist = 1;
    list_push(pe->f, &pe->f->rlist, &pe->f->nr, &pe->f->cr, pe->idx);
}

void wake_pick(wf_pe *pe) {
    if (pe->in_plist) return;
    pe->in_plist = 1;
    list_push(pe->f, &pe->f->plist, &pe->f->np, &pe->f->cp, pe->idx);
}

void fabric_fail_at(wf_fabric *f, const char *file, int line, wf_status code, const char *fmt, ...) {
    if (f->failed) return;
    f->failed = 1;
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
    f->steps++;
    switch (ev->kind) {
    case EV_CORE_FREE:
    case EV_CALL: wake_pick(f->pes[ev->arg]); break;
    case EV_OP_START: op_start_event(f, ev->arg); break;
    case EV_OP_DONE: op_done_event(f, ev->arg); break;
    case EV_OP_FINISH: op_finish_event(f, ev->arg); break;
    default: WF_ASSERT(0);
    }
    f->progress = 1;
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

/* Writes one line per waiting thing into f->report; returns how many. The
** first line is copied into *first. */
static int build_report(wf_fabric *f, char *first, size_t nfirst) {
    size_t at = 0, cap = sizeof f->report;
    int count = 0;
    char line[320], lb[64];
    first[0] = 0;
    for (size_t i = 0; i < (size_t)f->w * f->h; i++) {
        wf_pe *pe = f->pes[i];
        if (!pe) continue;
        for (int si = 0; si < pe->ncolors; si++) {
            wf_cslot *s = &pe->slots[si];
            for (int part = 0; part < 2; part++) { /* 0: the core side, 1: the router */
                line[0] = 0;
                if (part == 0 && s->in_ops) {
                    const wf_op *o = &f->ops[s->in_ops];
                    snprintf(line, sizeof line, "PE(%d,%d): color %d: async %s receive waits for a wavelet "
                             "(%u of %u received, %u in input queue)", pe->x, pe->y, s->color, op_name(o->code),
                             o->i, o->n, s->in.n);
                } else if (part == 0 && s->out_ops) {
                    const wf_op *o = &f->ops[s->out_ops];
                    snprintf(line, sizeof line, "PE(%d,%d): color %d: async %s send waits for output queue room "
                             "(%u of %u sent)", pe->x, pe->y, s->color, op_name(o->code), o->i, o->n);
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

/* ---- the loop --------------------------------------------------------------- */
/* Sorts a large active list (LSD radix, 11-bit digits) so the cycle walks PE
** state in memory order; a small list is left as is. Order inside a cycle does
** not change results (credit lag, ready stamps), only speed. */
static void sort_list(wf_fabric *f, uint32_t *v, size_t n, uint32_t max_key) {
    if (n < 2048) return;
    if (f->ctmp < n) {
        wf_err e = {0};
        uint32_t *t = wf_realloc(f->heap, f->tmp, n * sizeof *t, "fabric sort", &e);
        if (!t) return; /* unsorted is still correct */
        f->tmp = t;
        f->ctmp = n;
    }
    uint32_t *a = v, *b = f->tmp;
    int passes = 0;
    for (int shift = 0; shift < 32 && (max_key >> shift); shift += 11, passes++) {
        size_t cnt[2048] = {0};
        for (size_t i = 0; i < n; i++) cnt[(a[i] >> shift) & 2047]++;
        size_t sum = 0;
        for (int d = 0; d < 2048; d++) { size_t c = cnt[d]; cnt[d] = sum; sum += c; }
        for (size_t i = 0; i < n; i++) b[cnt[(a[i] >> shift) & 2047]++] = a[i];
        uint32_t *t = a; a = b; b = t;
    }
    if (passes & 1) memcpy(v, a, n * sizeof *v);
}

static void step_routers(wf_fabric *f) {
    sort_list(f, f->rlist, f->nr, (uint32_t)((size_t)f->w * f->h));
    size_t n = f->nr, k = 0;
    for (size_t i = 0; i < n; i++) {
        wf_pe *pe = f->pes[f->rlist[i]];
        f->steps++;
        router_step(f, pe);
        if (pe->rpend && !pe->rsleep) f->rlist[k++] = pe->idx;
        else pe->in_rlist = 0;
    }
    /* routers woken during this pass were appended after n */
    for (size_t i = n; i < f->nr; i++) f->rlist[k++] = f->rlist[i];
    f->nr = k;
}

static void step_ops(wf_fabric *f) {
    sort_list(f, f->olist, f->no, (uint32_t)f->cops);
    size_t n = f->no, k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t oi = f->olist[i];
        int keep = 0;
        f->steps++;
        op_step(f, oi, &keep);
        if (keep) f->olist[k++] = oi;
    }
    for (size_t i = n; i < f->no; i++) f->olist[k++] = f->olist[i];
    f->no = k;
}

static void step_picks(wf_fabric *f) {
    /* tasks run here may wake other PEs: those go to the next round */
    size_t n = f->np, k = 0;
    for (size_t i = 0; i < n; i++) {
        wf_pe *pe = f->pes[f->plist[i]];
        int keep = 0;
        pe->in_plist = 0;
        core_pick(f, pe, &keep);
        if (keep && !pe->in_plist) {
            pe->in_plist = 1;
            f->plist[k++] = pe->idx;
        }
        if (f->failed) break;
    }
    for (size_t i = n; i < f->np; i++) f->plist[k++] = f->plist[i];
    f->np = k;
}

#ifdef WF_DEBUG
/* Consistency walk (STYLE 16): queue bounds, list flags, op queues. */
static void debug_walk(wf_fabric *f) {
    for (size_t i = 0; i < (size_t)f->w * f->h; i++) {
        wf_pe *pe = f->pes[i];
        if (!pe) continue;
        for (int si = 0; si < pe->ncolors; si++) {
            wf_cslot *s = &pe->slots[si];
            const wf_fifo *q[3] = {&s->rb, &s->in, &s->out};
            for (int k = 0; k < 3; k++) WF_ASSERT(q[k]->n <= q[k]->cap && (q[k]->cap == 0 || q[k]->head < q[k]->cap));
            WF_ASSERT(pe->cidx[s->color] == si);
            if (s->rb.n || s->out.n) WF_ASSERT(pe->rpend >> s->color & 1);
            uint32_t heads[2] = {s->in_ops, s->out_ops}, tails[2] = {s->in_ops_tail, s->out_ops_tail};
            for (int k = 0; k < 2; k++) {
                uint32_t last = NO_OP;
                for (uint32_t oi = heads[k]; oi != NO_OP; oi = f->ops[oi].next) {
                    WF_ASSERT(oi < f->cops && f->ops[oi].pe == pe);
                    last = oi;
                }
                if (heads[k] != NO_OP) WF_ASSERT(last == tails[k]);
            }
        }
    }
    for (size_t i = 0; i < f->nr; i++) WF_ASSERT(f->pes[f->rlist[i]]->in_rlist);
    for (size_t i = 0; i < f->np; i++) WF_ASSERT(f->pes[f->plist[i]]->in_plist);
    for (size_t i = 0; i < f->no; i++) WF_ASSERT(f->ops[f->olist[i]].active);
}
#endif

wf_status wf_fabric_run(wf_fabric *f, uint64_t max_cycles, wf_err *err) {
    wf_status st = wf_fabric_load(f, err);
    if (st) return st;
    double t0 = wf_now();
    uint64_t start = f->now;
    uint32_t quiet = 0;
    const uint32_t quiet_max = f->cm.hop_latency + 2 * f->cm.ramp_latency + 4;
    f->report[0] = 0;
    while (!f->failed) {
        if (max_cycles && f->now - start > max_cycles) {
            f->wall += wf_now() - t0;
            snprintf(f->report, sizeof f->report, "stopped at the max-cycle guard\n");
            return WF_FAIL(err, WF_ERANGE, "fabric: cycle %llu: run exceeded the max-cycle guard of %llu "
                           "cycles", (unsigned long long)f->now, (unsigned long long)max_cycles);
        }
        f->progress = 0;
        while (f->nheap && f->heapv[0].time <= f->now) {
            wf_event ev = ev_pop(f);
            do_event(f, &ev);
        }
        if (f->nr) step_routers(f);
        if (f->no) step_ops(f);
        if (f->np) step_picks(f);
        if (f->failed) break;
        if (!f->nr && !f->no && !f->np) {
            if (!f->nheap) break;          /* quiescent */
            f->now = f->heapv[0].time;     /* jump */
            quiet = 0;
            continue;
        }
        if (f->progress) {
            quiet = 0;
        } else if (++quiet > quiet_max) {
            /* nothing moved for longer than any latency: only an event can help */
            if (!f->nheap) break;
            if (f->heapv[0].time > f->now) f->now = f->heapv[0].time;
            else f->now++;
            quiet = 0;
            continue;
        }
        f->now++;
    }
    f->wall += wf_now() - t0;
#ifdef WF_DEBUG
    debug_walk(f);
#endif
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
