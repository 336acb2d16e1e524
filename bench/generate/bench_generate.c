/* bench_generate.c — the inference benchmark (not a test): a
** cerebras-gpt-111m-sized model with random weights, batch 1.
**   - memory read bandwidth (a STREAM-like sum over a 1 GiB buffer, one and
**     two sequential streams per thread, the faster) and the
**     decode bound it implies: bandwidth / weight bytes read per token;
**   - GEMM peak: wf_gemm at n = 2048 (and which kernel ran);
**   - prefill tokens/s for a 1024-token prompt and its share of GEMM peak;
**   - decode tokens/s over 128 new tokens (greedy), side by side with the
**     PyTorch + HF generate figures passed in by run.sh (--torch-*).
** Usage: bench_generate [--threads N] [--model PRESET] [--prompt N] [--new N]
**                       [--torch-decode TOKS] [--torch-prefill TOKS] [--bf16 0|1]
** --bf16 1 (default) also times decoding with the opt-in bf16 weights.
** --batch-sweep 1: also times one decode step of B sequences at once (B = 1
** .. 48, as a continuously batching server runs them), the median of 9 steps
** after a 32-token prompt each, weights packed as `wafer serve` has them:
** ms per step and aggregate tokens/s. */
#include "base/base.h"
#include "kernels/kernels.h"
#include "model/checkpoint.h"
#include "model/infer.h"
#include "model/params.h"

#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The batch sweep's clock: wall, or with BENCH_CPU_CLOCK=1 the process CPU
** time (a shared machine: counts only the cycles we got; use --threads 1). */
static double sweep_now(void) {
    const char *cc = getenv("BENCH_CPU_CLOCK");
    if (!cc || strcmp(cc, "1")) return wf_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sums n floats with wide independent accumulators; each thread reads its
** own contiguous slice, as decoding reads each weight matrix. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v4", "default")))
#endif
static double read_sum(const float *x, size_t n, int streams) {
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
        float acc[2][64] = {{0}};
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t nb = n / 64, b0 = nb * (size_t)t / (size_t)nt, b1 = nb * (size_t)(t + 1) / (size_t)nt;
        if (streams == 2) { /* the slice's two halves side by side (as wf_gemm_p64 reads one row) */
            size_t h = (b1 - b0) / 2;
            for (size_t i = b0; i < b0 + h; i++)
                for (int j = 0; j < 64; j++) {
                    acc[0][j] += x[i * 64 + j];
                    acc[1][j] += x[(i + h) * 64 + j];
                }
            b0 += 2 * h;
        }
        for (size_t i = b0; i < b1; i++)
            for (int j = 0; j < 64; j++) acc[0][j] += x[i * 64 + j];
        for (int j = 0; j < 64; j++) total += acc[0][j] + acc[1][j];
    }
    return total;
}

static double measure_bandwidth(void) {
    size_t n = (size_t)1 << 28; /* 1 GiB of floats: far beyond any cache */
    float *x = wf_alloc(NULL, n * sizeof(float), "bandwidth buffer", NULL);
    if (!x) return 0;
#pragma omp parallel for schedule(static)
    /* first touch per thread; no two pages alike, so the host cannot merge
    ** them (same-page merging would turn memory reads into cache hits) */
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 2654435761u) >> 12 & 0xFFFFF);
    double best = 1e30, sink = 0;
    for (int r = 0; r < 10; r++) { /* one and two streams per thread, the faster counts */
        double t0 = wf_now();
        sink += read_sum(x, n, 1 + (r & 1));
        double t = wf_now() - t0;
        if (t < best) best = t;
    }
    wf_free(NULL, x);
    if (sink == 42.0) printf(" "); /* keep the sums alive */
    return (double)n * sizeof(float) / best / 1e9;
}

static double measure_gemm(int n) {
    float *a = wf_alloc(NULL, sizeof(float) * n * n, "gemm a", NULL);
    float *b = wf_alloc(NULL, sizeof(float) * n * n, "gemm b", NULL);
    float *c = wf_alloc(NULL, sizeof(float) * n * n, "gemm c", NULL);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
        b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    }
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t0 = wf_now();
        wf_gemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = wf_now() - t0;
        if (t < best) best = t;
    }
    wf_free(NULL, a);
    wf_free(NULL, b);
    wf_free(NULL, c);
    return 2.0 * n * n * n / best / 1e9;
}

