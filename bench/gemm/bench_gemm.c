/* bench_gemm.c — GFLOP/s of each GEMM path this CPU can run, forced in turn
** with wf_isa_force (what WAFER_ISA does): fp32 wf_gemm and bf16 x bf16
** wf_gemm_bf16x, at square n and at the 111M model's shapes (C = 768,
** seq 1024: forward qkv/fc/proj, backward dinp and dW), plus the small-M
** fp32 products of batched decoding (M = 1..64 rows against a 768 x 3072
** weight) to place the skinny/blocked crossover. Prints the CPU model and
** the path of every row; each figure is the median of `reps` runs.
** The fp32 peer: OpenBLAS (libopenblas.so.0, loaded with dlopen, as many
** threads as ours) on the same shapes plus larger N, timed in alternation
** with wf_gemm so both see the same machine, reported as a ratio.
**
** usage: bench_gemm [--quick] [--threads N] [--reps R] [--cpu] [--only fp32|bf16|skinny] [--skinny-nk N K] */
#include "kernels/kernels.h"

#include "base/base.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --cpu: time by the process's CPU clock instead of the wall clock. On a
** machine shared with other jobs this counts only the cycles we got (with
** --threads 1 it is the single core's rate; cache sharing still shows). */
static int use_cpu_clock;

static double now(void) {
    if (!use_cpu_clock) return wf_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 2654435761u + seed) % 1999) / 1999.0f - 0.5f;
}

/* Median seconds of one product: fp32 when bf16 = 0, else bf16 x bf16. */
static double time_gemm(int bf16, int ta, int tb, int M, int N, int K, int reps) {
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *a = wf_alloc(NULL, na * 4, "bench a", NULL), *b = wf_alloc(NULL, nb * 4, "bench b", NULL);
    float *c = wf_alloc(NULL, nc * 4, "bench c", NULL);
    uint16_t *ah = wf_alloc(NULL, na * 2, "bench ah", NULL), *bh = wf_alloc(NULL, nb * 2, "bench bh", NULL);
    WF_ASSERT(a && b && c && ah && bh);
    fill(a, na, 1), fill(b, nb, 2);
    wf_bf16_from_f32(ah, a, na), wf_bf16_from_f32(bh, b, nb);
    int lda = ta ? M : K, ldb = tb ? K : N;
    double t[64];
    if (reps > 64) reps = 64;
    for (int r = -1; r < reps; r++) { /* one warm-up run */
        double t0 = now();
        if (bf16) wf_gemm_bf16x(ta, tb, M, N, K, ah, lda, bh, ldb, 0.0f, c, N);
        else wf_gemm(ta, tb, M, N, K, 1.0f, a, lda, b, ldb, 0.0f, c, N);
        if (r >= 0) t[r] = now() - t0;
    }
    wf_free(NULL, a), wf_free(NULL, b), wf_free(NULL, c), wf_free(NULL, ah), wf_free(NULL, bh);
    return median(t, reps);
}

typedef struct {
    const char *what;
    int ta, tb, M, N, K;
} shape;

/* ---- the peer: OpenBLAS's cblas_sgemm --------------------------------------------------- */
typedef void (*cblas_sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                               int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Lets the other library's idle workers stop spinning before a timed run:
** OpenBLAS's threads (and OpenMP's) busy-wait after a call, and on a 2-core
** machine a spinner takes a core from the next call (fwd fc once measured
** 68 GFLOP/s instead of 290 that way). */
static void settle(void) {
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Median seconds of wf_gemm (*ours) and of OpenBLAS (*peer) on one shape,
** one run of each in turn (a busy host slows both alike). */
static void time_vs_peer(cblas_sgemm_fn blas, const shape *s, int reps, double *ours, double *peer) {
    size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
    float *a = wf_alloc(NULL, na * 4, "bench a", NULL), *b = wf_alloc(NULL, nb * 4, "bench b", NULL);
    float *c = wf_alloc(NULL, nc * 4, "bench c", NULL);
    WF_ASSERT(a && b && c);
    fill(a, na, 1), fill(b, nb, 2);
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double t[2][64];
    if (reps > 64) reps = 64;
    for (int r = -1; r < reps; r++) { /* one warm-up round */
        settle();
        double t0 = now();
        wf_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, a, lda, b, ldb, 0.0f, c, s->N);
        double t1 = now();
        settle();
        double t2 = now();
        blas(101 /* row major */, s->ta ? 112 : 111, s->tb ? 112 : 111, s->M, s->N, s->K, 1.0f, a, lda, b, ldb,
             0.0f, c, s->N);
        double t3 = now();
        if (r >= 0) t[0][r] = t1 - t0, t[1][r] = t3 - t2;
    }
    wf_free(NULL, a), wf_free(NULL, b), wf_free(NULL, c);
    *ours = median(t[0], reps);
    *peer = median(t[1], reps);
}

