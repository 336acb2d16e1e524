/* err.c — status names, error values that carry our source position, and the
** always-on assertion. */
#include "base.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[WF_STATUS_COUNT] = {
    "ok", "i/o error", "corrupt input", "shape mismatch", "out of memory",
    "SRAM overflow", "color conflict", "deadlock", "usage error", "out of range",
    "interrupted",
};

const char *wf_status_name(wf_status s) {
    return (s >= 0 && s < WF_STATUS_COUNT) ? status_names[s] : "unknown status";
}

wf_status wf_err_set(wf_err *e, wf_status code, const char *file, int line,
                     const char *fmt, ...) {
    if (!e) return code;
    e->code = code;
    e->file = file;
    e->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

wf_status wf_err_prefix(wf_err *e, const char *fmt, ...) {
    if (!e) return WF_OK;
    char pre[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t n = strlen(pre);
    if (n > sizeof e->msg - 3) n = sizeof e->msg - 3;
    memcpy(e->msg, pre, n);
    memcpy(e->msg + n, ": ", 2);
    size_t room = sizeof e->msg - n - 3, m = strlen(old);
    if (m > room) m = room;
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = 0;
    return e->code;
}

void wf_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "wafer: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}
