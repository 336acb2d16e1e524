/* fabric.h — the simulated Wafer-Scale Engine (WSE-2): a W x H grid of PEs,
** each a compute engine running tasks + a 5-port router with 24 colors + 48 KB
** SRAM. Event-driven and cycle-approximate: idle PEs cost nothing, a wavelet
** hop is a ring-buffer move, long DSD ops on memory are one analytic charge.
** This header is the machine: cost model, routes, loading PE images, running,
** statistics, tracing. What PE code calls lives in fabric/kernel.h; layout
** checks and the host runtime (memcpy, launch) live in sdk/.
**
** Coordinates: x = column (0 = west edge), y = row (0 = north edge).
** NORTH of (x,y) is (x,y-1); EAST is (x+1,y).
** Determinism: a fixed processing order; the same program gives the same
** cycles and the same bits every run, on any number of threads
** (wf_fabric_set_threads). A fabric is driven by one host thread at a time;
** PE code (tasks) may run on the fabric's worker threads, each task on the
** PE's own state only.
**
** Time model in one paragraph: a wavelet forwarded by a router at cycle t is
** in the next router's buffer from t + hop_latency and can move on then; one
** wavelet per cycle leaves through each output port; it moves only when all
** its targets have room (a slot freed at t is reusable from t+1). The core
** computes a fabric-out element at t; it enters the output queue at
** t + op_latency (its slot is claimed at t) and is usable by the router at
** t + op_latency + ramp_latency and takes one from an input queue at the earliest at
** t + ramp_latency after delivery. Tasks and ops are charged by the cost model
** below. */
#ifndef WF_FABRIC_H
#define WF_FABRIC_H

#include "../base/base.h"
#include "kernel.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* C++ callers: the libraries are C */
#endif

/* ---- hardware limits (docs/REFERENCE.md, "The Wafer-Scale Engine 2") ------- */
#define WF_FABRIC_MAX_W 750           /* largest program rectangle (memcpy needs the rest) */
#define WF_FABRIC_MAX_H 994
#define WF_FABRIC_COLORS 24           /* router colors (virtual channels) */
#define WF_FABRIC_MEMCPY_COLOR 21     /* colors 21..23 are reserved for memcpy */
#define WF_FABRIC_TASKS 64            /* task IDs 0..63; data task ID = color */
#define WF_FABRIC_IQ 8                /* core input queues */
#define WF_FABRIC_OQ 6                /* core output queues */
#define WF_FABRIC_SWITCH_POS 3        /* switch positions per color */
#define WF_PE_SRAM_BYTES (48 * 1024)  /* per PE, 8 banks of 6 KB */
#define WF_PE_BANK_BYTES (6 * 1024)

/* Router ports. Masks of ports are (1u << port). */
typedef enum { WF_PORT_N, WF_PORT_S, WF_PORT_E, WF_PORT_W, WF_PORT_RAMP, WF_PORT_COUNT } wf_port;
#define WF_N (1u << WF_PORT_N)
#define WF_S (1u << WF_PORT_S)
#define WF_E (1u << WF_PORT_E)
#define WF_W (1u << WF_PORT_W)
#define WF_RAMP (1u << WF_PORT_RAMP)
const char *wf_port_name(int port); /* "NORTH", "SOUTH", "EAST", "WEST", "RAMP" */

