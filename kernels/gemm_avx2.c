/* gemm_avx2.c — the AVX2 + FMA fp32 micro-kernel for CPUs without AVX-512
** (Haswell to Alder Lake client parts, AMD Zen 1-3): 6 x 16, twelve ymm
** accumulators, two B vectors and a broadcast A per k step (16 ymm
** registers in all). Runs under the blocked driver of gemm.c; small-M
** products also take the blocked path here. Compiled for any x86-64 through
** target attributes; wf_gemm_impl_avx2() returns NULL unless the active path
** (wf_isa_active(), isa.c) is avx2 or above. */
#include "kernels/kernels_int.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TGT2 __attribute__((target("avx2,fma")))
#define MR2 6
#define NR2 16

static TGT2 void ukernel_6x16(int kc, const float *a, const float *b, float *c, int ldc,
                              float alpha, float beta, int m, int n) {
    __m256 acc[MR2][2];
    for (int i = 0; i < MR2; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int i = 0; i < MR2; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
        a += MR2;
        b += NR2;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int i = 0; i < m; i++) {
        float *cr = c + (size_t)i * ldc;
        if (n == NR2) {
            __m256 r0 = _mm256_mul_ps(va, acc[i][0]), r1 = _mm256_mul_ps(va, acc[i][1]);
            if (beta != 0.0f) {
                r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), r1);
            }
            _mm256_storeu_ps(cr, r0);
            _mm256_storeu_ps(cr + 8, r1);
        } else {
            float t[NR2];
            _mm256_storeu_ps(t, acc[i][0]);
            _mm256_storeu_ps(t + 8, acc[i][1]);
            for (int j = 0; j < n; j++) cr[j] = beta == 0.0f ? alpha * t[j] : alpha * t[j] + beta * cr[j];
        }
    }
}

static const wf_gemm_impl avx2_impl = {
    .name = "wafer-avx2 (6x16 fp32 FMA micro-kernel)",
    .ukernel = ukernel_6x16,
    .mr = MR2, .nr = NR2, .mc = 72, .kc = 256, .nc = 2048,
    .skinny = NULL,
};

const wf_gemm_impl *wf_gemm_impl_avx2(void) {
    return wf_isa_active() >= WF_ISA_AVX2 ? &avx2_impl : NULL;
}
#else
const wf_gemm_impl *wf_gemm_impl_avx2(void) { return NULL; }
#endif
