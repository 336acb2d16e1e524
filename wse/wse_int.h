/* wse_int.h — shared inside wse/ only: PE-side helpers the row kernels
** (vec.c) and the pipelined model (pipe.c) both run. */
#ifndef WF_WSE_INT_H
#define WF_WSE_INT_H

#include "../fabric/kernel.h"

/* out[C] = LayerNorm(x[C]) * w + b on one PE, kernels/layernorm.c's order:
** the mean and variance summed in double as scalar work (charged
** 2 C WF_WSE_SCALAR_CYCLES), the rest as four fp32 DSD ops. */
void wse_layernorm_row(wf_pe *pe, float *out, const float *x, const float *w, const float *b, uint32_t C, float eps);

/* out[n] = exact GELU(x[n]) (erf), scalar work charged n WF_WSE_SCALAR_CYCLES;
** out may be x. */
void wse_gelu_row(wf_pe *pe, float *out, const float *x, uint32_t n);

#endif
