/* sdk_int.h — shared inside sdk/ only: the layout's regions and route rules,
** which the host runtime walks to launch exported functions. */
#ifndef WF_SDK_INT_H
#define WF_SDK_INT_H

#include "layout.h"

typedef struct {
    int x, y, w, h;
    const wf_kernel *k;
    int64_t *params;       /* owned */
    int nparams;
    uint32_t *sym_bytes;   /* owned, k->nsymbols */
    uint32_t *sym_addr;    /* owned, filled by wf_layout_check */
    wf_pe_image *img;      /* owned; points at the arrays above */
} wf_region;

typedef struct {
    int x, y, w, h, color;
    wf_route r;
} wf_route_rule;

typedef struct {
    const wf_kernel *k;
    const wf_color_decl *c; /* borrowed */
    int n;
} wf_dir_rule;

struct wf_layout {
    int w, h;
    wf_dir_rule dirs[16]; int ndirs; /* wf_layout_directions */
    wf_region *regs; int nregs, cregs;
    wf_route_rule *rules; size_t nrules, crules;
    int32_t *owner;        /* w*h: region index or -1 */
};

/* "50,112" */
const char *wf_sdk_thousands(uint64_t v, char *buf, size_t n);

#endif