/* ---- the cost model: ONE table (STYLE 12) ------------------------------
** Every cycle the simulator charges comes from here. Defaults in
** wf_cost_wse2; values marked *open* are not fixed by any public source. */
typedef struct wf_cost_model {
    double clock_hz;         /* cycles -> seconds only; *open*: 850 MHz (vendor scripts) vs 1.1 GHz */
    uint32_t hop_latency;    /* cycles router->neighbour router; *open*: 1 documented, 2 observed */
    uint32_t ramp_latency;   /* cycles core<->own router (oq->router, router->iq); 1 */
    uint32_t op_latency;     /* cycles from an element's operands to its result entering the output
                             ** queue (a pipeline stage, not a queue slot); 1: the "+1" of the
                             ** receive-compute-send step 2 T_R + 1 in Luczynski et al. (HPDC 2024) */
    uint32_t router_depth;   /* wavelets buffered per color per router for link inputs; *open*: 2.
                             ** A stream keeps 1 wavelet/cycle only if router_depth >= hop_latency + 1 */
    uint8_t iq_depth[WF_FABRIC_IQ]; /* words; REFERENCE WSE-2: 6,6,4,4,2,2,2,2 */
    uint8_t oq_depth[WF_FABRIC_OQ]; /* words; REFERENCE WSE-2: 2,2,6,6,2,2 */
    uint32_t task_switch;    /* cycles from pick to a task's first op; *open*: 2 */
    uint32_t dsd_setup;      /* cycles to issue one DSD op (sync or async); *open*: 1 */
    /* Elements per cycle, REFERENCE WSE-2. An op on n elements takes
    ** dsd_setup + ceil(n / width) cycles (+ bank conflict), on memory only. */
    uint32_t w_f16_add, w_f16_mul, w_f16_fma; /* 4, 4, 4 */
    uint32_t w_f32_add, w_f32_mul, w_f32_fma; /* 2, 1, 1 */
    uint32_t w_mov32, w_mov16;                /* 2, 4 */
    /* Bank-conflict rule: SRAM is 8 banks of bank_bytes; per cycle two reads
    ** and one write. When BOTH source operands of an op are memory DSDs whose
    ** base addresses lie in the same bank, the reads serialise: the op costs
    ** bank_conflict * ceil(n / width) extra cycles (0 disables the rule). */
    uint32_t bank_bytes;     /* 6144 */
    uint32_t bank_conflict;  /* 1 */
    uint32_t sram_bytes;     /* 49152 per PE */
    uint32_t code_reserve;   /* bytes of each PE's SRAM kept for code + stack; *open*: 4096 */
    /* Host I/O (sdk/host.h): data enters/leaves at the WEST edge; every row
    ** of the rectangle has its own channel of 1 wavelet/cycle, and all rows
    ** together carry at most io_words_per_cycle (1.2 Tb/s at 850 MHz = 44).
    ** A memcpy of w x h PEs x n elements at column x costs
    **   memcpy_setup + (x + w) * hop_latency + max(w*n, ceil(w*h*n / io_words_per_cycle)). */
    uint32_t memcpy_setup;      /* *open*: 100 */
    uint32_t io_words_per_cycle;/* *open*: 44 */
    uint32_t launch_latency;    /* cycles from launch to the exported function starting; *open*: 100 */
} wf_cost_model;

/* global: const table of defaults (STYLE 10). */
extern const wf_cost_model wf_cost_wse2;

/* ---- routes --------------------------------------------------------------
** Per PE and color: up to 3 switch positions, each an input set (rx) and an
** output set (tx, multicast). Position `cur` is active at load. A control
** wavelet on the color, after it is forwarded by this router, advances the
** position: cur+1, wrapping to 0 after npos-1 when `ring`, else staying.
** A wavelet waits at the router while its arrival port is not in the active
** rx; it moves only when every tx target has room (atomic multicast). */
typedef struct {
    uint8_t rx, tx;          /* port masks (WF_N|WF_S|WF_E|WF_W|WF_RAMP) */
} wf_route_pos;
typedef struct {
    wf_route_pos pos[WF_FABRIC_SWITCH_POS];
    uint8_t npos;            /* 1..3; 0 is treated as 1 */
    uint8_t cur;             /* initial position, < npos */
    uint8_t ring;            /* 1: wrap after the last position */
} wf_route;
/* A one-position route. */
static inline wf_route wf_route_simple(unsigned rx, unsigned tx) {
    wf_route r = {{{(uint8_t)rx, (uint8_t)tx}}, 1, 0, 0};
    return r;
}

