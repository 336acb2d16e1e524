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
** PE's data task (or async fabric-in op) consumes them. 16-bit elements
** travel one per wavelet, in the low half.
**
** Host buffer order for a w x h rectangle with n elements per PE:
**   WF_ROW_MAJOR: index ((py * w) + px) * n + e        (shape [h][w][n])
**   WF_COL_MAJOR: index py + h * (px + w * e)           (column-major [h][w][n])
** with px, py relative to the rectangle. */
#ifndef WF_SDK_HOST_H
#define WF_SDK_HOST_H

#include "layout.h"

typedef struct wf_host wf_host;

typedef struct {
    const wf_cost_model *cost;  /* NULL = wf_cost_wse2 */
    wf_heap *heap;              /* NULL = default heap */
    uint64_t max_cycles;        /* guard per host call; 0 = none */
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
/* Copy mode only (streaming d2h is not implemented). */
wf_status wf_host_d2h(wf_host *h, const wf_memcpy *m, void *dst, wf_err *err);
/* Calls exported function `name` on every PE whose kernel exports it, at
** now + launch_latency, then runs to quiescence. WF_EUSAGE if no PE does. */
wf_status wf_host_launch(wf_host *h, const char *name, wf_err *err);

wf_fabric *wf_host_fabric(wf_host *h);   /* borrowed, owned by h */
uint64_t wf_host_cycles(const wf_host *h);

#endif
