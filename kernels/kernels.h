/* kernels.h — CPU math for the model: plain functions over (pointer, shape),
** llm.c style (STYLE 17). Letters: B batch, T time (tokens), C channels
** (n_embd), H heads, D = C/H head size, V vocab, N = B*T rows, OC output
** channels. Everything is fp32, row-major, contiguous unless a leading
** dimension (ld*) is given. Every fast path has a naive reference beside it
** (the *_naive functions) that tests/kernels/ compares against.
**
** Threads: the kernels use OpenMP; wf_kernels_set_threads() fixes the count.
** Results are deterministic for a given thread count (no atomics, fixed
** reduction order).
**
** What the forward saves for the backward (helper "train"):
**   - wf_layernorm_forward: mean[N], rstd[N] (rstd = 1/sqrt(var + eps), var
**     biased), when the pointers are not NULL.
**   - wf_attention_forward: lse[B,H,T] = log(sum_j exp(s_ij)) of the scaled,
**     causally masked scores s_ij = q_i.k_j / sqrt(D), when lse is not NULL.
**     With it the backward recomputes P_ij = exp(s_ij - lse_i) tile by tile.
**   - gelu/matmul/residual save nothing: the backward re-reads their inputs. */
#ifndef WF_KERNELS_H
#define WF_KERNELS_H

#include "base/base.h"

#include <stddef.h>
#include <stdint.h>

/* ---- instruction-set paths (isa.c) ----------------------------------------
** Ordered: each level implies the ones below it. Every dispatcher (fp32 GEMM,
** bf16 GEMMs, conversions) asks wf_isa_active() and runs the best kernel it
** has at or below that level, so WAFER_ISA=avx2 really runs AVX2 code.
**   portable    plain C (any CPU)
**   avx2        AVX2 + FMA (Haswell and later, Zen 1-3)
**   avx512      AVX-512 F/DQ/BW/VL (Skylake-SP and later, Zen 4/5)
**   avx512bf16  + AVX512_BF16 vdpbf16ps (Cooper Lake, Sapphire Rapids, Zen 4/5)
**   amx         + AMX-TILE/AMX-BF16 with the OS grant (Sapphire Rapids and later) */
typedef enum {
    WF_ISA_PORTABLE,
    WF_ISA_AVX2,
    WF_ISA_AVX512,
    WF_ISA_AVX512BF16,
    WF_ISA_AMX,
    WF_ISA_COUNT
} wf_isa;
/* The best path this CPU and OS can run (cached after the first call; asks
** Linux for the AMX tile state on first use). */
wf_isa wf_isa_cpu(void);
/* The path the kernels use: wf_isa_cpu(), lowered by WAFER_ISA or by
** wf_isa_force(). A WAFER_ISA that is unknown or above the CPU is ignored
** here; wf_isa_init() reports it. */
wf_isa wf_isa_active(void);
/* Checks WAFER_ISA: WF_EUSAGE when it names no path or one above the CPU.
** The CLI calls it first so a wrong value is an error, never silent. */
wf_status wf_isa_init(wf_err *err);
/* Tests and benches: make `isa` (clamped to the CPU) the active path; pass
** (wf_isa)-1 to go back to the WAFER_ISA/CPU choice. Returns the path now
** active. Not thread-safe against running kernels: call between them. */
wf_isa wf_isa_force(wf_isa isa);
/* "portable", "avx2", "avx512", "avx512bf16", "amx". */
const char *wf_isa_name(wf_isa isa);
/* 1 and *out set when s is one of the names above, else 0. */
int wf_isa_parse(const char *s, wf_isa *out);
/* The CPU's brand string (CPUID 0x80000002..4) into buf; returns buf. */
const char *wf_cpu_model(char *buf, size_t n);

/* ---- threads ------------------------------------------------------------ */
/* Sets the OpenMP thread count used by every kernel (n <= 0: all cores). */
void wf_kernels_set_threads(int n);
int wf_kernels_threads(void);