/* ---- PE images ------------------------------------------------------------
** What one PE runs, after layout (sdk/layout.c builds these; tests may build
** them by hand). Borrowed: must outlive the fabric. Symbol i of the kernel
** occupies SRAM bytes [sym_addr[i], sym_addr[i] + sym_bytes[i]); only
** [sram_lo, sram_hi) is backed by host memory, allocated the first time the
** PE is touched, so a 750 x 994 fabric fits in RAM. */
typedef struct wf_pe_image {
    const wf_kernel *kernel;
    const uint32_t *sym_addr;   /* kernel->nsymbols entries, byte addresses */
    const uint32_t *sym_bytes;  /* kernel->nsymbols entries */
    uint32_t sram_lo, sram_hi;  /* backed byte range, sram_hi <= sram_bytes */
    const int64_t *params;      /* wf_pe_param(); may be NULL */
    int nparams;
    int rx0, ry0, rw, rh;       /* the code region this PE belongs to */
} wf_pe_image;

/* ---- the fabric ------------------------------------------------------------ */
typedef struct wf_fabric wf_fabric;

/* w x h PEs (1..750 x 1..994). cm NULL = wf_cost_wse2 (copied). heap NULL =
** default heap; every byte the fabric holds comes from it. */
wf_status wf_fabric_new(int w, int h, const wf_cost_model *cm, wf_heap *heap,
                        wf_fabric **out, wf_err *err);
void wf_fabric_free(wf_fabric *f); /* NULL is a no-op */
int wf_fabric_w(const wf_fabric *f);
int wf_fabric_h(const wf_fabric *f);
const wf_cost_model *wf_fabric_cost(const wf_fabric *f);

/* Configuration, before the first run (no static checks here beyond bounds:
** sdk/layout.c does the checks). Setting a route twice replaces it. */
wf_status wf_fabric_set_route(wf_fabric *f, int x, int y, int color, const wf_route *r, wf_err *err);
wf_status wf_fabric_set_image(wf_fabric *f, int x, int y, const wf_pe_image *img, wf_err *err);
/* Defects (sdk/defects.h lays a program around them): the link between PE
** (x,y) and its neighbour by `port` (WF_PORT_N/S/E/W) is `hops` physical
** hops long (1..; both directions). A wavelet on it arrives hops *
** hop_latency cycles after it left (the extra routers of the detour are
** passed through, not simulated), and the receiving router buffers
** router_depth + (hops-1) * hop_latency wavelets for the color (at most 64),
** the buffers of the routers passed through, so a stream still moves one
** wavelet per cycle. Each extra hop counts in the sender's hops. Before
** load. WF_ERANGE when hops * hop_latency exceeds 255 cycles (the most a
** wavelet may be in flight) or the neighbour is off the fabric. */
wf_status wf_fabric_set_link_hops(wf_fabric *f, int x, int y, int port, int hops, wf_err *err);
/* Freezes the configuration: assigns input/output queues per PE (an input
** queue to every color whose route delivers to RAMP or that has a data task;
** an output queue to every color whose route accepts RAMP; in color order,
** queue i gets depth iq_depth[i]) and runs each kernel's init(pe). Fails with
** WF_ECOLOR naming the PE when more than 8 / 6 colors need queues. Called by
** the first run/launch if not called before. */
wf_status wf_fabric_load(wf_fabric *f, wf_err *err);

/* Runs until quiescent: no task runnable, no wavelet or async op in flight.
** WF_OK if nothing is left waiting; WF_EDEADLOCK if wavelets, async ops or
** activated tasks are left waiting (the message names the first PE, color
** and what it waits on; wf_fabric_report() lists up to 32); WF_ERANGE when
** this run passes max_cycles cycles (0 = no limit) — the max-cycle guard; any
** error a kernel raised with wf_pe_fail() (message names PE, cycle, task).
** After a deadlock the stuck items stay in place: more host input and a new
** run can resume them. */
wf_status wf_fabric_run(wf_fabric *f, uint64_t max_cycles, wf_err *err);

/* Calls fn(pe, 0) on PE (x,y) as a task-like invocation starting at cycle
** `at` (>= now). Used by the host runtime's launch; run afterwards. */
wf_status wf_fabric_call(wf_fabric *f, int x, int y, wf_task_fn fn, uint64_t at, wf_err *err);