/* The alternatives the GEMM was chosen against: system BLAS libraries,
** loaded with dlopen (RTLD_LOCAL: OpenBLAS and BLIS both export
** cblas_sgemm) and run as the environment configures them (OpenBLAS reads
** OPENBLAS_CORETYPE, which this benchmark leaves alone). */
typedef void (*cblas_sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha,
                               const float *a, int lda, const float *b, int ldb, float beta,
                               float *c, int ldc);

static double measure_cblas(const char *lib, int n, char *arch, size_t arch_cap) {
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) return 0;
    /* BLIS says which kernel configuration it picked for this CPU. */
    int (*query)(void);
    const char *(*name)(int);
    *(void **)&query = dlsym(h, "bli_arch_query_id");
    *(void **)&name = dlsym(h, "bli_arch_string");
    if (arch_cap) snprintf(arch, arch_cap, "%s", query && name ? name(query()) : "?");
    cblas_sgemm_fn f;
    *(void **)&f = dlsym(h, "cblas_sgemm");
    double gf = 0;
    if (f) {
        float *a = wf_calloc(NULL, sizeof(float) * n * n, "gemm a", NULL);
        float *b = wf_calloc(NULL, sizeof(float) * n * n, "gemm b", NULL);
        float *c = wf_calloc(NULL, sizeof(float) * n * n, "gemm c", NULL);
        double best = 1e30;
        for (int r = 0; r < 4; r++) {
            double t0 = wf_now();
            f(101 /* row major */, 111, 111 /* no transpose */, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            double t = wf_now() - t0;
            if (t < best) best = t;
        }
        gf = 2.0 * n * n * n / best / 1e9;
        wf_free(NULL, a);
        wf_free(NULL, b);
        wf_free(NULL, c);
    }
    dlclose(h);
    return gf;
}

/* Seconds for n_new greedy decode steps after a 32-token prompt (best of 2);
** -1 on an error. */
static double time_decode(wf_infer *ctx, const int32_t *ids, float *lg, int V, int n_new) {
    wf_err err;
    double td = 1e30;
    for (int r = 0; r < 2; r++) {
        wf_infer_reset(ctx);
        if (wf_infer_forward(ctx, ids, 1, 32, lg, WF_LOGITS_LAST, &err)) return -1;
        double t0 = wf_now();
        for (int s = 0; s < n_new; s++) {
            int32_t next = 0;
            for (int i = 1; i < V; i++)
                if (lg[i] > lg[next]) next = i;
            if (wf_infer_forward(ctx, &next, 1, 1, lg, WF_LOGITS_LAST, &err)) return -1;
        }
        double t = wf_now() - t0;
        if (t < td) td = t;
    }
    return td;
}

