/* host.h — the host runtime: create a fabric from a checked layout (load +
** run), memcpy between a host buffer and a rectangle of PEs (copy mode into a
** named symbol, or streaming mode onto a color into the kernel), launch an
** exported function, read cycles and statistics, stop.
**
** Launch and streaming h2d run the fabric until it is quiescent again and
** return the fabric's status (WF_EDEADLOCK, kernel errors, the max-cycle
** guard); copy-mode memcpy only advances the clock (the fabric is quiescent
** between host calls, so a copy sees finished results).
**
** I/O model (documented in wf_cost_model): data enters and leaves through
** the WEST edge, one channel per row at 1 wavelet/cycle, all rows together
** io_words_per_cycle; a copy-mode memcpy costs
**   memcpy_setup + (x + w) * hop_latency + max(w*n, ceil(w*h*n / io_words_per_cycle))
** cycles with the fabric idle, and writes/reads SRAM directly. A streaming
** h2d delivers the PE's elements into its input queue for the color, one per
** cycle from memcpy_setup + (x+1) * hop_latency, with back-pressure; the
** PE's data task (or async fabric-in op) consumes them. A streaming d2h
** takes what the PE's core sends on the color, one per cycle, at the PE.
** 16-bit elements travel one per wavelet, in the low half.
**
** Host buffer order for a w x h rectangle with n elements per PE:
**   WF_ROW_MAJOR: index ((py * w) + px) * n + e        (shape [h][w][n])
**   WF_COL_MAJOR: index py + h * (px + w * e)           (column-major [h][w][n])
** with px, py relative to the rectangle. */
#ifndef WF_SDK_HOST_H
#define WF_SDK_HOST_H

#include "defects.h"
#include "layout.h"

#ifdef __cplusplus
extern "C" { /* C++ callers: the libraries are C */
#endif

typedef struct wf_host wf_host;

#define WF_HOST_MAX_CYCLES 1000000000ull /* ~1.2 s of wafer time at 850 MHz: a spinning kernel stops */

typedef struct {
    const wf_cost_model *cost;  /* NULL = wf_cost_wse2 */
    wf_heap *heap;              /* NULL = default heap */
    uint64_t max_cycles;        /* guard per host call (launch, streaming h2d): 0 = the default
                                ** WF_HOST_MAX_CYCLES; UINT64_MAX = no guard */
    int threads;                /* simulator threads (wf_fabric_set_threads): 0 = 1 */
    const wf_defects *defects;  /* NULL = a perfect wafer; else the program rectangle is laid around
                                ** these defects (sdk/defects.h): same results, detours cost cycles.
                                ** Borrowed for wf_host_new only */
} wf_host_opts;

/* Checks the layout, creates its fabric and loads it (kernel init runs).
** The layout must outlive the host. */
wf_status wf_host_new(const wf_layout *l, const wf_host_opts *o, wf_host **out, wf_err *err);
void wf_host_free(wf_host *h); /* "stop"; NULL is a no-op */

typedef enum { WF_ROW_MAJOR, WF_COL_MAJOR } wf_order;
typedef struct {
    const char *symbol;  /* copy mode: the symbol; NULL = streaming mode */
    int color;           /* streaming mode: the color (0..20) */
    int x, y, w, h;      /* PE rectangle, fabric coordinates */
    uint32_t n;          /* elements per PE */
    uint32_t offset;     /* copy mode: first element within the symbol */
    int esize;           /* 4 (32-bit) or 2 (16-bit) */
    wf_order order;
} wf_memcpy;

/* Errors: WF_ERANGE rectangle outside the fabric; WF_EUSAGE unknown symbol
** (names the PE), offset + n past the symbol's size, bad esize. */
wf_status wf_host_h2d(wf_host *h, const wf_memcpy *m, const void *src, wf_err *err);
/* Copy mode, or streaming mode (symbol NULL): collects the next n wavelets
** each PE's core sends on m->color (route it wf_route_simple(WF_RAMP, 0) or
** any route accepting RAMP), running the fabric until quiescent; start the
** sender first with wf_host_launch_nb (vendor: nonblock launch). Fails with
** WF_EDEADLOCK naming the PE when fewer than n arrive. The clock then
** advances by (x + w) hops for the trip to the west edge. */
wf_status wf_host_d2h(wf_host *h, const wf_memcpy *m, void *dst, wf_err *err);
/* Calls exported function `name` on every PE whose kernel exports it, at
** now + launch_latency, then runs to quiescence. WF_EUSAGE if no PE does. */
wf_status wf_host_launch(wf_host *h, const char *name, wf_err *err);
/* The same without running: the calls are scheduled (at now + launch_latency)
** and run with the next streaming h2d, launch or wf_host_run. Use it to
** start a kernel that waits for streamed input (vendor: nonblock=True). */
wf_status wf_host_launch_nb(wf_host *h, const char *name, wf_err *err);
/* Runs the fabric to quiescence (status as for launch). */
wf_status wf_host_run(wf_host *h, wf_err *err);

wf_fabric *wf_host_fabric(wf_host *h);   /* borrowed, owned by h */
/* How the program was laid around opts.defects; NULL without defects. Owned by h. */
const wf_defect_stats *wf_host_defects(const wf_host *h);
const wf_defect_map *wf_host_defect_map(const wf_host *h);
uint64_t wf_host_cycles(const wf_host *h);

#ifdef __cplusplus
}
#endif
#endif