/* Host-side access (no cycles charged; sdk/host.c charges them).
** Returns PE (x,y)'s SRAM as a pointer to byte address sram_lo (allocating
** it on first use), with lo/hi set to the backed range; NULL with err when the PE
** has no image or allocation fails. Valid until wf_fabric_free. */
uint8_t *wf_fabric_sram(wf_fabric *f, int x, int y, uint32_t *lo, uint32_t *hi, wf_err *err);
/* Looks up symbol `name` of PE (x,y)'s kernel: its index, or -1. */
int wf_fabric_symbol(const wf_fabric *f, int x, int y, const char *name, uint32_t *addr, uint32_t *bytes);
/* Streams n wavelets into PE (x,y)'s input queue for `color`, one per cycle
** from cycle `at`, subject to back-pressure (host streaming memcpy). The data
** is copied. Fails when the PE has no input queue for the color. */
wf_status wf_fabric_inject(wf_fabric *f, int x, int y, int color, const uint32_t *data, uint32_t n,
                           uint64_t at, wf_err *err);
/* Reference mode (tests only): turns off the fast paths — routers blocked
** downstream and receives waiting on an empty queue are stepped every cycle
** instead of sleeping, and no wavelet is handed straight to a waiting
** receive. Results and cycles must not change (STYLE 17); only speed does. */
void wf_fabric_set_reference_mode(wf_fabric *f, int on);
/* Threads for wf_fabric_run (1..16, default 1). The rows are cut into bands
** (8-row bands, at most 16, on several threads; 2-row bands on one, where
** time skewing keeps them in cache); each cycle splits its bands over the
** threads when it has enough work (small cycles stay on the caller's
** thread). A run on another count than the last moves the state to its cut.
** Results do not depend on n (wf_fabric_stats.steps, the simulator's work,
** does slightly). Tracing runs on one thread. */
wf_status wf_fabric_set_threads(wf_fabric *f, int n, wf_err *err);
/* Progress of a long run. fn is called from wf_fabric_run, on the calling
** thread, about every every_s seconds of wall time (the clock is read every
** 1024 turns of the run loop), never in a run shorter than every_s.
** every_s <= 0 or fn NULL turns it off (the default; the library itself
** never prints). Results do not change. */
typedef struct {
    uint64_t cycle;        /* the fabric's clock now */
    uint64_t run_cycles;   /* cycles since this wf_fabric_run began */
    double run_wall_s;     /* wall seconds since then */
    size_t work;           /* routers, PEs with active ops and task picks listed this cycle */
    uint64_t last_cycles;  /* cycles since the previous report (or the start) */
    double last_s;         /* wall seconds since then: the recent rate, which an ETA wants */
} wf_fabric_progress;
typedef void (*wf_progress_fn)(void *ud, const wf_fabric_progress *p);
void wf_fabric_set_progress(wf_fabric *f, double every_s, wf_progress_fn fn, void *ud);
/* Checkpoints (fabric/snapshot.c). A long simulation (the 512^3 FFT takes
** hours) can outlive its process: a snapshot holds the whole dynamic state of
** a run between two cycles (the clock, every PE's SRAM, task flags, router
** buffers, queues and switch positions, async ops, event heaps, counters).
** A later process that builds the same program, does the same host work up
** to the same wf_fabric_run and calls wf_fabric_set_resume first continues
** that run from the snapshot, with the same cycles and bits as an unbroken
** run (tests/fabric/test_snapshot.c). The file carries a CRC-32 of its bytes,
** a fingerprint of the configuration (fabric size, cost model, defects, per
** PE: image range, kernel, colors, routes, queues) and one of the state at
** the run's start (clock, SRAM, pending launches and events), so a snapshot
** of another program, other inputs or another build is refused with the
** reason before anything is applied (a state that passes those checks but
** fails the consistency check after the apply leaves the fabric refusing to
** run). Native byte order and struct sizes: a
** snapshot is for the build and machine type that wrote it.
** Writes go to PATH.tmp, are flushed to disk, then renamed over PATH, so
** the previous snapshot survives a crash or a full disk. */
typedef void (*wf_checkpoint_fn)(void *ud, const char *path, uint64_t cycle, uint64_t bytes, double seconds,
                                 const wf_err *err); /* after each write; err NULL on success */
