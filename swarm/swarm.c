/* swarm.c — data parallelism over MPI (swarm.h). */
#include "swarm/swarm.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#define CHUNK (1 << 26) /* floats per MPI call (256 MiB): counts stay ints */

struct wf_swarm {
    MPI_Comm comm;
    int rank, size;
    float *buf; /* one block: the chain's running sum */
    size_t cap;
    float *tot; /* rank 0: the totals coming back (its own g is still being sent) */
    size_t tot_cap;
    double comm_s;
    uint64_t comm_bytes;
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

wf_status wf_swarm_init(int *argc, char ***argv, wf_swarm **out, wf_err *err) {
    *out = NULL;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return WF_FAIL(err, WF_EIO, "MPI: MPI_Init failed");
    wf_swarm *s = wf_calloc(NULL, sizeof *s, "swarm", err);
    if (!s) return WF_ENOMEM;
    s->comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(s->comm, &s->rank);
    MPI_Comm_size(s->comm, &s->size);
    *out = s;
    return WF_OK;
}

int wf_swarm_rank(const wf_swarm *s) { return s->rank; }
int wf_swarm_size(const wf_swarm *s) { return s->size; }

void wf_swarm_abort(wf_swarm *s, int code) { MPI_Abort(s->comm, code ? code : 1); }

void wf_swarm_finalize(wf_swarm *s) {
    if (!s) return;
    wf_free(NULL, s->buf);
    wf_free(NULL, s->tot);
    wf_free(NULL, s);
    MPI_Finalize();
}

static wf_status send_f(wf_swarm *s, const float *p, size_t n, int to, wf_err *err) {
    for (size_t at = 0; at < n; at += CHUNK) {
        int k = (int)(n - at < CHUNK ? n - at : CHUNK);
        int rc = MPI_Send(p + at, k, MPI_FLOAT, to, 7, s->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "sending gradients to", to, err);
        s->comm_bytes += (uint64_t)k * sizeof(float);
    }
    return WF_OK;
}

static wf_status recv_f(wf_swarm *s, float *p, size_t n, int from, wf_err *err) {
    for (size_t at = 0; at < n; at += CHUNK) {
        int k = (int)(n - at < CHUNK ? n - at : CHUNK);
        int rc = MPI_Recv(p + at, k, MPI_FLOAT, from, 7, s->comm, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "receiving gradients from", from, err);
        s->comm_bytes += (uint64_t)k * sizeof(float);
    }
    return WF_OK;
}

/* The chain of swarm.h. Rank 0 posts all its sends first (non-blocking: the
** last rank's totals come back while later blocks are still going out). */
static wf_status sw_reduce(void *ud, const wf_gpt_config *c, float *g, wf_err *err) {
    wf_swarm *s = ud;
    if (s->size == 1) return WF_OK;
    double t0 = wf_now();
    int nb = wf_gpt_nblocks(c), last = s->size - 1;
    wf_status st = WF_OK;
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
            const float *p = g + wf_gpt_block_offset(c, b);
            size_t n = wf_gpt_block_numel(c, b);
            for (size_t at = 0; at < n && !st; at += CHUNK) {
                int k = (int)(n - at < CHUNK ? n - at : CHUNK), rc;
                if ((rc = MPI_Isend(p + at, k, MPI_FLOAT, 1, 7, s->comm, &req[q++])) != MPI_SUCCESS)
                    st = mpi_fail(rc, "sending gradients to", 1, err);
                s->comm_bytes += (uint64_t)k * sizeof(float);
            }
        }
        for (int b = 0; b < nb && !st; b++)
            st = recv_f(s, tot + wf_gpt_block_offset(c, b), wf_gpt_block_numel(c, b), last, err);
        int rc = MPI_Waitall((int)q, req, MPI_STATUSES_IGNORE);
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
            if ((st = recv_f(s, s->buf, n, s->rank - 1, err))) break;
            wf_grad_add(s->buf, g + wf_gpt_block_offset(c, b), n); /* running sum + mine, as one process adds */
            st = send_f(s, s->buf, n, s->rank == last ? 0 : s->rank + 1, err);
        }
    }
    s->comm_s += wf_now() - t0;
    return st;
}

