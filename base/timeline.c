/* timeline.c — spans of work per track, written as a Chrome/Perfetto trace
** (base.h). One mutex: spans come from the compute thread and the store's
** I/O thread, a few per layer, so contention is negligible. */
#include "base/base.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int track, arg;
    double t0, t1;
} span;

struct wf_timeline {
    pthread_mutex_t mu;
    span *s;
    size_t n, cap, dropped;
    double origin;
};

wf_timeline *wf_timeline_new(void) {
    wf_err e;
    wf_timeline *t = wf_calloc(NULL, sizeof *t, "timeline", &e);
    if (!t) return NULL;
    pthread_mutex_init(&t->mu, NULL);
    t->origin = wf_now();
    return t;
}

void wf_timeline_free(wf_timeline *t) {
    if (!t) return;
    pthread_mutex_destroy(&t->mu);
    wf_free(NULL, t->s);
    wf_free(NULL, t);
}

void wf_timeline_span(wf_timeline *t, int track, const char *name, int arg, double t0, double t1) {
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    if (t->n == t->cap && t->cap < WF_TIMELINE_MAX) {
        size_t cap = t->cap ? 2 * t->cap : 4096;
        wf_err e;
        span *p = wf_realloc(NULL, t->s, cap * sizeof *p, "timeline spans", &e);
        if (p) t->s = p, t->cap = cap;
    }
    if (t->n < t->cap) t->s[t->n++] = (span){name, track, arg, t0, t1};
    else t->dropped++;
    pthread_mutex_unlock(&t->mu);
}

size_t wf_timeline_count(const wf_timeline *t) { return t ? t->n : 0; }

wf_status wf_timeline_write(wf_timeline *t, const char *path, const char *const *tracks, int ntracks, wf_err *err) {
    wf_afile *f;
    wf_status rc = wf_ofile_open(path, &f, err);
    if (rc) return rc;
    char line[512];
    int n = snprintf(line, sizeof line, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    rc = wf_afile_write(f, line, (size_t)n, err);
    for (int i = 0; !rc && i < ntracks; i++) {
        n = snprintf(line, sizeof line, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"%s\"}},\n",
                     i, tracks[i]);
        rc = wf_afile_write(f, line, (size_t)n, err);
    }
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; !rc && i < t->n; i++) {
        const span *s = &t->s[i];
        n = snprintf(line, sizeof line, "{\"name\":\"%s\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,"
                     "\"args\":{\"i\":%d}},\n", s->name, s->track, (s->t0 - t->origin) * 1e6,
                     (s->t1 - s->t0) * 1e6, s->arg);
        rc = wf_afile_write(f, line, (size_t)n, err);
    }
    size_t dropped = t->dropped;
    pthread_mutex_unlock(&t->mu);
    if (!rc) {
        n = snprintf(line, sizeof line, "{\"name\":\"dropped spans\",\"ph\":\"M\",\"pid\":1,\"args\":{\"n\":%zu}}]}\n", dropped);
        rc = wf_afile_write(f, line, (size_t)n, err);
    }
    if (rc) {
        wf_afile_abort(f);
        return rc;
    }
    return wf_afile_commit(f, err);
}
