/* debug.c — the fabric's side of the debugger: the hook the run loop and the
** task picker call (stops at a cycle, at a task start, at an error), and
** read-only descriptions of one PE (queues, router, tasks and microthreads,
** symbols) for a front end to show (sdk/debug.c reads the commands). A run
** with a hook runs on one thread, so these see one consistent state. */
#include "fabric_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void wf_fabric_set_debug(wf_fabric *f, wf_debug_fn fn, void *ud) {
    f->dbg = fn;
    f->dbg_ud = ud;
    f->dbg_at = UINT64_MAX;
}

void wf_fabric_debug_at(wf_fabric *f, uint64_t cycle) { f->dbg_at = f->dbg ? cycle : UINT64_MAX; }

static int quit(wf_fabric *f) {
    f->dbg_quit = 1;
    fabric_fail(f, WF_EINTR, "debugger: quit at cycle %llu", (unsigned long long)f->now);
    return 1;
}

int debug_cycle(wf_fabric *f) {
    f->dbg_at = UINT64_MAX; /* fn sets the next one */
    if (!f->dbg) return 0;
    wf_stop s = {WF_STOP_CYCLE, f->now, -1, -1, -1, 0, WF_OK, NULL};
    return f->dbg(f->dbg_ud, f, &s) ? quit(f) : 0;
}

int debug_task(wf_fabric *f, wf_pe *pe, int id, uint32_t data) {
    if (f->dbg_quit) return 1; /* quitting: no task runs any more */
    wf_stop s = {WF_STOP_TASK, f->now, pe->x, pe->y, id, data, WF_OK, NULL};
    return f->dbg(f->dbg_ud, f, &s) ? quit(f) : 0;
}

void debug_error(wf_fabric *f, wf_status code, const char *msg) {
    wf_stop s = {WF_STOP_ERROR, f->now, -1, -1, -1, 0, code, msg};
    (void)f->dbg(f->dbg_ud, f, &s);
    f->dbg_at = UINT64_MAX;
}

/* ---- descriptions ---------------------------------------------------------------- */
typedef struct {
    char *b;
    size_t cap, at;
} sbuf;

