/* kernel.h — what PE programs are written against: the vendor SDK's concepts
** (tasks, colors, DSDs, DSD ops, microthreads) in C. A kernel is a const
** wf_kernel: named SRAM symbols, tasks bound to IDs, host-callable exports.
** Task bodies are C functions run natively; every op they issue is charged in
** cycles from the cost model (fabric/fabric.h, wf_cost_model).
**
** Timing rules (what a kernel author must know):
** - A task runs to completion. It costs task_switch + the sum of its sync ops
**   (+ dsd_setup per async op issued); the core is busy that long.
** - Sync ops on memory compute at once and cost dsd_setup + ceil(n/width)
**   (+ bank-conflict penalty). Their results are visible immediately.
** - Any op with a fabric operand runs on a microthread (one per queue,
**   FIFO): it moves one element per cycle as wavelets arrive / queue room
**   frees up. Fabric-IN ops must be async (results are not ready inside the
**   task; a sync fabric-in op fails the run). A sync fabric-OUT op is accepted
**   and behaves like an async op without completion action.
** - Async memory-only ops compute at issue and complete (fire their action)
**   at issue time + their cost.
** - On completion an async op may activate or unblock a task.
** - The picker (when the core is free) runs a pending launched function
**   first, else the lowest-numbered ready task: a local/control task that is
**   activated and not blocked, or a data task (not blocked) whose color's
**   input queue holds a wavelet and has no async receive queued on it (a
**   queued receive takes the wavelets first). Control wavelets reaching the
**   core never enter an input queue: they activate control task (bits & 63)
**   if the kernel has one, else they only moved switches on their way.
** - fp32 arithmetic is plain C float (fmacs is NOT fused: a + b*s, two
**   roundings). fp16 is IEEE binary16 stored as uint16_t, converted by
**   wf_f16_to_f32/wf_f32_to_f16 (round to nearest even) — no _Float16 needed;
**   fp16 ops are correctly rounded (computed exactly, rounded once; fmach is
**   a fused a + b*s), checked against the compiler's _Float16 in tests. */
#ifndef WF_KERNEL_H
#define WF_KERNEL_H

#include "../base/base.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* C++ callers: the libraries are C */
#endif

typedef struct wf_pe wf_pe; /* one PE, opaque; valid only inside a call from the fabric */

/* A task body. data: the wavelet for data tasks (32 bits; 16-bit payloads in
** the low half), the control wavelet for control tasks, 0 otherwise. */
typedef void (*wf_task_fn)(wf_pe *pe, uint32_t data);

typedef enum {
    WF_TASK_DATA,    /* runs once per wavelet arriving on color = id (0..23) */
    WF_TASK_LOCAL,   /* runs when activated (wf_activate) */
    WF_TASK_CONTROL  /* runs when a control wavelet whose bits & 63 == id reaches the core */
} wf_task_kind;

typedef struct {
    int id;            /* 0..63; for data tasks the color (0..20) */
    wf_task_kind kind;
    wf_task_fn fn;
    int blocked;       /* 1: starts blocked */
    const char *name;  /* for traces and errors; may be NULL */
} wf_task_decl;

typedef struct {
    const char *name;  /* looked up by memcpy; unique within the kernel */
    uint32_t bytes;    /* default size; the layout may override per region */
} wf_symbol_decl;

typedef struct {
    const char *name;  /* host launches it by name */
    wf_task_fn fn;     /* called with data = 0 on every PE of the region */
} wf_export_decl;

/* Optional: which way a color travels for a kernel (the halo-color check,
** declared with wf_layout_directions in sdk/layout.h). The layout check
** fails when, on a PE running the kernel, the color's route delivers to the
** core wavelets arriving from a port not in `from`, or sends the core's
** wavelets to a port not in `to` (swapped halo colors pass every other
** check and give wrong numbers). Masks of WF_DIR_*; 0 = not checked. */
enum { WF_DIR_N = 1, WF_DIR_S = 2, WF_DIR_E = 4, WF_DIR_W = 8 }; /* = the port masks of fabric.h */
typedef struct {
    int color;         /* 0..20 */
    uint8_t from;      /* ports its wavelets may arrive from into this PE's core */
    uint8_t to;        /* ports this PE's core's wavelets on it may leave by */
    const char *what;  /* for the message, e.g. "west halo"; may be NULL */
} wf_color_decl;

typedef struct wf_kernel {
    const char *name;
    const wf_symbol_decl *symbols; int nsymbols;
    const wf_task_decl *tasks;     int ntasks;
    const wf_export_decl *exports; int nexports;
    void (*init)(wf_pe *pe);       /* optional; runs at load, 0 cycles (block tasks, set state) */
} wf_kernel;

