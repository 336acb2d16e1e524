/* snapshot.c — checkpoints of a run (fabric.h, "Checkpoints"): the dynamic
** state written between two cycles, and read back into a fabric that a new
** process configured the same way.
**
** What is state and what is configuration. Configuration (routes, queue
** placement and depths, images, programs, neighbours, defects) is rebuilt by
** the new process's own setup and load; the snapshot only carries a
** fingerprint of it. Everything a cycle changes is written out field by
** field: per PE its flags, lists membership, counters, task flags and SRAM;
** per color its switch position, toggle, the three queues (heads, counts,
** credit lag, entries) and op chains; every async op (pointers become a PE
** index and SRAM offsets); per band the active lists, the event heap and the
** free ops; the clock; the run loop's own quiet counter.
**
** Format (native byte order, fixed-size fields):
**   "WFSNAP01"  u32 version  u32 sizes  header (see put_header)
**   PE records (index order)  ops (a tag byte each: 0 = never used, only
**   its free-list link follows; 1 = the op)  bands  thread counters
**   u32 CRC-32 (zlib) of every byte before it  "WFSNEND1"
** Restoring reads the whole file once for its CRC, once to parse and
** range-check it against the fabric without touching it, and once more to
** apply it; a file that fails there leaves the fabric as it was. After the
** apply a consistency check follows every index the simulator will use
** (state_check); a state that fails it (only a hostile or broken writer
** makes one) leaves the fabric refusing to run. */
#include "fabric_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define SNAP_MAGIC "WFSNAP01"
#define SNAP_END "WFSNEND1"
#define SNAP_VERSION 3u /* 3: 1,024-op chunks; the cut of the bands is state, not configuration */
/* the layouts whose bytes are written as they are (struct sizes of this build) */
/* Sanity bounds on times: the clock (2^56 cycles is 2.7 years at 850 MHz)
** and how far ahead an event may lie (2^48: tasks charge 32-bit cycle
** counts). A file past them is corrupt; the clock then never nears 2^64. */
#define SNAP_MAX_CYCLE (1ull << 56)
#define SNAP_MAX_AHEAD (1ull << 48)
#define SNAP_SIZES ((uint32_t)(sizeof(wf_op) << 16 | sizeof(wf_pe_stats) << 8 | sizeof(wf_wv)))

/* ---- fingerprints ------------------------------------------------------- */
static uint32_t fp_add(uint32_t c, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) { /* zlib's crc32 takes an unsigned int length */
        unsigned k = n > (1u << 30) ? 1u << 30 : (unsigned)n;
        c = (uint32_t)crc32(c, b, k);
        b += k;
        n -= k;
    }
    return c;
}
#define FP(c, v) ((c) = fp_add((c), &(v), sizeof(v)))

static size_t sram_size(const wf_pe *pe) { return pe->img ? pe->img->sram_hi - pe->img->sram_lo : 0; }

/* The configuration a snapshot is valid for. */
static uint32_t config_fp(const wf_fabric *f) {
    uint32_t c = 0;
    FP(c, f->w);
    FP(c, f->h);
    uint32_t sizes = SNAP_SIZES;
    FP(c, sizes);
    /* the cost model field by field (no padding bytes) */
    const wf_cost_model *m = &f->cm;
    FP(c, m->clock_hz);
    FP(c, m->hop_latency);
    FP(c, m->ramp_latency);
    FP(c, m->op_latency);
    FP(c, m->router_depth);
    FP(c, m->iq_depth);
    FP(c, m->oq_depth);
    const uint32_t u[] = {m->task_switch, m->dsd_setup, m->w_f16_add, m->w_f16_mul, m->w_f16_fma, m->w_f32_add,
                          m->w_f32_mul, m->w_f32_fma, m->w_mov32, m->w_mov16, m->bank_bytes, m->bank_conflict,
                          m->sram_bytes, m->code_reserve, m->memcpy_setup, m->io_words_per_cycle,
                          m->launch_latency};
    FP(c, u);
    if (f->xhops) c = fp_add(c, f->xhops, (size_t)f->w * f->h * 4);
    for (size_t i = 0; i < (size_t)f->w * f->h; i++) {
        const wf_pe *pe = f->pes[i];
        if (!pe) continue;
        uint32_t idx = (uint32_t)i, lo = pe->img ? pe->img->sram_lo : 0, hi = pe->img ? pe->img->sram_hi : 0;
        FP(c, idx);
        FP(c, lo);
        FP(c, hi);
        FP(c, pe->ncolors);
        const char *kn = pe->img && pe->img->kernel && pe->img->kernel->name ? pe->img->kernel->name : "";
        c = fp_add(c, kn, strlen(kn));
        for (int si = 0; si < pe->ncolors; si++) {
            const wf_cslot *s = &pe->slots[si];
            FP(c, s->color);
            FP(c, s->has_route);
            FP(c, s->iq);
            FP(c, s->oq);
            FP(c, s->rb.cap);
            FP(c, s->in.cap);
            FP(c, s->out.cap);
            FP(c, s->route.npos);
            FP(c, s->route.ring);
            for (int p = 0; p < s->route.npos; p++) {
                FP(c, s->route.pos[p].rx);
                FP(c, s->route.pos[p].tx);
            }
        }
    }
    return c;
}

/* A pending event by what it is, not where it is kept. */
typedef struct {
    uint64_t time;
    uint32_t kind, pe, code, n; /* pe: its PE's index; code, n: its op's (0 for PE events) */
} start_ev;
static int start_ev_cmp(const void *a, const void *b) {
    const start_ev *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    if (x->pe != y->pe) return x->pe < y->pe ? -1 : 1;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    if (x->code != y->code) return x->code < y->code ? -1 : 1;
    return (x->n > y->n) - (x->n < y->n);
}

