/* core.c — the compute engine of a PE: the task picker (lowest ready ID
** wins; a launched function first), running a task to completion and
** charging its cycles, task control (activate/block/unblock), control
** wavelets reaching the core, and what PE code may ask about itself. */
#include "fabric_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

/* A task now covers [from, to): router/op cycles in there that were counted
** before it started (same cycle, or a cut-through receive's next cycle) are
** busy cycles now, counted once in st.busy. */
static void unmark_busy(wf_pe *pe, uint64_t from, uint64_t to) {
    for (uint64_t c = from; c < to && c <= pe->last_act && pe->act_mask; c++) {
        uint64_t d = pe->last_act - c;
        if (d < 64 && (pe->act_mask >> d & 1)) {
            pe->act_mask &= ~(1ull << d);
            pe->st.active--;
        }
    }
}

_Thread_local const char *wf_site_file;
_Thread_local int wf_site_line;

static void run_task(wf_fabric *f, wf_pe *pe, int id, wf_task_fn fn, uint32_t data) {
    if (f->dbg && debug_task(f, pe, id, data)) return; /* the debugger quit: the run stops */
    uint64_t now = f->now;
    wf_site_file = NULL; /* a site recorded by an earlier task is not this one's */
    pe->tlocal = now + f->cm.task_switch;
    pe->cur_task = pe->last_task = id;
    if (f->statics.n) {
        statics_before(f);
        fn(pe, data);
        statics_after(f, pe);
    } else {
        fn(pe, data);
    }
    pe->cur_task = -1;
    uint64_t dur = pe->tlocal - now;
    pe->busy_from = now;
    pe->busy_until = now + dur;
    unmark_busy(pe, now, now + dur);
    pe->st.busy += dur;
    pe->st.tasks++;
    tctx(f)->steps++;
    note_progress();
    ev_push(f, now + dur, EV_CORE_FREE, pe->idx);
    if (f->trace && trace_on(f, pe->x, pe->y, now))
        emit(f, WF_TRACE_TASK, id, 0, 0, pe->x, pe->y, data, now, dur);
}

void core_pick(wf_fabric *f, wf_pe *pe, int *keep) {
    uint64_t now = f->now;
    if (pe->busy_until > now || !pe->prog) return; /* EV_CORE_FREE wakes it again */
    if (pe->launch_fn) {
        wf_task_fn fn = pe->launch_fn;
        pe->launch_fn = NULL;
        run_task(f, pe, TASK_LAUNCH, fn, 0);
        return;
    }
    uint64_t cand = pe->ready & ~pe->blocked;
    uint32_t dc = pe->prog->data_colors & ~(uint32_t)pe->blocked;
    int later = 0;
    for (uint32_t m = dc; m; m &= m - 1) {
        int c = __builtin_ctz(m);
        wf_cslot *s = slot_of(pe, c);
        if (!s->in.n || s->in_ops) continue;
        if (is_ready(fifo_head(&s->in)->ready, now)) cand |= 1ull << c;
        else later = 1;
    }
    if (!cand) {
        *keep = later;
        return;
    }
    int t = __builtin_ctzll(cand);
    uint32_t data = 0;
    /* a data task's ID is its color (< 24); an ID without a task reads as kind 0 (data) */
    if (pe->prog->kind[t] == WF_TASK_DATA && t < 32 && (dc >> t & 1) && !(pe->ready >> t & 1)) {
        wf_cslot *s = slot_of(pe, t);
        data = fifo_pop(&s->in, now).data;
        slot_in_popped(f, pe, s);
    } else {
        pe->ready &= ~(1ull << t);
        if (pe->prog->kind[t] == WF_TASK_CONTROL) data = pe->ctrl_data;
    }
    if (!pe->prog->fn[t]) {
        fabric_fail(f, WF_EUSAGE, "PE(%d,%d): cycle %llu: task %d was activated but the kernel has no "
                    "task with that ID", pe->x, pe->y, (unsigned long long)now, t);
        return;
    }
    run_task(f, pe, t, pe->prog->fn[t], data);
}

void core_done_action(wf_fabric *f, wf_pe *pe, int action, int task) {
    (void)f;
    if (action == WF_DONE_ACTIVATE) wf_activate(pe, task);
    else if (action == WF_DONE_UNBLOCK) wf_unblock(pe, task);
}

void core_deliver_ctrl(wf_fabric *f, wf_pe *pe, uint32_t data) {
    (void)f;
    int t = (int)(data & 63);
    if (!pe->prog || !(pe->prog->ctrl_tasks >> t & 1)) return; /* only switches react */
    pe->ctrl_data = data;
    pe->ready |= 1ull << t;
    wake_pick(pe);
}

