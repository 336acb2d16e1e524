/* store.c — the weight store's RAM and disk backends (store.h). */
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "model/params.h"

#define ALIGN 4096u
#define HDR_SIZE 4096u
#define MAGIC "WFSTORE\0"
#define VERSION 2u /* 2: the bf16 kind H */
#define IO_CHUNK (64u << 20) /* bytes per pread/pwrite call */
#define NSTAGE 6             /* staging buffers: prefetched reads and write-behind */
#define MAX_WRITES 2         /* of which at most this many hold pending writes */

/* A staging buffer of the I/O thread. */
typedef struct {
    int busy;        /* 0 free; 1 queued or in flight; 2 done */
    int write;       /* 1: write-behind, 0: prefetch */
    int k, b;        /* kind, block */
    long seq;        /* FIFO order */
    wf_status rc;    /* of a finished request */
    wf_err err;
    float *buf;      /* [stage_floats] */
} stage;

struct wf_store {
    wf_gpt_config cfg;
    wf_heap *heap;
    int nb, ntensor;
    int fd;                   /* -1: RAM */
    char path[1100];
    float *ram[WF_STORE_KINDS];
    size_t *bn;               /* [KINDS * nb] floats of block b of kind k (packed sparse layers: fewer) */
    size_t *roff;             /* [KINDS * nb] RAM backend: float offset of the block in ram[k] */
    size_t ram_n[WF_STORE_KINDS];
    int packed;               /* some layer blocks hold only their kept weights (wf_store_open_packed) */
    uint64_t *off;            /* [KINDS * nb] file offsets */
    uint64_t *sum;            /* [KINDS * ntensor] checksums of written tensors */
    unsigned char *written;   /* [KINDS * nb] */
    int *first;               /* [nb] first tensor of block b */
    uint64_t bytes_read, bytes_written;
    /* the I/O thread (disk backend) */
    pthread_t thr;
    int thr_on, quit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    stage st[NSTAGE];
    size_t stage_floats;  /* blocks larger than this go synchronously */
    long next_seq;
    wf_status failed;     /* a write-behind that failed: sticky */
    wf_err fail_err;
    wf_timeline *tl;      /* borrowed; NULL: no spans */
};

/* Span names per kind (static strings for the timeline). */
static const char *const READ_SPAN[] = {"read W", "read M", "read V", "read G", "read H"};
static const char *const WRITE_SPAN[] = {"write W", "write M", "write V", "write G", "write H"};
static const char *const PREFETCH_SPAN[] = {"prefetch W", "prefetch M", "prefetch V", "prefetch G", "prefetch H"};
static const char *const BEHIND_SPAN[] = {"write-behind W", "write-behind M", "write-behind V", "write-behind G",
                                          "write-behind H"};

/* Bytes of block b's tensors packed as H: 2 per matrix element, 4 per vector element. */
static size_t half_bytes(const wf_gpt_config *c, int b) {
    size_t base = wf_gpt_block_offset(c, b), end = base + wf_gpt_block_numel(c, b), n = 0;
    for (int i = 0; i < wf_gpt_tensor_count(c); i++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(c, i, &ti);
        if (ti.offset >= base && ti.offset < end) n += ti.numel * (ti.ndim == 2 ? 2 : 4);
    }
    return n;
}

size_t wf_store_numel(const wf_gpt_config *c, wf_store_kind k, int b) {
    return k == WF_STORE_HALF ? (half_bytes(c, b) + 3) / 4 : wf_gpt_block_numel(c, b);
}

void wf_store_pack_half(const wf_gpt_config *c, int b, const float *w, float *h) {
    size_t base = wf_gpt_block_offset(c, b), end = base + wf_gpt_block_numel(c, b);
    unsigned char *p = (unsigned char *)h;
    for (int i = 0; i < wf_gpt_tensor_count(c); i++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(c, i, &ti);
        if (ti.offset < base || ti.offset >= end) continue;
        const float *x = w + (ti.offset - base);
        if (ti.ndim == 2) {
            wf_bf16x_from_f32((uint16_t *)(void *)p, x, ti.numel); /* p stays 2-byte aligned: vectors are 4-byte multiples */
            p += 2 * ti.numel;
        } else {
            memcpy(p, x, 4 * ti.numel);
            p += 4 * ti.numel;
        }
    }
    size_t pad = wf_store_numel(c, WF_STORE_HALF, b) * 4 - (size_t)(p - (unsigned char *)h);
    memset(p, 0, pad);
}

