/* bench_train.c — training tokens/s of a Cerebras-GPT preset on the CPU:
** random weights, random tokens, micro-batch B x T, full step (forward,
** backward, clip, AdamW). Prints one JSON line with the time per phase, the
** FLOPs counted as 6*N*tokens (N without wpe; wte counts as the tied head)
** plus attention 6*L*T^2*C per sequence (PaLM's 12*L*T^2*C, causal half),
** and the measured GEMM peak of the path the step uses (1024x3072x768, best
** of 10 runs before and after the steps) for MFU. forward_s covers the
** embeddings and the layers; the LM head's forward is timed with the backward.
** With --bf16 the block GEMMs run on bf16 operands (wf_trainer_set_bf16):
** "gemm" then names the bf16 kernel, and the peak is that kernel's
** (wf_gemm_bf16x on AMX tiles or vdpbf16ps, or wf_gemm_rbf16 where the
** product widens to fp32); fp32_gemm_peak_gflops and mfu_fp32 keep the fp32
** kernel's beside it.
** usage: bench_train [preset] [T] [B] [steps] [threads] [--recompute] [--bf16] */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"
#include "train/train.h"

/* BENCH_CPU_CLOCK=1: time the steps by process CPU time, not the wall clock.
** On a shared machine, with 1 thread, that counts only the cycles the step
** got (other jobs still share the caches and memory bandwidth). */
static int cpu_clock;

