/* sample.h — picking the next token from logits: greedy (temperature 0) or
** sampling with temperature, then top-k, then top-p (nucleus), in the order
** Hugging Face's generate applies them. Seeded with base/rng.h: the same seed
** and logits give the same tokens on every machine. Used by `wafer generate`. */
#ifndef WF_MODEL_SAMPLE_H
#define WF_MODEL_SAMPLE_H

#include "base/base.h"

typedef struct {
    float temperature; /* 0 = greedy (argmax, lowest id on ties); > 0 divides the logits */
    int top_k;         /* keep the k most likely tokens; 0 = off */
    float top_p;       /* keep the smallest top set with probability >= top_p; 1 = off */
} wf_sample_opts;

typedef struct wf_sampler wf_sampler;

/* Checks opts (temperature >= 0, top_k >= 0, 0 < top_p <= 1; the message
** names the option) and allocates scratch for V logits from h. */
wf_status wf_sampler_new(int V, const wf_sample_opts *opts, uint64_t seed, wf_heap *h,
                         wf_sampler **out, wf_err *err);
void wf_sampler_free(wf_sampler *s); /* NULL is a no-op */

/* Picks a token id in [0, V) from logits[V] (read only). Advances the RNG
** once per call when sampling, never when greedy. */
int32_t wf_sampler_next(wf_sampler *s, const float *logits);

#endif