/* A thread count that follows the load, for loops of like steps (training).
** When another process competes for the cores, a step on all of them waits at
** every barrier for a thread that lost its core; one thread fewer can be
** faster. Every WF_TUNE_EVERY steps the tuner tries the other count (max - 1
** while at max, else max) for one step, and keeps it when that step beat the
** best of the last two at the current count by WF_TUNE_GAIN. Each probe that
** loses doubles the interval, up to 4 x WF_TUNE_EVERY; a switch resets it.
** A training step gives the same bits at any thread count (test_train checks
** it), so only speed changes.
** Usage: n = wf_tune_next(&t, seconds_of_the_step_just_run), then
** wf_kernels_set_threads(n) when n != the count in use. */
#define WF_TUNE_EVERY 16
#define WF_TUNE_GAIN 0.93
typedef struct {
    int max, cur;    /* all threads; the count chosen */
    int probing;     /* the last step ran at the other count */
    int since;       /* steps at cur since the last probe */
    int every;       /* steps between probes */
    double t1, t2;   /* the last two step times at cur (0: none yet) */
    double t_probe;  /* the last probe's time */
    double t_best;   /* the time it was held against (the best of two at the count then in use) */
    int was;         /* the count before, when the last wf_tune_next switched; else 0 */
} wf_tune;
void wf_tune_init(wf_tune *t, int max);
int wf_tune_next(wf_tune *t, double step_s);

/* ---- GEMM ----------------------------------------------------------------
** Row-major: C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C[M,N].
**   ta = 0: A is stored [M,K] (lda >= K);  ta = 1: A is stored [K,M] (lda >= M).
**   tb = 0: B is stored [K,N] (ldb >= N);  tb = 1: B is stored [N,K] (ldb >= K).
** beta = 0: C is written without being read (may hold garbage or NaN).
** The backward's products in this form, with the HF Conv1D layout W[C,OC]:
**   forward  out[N,OC]  = inp[N,C] @ W[C,OC]   wf_gemm(0,0, N,OC,C, 1, inp,C, W,OC, 0, out,OC)
**   dinp[N,C]          += dout[N,OC] @ W^T      wf_gemm(0,1, N,C,OC, 1, dout,OC, W,OC, 1, dinp,C)
**   dW[C,OC]           += inp^T @ dout          wf_gemm(1,0, C,OC,N, 1, inp,C, dout,OC, 1, dW,OC)
** Deterministic: the K loop is summed in a fixed order independent of threads. */
void wf_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);
/* Triple loop reference, double accumulation. Same contract as wf_gemm. */
void wf_gemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
/* The portable C path of wf_gemm (what runs without AVX2/AVX-512); for tests. */
void wf_gemm_portable(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc);
/* Name of the GEMM path wf_gemm dispatches to (wf_isa_active()), e.g.
** "wafer-avx512 (14x32 fp32 micro-kernel)", "wafer-avx2 (...)" or
** "wafer-portable (...)". With AVX-512, products of up to 48 rows (ta = 0)
** take a skinny path whose rows have the same bits whatever M is. */
const char *wf_gemm_kernel_name(void);

/* ---- weights packed for decoding (64-column panels) -----------------------
** A weight matrix B[K,N] read by many small products (decoding one token per
** sequence) is fastest stored as ceil(N/64) panels of K x 64 floats, each
** panel contiguous (the last one zero padded): a product then streams memory
** in order instead of 256 bytes from every 12 KB row. Measured on the Intel
** Xeon (AVX-512), one core, [768 x 3072]: 16 rows 1.6x, 1 row 1.4x faster
** than the row-major layout (docs/kernels.md). The bits are those of
** wf_gemm(0, 0, ...) on the unpacked matrix, for every M. */
#define WF_P64 64
/* Floats of the packed copy of a K x N matrix. */
size_t wf_p64_numel(int K, int N);
/* dst[wf_p64_numel(K, N)] = op(B) packed; tb as in wf_gemm: 0 B stored [K,N]
** (ldb >= N), 1 B stored [N,K] (ldb >= K; e.g. the tied LM head, wte). */
void wf_p64_pack(float *dst, int tb, const float *B, int ldb, int K, int N);
/* C[M,N] = alpha A[M,K] @ B + beta C with B packed by wf_p64_pack (K, N the
** packed shape); contract of wf_gemm(0, 0, ...). Products of up to 96 rows
** (AVX-512; 48 with AVX2) take the skinny path, whose rows have the bits
** they have alone; up to 48 rows and past 96 the bits are wf_gemm's. */
void wf_gemm_p64(int M, int N, int K, float alpha, const float *A, int lda, const float *Bp, float beta,
                 float *C, int ldc);
