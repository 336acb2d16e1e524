/* sdk.h — the whole SDK in one include: kernel API (fabric/kernel.h), the
** machine (fabric/fabric.h), layout + static checks (sdk/layout.h), the
** host runtime (sdk/host.h) and the debugger (sdk/debug.h).
**
** A minimal program (full versions in tests/sdk/test_host.c):
**   enum { S_A, S_B };
**   static const wf_symbol_decl syms[] = {{"A", 16}, {"B", 16}};
**   static void run(wf_pe *pe, uint32_t d) {
**       float *a = wf_sym(pe, S_A), *b = wf_sym(pe, S_B);
**       wf_dsd da = wf_dsd_mem1d(pe, a, 4, 1, 4), db = wf_dsd_mem1d(pe, b, 4, 1, 4);
**       wf_fadds(pe, da, da, db, WF_SYNC);            // A += B, 5 cycles (+2 bank conflict)
**   }
**   static const wf_export_decl ex[] = {{"run", run}};
**   static const wf_kernel k = {"add", syms, 2, NULL, 0, ex, 1, NULL};
**   wf_layout_new(2, 1, &l, &e); wf_layout_code(l, 1, 0, 1, 1, &k, NULL, &e);
**   wf_host_new(l, NULL, &h, &e);
**   wf_memcpy m = {"A", 0, 1, 0, 1, 1, 4, 0, 4, WF_ROW_MAJOR};  // symbol, color, x,y,w,h, n, offset, esize, order
**   wf_host_h2d(h, &m, a, &e); ...; wf_host_launch(h, "run", &e); wf_host_d2h(h, &m, out, &e);
** Routes: wf_layout_route(l, x, y, w, h, color, &route, &e) with
**   wf_route_simple(WF_RAMP, WF_E) (send east), wf_route_simple(WF_W, WF_RAMP | WF_E) (take a copy, pass on). */
#ifndef WF_SDK_H
#define WF_SDK_H

#include "../fabric/fabric.h"
#include "../fabric/kernel.h"
#include "defects.h"
#include "debug.h"
#include "host.h"
#include "layout.h"

#ifdef __cplusplus
extern "C" { /* C++ callers: the libraries are C */
#endif

#ifdef __cplusplus
}
#endif
#endif
