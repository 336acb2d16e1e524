/* fabric_int.h — the simulator's insides, shared by the fabric/ sources only.
** Layout of state: a W*H array of PE pointers, NULL for untouched PEs; a
** touched PE owns a few color slots (route + router buffer + its input and
** output queue for that color). At load each PE's state becomes one 64-byte
** aligned block: the PE (router-hot lines 0-1, counters line 2), its slots
** (one line each), their cold halves, the queue entries. Everything small
** comes from an arena freed with the fabric; PE SRAM from a second arena, at
** first touch.
** Time: one global clock `now`; per band of rows, per-cycle active lists
** (routers with wavelets, PEs with active microthread ops, PEs to pick a
** task on) plus a heap of future events. A router that sent its last
** wavelet lingers on its list for one cycle (RL_LINGER). When no list holds
** work the clock jumps to the next event.
** Threads (run.c): the rows are cut into bands, 8-row ones on several
** threads and 2-row ones on one (bands.c, which also moves the state between
** cuts); a cycle is three phases separated by barriers: A (per band:
** due events, one walk of the inner rows in PE order, each PE's router then
** its ops, then task picks), B (per pair of adjacent bands: routers of the
** two rows that touch, their list and event pushes deferred), C (per band:
** the deferred pushes, then ops and picks of the edge rows). An op or task
** touches only its own PE, and a PE's router runs before its ops in every
** cycle. Each phase only touches state its band (or pair) owns, in a fixed
** order (a PE's ops step in their issue order, wf_op.seq), so 1 and N
** threads, and any cut, give the same cycles and bits.
** Time skewing (run.c, one thread): band b's cycle t+1 needs only bands
** b-1..b+1 at cycle t, so a window of cycles runs as a wavefront over the
** bands, each band's cycles close together while its state is in cache. */
#ifndef WF_FABRIC_INT_H
#define WF_FABRIC_INT_H

#define WF_KERNEL_NO_SITE /* the definitions, not the call-site macros (kernel.h) */

#include "fabric.h"
#include "kernel.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Inlining the per-element hot path (a hint elsewhere: plain inline). */
#if defined(__GNUC__) || defined(__clang__)
#define WF_HOT_INLINE inline __attribute__((always_inline))
#else
#define WF_HOT_INLINE inline
#endif

#define NO_OP 0u          /* op index 0 is never used: "none" */
#define TASK_LAUNCH 64    /* trace/fault ID of a launched function */

/* A wavelet in a buffer. ready: low 32 bits of the first cycle it may move
** (see is_ready). flags: bit 0 control, bits 1..3 arrival port. */
typedef struct {
    uint32_t data;
    uint32_t ready;
    uint8_t flags;
} wf_wv;

/* Ring buffer with credit lag: a slot freed at cycle t is reusable only from
** t+1, so the processing order inside a cycle cannot change the result. The
** entries live off bytes after the struct, in the same PE block (12 bytes:
** three queues and the route fit a color slot's one cache line). */
typedef struct {
    uint16_t off;         /* 0: no queue */
    uint8_t cap, head, n;
    uint8_t lag_n;        /* pops during cycle lag_at */
    uint32_t lag_at;
} wf_fifo;
static inline wf_wv *fifo_ent(const wf_fifo *q) { return (wf_wv *)((uintptr_t)q + q->off); }

/* Ready test robust to 32-bit wrap: a wavelet is at most 255 cycles "in the
** future"; anything else is in the past. */
static inline int is_ready(uint32_t ready, uint64_t now) {
    uint32_t d = ready - (uint32_t)now;
    return d == 0 || d > 255u;
}
static inline int fifo_space(const wf_fifo *q, uint64_t now) {
    int lag = q->lag_at == (uint32_t)now ? q->lag_n : 0;
    return (int)q->cap - (int)q->n - lag;
}
static inline wf_wv *fifo_head(const wf_fifo *q) { return &fifo_ent(q)[q->head]; }
static inline void fifo_push(wf_fifo *q, uint32_t data, uint64_t ready, uint8_t flags) {
    unsigned i = (unsigned)q->head + q->n;
    if (i >= q->cap) i -= q->cap;
    wf_wv *e = &fifo_ent(q)[i];
    e->data = data;
    e->ready = (uint32_t)ready;
    e->flags = flags;
    q->n++;
}
static inline wf_wv fifo_pop(wf_fifo *q, uint64_t now) {
    wf_wv w = *fifo_head(q);
    if (++q->head == q->cap) q->head = 0;
    q->n--;
    if (q->lag_at != (uint32_t)now) { q->lag_at = (uint32_t)now; q->lag_n = 0; }
    q->lag_n++;
    return w;
}