/* out[N,OC] = inp[N,C] @ W + bias (may be NULL), W packed [C,OC]. */
void wf_matmul_forward_p64(float *out, const float *inp, const float *Wp, const float *bias, int N, int C,
                           int OC);

/* ---- bf16 weights (optional fast decode) ----------------------------------
** bf16 = the top 16 bits of an fp32 (8-bit exponent, 7-bit mantissa). Halves
** the bytes a decode step streams; products are still fp32 (the weight is
** widened exactly, activations stay fp32). Not bit-compatible with the fp32
** path: logits move by ~1e-2 relative, so fp32 stays the default. */
/* out[n] = in[n] rounded to nearest even (NaN stays NaN). */
void wf_bf16_from_f32(uint16_t *out, const float *in, size_t n);
/* C[M,N] = A[M,K] @ op(W) + beta * C with W in bf16: tb = 0: W stored [K,N]
** (ldw >= N); tb = 1: W stored [N,K] (ldw >= K). Meant for small M
** (decoding); any M works. beta = 0: C is not read. */
void wf_gemm_bf16w(int tb, int M, int N, int K, const float *A, int lda, const uint16_t *W, int ldw,
                   float beta, float *C, int ldc);
/* The same from weights packed for decoding: ceil(N/128) panels of K x 128
** bf16 (2 bytes per weight; the fp32 panels' reason, wf_p64_pack). pack
** rounds op(B) to bf16 as wf_bf16_from_f32 (tb as in wf_gemm); the product
** has the bits of wf_gemm_bf16w(0, ...) on the unpacked bf16 matrix. */
size_t wf_bf16p_numel(int K, int N);
void wf_bf16p_pack(uint16_t *dst, int tb, const float *B, int ldb, int K, int N);
void wf_gemm_bf16p(int M, int N, int K, const float *A, int lda, const uint16_t *Wp, float beta, float *C, int ldc);
/* ---- int8 weights (weight-only quantization, inference) ------------------
** Each column's weights, in blocks of 32 along K, share one fp32 scale
** (absmax / 127; q = round(w / scale) in [-127, 127]); activations stay fp32
** and so does every sum. Stored like the fp32 panels: q as ceil(N/64)
** panels of K x 64 int8, s as ceil(N/64) panels of ceil(K/32) x 64 scales
** (pads 0). 1.125 bytes per weight against 4: a batch-1 decode step reads
** 28% of the fp32 bytes. */
#define WF_Q8_BLOCK 32
size_t wf_q8p_numel(int K, int N);  /* int8 values */
size_t wf_q8p_nscale(int K, int N); /* fp32 scales */
/* Quantizes op(B) (tb as in wf_gemm) into q and s. */
void wf_q8p_pack(int8_t *q, float *s, int tb, const float *B, int ldb, int K, int N);
/* C[M,N] = alpha A[M,K] @ dequant(q, s) + beta C (contract of wf_gemm(0, 0)):
** each K slice is widened to fp32 in L1 and runs the fp32 skinny path (up to
** wf_gemm_p64's row limit), else per panel the blocked one. */
void wf_gemm_q8p(int M, int N, int K, float alpha, const float *A, int lda, const int8_t *q, const float *s,
                 float beta, float *C, int ldc);
