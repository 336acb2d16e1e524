/* pool.c — the simulator's worker threads. wf_fabric_run (run.c) splits a
** cycle into phases; fabric_pool_phase runs one phase on every thread (the
** caller is thread 0) and returns when all are done. Workers spin on a
** generation counter between phases (a cycle takes microseconds) and sleep
** on a condition variable after a while without work (between runs, or
** while cycles are too small to split). */
#include "fabric_int.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

typedef struct {
    wf_pool *p;
    int tid;
} wf_worker;

struct wf_pool {
    wf_fabric *f;
    int nt;                           /* threads including the caller */
    pthread_t th[WF_FABRIC_MAX_THREADS];
    wf_worker w[WF_FABRIC_MAX_THREADS];
    _Atomic unsigned gen;
    _Atomic int pending, sleepers;
    int ph;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#endif
}

static void *worker(void *arg) {
    wf_pool *p = ((wf_worker *)arg)->p;
    int tid = ((wf_worker *)arg)->tid;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load(&p->gen)) == seen) {
            if (++spins < 20000) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load(&p->gen)) == seen) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        seen = g;
        if (p->ph == PH_QUIT) return NULL;
        fabric_run_phase(p->f, p->ph, tid, p->nt);
        atomic_fetch_sub(&p->pending, 1);
    }
}

/* Runs phase ph on all threads; returns when every thread is done. */
static void pool_phase(wf_pool *p, int ph) {
    p->ph = ph;
    atomic_store(&p->pending, p->nt - 1);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    if (ph == PH_QUIT) return;
    fabric_run_phase(p->f, ph, 0, p->nt);
    for (int spins = 0; atomic_load(&p->pending); spins++) {
        if (spins < 4000) cpu_relax();
        else sched_yield(); /* a worker lost its core: let it run */
    }
}

void fabric_pool_free(wf_fabric *f) {
    wf_pool *p = f->pool;
    if (!p) return;
    pool_phase(p, PH_QUIT);
    for (int i = 1; i < p->nt; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    wf_free(f->heap, p);
    f->pool = NULL;
}

/* Starts nt - 1 workers; on failure the run goes on with one thread. */
void fabric_pool_start(wf_fabric *f, int nt) {
    wf_pool *p = wf_calloc(f->heap, sizeof *p, "fabric threads", NULL);
    if (!p) return;
    p->f = f;
    p->nt = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    f->pool = p;
    for (int i = 1; i < nt; i++) {
        p->w[i] = (wf_worker){p, i};
        if (pthread_create(&p->th[i], NULL, worker, &p->w[i])) break;
        p->nt = i + 1;
    }
    if (p->nt < 2) fabric_pool_free(f);
}

wf_status wf_fabric_set_threads(wf_fabric *f, int n, wf_err *err) {
    if (n < 1 || n > WF_FABRIC_MAX_THREADS)
        return WF_FAIL(err, WF_EUSAGE, "fabric: threads %d, expected 1..%d", n, WF_FABRIC_MAX_THREADS);
    if (f->pool && f->pool->nt != n) fabric_pool_free(f);
    f->threads = n;
    /* before the first PE exists the cut is free to set (nothing to move): PEs
    ** are then placed in the bands their runs use, and the first run on n
    ** threads does not visit every PE to move it (bands.c) */
    if (!f->pes_used) fabric_cut(f, fabric_bands_for(f, n));
    return WF_OK;
}

void fabric_pool_phase(wf_fabric *f, int ph) { pool_phase(f->pool, ph); }
int fabric_pool_threads(const wf_fabric *f) { return f->pool ? f->pool->nt : 1; }