/* One color on one PE: what a router step or an element step reads, in one
** cache line (slots are 64-byte aligned in the PE block). */
typedef struct {
    _Alignas(64) wf_route route;
    uint8_t color;
    uint8_t has_route;
    int8_t iq, oq;        /* queue index or -1 */
    uint8_t toggle;       /* alternates link vs RAMP input */
    uint8_t feed;         /* link ports that feed rb in some switch position */
    uint8_t capture;      /* the host captures `out` (streaming d2h, see wf_cslot_cold) */
    wf_fifo rb;           /* wavelets from links, waiting at the router */
    wf_fifo in;           /* core input queue (router -> core) */
    wf_fifo out;          /* core output queue (core -> router) */
    uint32_t in_ops;      /* ops consuming `in` (have a fabric-in operand) */
    uint32_t out_ops;     /* ops producing into `out` without fabric-in */
    uint32_t out_waiter;  /* a fabric-in -> fabric-out op asleep on a full `out`, or NO_OP */
} wf_cslot;
_Static_assert(sizeof(wf_cslot) == 64, "wf_cslot: one cache line");
/* The rest of a color slot (pe->scold, same index; set at load). */
typedef struct {
    uint32_t in_ops_tail, out_ops_tail;
    uint32_t *cap;        /* host capture (streaming d2h): wavelets from `out` go here */
    uint32_t cap_n, cap_i;
} wf_cslot_cold;

/* Derived once per distinct image. */
typedef struct wf_prog {
    const wf_pe_image *img;
    wf_task_fn fn[WF_FABRIC_TASKS];
    const char *name[WF_FABRIC_TASKS];
    uint8_t kind[WF_FABRIC_TASKS];
    uint32_t data_colors;   /* colors with a data task */
    uint64_t ctrl_tasks;    /* control task IDs */
    uint64_t init_blocked;
    struct wf_prog *next;
} wf_prog;

/* wf_pe.in_rlist. A router that sent its last wavelet lingers on its list
** for a cycle (step_router in run.c); one that gets a wavelet while it
** lingers, before its step in that cycle, skips that step, as a router
** listed only then would not be stepped before the next cycle. */
enum { RL_OFF, RL_ON, RL_LINGER, RL_SKIP };

/* Band edges: which router list a PE of a band is on. */
enum { EDGE_MID, EDGE_TOP, EDGE_BOT };

