/* threads.c — the OpenMP thread count shared by every kernel. The count is
** process state owned by the OpenMP runtime (not a global of ours). */
#include "kernels/kernels.h"
#include "kernels/kernels_int.h"

#include <omp.h>
#include <stdatomic.h>

void wf_kernels_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
}

int wf_kernels_threads(void) { return omp_get_max_threads(); }

static unsigned long long span_of(unsigned next, unsigned end) { return (unsigned long long)end << 32 | next; }

void wf_runs_init(wf_runs *r, int ntask, int nt) {
    r->nt = nt < 1 ? 1 : nt > WF_RUNS_MAX ? WF_RUNS_MAX : nt;
    for (int t = 0; t < r->nt; t++)
        atomic_init(&r->span[t][0], span_of((unsigned)((long)ntask * t / r->nt), (unsigned)((long)ntask * (t + 1) / r->nt)));
}

int wf_runs_next(wf_runs *r, int me) {
    for (int k = 0; k < r->nt; k++) {
        int v = (me + k) % r->nt;
        unsigned long long s = atomic_load(&r->span[v][0]);
        for (;;) {
            unsigned a = (unsigned)s, b = (unsigned)(s >> 32);
            if (a >= b) break;
            unsigned long long ns = k == 0 ? span_of(a + 1, b) : span_of(a, b - 1); /* own: front, others: back */
            if (atomic_compare_exchange_weak(&r->span[v][0], &s, ns)) return (int)(k == 0 ? a : b - 1);
        }
    }
    return -1;
}

void wf_tune_init(wf_tune *t, int max) {
    *t = (wf_tune){.max = max < 1 ? 1 : max, .cur = max < 1 ? 1 : max, .every = WF_TUNE_EVERY};
}

static int tune_other(const wf_tune *t) { return t->cur == t->max ? t->max - 1 : t->max; }

int wf_tune_next(wf_tune *t, double step_s) {
    t->was = 0;
    if (t->max <= 1 || !(step_s > 0)) return t->cur;
    if (t->probing) {
        double best = t->t2 > 0 && t->t2 < t->t1 ? t->t2 : t->t1;
        t->probing = 0, t->since = 0, t->t_probe = step_s, t->t_best = best;
        if (best > 0 && step_s < WF_TUNE_GAIN * best) {
            t->was = t->cur, t->cur = tune_other(t);
            t->t1 = step_s, t->t2 = 0, t->every = WF_TUNE_EVERY;
        } else if (t->every < 4 * WF_TUNE_EVERY) t->every *= 2; /* a quiet machine pays for fewer probes */
        return t->cur;
    }
    t->t2 = t->t1, t->t1 = step_s;
    if (++t->since >= t->every && t->t2 > 0) {
        t->probing = 1;
        return tune_other(t);
    }
    return t->cur;
}