/* Reference: dequantize, then double accumulation. */
void wf_gemm_q8p_naive(int M, int N, int K, float alpha, const float *A, int lda, const int8_t *q, const float *s,
                       float beta, float *C, int ldc);

/* Reference: widen W to fp32, double accumulation. */
void wf_gemm_bf16w_naive(int tb, int M, int N, int K, const float *A, int lda, const uint16_t *W,
                         int ldw, float beta, float *C, int ldc);

/* out[N,OC] = inp[N,C] @ W[C,OC] + bias[OC] (bias may be NULL). HF Conv1D layout. */
void wf_matmul_forward(float *out, const float *inp, const float *W, const float *bias,
                       int N, int C, int OC);
void wf_matmul_forward_naive(float *out, const float *inp, const float *W, const float *bias,
                             int N, int C, int OC);

/* ---- embeddings ----------------------------------------------------------
** out[B,T,C] = wte[ids[b,t], :] + wpe[pos0 + t, :]. ids must be < V and
** pos0 + T <= P: the caller validates (the model returns WF_ERANGE). */
void wf_encoder_forward(float *out, const int32_t *ids, const float *wte, const float *wpe,
                        int B, int T, int C, int pos0);

/* ---- layernorm -----------------------------------------------------------
** out[N,C] = (inp - mean) * rstd * w + b per row. mean[N], rstd[N] are
** written when not NULL (saved for the backward). out may equal inp. */
void wf_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C, float eps);

/* ---- activations (elementwise over n floats; out may equal inp) ---------- */
/* The same with the output rounded to bf16 (wf_bf16_from_f32 of the floats
** wf_layernorm_forward stores): for bf16 products (wf_gemm_mbf16). */
void wf_layernorm_forward_bf16(uint16_t *out, float *mean, float *rstd, const float *inp,
                               const float *w, const float *b, int N, int C, float eps);
/* exact GELU: x * 0.5 * (1 + erf(x / sqrt(2)))  — HF "gelu" (Cerebras-GPT) */
void wf_gelu_forward(float *out, const float *inp, size_t n);
/* tanh GELU: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))  — HF "gelu_new" */
void wf_gelu_new_forward(float *out, const float *inp, size_t n);

/* out[n] = a[n] + b[n]; out may equal a or b. */
void wf_residual_forward(float *out, const float *a, const float *b, size_t n);
/* sum[j] += B[0][j] + B[1][j] + ... + B[K-1][j] for j < N (row pitch ldb),
** each column summed in row order in fp32 (a bias gradient): threaded over
** 256-column strips, so the bits do not depend on the thread count. */
void wf_colsum_add(float *sum, const float *B, int ldb, int K, int N);

/* ---- attention -----------------------------------------------------------
** Causal multi-head attention over a packed qkv[B,T,3C] (q | k | v along the
** last axis, head h at columns h*D..h*D+D-1 of each part) -> out[B,T,C].
** Flash-style: keys are visited in tiles with an online softmax; no T x T
** matrix is ever stored. lse[B,H,T] (may be NULL): see the top comment.
** Head size D = C/H must be <= 256 (the model checks; presets use 64, 128). */
void wf_attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int H);
/* Reference: full scores per row, two-pass softmax, double accumulation. */
void wf_attention_forward_naive(float *out, float *lse, const float *qkv, int B, int T, int C, int H);

/* The general form the KV cache uses. Queries q (row t of batch b at
** q + b*q_bs + t*ldq, C floats) sit at absolute positions pos0 + t, t < T;
** keys/values for positions 0 .. pos0+T-1 are rows of k and v (row j of
** batch b at k + b*kv_bs + j*ldkv). Query t attends to keys 0..pos0+t.
** out row t of batch b at out + b*o_bs + t*ldo. lse as above with T rows. */
void wf_attention_forward_kv(float *out, long o_bs, int ldo, float *lse,
                             const float *q, long q_bs, int ldq,
                             const float *k, const float *v, long kv_bs, int ldkv,
                             int B, int T, int pos0, int C, int H);