static double step_now(void) {
    if (!cpu_clock) return wf_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* FLOP/s of one 1024x3072x768 product, best of 10: fp32 (wf_gemm), or the
** bf16 path the trainer takes (bf16 = 1). */
static void peak_product(int bf16, int M, int N, int K, const float *a, const float *b, const uint16_t *ah,
                         const uint16_t *bh, float *c) {
    if (!bf16) wf_gemm(0, 0, M, N, K, 1, a, K, b, N, 0, c, N);
    else if (wf_gemm_bf16x_widens()) wf_gemm_rbf16(0, 0, M, N, K, a, K, b, N, 0, c, N);
    else wf_gemm_bf16x(0, 0, M, N, K, ah, K, bh, N, 0, c, N);
}
static double gemm_peak(int bf16) {
    int M = 1024, N = 3072, K = 768;
    float *a = wf_alloc(NULL, sizeof(float) * M * K, "a", NULL), *b = wf_alloc(NULL, sizeof(float) * K * N, "b", NULL),
          *c = wf_alloc(NULL, sizeof(float) * M * N, "c", NULL);
    uint16_t *ah = wf_alloc(NULL, sizeof(uint16_t) * M * K, "ah", NULL), *bh = wf_alloc(NULL, sizeof(uint16_t) * K * N, "bh", NULL);
    for (int i = 0; i < M * K; i++) a[i] = (float)(i % 7) * 0.1f;
    for (int i = 0; i < K * N; i++) b[i] = (float)(i % 5) * 0.1f;
    wf_bf16_from_f32(ah, a, (size_t)M * K);
    wf_bf16_from_f32(bh, b, (size_t)K * N);
    peak_product(bf16, M, N, K, a, b, ah, bh, c);
    double best = 0;
    for (int r = 0; r < 10; r++) {
        double t0 = wf_now();
        peak_product(bf16, M, N, K, a, b, ah, bh, c);
        double dt = wf_now() - t0, f = 2.0 * M * N * K / dt;
        if (f > best) best = f;
    }
    wf_free(NULL, a), wf_free(NULL, b), wf_free(NULL, c), wf_free(NULL, ah), wf_free(NULL, bh);
    return best;
}

int main(int argc, char **argv) {
    const char *preset = argc > 1 ? argv[1] : "cerebras-gpt-111m";
    int T = argc > 2 ? atoi(argv[2]) : 1024, B = argc > 3 ? atoi(argv[3]) : 1;
    int steps = argc > 4 ? atoi(argv[4]) : 3, threads = argc > 5 ? atoi(argv[5]) : 0;
    int recompute = 0, bf16 = 0;
    for (int i = 6; i < argc; i++) {
        if (!strcmp(argv[i], "--recompute")) recompute = 1;
        else if (!strcmp(argv[i], "--bf16")) bf16 = 1;
    }
    wf_kernels_set_threads(threads);
    wf_err e;
    if (wf_isa_init(&e)) {
        fprintf(stderr, "bench_train: %s\n", e.msg);
        return 2;
    }
    wf_gpt_config c;
    if (wf_gpt_config_preset(preset, &c, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 2;
    }
    if (T > c.n_positions) c.n_positions = T;
    size_t n = wf_gpt_numel(&c);
    float *w = wf_alloc(NULL, n * 4, "w", &e), *g = wf_alloc(NULL, n * 4, "g", &e);
    if (!w || !g) return 1;
    wf_gpt_init_random(&c, w, 1);
    wf_gpt_view wv, gv;
    wf_gpt_view_bind(&c, w, &wv, &e);
    wf_gpt_view_bind(&c, g, &gv, &e);
    wf_trainer *t;
    wf_optim *o;
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    if (wf_trainer_new(&c, B, T, recompute, NULL, &t, &e) || wf_trainer_set_bf16(t, bf16, &e) ||
        wf_optim_new(&c, &oo, NULL, &o, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    int32_t *in = wf_alloc(NULL, sizeof(int32_t) * (size_t)B * T, "in", &e), *tg = wf_alloc(NULL, sizeof(int32_t) * (size_t)B * T, "tg", &e);
    for (int i = 0; i < B * T; i++) in[i] = (i * 7919) % c.vocab_size, tg[i] = (i * 104729 + 1) % c.vocab_size;
    double peak_before = gemm_peak(bf16), peak32_before = bf16 ? gemm_peak(0) : peak_before;
    double best = 1e30, tf = 0, tb = 0, to = 0, loss = 0;
    const char *cc = getenv("BENCH_CPU_CLOCK");
    cpu_clock = cc && !strcmp(cc, "1");
    for (int s = 0; s < steps + 1; s++) { /* step 0 warms up (timed only when steps == 0) */
        memset(g, 0, n * 4);
        double t0 = step_now();
        wf_trainer_embed_forward(t, wv.wte, wv.wpe, in, tg, &e);
        for (int l = 0; l < c.n_layer; l++) wf_trainer_layer_forward(t, l, &wv.layers[l]);
        double t1 = step_now();
        loss = wf_trainer_head(t, wv.wte, wv.lnf_w, wv.lnf_b, gv.wte, gv.lnf_w, gv.lnf_b, 1.0f);
        for (int l = c.n_layer - 1; l >= 0; l--) wf_trainer_layer_backward(t, l, &wv.layers[l], &gv.layers[l]);
        wf_trainer_embed_backward(t, gv.wte, gv.wpe);
        double t2 = step_now();
        float gn;
        wf_optim_step(o, w, g, 1e-4f, &gn);
        double t3 = step_now();
        if ((s > 0 || steps == 0) && t3 - t0 < best) best = t3 - t0, tf = t1 - t0, tb = t2 - t1, to = t3 - t2;
    }
    double tokens = (double)B * T;
    double nonemb = (double)n - (double)c.n_positions * c.n_embd; /* wte counts: it is the head matmul */
    double flops = 6.0 * nonemb * tokens + 6.0 * c.n_layer * (double)T * T * c.n_embd * B;
    char cpu[64];
    double peak = gemm_peak(bf16), peak32 = bf16 ? gemm_peak(0) : peak;
    if (peak_before > peak) peak = peak_before; /* best of before and after: the machine is shared */
    if (peak32_before > peak32) peak32 = peak32_before;
    printf("{\"impl\": \"wafer\", \"model\": \"%s\", \"T\": %d, \"B\": %d, \"threads\": %d, \"recompute\": %d, \"bf16\": %d, "
           "\"step_s\": %.3f, \"forward_s\": %.3f, \"head_and_backward_s\": %.3f, \"adamw_s\": %.3f, "
           "\"tokens_per_s\": %.1f, \"loss\": %.4f, \"step_gflop\": %.1f, \"achieved_gflops\": %.1f, "
           "\"gemm_peak_gflops\": %.1f, \"mfu\": %.3f, \"fp32_gemm_peak_gflops\": %.1f, \"mfu_fp32\": %.3f, "
           "\"activation_mb\": %.1f, \"gemm\": \"%s\", "
           "\"isa\": \"%s\", \"cpu\": \"%s\", \"clock\": \"%s\"}\n",
           preset, T, B, wf_kernels_threads(), recompute, bf16, best, tf, tb, to, tokens / best, loss, flops / 1e9,
           flops / best / 1e9, peak / 1e9, flops / best / peak, peak32 / 1e9, flops / best / peak32,
           wf_trainer_bytes(t) / 1048576.0,
           bf16 ? wf_gemm_bf16x_kernel_name() : wf_gemm_kernel_name(), wf_isa_name(wf_isa_active()),
           wf_cpu_model(cpu, sizeof cpu), cpu_clock ? "process-cpu" : "wall");
    wf_trainer_free(t);
    wf_optim_free(o);
    wf_gpt_view_unbind(&wv), wf_gpt_view_unbind(&gv);
    wf_free(NULL, w), wf_free(NULL, g), wf_free(NULL, in), wf_free(NULL, tg);
    return 0;
}
