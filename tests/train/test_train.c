/* test_train.c — the training step against PyTorch (tests/fixtures/train,
** made by oracle/train_fixtures.py): every parameter's gradient for a fixed
** batch, the loss over 10 AdamW steps with warm-up, clipping, weight decay
** and accumulation; determinism and recompute; optimizer-state files.
** Relative error of a tensor = max|g - g_ref| / max(max|g_ref|, 1e-12). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "model/checkpoint.h"
#include "tests/check.h"
#include "tests/train/load_json.h"
#include "train/train.h"

#define FIX "tests/fixtures/train/"
#define MODELS "tests/fixtures/models/"

/* Splits windows [B][T+1] (a cJSON array of arrays) into inputs/targets [B*T]. */
static void windows(const cJSON *win, int B, int T, int32_t *in, int32_t *tg) {
    for (int b = 0; b < B; b++) {
        const cJSON *row = cJSON_GetArrayItem(win, b);
        for (int t = 0; t < T; t++) {
            in[b * T + t] = cJSON_GetArrayItem(row, t)->valueint;
            tg[b * T + t] = cJSON_GetArrayItem(row, t + 1)->valueint;
        }
    }
}

typedef struct {
    wf_gpt_config cfg;
    float *w, *g;
    wf_gpt_view wv, gv;
} model;

static int model_load(model *m, const char *name) {
    wf_err e;
    char dir[256];
    snprintf(dir, sizeof dir, MODELS "%s", name);
    memset(m, 0, sizeof *m);
    if (wf_checkpoint_load(dir, NULL, &m->cfg, &m->w, &e)) {
        fprintf(stderr, "load %s: %s\n", dir, e.msg);
        return -1;
    }
    m->g = wf_calloc(NULL, wf_gpt_numel(&m->cfg) * sizeof(float), "grads", &e);
    wf_gpt_view_bind(&m->cfg, m->w, &m->wv, &e);
    wf_gpt_view_bind(&m->cfg, m->g, &m->gv, &e);
    return 0;
}

static void model_free(model *m) {
    wf_gpt_view_unbind(&m->wv);
    wf_gpt_view_unbind(&m->gv);
    wf_free(NULL, m->w);
    wf_free(NULL, m->g);
}

/* max|a - s*b| / max(max|s*b|, 1e-12); NaN when a or b holds a NaN. */
static double relerr(const float *a, const float *b, size_t n, float s) {
    double md = 0, mb = 0;
    for (size_t k = 0; k < n; k++) {
        md = wf_check_max(md, fabs((double)a[k] - (double)s * b[k]));
        mb = wf_check_max(mb, fabs((double)s * b[k]));
    }
    return md / (mb > 1e-12 ? mb : 1e-12);
}

