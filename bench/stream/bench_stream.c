/* bench_stream.c — training tokens/s of one preset, resident vs --mode stream
** (RAM store, and a disk store when a folder is given), same micro-batch, same
** threads, random tokens; and the disk store's achieved bandwidth (bytes
** moved by the store / step time). With "disk-only" after STORE_DIR only the
** disk store runs (models whose resident step does not fit in RAM: the
** disk-bound case, compared with dd by run.sh).
** B may be BxK: K micro-batches of B x T per step (8 x 1024 tokens of a
** model whose 8 x 1024 activations do not fit: 2x4).
** usage: bench_stream PRESET B[xK] T STEPS THREADS [STORE_DIR [disk-only]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "exec/exec.h"
#include "model/checkpoint.h"
#include "kernels/kernels.h"

static int K = 1; /* micro-batches per step */

static double run(const wf_gpt_config *c, int B, int T, int steps, const char *mode, const char *dir, float *w0) {
    wf_err e = {0};
    size_t n = wf_gpt_numel(c);
    int stream = strcmp(mode, "resident") != 0;
    /* streamed, the model lives in the store only: no full copy here */
    float *w = stream ? NULL : wf_alloc(NULL, n * 4, "w", &e), *g = stream ? NULL : wf_alloc(NULL, n * 4, "g", &e);
    int32_t *in = wf_alloc(NULL, sizeof(int32_t) * (size_t)B * T * 2, "tokens", &e), *tg = in + B * T;
    wf_trainer *tr;
    wf_optim *o;
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    if ((!stream && (!w || !g)) || !in || wf_trainer_new(c, B, T, 0, NULL, &tr, &e) ||
        (stream ? wf_optim_new_state : wf_optim_new)(c, &oo, NULL, &o, &e)) {
        fprintf(stderr, "bench_stream: %s\n", e.msg);
        exit(1);
    }
    if (w) memcpy(w, w0, n * 4);
    wf_rng r;
    wf_rng_seed(&r, 7);
    for (int i = 0; i < 2 * B * T; i++) in[i] = (int32_t)(wf_rng_next(&r) % (uint64_t)c->vocab_size);
    wf_gpt_view wv = {0}, gv = {0};
    if (!stream) wf_gpt_view_bind(c, w, &wv, &e), wf_gpt_view_bind(c, g, &gv, &e);
    wf_exec *x = NULL;
    wf_step_hooks h;
    if (stream) {
        wf_exec_opts xo = {.store_dir = dir};
        if (wf_exec_new(&xo, &x, &e)) exit(1);
        wf_exec_hooks(x, &h);
        wf_ckpt_reader *rd = NULL;
        if (wf_checkpoint_open_random(c, 1234, NULL, &rd, &e) || h.open(h.ud, c, tr, rd, NULL, o, NULL, &e)) {
            fprintf(stderr, "bench_stream: %s\n", e.msg);
            exit(1);
        }
        wf_checkpoint_close(rd);
    }
    double best = 1e30, loss_sum = 0;
    uint64_t rd0 = 0, wr0 = 0, rd = 0, wr = 0;
    for (int s = 0; s <= steps; s++) { /* step 0 warms up */
        if (stream) wf_store_traffic(wf_exec_store(x), &rd0, &wr0);
        double t0 = wf_now();
        float loss, gn;
        wf_status st;
        if (stream) {
            st = WF_OK;
            for (int k = 0; k < K && !st; k++) st = h.micro(h.ud, in, tg, 1.0f / (float)K, &loss, &e);
            if (!st) st = h.update(h.ud, 1e-4f, &gn, &e);
        } else {
            memset(g, 0, n * 4);
            st = WF_OK; /* the trainer adds into g */
            for (int k = 0; k < K && !st; k++) st = wf_trainer_step(tr, &wv, &gv, in, tg, 1.0f / (float)K, &loss, &e);
            wf_optim_step(o, w, g, 1e-4f, &gn);
        }
        if (st) {
            fprintf(stderr, "bench_stream: %s\n", e.msg);
            exit(1);
        }
        double dt = wf_now() - t0;
        if (s && dt < best) {
            best = dt;
            if (stream) wf_store_traffic(wf_exec_store(x), &rd, &wr), rd -= rd0, wr -= wr0;
        }
        loss_sum += loss;
    }
    printf("%-10s %-9s B %d x K %d T %4d: %8.0f tok/s (best of %d, %.2f s/step, loss %.4f)", c->name, mode, B, K, T,
           (double)B * T * K / best, steps, best, loss_sum / (steps + 1));
    if (stream)
        printf(" | store: %.2f GB read + %.2f GB written per step = %.2f GB/s", rd / 1e9, wr / 1e9,
               (double)(rd + wr) / 1e9 / best);
    printf("\n");
    if (stream) h.close(h.ud);
    wf_exec_free(x);
    if (!stream) wf_gpt_view_unbind(&wv), wf_gpt_view_unbind(&gv);
    wf_trainer_free(tr), wf_optim_free(o);
    wf_free(NULL, w), wf_free(NULL, g), wf_free(NULL, in);
    return best;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: bench_stream PRESET B T STEPS THREADS [STORE_DIR]\n");
        return 2;
    }
    wf_gpt_config c;
    wf_err e = {0};
    if (wf_gpt_config_preset(argv[1], &c, &e)) {
        fprintf(stderr, "bench_stream: %s\n", e.msg);
        return 1;
    }
    int B = atoi(argv[2]), T = atoi(argv[3]), steps = atoi(argv[4]);
    const char *x = strchr(argv[2], 'x');
    if (x) K = atoi(x + 1);
    if (B < 1 || T < 1 || K < 1 || steps < 1) {
        fprintf(stderr, "bench_stream: B[xK] '%s', T '%s', STEPS '%s': positive integers expected\n", argv[2], argv[3], argv[4]);
        return 2;
    }
    wf_kernels_set_threads(atoi(argv[5]));
    if (argc > 7 && !strcmp(argv[7], "disk-only")) { /* the stream run builds its store from a random checkpoint */
        run(&c, B, T, steps, "stream-disk", argv[6], NULL);
        return 0;
    }
    float *w0 = wf_alloc(NULL, wf_gpt_numel(&c) * 4, "w0", &e);
    if (!w0) return 1;
    wf_gpt_init_random(&c, w0, 1234);
    double r = run(&c, B, T, steps, "resident", NULL, w0);
    double s = run(&c, B, T, steps, "stream", NULL, w0);
    printf("stream (RAM store) / resident step time: %.3f\n", s / r);
    if (argc > 6) {
        double d = run(&c, B, T, steps, "stream-disk", argv[6], w0);
        printf("stream (disk store) / resident step time: %.3f\n", d / r);
    }
    wf_free(NULL, w0);
    return 0;
}
