/* swarm.c — data parallelism over MPI (swarm.h). */
#include "swarm/swarm.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define CHUNK (1 << 26) /* floats per MPI call (256 MiB): counts stay ints */
#define QCAP 64         /* operations posted ahead of the communication thread */

/* One posted operation: a weight broadcast from rank 0 or a gradient chain. */
typedef struct {
    int chain;
    float *p;
    size_t n;
} op;

struct wf_swarm {
    MPI_Comm comm;
    int rank, size;
    float *buf; /* one block: the chain's running sum */
    size_t cap;
    float *tot; /* rank 0: the totals coming back (its own g is still being sent) */
    size_t tot_cap;
    double comm_s;       /* seconds inside MPI operations (either thread) */
    double exposed_s;    /* of which the caller waited: blocking calls and waits on posted ones */
    uint64_t comm_bytes;
    /* The communication thread (swarm.h): runs posted operations in order.
    ** Only one thread is ever inside MPI (MPI_THREAD_SERIALIZED): the
    ** caller drains the queue before its own blocking calls. */
    int threaded;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t work, done_cv;
    op q[QCAP];
    long posted, done; /* tickets: the k-th posted operation is ticket k (from 1) */
    int quit;
    wf_status st; /* the first failure of a posted operation, and its message */
    wf_err err;
};

int wf_swarm_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE") || getenv("PMI_RANK");
}

static wf_status mpi_fail(int code, const char *what, int peer, wf_err *err) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, msg, &len);
    return WF_FAIL(err, WF_EIO, "MPI: %s (rank %d): %s", what, peer, msg);
}

/* Completes req while leaving the core to others: OpenMPI moves a request
** only inside MPI calls and its blocking calls spin, which would take a core
** from the compute running beside the communication thread (and, ranks
** oversubscribing cores, from the rank it waits for). With CMA a large
** message moves in one call, so the sleeps add at most ~0.2 ms per message. */
static int poll_all(MPI_Request *req, int k) {
    long ns = 1000;
    for (int spins = 0;; spins++) {
        int flag = 0, rc = MPI_Testall(k, req, &flag, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS || flag) return rc;
        if (spins < 32) continue;
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        if (ns < 200000) ns *= 2;
    }
}

/* n floats to or from peer, in chunks whose counts stay ints. */
static wf_status xfer(wf_swarm *s, int send, float *p, size_t n, int peer, int tag, wf_err *err) {
    for (size_t at = 0; at < n; at += CHUNK) {
        int k = (int)(n - at < CHUNK ? n - at : CHUNK);
        MPI_Request r;
        int rc = send ? MPI_Isend(p + at, k, MPI_FLOAT, peer, tag, s->comm, &r)
                      : MPI_Irecv(p + at, k, MPI_FLOAT, peer, tag, s->comm, &r);
        if (rc == MPI_SUCCESS) rc = poll_all(&r, 1);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, send ? "sending gradients to" : "receiving gradients from", peer, err);
        s->comm_bytes += (uint64_t)k * sizeof(float);
    }
    return WF_OK;
}

/* The chain of swarm.h for one array: on return rank 0's g holds the sum.
** Rank 0 posts its sends and the receive of the total together. */
static wf_status chain(wf_swarm *s, float *g, size_t n, int tag, wf_err *err) {
    int last = s->size - 1;
    if (n > s->cap) {
        float *p = wf_realloc(NULL, s->buf, n * sizeof(float), "gradient chain buffer", err);
        if (!p) return WF_ENOMEM;
        s->buf = p, s->cap = n;
    }
    if (s->rank > 0) {
        wf_status st = xfer(s, 0, s->buf, n, s->rank - 1, tag, err);
        if (!st) wf_grad_add(s->buf, g, n); /* running sum + mine, as one process adds */
        if (!st) st = xfer(s, 1, s->buf, n, s->rank == last ? 0 : s->rank + 1, tag, err);
        return st;
    }
    size_t nreq = 2 * ((n + CHUNK - 1) / CHUNK);
    MPI_Request one[2], *req = nreq <= 2 ? one : wf_alloc(NULL, nreq * sizeof *req, "MPI requests", err);
    if (!req) return WF_ENOMEM;
    int q = 0, rc = MPI_SUCCESS;
    for (size_t at = 0; at < n && rc == MPI_SUCCESS; at += CHUNK) {
        int k = (int)(n - at < CHUNK ? n - at : CHUNK);
        rc = MPI_Isend(g + at, k, MPI_FLOAT, 1, tag, s->comm, &req[q++]);
        if (rc == MPI_SUCCESS) rc = MPI_Irecv(s->buf + at, k, MPI_FLOAT, last, tag, s->comm, &req[q++]);
        s->comm_bytes += 2 * (uint64_t)k * sizeof(float);
    }
    if (rc == MPI_SUCCESS) rc = poll_all(req, q);
    if (req != one) wf_free(NULL, req);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "the gradient chain through", 1, err);
    memcpy(g, s->buf, n * sizeof(float));
    return WF_OK;
}