struct wf_pe {
    /* hot: lines 0-2 of the 64-byte aligned block. Line 0: what a router
    ** step reads first (lists, colors, ports); 1: neighbours and activity;
    ** 2: the counters routers and ops bump (st's first fields) */
    uint32_t rpend;             /* colors with a wavelet in rb or out */
    uint8_t ncolors;
    uint8_t in_rlist;           /* RL_*: on the band's router list, and how */
    uint8_t in_plist;
    uint8_t in_olist;           /* on the band's list of PEs with active ops */
    int8_t cidx[WF_FABRIC_COLORS];
    uint32_t aop;               /* active ops of this PE, through wf_op.anext (NO_OP ends) */
    uint8_t band, edge;         /* band of rows, EDGE_* within it */
    uint8_t port_mask;          /* ports that carried a wavelet out in cycle port_at-1 */
    uint8_t asleep;             /* the router sleeps blocked, since cycle sleep_at */
    uint32_t idx;
    uint32_t linger_at;         /* RL_LINGER: the cycle it sent its last wavelet */
    wf_cslot *slots;
    uint64_t port_at;           /* cycle+1 of the ports in port_mask */
    struct wf_pe *nb[4];        /* neighbours N S E W (NULL off the edge or untouched), set at load */
    uint64_t last_act;          /* latest cycle counted in st.active (router/op work) */
    uint64_t act_mask;          /* bit k: cycle last_act - k was counted */
    uint64_t busy_until;        /* core busy before this cycle */
    uint64_t busy_from;         /* ... since this one (the latest task) */
    wf_pe_stats st;
    /* warm: task picks, wakes of sleeping routers */
    wf_fabric *f;
    wf_cslot_cold *scold;       /* per slot, set at load */
    uint64_t sleep_at;          /* see asleep */
    int16_t x, y;
    const wf_prog *prog;
    uint64_t ready;             /* activated tasks */
    uint64_t blocked;
    /* colder: what tasks and the host use */
    const wf_pe_image *img;
    uint8_t *sram;              /* backs [img->sram_lo, img->sram_hi) */
    wf_task_fn launch_fn;       /* pending launched function */
    uint32_t ctrl_data;         /* last control wavelet for a control task */
    int cur_task;               /* running task (valid inside a task or init), else -1 */
    int last_task;              /* the latest task started, -1 before any (max-cycle guard report) */
    uint64_t tlocal;            /* the running task's clock: its start plus what it was charged */
    uint16_t op_seq;            /* ops made on this PE so far (wf_op.seq), modulo 2^16 */
};

#if UINTPTR_MAX == UINT64_MAX /* the line plan assumes 8-byte pointers */
_Static_assert(offsetof(struct wf_pe, nb) == 64 && offsetof(struct wf_pe, st) == 128,
               "wf_pe: the hot fields fill lines 0 and 1, st starts line 2");
#endif

/* Counts cycle c as active once (cycles may arrive slightly out of order:
** a cut-through receive counts the cycle after the router's). A cycle inside
** the latest task is already counted in st.busy. */
static WF_HOT_INLINE void mark_active(wf_pe *pe, uint64_t c) {
    if (c == pe->last_act && pe->act_mask) return; /* the common repeat: counted */
    if (c < pe->busy_until && c >= pe->busy_from) return;
    if (c > pe->last_act || pe->act_mask == 0) {
        uint64_t d = c - pe->last_act;
        pe->act_mask = (pe->act_mask == 0 || d >= 64) ? 1 : (pe->act_mask << d) | 1;
        pe->last_act = c;
        pe->st.active++;
    } else {
        uint64_t d = pe->last_act - c;
        if (d >= 64) { pe->st.active++; return; }
        if (!(pe->act_mask >> d & 1)) {
            pe->act_mask |= 1ull << d;
            pe->st.active++;
        }
    }
}

/* Op codes of DSD ops. */
enum { OP_FMACS, OP_FADDS, OP_FSUBS, OP_FMULS, OP_MOV32, OP_MOV16, OP_FMACH, OP_FADDH, OP_FMULH,
       OP_FMOVS, OP_FMACHS, OP_INJECT, OP_CODE_COUNT };

/* An op operand: a scalar, a fabric side, or a memory DSD walked element by
** element. What each element needs (the current element, dimension 0) is
** here, 24 bytes; dimensions 1..3 live apart in wf_dims, read only when
** dimension 0 wraps. */
typedef struct {
    union {
        uint8_t *p;      /* memory: current element */
        uint32_t bits;   /* scalar */
    };
    int32_t st0;         /* byte stride of dimension 0 (0 when it has one element) */
    uint32_t k0, len0;
    uint8_t kind;        /* wf_dsd_kind */
    uint8_t color;
} wf_operand;
typedef struct {
    uint32_t k[3], len[3];
    int64_t st[3];       /* byte strides of dimensions 1..3 */
} wf_dims;