typedef struct {
    const char *path;      /* snapshot file (copied); NULL turns checkpoints off */
    double every_s;        /* write one every every_s wall seconds of a run (0: not by time) */
    uint64_t at_cycle;     /* write one when the clock reaches this cycle and stop the run with
                           ** WF_EINTR (0: none): a planned pause */
    wf_checkpoint_fn done; /* optional: told about each write (the library itself never prints) */
    void *ud;
} wf_checkpoint;
wf_status wf_fabric_set_checkpoint(wf_fabric *f, const wf_checkpoint *c, wf_err *err);
/* Resumes from snapshot `path`: checks it now (magic, version, CRC, the
** configuration fingerprint once loaded) and applies it at the start of the
** wf_fabric_run it was taken in (runs before that one run as usual). Errors
** name the file and the problem; nothing is applied unless all checks pass. */
wf_status wf_fabric_set_resume(wf_fabric *f, const char *path, wf_err *err);
/* Asks the running wf_fabric_run to stop at the next cycle boundary (read
** every 1024 turns of the run loop): it writes a snapshot first when
** checkpoints are on, then returns WF_EINTR. Async-signal-safe (a SIGINT or
** SIGTERM handler may call it). */
void wf_fabric_request_stop(wf_fabric *f);
/* What resumed runs carried over: segments = processes the run went through
** before this one (0: never resumed), from_cycle = the cycle this process
** resumed at, wall_s / cpu_s = wall and CPU seconds the earlier processes
** spent simulating (wf_fabric_stats.wall_s already includes the wall). */
typedef struct {
    uint32_t segments;
    uint64_t from_cycle;
    double wall_s, cpu_s;
} wf_fabric_resume_info;
void wf_fabric_resume_info_get(const wf_fabric *f, wf_fabric_resume_info *out);
/* Shared-static check (fabric/statics.c): on = 1 makes every task and init
** call fail the run when it changes the main program's static data (a C
** static/global in kernel code is one variable for all simulated PEs; per-PE
** state belongs in a kernel symbol). Costs two copies of the program's
** writable data per task and runs on one thread: a debug aid. */
wf_status wf_fabric_set_check_statics(wf_fabric *f, int on, wf_err *err);
/* Host capture (streaming d2h): the next n wavelets PE (x,y)'s core sends on
** `color` go to buf (one per cycle, in place of the route's outputs) instead
** of the fabric. buf is borrowed until the capture is full or cleared (buf
** NULL). The color's route must accept RAMP (an output queue); a route with
** no outputs (wf_route_simple(WF_RAMP, 0)) is the usual "to host" route.
** wf_fabric_captured() says how many arrived so far. */
wf_status wf_fabric_capture(wf_fabric *f, int x, int y, int color, uint32_t *buf, uint32_t n, wf_err *err);
uint32_t wf_fabric_captured(const wf_fabric *f, int x, int y, int color);
/* Advances the clock with the fabric idle (host I/O time). */
void wf_fabric_advance(wf_fabric *f, uint64_t cycles);
uint64_t wf_fabric_now(const wf_fabric *f);
/* The last deadlock / error report, several lines; owned by f, valid until
** the next run. "" when none. */
const char *wf_fabric_report(const wf_fabric *f);

