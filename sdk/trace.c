/* trace.c — Perfetto / Chrome trace-event JSON from the fabric's trace hook
** (format in sdk/diag.h). Events are formatted into a 64 KB buffer and
** streamed through the user-output writer (wf_ofile_open); per-PE metadata (process and
** thread names) is written the first time a PE or thread shows up. The hook
** cannot fail the run: the first write error is kept and returned at close. */
#include "diag.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_BYTES (64 * 1024)
#define TID_MEMOPS 30
#define TID_PORT0 40
#define TID_DELIVER 50

struct wf_tracer {
    wf_tracer *next;       /* the open tracers (committed at exit if never closed) */
    wf_fabric *f;
    wf_afile *af;
    wf_trace_window win;
    int fw;                /* fabric width (pid = y * fw + x + 1) */
    uint64_t *seen;        /* per PE of the window: bit 63 = process named, bits = thread slots named */
    uint64_t events, dropped, max_events;
    int first;             /* no event written yet (comma handling) */
    wf_err err;            /* first write error */
    size_t n;
    char buf[BUF_BYTES];
};

static void flush(wf_tracer *t) {
    if (!t->n) return;
    if (!t->err.code) wf_afile_write(t->af, t->buf, t->n, &t->err);
    t->n = 0;
}

static void put(wf_tracer *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void put(wf_tracer *t, const char *fmt, ...) {
    if (BUF_BYTES - t->n < 512) flush(t);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->buf + t->n, BUF_BYTES - t->n, fmt, ap);
    va_end(ap);
    if (k > 0) t->n += (size_t)k < BUF_BYTES - t->n ? (size_t)k : BUF_BYTES - t->n - 1;
}

static const char *sep(wf_tracer *t) {
    if (t->first) {
        t->first = 0;
        return "\n";
    }
    return ",\n";
}

/* thread slot bit for the seen mask: core 0, colors 1..24, memops 25, ports 26..30, deliver 31 */
static int tid_bit(int tid) {
    if (tid == 0) return 0;
    if (tid >= 1 && tid <= 24) return tid;
    if (tid == TID_MEMOPS) return 25;
    if (tid >= TID_PORT0 && tid < TID_PORT0 + WF_PORT_COUNT) return 26 + tid - TID_PORT0;
    return 31;
}

static void name_thread(wf_tracer *t, int pid, int tid) {
    char nm[32];
    if (tid == 0) snprintf(nm, sizeof nm, "core");
    else if (tid >= 1 && tid <= 24) snprintf(nm, sizeof nm, "color %d", tid - 1);
    else if (tid == TID_MEMOPS) snprintf(nm, sizeof nm, "memory ops");
    else if (tid >= TID_PORT0 && tid < TID_PORT0 + WF_PORT_COUNT)
        snprintf(nm, sizeof nm, "out %s", wf_port_name(tid - TID_PORT0));
    else snprintf(nm, sizeof nm, "deliver");
    put(t, "%s{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"%s\"}}", sep(t), pid,
        tid, nm);
    put(t, "%s{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":%d,\"tid\":%d,\"args\":{\"sort_index\":%d}}",
        sep(t), pid, tid, tid);
}

static void meta(wf_tracer *t, int x, int y, int pid, int tid) {
    size_t i = (size_t)(y - t->win.y0) * (size_t)(t->win.x1 - t->win.x0) + (size_t)(x - t->win.x0);
    uint64_t *s = &t->seen[i];
    if (!(*s >> 63 & 1)) {
        *s |= 1ull << 63;
        put(t, "%s{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"args\":{\"name\":\"PE(%d,%d)\"}}", sep(t), pid,
            x, y);
        put(t, "%s{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":%d,\"args\":{\"sort_index\":%d}}", sep(t),
            pid, pid);
    }
    int b = tid_bit(tid);
    if (!(*s >> b & 1)) {
        *s |= 1ull << b;
        name_thread(t, pid, tid);
    }
}

