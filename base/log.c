/* log.c — the log sink. The library calls wf_log; only the CLI installs a sink
** that prints. */
#include "base.h"

#include <stdarg.h>
#include <time.h>

/* global: the log sink, installed once by the CLI (STYLE 10). */
static wf_log_fn sink;
static void *sink_ud;
static wf_log_level sink_max = WF_LOG_INFO;

void wf_log_set(wf_log_fn fn, void *ud, wf_log_level max) {
    sink = fn;
    sink_ud = ud;
    sink_max = max;
}

void wf_log(wf_log_level lvl, const char *fmt, ...) {
    if (!sink || lvl > sink_max) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sink(lvl, buf, sink_ud);
}

double wf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