/* bf16 attention (bf16 training on AMX, train/step.c --bf16): the contract of
** wf_attention_forward with the products on bf16 operands and fp32 sums.
** Q, K and V are rounded to bf16 (nearest even, as wf_bf16_from_f32); keys
** are visited in blocks of 64 with an online softmax whose statistics stay
** fp32: per block m' = max(m, max_j s_ij) with s_ij = (q_i.k_j) / sqrt(D)
** (fp32 sums of exact bf16 products), P~_ij = exp(s_ij - m') in fp32, l =
** l exp(m - m') + sum_j P~_ij (fp32), and the output accumulates
** bf16(P~_ij) v_j (P~ rounded to bf16 before the product, fp32 sums, rescaled
** by exp(m - m')); out = acc / l, lse = m + log l (fp32, as the backward
** wants). Tiles treat bf16 subnormals as zero (DAZ). Runs on AMX tiles when
** wf_isa_active() is WF_ISA_AMX and D = C/H is a multiple of 32; otherwise it
** calls wf_attention_forward (fp32, bit for bit). Parallel over (b, h) on
** nthreads threads; the bits do not depend on nthreads. scratch: at least
** wf_attention_bf16_scratch(T, D, nthreads) floats, owned by the caller. */
void wf_attention_forward_bf16(float *out, float *lse, const float *qkv, int B, int T, int C, int H,
                               float *scratch, int nthreads);
/* Floats of scratch that wf_attention_forward_bf16 and wf_attention_backward_bf16
** (backward.h) need on up to nthreads threads, whichever path they take
** (at least wf_attention_backward_scratch's). */
size_t wf_attention_bf16_scratch(int T, int hs, int nthreads);
/* 1 when the two bf16 attention kernels run on AMX tiles for head size hs
** (wf_isa_active() and hs), 0 when they call the fp32 kernels. */
int wf_attention_bf16_on_tiles(int hs);

/* ---- softmax / loss helpers ---------------------------------------------- */
/* log(sum_i exp(x[i])), stable. */
float wf_logsumexp(const float *x, int n);
/* probs[N,V] = softmax of logits rows (probs may equal logits). */
void wf_softmax_forward(float *probs, const float *logits, int N, int V);
/* losses[N] = lse(logits[n]) - logits[n, targets[n]] (nats); targets < V. */
void wf_crossentropy_forward(float *losses, const float *logits, const int32_t *targets,
                             int N, int V);

/* ---- bf16 x bf16 GEMM (bf16 training, gemm_bf16x.c) -----------------------
** C[M,N] = op(A)[M,K] @ op(B)[K,N] + beta * C with A and B in bf16, products
** summed in fp32: AMX tiles (path amx, gemm_amx.c), vdpbf16ps (avx512bf16,
** where it measures faster than fp32 FMAs), else both operands widened to
** fp32 on wf_gemm's micro-kernel (portable path: a C kernel). ta/tb/ld* as
** in wf_gemm; no alpha. beta = 0: C is not read. Deterministic for any
** thread count. */
void wf_gemm_bf16x(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda,
                   const uint16_t *B, int ldb, float beta, float *C, int ldc);
/* The same product from fp32 operands, each rounded to bf16 (as
** wf_bf16_from_f32) while it is packed: on AMX tiles where the active path
** is amx (the bits of wf_gemm_bf16x on rounded copies), else on wf_gemm's
** fp32 micro-kernel (the bits of wf_gemm_bf16x where that widens). No bf16
** copies, and one pass less over the operands. */
void wf_gemm_rbf16(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc);
/* One operand of wf_gemm_mbf16: p points at bf16 (f32 = 0) or at fp32 that
** is rounded to bf16 as wf_bf16_from_f32 does (f32 = 1); ld its leading
** dimension in elements. */
typedef struct {
    const void *p;
    int ld, f32;
} wf_bop;
static inline wf_bop wf_bop_bf16(const uint16_t *p, int ld) { return (wf_bop){p, ld, 0}; }
static inline wf_bop wf_bop_f32(const float *p, int ld) { return (wf_bop){p, ld, 1}; }
/* C[M,N] = op(A) op(B) + beta C + bias, each operand bf16 or fp32 (wf_bop),
** products of bf16 summed in fp32: the bits of wf_gemm_bf16x on rounded
** copies, then bias[N] (NULL: none) added to every row of the finished
** sums, as a separate pass would, but in the products' last pass over C.
** Operands may be mixed: activations kept in bf16 by the op that made them
** are packed from half the bytes, with no rounding. On AMX every operand is
** packed as it is; elsewhere the fp32 ones are rounded into a bf16 copy first. */
void wf_gemm_mbf16(int ta, int tb, int M, int N, int K, wf_bop A, wf_bop B, const float *bias, float beta,
                   float *C, int ldc);