static void hook(void *ud, const wf_trace_event *ev) {
    wf_tracer *t = ud;
    if (t->events >= t->max_events) {
        t->dropped++;
        return;
    }
    t->events++;
    int pid = ev->y * t->fw + ev->x + 1;
    unsigned long long ts = (unsigned long long)ev->cycle, dur = (unsigned long long)ev->dur;
    switch (ev->kind) {
    case WF_TRACE_TASK:
        meta(t, ev->x, ev->y, pid, 0);
        if (ev->id == 64)
            put(t, "%s{\"ph\":\"X\",\"name\":\"launch\",\"cat\":\"task\",\"pid\":%d,\"tid\":0,\"ts\":%llu,"
                   "\"dur\":%llu}", sep(t), pid, ts, dur);
        else {
            /* the kernel's name for the task (wf_task_decl.name), else its ID */
            const char *tn = wf_fabric_task_name(t->f, ev->x, ev->y, ev->id);
            char idn[16];
            if (!tn || !*tn || strpbrk(tn, "\"\\")) snprintf(idn, sizeof idn, "task %d", ev->id), tn = idn;
            put(t, "%s{\"ph\":\"X\",\"name\":\"%s\",\"cat\":\"task\",\"pid\":%d,\"tid\":0,\"ts\":%llu,"
                   "\"dur\":%llu,\"args\":{\"id\":%d,\"data\":\"0x%08x\"}}", sep(t), tn, pid, ts, dur, ev->id,
                (unsigned)ev->data);
        }
        break;
    case WF_TRACE_OP: {
        int tid = ev->id == 255 ? TID_MEMOPS : 1 + ev->id;
        const char *nm = wf_op_name(ev->port);
        meta(t, ev->x, ev->y, pid, tid);
        put(t, "%s{\"ph\":\"X\",\"name\":\"%s\",\"cat\":\"op\",\"pid\":%d,\"tid\":%d,\"ts\":%llu,\"dur\":%llu,"
               "\"args\":{\"n\":%u}}", sep(t), nm, pid, tid, ts, dur ? dur : 1, (unsigned)ev->data);
        break;
    }
    case WF_TRACE_HOP: {
        int tid = TID_PORT0 + (ev->port < WF_PORT_COUNT ? ev->port : 0);
        meta(t, ev->x, ev->y, pid, tid);
        put(t, "%s{\"ph\":\"i\",\"s\":\"t\",\"name\":\"c%d%s\",\"cat\":\"hop\",\"pid\":%d,\"tid\":%d,\"ts\":%llu,"
               "\"args\":{\"color\":%d,\"data\":\"0x%08x\"}}", sep(t), ev->id, ev->ctrl ? " ctrl" : "", pid, tid, ts,
            ev->id, (unsigned)ev->data);
        break;
    }
    case WF_TRACE_DELIVER:
        meta(t, ev->x, ev->y, pid, TID_DELIVER);
        put(t, "%s{\"ph\":\"i\",\"s\":\"t\",\"name\":\"c%d in\",\"cat\":\"deliver\",\"pid\":%d,\"tid\":%d,"
               "\"ts\":%llu,\"args\":{\"color\":%d,\"data\":\"0x%08x\"}}", sep(t), ev->id, pid, TID_DELIVER, ts, ev->id,
            (unsigned)ev->data);
        break;
    default: break;
    }
}

/* Open tracers. A program that exits on an error without wf_tracer_close
** would leave only a temporary file, and the trace of the failing run is the
** one its author wants: at exit, each open tracer's JSON is finished and the
** file committed (without touching its fabric, which may be gone). */
/* global: the open tracers, for the exit handler (STYLE 10) */
static wf_tracer *open_tracers;
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static int exit_hooked;

/* Ends the JSON and commits the file, once (af is NULL after). */
static wf_status finish(wf_tracer *t, wf_err *err) {
    if (!t->af) return WF_OK;
    put(t, "\n],\"metadata\":{\"events\":%llu,\"dropped\":%llu}}\n", (unsigned long long)t->events,
        (unsigned long long)t->dropped);
    flush(t);
    wf_afile *af = t->af;
    t->af = NULL;
    if (t->err.code) {
        if (err) *err = t->err;
        wf_afile_abort(af);
        return t->err.code;
    }
    return wf_afile_commit(af, err);
}
/* The tracers stay listed (and allocated): a later wf_tracer_close, from
** another exit handler, then finds its file committed and only frees. */
static void commit_open_tracers(void) {
    pthread_mutex_lock(&open_mu);
    for (wf_tracer *t = open_tracers; t; t = t->next) finish(t, NULL);
    pthread_mutex_unlock(&open_mu);
}
static void track(wf_tracer *t, int on) {
    pthread_mutex_lock(&open_mu);
    if (on) {
        if (!exit_hooked) exit_hooked = atexit(commit_open_tracers) == 0;
        t->next = open_tracers;
        open_tracers = t;
    } else {
        for (wf_tracer **p = &open_tracers; *p; p = &(*p)->next)
            if (*p == t) {
                *p = t->next;
                break;
            }
    }
    pthread_mutex_unlock(&open_mu);
}