static void put(sbuf *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void put(sbuf *o, const char *fmt, ...) {
    if (o->at >= o->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->b + o->at, o->cap - o->at, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    o->at += (size_t)k;
    if (o->at >= o->cap) { /* truncated: say so on the last line */
        o->at = o->cap;
        if (o->cap >= 5) memcpy(o->b + o->cap - 5, "...\n", 5);
    }
}

/* "W", "RAMP|E", "-" for a port mask. */
static const char *ports(unsigned m, char *b, size_t n) {
    static const char *const nm[WF_PORT_COUNT] = {"N", "S", "E", "W", "RAMP"};
    size_t at = 0;
    b[0] = 0;
    for (int p = 0; p < WF_PORT_COUNT; p++)
        if (m >> p & 1) {
            int k = snprintf(b + at, n - at, "%s%s", at ? "|" : "", nm[p]);
            if (k > 0 && (size_t)k < n - at) at += (size_t)k;
        }
    if (!at) snprintf(b, n, "-");
    return b;
}

/* The wavelets of q, oldest first: ": 0x3f800000 0x40000000" (a link
** buffer's with their arrival port, "0x3f800000<WEST"; "ctrl" marks control
** wavelets; "(ready in k)" one still k cycles in flight). */
static void wavelets(sbuf *o, const wf_fifo *q, int with_port, uint64_t now) {
    const wf_wv *e = fifo_ent(q);
    if (q->n) put(o, ":");
    for (unsigned i = 0; i < q->n; i++) {
        const wf_wv *w = &e[(q->head + i) % q->cap];
        put(o, " 0x%08x", w->data);
        if (with_port) put(o, "<%s", wf_port_name((w->flags >> 1) & 7));
        if (w->flags & 1) put(o, " ctrl");
        if (!is_ready(w->ready, now)) put(o, " (ready in %u)", (unsigned)(w->ready - (uint32_t)now));
    }
}

static const char *task_kind(int k) {
    return k == WF_TASK_DATA ? "data" : k == WF_TASK_CONTROL ? "control" : "local";
}

static void task_name(sbuf *o, const wf_pe *pe, int t) {
    if (t == TASK_LAUNCH) {
        put(o, "launched function");
        return;
    }
    const char *nm = pe->prog && t >= 0 && t < WF_FABRIC_TASKS ? pe->prog->name[t] : NULL;
    if (nm) put(o, "task %d '%s'", t, nm);
    else put(o, "task %d", t);
}

static void describe_op(sbuf *o, const wf_pe *pe, const wf_op *op, const char *state) {
    put(o, "  op %s", op_name(op->code));
    if (op->in_color != 255) put(o, " receive color %d", op->in_color);
    if (op->out_color != 255) put(o, " %s color %d", op->in_color != 255 ? "to" : "send", op->out_color);
    if (op->in_color == 255 && op->out_color == 255) put(o, " memory");
    uint32_t done = op->in_color == 255 && op->out_color == 255 ? 0 : op->i;
    put(o, ": %s, %u of %u elements, from cycle %llu", state, done, op->n, (unsigned long long)op->start);
    if (op->action != WF_DONE_NONE) {
        put(o, ", then %s ", op->action == WF_DONE_ACTIVATE ? "activate" : "unblock");
        task_name(o, pe, op->task);
    }
    put(o, "\n");
}

static void describe_tasks(const wf_fabric *f, const wf_pe *pe, sbuf *o) {
    uint64_t now = f->now;
    put(o, "PE(%d,%d) tasks at cycle %llu: core ", pe->x, pe->y, (unsigned long long)now);
    if (pe->cur_task >= 0) {
        put(o, "running ");
        task_name(o, pe, pe->cur_task);
    } else if (pe->busy_until > now && pe->last_task >= 0) {
        put(o, "busy until cycle %llu with ", (unsigned long long)pe->busy_until);
        task_name(o, pe, pe->last_task);
    } else {
        put(o, "idle");
    }
    put(o, "; ready 0x%016llx blocked 0x%016llx\n", (unsigned long long)pe->ready, (unsigned long long)pe->blocked);
    for (int t = 0; t < WF_FABRIC_TASKS; t++) {
        int bound = pe->prog && pe->prog->fn[t];
        int r = (int)(pe->ready >> t & 1), b = (int)(pe->blocked >> t & 1);
        if (!bound && !r) continue;
        put(o, "  ");
        task_name(o, pe, t);
        if (!bound) {
            put(o, " (not bound): ready 1 blocked %d\n", b);
            continue;
        }
        int k = pe->prog->kind[t];
        put(o, " %s: ready %d blocked %d", task_kind(k), r, b);
        if (k == WF_TASK_DATA) {
            const wf_cslot *s = pe->cidx[t] >= 0 ? &pe->slots[pe->cidx[t]] : NULL;
            put(o, " queued %u", s ? (unsigned)s->in.n : 0u);
        }
        put(o, "\n");
    }
    if (pe->launch_fn) put(o, "  launch pending\n");
    /* microthreads: per color the receive and send queues (head first: the
    ** active one), then memory-only async ops waiting for their completion */
    int nops = 0;
    for (int c = 0; c < WF_FABRIC_COLORS; c++) {
        if (pe->cidx[c] < 0) continue;
        const wf_cslot *s = &pe->slots[pe->cidx[c]];
        uint32_t heads[2] = {s->in_ops, s->out_ops};
        for (int k = 0; k < 2; k++)
            for (uint32_t oi = heads[k]; oi != NO_OP; oi = op_at(f, oi)->next) {
                const wf_op *op = op_at(f, oi);
                describe_op(o, pe, op, op->active ? "running" : oi == heads[k] ? "waiting" : "queued");
                nops++;
            }
    }
    for (int b = 0; b < f->nbands; b++) {
        const wf_band *bd = &f->band[b];
        for (size_t i = 0; i < bd->nheap; i++) {
            const wf_event *ev = &bd->heapv[i];
            if (ev->kind != EV_OP_DONE || op_at(f, ev->arg)->pe != pe) continue;
            describe_op(o, pe, op_at(f, ev->arg), "running");
            nops++;
        }
    }
    if (!nops) put(o, "  no async ops\n");
}

static void describe_queues(const wf_fabric *f, const wf_pe *pe, int color, sbuf *o) {
    put(o, "PE(%d,%d) queues at cycle %llu:\n", pe->x, pe->y, (unsigned long long)f->now);
    int any = 0;
    for (int side = 0; side < 2; side++)
        for (int qi = 0; qi < (side ? WF_FABRIC_OQ : WF_FABRIC_IQ); qi++) {
            const wf_cslot *s = NULL;
            for (int si = 0; si < pe->ncolors && !s; si++)
                if ((side ? pe->slots[si].oq : pe->slots[si].iq) == qi) s = &pe->slots[si];
            if (!s || (color >= 0 && s->color != color)) continue;
            const wf_fifo *q = side ? &s->out : &s->in;
            put(o, "  %s %d color %d: %u/%u", side ? "oq" : "iq", qi, s->color, (unsigned)q->n, (unsigned)q->cap);
            wavelets(o, q, 0, f->now);
            if (side && s->capture) put(o, " (host capture)");
            put(o, "\n");
            any = 1;
        }
    if (!any) put(o, "  no queues\n");
}

static void describe_router(const wf_fabric *f, const wf_pe *pe, int color, sbuf *o) {
    put(o, "PE(%d,%d) router at cycle %llu:%s\n", pe->x, pe->y, (unsigned long long)f->now,
        pe->asleep ? " asleep (blocked)" : "");
    char a[32], b[32];
    int any = 0;
    for (int c = 0; c < WF_FABRIC_COLORS; c++) { /* in color order */
        if (pe->cidx[c] < 0 || (color >= 0 && c != color)) continue;
        const wf_cslot *s = &pe->slots[pe->cidx[c]];
        any = 1;
        if (!s->has_route) {
            put(o, "  color %d: no route\n", s->color);
            continue;
        }
        const wf_route *r = &s->route;
        int np = r->npos ? r->npos : 1;
        put(o, "  color %d: position %d of %d%s:", s->color, r->cur, np, r->ring ? " ring" : "");
        for (int p = 0; p < np; p++)
            put(o, " %s%s->%s%s", p == r->cur ? "[" : "", ports(r->pos[p].rx, a, sizeof a),
                ports(r->pos[p].tx, b, sizeof b), p == r->cur ? "]" : "");
        if (s->rb.cap) { /* link input: some position takes a wavelet from a neighbour */
            put(o, "; buffer %u/%u", (unsigned)s->rb.n, (unsigned)s->rb.cap);
            wavelets(o, &s->rb, 1, f->now);
        }
        if (s->oq >= 0) {
            put(o, "; out %u/%u", (unsigned)s->out.n, (unsigned)s->out.cap);
            wavelets(o, &s->out, 0, f->now);
        }
        put(o, "\n");
    }
    if (!any) put(o, "  no colors\n");
}

static void describe_symbols(const wf_pe *pe, sbuf *o) {
    const wf_kernel *k = pe->img->kernel;
    put(o, "PE(%d,%d) kernel '%s' symbols:\n", pe->x, pe->y, k->name ? k->name : "?");
    for (int i = 0; i < k->nsymbols; i++)
        put(o, "  %s: %u bytes at 0x%x\n", k->symbols[i].name, pe->img->sym_bytes[i], pe->img->sym_addr[i]);
}

wf_status wf_fabric_inspect(const wf_fabric *f, int x, int y, wf_inspect what, int color, char *buf, size_t n,
                            wf_err *err) {
    if (n) buf[0] = 0;
    if (x < 0 || y < 0 || x >= f->w || y >= f->h)
        return WF_FAIL(err, WF_ERANGE, "PE(%d,%d) is outside the %d x %d fabric", x, y, f->w, f->h);
    if (color < -1 || color >= WF_FABRIC_COLORS)
        return WF_FAIL(err, WF_ERANGE, "color %d, expected 0..%d", color, WF_FABRIC_COLORS - 1);
    const wf_pe *pe = pe_at(f, x, y);
    if (!pe || (what == WF_INSPECT_SYMBOLS && (!pe->img || !pe->img->kernel)))
        return WF_FAIL(err, WF_EUSAGE, "PE(%d,%d) has no program%s", x, y, what == WF_INSPECT_SYMBOLS ? "" : " nor route");
    if (color >= 0 && (what == WF_INSPECT_QUEUES || what == WF_INSPECT_ROUTER) && pe->cidx[color] < 0)
        return WF_FAIL(err, WF_EUSAGE, "PE(%d,%d) does not use color %d", x, y, color);
    if (!f->loaded && what != WF_INSPECT_SYMBOLS)
        return WF_FAIL(err, WF_EUSAGE, "fabric: not loaded yet (queues and tasks exist from the first run)");
    sbuf o = {buf, n, 0};
    switch (what) {
    case WF_INSPECT_QUEUES: describe_queues(f, pe, color, &o); break;
    case WF_INSPECT_ROUTER: describe_router(f, pe, color, &o); break;
    case WF_INSPECT_TASKS: describe_tasks(f, pe, &o); break;
    case WF_INSPECT_SYMBOLS: describe_symbols(pe, &o); break;
    default: return WF_FAIL(err, WF_EUSAGE, "inspect: unknown kind %d", (int)what);
    }
    return WF_OK;
}

wf_status wf_fabric_peek(const wf_fabric *f, int x, int y, uint32_t addr, void *dst, uint32_t n, wf_err *err) {
    const wf_pe *pe = pe_at(f, x, y);
    if (!pe || !pe->img) return WF_FAIL(err, WF_EUSAGE, "PE(%d,%d) has no program", x, y);
    uint32_t lo = pe->img->sram_lo, hi = pe->img->sram_hi;
    if (addr < lo || addr > hi || n > hi - addr)
        return WF_FAIL(err, WF_ERANGE, "PE(%d,%d): SRAM bytes [0x%x,0x%llx) lie outside the backed [0x%x,0x%x)", x, y,
                       addr, (unsigned long long)addr + n, lo, hi);
    if (pe->sram) memcpy(dst, pe->sram + (addr - lo), n);
    else memset(dst, 0, n);
    return WF_OK;
}

const char *wf_fabric_task_name(const wf_fabric *f, int x, int y, int t) {
    const wf_pe *pe = pe_at(f, x, y);
    return pe && pe->prog && t >= 0 && t < WF_FABRIC_TASKS ? pe->prog->name[t] : NULL;
}
