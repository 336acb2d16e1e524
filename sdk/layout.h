/* layout.h — the "compile" step: which kernel runs on which rectangle of
** PEs with which parameters, and the route of every color on every PE; then
** static checks before anything runs. A layout is plain configuration; the
** host runtime (sdk/host.h) loads a checked layout onto a fabric.
**
** Checks (all fail with the PE coordinates in the message):
**   WF_ERANGE  rectangle larger than 750 x 994, region/route outside it
**   WF_ESRAM   "PE(3,7): kernel 'k': symbols need 50,112 bytes (incl. 4,096 code/stack), SRAM is 49,152"
**   WF_ECOLOR  "PE(x,y): color c: routes conflict on input WEST: outputs {RAMP} vs {EAST}"
**              (two rules give one PE and color different routes)
**   WF_ECOLOR  "PE(x,y): color c: route sends NORTH off the fabric edge"
**   WF_ECOLOR  "PE(x,y): color c: route sends EAST but PE(x+1,y) has no route for color c
**               accepting WEST"
**   WF_ECOLOR  "PE(x,y): color 21 is reserved for memcpy (colors 21-23)" (routes and data tasks)
**   WF_EUSAGE  overlapping code regions, bad task IDs, duplicate task IDs/symbols
**   WF_ECOLOR  more than 8 input / 6 output queues needed on one PE (at load) */
#ifndef WF_SDK_LAYOUT_H
#define WF_SDK_LAYOUT_H

#include "../fabric/fabric.h"

#ifdef __cplusplus
extern "C" { /* C++ callers: the libraries are C */
#endif

typedef struct wf_layout wf_layout;

/* A w x h program rectangle (the fabric the host will create). */
wf_status wf_layout_new(int w, int h, wf_layout **out, wf_err *err);
void wf_layout_free(wf_layout *l); /* NULL is a no-op */
int wf_layout_w(const wf_layout *l);
int wf_layout_h(const wf_layout *l);

/* Per-region options. params are copied; sym_bytes (NULL = the kernel's
** defaults) has kernel->nsymbols entries and is copied. */
typedef struct {
    const int64_t *params;
    int nparams;
    const uint32_t *sym_bytes;
} wf_code_opts;

/* Kernel k (borrowed; must outlive the layout and the host) runs on the PEs
** [x, x+w) x [y, y+h). Symbols are placed after the code reservation in
** declaration order, each 4-byte aligned. Regions must not overlap. */
wf_status wf_layout_code(wf_layout *l, int x, int y, int w, int h, const wf_kernel *k,
                         const wf_code_opts *o /* NULL = defaults */, wf_err *err);

/* Route of `color` on every PE of [x, x+w) x [y, y+h). Rules are checked
** against each other per PE at wf_layout_check. */
wf_status wf_layout_route(wf_layout *l, int x, int y, int w, int h, int color, const wf_route *r,
                          wf_err *err);

/* Runs every static check (cm NULL = wf_cost_wse2). */
/* Declares the directions of kernel k's colors (the halo-color check, see
** wf_color_decl in fabric/kernel.h); c is borrowed (must outlive the
** layout). Checked by wf_layout_check on every PE running k. At most 16
** kernels per layout. */
wf_status wf_layout_directions(wf_layout *l, const wf_kernel *k, const wf_color_decl *c, int n, wf_err *err);
wf_status wf_layout_check(const wf_layout *l, const wf_cost_model *cm, wf_err *err);

/* Checks, then configures fabric f (same size as the layout): images and
** routes, then wf_fabric_load. The layout must outlive f. */
wf_status wf_layout_apply(const wf_layout *l, wf_fabric *f, wf_err *err);

#ifdef __cplusplus
}
#endif
#endif