wf_status wf_tracer_open(wf_fabric *f, const char *path, const wf_trace_window *win, uint64_t max_events,
                         wf_tracer **out, wf_err *err) {
    *out = NULL;
    wf_trace_window w = {0, 0, wf_fabric_w(f), wf_fabric_h(f), 0, 0};
    if (win) w = *win;
    if (w.x0 < 0) w.x0 = 0;
    if (w.y0 < 0) w.y0 = 0;
    if (w.x1 > wf_fabric_w(f)) w.x1 = wf_fabric_w(f);
    if (w.y1 > wf_fabric_h(f)) w.y1 = wf_fabric_h(f);
    if (w.x1 <= w.x0 || w.y1 <= w.y0 || (w.c1 && w.c1 <= w.c0))
        return WF_FAIL(err, WF_EUSAGE, "trace: window %d,%d,%d,%d,%llu,%llu is empty on the %dx%d fabric", w.x0,
                       w.y0, w.x1, w.y1, (unsigned long long)w.c0, (unsigned long long)w.c1, wf_fabric_w(f),
                       wf_fabric_h(f));
    wf_tracer *t = wf_calloc(NULL, sizeof *t, "tracer", err);
    if (!t) return err ? err->code : WF_ENOMEM;
    t->seen = wf_calloc(NULL, (size_t)(w.x1 - w.x0) * (size_t)(w.y1 - w.y0) * sizeof *t->seen, "tracer PEs", err);
    if (!t->seen) {
        wf_free(NULL, t);
        return err ? err->code : WF_ENOMEM;
    }
    wf_status st = wf_ofile_open(path, &t->af, err);
    if (st) {
        wf_free(NULL, t->seen);
        wf_free(NULL, t);
        return wf_err_prefix(err, "trace");
    }
    t->f = f;
    t->win = w;
    t->fw = wf_fabric_w(f);
    t->max_events = max_events ? max_events : 4000000;
    t->first = 1;
    put(t, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"time_unit\":\"1 us of trace time = 1 fabric cycle\","
           "\"window\":\"%d,%d,%d,%d,%llu,%llu\"},\"traceEvents\":[", w.x0, w.y0, w.x1, w.y1,
        (unsigned long long)w.c0, (unsigned long long)w.c1);
    wf_fabric_set_trace(f, hook, t, &w);
    track(t, 1);
    *out = t;
    return WF_OK;
}

wf_status wf_tracer_close(wf_tracer *t, wf_err *err) {
    if (!t) return WF_OK;
    track(t, 0);
    wf_fabric_set_trace(t->f, NULL, NULL, NULL);
    wf_status st = finish(t, err);
    wf_free(NULL, t->seen);
    wf_free(NULL, t);
    return st;
}

uint64_t wf_tracer_events(const wf_tracer *t) { return t ? t->events : 0; }
uint64_t wf_tracer_dropped(const wf_tracer *t) { return t ? t->dropped : 0; }

wf_status wf_trace_window_parse(const char *s, wf_trace_window *out, wf_err *err) {
    long long v[6];
    int used = 0;
    if (!s || sscanf(s, "%lld,%lld,%lld,%lld,%lld,%lld%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &used) != 6 ||
        s[used] != 0)
        return WF_FAIL(err, WF_EUSAGE, "trace window '%s': expected x0,y0,x1,y1,c0,c1 (six integers)",
                       s ? s : "");
    for (int i = 0; i < 6; i++)
        if (v[i] < 0) return WF_FAIL(err, WF_EUSAGE, "trace window '%s': negative value", s);
    if (v[2] <= v[0] || v[3] <= v[1] || (v[5] && v[5] <= v[4]))
        return WF_FAIL(err, WF_EUSAGE, "trace window '%s': empty range (need x0<x1, y0<y1, c0<c1 or c1=0)", s);
    out->x0 = (int)v[0];
    out->y0 = (int)v[1];
    out->x1 = (int)(v[2] > 100000 ? 100000 : v[2]);
    out->y1 = (int)(v[3] > 100000 ? 100000 : v[3]);
    out->c0 = (uint64_t)v[4];
    out->c1 = (uint64_t)v[5];
    return WF_OK;
}