/* The state when a run begins: what the host put there (SRAM, launches,
** events). A resumed run must begin from the same. */
uint32_t snapshot_start_fp(wf_fabric *f) {
    uint32_t c = 0;
    FP(c, f->now);
    FP(c, f->runs);
    for (size_t i = 0; i < (size_t)f->w * f->h; i++) {
        const wf_pe *pe = f->pes[i];
        if (!pe) continue;
        uint8_t launch = pe->launch_fn != NULL, has = pe->sram != NULL;
        FP(c, pe->ready);
        FP(c, pe->blocked);
        FP(c, launch);
        FP(c, has);
        if (pe->sram) c = fp_add(c, pe->sram, sram_size(pe));
    }
    /* the pending events as a set, whatever band and op slot holds them (the
    ** cut and the op numbering depend on the thread count: bands.c) */
    size_t ne = 0;
    for (int b = 0; b < f->nbands; b++) ne += f->band[b].nheap;
    start_ev *ev = malloc(ne * sizeof *ev + sizeof *ev);
    size_t k = 0;
    for (int b = 0; b < f->nbands && ev; b++) {
        const wf_band *bd = &f->band[b];
        for (size_t i = 0; i < bd->nheap; i++) {
            const wf_event *e = &bd->heapv[i];
            const wf_op *o = e->kind == EV_CORE_FREE || e->kind == EV_CALL ? NULL : op_at(f, e->arg);
            ev[k++] = (start_ev){e->time, e->kind, ev_pe(f, e->kind, e->arg)->idx, o ? o->code : 0u, o ? o->n : 0u};
        }
    }
    if (!ev) return c ^ 0xffffffffu; /* out of memory: a resume is refused, never wrongly taken */
    qsort(ev, ne, sizeof *ev, start_ev_cmp);
    for (size_t i = 0; i < ne; i++) {
        FP(c, ev[i].time);
        FP(c, ev[i].kind);
        FP(c, ev[i].pe);
        FP(c, ev[i].code);
        FP(c, ev[i].n);
    }
    free(ev);
    return c;
}