static void gradients_match_torch(const char *name, int recompute) {
    char path[256];
    snprintf(path, sizeof path, FIX "grads_%s.json", name);
    cJSON *j = load_json(path);
    WF_CHECK(j != NULL);
    if (!j) return;
    model m;
    WF_CHECK_EQ(model_load(&m, name), 0);
    int B = cJSON_GetObjectItem(j, "B")->valueint, T = cJSON_GetObjectItem(j, "T")->valueint;
    int32_t in[4096], tg[4096];
    windows(cJSON_GetObjectItem(j, "windows"), B, T, in, tg);
    size_t numel = wf_gpt_numel(&m.cfg);
    WF_CHECK_EQ(numel, (size_t)cJSON_GetObjectItem(j, "numel")->valuedouble);
    snprintf(path, sizeof path, FIX "grads_%s.f32", name);
    char *ref;
    size_t n;
    wf_err e;
    WF_CHECK_EQ(wf_file_read(NULL, path, &ref, &n, &e), WF_OK);
    WF_CHECK_EQ(n, numel * 4);
    wf_trainer *t;
    WF_CHECK_EQ(wf_trainer_new(&m.cfg, B, T, recompute, NULL, &t, &e), WF_OK);
    float loss = 0;
    WF_CHECK_EQ(wf_trainer_step(t, &m.wv, &m.gv, in, tg, 1.0f, &loss, &e), WF_OK);
    WF_CHECK_NEAR(loss, cJSON_GetObjectItem(j, "loss")->valuedouble, 1e-5);
    const float *gr = (const float *)ref;
    double worst = 0;
    char worst_name[64] = "";
    int nt = wf_gpt_tensor_count(&m.cfg);
    for (int i = 0; i < nt; i++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(&m.cfg, i, &ti);
        double rel = relerr(m.g + ti.offset, gr + ti.offset, ti.numel, 1);
        if (!isnan(worst) && !(rel <= worst)) worst = rel, snprintf(worst_name, sizeof worst_name, "%s", ti.name);
    }
    printf("%s%s: loss %.7f (torch %.7f), worst gradient rel err %.3g in %s\n", name,
           recompute ? " (recompute)" : "", loss, cJSON_GetObjectItem(j, "loss")->valuedouble, worst, worst_name);
    WF_CHECK(worst < 1e-4);
    /* Accumulation: a second step with scale 1 doubles every gradient, up to
    ** the rounding of adding into a non-zero buffer; and recompute gives the
    ** same bits as no recompute. */
    float *g1 = wf_alloc(NULL, numel * 4, "g1", &e);
    memcpy(g1, m.g, numel * 4);
    float loss2 = 0;
    WF_CHECK_EQ(wf_trainer_step(t, &m.wv, &m.gv, in, tg, 1.0f, &loss2, &e), WF_OK);
    WF_CHECK_FEQ(loss2, loss);
    double acc = 0;
    for (int i = 0; i < nt; i++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(&m.cfg, i, &ti);
        acc = wf_check_max(acc, relerr(m.g + ti.offset, g1 + ti.offset, ti.numel, 2));
    }
    printf("%s%s: two accumulated steps vs 2 x one step: worst rel err %.3g\n", name,
           recompute ? " (recompute)" : "", acc);
    WF_CHECK(acc < 1e-5);
    wf_trainer *t2;
    memset(m.g, 0, numel * 4);
    WF_CHECK_EQ(wf_trainer_new(&m.cfg, B, T, !recompute, NULL, &t2, &e), WF_OK);
    WF_CHECK_EQ(wf_trainer_step(t2, &m.wv, &m.gv, in, tg, 1.0f, &loss2, &e), WF_OK);
    WF_CHECK_FEQ(loss2, loss);
    WF_CHECK(memcmp(m.g, g1, numel * 4) == 0);
    wf_trainer_free(t2);
    wf_free(NULL, g1);
    wf_trainer_free(t);
    wf_free(NULL, ref);
    model_free(&m);
    cJSON_Delete(j);
}

static void recompute_and_thread_count_give_the_same_bits(void) {
    model m;
    WF_CHECK_EQ(model_load(&m, "tiny-gelu"), 0);
    int B = 2, T = 33, N = B * T;
    int32_t in[66], tg[66];
    for (int i = 0; i < N; i++) in[i] = (i * 37 + 5) % 512, tg[i] = (i * 101 + 7) % 512;
    size_t numel = wf_gpt_numel(&m.cfg);
    float *g1 = wf_alloc(NULL, numel * 4, "g1", NULL);
    float loss[3];
    for (int run = 0; run < 3; run++) {
        wf_err e;
        wf_trainer *t;
        wf_kernels_set_threads(run == 1 ? 1 : 2); /* run 1: another thread count */
        memset(m.g, 0, numel * 4);
        WF_CHECK_EQ(wf_trainer_new(&m.cfg, B, T, run == 2, NULL, &t, &e), WF_OK);
        WF_CHECK_EQ(wf_trainer_step(t, &m.wv, &m.gv, in, tg, 0.5f, &loss[run], &e), WF_OK);
        if (run == 0) memcpy(g1, m.g, numel * 4);
        else WF_CHECK(memcmp(g1, m.g, numel * 4) == 0);
        wf_trainer_free(t);
    }
    WF_CHECK(loss[0] == loss[1] && loss[1] == loss[2]);
    wf_kernels_set_threads(2);
    wf_free(NULL, g1);
    model_free(&m);
}