static void bench_vs_openblas(const shape *sq, int nsq, int reps) {
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0); /* workers sleep soon after a call (unless the user says) */
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    cblas_sgemm_fn blas = NULL;
    void (*set_threads)(int) = NULL;
    char *(*config)(void) = NULL;
    if (h) {
        *(void **)&blas = dlsym(h, "cblas_sgemm");
        *(void **)&set_threads = dlsym(h, "openblas_set_num_threads");
        *(void **)&config = dlsym(h, "openblas_get_config");
    }
    if (!blas) {
        printf("fp32 vs OpenBLAS: skipped (libopenblas.so.0 with cblas_sgemm not found: apt install libopenblas0)\n");
        if (h) dlclose(h);
        return;
    }
    if (set_threads) set_threads(wf_kernels_threads());
    printf("fp32 vs OpenBLAS [%s], threads %d each, alternating runs [%s]:\n", config ? config() : "?",
           wf_kernels_threads(), wf_gemm_kernel_name());
    for (int i = 0; i < nsq; i++) {
        double ours, peer;
        time_vs_peer(blas, &sq[i], reps, &ours, &peer);
        double fl = 2.0 * sq[i].M * sq[i].N * sq[i].K / 1e9;
        printf("  %-38s wafer %7.1f  OpenBLAS %7.1f GFLOP/s  %.2fx\n", sq[i].what, fl / ours, fl / peer,
               peer / ours);
    }
    dlclose(h);
}

int main(int argc, char **argv) {
    int quick = 0, threads = 0, reps = 5, skn = 3072, skk = 768;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--cpu")) use_cpu_clock = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--skinny-nk") && i + 2 < argc) skn = atoi(argv[i + 1]), skk = atoi(argv[i + 2]), i += 2;
        else {
            fprintf(stderr, "usage: bench_gemm [--quick] [--threads N] [--reps R] [--cpu] [--only fp32|bf16|skinny] [--skinny-nk N K]\n");
            return 2;
        }
    }
    wf_err err;
    if (wf_isa_init(&err)) {
        fprintf(stderr, "bench_gemm: %s\n", err.msg);
        return 2;
    }
    if (reps < 1) reps = 1;
    wf_kernels_set_threads(threads);
    char cpu[64];
    printf("cpu: %s; best path %s, WAFER_ISA/active %s; %d threads; median of %d runs; %s clock\n",
           wf_cpu_model(cpu, sizeof cpu), wf_isa_name(wf_isa_cpu()), wf_isa_name(wf_isa_active()),
           wf_kernels_threads(), reps, use_cpu_clock ? "process CPU" : "wall");
    wf_isa top = wf_isa_active();
    /* every path runs the first five; the OpenBLAS comparison all seven */
    const shape sq[] = {{"square n=1024", 0, 0, 1024, 1024, 1024}, {"square n=2048", 0, 0, 2048, 2048, 2048},
                        {"fwd fc  [1024x768]x[768x3072]", 0, 0, 1024, 3072, 768},
                        {"bwd dx  [1024x3072]x[768x3072]^T", 0, 1, 1024, 768, 3072},
                        {"bwd dW  [1024x768]^T x[1024x3072]", 1, 0, 768, 3072, 1024},
                        {"[1024x1024]x[1024x4096]", 0, 0, 1024, 4096, 1024},
                        {"fwd fc seq 2048 [2048x768]x[768x3072]", 0, 0, 2048, 3072, 768}};
    int nsq = quick ? 1 : 5, npeer = quick ? 1 : (int)(sizeof sq / sizeof sq[0]);
    static const wf_isa fpaths[] = {WF_ISA_AVX512, WF_ISA_AVX2, WF_ISA_PORTABLE};
    static const wf_isa bpaths[] = {WF_ISA_AMX, WF_ISA_AVX512BF16, WF_ISA_PORTABLE};
    for (int bf = 0; bf < 2; bf++) {
        if (only && strcmp(only, bf ? "bf16" : "fp32")) continue;
        const wf_isa *paths = bf ? bpaths : fpaths;
        for (int p = 0; p < 3; p++) {
            if (paths[p] > top) {
                printf("%-5s path %-10s skipped: above the active path %s\n", bf ? "bf16" : "fp32",
                       wf_isa_name(paths[p]), wf_isa_name(top));
                continue;
            }
            wf_isa_force(paths[p]);
            const char *kn = bf ? wf_gemm_bf16x_kernel_name() : wf_gemm_kernel_name();
            for (int s = 0; s < nsq; s++) {
                if (paths[p] == WF_ISA_PORTABLE && s > 0) break; /* slow; one row is enough */
                double t = time_gemm(bf, sq[s].ta, sq[s].tb, sq[s].M, sq[s].N, sq[s].K, reps);
                printf("%-5s %-34s %8.1f GFLOP/s  [%s]\n", bf ? "bf16" : "fp32", sq[s].what,
                       2.0 * sq[s].M * sq[s].N * sq[s].K / t / 1e9, kn);
            }
        }
        wf_isa_force(top);
        if (!bf) bench_vs_openblas(sq, npeer, reps);
    }
    if (!only || !strcmp(only, "skinny")) {
        /* decode with M sequences: x[M,768] @ W[768,3072] (fc) and the tb = 1 form */
        static const int ms[] = {1, 2, 4, 7, 8, 9, 12, 16, 20, 24, 32, 40, 48, 64, 96};
        printf("skinny fp32 (decode, M rows x [%dx%d]) [%s]:\n", skk, skn, wf_gemm_kernel_name());
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
            if (quick && ms[i] > 16) break;
            double t0 = time_gemm(0, 0, 0, ms[i], skn, skk, reps * 4);
            double t1 = time_gemm(0, 0, 1, ms[i], skn, skk, reps * 4);
            printf("  M=%-3d nn %7.1f us %6.1f GFLOP/s   nt %7.1f us %6.1f GFLOP/s\n", ms[i], t0 * 1e6,
                   2.0 * ms[i] * skn * skk / t0 / 1e9, t1 * 1e6, 2.0 * ms[i] * skn * skk / t1 / 1e9);
        }
    }
    return 0;
}