/* Operand cursors: load, store and advance the current element (ops.c and
** the cut-through below). */
static inline uint32_t cur_load(const wf_operand *c, int esize) {
    if (esize == 4) {
        uint32_t v;
        memcpy(&v, c->p, 4);
        return v;
    }
    uint16_t v;
    memcpy(&v, c->p, 2);
    return v;
}
static inline void cur_store(const wf_operand *c, int esize, uint32_t v) {
    if (esize == 4) memcpy(c->p, &v, 4);
    else {
        uint16_t h = (uint16_t)v;
        memcpy(c->p, &h, 2);
    }
}
static WF_HOT_INLINE void cur_next(wf_operand *c, wf_dims *x) {
    if (++c->k0 < c->len0) {
        c->p += c->st0;
        return;
    }
    c->k0 = 0;
    c->p -= c->st0 * (int64_t)(c->len0 - 1);
    for (int d = 0; d < 3; d++) {
        if (++x->k[d] < x->len[d]) {
            c->p += x->st[d];
            return;
        }
        x->k[d] = 0;
        c->p -= x->st[d] * (int64_t)(x->len[d] - 1);
    }
}

/* An async op (microthread work item); what each element step reads is in
** its first 128 bytes (header and the three operands): two cache lines (ops
** are line-aligned in their chunks). */
typedef struct {
    _Alignas(64) uint32_t next; /* next op on the same queue; NO_OP ends */
    uint8_t code, action, task, active;
    uint8_t in_color, out_color, ctrl, esize; /* colors: 255 = none */
    uint32_t i, n;
    uint32_t sbits;      /* fmacs / fmach scalar */
    uint32_t anext;      /* next active op of the same PE (pe->aop), while active */
    uint8_t esize_b;     /* source b's element size: esize, except fmachs (fp16 b, fp32 dst and a) */
    uint16_t seq;        /* its PE's issue count when it was made: a PE's ops step in this order
                         ** (wrapping compare), whatever slot (index) they got (bands.c) */
    wf_pe *pe;           /* owner (PE blocks do not move after load) */
    uint64_t start;
    uint64_t last_at;    /* cycle of the last element consumed from fabric-in */
    wf_operand a, b, dst;
    wf_dims xa, xb, xdst;
    uint32_t *inj;       /* OP_INJECT: data to deliver, owned */
    const char *site;    /* the kernel's file:line that issued it (wf_site_file), or NULL; */
    int site_line;       /* for the deadlock and guard reports (not kept in snapshots) */
} wf_op;
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(offsetof(wf_op, xa) == 128, "wf_op: an element step reads two cache lines");
#endif

/* Bump allocator in big zeroed chunks, freed all at once with the fabric:
** keeps one PE's state contiguous and neighbouring PEs close in memory. */
typedef struct {
    uint8_t **chunks; size_t n, cap;
    uint8_t *bump; size_t left;
    size_t chunk;                /* bytes per chunk */
} wf_arena;

typedef struct {
    uint64_t time;
    uint64_t seq;
    uint32_t kind, arg;
} wf_event;
enum { EV_CORE_FREE, EV_OP_START, EV_OP_DONE, EV_CALL, EV_OP_FINISH };

/* A growable list of PE or op indices; `snap` is its length when the
** current phase began (entries after it wait for the next cycle). */
typedef struct {
    uint32_t *v;
    size_t n, c, snap;
    size_t sorted;               /* v[0, sorted) is known to be in increasing order */
} wf_ilist;
/* Router lists by edge (L_RMID + pe->edge); L_OPE lists the PEs with active
** ops (pe->aop). Inner PEs step their ops in phase A right after their own
** router, in one walk in PE order (the PE's state is still in L1); picks of
** inner PEs follow in A; ops and picks of edge PEs run in C. */
enum { L_RMID, L_RTOP, L_RBOT, L_OPE, L_PICK, L_OPE_EDGE, L_PICK_EDGE, L_COUNT };

/* A push made in phase B, applied by the owning band in phase C. */
typedef struct {
    uint64_t time;               /* events */
    uint32_t arg, kind;          /* kind: event kind, or 255 + list for a list push */
    uint8_t band;
} wf_deferred;

/* Ops live in fixed chunks so a thread may add chunks while others hold
** pointers into older ones. */
#define OP_CHUNK_BITS 10
#define OP_CHUNK (1u << OP_CHUNK_BITS)
#define OP_MAX_CHUNKS 65536u     /* 67 M ops in flight (a chunk is 1,024: a band takes one at a time) */