void wf_store_unpack_half(const wf_gpt_config *c, int b, const float *h, float *w) {
    size_t base = wf_gpt_block_offset(c, b), end = base + wf_gpt_block_numel(c, b);
    const unsigned char *p = (const unsigned char *)h;
    for (int i = 0; i < wf_gpt_tensor_count(c); i++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(c, i, &ti);
        if (ti.offset < base || ti.offset >= end) continue;
        float *x = w + (ti.offset - base);
        if (ti.ndim == 2) {
            for (size_t k = 0; k < ti.numel; k++) {
                uint16_t u;
                memcpy(&u, p + 2 * k, 2);
                uint32_t v = (uint32_t)u << 16;
                memcpy(&x[k], &v, 4);
            }
            p += 2 * ti.numel;
        } else {
            memcpy(x, p, 4 * ti.numel);
            p += 4 * ti.numel;
        }
    }
}

void wf_store_set_timeline(wf_store *s, wf_timeline *t) { s->tl = t; }

static long fail_write_at = -1;
void wf_store_fail_write_at(long n) { fail_write_at = n; }

/* 64-bit checksum of n floats: a multiply-xorshift over 64-bit words. */
static uint64_t checksum(const float *x, size_t n) {
    const unsigned char *p = (const unsigned char *)x;
    size_t bytes = n * sizeof(float), i = 0;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ bytes;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    for (; i < bytes; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (h >> 32);
}

static const char *kind_name(wf_store_kind k) {
    static const char *const n[] = {"weights", "adam m", "adam v", "gradients", "bf16 weights"};
    return n[k];
}

static void header_fill(const wf_store *s, unsigned char *h) {
    memset(h, 0, HDR_SIZE);
    memcpy(h, MAGIC, 8);
    uint64_t f[8] = {VERSION, (uint64_t)s->cfg.n_layer, (uint64_t)s->cfg.n_embd, (uint64_t)s->cfg.n_head,
                     (uint64_t)s->cfg.n_inner, (uint64_t)s->cfg.n_positions, (uint64_t)s->cfg.vocab_size,
                     (uint64_t)wf_gpt_numel(&s->cfg)};
    memcpy(h + 8, f, sizeof f);
    uint64_t packed = s->packed ? s->ram_n[WF_STORE_W] : 0; /* a packed store's floats of W (0: dense) */
    memcpy(h + 8 + sizeof f, &packed, sizeof packed);
}

static wf_status io_all(wf_store *s, int wr, void *buf, size_t n, uint64_t off, wf_err *err) {
    unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done < IO_CHUNK ? n - done : IO_CHUNK;
        ssize_t got;
        if (wr && fail_write_at >= 0 && fail_write_at-- == 0) got = -1, errno = ENOSPC;
        else got = wr ? pwrite(s->fd, p + done, chunk, (off_t)(off + done))
                      : pread(s->fd, p + done, chunk, (off_t)(off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0)
            return WF_FAIL(err, WF_EIO, "%s: %s %zu bytes at offset %llu: %s", s->path, wr ? "writing" : "reading",
                           chunk, (unsigned long long)(off + done), strerror(errno));
        if (got == 0)
            return WF_FAIL(err, WF_ECORRUPT, "%s: truncated: %zu bytes missing at offset %llu", s->path, n - done,
                           (unsigned long long)(off + done));
        done += (size_t)got;
    }
    return WF_OK;
}

/* The I/O thread: runs queued requests in FIFO order. */
static void *io_main(void *arg) {
    wf_store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        stage *q = NULL;
        for (int i = 0; i < NSTAGE; i++)
            if (s->st[i].busy == 1 && (!q || s->st[i].seq < q->seq)) q = &s->st[i];
        if (!q) {
            if (s->quit) break;
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        size_t n = s->bn[q->k * s->nb + q->b] * sizeof(float);
        uint64_t off = s->off[q->k * s->nb + q->b];
        pthread_mutex_unlock(&s->mu);
        wf_err e = {0};
        double t0 = wf_now();
        wf_status rc = io_all(s, q->write, q->buf, n, off, &e);
        wf_timeline_span(s->tl, 1, (q->write ? BEHIND_SPAN : PREFETCH_SPAN)[q->k], q->b, t0, wf_now());
        if (rc) wf_err_prefix(&e, "block %d (%s)", q->b, kind_name((wf_store_kind)q->k));
        pthread_mutex_lock(&s->mu);
        q->rc = rc, q->err = e;
        if (q->write) {
            if (rc && !s->failed) s->failed = rc, s->fail_err = e;
            q->busy = 0;
        } else {
            q->busy = 2;
        }
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static stage *find_free(wf_store *s) {
    for (int i = 0; i < NSTAGE; i++)
        if (!s->st[i].busy) return &s->st[i];
    return NULL;
}

static int pending_writes(const wf_store *s) {
    int n = 0;
    for (int i = 0; i < NSTAGE; i++) n += s->st[i].busy && s->st[i].write;
    return n;
}

static stage *find_prefetch(wf_store *s, int k, int b) {
    for (int i = 0; i < NSTAGE; i++)
        if (s->st[i].busy && !s->st[i].write && s->st[i].k == k && s->st[i].b == b) return &s->st[i];
    return NULL;
}

/* Waits (mu held) for all queued writes to reach the file; returns the sticky error. */
static wf_status drain_writes(wf_store *s, wf_err *err) {
    while (pending_writes(s)) pthread_cond_wait(&s->cv, &s->mu);
    if (s->failed && err) *err = s->fail_err;
    return s->failed;
}

wf_status wf_store_flush(wf_store *s, wf_err *err) {
    if (!s->thr_on) return WF_OK;
    pthread_mutex_lock(&s->mu);
    wf_status rc = drain_writes(s, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void wf_store_prefetch(wf_store *s, wf_store_kind k, int b) {
    if (!s->thr_on || s->bn[k * s->nb + b] > s->stage_floats || !s->written[k * s->nb + b]) return;
    pthread_mutex_lock(&s->mu);
    int reads = 0;
    for (int i = 0; i < NSTAGE; i++) reads += s->st[i].busy && !s->st[i].write;
    stage *q = find_prefetch(s, k, b);
    if (!q && reads < NSTAGE - MAX_WRITES && (q = find_free(s))) /* writes always keep MAX_WRITES buffers */
        q->busy = 1, q->write = 0, q->k = k, q->b = b, q->seq = s->next_seq++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

wf_status wf_store_open(const char *dir, const wf_gpt_config *c, wf_heap *h, wf_store **out, wf_err *err) {
    return wf_store_open_packed(dir, c, NULL, NULL, h, out, err);
}

wf_status wf_store_open_packed(const char *dir, const wf_gpt_config *c, const size_t *layer_numel,
                               const size_t *layer_half, wf_heap *h, wf_store **out, wf_err *err) {
    *out = NULL;
    wf_store *s = wf_calloc(h, sizeof *s, "store", err);
    if (!s) return WF_ENOMEM;
    s->cfg = *c, s->heap = h, s->fd = -1;
    s->nb = wf_gpt_nblocks(c), s->ntensor = wf_gpt_tensor_count(c);
    wf_status rc = WF_ENOMEM;
    size_t nbk = WF_STORE_KINDS * (size_t)s->nb;
    s->off = wf_calloc(h, sizeof *s->off * nbk, "store offsets", err);
    s->sum = s->off ? wf_calloc(h, sizeof *s->sum * WF_STORE_KINDS * (size_t)s->ntensor, "store sums", err) : NULL;
    s->written = s->sum ? wf_calloc(h, nbk, "store flags", err) : NULL;
    s->first = s->written ? wf_calloc(h, sizeof *s->first * (size_t)s->nb, "store blocks", err) : NULL;
    s->bn = s->first ? wf_calloc(h, sizeof *s->bn * nbk, "store block sizes", err) : NULL;
    s->roff = s->bn ? wf_calloc(h, sizeof *s->roff * nbk, "store block offsets", err) : NULL;
    if (!s->roff) goto fail;
    for (int b = 0; b < s->nb; b++)
        s->first[b] = b == 0 ? 0 : b <= c->n_layer ? 2 + WF_T_LAYER_COUNT * (b - 1) : 2 + WF_T_LAYER_COUNT * c->n_layer;
    for (int k = 0; k < WF_STORE_KINDS; k++)
        for (int b = 0; b < s->nb; b++) {
            size_t n = wf_store_numel(c, (wf_store_kind)k, b);
            const size_t *pk = k == WF_STORE_HALF ? layer_half : layer_numel;
            if (pk && b >= 1 && b <= c->n_layer && pk[b - 1] < n) n = pk[b - 1], s->packed = 1;
            s->bn[k * s->nb + b] = n, s->roff[k * s->nb + b] = s->ram_n[k], s->ram_n[k] += n;
        }
    if (!dir) {
        for (int k = 0; k < WF_STORE_KINDS; k++) { /* H is allocated at its first write (only --bf16 uses it) */
            if (k == WF_STORE_HALF) continue;
            if (!(s->ram[k] = wf_alloc(h, s->ram_n[k] * sizeof(float), kind_name((wf_store_kind)k), err))) goto fail;
        }
        *out = s;
        return WF_OK;
    }
    if ((rc = wf_mkdir_p(dir, err))) goto fail;
    snprintf(s->path, sizeof s->path, "%s/store.bin", dir);
    uint64_t off = HDR_SIZE;
    for (int k = 0; k < WF_STORE_KINDS; k++)
        for (int b = 0; b < s->nb; b++) {
            s->off[k * s->nb + b] = off;
            off += (s->bn[k * s->nb + b] * sizeof(float) + ALIGN - 1) / ALIGN * ALIGN;
        }
    s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        rc = WF_FAIL(err, WF_EIO, "%s: cannot open: %s", s->path, strerror(errno));
        goto fail;
    }
    /* one run per store: a second run writing the same blocks would damage
    ** both. A write lock on the whole file, released when the store closes or
    ** the process ends, however it ends: Linux's open-file-description lock
    ** (held by this open, not lost when another descriptor of the file
    ** closes), else the POSIX record lock. */
#ifdef F_OFD_SETLK
    const int set_lock = F_OFD_SETLK, get_lock = F_OFD_GETLK;
#else
    const int set_lock = F_SETLK, get_lock = F_GETLK;
#endif
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(s->fd, set_lock, &lk) != 0) {
        int e = errno;
        if (e == EACCES || e == EAGAIN) {
            struct flock who = lk;
            char by[48] = "";
            if (fcntl(s->fd, get_lock, &who) == 0 && who.l_type != F_UNLCK && who.l_pid > 0)
                snprintf(by, sizeof by, " (process %d)", (int)who.l_pid);
            rc = WF_FAIL(err, WF_EUSAGE, "%s: in use by another run%s; give this run its own --store", s->path, by);
        } else {
            rc = WF_FAIL(err, WF_EIO, "%s: cannot lock: %s", s->path, strerror(e));
        }
        goto fail;
    }
    unsigned char want[HDR_SIZE], have[HDR_SIZE];
    header_fill(s, want);
    struct stat stt;
    if (fstat(s->fd, &stt) == 0 && stt.st_size >= (off_t)HDR_SIZE) {
        if ((rc = io_all(s, 0, have, HDR_SIZE, 0, err))) goto fail;
        if (memcmp(have, MAGIC, 8) != 0) {
            rc = WF_FAIL(err, WF_ECORRUPT, "%s: not a weight store (bad magic)", s->path);
            goto fail;
        }
        if (memcmp(have, want, HDR_SIZE) != 0) {
            uint64_t f[8];
            memcpy(f, have + 8, sizeof f);
            rc = WF_FAIL(err, WF_EUSAGE,
                         "%s: store made for another model (version %llu, %llu layers, n_embd %llu, vocab %llu), expected %d layers, n_embd %d, vocab %d",
                         s->path, (unsigned long long)f[0], (unsigned long long)f[1], (unsigned long long)f[2],
                         (unsigned long long)f[6], c->n_layer, c->n_embd, c->vocab_size);
            goto fail;
        }
    } else if ((rc = io_all(s, 1, want, HDR_SIZE, 0, err))) {
        goto fail;
    }
    for (int b = 1; b < s->nb - 1; b++)
        if (wf_gpt_block_numel(c, b) > s->stage_floats) s->stage_floats = wf_gpt_block_numel(c, b);
    for (int i = 0; i < NSTAGE; i++)
        if (!(s->st[i].buf = wf_alloc(h, s->stage_floats * sizeof(float) + 1, "store staging", err))) {
            rc = WF_ENOMEM;
            goto fail;
        }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thr, NULL, io_main, s) != 0) {
        pthread_mutex_destroy(&s->mu), pthread_cond_destroy(&s->cv);
        rc = WF_FAIL(err, WF_EIO, "%s: cannot start the store's I/O thread", s->path);
        goto fail;
    }
    s->thr_on = 1;
    *out = s;
    return WF_OK;
fail:
    wf_store_close(s);
    return rc;
}

void wf_store_close(wf_store *s) {
    if (!s) return;
    if (s->thr_on) {
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thr, NULL);
        pthread_mutex_destroy(&s->mu), pthread_cond_destroy(&s->cv);
    }
    for (int i = 0; i < NSTAGE; i++) wf_free(s->heap, s->st[i].buf);
    if (s->fd >= 0) close(s->fd);
    for (int k = 0; k < WF_STORE_KINDS; k++) wf_free(s->heap, s->ram[k]);
    wf_free(s->heap, s->off), wf_free(s->heap, s->sum), wf_free(s->heap, s->written), wf_free(s->heap, s->first);
    wf_free(s->heap, s->bn), wf_free(s->heap, s->roff);
    wf_free(s->heap, s);
}

/* Tensors of block b (the last block holds ln_f and, untied, lm_head). */
static int block_ntensor(const wf_store *s, int b) { return (b + 1 < s->nb ? s->first[b + 1] : s->ntensor) - s->first[b]; }

/* H blocks and packed sparse layers carry one checksum over the block. */
static int one_sum(const wf_store *s, wf_store_kind k, int b) {
    return k == WF_STORE_HALF || s->bn[k * s->nb + b] != wf_gpt_block_numel(&s->cfg, b);
}

/* Checksums every tensor of block b (at dst) into sums[]. */
static void block_sums(const wf_store *s, wf_store_kind k, int b, const float *x, uint64_t *sums) {
    if (one_sum(s, k, b)) { /* one sum over the packed block */
        sums[0] = checksum(x, s->bn[k * s->nb + b]);
        return;
    }
    size_t base = wf_gpt_block_offset(&s->cfg, b);
    for (int i = 0; i < block_ntensor(s, b); i++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(&s->cfg, s->first[b] + i, &ti);
        sums[i] = checksum(x + (ti.offset - base), ti.numel);
    }
}

static wf_status store_read(wf_store *s, wf_store_kind k, int b, float *dst, wf_err *err);
static wf_status store_write(wf_store *s, wf_store_kind k, int b, const float *src, wf_err *err);

/* The compute side's view: how long each call took it (waits included). */
wf_status wf_store_read(wf_store *s, wf_store_kind k, int b, float *dst, wf_err *err) {
    double t0 = s->tl ? wf_now() : 0;
    wf_status rc = store_read(s, k, b, dst, err);
    if (s->tl) wf_timeline_span(s->tl, 0, READ_SPAN[k], b, t0, wf_now());
    return rc;
}

wf_status wf_store_write(wf_store *s, wf_store_kind k, int b, const float *src, wf_err *err) {
    double t0 = s->tl ? wf_now() : 0;
    wf_status rc = store_write(s, k, b, src, err);
    if (s->tl) wf_timeline_span(s->tl, 0, WRITE_SPAN[k], b, t0, wf_now());
    return rc;
}

static wf_status store_read(wf_store *s, wf_store_kind k, int b, float *dst, wf_err *err) {
    WF_ASSERT(b >= 0 && b < s->nb && k < WF_STORE_KINDS);
    size_t n = s->bn[k * s->nb + b];
    s->bytes_read += n * sizeof(float);
    if (s->fd < 0) {
        if (!s->ram[k]) return WF_FAIL(err, WF_ECORRUPT, "RAM store: block %d (%s) read before it was written", b, kind_name(k));
        memcpy(dst, s->ram[k] + s->roff[k * s->nb + b], n * sizeof(float));
        return WF_OK;
    }
    if (!s->written[k * s->nb + b])
        return WF_FAIL(err, WF_ECORRUPT, "%s: block %d (%s) read before it was written", s->path, b, kind_name(k));
    wf_status rc = WF_OK;
    stage *q = NULL;
    if (s->thr_on) {
        pthread_mutex_lock(&s->mu);
        if (s->failed) { /* an earlier write-behind failed: report that, not its consequences */
            rc = s->failed, *err = s->fail_err;
        } else if ((q = find_prefetch(s, k, b))) {
            while (q->busy == 1) pthread_cond_wait(&s->cv, &s->mu);
            if ((rc = q->rc)) *err = q->err;
            else memcpy(dst, q->buf, n * sizeof(float));
            q->busy = 0;
            pthread_cond_broadcast(&s->cv);
        } else {
            rc = drain_writes(s, err);
        }
        pthread_mutex_unlock(&s->mu);
        if (rc) return rc;
    }
    if (!q && (rc = io_all(s, 0, dst, n * sizeof(float), s->off[k * s->nb + b], err)))
        return wf_err_prefix(err, "block %d (%s)", b, kind_name(k)), rc;
    uint64_t sums[WF_T_LAYER_COUNT];
    block_sums(s, k, b, dst, sums);
    const uint64_t *want = s->sum + (size_t)k * s->ntensor + s->first[b];
    for (int i = 0; i < (one_sum(s, k, b) ? 1 : block_ntensor(s, b)); i++)
        if (sums[i] != want[i]) {
            wf_tensor_info ti;
            wf_gpt_tensor_info(&s->cfg, s->first[b] + i, &ti);
            char where[32] = "embeddings";
            if (b == s->nb - 1) snprintf(where, sizeof where, "final norm");
            else if (b > 0) snprintf(where, sizeof where, "layer %d", b - 1);
            /* a block with one checksum (H, packed) names the whole block, not its first tensor */
            return WF_FAIL(err, WF_ECORRUPT, "%s: block %d (%s), %s%s (%s): checksum mismatch, the store is damaged",
                           s->path, b, where, one_sum(s, k, b) ? "the packed block" : "tensor ",
                           one_sum(s, k, b) ? "" : ti.name, kind_name(k));
        }
    return WF_OK;
}

static wf_status store_write(wf_store *s, wf_store_kind k, int b, const float *src, wf_err *err) {
    WF_ASSERT(b >= 0 && b < s->nb && k < WF_STORE_KINDS);
    size_t n = s->bn[k * s->nb + b];
    s->bytes_written += n * sizeof(float);
    if (s->fd < 0 && !s->ram[k] && /* H: allocated at its first write */
        !(s->ram[k] = wf_alloc(s->heap, s->ram_n[k] * sizeof(float), kind_name(k), err)))
        return WF_ENOMEM;
    if (s->fd < 0) {
        memcpy(s->ram[k] + s->roff[k * s->nb + b], src, n * sizeof(float));
        return WF_OK;
    }
    s->written[k * s->nb + b] = 0;
    wf_status rc = WF_OK;
    if (s->thr_on) {
        pthread_mutex_lock(&s->mu);
        stage *q = find_prefetch(s, k, b); /* a prefetch of the old contents is stale now */
        if (q) {
            while (q->busy == 1) pthread_cond_wait(&s->cv, &s->mu);
            q->busy = 0;
        }
        if (n > s->stage_floats) {
            rc = drain_writes(s, err);
            pthread_mutex_unlock(&s->mu);
            q = NULL;
        } else {
            while (!s->failed && (pending_writes(s) >= MAX_WRITES || !(q = find_free(s))))
                pthread_cond_wait(&s->cv, &s->mu);
            if (s->failed) {
                rc = s->failed, *err = s->fail_err;
            } else {
                memcpy(q->buf, src, n * sizeof(float));
                q->busy = 1, q->write = 1, q->k = k, q->b = b, q->seq = s->next_seq++;
                pthread_cond_broadcast(&s->cv);
            }
            pthread_mutex_unlock(&s->mu);
        }
        if (rc) return rc;
    }
    if ((!s->thr_on || n > s->stage_floats) && (rc = io_all(s, 1, (void *)src, n * sizeof(float), s->off[k * s->nb + b], err)))
        return wf_err_prefix(err, "block %d (%s)", b, kind_name(k)), rc;
    block_sums(s, k, b, src, s->sum + (size_t)k * s->ntensor + s->first[b]);
    s->written[k * s->nb + b] = 1;
    return WF_OK;
}

size_t wf_store_block_numel(const wf_store *s, wf_store_kind k, int b) { return s->bn[k * s->nb + b]; }

size_t wf_store_host_bytes(const wf_store *s) {
    size_t n = sizeof *s + (sizeof *s->off + 1) * WF_STORE_KINDS * (size_t)s->nb +
               sizeof *s->sum * WF_STORE_KINDS * (size_t)s->ntensor;
    n += 2 * sizeof *s->bn * WF_STORE_KINDS * (size_t)s->nb;
    if (s->fd < 0)
        for (int k = 0; k < WF_STORE_KINDS; k++) n += s->ram_n[k] * sizeof(float);
    return n;
}

void wf_store_traffic(const wf_store *s, uint64_t *read, uint64_t *written) {
    *read = s->bytes_read, *written = s->bytes_written;
}

const char *wf_store_path(const wf_store *s) { return s->path; }
