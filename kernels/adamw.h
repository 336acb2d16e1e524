/* adamw.h — the AdamW update exactly as torch.optim.AdamW (single-tensor path)
** computes it, plus the pieces of a training step that act on flat parameter
** ranges: squared-norm for global-norm clipping and the LR schedule. Each op
** acts on one contiguous range, so a weight store can apply the update block
** by block (model/params.h layout: weights, grads, m and v share offsets). */
#ifndef WF_KERNELS_ADAMW_H
#define WF_KERNELS_ADAMW_H

#include <stddef.h>

typedef struct {
    float lr;           /* learning rate for this step */
    float beta1, beta2; /* 0.9, 0.95 for Cerebras-GPT */
    float eps;          /* 1e-8 */
    float weight_decay; /* decoupled; 0 for no-decay ranges */
    long step;          /* 1-based step count *after* increment (torch's state['step']) */
    float grad_scale;   /* gradients are multiplied by this first (clip coefficient; 1 = none) */
} wf_adamw_params;

/* One AdamW update over n floats, in place on p, m, v; g is read only.
** Per element, in float (as torch does):
**   g' = g * grad_scale                       (torch: clip_grad_norm_ scales grads in place)
**   p *= 1 - lr*wd                             (decoupled weight decay)
**   m  = m + (1-b1) * (g' - m)                 (torch lerp_)
**   v  = v*b2 + (1-b2) * g'*g'
**   p -= (lr / (1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
** Parallel over elements; bitwise independent of the thread count. */
void wf_adamw_update(float *p, const float *g, float *m, float *v, size_t n, const wf_adamw_params *a);
/* The plain scalar loop the fast path is checked against. */
void wf_adamw_update_ref(float *p, const float *g, float *m, float *v, size_t n, const wf_adamw_params *a);

/* Sum of squares of n floats, accumulated in double in a fixed order (chunks
** of 4096 summed left to right), so the result does not depend on threads. */
double wf_sumsq(const float *x, size_t n);

/* torch.nn.utils.clip_grad_norm_ coefficient: min(1, max_norm / (norm + 1e-6)),
** computed in float like torch. norm = sqrt(sum of every range's wf_sumsq). */
float wf_clip_coef(double total_sumsq, float max_norm, float *norm_out);

/* LR schedule. For update index s (0-based): warm-up lr = peak*(s+1)/warmup
** while s < warmup; then decay from peak to end = peak*end_frac at s = total:
** frac = (s - warmup) / max(1, total - warmup), clamped to [0, 1];
** linear: peak - (peak-end)*frac; cosine: end + (peak-end)*(1+cos(pi*frac))/2. */
typedef enum { WF_SCHED_LINEAR = 0, WF_SCHED_COSINE, WF_SCHED_CONSTANT, WF_SCHED_COUNT } wf_sched_kind;
double wf_lr_at(wf_sched_kind kind, double peak, double end_frac, long warmup, long total, long s);

#endif