/* The chain for one array (the streaming executor calls it per block, as
** each layer's gradient comes out of the backward). */
static wf_status sw_reduce_block(void *ud, float *g, size_t n, wf_err *err) {
    wf_swarm *s = ud;
    if (s->size == 1) return WF_OK;
    double t0 = wf_now();
    int last = s->size - 1;
    wf_status st = WF_OK;
    if (n > s->cap) {
        float *p = wf_realloc(NULL, s->buf, n * sizeof(float), "gradient chain buffer", err);
        if (!p) return WF_ENOMEM;
        s->buf = p, s->cap = n;
    }
    if (s->rank == 0) {
        size_t nreq = (n + CHUNK - 1) / CHUNK, q = 0;
        MPI_Request *req = wf_alloc(NULL, nreq * sizeof *req, "MPI requests", err);
        if (!req) return WF_ENOMEM;
        for (size_t at = 0; at < n && !st; at += CHUNK) {
            int k = (int)(n - at < CHUNK ? n - at : CHUNK), rc;
            if ((rc = MPI_Isend(g + at, k, MPI_FLOAT, 1, 8, s->comm, &req[q++])) != MPI_SUCCESS)
                st = mpi_fail(rc, "sending gradients to", 1, err);
            s->comm_bytes += (uint64_t)k * sizeof(float);
        }
        for (size_t at = 0; at < n && !st; at += CHUNK) {
            int k = (int)(n - at < CHUNK ? n - at : CHUNK), rc;
            if ((rc = MPI_Recv(s->buf + at, k, MPI_FLOAT, last, 8, s->comm, MPI_STATUS_IGNORE)) != MPI_SUCCESS)
                st = mpi_fail(rc, "receiving gradients from", last, err);
            s->comm_bytes += (uint64_t)k * sizeof(float);
        }
        int rc = MPI_Waitall((int)q, req, MPI_STATUSES_IGNORE);
        if (!st && rc != MPI_SUCCESS) st = mpi_fail(rc, "sending gradients to", 1, err);
        if (!st) memcpy(g, s->buf, n * sizeof(float));
        wf_free(NULL, req);
    } else {
        for (size_t at = 0; at < n && !st; at += CHUNK) {
            int k = (int)(n - at < CHUNK ? n - at : CHUNK), rc;
            if ((rc = MPI_Recv(s->buf + at, k, MPI_FLOAT, s->rank - 1, 8, s->comm, MPI_STATUS_IGNORE)) != MPI_SUCCESS)
                st = mpi_fail(rc, "receiving gradients from", s->rank - 1, err);
            s->comm_bytes += (uint64_t)k * sizeof(float);
        }
        if (!st) wf_grad_add(s->buf, g, n); /* running sum + mine */
        for (size_t at = 0; at < n && !st; at += CHUNK) {
            int k = (int)(n - at < CHUNK ? n - at : CHUNK), rc;
            int to = s->rank == last ? 0 : s->rank + 1;
            if ((rc = MPI_Send(s->buf + at, k, MPI_FLOAT, to, 8, s->comm)) != MPI_SUCCESS)
                st = mpi_fail(rc, "sending gradients to", to, err);
            s->comm_bytes += (uint64_t)k * sizeof(float);
        }
    }
    s->comm_s += wf_now() - t0;
    return st;
}

static wf_status sw_bcast(void *ud, float *x, size_t n, wf_err *err) {
    wf_swarm *s = ud;
    double t0 = wf_now();
    for (size_t at = 0; at < n; at += CHUNK) {
        int k = (int)(n - at < CHUNK ? n - at : CHUNK);
        int rc = MPI_Bcast(x + at, k, MPI_FLOAT, 0, s->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "broadcasting weights from", 0, err);
        s->comm_bytes += (uint64_t)k * sizeof(float);
    }
    s->comm_s += wf_now() - t0;
    return WF_OK;
}

/* Gathered to rank 0 and added there in rank order. */
static wf_status sw_sum(void *ud, double *x, wf_err *err) {
    wf_swarm *s = ud;
    double all[4096];
    if (s->size > 4096) return WF_FAIL(err, WF_EUSAGE, "MPI: %d ranks, at most 4096", s->size);
    int rc = MPI_Gather(x, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, 0, s->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "gathering losses at", 0, err);
    if (s->rank == 0) {
        double t = 0;
        for (int r = 0; r < s->size; r++) t += all[r];
        *x = t;
    }
    return WF_OK;
}

static wf_status sw_flag(void *ud, int *v, wf_err *err) {
    wf_swarm *s = ud;
    int rc = MPI_Bcast(v, 1, MPI_INT, 0, s->comm);
    return rc == MPI_SUCCESS ? WF_OK : mpi_fail(rc, "step flag from", 0, err);
}

static wf_status sw_agree(void *ud, const char *mine, wf_err *err) {
    wf_swarm *s = ud;
    char root[512] = "";
    snprintf(root, sizeof root, "%s", mine);
    int rc = MPI_Bcast(root, (int)sizeof root, MPI_CHAR, 0, s->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "comparing settings with", 0, err);
    root[sizeof root - 1] = 0;
    int bad = strcmp(root, mine) != 0, first = bad ? s->rank : INT_MAX, any = 0;
    if ((rc = MPI_Allreduce(&first, &any, 1, MPI_INT, MPI_MIN, s->comm)) != MPI_SUCCESS)
        return mpi_fail(rc, "comparing settings with", 0, err);
    if (bad)
        return WF_FAIL(err, WF_EUSAGE, "rank %d runs another job than rank 0: '%s', rank 0: '%s' (same binary, model, "
                       "flags and data on every rank)", s->rank, mine, root);
    if (any != INT_MAX)
        return WF_FAIL(err, WF_EUSAGE, "rank %d runs another job than rank 0 (see its message); stopping", any);
    return WF_OK;
}

void wf_swarm_hooks(wf_swarm *s, wf_dp_hooks *h) {
    *h = (wf_dp_hooks){.ud = s, .rank = s->rank, .size = s->size, .reduce = sw_reduce, .reduce_block = sw_reduce_block, .bcast = sw_bcast, .sum = sw_sum,
                       .flag = sw_flag, .agree = sw_agree, .comm_s = &s->comm_s, .comm_bytes = &s->comm_bytes};
}