/* Rows [y0, y1) and everything the simulator keeps per band. */
typedef struct {
    int y0, y1;
    wf_ilist l[L_COUNT];
    wf_event *heapv; size_t nheap, cheap;
    uint64_t seq;
    uint32_t op_free;            /* free ops owned by this band, through next */
    wf_deferred *dv; size_t nd, cd; /* pushes deferred by the pair (this band, next band) */
} wf_band;

/* Per thread: what a phase did. */
typedef struct {
    int progress;
    int rlive;                   /* a router list holds work for the next cycle (see step_router) */
    uint64_t steps;
    wf_band *defer;              /* phase B: pushes go here */
    uint32_t *tmp; size_t ctmp;  /* sort scratch */
} wf_tctx;

/* statics.c: the shared-static check's state (wf_fabric_set_check_statics). */
#define WF_STATICS_MAX 4
typedef struct {
    int n;                       /* writable segments of the main program; 0 = check off */
    uint8_t *lo[WF_STATICS_MAX];
    size_t len[WF_STATICS_MAX];
    uint8_t *copy;               /* their bytes before the running task */
    size_t total;
    const uint8_t *skip;         /* the default heap's counters: written by allocations */
    size_t nskip;
} wf_statics;
void statics_before(wf_fabric *f);
void statics_after(wf_fabric *f, wf_pe *pe);

#define WF_FABRIC_MAX_BANDS 256 /* pe->band is a byte; bands.c picks the cut */
#define WF_FABRIC_MAX_THREADS 16
typedef struct wf_pool wf_pool;  /* run.c: worker threads */
struct wf_fabric {
    int w, h;
    wf_cost_model cm;
    wf_heap *heap;
    wf_pe **pes;                 /* w*h, NULL = untouched */
    uint8_t *xhops;              /* w*h*4: extra physical hops of the link leaving PE i by port p
                                 ** (wf_fabric_set_link_hops, defects); NULL = none (the default:
                                 ** the router then costs what it did without defects) */
    uint32_t max_xlat;           /* largest xhops * hop_latency (cycles a detour adds) */
    wf_arena arena;              /* PEs, slots, queues, programs */
    wf_arena sram_arena;         /* backed PE SRAM */
    wf_prog *progs;
    wf_prog **prog_tab; size_t prog_cap, nprogs; /* open addressing by image pointer */
    int loaded;
    /* time */
    uint64_t now;
    unsigned rot;                /* now % WF_FABRIC_COLORS: routers' first color this cycle */
    int nbands;
    wf_band band[WF_FABRIC_MAX_BANDS];
    /* ops */
    wf_op *opch[OP_MAX_CHUNKS];          /* chunk k holds ops k*OP_CHUNK .. */
    uint32_t nopch;                      /* chunks allocated; op 0 is never used */
    int ref_mode;                        /* wf_fabric_set_reference_mode */
    uint8_t *scratch;                    /* sram_bytes handed out by a failed wf_sym, so the
                                         ** kernel does not crash before the run stops */
    /* threads */
    pthread_mutex_t mu;                  /* op chunks, first-touch SRAM, scratch */
    int threads;                         /* wf_fabric_set_threads */
    wf_pool *pool;
    wf_tctx tc[WF_FABRIC_MAX_THREADS];   /* one per thread; tc[0] is the caller's */
    /* progress */
    _Atomic int failed;
    wf_err ferr;
    char report[4096];
    /* trace */
    wf_trace_fn trace; void *trace_ud; wf_trace_window tw;
    wf_statics statics;          /* shared-static check (statics.c) */
    /* debugger (debug.c): the run loop calls the hook before cycle dbg_at
    ** (UINT64_MAX when none: one compare per cycle), run_task at every task
    ** start while dbg is set */
    uint64_t dbg_at;
    wf_debug_fn dbg; void *dbg_ud;
    int dbg_quit;                /* the hook asked to end the run (no error stop for it) */
    /* progress (wf_fabric_set_progress): fn NULL = off */
    wf_progress_fn prog_fn; void *prog_ud;
    double prog_every;
    /* checkpoints (snapshot.c) */
    wf_checkpoint ck;            /* ck.path owned (a copy); NULL = off */
    int ck_at_done;              /* ck.at_cycle was written (or resumed from): not again */
    int poisoned;                /* a snapshot failed after it was partly applied: runs refuse */
    wf_err poison_err;
    char *resume_path;           /* owned; applied at the start of run resume_run */
    uint32_t resume_run;
    uint32_t runs;               /* wf_fabric_run calls so far (the current one included) */
    uint32_t start_fp;           /* fingerprint of the state when the current run began (checkpoints on) */
    _Atomic int stop_req;        /* wf_fabric_request_stop */
    /* time skewing (run.c): while a window runs, errors are kept here and
    ** the one the cycle order meets first wins (key: cycle, phase, band) */
    int skewing;
    int skew_failed;
    uint64_t skew_t0, skew_cur, skew_key, skew_fail_at;
    uint64_t skewed;             /* cycles run in windows (wf_fabric_stats.skewed) */
    wf_fabric_resume_info resumed;
    double cpu;                  /* CPU seconds inside wf_fabric_run (all threads of this process) */
    /* stats */
    double wall;
    uint64_t sram_backed;
    uint64_t pes_used;
};