/* Rank 0's n floats to every rank. */
static wf_status bcast(wf_swarm *s, float *x, size_t n, wf_err *err) {
    for (size_t at = 0; at < n; at += CHUNK) {
        int k = (int)(n - at < CHUNK ? n - at : CHUNK);
        MPI_Request r;
        int rc = MPI_Ibcast(x + at, k, MPI_FLOAT, 0, s->comm, &r);
        if (rc == MPI_SUCCESS) rc = poll_all(&r, 1);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "broadcasting weights from", 0, err);
        s->comm_bytes += (uint64_t)k * sizeof(float);
    }
    return WF_OK;
}

static void *comm_thread(void *ud) {
    wf_swarm *s = ud;
#ifdef _OPENMP
    omp_set_num_threads(1); /* the chain's additions: memory-bound, and the cores are computing */
#endif
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->done == s->posted && !s->quit) pthread_cond_wait(&s->work, &s->mu);
        if (s->done == s->posted) break; /* quit, nothing left */
        op o = s->q[s->done % QCAP];
        int failed = s->st != WF_OK;
        pthread_mutex_unlock(&s->mu);
        wf_err e = {0};
        wf_status st = WF_OK;
        double t0 = wf_now();
        if (!failed) st = o.chain ? chain(s, o.p, o.n, 9, &e) : bcast(s, o.p, o.n, &e); /* after a failure: skipped */
        double dt = wf_now() - t0;
        pthread_mutex_lock(&s->mu);
        s->comm_s += dt;
        if (st && !s->st) s->st = st, s->err = e;
        s->done++;
        pthread_cond_broadcast(&s->done_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Blocks until every operation up to ticket t has run; the first failure. */
static wf_status sw_wait(void *ud, long t, wf_err *err) {
    wf_swarm *s = ud;
    if (!s->threaded) return WF_OK;
    double t0 = wf_now();
    pthread_mutex_lock(&s->mu);
    while (s->done < t) pthread_cond_wait(&s->done_cv, &s->mu);
    wf_status st = s->st;
    if (st && err) *err = s->err;
    s->exposed_s += wf_now() - t0;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Before the caller's own MPI calls: the thread idle (one thread in MPI). */
static wf_status drain(wf_swarm *s, wf_err *err) {
    if (!s->threaded) return WF_OK;
    pthread_mutex_lock(&s->mu);
    long t = s->posted;
    pthread_mutex_unlock(&s->mu);
    return sw_wait(s, t, err);
}

static long post(wf_swarm *s, int is_chain, float *p, size_t n) {
    pthread_mutex_lock(&s->mu);
    while (s->posted - s->done >= QCAP) pthread_cond_wait(&s->done_cv, &s->mu);
    s->q[s->posted % QCAP] = (op){is_chain, p, n};
    long t = ++s->posted;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    return t;
}

/* (The thread, and so these, exist only with two ranks or more.) */
static long sw_post_bcast(void *ud, float *x, size_t n) { return post(ud, 0, x, n); }
static long sw_post_chain(void *ud, float *g, size_t n) { return post(ud, 1, g, n); }

wf_status wf_swarm_init(int *argc, char ***argv, wf_swarm **out, wf_err *err) {
    *out = NULL;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return WF_FAIL(err, WF_EIO, "MPI: MPI_Init failed");
    wf_swarm *s = wf_calloc(NULL, sizeof *s, "swarm", err);
    if (!s) return WF_ENOMEM;
    s->comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(s->comm, &s->rank);
    MPI_Comm_size(s->comm, &s->size);
    *out = s;
    /* Without thread support the posted forms are absent and every call blocks. */
    if (s->size > 1 && provided >= MPI_THREAD_SERIALIZED && !pthread_mutex_init(&s->mu, NULL)) {
        pthread_cond_init(&s->work, NULL);
        pthread_cond_init(&s->done_cv, NULL);
        if (!pthread_create(&s->th, NULL, comm_thread, s)) s->threaded = 1;
        else {
            pthread_cond_destroy(&s->work), pthread_cond_destroy(&s->done_cv);
            pthread_mutex_destroy(&s->mu);
        }
    }
    return WF_OK;
}

int wf_swarm_rank(const wf_swarm *s) { return s->rank; }
int wf_swarm_size(const wf_swarm *s) { return s->size; }

void wf_swarm_abort(wf_swarm *s, int code) { MPI_Abort(s->comm, code ? code : 1); }

void wf_swarm_finalize(wf_swarm *s) {
    if (!s) return;
    if (s->threaded) {
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->th, NULL);
        pthread_cond_destroy(&s->work), pthread_cond_destroy(&s->done_cv);
        pthread_mutex_destroy(&s->mu);
    }
    /* no rank leaves before the others are done (rank 0's last save): a rank
    ** that exits early can make mpirun end the job under rank 0 */
    MPI_Barrier(s->comm);
    wf_free(NULL, s->buf);
    wf_free(NULL, s->tot);
    wf_free(NULL, s);
    MPI_Finalize();
}

/* The chain over the whole model, block by block: rank 0 posts every block's
** sends at once (the last rank's totals come back while later blocks are
** still going out); rank r adds block b while rank r+1 adds block b-1. */
static wf_status sw_reduce(void *ud, const wf_gpt_config *c, float *g, wf_err *err) {
    wf_swarm *s = ud;
    if (s->size == 1) return WF_OK;
    wf_status st = drain(s, err);
    if (st) return st;
    double t0 = wf_now();
    int nb = wf_gpt_nblocks(c), last = s->size - 1;
    if (s->rank == 0) {
        size_t nreq = 0;
        for (int b = 0; b < nb; b++) nreq += (wf_gpt_block_numel(c, b) + CHUNK - 1) / CHUNK;
        MPI_Request *req = wf_alloc(NULL, nreq * sizeof *req, "MPI requests", err);
        if (req && wf_gpt_numel(c) > s->tot_cap) {
            wf_free(NULL, s->tot);
            s->tot = wf_alloc(NULL, wf_gpt_numel(c) * sizeof(float), "reduced gradients", err);
            s->tot_cap = s->tot ? wf_gpt_numel(c) : 0;
        }
        float *tot = s->tot;
        if (!req || !tot) {
            wf_free(NULL, req);
            return WF_ENOMEM;
        }
        size_t q = 0;
        for (int b = 0; b < nb && !st; b++) {
            float *p = g + wf_gpt_block_offset(c, b);
            size_t n = wf_gpt_block_numel(c, b);
            for (size_t at = 0; at < n && !st; at += CHUNK) {
                int k = (int)(n - at < CHUNK ? n - at : CHUNK), rc;
                if ((rc = MPI_Isend(p + at, k, MPI_FLOAT, 1, 7, s->comm, &req[q++])) != MPI_SUCCESS)
                    st = mpi_fail(rc, "sending gradients to", 1, err);
                s->comm_bytes += (uint64_t)k * sizeof(float);
            }
        }
        for (int b = 0; b < nb && !st; b++)
            st = xfer(s, 0, tot + wf_gpt_block_offset(c, b), wf_gpt_block_numel(c, b), last, 7, err);
        int rc = poll_all(req, (int)q);
        if (!st && rc != MPI_SUCCESS) st = mpi_fail(rc, "sending gradients to", 1, err);
        if (!st) memcpy(g, tot, wf_gpt_numel(c) * sizeof(float));
        wf_free(NULL, req);
    } else {
        size_t need = 0;
        for (int b = 0; b < nb; b++)
            if (wf_gpt_block_numel(c, b) > need) need = wf_gpt_block_numel(c, b);
        if (need > s->cap) {
            float *p = wf_realloc(NULL, s->buf, need * sizeof(float), "gradient chain buffer", err);
            if (!p) return WF_ENOMEM;
            s->buf = p, s->cap = need;
        }
        for (int b = 0; b < nb && !st; b++) {
            size_t n = wf_gpt_block_numel(c, b);
            if ((st = xfer(s, 0, s->buf, n, s->rank - 1, 7, err))) break;
            wf_grad_add(s->buf, g + wf_gpt_block_offset(c, b), n); /* running sum + mine, as one process adds */
            st = xfer(s, 1, s->buf, n, s->rank == last ? 0 : s->rank + 1, 7, err);
        }
    }
    double dt = wf_now() - t0;
    s->comm_s += dt, s->exposed_s += dt;
    return st;
}

/* The chain for one array, waited for (the posted form is sw_post_chain). */
static wf_status sw_reduce_block(void *ud, float *g, size_t n, wf_err *err) {
    wf_swarm *s = ud;
    if (s->size == 1) return WF_OK;
    wf_status st = drain(s, err);
    if (st) return st;
    double t0 = wf_now();
    st = chain(s, g, n, 8, err);
    double dt = wf_now() - t0;
    s->comm_s += dt, s->exposed_s += dt;
    return st;
}

static wf_status sw_bcast(void *ud, float *x, size_t n, wf_err *err) {
    wf_swarm *s = ud;
    wf_status st = drain(s, err);
    if (st) return st;
    double t0 = wf_now();
    st = bcast(s, x, n, err);
    double dt = wf_now() - t0;
    s->comm_s += dt, s->exposed_s += dt;
    return st;
}

/* Gathered to rank 0 and added there in rank order. */
static wf_status sw_sum(void *ud, double *x, wf_err *err) {
    wf_swarm *s = ud;
    double all[4096];
    if (s->size > 4096) return WF_FAIL(err, WF_EUSAGE, "MPI: %d ranks, at most 4096", s->size);
    wf_status st = drain(s, err);
    if (st) return st;
    int rc = MPI_Gather(x, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, 0, s->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "gathering losses at", 0, err);
    if (s->rank == 0) {
        double t = 0;
        for (int r = 0; r < s->size; r++) t += all[r];
        *x = t;
    }
    return WF_OK;
}

wf_status wf_swarm_sum_to_root(wf_swarm *s, double *x, size_t n, wf_err *err) {
    wf_status st = drain(s, err);
    for (size_t at = 0; at < n && !st; at += CHUNK) {
        int k = (int)(n - at < CHUNK ? n - at : CHUNK);
        int rc = MPI_Reduce(s->rank ? x + at : MPI_IN_PLACE, s->rank ? NULL : x + at, k, MPI_DOUBLE, MPI_SUM, 0, s->comm);
        if (rc != MPI_SUCCESS) st = mpi_fail(rc, "summing at", 0, err);
    }
    return st;
}

static wf_status sw_flag(void *ud, int *v, wf_err *err) {
    wf_swarm *s = ud;
    wf_status st = drain(s, err);
    if (st) return st;
    int mine = *v; /* any rank's: a Ctrl-C sent to rank 1 alone stops the job too (it was ignored) */
    int rc = MPI_Allreduce(&mine, v, 1, MPI_INT, MPI_MAX, s->comm);
    return rc == MPI_SUCCESS ? WF_OK : mpi_fail(rc, "step flag with", 0, err);
}

static wf_status sw_agree(void *ud, const char *mine, wf_err *err) {
    wf_swarm *s = ud;
    char root[512] = "";
    wf_status st = drain(s, err);
    if (st) return st;
    snprintf(root, sizeof root, "%s", mine);
    int rc = MPI_Bcast(root, (int)sizeof root, MPI_CHAR, 0, s->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "comparing settings with", 0, err);
    root[sizeof root - 1] = 0;
    int bad = strcmp(root, mine) != 0, first = bad ? s->rank : INT_MAX, any = 0;
    if ((rc = MPI_Allreduce(&first, &any, 1, MPI_INT, MPI_MIN, s->comm)) != MPI_SUCCESS)
        return mpi_fail(rc, "comparing settings with", 0, err);
    if (any == INT_MAX) return WF_OK;
    /* every rank learns the first differing rank's description, so the
    ** message is whole whichever rank's reaches the terminal first (the
    ** first to abort ends the others) */
    char other[512];
    snprintf(other, sizeof other, "%s", mine);
    if ((rc = MPI_Bcast(other, (int)sizeof other, MPI_CHAR, any, s->comm)) != MPI_SUCCESS)
        return mpi_fail(rc, "comparing settings with", any, err);
    other[sizeof other - 1] = 0;
    return WF_FAIL(err, WF_EUSAGE, "rank %d runs another job than rank 0: '%s', rank 0: '%s' (same binary, model, "
                   "flags and data on every rank)", any, other, root);
}

void wf_swarm_hooks(wf_swarm *s, wf_dp_hooks *h) {
    *h = (wf_dp_hooks){.ud = s, .rank = s->rank, .size = s->size, .reduce = sw_reduce, .reduce_block = sw_reduce_block,
                       .bcast = sw_bcast, .sum = sw_sum, .flag = sw_flag, .agree = sw_agree, .comm_s = &s->comm_s,
                       .exposed_s = &s->exposed_s, .comm_bytes = &s->comm_bytes};
    if (s->threaded) h->post_bcast = sw_post_bcast, h->post_chain = sw_post_chain, h->wait = sw_wait;
}