/* Runs the step block by block as a weight-streaming executor would: a
** "device" buffer holds NaN except for the one block each call may read, so
** any read outside it poisons the result. Gradients must equal the whole
** step bit for bit. */
static void block_by_block_step_reads_only_its_block(void) {
    model m;
    WF_CHECK_EQ(model_load(&m, "tiny-gelu"), 0);
    const wf_gpt_config *c = &m.cfg;
    int B = 2, T = 24, N = B * T, L = c->n_layer;
    int32_t in[48], tg[48];
    for (int i = 0; i < N; i++) in[i] = (i * 53 + 1) % 512, tg[i] = (i * 29 + 3) % 512;
    size_t numel = wf_gpt_numel(c);
    wf_err e;
    wf_trainer *t;
    float loss1, loss2;
    WF_CHECK_EQ(wf_trainer_new(c, B, T, 0, NULL, &t, &e), WF_OK);
    WF_CHECK_EQ(wf_trainer_step(t, &m.wv, &m.gv, in, tg, 1.0f, &loss1, &e), WF_OK);
    float *dev = wf_alloc(NULL, numel * 4, "device weights", &e), *g2 = wf_calloc(NULL, numel * 4, "grads", &e);
    for (size_t i = 0; i < numel; i++) dev[i] = NAN;
    wf_gpt_view dv, gv;
    wf_gpt_view_bind(c, dev, &dv, &e);
    wf_gpt_view_bind(c, g2, &gv, &e);
#define FETCH(b) memcpy(dev + wf_gpt_block_offset(c, b), m.w + wf_gpt_block_offset(c, b), wf_gpt_block_numel(c, b) * 4)
#define EVICT(b) for (size_t k = 0; k < wf_gpt_block_numel(c, b); k++) dev[wf_gpt_block_offset(c, b) + k] = NAN
    FETCH(0);
    WF_CHECK_EQ(wf_trainer_embed_forward(t, dv.wte, dv.wpe, in, tg, &e), WF_OK);
    EVICT(0);
    for (int l = 0; l < L; l++) {
        FETCH(1 + l);
        wf_trainer_layer_forward(t, l, &dv.layers[l]);
        EVICT(1 + l);
    }
    FETCH(0);
    FETCH(L + 1);
    loss2 = wf_trainer_head(t, dv.wte, dv.lnf_w, dv.lnf_b, gv.wte, gv.lnf_w, gv.lnf_b, 1.0f);
    EVICT(0);
    EVICT(L + 1);
    for (int l = L - 1; l >= 0; l--) {
        FETCH(1 + l);
        wf_trainer_layer_backward(t, l, &dv.layers[l], &gv.layers[l]);
        EVICT(1 + l);
    }
    wf_trainer_embed_backward(t, gv.wte, gv.wpe);
#undef FETCH
#undef EVICT
    WF_CHECK(loss1 == loss2);
    WF_CHECK(memcmp(m.g, g2, numel * 4) == 0);
    wf_gpt_view_unbind(&dv);
    wf_gpt_view_unbind(&gv);
    wf_free(NULL, dev);
    wf_free(NULL, g2);
    wf_trainer_free(t);
    model_free(&m);
}