/* Each PE's next op number (wf_pe.op_seq) is not in the file: only the order
** of a PE's ops matters (they step in it), so it becomes one past the latest
** of its ops in flight (their numbers are in the ops; any two in flight are
** less than 2^15 apart) and later ops still come after them. */
static int next_op_seqs(wf_fabric *f, uint32_t nops, const uint8_t *is_free) {
    size_t n = (size_t)f->w * f->h;
    uint8_t *seen = calloc(n ? n : 1, 1);
    if (!seen) return -1;
    for (size_t i = 0; i < n; i++)
        if (f->pes[i]) f->pes[i]->op_seq = 0;
    for (uint32_t oi = 1; oi < nops; oi++) {
        const wf_op *o = op_at(f, oi);
        if (is_free[oi] || !o->pe) continue;
        wf_pe *pe = o->pe;
        uint16_t next = (uint16_t)(o->seq + 1u);
        if (!seen[pe->idx] || (int16_t)(uint16_t)(next - pe->op_seq) > 0) pe->op_seq = next;
        seen[pe->idx] = 1;
    }
    free(seen);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */
typedef struct {
    FILE *fp;
    uint32_t crc;
    uint64_t bytes;
    int err;          /* errno of the first failed write */
} snap_w;

static void put(snap_w *w, const void *p, size_t n) {
    if (w->err || !n) return;
    w->crc = fp_add(w->crc, p, n);
    if (fwrite(p, 1, n, w->fp) != n) w->err = errno ? errno : EIO;
    w->bytes += n;
}
#define PUT(w, v) put((w), &(v), sizeof(v))

static void put_fifo(snap_w *w, const wf_fifo *q) {
    PUT(w, q->head);
    PUT(w, q->n);
    PUT(w, q->lag_n);
    PUT(w, q->lag_at);
    const wf_wv *e = fifo_ent(q);
    for (unsigned i = 0; i < q->cap; i++) {
        PUT(w, e[i].data);
        PUT(w, e[i].ready);
        PUT(w, e[i].flags);
    }
}

typedef struct {
    uint32_t version, sizes, config_fp, start_fp;
    uint32_t runs, nbands, npes, nopch, ntc;
    uint32_t segments, quiet, pad;
    uint64_t now, start, sram_backed, from_cycle;
    double wall, cpu, prior_wall, prior_cpu;
} snap_header;

/* The header's fields in file order: one list for the writer and the reader. */
#define HEADER_FIELDS(X)                                                                                 \
    X(version) X(sizes) X(config_fp) X(start_fp) X(runs) X(nbands) X(npes) X(nopch) X(ntc) X(segments) \
    X(quiet) X(now) X(start) X(sram_backed) X(wall) X(cpu)
/* A PE's state in file order (after its index; `launch`: a launch is pending). */
#define PE_FIELDS(X, LAUNCH)                                                                             \
    X(rpend) X(in_rlist) X(in_plist) X(in_olist) X(aop) X(port_mask) X(asleep) X(linger_at) X(port_at)   \
    X(last_act) X(act_mask) X(busy_until) X(busy_from) X(st) X(sleep_at) X(ready) X(blocked) LAUNCH       \
    X(ctrl_data) X(cur_task) X(last_task) X(tlocal)
/* A color slot's state in file order, then its three queues. */
#define SLOT_FIELDS(X, XC) X(route.cur) X(toggle) X(in_ops) X(out_ops) X(out_waiter) XC(in_ops_tail) XC(out_ops_tail)

static void put_header(snap_w *w, const snap_header *h) {
#define PUT_H(x) PUT(w, h->x);
    HEADER_FIELDS(PUT_H)
#undef PUT_H
}

static void put_pe(snap_w *w, const wf_pe *pe) {
    uint8_t launch = pe->launch_fn != NULL, has = pe->sram != NULL;
    PUT(w, pe->idx);
#define PUT_P(x) PUT(w, pe->x);
    PE_FIELDS(PUT_P, PUT(w, launch);)
#undef PUT_P
    for (int si = 0; si < pe->ncolors; si++) {
        const wf_cslot *s = &pe->slots[si];
        const wf_cslot_cold *sc = &pe->scold[si];
#define PUT_S(x) PUT(w, s->x);
#define PUT_C(x) PUT(w, sc->x);
        SLOT_FIELDS(PUT_S, PUT_C)
#undef PUT_S
#undef PUT_C
        put_fifo(w, &s->rb);
        put_fifo(w, &s->in);
        put_fifo(w, &s->out);
    }
    PUT(w, has);
    if (pe->sram) put(w, pe->sram, sram_size(pe));
}

/* An op as bytes, its pointers as indices and offsets (decode_op undoes it). */
static void encode_op(const wf_fabric *f, const wf_op *o, wf_op *e) {
    (void)f;
    memcpy(e, o, sizeof *e);
    e->pe = (wf_pe *)(uintptr_t)(o->pe ? (uintptr_t)o->pe->idx + 1 : 0);
    e->inj = (uint32_t *)(uintptr_t)(o->inj != NULL);
    e->site = NULL; /* a pointer into this process's program: not portable */
    e->site_line = 0;
    const wf_operand *src[3] = {&o->a, &o->b, &o->dst};
    wf_operand *dst[3] = {&e->a, &e->b, &e->dst};
    for (int k = 0; k < 3; k++) {
        if (src[k]->kind != WF_DSD_MEM) continue;
        /* an SRAM element as an offset from the PE's SRAM (a released op may
        ** keep a stale one: op_new clears it before any use) */
        int64_t off = o->pe && o->pe->sram && src[k]->p ? (int64_t)(src[k]->p - o->pe->sram) : INT64_MIN;
        memcpy(&dst[k]->p, &off, sizeof off);
    }
}

static int any_capture(const wf_fabric *f) {
    for (size_t i = 0; i < (size_t)f->w * f->h; i++) {
        const wf_pe *pe = f->pes[i];
        for (int si = 0; pe && si < pe->ncolors; si++)
            if (pe->slots[si].capture) return 1;
    }
    return 0;
}

double snapshot_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

wf_status snapshot_save(wf_fabric *f, uint64_t start, uint32_t quiet, double cpu_run, uint64_t *bytes, wf_err *err) {
    *bytes = 0;
    const char *path = f->ck.path;
    if (any_capture(f))
        return WF_FAIL(err, WF_EUSAGE, "%s: cannot checkpoint: a host capture (streaming d2h) is in progress "
                       "and its buffer is the host's", path);
    /* band.dv: phase B's pushes, applied in phase C of the same cycle; between
    ** cycles what is left there is spent (phase B resets it) */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return WF_FAIL(err, WF_ENOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    snap_w w = {fopen(tmp, "wb"), 0, 0, 0};
    if (!w.fp) {
        wf_status st = WF_FAIL(err, WF_EIO, "%s: cannot write: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    setvbuf(w.fp, NULL, _IOFBF, 1 << 20);
    snap_header h = {0};
    h.version = SNAP_VERSION;
    h.sizes = SNAP_SIZES;
    h.config_fp = config_fp(f);
    h.start_fp = f->start_fp;
    h.runs = f->runs;
    h.nbands = (uint32_t)f->nbands;
    h.npes = (uint32_t)f->pes_used;
    h.nopch = f->nopch;
    h.ntc = WF_FABRIC_MAX_THREADS;
    h.segments = f->resumed.segments;
    h.quiet = quiet;
    h.now = f->now;
    h.start = start;
    h.sram_backed = f->sram_backed;
    h.wall = f->wall;
    h.cpu = f->cpu + cpu_run;
    put(&w, SNAP_MAGIC, 8);
    put_header(&w, &h);
    uint32_t npes = 0;
    for (size_t i = 0; i < (size_t)f->w * f->h; i++)
        if (f->pes[i]) {
            put_pe(&w, f->pes[i]);
            npes++;
        }
    WF_ASSERT(npes == h.npes);
    for (uint32_t k = 0; k < f->nopch; k++) {
        for (uint32_t i = 0; i < OP_CHUNK; i++) {
            const wf_op *o = &f->opch[k][i];
            uint8_t used = o->pe != NULL; /* never handed out: only its free-list link */
            PUT(&w, used);
            if (!used) {
                PUT(&w, o->next);
                continue;
            }
            wf_op e;
            encode_op(f, o, &e);
            PUT(&w, e);
            if (o->inj) put(&w, o->inj, (size_t)o->n * 4);
        }
    }
    for (int b = 0; b < f->nbands; b++) {
        const wf_band *bd = &f->band[b];
        for (int l = 0; l < L_COUNT; l++) {
            uint64_t n = bd->l[l].n, snap = bd->l[l].snap, sorted = bd->l[l].sorted;
            PUT(&w, n);
            PUT(&w, snap);
            PUT(&w, sorted);
            put(&w, bd->l[l].v, n * sizeof *bd->l[l].v);
        }
        uint64_t nh = bd->nheap;
        PUT(&w, nh);
        for (size_t k = 0; k < nh; k++) {
            PUT(&w, bd->heapv[k].time);
            PUT(&w, bd->heapv[k].seq);
            PUT(&w, bd->heapv[k].kind);
            PUT(&w, bd->heapv[k].arg);
        }
        PUT(&w, bd->seq);
        PUT(&w, bd->op_free);
    }
    for (int t = 0; t < WF_FABRIC_MAX_THREADS; t++) PUT(&w, f->tc[t].steps);
    uint32_t crc = w.crc;
    put(&w, &crc, 4);
    put(&w, SNAP_END, 8);
    if (!w.err && fflush(w.fp) != 0) w.err = errno ? errno : EIO;
    if (!w.err && fsync(fileno(w.fp)) != 0) w.err = errno ? errno : EIO;
    if (fclose(w.fp) != 0 && !w.err) w.err = errno ? errno : EIO;
    wf_status st = WF_OK;
    if (w.err) {
        st = WF_FAIL(err, WF_EIO, "%s: write failed after %llu bytes: %s (the previous snapshot %s is kept)", tmp,
                     (unsigned long long)w.bytes, strerror(w.err), path);
        remove(tmp);
    } else if (rename(tmp, path) != 0) {
        st = WF_FAIL(err, WF_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        remove(tmp);
    }
    if (!st) *bytes = w.bytes;
    free(tmp);
    return st;
}

/* ---- reading ------------------------------------------------------------ */
typedef struct {
    FILE *fp;
    const char *path;
    uint32_t crc;
    uint64_t at;      /* bytes read */
    wf_err *err;
    int bad;
} snap_r;

static int get(snap_r *r, void *p, size_t n) {
    if (r->bad) return -1;
    if (n && fread(p, 1, n, r->fp) != n) {
        r->bad = 1;
        if (ferror(r->fp))
            WF_FAIL(r->err, WF_EIO, "%s: read failed at byte %llu: %s", r->path, (unsigned long long)r->at,
                    strerror(errno));
        else
            WF_FAIL(r->err, WF_ECORRUPT, "%s: truncated: ends inside a record at byte %llu", r->path,
                    (unsigned long long)r->at);
        return -1;
    }
    r->crc = fp_add(r->crc, p, n);
    r->at += n;
    return 0;
}
#define GET(r, v) get((r), &(v), sizeof(v))

static int corrupt(snap_r *r, const char *what) {
    if (!r->bad) WF_FAIL(r->err, WF_ECORRUPT, "%s: corrupt snapshot: %s (near byte %llu)", r->path, what,
                         (unsigned long long)r->at);
    r->bad = 1;
    return -1;
}

static int get_header(snap_r *r, snap_header *h) {
    char magic[8];
    if (get(r, magic, 8)) return -1;
    if (memcmp(magic, SNAP_MAGIC, 8) != 0) {
        WF_FAIL(r->err, WF_ECORRUPT, "%s: not a wafer simulation snapshot (bad magic)", r->path);
        r->bad = 1;
        return -1;
    }
#define GET_H(x) GET(r, h->x);
    HEADER_FIELDS(GET_H)
#undef GET_H
    if (r->bad) return -1;
    if (h->version != SNAP_VERSION) {
        WF_FAIL(r->err, WF_ECORRUPT, "%s: snapshot format version %u, this build reads version %u", r->path,
                h->version, SNAP_VERSION);
        r->bad = 1;
        return -1;
    }
    if (h->sizes != SNAP_SIZES) {
        WF_FAIL(r->err, WF_ECORRUPT, "%s: written by a build with other structure sizes (%08x, here %08x): "
                "resume with the build that wrote it", r->path, h->sizes, SNAP_SIZES);
        r->bad = 1;
        return -1;
    }
    if (h->ntc != WF_FABRIC_MAX_THREADS || h->nbands > WF_FABRIC_MAX_BANDS || h->nopch > OP_MAX_CHUNKS ||
        h->runs == 0 || h->start > h->now || h->now > SNAP_MAX_CYCLE)
        return corrupt(r, "header fields out of range");
    return 0;
}

/* Pass 1: the whole file's CRC and trailer. */
static wf_status check_file(const char *path, snap_header *h, uint64_t *size, wf_err *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return WF_FAIL(err, WF_EIO, "%s: cannot open: %s", path, strerror(errno));
    wf_status st = WF_OK;
    snap_r r = {fp, path, 0, 0, err, 0};
    if (get_header(&r, h)) {
        st = err ? err->code : WF_ECORRUPT;
        goto done;
    }
    if (fseek(fp, 0, SEEK_END) != 0) {
        st = WF_FAIL(err, WF_EIO, "%s: cannot seek: %s", path, strerror(errno));
        goto done;
    }
    long end = ftell(fp);
    if (end < 0 || (uint64_t)end < r.at + 12) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: truncated: %ld bytes, too short for a snapshot", path, end);
        goto done;
    }
    *size = (uint64_t)end;
    rewind(fp);
    uint32_t crc = 0;
    uint64_t left = (uint64_t)end - 12;
    static _Thread_local uint8_t buf[1 << 16];
    while (left) {
        size_t k = left > sizeof buf ? sizeof buf : (size_t)left;
        if (fread(buf, 1, k, fp) != k) {
            st = WF_FAIL(err, WF_EIO, "%s: read failed: %s", path, strerror(errno));
            goto done;
        }
        crc = fp_add(crc, buf, k);
        left -= k;
    }
    uint32_t want;
    char tail[8];
    if (fread(&want, 4, 1, fp) != 1 || fread(tail, 8, 1, fp) != 1 || memcmp(tail, SNAP_END, 8) != 0) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: truncated or damaged: no end marker (was the write cut short?)", path);
        goto done;
    }
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* fuzz/fuzz_snapshot.c: reach the parser */
    if (crc != want)
        st = WF_FAIL(err, WF_ECORRUPT, "%s: CRC mismatch (file %08x, computed %08x): the snapshot is damaged",
                     path, want, crc);
#endif
done:
    fclose(fp);
    return st;
}

wf_status wf_fabric_set_resume(wf_fabric *f, const char *path, wf_err *err) {
    free(f->resume_path);
    f->resume_path = NULL;
    if (!path) return WF_OK;
    snap_header h;
    uint64_t size;
    wf_status st = check_file(path, &h, &size, err);
    if (st) return st;
    f->resume_path = strdup(path);
    if (!f->resume_path) return WF_FAIL(err, WF_ENOMEM, "%s: out of memory", path);
    f->resume_run = h.runs;
    return WF_OK;
}

static int get_fifo(snap_r *r, wf_fifo *q, int apply) {
    wf_fifo t = *q;
    GET(r, t.head);
    GET(r, t.n);
    GET(r, t.lag_n);
    GET(r, t.lag_at);
    if (r->bad) return -1;
    if ((q->cap && t.head >= q->cap) || t.n > q->cap) return corrupt(r, "queue head or count beyond its depth");
    wf_wv *e = fifo_ent(q);
    for (unsigned i = 0; i < q->cap; i++) {
        wf_wv v;
        GET(r, v.data);
        GET(r, v.ready);
        GET(r, v.flags);
        if (apply) e[i] = v;
    }
    if (apply) *q = t;
    return r->bad ? -1 : 0;
}

/* One PE record: read into copies and range-checked; with apply, the copies
** (and the SRAM) go into the PE. Pass 1 calls it without apply. */
static int read_pe(snap_r *r, wf_fabric *f, wf_pe *pe, uint32_t nops, int apply) {
    uint32_t idx;
    if (GET(r, idx)) return -1;
    if (idx != pe->idx) return corrupt(r, "PE records out of step with the fabric");
    wf_pe t = *pe;
    uint8_t launch, has;
#define GET_P(x) GET(r, t.x);
    PE_FIELDS(GET_P, GET(r, launch);)
#undef GET_P
    if (r->bad) return -1;
    if (t.aop >= nops || t.in_rlist > RL_SKIP) return corrupt(r, "PE fields out of range");
    if (launch && !pe->launch_fn) return corrupt(r, "a launch is pending in the snapshot but not in this process");
    t.launch_fn = launch ? pe->launch_fn : NULL;
    for (int si = 0; si < pe->ncolors; si++) {
        wf_cslot s = pe->slots[si];
        wf_cslot_cold sc = pe->scold[si];
#define GET_S(x) GET(r, s.x);
#define GET_C(x) GET(r, sc.x);
        SLOT_FIELDS(GET_S, GET_C)
#undef GET_S
#undef GET_C
        if (r->bad) return -1;
        if (s.route.cur >= (s.route.npos ? s.route.npos : 1) || s.in_ops >= nops || s.out_ops >= nops ||
            s.out_waiter >= nops || sc.in_ops_tail >= nops || sc.out_ops_tail >= nops)
            return corrupt(r, "color slot fields out of range");
        /* the queue entries are read in place only when applying */
        if (get_fifo(r, &pe->slots[si].rb, apply) || get_fifo(r, &pe->slots[si].in, apply) ||
            get_fifo(r, &pe->slots[si].out, apply))
            return -1;
        if (apply) {
            s.rb = pe->slots[si].rb;
            s.in = pe->slots[si].in;
            s.out = pe->slots[si].out;
            pe->slots[si] = s;
            pe->scold[si] = sc;
        }
    }
    if (apply) *pe = t; /* t started as *pe: only the state changed */
    if (GET(r, has)) return -1;
    if (has && !pe->img) return corrupt(r, "SRAM for a PE without a program");
    if (has && apply) {
        if (!pe->sram && !wf_fabric_sram(f, pe->x, pe->y, NULL, NULL, r->err)) {
            r->bad = 1;
            return -1;
        }
        if (get(r, pe->sram, sram_size(pe))) return -1;
    } else if (has) { /* pass 1: skipped */
        static _Thread_local uint8_t buf[1 << 16];
        for (size_t n = sram_size(pe); n;) {
            size_t k = n > sizeof buf ? sizeof buf : n;
            if (get(r, buf, k)) return -1;
            n -= k;
        }
    }
    return 0;
}

static int decode_op(snap_r *r, wf_fabric *f, wf_op *o, const wf_op *e, size_t npes_total) {
    wf_op d = *e;
    uintptr_t pidx = (uintptr_t)e->pe;
    if (pidx > npes_total) return corrupt(r, "an op names a PE outside the fabric");
    d.pe = pidx ? f->pes[pidx - 1] : NULL;
    if (pidx && !d.pe) return corrupt(r, "an op names an unused PE");
    d.inj = NULL;
    d.site = NULL;
    d.site_line = 0;
    wf_operand *ops[3] = {&d.a, &d.b, &d.dst};
    for (int k = 0; k < 3; k++) {
        if (ops[k]->kind != WF_DSD_MEM) continue;
        int64_t off;
        memcpy(&off, &ops[k]->p, sizeof off);
        if (off != INT64_MIN && (!d.pe || off < 0 || off > (int64_t)sram_size(d.pe)))
            return corrupt(r, "an op's SRAM offset lies outside its PE's SRAM");
        ops[k]->p = off == INT64_MIN || !d.pe->sram ? NULL : d.pe->sram + off;
    }
    if (o) *o = d;
    return 0;
}

/* One pass over the open snapshot: without apply it parses and range-checks
** everything and checks the CRC and the end (pass 1); with apply it writes
** the state into the fabric (pass 2, after pass 1 succeeded on the same file). */
static wf_status apply_file(wf_fabric *f, FILE *fp, const snap_header *hh, int apply, wf_err *err) {
    rewind(fp);
    snap_r r = {fp, f->resume_path, 0, 0, err, 0};
    snap_header h;
    size_t total = (size_t)f->w * f->h;
    uint32_t nops = hh->nopch * OP_CHUNK;
    if (get_header(&r, &h)) goto bad;
    for (size_t i = 0; i < total; i++) {
        wf_pe *pe = f->pes[i];
        if (!pe) continue;
        if (read_pe(&r, f, pe, nops ? nops : 1, apply)) goto bad;
    }
    if (apply) { /* the op chunks: as many as the snapshot had */
        for (uint32_t k = 0; k < f->nopch; k++)
            for (uint32_t i = 0; i < OP_CHUNK; i++) {
                wf_free(f->heap, f->opch[k][i].inj);
                f->opch[k][i].inj = NULL;
            }
        while (f->nopch < h.nopch) {
            wf_op *c = wf_calloc(f->heap, OP_CHUNK * sizeof *c, "fabric ops", err);
            if (!c) goto bad;
            f->opch[f->nopch++] = c;
        }
        for (uint32_t k = h.nopch; k < f->nopch; k++) memset(f->opch[k], 0, OP_CHUNK * sizeof(wf_op));
    }
    for (uint32_t k = 0; k < h.nopch; k++) {
        for (uint32_t i = 0; i < OP_CHUNK; i++) {
            wf_op *o = apply ? &f->opch[k][i] : NULL;
            uint8_t used;
            if (GET(&r, used)) goto bad;
            if (used > 1) { corrupt(&r, "bad op tag"); goto bad; }
            if (!used) {
                uint32_t next;
                if (GET(&r, next)) goto bad;
                if (o) {
                    memset(o, 0, sizeof *o);
                    o->next = next;
                }
                continue;
            }
            wf_op e;
            if (GET(&r, e)) goto bad;
            if (decode_op(&r, f, o, &e, total)) goto bad;
            if (e.inj) {
                if (e.n > (1u << 30)) { corrupt(&r, "inject data too long"); goto bad; }
                uint32_t *d = wf_alloc(f->heap, (size_t)e.n * 4 + 4, "snapshot inject data", err);
                if (!d) goto bad;
                if (get(&r, d, (size_t)e.n * 4)) { wf_free(f->heap, d); goto bad; }
                if (o) o->inj = d;
                else wf_free(f->heap, d);
            }
        }
    }
    for (int b = 0; b < f->nbands; b++) {
        wf_band *bd = &f->band[b];
        for (int l = 0; l < L_COUNT; l++) {
            uint64_t n, snap, sorted;
            GET(&r, n);
            GET(&r, snap);
            GET(&r, sorted);
            if (r.bad) goto bad;
            if (n > total * 4 || snap > n || sorted > n) { corrupt(&r, "list length out of range"); goto bad; }
            uint32_t *v = wf_alloc(f->heap, n * sizeof *v + 4, "snapshot list", err);
            if (!v) goto bad;
            if (get(&r, v, n * sizeof *v)) { wf_free(f->heap, v); goto bad; }
            for (uint64_t k = 0; k < n; k++)
                if (v[k] >= total) { /* every list holds PE indices */
                    wf_free(f->heap, v);
                    corrupt(&r, "list entry out of range");
                    goto bad;
                }
            if (apply) {
                wf_ilist *il = &bd->l[l];
                wf_free(f->heap, il->v);
                il->v = v;
                il->c = n + 1;
                il->n = n;
                il->snap = snap;
                il->sorted = sorted;
            } else {
                wf_free(f->heap, v);
            }
        }
        uint64_t nh;
        if (GET(&r, nh)) goto bad;
        if (nh > (uint64_t)total * 64 + (uint64_t)nops) { corrupt(&r, "event heap too long"); goto bad; }
        wf_event *hv = wf_alloc(f->heap, nh * sizeof *hv + sizeof *hv, "snapshot events", err);
        if (!hv) goto bad;
        for (uint64_t k = 0; k < nh; k++) {
            GET(&r, hv[k].time);
            GET(&r, hv[k].seq);
            GET(&r, hv[k].kind);
            GET(&r, hv[k].arg);
            if (!r.bad && hv[k].time > h.now + SNAP_MAX_AHEAD) corrupt(&r, "event time out of range");
        }
        uint64_t seq;
        uint32_t op_free;
        GET(&r, seq);
        GET(&r, op_free);
        if (r.bad || op_free >= (nops ? nops : 1)) {
            wf_free(f->heap, hv);
            if (!r.bad) corrupt(&r, "free op list out of range");
            goto bad;
        }
        if (apply) {
            wf_free(f->heap, bd->heapv);
            bd->heapv = hv;
            bd->nheap = nh;
            bd->cheap = nh + 1;
            bd->seq = seq;
            bd->op_free = op_free;
        } else {
            wf_free(f->heap, hv);
        }
    }
    for (int t = 0; t < WF_FABRIC_MAX_THREADS; t++) {
        uint64_t steps;
        if (GET(&r, steps)) goto bad;
        if (apply) f->tc[t].steps = steps;
    }
    if (!apply) { /* the trailer: the CRC of all the bytes read, then the end marker and nothing after it */
        uint32_t sum = r.crc, want;
        char tail[8];
        if (get(&r, &want, 4) || get(&r, tail, 8)) goto bad;
        if (memcmp(tail, SNAP_END, 8) != 0 || fgetc(fp) != EOF) {
            corrupt(&r, "the records do not end where the end marker is");
            goto bad;
        }
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        if (sum != want) {
            WF_FAIL(err, WF_ECORRUPT, "%s: CRC mismatch (file %08x, computed %08x): the snapshot is damaged", r.path,
                    want, sum);
            goto bad;
        }
#else
        (void)sum;
        (void)want;
#endif
    }
    return WF_OK;
bad:
    return err && err->code ? err->code : WF_ECORRUPT;
}

/* After a failed apply the fabric holds part of the snapshot: no run may use
** it (run_loop refuses; the error stays). */
static wf_status snapshot_poison(wf_fabric *f, wf_err *err) {
    f->poisoned = 1;
    if (err) f->poison_err = *err;
    return err && err->code ? err->code : WF_ECORRUPT;
}

/* ---- the state's own consistency ----------------------------------------
** A file with a good CRC and matching fingerprints can still hold values no
** run produces (a hostile or buggy writer): every index the simulator will
** follow, every op's SRAM walk, every list entry is checked here, after the
** apply, so that a bad state is refused rather than run. */
typedef struct {
    wf_fabric *f;
    uint8_t *is_free;   /* per op: on a band's free list */
    uint32_t nops;
    size_t total;
} vctx;

/* The heap order of run.c (time, then push sequence). */
static int ev_before(const wf_event *a, const wf_event *b) {
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

/* oi is NO_OP or a live op of pe. */
static int op_of(const vctx *v, uint32_t oi, const wf_pe *pe) {
    if (oi == NO_OP) return 1;
    if (oi >= v->nops || v->is_free[oi]) return 0;
    return op_at(v->f, oi)->pe == pe;
}

static int color_ok(const wf_pe *pe, unsigned c) { return c < WF_FABRIC_COLORS && pe->cidx[c] >= 0; }

/* A memory operand's whole walk (every element it can still reach) lies in its PE's SRAM. */
static int walk_ok(const wf_pe *pe, const wf_operand *c, const wf_dims *x, int esize) {
    if (!pe->sram || !c->p || c->len0 < 1 || c->k0 >= c->len0 || c->len0 > (1u << 24)) return 0;
    int64_t lo = 0, hi = 0, at = (int64_t)c->k0 * c->st0;
    int64_t st[4] = {c->st0, x->st[0], x->st[1], x->st[2]};
    uint32_t len[4] = {c->len0, x->len[0], x->len[1], x->len[2]}, k[4] = {c->k0, x->k[0], x->k[1], x->k[2]};
    for (int d = 0; d < 4; d++) {
        if (len[d] < 1 || k[d] >= len[d] || len[d] > (1u << 24) || st[d] > (1 << 24) || st[d] < -(1 << 24)) return 0;
        if (d) at += (int64_t)k[d] * st[d];
        int64_t span = (int64_t)(len[d] - 1) * st[d];
        if (span < 0) lo += span;
        else hi += span;
    }
    int64_t base = (int64_t)(c->p - pe->sram) - at, n = (int64_t)sram_size(pe);
    return base + lo >= 0 && base + hi + esize <= n;
}

/* The head of the op queue o waits in (NULL for an injection, which has none). */
static const uint32_t *queue_head_of(const wf_pe *pe, const wf_op *o) {
    if (o->code == OP_INJECT) return NULL;
    const wf_cslot *s = slot_of((wf_pe *)pe, o->in_color != 255 ? o->in_color : o->out_color);
    return o->in_color != 255 ? &s->in_ops : &s->out_ops;
}

static int op_valid(const vctx *v, const wf_op *o, uint32_t oi) {
    const wf_pe *pe = o->pe;
    if (!pe || o->code >= OP_CODE_COUNT || o->task >= WF_FABRIC_TASKS || o->action > WF_DONE_UNBLOCK) return 0;
    if ((o->esize != 2 && o->esize != 4) || (o->esize_b != 2 && o->esize_b != 4) || o->i > o->n) return 0;
    if ((o->in_color != 255 && !color_ok(pe, o->in_color)) || (o->out_color != 255 && !color_ok(pe, o->out_color)))
        return 0;
    if (!op_of(v, o->next, pe) || (o->active && !op_of(v, o->anext, pe))) return 0; /* anext: while active */
    if (o->code == OP_INJECT && o->i < o->n && !o->inj) return 0;
    /* a queued op has a fabric color; only the head of its queue runs */
    if (o->code != OP_INJECT && o->in_color == 255 && o->out_color == 255) return 0;
    if (o->active && o->code != OP_INJECT && *queue_head_of(pe, o) != oi) return 0;
    const wf_operand *c[3] = {&o->a, &o->b, &o->dst};
    const wf_dims *x[3] = {&o->xa, &o->xb, &o->xdst};
    const int es[3] = {o->esize, o->esize_b, o->esize};
    for (int k = 0; k < 3; k++) {
        if (c[k]->kind > WF_DSD_SCALAR) return 0;
        if ((c[k]->kind == WF_DSD_FABIN || c[k]->kind == WF_DSD_FABOUT) && !color_ok(pe, c[k]->color)) return 0;
        if (c[k]->kind == WF_DSD_MEM && o->i < o->n && !walk_ok(pe, c[k], x[k], es[k])) return 0;
    }
    return 1;
}

static const char *state_check(wf_fabric *f, uint32_t nops, uint8_t *is_free) {
    vctx v = {f, is_free, nops, (size_t)f->w * f->h};
    for (int b = 0; b < f->nbands; b++) { /* the free lists: ops of nobody, no cycles */
        uint64_t steps = 0;
        for (uint32_t oi = f->band[b].op_free; oi != NO_OP; oi = op_at(f, oi)->next) {
            if (oi >= nops || is_free[oi] || ++steps > nops) return "a free-op list loops or leaves the ops";
            is_free[oi] = 1;
        }
    }
    for (uint32_t oi = 1; oi < nops; oi++)
        if (!is_free[oi] && !op_valid(&v, op_at(f, oi), oi)) return "an async op with fields out of range";
    for (size_t i = 0; i < v.total; i++) {
        wf_pe *pe = f->pes[i];
        if (!pe) continue;
        /* between cycles no task runs; a pending color must have a slot */
        if (pe->in_rlist > RL_SKIP || pe->cur_task != -1 || pe->last_task < -1 || pe->last_task > TASK_LAUNCH ||
            !op_of(&v, pe->aop, pe))
            return "PE fields out of range";
        for (uint32_t m = pe->rpend; m; m &= m - 1)
            if (!color_ok(pe, (unsigned)__builtin_ctz(m))) return "a PE's pending colors name a color it has no route for";
        /* the active-op chain: active ops of this PE, ending (walks of it must end) */
        uint64_t steps = 0;
        for (uint32_t oi = pe->aop; oi != NO_OP; oi = op_at(f, oi)->anext)
            if (!op_of(&v, oi, pe) || !op_at(f, oi)->active || ++steps > nops) return "a PE's active ops loop";
        for (int si = 0; si < pe->ncolors; si++) {
            const wf_cslot *s = &pe->slots[si];
            const wf_cslot_cold *sc = &pe->scold[si];
            /* op queues end (each op's next is checked to be this PE's) */
            const uint32_t heads[2] = {s->in_ops, s->out_ops};
            for (int k = 0; k < 2; k++) {
                uint64_t n = 0;
                for (uint32_t oi = heads[k]; oi != NO_OP && op_of(&v, oi, pe); oi = op_at(f, oi)->next)
                    if (++n > nops) return "a color's op queue loops";
            }
            /* a queue's tail is read only while it has a head */
            if (!op_of(&v, s->in_ops, pe) || !op_of(&v, s->out_ops, pe) || !op_of(&v, s->out_waiter, pe) ||
                (s->in_ops != NO_OP && !op_of(&v, sc->in_ops_tail, pe)) ||
                (s->out_ops != NO_OP && !op_of(&v, sc->out_ops_tail, pe)))
                return "a color's op queue names another PE's op";
            const wf_fifo *q[3] = {&s->rb, &s->in, &s->out};
            for (int k = 0; k < 3; k++)
                if ((q[k]->cap && q[k]->head >= q[k]->cap) || q[k]->n > q[k]->cap || q[k]->lag_n > q[k]->cap)
                    return "a queue's head or count beyond its depth";
        }
    }
    for (int b = 0; b < f->nbands; b++) {
        const wf_band *bd = &f->band[b];
        for (int l = 0; l < L_COUNT; l++)
            for (size_t k = 0; k < bd->l[l].n; k++) {
                uint32_t x = bd->l[l].v[k];
                const wf_pe *pe = x < v.total ? f->pes[x] : NULL;
                if (!pe || pe->band != b) return "a list names a PE outside its band";
                if (l <= L_RBOT && L_RMID + pe->edge != l) return "a router list names a PE of another edge";
                if ((l == L_OPE || l == L_PICK) && pe->edge) return "an inner list names an edge PE";
                if ((l == L_OPE_EDGE || l == L_PICK_EDGE) && !pe->edge) return "an edge list names an inner PE";
            }
        for (size_t k = 0; k < bd->nheap; k++) {
            const wf_event *e = &bd->heapv[k];
            const wf_pe *pe = NULL;
            if (e->kind == EV_CORE_FREE || e->kind == EV_CALL) pe = e->arg < v.total ? f->pes[e->arg] : NULL;
            else if (e->kind <= EV_OP_FINISH && e->arg && e->arg < nops && !is_free[e->arg]) pe = op_at(f, e->arg)->pe;
            if (!pe || pe->band != b) return "an event names no PE of its band";
            if (e->kind == EV_OP_DONE || e->kind == EV_OP_FINISH) { /* they complete the head of a queue */
                const wf_op *o = op_at(f, e->arg);
                const uint32_t *h = queue_head_of(pe, o);
                if (h && *h != e->arg) return "an op completes that is not the head of its queue";
            }
            if (k && ev_before(e, &bd->heapv[(k - 1) / 2])) return "the event heap is out of order";
        }
    }
    return NULL;
}

static wf_status restore_from(wf_fabric *f, FILE *fp, uint64_t *start, uint32_t *quiet, wf_err *err);

wf_status snapshot_restore(wf_fabric *f, uint64_t *start, uint32_t *quiet, wf_err *err) {
    const char *path = f->resume_path;
    /* one open file for every pass: a snapshot renamed over it meanwhile is not mixed in */
    FILE *fp = fopen(path, "rb");
    if (!fp) return WF_FAIL(err, WF_EIO, "%s: cannot open: %s", path, strerror(errno));
    setvbuf(fp, NULL, _IOFBF, 1 << 20);
    wf_status st = restore_from(f, fp, start, quiet, err);
    fclose(fp);
    return st;
}

static wf_status restore_from(wf_fabric *f, FILE *fp, uint64_t *start, uint32_t *quiet, wf_err *err) {
    const char *path = f->resume_path;
    snap_header h;
    snap_r hr = {fp, path, 0, 0, err, 0};
    if (get_header(&hr, &h)) return err && err->code ? err->code : WF_ECORRUPT;
    wf_status st;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    h.config_fp = config_fp(f);
    h.start_fp = f->start_fp;
#endif
    if (h.config_fp != config_fp(f))
        return WF_FAIL(err, WF_EUSAGE, "%s: taken from another program or configuration (fabric size, cost "
                       "model, kernels, routes or defects differ): not resumed", path);
    if (h.npes != f->pes_used)
        return WF_FAIL(err, WF_EUSAGE, "%s: taken on a fabric with %u PEs in use, this one has %llu: not resumed",
                       path, h.npes, (unsigned long long)f->pes_used);
    if (h.start_fp != f->start_fp) /* hashed by run_loop as this run began */
        return WF_FAIL(err, WF_EUSAGE, "%s: its run began from another state (cycle %llu; other inputs, seed or "
                       "host work before the run): not resumed", path, (unsigned long long)h.start);
    /* the cut of the bands it was taken with (another thread count: bands.c);
    ** the fabric's state moves to it before the file is read */
    if (h.nbands < 1 || h.nbands > (uint32_t)fabric_bands_max(f))
        return WF_FAIL(err, WF_ECORRUPT, "%s: %u bands for a fabric of %d rows: the snapshot is damaged", path,
                       h.nbands, f->h);
    if ((st = fabric_rebands(f, (int)h.nbands, err))) return st;
    /* pass 1 parses and range-checks without touching the fabric; pass 2 applies */
    if ((st = apply_file(f, fp, &h, 0, err))) return st;
    if ((st = apply_file(f, fp, &h, 1, err))) return snapshot_poison(f, err);
    uint32_t nops = h.nopch * OP_CHUNK;
    uint8_t *is_free = calloc(nops ? nops : 1, 1);
    if (!is_free) {
        WF_FAIL(err, WF_ENOMEM, "%s: out of memory checking the snapshot", path);
        return snapshot_poison(f, err);
    }
    const char *bad = state_check(f, nops, is_free);
    if (!bad && next_op_seqs(f, nops, is_free)) {
        free(is_free);
        WF_FAIL(err, WF_ENOMEM, "%s: out of memory restoring the snapshot", path);
        return snapshot_poison(f, err);
    }
    free(is_free);
    if (bad) {
        WF_FAIL(err, WF_ECORRUPT, "%s: corrupt snapshot: %s", path, bad);
        return snapshot_poison(f, err);
    }
    f->now = h.now;
    f->rot = (unsigned)(f->now % WF_FABRIC_COLORS);
    f->start_fp = h.start_fp;
    f->resumed.segments = h.segments + 1;
    f->resumed.from_cycle = h.now;
    f->resumed.wall_s = h.wall;
    f->resumed.cpu_s = h.cpu;
    f->wall = h.wall; /* both go on accumulating: a later snapshot carries every segment's */
    f->cpu = h.cpu;
    if (f->ck.at_cycle && f->ck.at_cycle <= h.now) f->ck_at_done = 1; /* the pause it stopped at */
    *start = h.start;
    *quiet = h.quiet;
    return WF_OK;
}

wf_status wf_fabric_set_checkpoint(wf_fabric *f, const wf_checkpoint *c, wf_err *err) {
    free((char *)f->ck.path);
    memset(&f->ck, 0, sizeof f->ck);
    f->ck_at_done = 0;
    if (!c || !c->path) return WF_OK;
    if (!(c->every_s >= 0) || c->every_s > 1e9)
        return WF_FAIL(err, WF_EUSAGE, "fabric: checkpoint every %g s, expected 0 .. 1e9", c->every_s);
    f->ck = *c;
    f->ck.path = strdup(c->path);
    if (!f->ck.path) return WF_FAIL(err, WF_ENOMEM, "fabric: out of memory");
    return WF_OK;
}

void wf_fabric_request_stop(wf_fabric *f) { f->stop_req = 1; }

void wf_fabric_resume_info_get(const wf_fabric *f, wf_fabric_resume_info *out) { *out = f->resumed; }

void snapshot_free(wf_fabric *f) {
    free((char *)f->ck.path);
    f->ck.path = NULL;
    free(f->resume_path);
    f->resume_path = NULL;
}