/* snapshot.c: the run loop's calls. quiet/start: run_loop's locals, part of the state;
** snapshot_restore expects f->start_fp hashed as the run began; *bytes: the file's size. */
uint32_t snapshot_start_fp(wf_fabric *f);
wf_status snapshot_save(wf_fabric *f, uint64_t start, uint32_t quiet, double cpu_now, uint64_t *bytes, wf_err *err);
wf_status snapshot_restore(wf_fabric *f, uint64_t *start, uint32_t *quiet, wf_err *err);
void snapshot_free(wf_fabric *f);
double snapshot_cpu_now(void); /* CPU seconds of this process */

/* fabric.c */
void *arena_get(wf_fabric *f, wf_arena *a, size_t n, wf_err *err);
void arena_release(wf_fabric *f, wf_arena *a);
static inline void *arena_alloc(wf_fabric *f, size_t n, wf_err *err) { return arena_get(f, &f->arena, n, err); }
wf_pe *pe_get(wf_fabric *f, int x, int y, wf_err *err); /* creates */
static inline wf_pe *pe_at(const wf_fabric *f, int x, int y) {
    return (x < 0 || y < 0 || x >= f->w || y >= f->h) ? NULL : f->pes[(size_t)y * f->w + x];
}
int pe_sram_touch(wf_pe *pe);  /* 0 ok, else fails the run */
static inline wf_cslot *slot_of(wf_pe *pe, int color) {
    int i = pe->cidx[color];
    return i < 0 ? NULL : &pe->slots[i];
}
static inline wf_cslot_cold *slot_cold(const wf_pe *pe, const wf_cslot *s) { return &pe->scold[s - pe->slots]; }
static inline int trace_on(const wf_fabric *f, int x, int y, uint64_t c) {
    return f->trace && x >= f->tw.x0 && x < f->tw.x1 && y >= f->tw.y0 && y < f->tw.y1 &&
           c >= f->tw.c0 && (f->tw.c1 == 0 || c < f->tw.c1);
}
void emit(wf_fabric *f, int kind, int id, int port, int ctrl, int x, int y, uint32_t data, uint64_t cycle,
          uint64_t dur);


static inline wf_op *op_at(const wf_fabric *f, uint32_t oi) {
    return &f->opch[oi >> OP_CHUNK_BITS][oi & (OP_CHUNK - 1)];
}
/* The PE an event belongs to: its arg is a PE index or an op index by kind. */
static inline wf_pe *ev_pe(const wf_fabric *f, uint32_t kind, uint32_t arg) {
    return kind == EV_CORE_FREE || kind == EV_CALL ? f->pes[arg] : op_at(f, arg)->pe;
}