/* ---- debugger hook and inspection (the command front end: sdk/debug.h) -----
** A run with a debugger attached runs on one thread (the hook and what it
** inspects see one consistent state). fn is called on the caller's thread:
**   WF_STOP_CYCLE: before cycle `cycle` runs, the first time the clock
**     reaches the cycle set by wf_fabric_debug_at (which then resets to none;
**     fn may set the next). A clock jump over idle cycles stops at the cycle
**     itself; one out of a stall (a few cycles without progress) at the
**     first cycle it visits after it.
**   WF_STOP_TASK: a task is about to start on PE (x,y): picked, its wavelet
**     taken and its ready flag cleared, its body not yet run; task 64 = a
**     launched function. Called for every task start while fn is set.
**   WF_STOP_ERROR: the run is about to return status `code` (a kernel or
**     route error, deadlock, the max-cycle guard) with message `msg`; PE
**     state, queues and routers are as the error left them.
** fn returns 0 to go on, 1 to end the run with WF_EINTR ("debugger: quit
** at cycle N"); for WF_STOP_ERROR the run returns its error either way.
** Without a debugger the run loop pays one compare per cycle. */
typedef enum { WF_STOP_CYCLE, WF_STOP_TASK, WF_STOP_ERROR, WF_STOP_KIND_COUNT } wf_stop_kind;
typedef struct {
    wf_stop_kind kind;
    uint64_t cycle;      /* wf_fabric_now() */
    int x, y;            /* TASK: the PE; else -1 */
    int task;            /* TASK: the task ID (64 = launched function); else -1 */
    uint32_t data;       /* TASK: its wavelet (data and control tasks), else 0 */
    wf_status code;      /* ERROR: what the run returns */
    const char *msg;     /* ERROR: its message; valid during the call */
} wf_stop;
typedef int (*wf_debug_fn)(void *ud, wf_fabric *f, const wf_stop *s);
/* Installs (fn NULL: removes) the hook; also clears the stop cycle. May be
** called from inside fn (removing it lets the run go on at full speed). */
void wf_fabric_set_debug(wf_fabric *f, wf_debug_fn fn, void *ud);
/* The next WF_STOP_CYCLE stop: before cycle `cycle` (UINT64_MAX = none). */
void wf_fabric_debug_at(wf_fabric *f, uint64_t cycle);
/* What wf_fabric_inspect describes of one PE, several lines each:
**   QUEUES   input and output queues: index, color, fill/depth, wavelets
**            (hex, oldest first)
**   ROUTER   per color: switch position and route, link buffer with each
**            wavelet's arrival port, output queue fill
**   TASKS    the core (running / busy until / idle), every bound task with
**            its kind and ready/blocked flags, a pending launch, and the
**            async ops (microthreads) running or queued
**   SYMBOLS  the kernel's symbols: name, byte address, bytes */
typedef enum { WF_INSPECT_QUEUES, WF_INSPECT_ROUTER, WF_INSPECT_TASKS, WF_INSPECT_SYMBOLS,
               WF_INSPECT_COUNT } wf_inspect;
/* Writes the description into buf (n bytes, NUL-terminated, truncated with
** "...\n" when it does not fit); color >= 0 limits QUEUES and ROUTER to that
** color. WF_ERANGE for a PE outside the fabric or a color outside 0..23;
** WF_EUSAGE for a PE with no program nor route (QUEUES, ROUTER, TASKS) or
** without a program (SYMBOLS) or a color the PE does not use. Reads only. */
wf_status wf_fabric_inspect(const wf_fabric *f, int x, int y, wf_inspect what, int color, char *buf, size_t n,
                            wf_err *err);
/* Copies n bytes of PE (x,y)'s SRAM from byte address addr into dst without
** backing it (SRAM never touched reads as zeros). WF_EUSAGE for a PE with
** no program, WF_ERANGE for bytes outside [sram_lo, sram_hi). */
wf_status wf_fabric_peek(const wf_fabric *f, int x, int y, uint32_t addr, void *dst, uint32_t n, wf_err *err);
/* Name of task t on PE (x,y)'s kernel, or NULL (no program or no name). */
const char *wf_fabric_task_name(const wf_fabric *f, int x, int y, int t);

