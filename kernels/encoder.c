/* encoder.c — token + position embeddings: the first op of the forward. */
#include "kernels/kernels.h"

void wf_encoder_forward(float *out, const int32_t *ids, const float *wte, const float *wpe,
                        int B, int T, int C, int pos0) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *e = wte + (size_t)ids[b * T + t] * C;
            const float *p = wpe + (size_t)(pos0 + t) * C;
            for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
        }
}