/* run.c */
extern _Thread_local wf_tctx *wf_tc;  /* the running thread's context (tc[0] outside runs) */
/* Appends x to list `which` of band b (deferred in phase B). */
void list_add(wf_fabric *f, int b, int which, uint32_t x);
int ilist_push(wf_fabric *f, wf_ilist *l, uint32_t x);           /* -1: out of memory (the run fails) */
void heap_push(wf_fabric *f, wf_band *bd, uint64_t time, uint32_t kind, uint32_t arg);
void ev_push(wf_fabric *f, uint64_t time, uint32_t kind, uint32_t arg);
void wake_router_slow(wf_fabric *f, wf_pe *pe);
/* Puts a router on the active list (counting cycles it slept blocked); the
** common case, already listed and awake, stays inline. */
static inline void wake_router(wf_fabric *f, wf_pe *pe) {
    if (pe->in_rlist && !pe->asleep) return;
    wake_router_slow(f, pe);
}
/* The same after a wavelet was queued for pe's router, `old` its rpend
** before: a listed router with nothing pending (one that lingers, see
** step_router in run.c) has work again, which the run loop must know. */
static inline void wake_router_push(wf_fabric *f, wf_pe *pe, uint32_t old) {
    if (pe->in_rlist && !pe->asleep) {
        if (!old) {
            wf_tc->rlive = 1;
            if (pe->in_rlist == RL_LINGER && pe->linger_at != (uint32_t)f->now) pe->in_rlist = RL_SKIP;
        }
        return;
    }
    wake_router_slow(f, pe);
}
static inline wf_tctx *tctx(wf_fabric *f) { return wf_tc ? wf_tc : &f->tc[0]; }
static inline void note_progress(void) {
    if (wf_tc) wf_tc->progress = 1;
}
void wake_pick(wf_pe *pe);
/* The phases of a cycle (see the top of this file). */
enum { PH_A, PH_B, PH_C, PH_QUIT };
/* Runs phase ph for thread tid of nt: bands tid, tid + nt, ... (pairs likewise). */
void fabric_run_phase(wf_fabric *f, int ph, int tid, int nt);

/* debug.c: the hook's calls; 1: the debugger quit (the run is failed with WF_EINTR) */
int debug_cycle(wf_fabric *f);
int debug_task(wf_fabric *f, wf_pe *pe, int id, uint32_t data);
void debug_error(wf_fabric *f, wf_status code, const char *msg);

/* bands.c: the cut of the rows into bands (a matter of speed, not of results) */
int fabric_bands_for(const wf_fabric *f, int threads);   /* the cut a run on `threads` threads uses */
void fabric_cut(wf_fabric *f, int nb);                    /* rows of nb bands (no state moves) */
void fabric_place_pe(const wf_fabric *f, wf_pe *pe);      /* pe->band and pe->edge from its row */
int fabric_bands_max(const wf_fabric *f);                 /* the most bands of 2 rows or more (1 below 4 rows) */
/* Between cycles: every list entry, event and free op to the band of nb
** that owns it now; WF_EUSAGE for a cut this fabric cannot have. */
wf_status fabric_rebands(wf_fabric *f, int nb, wf_err *err);