/* wf_gemm_mbf16 with beta 0 that also writes G[M,N] (row pitch ldg) =
** gelu(C) rounded to bf16 (gelu_new: the tanh form): the bits of
** wf_gemm_mbf16 followed by wf_gelu_block_bf16 over C, the GELU
** taken while each 32 x 32 block of C is in L1 on AMX (the MLP's first
** product in bf16 training), in a second pass elsewhere. */
void wf_gemm_mbf16_gelu(int ta, int tb, int M, int N, int K, wf_bop A, wf_bop B, const float *bias, float *C,
                        int ldc, uint16_t *G, int ldg, int gelu_new);
/* out[r][j] (row pitch ldo) = gelu(in[r][j]) (row pitch ldi) rounded to bf16
** (wf_bf16_from_f32 of the floats wf_gelu_forward, gelu_new:
** wf_gelu_new_forward, stores), r < rows, j < cols. */
void wf_gelu_block_bf16(uint16_t *out, int ldo, const float *in, int ldi, int rows, int cols, int gelu_new);
/* wf_gemm_mbf16 with B fp32 and not transposed (tb = 0, no bias), adding
** B's column sums on the way: bsum[j] += B[0][j] + B[1][j] + ... + B[K-1][j],
** in that order in fp32 (the bits of that loop over bsum). On AMX they are
** summed while B is packed, which saves a pass over B: the bias gradient
** of a weight gradient (db of dW = x^T dout). */
void wf_gemm_mbf16_colsum(int ta, int M, int N, int K, wf_bop A, const float *B, int ldb, float *bsum, float beta,
                          float *C, int ldc);
/* 1: wf_gemm_rbf16 gives the bits of wf_gemm_bf16x on rounded copies here
** (the amx path, or wf_gemm_bf16x_widens): callers holding fp32 operands
** should call it and skip the copies. 0 on the vdpbf16ps path. */
int wf_gemm_rbf16_is_bf16x(void);
/* 1: wf_gemm_bf16x widens both operands onto wf_gemm's fp32 micro-kernel on
** this CPU (no AMX, vdpbf16ps absent or measured slower): callers holding
** fp32 operands may call wf_gemm_rbf16 instead, same bits, less work. */
int wf_gemm_bf16x_widens(void);
/* The avx512bf16 path's choice, for tests and benchmarks: 1 vdpbf16ps, 0
** widen to fp32, -1 measure (the default; WAFER_BF16_DOT=vdpbf16ps|fp32
** sets it for a process). */
void wf_gemm_bf16x_force_dot(int mode);
/* The portable C kernel (what the portable path runs); for tests. */
void wf_gemm_bf16x_portable(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda,
                            const uint16_t *B, int ldb, float beta, float *C, int ldc);
/* Reference: widen both to fp32, double accumulation. */
void wf_gemm_bf16x_naive(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda,
                         const uint16_t *B, int ldb, float beta, float *C, int ldc);
const char *wf_gemm_bf16x_kernel_name(void);
/* wf_bf16_from_f32 with the same bits (round to nearest even, NaN stays
** NaN), vectorized where wf_gemm_bf16x's fast path runs, threaded for big n. */
void wf_bf16x_from_f32(uint16_t *out, const float *in, size_t n);

#endif