static void bad_tokens_are_reported(void) {
    model m;
    WF_CHECK_EQ(model_load(&m, "tiny-gelu"), 0);
    int32_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tg[8] = {1, 2, 3, 512, 5, 6, 7, 8};
    wf_trainer *t;
    wf_err e;
    float loss;
    WF_CHECK_EQ(wf_trainer_new(&m.cfg, 1, 8, 0, NULL, &t, &e), WF_OK);
    WF_CHECK_EQ(wf_trainer_step(t, &m.wv, &m.gv, in, tg, 1, &loss, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "target token 512 at position 3 is outside the vocabulary [0, 512)");
    wf_trainer_free(t);
    WF_CHECK_EQ(wf_trainer_new(&m.cfg, 1, 513, 0, NULL, &t, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "seq 513 exceeds the model's n_positions 512");
    /* allocation failures at every point: clean error, nothing leaked */
    wf_heap *h = wf_heap_new(0);
    for (int k = 0;; k++) {
        wf_heap_fail_at(h, k);
        wf_optim_opts oo;
        wf_optim_opts_default(&oo);
        wf_optim *o = NULL;
        wf_status st = wf_trainer_new(&m.cfg, 2, 8, 0, h, &t, &e);
        if (st == WF_OK) st = wf_optim_new(&m.cfg, &oo, h, &o, &e);
        if (st == WF_OK) {
            wf_optim_free(o);
            wf_trainer_free(t);
            WF_CHECK_EQ(wf_heap_live(h), 0);
            break;
        }
        WF_CHECK_EQ(st, WF_ENOMEM);
        wf_trainer_free(t);
        t = NULL;
        WF_CHECK_EQ(wf_heap_live(h), 0);
    }
    wf_heap_free(h);
    model_free(&m);
}

static void trajectory_matches_torch(const char *name) {
    char path[256];
    snprintf(path, sizeof path, FIX "traj_%s.json", name);
    cJSON *j = load_json(path);
    WF_CHECK(j != NULL);
    if (!j) return;
    model m;
    WF_CHECK_EQ(model_load(&m, name), 0);
    int B = cJSON_GetObjectItem(j, "B")->valueint, T = cJSON_GetObjectItem(j, "T")->valueint;
    int K = cJSON_GetObjectItem(j, "accum")->valueint, steps = cJSON_GetObjectItem(j, "steps")->valueint;
    int warmup = cJSON_GetObjectItem(j, "warmup")->valueint;
    double peak = cJSON_GetObjectItem(j, "peak_lr")->valuedouble;
    wf_sched_kind kind = strcmp(cJSON_GetObjectItem(j, "schedule")->valuestring, "cosine") == 0
                             ? WF_SCHED_COSINE : WF_SCHED_LINEAR;
    const cJSON *batches = cJSON_GetObjectItem(j, "batches"), *traj = cJSON_GetObjectItem(j, "trajectory");
    wf_err e;
    wf_trainer *t;
    wf_optim *o;
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    WF_CHECK_EQ(wf_trainer_new(&m.cfg, B, T, 0, NULL, &t, &e), WF_OK);
    WF_CHECK_EQ(wf_optim_new(&m.cfg, &oo, NULL, &o, &e), WF_OK);
    size_t numel = wf_gpt_numel(&m.cfg);
    double worst = 0, worst_norm = 0;
    int32_t in[4096], tg[4096];
    for (int s = 0; s < steps; s++) {
        memset(m.g, 0, numel * 4);
        double tot = 0;
        for (int k = 0; k < K; k++) {
            windows(cJSON_GetArrayItem(cJSON_GetArrayItem(batches, s), k), B, T, in, tg);
            float l;
            WF_CHECK_EQ(wf_trainer_step(t, &m.wv, &m.gv, in, tg, 1.0f / K, &l, &e), WF_OK);
            tot += l;
        }
        float lr = (float)wf_lr_at(kind, peak, 0.1, warmup, steps, s), gn;
        const cJSON *ts = cJSON_GetArrayItem(traj, s);
        WF_CHECK_NEAR(lr, cJSON_GetObjectItem(ts, "lr")->valuedouble, 1e-9);
        wf_optim_step(o, m.w, m.g, lr, &gn);
        double dl = fabs(tot / K - cJSON_GetObjectItem(ts, "loss")->valuedouble);
        double dn = fabs(gn - cJSON_GetObjectItem(ts, "grad_norm")->valuedouble);
        worst = wf_check_max(worst, dl);
        worst_norm = wf_check_max(worst_norm, dn);
    }
    windows(cJSON_GetArrayItem(cJSON_GetArrayItem(batches, 0), 0), B, T, in, tg);
    float fin;
    WF_CHECK_EQ(wf_trainer_loss(t, &m.wv, in, tg, &fin, &e), WF_OK);
    double dfin = fabs(fin - cJSON_GetObjectItem(j, "final_loss_batch0")->valuedouble);
    printf("%s: %d AdamW steps (accum %d): worst loss diff %.3g, grad-norm diff %.3g, final loss diff %.3g\n",
           name, steps, K, worst, worst_norm, dfin);
    WF_CHECK(worst < 1e-5);
    WF_CHECK(worst_norm < 1e-4);
    WF_CHECK(dfin < 1e-5);
    wf_optim_free(o);
    wf_trainer_free(t);
    model_free(&m);
    cJSON_Delete(j);
}

static void optimizer_state_round_trips_and_rejects_bad_files(void) {
    wf_gpt_config c;
    wf_err e;
    WF_CHECK_EQ(wf_gpt_config_load(MODELS "tiny-gelu/config.json", &c, &e), WF_OK);
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    oo.decay = WF_DECAY_ALL;
    wf_optim *o, *o2;
    WF_CHECK_EQ(wf_optim_new(&c, &oo, NULL, &o, &e), WF_OK);
    size_t n = wf_gpt_numel(&c);
    for (size_t i = 0; i < n; i++) o->m[i] = (float)i * 0.5f, o->v[i] = (float)(n - i);
    o->step = 17;
    wf_train_state s = {.step = 17, .tokens = 17 * 2 * 3 * 8, .data_pos = 17 * 2, .rng = {1, 2, 3, 4}, .seed = 7,
                        .accum = 2, .B = 3, .T = 8};
    char dir[] = "/tmp/wf_test_optXXXXXX";
    WF_CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/optimizer.bin", dir);
    WF_CHECK_EQ(wf_optstate_save(path, o, &s, &e), WF_OK);
    wf_optim_opts_default(&oo);
    WF_CHECK_EQ(wf_optim_new(&c, &oo, NULL, &o2, &e), WF_OK);
    wf_train_state s2;
    WF_CHECK_EQ(wf_optstate_load(path, o2, &s2, &e), WF_OK);
    WF_CHECK(memcmp(o->m, o2->m, n * 4) == 0 && memcmp(o->v, o2->v, n * 4) == 0);
    WF_CHECK_EQ(o2->step, 17);
    WF_CHECK_EQ(o2->opts.decay, WF_DECAY_ALL);
    WF_CHECK(memcmp(&s, &s2, sizeof s) == 0);
    /* a failed write leaves the previous file intact */
    o->step = 18;
    s.step = 18;
    for (long k = 0; k < 6; k++) {
        wf_file_fail_write_at(k);
        wf_status st = wf_optstate_save(path, o, &s, &e);
        wf_file_fail_write_at(-1);
        if (st == WF_OK) break;
        WF_CHECK_EQ(wf_optstate_load(path, o2, &s2, &e), WF_OK);
        WF_CHECK_EQ(s2.step, 17);
    }
    /* truncated, bad magic, other model */
    char *buf;
    size_t len;
    WF_CHECK_EQ(wf_file_read(NULL, path, &buf, &len, &e), WF_OK);
    char bad[128];
    snprintf(bad, sizeof bad, "%s/bad.bin", dir);
    WF_CHECK_EQ(wf_file_write_atomic(bad, buf, len - 100, &e), WF_OK);
    WF_CHECK_EQ(wf_optstate_load(bad, o2, &s2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "offset 16: file size");
    WF_CHECK_HAS(e.msg, "(truncated?)");
    buf[0] = 'X';
    WF_CHECK_EQ(wf_file_write_atomic(bad, buf, len, &e), WF_OK);
    WF_CHECK_EQ(wf_optstate_load(bad, o2, &s2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "bad.bin: offset 0: not an optimizer-state file");
    buf[0] = 'W';
    buf[8] = 9;
    WF_CHECK_EQ(wf_file_write_atomic(bad, buf, len, &e), WF_OK);
    WF_CHECK_EQ(wf_optstate_load(bad, o2, &s2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "offset 8: version 9, expected 1");
    buf[8] = 1;
    /* a corrupt step count is an error, never an assertion (section offsets from the table) */
    size_t st_off = 0, m_off = 0;
    for (int i = 0; i < 8; i++) st_off |= (size_t)(unsigned char)buf[32 + 16 + i] << (8 * i);
    for (int i = 0; i < 8; i++) m_off |= (size_t)(unsigned char)buf[32 + 64 + 16 + i] << (8 * i);
    WF_CHECK(st_off > 0 && st_off < len && m_off > 0 && m_off < len);
    buf[st_off + 7] = (char)0x80; /* step 2^63 + 17 */
    WF_CHECK_EQ(wf_file_write_atomic(bad, buf, len, &e), WF_OK);
    WF_CHECK_EQ(wf_optstate_load(bad, o2, &s2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "bad.bin: section 'state': step 9223372036854775825");
    buf[st_off + 7] = 0;
    float nan = NAN;
    memcpy(buf + m_off + 4 * 5, &nan, 4); /* m of the first tensor, wte */
    WF_CHECK_EQ(wf_file_write_atomic(bad, buf, len, &e), WF_OK);
    WF_CHECK_EQ(wf_optstate_load(bad, o2, &s2, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "bad.bin: section 'm': tensor 'wte.weight' holds NaN or Inf");
    wf_free(NULL, buf);
    wf_gpt_config c2 = c;
    c2.n_layer = 1;
    wf_optim *o3;
    WF_CHECK_EQ(wf_optim_new(&c2, &oo, NULL, &o3, &e), WF_OK);
    WF_CHECK_EQ(wf_optstate_load(path, o3, &s2, &e), WF_ESHAPE);
    WF_CHECK_HAS(e.msg, "parameters, the model has");
    wf_optim_free(o3);
    unlink(bad);
    unlink(path);
    rmdir(dir);
    wf_optim_free(o);
    wf_optim_free(o2);
}

int main(void) {
    wf_kernels_set_threads(2);
    gradients_match_torch("tiny-gelu", 0);
    gradients_match_torch("tiny-gelu", 1);
    gradients_match_torch("tiny-gelu-new", 0);
    recompute_and_thread_count_give_the_same_bits();
    block_by_block_step_reads_only_its_block();
    bad_tokens_are_reported();
    trajectory_matches_torch("tiny-gelu");
    trajectory_matches_torch("tiny-gelu-new");
    optimizer_state_round_trips_and_rejects_bad_files();
    return wf_check_report();
}