/* ---- task control ------------------------------------------------------------ */
static int bad_task(wf_pe *pe, int t, const char *what) {
    if (t >= 0 && t < WF_FABRIC_TASKS) return 0;
    wf_pe_fail(pe, WF_EUSAGE, "%s: task ID %d, expected 0..63", what, t);
    return 1;
}

/* An ID out of range, or (from kernel code, to say where) one the kernel
** binds no task to: an error; 1 when it failed. */
static int bad_task_id(wf_pe *pe, int t, const char *what) {
    if (bad_task(pe, t, what)) return 1;
    if (pe->cur_task >= 0 && pe->prog && !pe->prog->fn[t]) {
        wf_pe_fail(pe, WF_EUSAGE, "%s: task %d: the kernel has no task with that ID", what, t);
        return 1;
    }
    return 0;
}

void wf_activate(wf_pe *pe, int t) {
    if (bad_task_id(pe, t, "activate")) return;
    pe->ready |= 1ull << t;
    wake_pick(pe);
}
void wf_block(wf_pe *pe, int t) {
    if (bad_task_id(pe, t, "block")) return;
    pe->blocked |= 1ull << t;
}
void wf_unblock(wf_pe *pe, int t) {
    if (bad_task_id(pe, t, "unblock")) return;
    pe->blocked &= ~(1ull << t);
    wake_pick(pe);
}
int wf_is_blocked(const wf_pe *pe, int t) {
    return t >= 0 && t < WF_FABRIC_TASKS && (pe->blocked >> t & 1);
}

/* ---- where am I ---------------------------------------------------------------- */
int wf_pe_x(const wf_pe *pe) { return pe->x; }
int wf_pe_y(const wf_pe *pe) { return pe->y; }
int wf_pe_rx(const wf_pe *pe) { return pe->x - pe->img->rx0; }
int wf_pe_ry(const wf_pe *pe) { return pe->y - pe->img->ry0; }
int wf_pe_rw(const wf_pe *pe) { return pe->img->rw; }
int wf_pe_rh(const wf_pe *pe) { return pe->img->rh; }
int64_t wf_pe_param(const wf_pe *pe, int i) {
    return pe->img->params && i >= 0 && i < pe->img->nparams ? pe->img->params[i] : 0;
}
float wf_pe_param_f32(const wf_pe *pe, int i) { return wf_bits_f32((uint32_t)wf_pe_param(pe, i)); }
uint64_t wf_pe_cycle(const wf_pe *pe) { return pe->cur_task >= 0 ? pe->tlocal : pe->f->now; }
void wf_pe_charge(wf_pe *pe, uint32_t cycles) {
    if (pe->cur_task >= 0) pe->tlocal += cycles;
}

void *wf_sym(wf_pe *pe, int sym) {
    const wf_kernel *k = pe->img ? pe->img->kernel : NULL;
    if (!k || sym < 0 || sym >= k->nsymbols || pe_sram_touch(pe)) {
        if (!k || sym < 0 || sym >= k->nsymbols)
            wf_pe_fail(pe, WF_EUSAGE, "symbol %d does not exist (kernel has %d)", sym, k ? k->nsymbols : 0);
        /* the run stops after this task; give it scratch memory rather than NULL */
        wf_fabric *f = pe->f;
        pthread_mutex_lock(&f->mu);
        if (!f->scratch) f->scratch = arena_alloc(f, f->cm.sram_bytes, NULL);
        pthread_mutex_unlock(&f->mu);
        return f->scratch;
    }
    return pe->sram + (pe->img->sym_addr[sym] - pe->img->sram_lo);
}

uint32_t wf_sym_bytes(const wf_pe *pe, int sym) {
    const wf_kernel *k = pe->img ? pe->img->kernel : NULL;
    return k && sym >= 0 && sym < k->nsymbols ? pe->img->sym_bytes[sym] : 0;
}

void wf_pe_fail(wf_pe *pe, wf_status code, const char *fmt, ...) {
    wf_fabric *f = pe->f;
    if (f->failed) return;
    char msg[sizeof ((wf_err *)0)->msg], tb[80]; /* a whole error message fits */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (pe->cur_task == TASK_LAUNCH) snprintf(tb, sizeof tb, "launched function");
    else if (pe->cur_task >= 0 && pe->prog && pe->prog->name[pe->cur_task])
        snprintf(tb, sizeof tb, "task %d '%s'", pe->cur_task, pe->prog->name[pe->cur_task]);
    else if (pe->cur_task >= 0) snprintf(tb, sizeof tb, "task %d", pe->cur_task);
    else snprintf(tb, sizeof tb, "no task");
    char site[200] = "";
    if (wf_site_file) snprintf(site, sizeof site, "%s:%d: ", wf_site_file, wf_site_line);
    fabric_fail(f, code, "%sPE(%d,%d): cycle %llu: %s: %s", site, pe->x, pe->y,
                (unsigned long long)wf_pe_cycle(pe), tb, msg);
}
