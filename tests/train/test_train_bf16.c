/* test_train_bf16.c — bf16 compute in the trainer (wf_trainer_set_bf16) on a
** tiny model (2 layers x 64, 2 heads, vocabulary 512, 4 x 32 tokens):
**   - switched off again it is the fp32 path bit for bit (loss and gradient);
**   - one step's loss within 1e-3 and whole gradient within 2% (L2,
**     relative) of fp32;
**   - 50 AdamW steps on learnable sequences: both runs learn (loss falls by
**     a third) and every step's loss stays within 1% of fp32;
**   - 17 x 128 tokens: the head's products run in chunks of rows (2048 on
**     AMX, then the 128 left; 256 in fp32 and on the other bf16 paths), the
**     same bounds hold. */
#include "kernels/kernels.h"
#include "base/rng.h"
#include "tests/check.h"
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { B = 4, T = 32, STEPS = 50 };

typedef struct {
    wf_gpt_config cfg;
    size_t n;
    float *w, *g;
    wf_gpt_view wv, gv;
    wf_trainer *tr;
} rig;

static void rig_new_bt(rig *r, int bf16, int nb, int nt) {
    wf_err e;
    memset(r, 0, sizeof *r);
    WF_CHECK_EQ(wf_gpt_config_preset("cerebras-gpt-111m", &r->cfg, &e), WF_OK);
    r->cfg.n_layer = 2, r->cfg.n_embd = 64, r->cfg.n_head = 2, r->cfg.n_inner = 256;
    r->cfg.n_positions = nt, r->cfg.vocab_size = 512;
    r->n = wf_gpt_numel(&r->cfg);
    r->w = wf_alloc(NULL, r->n * sizeof(float), "w", &e);
    r->g = wf_calloc(NULL, r->n * sizeof(float), "g", &e);
    wf_gpt_init_random(&r->cfg, r->w, 5);
    wf_gpt_view_bind(&r->cfg, r->w, &r->wv, &e);
    wf_gpt_view_bind(&r->cfg, r->g, &r->gv, &e);
    WF_CHECK_EQ(wf_trainer_new(&r->cfg, nb, nt, 0, NULL, &r->tr, &e), WF_OK);
    WF_CHECK_EQ(wf_trainer_set_bf16(r->tr, bf16, &e), WF_OK);
}

static void rig_new(rig *r, int bf16) { rig_new_bt(r, bf16, B, T); }

static void rig_free(rig *r) {
    wf_trainer_free(r->tr);
    wf_gpt_view_unbind(&r->wv);
    wf_gpt_view_unbind(&r->gv);
    wf_free(NULL, r->w);
    wf_free(NULL, r->g);
}

/* Sequences a model can learn: x[t+1] = (5 x[t] + 3) mod 512 from a random start. */
static void batch(wf_rng *rng, int32_t *in, int32_t *tg) {
    for (int b = 0; b < B; b++) {
        int32_t x = (int32_t)(wf_rng_next(rng) % 512);
        for (int t = 0; t < T; t++) {
            in[b * T + t] = x;
            x = (5 * x + 3) % 512;
            tg[b * T + t] = x;
        }
    }
}

static float step(rig *r, const int32_t *in, const int32_t *tg) {
    wf_err e;
    float loss = 0;
    memset(r->g, 0, r->n * sizeof(float));
    WF_CHECK_EQ(wf_trainer_step(r->tr, &r->wv, &r->gv, in, tg, 1.0f, &loss, &e), WF_OK);
    return loss;
}

static void test_off_is_fp32(void) {
    rig a, b;
    rig_new(&a, 0);
    rig_new(&b, 1);
    wf_err e;
    WF_CHECK_EQ(wf_trainer_set_bf16(b.tr, 0, &e), WF_OK);
    int32_t in[B * T], tg[B * T];
    wf_rng rng;
    wf_rng_seed(&rng, 11);
    batch(&rng, in, tg);
    float la = step(&a, in, tg), lb = step(&b, in, tg);
    WF_CHECK(memcmp(&la, &lb, sizeof la) == 0);
    WF_CHECK(memcmp(a.g, b.g, a.n * sizeof(float)) == 0);
    rig_free(&a);
    rig_free(&b);
}

/* One step of nb x nt tokens in fp32 and in bf16: loss and gradient close. */
static void one_step(int nb, int nt, const char *what) {
    rig a, b;
    rig_new_bt(&a, 0, nb, nt);
    rig_new_bt(&b, 1, nb, nt);
    size_t n = (size_t)nb * nt;
    int32_t *in = malloc(sizeof(int32_t) * n), *tg = malloc(sizeof(int32_t) * n);
    WF_CHECK(in && tg);
    wf_rng rng;
    wf_rng_seed(&rng, 12);
    for (size_t i = 0; i < n; i++) in[i] = (int32_t)(wf_rng_next(&rng) % 512);
    for (size_t i = 0; i < n; i++) tg[i] = (5 * in[i] + 3) % 512;
    float la = step(&a, in, tg), lb = step(&b, in, tg);
    double num = 0, den = 0;
    for (size_t i = 0; i < a.n; i++) {
        double d = (double)a.g[i] - b.g[i];
        num += d * d, den += (double)a.g[i] * a.g[i];
    }
    double rel = sqrt(num / den);
    printf("%s: loss fp32 %.6f bf16 %.6f, gradient L2 rel error %.3g\n", what, la, lb, rel);
    WF_CHECK(fabs(la - lb) / la < 1e-3);
    WF_CHECK(rel < 2e-2); /* false for NaN */
    WF_CHECK(rel > 0);    /* the bf16 path really ran */
    free(in);
    free(tg);
    rig_free(&a);
    rig_free(&b);
}

static void test_one_step(void) { one_step(B, T, "one step"); }

static void test_chunked_head(void) { one_step(17, 128, "one step, 17 x 128 tokens"); }

static void test_training(void) {
    rig r[2];
    wf_optim *o[2];
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    wf_err e;
    float loss[2][STEPS];
    for (int k = 0; k < 2; k++) {
        rig_new(&r[k], k);
        WF_CHECK_EQ(wf_optim_new(&r[k].cfg, &oo, NULL, &o[k], &e), WF_OK);
        wf_rng rng;
        wf_rng_seed(&rng, 13);
        for (int s = 0; s < STEPS; s++) {
            int32_t in[B * T], tg[B * T];
            batch(&rng, in, tg);
            loss[k][s] = step(&r[k], in, tg);
            wf_optim_step(o[k], r[k].w, r[k].g, 3e-3f, NULL);
        }
    }
    double worst = 0;
    for (int s = 0; s < STEPS; s++) {
        double d = fabs((double)loss[1][s] - loss[0][s]) / loss[0][s];
        worst = wf_check_max(worst, d);
    }
    printf("training: loss fp32 %.4f -> %.4f, bf16 %.4f -> %.4f, max relative difference %.3g%%\n",
           loss[0][0], loss[0][STEPS - 1], loss[1][0], loss[1][STEPS - 1], 100 * worst);
    WF_CHECK(loss[0][STEPS - 1] < loss[0][0] * 2 / 3);
    WF_CHECK(loss[1][STEPS - 1] < loss[1][0] * 2 / 3);
    WF_CHECK(worst < 0.01);
    for (int k = 0; k < 2; k++) {
        wf_optim_free(o[k]);
        rig_free(&r[k]);
    }
}

int main(void) {
    wf_kernels_set_threads(getenv("WF_TEST_QUICK") ? 1 : 0);
    test_off_is_fp32();
    test_one_step();
    test_chunked_head();
    test_training();
    return wf_check_report();
}
