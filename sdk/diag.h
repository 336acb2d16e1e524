/* diag.h — fabric diagnostics that sit above the core: a Perfetto / Chrome
** trace-event JSON writer fed by the fabric's trace hook (tasks, async ops,
** wavelet hops and deliveries of a window of PEs and cycles), and a PNG
** heatmap of per-PE activity over the whole fabric (libpng).
**
** Trace file format (Chrome "JSON Object Format", opens in ui.perfetto.dev
** and chrome://tracing): {"traceEvents":[...],"displayTimeUnit":"ns",...}.
** One simulated cycle is written as 1 microsecond of trace time ("ts", "dur").
** Process = one PE, named "PE(x,y)", pid = y * W + x + 1. Threads per PE:
**   tid 0        "core"        tasks: complete events "X", name = task name or ID
**   tid 1 + c    "color c"     async ops on color c ("X", name = op, args.n)
**   tid 30       "memory ops"  async memory-only ops
**   tid 40 + p   "out <PORT>"  wavelet hops leaving through port p (instant "i",
**                              args: color, data hex, ctrl)
**   tid 50       "deliver"     wavelets entering the core's input queues ("i")
** Events are streamed to a temporary file and renamed at close (atomic). */
#ifndef WF_SDK_DIAG_H
#define WF_SDK_DIAG_H

#include "../fabric/fabric.h"

#ifdef __cplusplus
extern "C" { /* C++ callers: the libraries are C */
#endif

typedef struct wf_tracer wf_tracer;

/* Opens `path` for writing and installs the trace hook on f for the PEs and
** cycles in *win (NULL = everything; c1 = 0 means no end). At most
** max_events events are written (0 = 4,000,000); later ones are counted and
** dropped. The tracer must be closed before f is freed; one still open when
** the program exits (an error path that skips wf_tracer_close) is finished
** and committed then, so the trace of a failing run is kept. */
wf_status wf_tracer_open(wf_fabric *f, const char *path, const wf_trace_window *win, uint64_t max_events,
                         wf_tracer **out, wf_err *err);
/* Uninstalls the hook, finishes the JSON and commits the file. Frees t in
** every case (NULL is a no-op returning WF_OK). Reports the first write error. */
wf_status wf_tracer_close(wf_tracer *t, wf_err *err);
uint64_t wf_tracer_events(const wf_tracer *t);  /* events written so far */
uint64_t wf_tracer_dropped(const wf_tracer *t); /* events over max_events */

/* Parses "x0,y0,x1,y1,c0,c1" (half-open PE and cycle ranges; c1 = 0: no end). */
wf_status wf_trace_window_parse(const char *s, wf_trace_window *out, wf_err *err);

/* What a heatmap shows per PE (from wf_fabric_pe_stats). */
typedef enum { WF_HEAT_BUSY, WF_HEAT_HOPS, WF_HEAT_STALLED, WF_HEAT_BANK, WF_HEAT_COUNT } wf_heat_metric;
/* WF_HEAT_BANK: cycles lost to SRAM bank conflicts (wf_pe_stats.bank_cycles) */

/* Writes a PNG heatmap of metric m over the whole fabric: one cell of
** `scale` x `scale` pixels per PE (scale 0 = chosen so the image is at
** least 512 pixels on its longer side, at most 8), row y = 0 at the top,
** black = 0 (or a PE that was never touched), then dark blue -> red -> yellow
** -> white linearly up to the maximum value. *max_out (may be NULL) gets
** the maximum, which is the white end of the scale. */
wf_status wf_heatmap_write(const wf_fabric *f, const char *path, wf_heat_metric m, int scale, uint64_t *max_out,
                           wf_err *err);
/* The same picture from a w x h grid of values (row-major, y = 0 first). */
wf_status wf_heatmap_write_values(const uint64_t *val, int w, int h, const char *path, int scale, wf_err *err);

#ifdef __cplusplus
}
#endif
#endif