/* ---- where am I ---------------------------------------------------------- */
int wf_pe_x(const wf_pe *pe);   /* absolute fabric column */
int wf_pe_y(const wf_pe *pe);   /* absolute fabric row */
int wf_pe_rx(const wf_pe *pe);  /* column within the code region */
int wf_pe_ry(const wf_pe *pe);  /* row within the code region */
int wf_pe_rw(const wf_pe *pe);  /* code region width */
int wf_pe_rh(const wf_pe *pe);  /* code region height */
int64_t wf_pe_param(const wf_pe *pe, int i);  /* region parameter i; 0 if absent */
/* Region parameter i as an fp32 value: the host stores it with
** wf_param_f32(v) (its bits in the low 32 bits); 0.0f if absent. */
float wf_pe_param_f32(const wf_pe *pe, int i);
uint64_t wf_pe_cycle(const wf_pe *pe);        /* the task's current cycle (start + charged so far) */
/* Pointer to symbol `sym` (index into kernel->symbols) in this PE's SRAM.
** Valid until the fabric is freed; zero-filled at first touch. A bad index
** fails the run and returns scratch memory (never NULL unless out of memory). */
void *wf_sym(wf_pe *pe, int sym);
uint32_t wf_sym_bytes(const wf_pe *pe, int sym);
/* Charge extra cycles to the running task (scalar work the model cannot see). */
void wf_pe_charge(wf_pe *pe, uint32_t cycles);
/* Stops the run with an error; the message is prefixed with "PE(x,y): cycle
** N: task T: ". Only the first failure is kept. */
void wf_pe_fail(wf_pe *pe, wf_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- tasks ------------------------------------------------------------------ */
void wf_activate(wf_pe *pe, int task);  /* local task becomes ready */
void wf_block(wf_pe *pe, int task);     /* a blocked task is not picked (data tasks: wavelets queue up) */
void wf_unblock(wf_pe *pe, int task);
int wf_is_blocked(const wf_pe *pe, int task);

/* ---- DSDs ----------------------------------------------------------------------
** Plain values, built cheaply. Memory DSDs address PE SRAM by byte address,
** up to 4 dimensions, innermost first: element k = (k0,k1,k2,k3) lives at
** addr + esize * (k0*stride[0] + k1*stride[1] + ...), iterated k0 fastest.
** Fabric DSDs name a color and a length (one element per wavelet; 16-bit
** elements travel in the low half). Scalars are sources holding one value. */
typedef enum { WF_DSD_MEM, WF_DSD_FABIN, WF_DSD_FABOUT, WF_DSD_SCALAR } wf_dsd_kind;
#define WF_DSD_NOSYM 0xffffu
typedef struct {
    uint8_t kind;        /* wf_dsd_kind */
    uint8_t rank;        /* 1..4 (mem) */
    uint8_t esize;       /* bytes per element: 2 or 4 (mem) */
    uint8_t color;       /* fabric */
    uint8_t ctrl;        /* fabout: send control wavelets */
    uint8_t dir;         /* fabric: WF_DIR_* mask the wavelets must arrive from (fabin) or leave
                         ** by (fabout), checked against the PE's route when an op is issued;
                         ** 0: not checked (wf_dsd_fabin_from / wf_dsd_fabout_to) */
    uint16_t sym;        /* mem: the symbol the base pointer lies in (index into kernel->symbols),
                         ** WF_DSD_NOSYM when none; an op fails when the DSD's elements
                         ** leave this symbol's bytes (per-symbol bounds) */
    uint32_t addr;       /* byte address in SRAM (mem) */
    uint32_t len[4];     /* extents, innermost first; unused dims = 1 */
    int32_t stride[4];   /* in elements */
    uint32_t n;          /* total elements */
    uint32_t bits;       /* scalar value bits */
} wf_dsd;

/* 1-D memory DSD over n elements of esize bytes starting at `base` (a pointer
** from wf_sym), with element stride. Fails the run if base is not in SRAM.
** The DSD remembers the symbol base lies in: every op using it checks (once
** per op, not per element) that all its elements stay inside that symbol,
** after any wf_dsd_offset / wf_dsd_length, and fails the run naming the
** operand, the symbol, the bytes covered and the overrun otherwise. */
wf_dsd wf_dsd_mem1d(wf_pe *pe, const void *base, uint32_t n, int32_t stride, int esize);
/* rank-D memory DSD (rank 1..4), len/stride innermost first. */
wf_dsd wf_dsd_mem(wf_pe *pe, const void *base, int rank, const uint32_t *len, const int32_t *stride,
                  int esize);
wf_dsd wf_dsd_fabin(int color, uint32_t n);
wf_dsd wf_dsd_fabout(int color, uint32_t n);
/* The same, naming the way the data travels at this op: `from` / `to` are
** WF_DIR_* masks (a halo from the west neighbour: WF_DIR_W). An op issued
** with such a DSD fails (the kernel's file:line, PE, color and both
** directions) unless the PE's route for the color delivers to the core only
** wavelets from ports in `from`, or sends the core's wavelets only by ports
** in `to`, and does at least one. It catches swapped halo colors in kernel
** code, where routes and declared directions are right but the receive that
** fills the west halo names the east color: nothing else can tell. */
wf_dsd wf_dsd_fabin_from(int color, uint32_t n, unsigned from);
wf_dsd wf_dsd_fabout_to(int color, uint32_t n, unsigned to);
wf_dsd wf_dsd_scalar_f32(float v);
wf_dsd wf_dsd_scalar_u32(uint32_t v);
wf_dsd wf_dsd_scalar_u16(uint16_t v);  /* also fp16 bits */
/* Moves a memory DSD's start by `elems` elements (increment_dsd_offset). */
wf_dsd wf_dsd_offset(wf_dsd d, int32_t elems);
/* Sets a 1-D or fabric DSD's length (set_dsd_length). */
wf_dsd wf_dsd_length(wf_dsd d, uint32_t n);

/* ---- completion of an op ------------------------------------------------------- */
enum { WF_DONE_NONE, WF_DONE_ACTIVATE, WF_DONE_UNBLOCK };
typedef struct {
    uint8_t async;    /* 1: run on a microthread */
    uint8_t action;   /* WF_DONE_* on completion */
    int32_t task;     /* task to activate / unblock: the ID as given, checked at issue (0..63) */
} wf_async;
static inline wf_async wf_sync(void) { wf_async a = {0, WF_DONE_NONE, 0}; return a; }
static inline wf_async wf_async_none(void) { wf_async a = {1, WF_DONE_NONE, 0}; return a; }
static inline wf_async wf_async_activate(int t) { wf_async a = {1, WF_DONE_ACTIVATE, t}; return a; }
static inline wf_async wf_async_unblock(int t) { wf_async a = {1, WF_DONE_UNBLOCK, t}; return a; }
#define WF_SYNC wf_sync()

/* ---- DSD ops ----------------------------------------------------------------------
** dst: MEM or FABOUT. Sources: MEM, FABIN or SCALAR (at most one FABIN per op).
** All operands iterate the same number of elements: dst.n (a scalar repeats).
** Element types: f32/u32 ops need esize 4, f16/u16 ops esize 2.
** Widths (elements/cycle) from the cost model in brackets. */
void wf_fmacs(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, float s, wf_async as); /* dst = a + b*s   [f32 fma] */
void wf_fadds(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, wf_async as);          /* dst = a + b     [f32 add] */
void wf_fsubs(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, wf_async as);          /* dst = a - b     [f32 add] */
void wf_fmuls(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, wf_async as);          /* dst = a * b     [f32 mul] */
void wf_fmovs(wf_pe *pe, wf_dsd dst, wf_dsd src, wf_async as);                  /* dst = src (f32) [mov32] */
void wf_mov32(wf_pe *pe, wf_dsd dst, wf_dsd src, wf_async as);                  /* 32-bit copy     [mov32] */
void wf_mov16(wf_pe *pe, wf_dsd dst, wf_dsd src, wf_async as);                  /* 16-bit copy     [mov16] */
void wf_fmach(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, uint16_t s, wf_async as); /* f16 dst = a + b*s [f16 fma] */
/* Mixed precision, as the CS-2 trains (CSL @fmachs, docs/REFERENCE.md): dst
** and a fp32, b and s fp16; dst = a + b*s with the product exact and one
** rounding to fp32. Charged at the fp16 FMA width. */
void wf_fmachs(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, uint16_t s, wf_async as);
void wf_faddh(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, wf_async as);          /* f16 dst = a + b [f16 add] */
void wf_fmulh(wf_pe *pe, wf_dsd dst, wf_dsd a, wf_dsd b, wf_async as);          /* f16 dst = a * b [f16 mul] */

/* One wavelet onto `color` (an async 1-element fabric-out op; in order with
** other ops on the color's output queue). ctrl: a control wavelet. */
void wf_send(wf_pe *pe, int color, uint32_t data);
void wf_send_ctrl(wf_pe *pe, int color, uint32_t data);

/* Cycles a sync op on n memory elements at `width` costs (the table rule,
** without bank conflict) — for tests and docs. */
uint64_t wf_op_cycles(const wf_pe *pe, uint32_t n, uint32_t width);

/* ---- fp16 (IEEE binary16 as bits), portable --------------------------------------- */
float wf_f16_to_f32(uint16_t h);
uint16_t wf_f32_to_f16(float f);  /* round to nearest even; overflow -> inf; NaN kept */
uint16_t wf_f64_to_f16(double d); /* same, from double (one rounding) */

/* 16-bit index + 16-bit value wavelets (sparse data). */
static inline uint32_t wf_wavelet_iv(uint16_t index, uint16_t value) {
    return ((uint32_t)index << 16) | value;
}
static inline uint16_t wf_wavelet_index(uint32_t w) { return (uint16_t)(w >> 16); }
static inline uint16_t wf_wavelet_value(uint32_t w) { return (uint16_t)w; }

/* ---- the kernel's own file:line in errors ------------------------------------------
** The calls above are wrapped by macros that record the caller's __FILE__ and
** __LINE__ (in a thread-local: a task runs on one thread) before the call, so
** an error a call raises starts with the kernel's own position:
**   examples/gemv.c:57: PE(3,2): cycle 488: task 30 'compute': fmacs: ...
** The record is cleared when a task starts. Define WF_KERNEL_NO_SITE before
** including this header to call the plain functions (the fabric's sources do).
** The wrapped macros evaluate their arguments once, like the functions. */
#if defined(__cplusplus)
#define WF_THREAD_LOCAL thread_local
#else
#define WF_THREAD_LOCAL _Thread_local
#endif
extern WF_THREAD_LOCAL const char *wf_site_file;
extern WF_THREAD_LOCAL int wf_site_line;
static inline void wf_site_set(const char *file, int line) { wf_site_file = file; wf_site_line = line; }
#ifndef WF_KERNEL_NO_SITE
#define WF_SITE_(call) (wf_site_set(__FILE__, __LINE__), call)
#define wf_sym(...) WF_SITE_((wf_sym)(__VA_ARGS__))
#define wf_pe_fail(...) WF_SITE_((wf_pe_fail)(__VA_ARGS__))
#define wf_activate(...) WF_SITE_((wf_activate)(__VA_ARGS__))
#define wf_block(...) WF_SITE_((wf_block)(__VA_ARGS__))
#define wf_unblock(...) WF_SITE_((wf_unblock)(__VA_ARGS__))
#define wf_dsd_mem1d(...) WF_SITE_((wf_dsd_mem1d)(__VA_ARGS__))
#define wf_dsd_mem(...) WF_SITE_((wf_dsd_mem)(__VA_ARGS__))
#define wf_fmacs(...) WF_SITE_((wf_fmacs)(__VA_ARGS__))
#define wf_fadds(...) WF_SITE_((wf_fadds)(__VA_ARGS__))
#define wf_fsubs(...) WF_SITE_((wf_fsubs)(__VA_ARGS__))
#define wf_fmuls(...) WF_SITE_((wf_fmuls)(__VA_ARGS__))
#define wf_fmovs(...) WF_SITE_((wf_fmovs)(__VA_ARGS__))
#define wf_mov32(...) WF_SITE_((wf_mov32)(__VA_ARGS__))
#define wf_mov16(...) WF_SITE_((wf_mov16)(__VA_ARGS__))
#define wf_fmach(...) WF_SITE_((wf_fmach)(__VA_ARGS__))
#define wf_fmachs(...) WF_SITE_((wf_fmachs)(__VA_ARGS__))
#define wf_faddh(...) WF_SITE_((wf_faddh)(__VA_ARGS__))
#define wf_fmulh(...) WF_SITE_((wf_fmulh)(__VA_ARGS__))
#define wf_send(...) WF_SITE_((wf_send)(__VA_ARGS__))
#define wf_send_ctrl(...) WF_SITE_((wf_send_ctrl)(__VA_ARGS__))
#endif

static inline uint32_t wf_f32_bits(float f) { union { float f; uint32_t u; } v; v.f = f; return v.u; }
static inline float wf_bits_f32(uint32_t u) { union { float f; uint32_t u; } v; v.u = u; return v.f; }
/* An fp32 region parameter (wf_layout_opts.params) for wf_pe_param_f32. */
static inline int64_t wf_param_f32(float f) { return (int64_t)wf_f32_bits(f); }

#ifdef __cplusplus
}
#endif
#endif
