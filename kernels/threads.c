/* threads.c — the OpenMP thread count shared by every kernel. The count is
** process state owned by the OpenMP runtime (not a global of ours). */
#include "kernels/kernels.h"

#include <omp.h>

void wf_kernels_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
}

int wf_kernels_threads(void) { return omp_get_max_threads(); }

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