int main(int argc, char **argv) {
    const char *preset = "cerebras-gpt-111m";
    int threads = 0, prompt = 1024, n_new = 128, bf16 = 1, sweep = 0;
    double torch_decode = 0, torch_prefill = 0;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bench_generate [--threads N] [--model PRESET] [--prompt N] [--new N]\n"
                   "                      [--torch-decode TOKS] [--torch-prefill TOKS] [--bf16 0|1]\n"
                   "                      [--batch-sweep 0|1]\n");
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_generate: option '%s' needs a value (--help lists them)\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--model")) preset = argv[i + 1];
        else if (!strcmp(argv[i], "--prompt")) prompt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--new")) n_new = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--torch-decode")) torch_decode = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--torch-prefill")) torch_prefill = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--bf16")) bf16 = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch-sweep")) sweep = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_generate: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    wf_kernels_set_threads(threads);
    threads = wf_kernels_threads();
    wf_err err;
    if (wf_isa_init(&err)) {
        fprintf(stderr, "bench_generate: %s\n", err.msg);
        return 2;
    }
    wf_gpt_config cfg;
    float *w;
    if (wf_checkpoint_load(preset, NULL, &cfg, &w, &err)) {
        fprintf(stderr, "bench_generate: %s\n", err.msg);
        return 1;
    }
    if (prompt + n_new > cfg.n_positions) prompt = cfg.n_positions - n_new;
    const int C = cfg.n_embd, L = cfg.n_layer, F = cfg.n_inner, V = cfg.vocab_size;
    /* Bytes read per decoded token: every weight except wpe (one row). */
    double wbytes = (double)(wf_gpt_numel(&cfg) - (size_t)cfg.n_positions * C) * sizeof(float);

    printf("== wafer inference benchmark: %s (random weights), batch 1, %d threads ==\n", cfg.name, threads);
    char cpu[64];
    printf("cpu                    : %s (isa path %s, best here %s)\n", wf_cpu_model(cpu, sizeof cpu),
           wf_isa_name(wf_isa_active()), wf_isa_name(wf_isa_cpu()));
    printf("gemm kernel            : %s\n", wf_gemm_kernel_name());
    double bw = measure_bandwidth();
    double gemm = measure_gemm(2048);
    printf("memory read bandwidth  : %.1f GB/s\n", bw);
    printf("weights read per token : %.1f MB -> decode bound %.1f tok/s\n", wbytes / 1e6, bw * 1e9 / wbytes);
    printf("gemm peak (n=2048)     : %.1f GFLOP/s  [%s]\n", gemm, wf_gemm_kernel_name());
    const char *ct = getenv("OPENBLAS_CORETYPE");
    char arch[64];
    double ob = measure_cblas("libopenblas.so.0", 2048, arch, 0);
    double bl = measure_cblas("libblis.so.4", 2048, arch, sizeof arch);
    if (ob > 0) printf("  vs OpenBLAS (n=2048)  : %.1f GFLOP/s  [OPENBLAS_CORETYPE=%s]\n", ob, ct ? ct : "(unset)");
    if (bl > 0) printf("  vs BLIS (n=2048)      : %.1f GFLOP/s  [Debian libblis, kernel config '%s']\n", bl, arch);

    wf_infer *ctx;
    wf_infer_opts io = {.max_batch = 1, .n_ctx = prompt + n_new + 1};
    if (wf_infer_new(&cfg, w, &io, NULL, &ctx, &err)) {
        fprintf(stderr, "bench_generate: %s\n", err.msg);
        return 1;
    }
    int32_t *ids = wf_alloc(NULL, sizeof(int32_t) * (size_t)prompt, "ids", &err);
    float *lg = wf_alloc(NULL, sizeof(float) * V, "logits", &err);
    for (int i = 0; i < prompt; i++) ids[i] = (int32_t)((i * 7919 + 13) % V);

    /* Prefill: one warm-up run (first-touch page faults of the cache and the
    ** activations), then the best of 3 over the whole prompt (logits of the
    ** last position): what hf_generate.py does for the peer. */
    double tp = 1e30;
    for (int r = -1; r < 3; r++) {
        wf_infer_reset(ctx);
        double t0 = wf_now();
        wf_infer_forward(ctx, ids, 1, prompt, lg, WF_LOGITS_LAST, &err);
        double t = wf_now() - t0;
        if (r >= 0 && t < tp) tp = t;
    }
    double mm_flops = 2.0 * prompt * L * (4.0 * C * C + 2.0 * C * F) + 2.0 * C * V;
    double att_flops = 2.0 * L * C * (double)prompt * (prompt + 1);
    double pre_gflops = (mm_flops + att_flops) / tp / 1e9;
    printf("prefill %4d tokens    : %.1f tok/s (%.3f s), %.1f GFLOP/s = %.1f%% of gemm peak\n", prompt,
           prompt / tp, tp, pre_gflops, 100.0 * pre_gflops / gemm);

    /* Decode: greedy, n_new steps after a 32-token prompt; best of 2. */
    double td = time_decode(ctx, ids, lg, V, n_new);
    if (td < 0) {
        fprintf(stderr, "bench_generate: %s\n", err.msg);
        return 1;
    }
    double dec = n_new / td, bound = bw * 1e9 / wbytes;
    printf("decode %d new tokens  : %.1f tok/s = %.0f%% of the bandwidth bound (%.1f GB/s effective) [weights as loaded]\n",
           n_new, dec, 100.0 * dec / bound, dec * wbytes / 1e9);
    /* The CLI's default: the matrices packed for decoding (infer.h pack). */
    wf_infer *cp;
    wf_infer_opts op = io;
    op.pack = 1;
    if (wf_infer_new(&cfg, w, &op, NULL, &cp, &err) == WF_OK) {
        double tq = time_decode(cp, ids, lg, V, n_new);
        if (tq > 0) {
            dec = n_new / tq;
            printf("decode %d new tokens  : %.1f tok/s = %.0f%% of the bandwidth bound (%.1f GB/s effective) [packed, the default]\n",
                   n_new, dec, 100.0 * dec / bound, dec * wbytes / 1e9);
        }
        wf_infer_free(cp);
    }
    /* Optional bf16 decode (not the default: logits are not HF-exact). */
    double dec16 = 0;
    if (bf16) {
        wf_infer *c16;
        wf_infer_opts o16 = io;
        o16.bf16_decode = 1;
        if (wf_infer_new(&cfg, w, &o16, NULL, &c16, &err) == WF_OK) {
            double t16 = 1e30;
            for (int r = 0; r < 2; r++) {
                wf_infer_forward(c16, ids, 1, 32, lg, WF_LOGITS_LAST, &err);
                double t0 = wf_now();
                for (int s = 0; s < n_new; s++) {
                    int32_t next = (int32_t)((s * 31 + 7) % V);
                    wf_infer_forward(c16, &next, 1, 1, lg, WF_LOGITS_LAST, &err);
                }
                double t = wf_now() - t0;
                if (t < t16) t16 = t;
                wf_infer_reset(c16);
            }
            dec16 = n_new / t16;
            printf("decode bf16 weights    : %.1f tok/s = %.0f%% of the bf16 bound %.1f tok/s (opt-in, not HF-exact)\n",
                   dec16, 100.0 * dec16 / (2 * bound), 2 * bound);
            wf_infer_free(c16);
        }
    }
    if (sweep) {
        static const int bs[] = {1, 2, 4, 7, 8, 9, 12, 16, 24, 32, 48};
        const char *cc = getenv("BENCH_CPU_CLOCK");
        printf("batched decode (one step of B sequences, median of 9, %s clock) [%s]:\n",
               cc && !strcmp(cc, "1") ? "process CPU" : "wall", wf_gemm_kernel_name());
        for (size_t q = 0; q < sizeof bs / sizeof bs[0]; q++) {
            int Bq = bs[q], steps = 9;
            wf_infer *cb;
            wf_infer_opts obt = {.max_batch = Bq, .n_ctx = 32 + steps + 1, .pack = 1}; /* as serve */
            int32_t *bid = wf_alloc(NULL, sizeof(int32_t) * (size_t)Bq * 32, "batch ids", &err);
            float *blg = wf_alloc(NULL, sizeof(float) * (size_t)Bq * V, "batch logits", &err);
            if (!bid || !blg || wf_infer_new(&cfg, w, &obt, NULL, &cb, &err)) {
                fprintf(stderr, "bench_generate: %s\n", err.msg);
                return 1;
            }
            for (int i = 0; i < Bq * 32; i++) bid[i] = (int32_t)((i * 7919 + 13) % V);
            wf_infer_forward(cb, bid, Bq, 32, blg, WF_LOGITS_LAST, &err);
            double ts[9];
            for (int s = 0; s < steps; s++) {
                for (int b = 0; b < Bq; b++) bid[b] = (int32_t)((s * 31 + b * 7 + 7) % V);
                double t0 = sweep_now();
                wf_infer_forward(cb, bid, Bq, 1, blg, WF_LOGITS_LAST, &err);
                ts[s] = sweep_now() - t0;
            }
            for (int i = 1; i < steps; i++) /* insertion sort: the median */
                for (int j = i; j > 0 && ts[j] < ts[j - 1]; j--) {
                    double x = ts[j];
                    ts[j] = ts[j - 1], ts[j - 1] = x;
                }
            printf("  B=%-3d %7.1f ms/step  %7.1f tok/s\n", Bq, ts[steps / 2] * 1e3, Bq / ts[steps / 2]);
            wf_infer_free(cb);
            wf_free(NULL, bid), wf_free(NULL, blg);
        }
    }
    if (torch_decode > 0)
        printf("pytorch+HF generate    : decode %.1f tok/s -> wafer/pytorch = %.2fx\n", torch_decode,
               dec / torch_decode);
    if (torch_prefill > 0)
        printf("pytorch prefill        : %.1f tok/s -> wafer/pytorch = %.2fx\n", torch_prefill,
               prompt / tp / torch_prefill);
    /* issue 16's goals (the earlier 70% / 60% were an older issue's) */
    printf("goals: decode >= 1.5x pytorch %s, >= 80%% of bound %s; prefill >= 80%% of peak %s\n",
           torch_decode > 0 ? (dec >= 1.5 * torch_decode ? "MET" : "MISSED") : "(no pytorch figure)",
           dec >= 0.8 * bound ? "MET" : "MISSED", pre_gflops >= 0.8 * gemm ? "MET" : "MISSED");
    wf_free(NULL, ids);
    wf_free(NULL, lg);
    wf_infer_free(ctx);
    wf_free(NULL, w);
    return 0;
}