/* ---- statistics ------------------------------------------------------------ */
typedef struct {
    /* (the router-side counters first: the simulator keeps them on one cache line) */
    uint64_t wav_in;    /* wavelets delivered to this core (router -> input queue) */
    uint64_t wav_out;   /* wavelets this core sent (output queue -> router) */
    uint64_t hops;      /* wavelets this router forwarded (each multicast target counts) */
    uint64_t stalled;   /* cycles an async fabric op or a router head wavelet waited on
                        ** input or back-pressure (counted while the sim steps) */
    uint64_t active;    /* active PE-cycles: busy + the other cycles in which its router or
                        ** one of its async ops moved a wavelet/element (a cycle where both
                        ** worked counts once, up to one cycle per task at its start) */
    uint64_t busy;      /* cycles the core ran tasks (incl. task switch and sync ops) */
    uint64_t tasks;     /* task invocations */
    uint64_t ops;       /* DSD ops issued */
    uint64_t idle;      /* now - busy, for a PE that has an image; else 0 */
    uint64_t bank_ops;  /* memory ops whose two memory sources start in one SRAM bank */
    uint64_t bank_cycles; /* the cycles those bank conflicts added (cost model bank_conflict) */
} wf_pe_stats;
/* Zeroes when (x,y) was never touched. */
void wf_fabric_pe_stats(const wf_fabric *f, int x, int y, wf_pe_stats *out);

typedef struct {
    uint64_t cycles;         /* current clock */
    uint64_t pes_used;       /* PEs with an image or a route */
    uint64_t sram_backed;    /* bytes of PE SRAM allocated on the host */
    uint64_t busy;           /* sum of per-PE busy cycles */
    uint64_t hops;           /* sum of wavelet hops */
    uint64_t tasks;          /* sum of task invocations */
    uint64_t ops;            /* DSD ops */
    uint64_t active;         /* sum of per-PE active cycles (wf_pe_stats.active): the
                             ** denominator of "wall ns per active PE-cycle" */
    uint64_t steps;          /* simulator work items: router steps + op steps + tasks + events (the
                             ** simulator's work, not the fabric's: it differs slightly with the cut of
                             ** the rows into bands, one thread or several) */
    uint64_t skewed;         /* cycles run in time-skewed windows (one thread; a matter of
                             ** speed: results do not depend on it) */
    uint64_t bank_cycles;    /* sum of per-PE bank-conflict cycles (wf_pe_stats.bank_cycles) */
    double wall_s;           /* wall time spent inside wf_fabric_run */
} wf_fabric_stats;
void wf_fabric_read_stats(const wf_fabric *f, wf_fabric_stats *out);

/* ---- tracing hook -------------------------------------------------------------
** The fabric calls fn for events of PEs inside [x0,x1) x [y0,y1) whose cycle
** lies in [c0,c1). Tracing off (fn NULL) costs one branch per event site.
**   TASK:    cycle = start, dur = cycles charged, id = task ID (64 = a launched
**            function), data = the task's wavelet (data/control tasks) or 0.
**   HOP:     cycle = forwarding cycle, dur 1, id = color, port = output port
**            (RAMP = into its own core), ctrl, data = wavelet. One per target.
**   OP:      an async op completed: cycle = its start, dur = start..completion,
**            id = color (255 for a memory-only op), port = op code (name:
**            wf_op_name(port)), data = element count.
**   DELIVER: a wavelet entered the core (input queue or straight into a
**            waiting receive): id = color, data = wavelet. */
typedef enum { WF_TRACE_TASK, WF_TRACE_HOP, WF_TRACE_OP, WF_TRACE_DELIVER, WF_TRACE_KIND_COUNT } wf_trace_kind;
typedef struct {
    uint8_t kind;   /* wf_trace_kind */
    uint8_t id;     /* task ID or color */
    uint8_t port;   /* WF_PORT_* for hops */
    uint8_t ctrl;   /* 1: control wavelet */
    int16_t x, y;
    uint32_t data;  /* wavelet bits */
    uint64_t cycle;
    uint64_t dur;
} wf_trace_event;
typedef void (*wf_trace_fn)(void *ud, const wf_trace_event *ev);
typedef struct {
    int x0, y0, x1, y1;  /* PE window, half-open */
    uint64_t c0, c1;     /* cycle window, half-open; c1 = 0 means no end */
} wf_trace_window;
void wf_fabric_set_trace(wf_fabric *f, wf_trace_fn fn, void *ud, const wf_trace_window *win);
/* Name of an op code in WF_TRACE_OP events ("fmacs", "fadds", ..., "fmovs",
** "inject" for host streaming); "?" when out of range. Static string. */
const char *wf_op_name(int code);

#ifdef __cplusplus
}
#endif
#endif