/* pool.c: worker threads */
void fabric_pool_start(wf_fabric *f, int nt);   /* f->pool, or NULL if no thread could start */
void fabric_pool_phase(wf_fabric *f, int ph);   /* all threads run ph; returns when all are done */
int fabric_pool_threads(const wf_fabric *f);    /* threads including the caller */
void fabric_pool_free(wf_fabric *f);            /* stops and joins the workers; NULL pool is a no-op */
void fabric_fail_at(wf_fabric *f, const char *file, int line, wf_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* Stops the run with an error (the first one wins); records our source line. */
#define fabric_fail(f, code, ...) fabric_fail_at((f), __FILE__, __LINE__, (code), __VA_ARGS__)

/* router.c */
int router_step(wf_fabric *f, wf_pe *pe); /* 1: it moved a wavelet (the caller notes progress) */

/* core.c */
void core_pick(wf_fabric *f, wf_pe *pe, int *keep);
void core_done_action(wf_fabric *f, wf_pe *pe, int action, int task);
void core_deliver_ctrl(wf_fabric *f, wf_pe *pe, uint32_t data);

/* ops.c */
/* Wakers around a color's queues (inline: the common case does nothing).
** A wavelet entered `in`: start the receive op (or the data task). */
void slot_in_arrived_slow(wf_fabric *f, wf_pe *pe, wf_cslot *s);
static inline void slot_in_arrived(wf_fabric *f, wf_pe *pe, wf_cslot *s) {
    if (s->in_ops != NO_OP && op_at(f, s->in_ops)->active) return;
    slot_in_arrived_slow(f, pe, s);
}
/* A slot of `out` freed: ops asleep on it (the head of out_ops, or a
** fabric-in -> fabric-out op recorded as out_waiter; host injection polls). */
void slot_out_popped_slow(wf_fabric *f, wf_pe *pe, wf_cslot *s);
static inline void slot_out_popped(wf_fabric *f, wf_pe *pe, wf_cslot *s) {
    if (s->out_waiter == NO_OP && s->out_ops == NO_OP) return;
    slot_out_popped_slow(f, pe, s);
}
/* A slot of `in` freed: the own router may sleep waiting for it. */
static inline void slot_in_popped(wf_fabric *f, wf_pe *pe, wf_cslot *s) {
    if (pe->asleep && (pe->rpend >> s->color & 1)) wake_router(f, pe);
}
/* One op's microthread cycle; 1: it stays active. */
int op_step(wf_fabric *f, uint32_t oi, wf_op *o);
unsigned op_step_pe_many(wf_fabric *f, wf_pe *pe);
/* Steps the ops active on pe when called, in op index order; ops activated
** meanwhile wait for the next cycle. Returns the ops stepped. One op (the
** common case) inline, several in ops.c. */
static inline unsigned op_step_pe(wf_fabric *f, wf_pe *pe) {
    uint32_t oi = pe->aop;
    wf_op *o = op_at(f, oi);
    if (o->anext != NO_OP) return op_step_pe_many(f, pe);
    pe->aop = NO_OP;
    if (op_step(f, oi, o)) { /* kept: in front of any op it activated */
        o->anext = pe->aop;
        pe->aop = oi;
    }
    return 1;
}
void op_start_event(wf_fabric *f, uint32_t oi);
void op_done_event(wf_fabric *f, uint32_t oi);
void op_finish_event(wf_fabric *f, uint32_t oi);
void op_cut_through_elem(wf_fabric *f, wf_pe *pe, wf_op *o, uint32_t data, uint64_t now, uint64_t at);
/* Cut-through delivery: the router hands a wavelet straight to the receive op
** waiting on an EMPTY input queue. The stepped model would queue it (ready at
** now + ramp_latency) and the op would take it exactly then, so we compute the
** element now, count it as consumed at that cycle, and fire completion then:
** same cycles, half the work. Not for ops that also write fabric-out. Inline
** (one per delivered wavelet): the common receive into memory here, other ops
** through op_cut_through_elem. 1: taken. */
static WF_HOT_INLINE int op_cut_through(wf_fabric *f, wf_pe *pe, wf_cslot *s, uint32_t data, uint64_t now) {
    if (s->in.n || s->in_ops == NO_OP || f->ref_mode) return 0;
    uint32_t oi = s->in_ops;
    wf_op *o = op_at(f, oi);
    uint64_t at = now + f->cm.ramp_latency;
    if (o->out_color != 255 || o->i >= o->n || o->start > now || o->last_at >= at) return 0;
    if ((o->code == OP_FMOVS || o->code == OP_MOV32) && o->a.kind == WF_DSD_FABIN) {
        /* a receive into memory (the common case): what op_element does */
        mark_active(pe, at);
        cur_store(&o->dst, o->esize, data);
        cur_next(&o->dst, &o->xdst);
    } else {
        op_cut_through_elem(f, pe, o, data, now, at);
    }
    o->last_at = at; /* progress: the router's move is noted by its caller */
    if (++o->i == o->n) ev_push(f, at, EV_OP_FINISH, oi);
    return 1;
}
void op_release(wf_fabric *f, uint32_t oi);
uint32_t op_new(wf_fabric *f, wf_pe *pe);   /* zeroed, o->pe set; NO_OP when out of memory */
void op_enqueue(wf_fabric *f, wf_pe *pe, uint32_t oi);
const char *op_name(int code);

#endif
