/* backward.h — the backward kernels of a Cerebras-GPT (GPT-2) block and the
** fused LM-head + softmax cross-entropy, each with a naive reference beside it
** (STYLE 17) that tests/train compares against. Shapes use the model's letters:
** N = B*T rows, C = n_embd, F = n_inner, H = heads, hs = C/H, V = vocab.
** Conventions: "+=" outputs accumulate (gradient accumulation across
** micro-batches and residual branches); "=" outputs are overwritten.
** Every kernel is deterministic: the summation order depends on the shapes
** only, never on the number of threads. */
#ifndef WF_KERNELS_BACKWARD_H
#define WF_KERNELS_BACKWARD_H

#include <stddef.h>
#include <stdint.h>

/* LayerNorm backward. x [N,C] the forward input, w [C], mean/rstd [N] saved
** by the forward (rstd = 1/sqrt(var + eps), biased variance), dout [N,C].
** dx [N,C] +=, dw [C] +=, db [C] +=. */
void wf_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *w, const float *mean, const float *rstd, int N, int C);
void wf_layernorm_backward_ref(float *dx, float *dw, float *db, const float *dout, const float *x,
                               const float *w, const float *mean, const float *rstd, int N, int C);

/* GELU backward over n elements: dx = gelu'(x) * dout (overwrites dx; dx may
** alias dout). act: 0 = exact erf GELU (HF "gelu"), 1 = tanh form ("gelu_new"),
** the values of wf_activation in model/config.h. */
void wf_gelu_backward(float *dx, const float *x, const float *dout, size_t n, int act);
void wf_gelu_backward_ref(float *dx, const float *x, const float *dout, size_t n, int act);
/* The same over rows [N,F] for bf16 products (the trainer's AMX path):
** dx16 [N,F] = the fp32 gradient rounded to bf16 (wf_bf16x_from_f32), and
** db [F] += its column sums in fp32 before rounding, in wf_colsum_add's
** order (the bits of wf_colsum_add over the fp32 gradient; db NULL: none).
** One pass instead of three over the fp32 gradient (written, then read by
** both products' packing). dx16 must not overlap x or dout. */
void wf_gelu_backward_bf16(uint16_t *dx16, float *db, const float *x, const float *dout, int N, int F, int act);

/* Linear backward for y = x @ w + b, x [N,Cin], w [Cin,Cout] (HF Conv1D
** layout), dout [N,Cout]: dx [N,Cin] += dout @ w^T (skipped when dx is NULL),
** dw [Cin,Cout] += x^T @ dout, db [Cout] += column sums of dout (skipped when NULL). */
void wf_matmul_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, int N, int Cin, int Cout);
void wf_matmul_backward_ref(float *dx, float *dw, float *db, const float *dout, const float *x,
                            const float *w, int N, int Cin, int Cout);

/* Causal multi-head attention backward, flash style: recomputes each score
** from q, k and the forward's logsumexp, so memory is O(T) per head, never
** T x T. qkv [B,T,3C] (q | k | v, head h in columns h*hs..), out [B,T,C] the
** forward's attention output (before c_proj), lse [B,H,T] natural-log
** logsumexp of the scaled scores, dout [B,T,C]. Scale 1/sqrt(hs).
** dqkv [B,T,3C] is overwritten. Parallel over (b, h); query and key tiles of
** 64; an AVX-512 path for head sizes that are multiples of 64, a portable
** one otherwise (chosen at run time). */
void wf_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                           const float *lse, int B, int T, int C, int H, float *scratch, int nthreads);
/* Floats of `scratch` that wf_attention_backward needs to run on up to
** nthreads threads (the caller allocates it once, so the kernel cannot fail). */
size_t wf_attention_backward_scratch(int T, int hs, int nthreads);
/* The same on bf16 operands (bf16 training on AMX; the forward's contract is
** at wf_attention_forward_bf16 in kernels.h): with P_ij = exp(s_ij - lse_i)
** (s_ij from bf16 q and k as in that forward, fp32 exp), dP = bf16(dO)
** bf16(V)^T, D_i = dO_i . O_i (fp32 dO and O), dS = P (dP - D) / sqrt(hs) in
** fp32, and P and dS rounded to bf16 before they enter a product:
**   dV = bf16(P)^T bf16(dO), dK = bf16(dS)^T bf16(Q), dQ = bf16(dS) bf16(K),
** every sum in fp32 (query and key blocks of 64, fixed order: the bits do not
** depend on nthreads). dqkv is overwritten. On AMX tiles when
** wf_attention_bf16_on_tiles(hs), else wf_attention_backward (fp32, bit for
** bit). scratch: wf_attention_bf16_scratch(T, hs, nthreads) floats (kernels.h). */
void wf_attention_backward_bf16(float *dqkv, const float *dout, const float *qkv, const float *out,
                                const float *lse, int B, int T, int C, int H, float *scratch, int nthreads);
/* Naive reference: materialises the T x T probabilities of one head at a time. */
void wf_attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *out,
                               const float *lse, int B, int T, int C, int H);
/* Naive causal attention forward (out [B,T,C], lse [B,H,T]); a reference for tests. */
void wf_attention_forward_ref(float *out, float *lse, const float *qkv, int B, int T, int C, int H);

/* Fused tied LM head + softmax cross-entropy over rows in chunks of `rows`:
** logits = h @ wte^T (h [N,C] after ln_f, wte [V,C]) one chunk [rows,V] at a
** time in `scratch` (rows*V floats), never [N,V] at once.
** losses [N] = lse(logits) - logits[target] (natural log), always written.
** When dh is not NULL: dlogits = (softmax - onehot) * dscale, dh [N,C] =
** dlogits @ wte (overwritten) and dwte [V,C] += dlogits^T @ h.
** targets must lie in [0, V) (the caller checks). */
/* The row step of the above, on R rows of logits lgs [R,V] in place:
** losses[i] = lse(lgs[i]) - lgs[i, targets[i]]; grad: lgs becomes dlogits
** (softmax - onehot) * dscale. Shared with the trainer's bf16 head. */
void wf_crossentropy_rows(float *lgs, int R, int V, const int32_t *targets, float *losses, float dscale, int grad);
/* wf_crossentropy_rows with the gradient (grad = 1) rounded to bf16 as
** wf_bf16_from_f32 does, written over the first V uint16 of each row: row i
** of the gradient is (uint16_t *)lgs + 2 i V, for bf16 products (leading
** dimension 2V) that read half the bytes. The losses are the same. */
void wf_crossentropy_rows_bf16(float *lgs, int R, int V, const int32_t *targets, float *losses, float dscale);
void wf_crossentropy_fused(float *dh, float *dwte, float *losses, const float *h, const float *wte,
                           const int32_t *targets, int N, int C, int V, float dscale,
                           float *scratch, int rows);
void wf_crossentropy_fused_ref(float *dh, float *dwte, float *losses, const float *h,
                               const float *wte, const int32_t *targets, int N, int C, int V,
                               float dscale);

#endif
