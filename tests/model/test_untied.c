/* test_untied.c — an untied LM head (HF tie_word_embeddings false, a separate
** lm_head.weight [V, C]) verified against the tied model by construction (no
** HF fixture: torch is not installed here): with lm_head = a copy of wte the
** logits and the loss are bit-identical to the tied model and the head's
** gradient plus wte's equals the tied wte gradient; perturbing one row of
** lm_head changes exactly that logit column; save -> load round-trips
** bit-exactly with HF's names; a missing lm_head is named. */
#include "model/checkpoint.h"
#include "model/infer.h"
#include "model/safetensors.h"
#include "tests/check.h"
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TINY "tests/fixtures/models/tiny-gelu"

static char tmp[] = "/tmp/wf_test_untiedXXXXXX";

/* The tied tiny-gelu model and its untied twin whose lm_head is a copy of wte. */
typedef struct {
    wf_gpt_config ct, cu;
    float *wt, *wu;
} twins;

static int twins_load(twins *m) {
    wf_err e = {0};
    memset(m, 0, sizeof *m);
    if (wf_checkpoint_load(TINY, NULL, &m->ct, &m->wt, &e)) {
        fprintf(stderr, "load: %s\n", e.msg);
        return -1;
    }
    m->cu = m->ct;
    m->cu.untied_head = 1;
    size_t nt = wf_gpt_numel(&m->ct), VC = (size_t)m->ct.vocab_size * m->ct.n_embd;
    WF_CHECK_EQ(wf_gpt_numel(&m->cu), nt + VC);
    m->wu = malloc(wf_gpt_numel(&m->cu) * sizeof(float));
    memcpy(m->wu, m->wt, nt * sizeof(float)); /* the head is the last tensor: the rest lines up */
    memcpy(m->wu + nt, m->wt, VC * sizeof(float));
    return 0;
}

static void twins_free(twins *m) {
    wf_free(NULL, m->wt);
    free(m->wu);
}

static void layout_and_config(void) {
    wf_gpt_config c;
    wf_err e = {0};
    char d[256], p[300];
    snprintf(d, sizeof d, "%s/cfg", tmp);
    WF_CHECK_EQ(wf_mkdir_p(d, &e), WF_OK);
    snprintf(p, sizeof p, "%s/config.json", d);
    const char *js = "{\"model_type\": \"gpt2\", \"n_layer\": 2, \"n_embd\": 64, \"n_head\": 4, \"vocab_size\": 512, "
                     "\"n_positions\": 32, \"tie_word_embeddings\": false}";
    WF_CHECK_EQ(wf_file_write_atomic(p, js, strlen(js), &e), WF_OK);
    WF_CHECK_EQ(wf_gpt_config_load(p, &c, &e), WF_OK);
    WF_CHECK_EQ(c.untied_head, 1);
    WF_CHECK_EQ(wf_gpt_tensor_count(&c), 5 + 12 * 2);
    int k = wf_gpt_tensor_find(&c, "lm_head.weight");
    WF_CHECK_EQ(k, 4 + 12 * 2);
    wf_tensor_info ti;
    wf_gpt_tensor_info(&c, k, &ti);
    WF_CHECK_STR(ti.name, "lm_head.weight");
    WF_CHECK_EQ(ti.shape[0], 512);
    WF_CHECK_EQ(ti.shape[1], 64);
    WF_CHECK_EQ(ti.offset + ti.numel, wf_gpt_numel(&c));
    WF_CHECK_EQ(wf_gpt_block_offset(&c, 3) + wf_gpt_block_numel(&c, 3), wf_gpt_numel(&c));
    wf_gpt_view v;
    float *w = calloc(wf_gpt_numel(&c), sizeof *w);
    WF_CHECK_EQ(wf_gpt_view_bind(&c, w, &v, &e), WF_OK);
    WF_CHECK(v.lm_head == w + ti.offset);
    wf_gpt_view_unbind(&v);
    c.untied_head = 0;
    WF_CHECK_EQ(wf_gpt_tensor_find(&c, "lm_head.weight"), -1);
    WF_CHECK_EQ(wf_gpt_view_bind(&c, w, &v, &e), WF_OK);
    WF_CHECK(v.lm_head == v.wte);
    wf_gpt_view_unbind(&v);
    free(w);
}

/* logits [T, V] of ids through a fresh context. */
static void logits_of(const wf_gpt_config *c, const float *w, const int32_t *ids, int T, float *out) {
    wf_infer *ctx = NULL;
    wf_err e = {0};
    wf_infer_opts o = {.max_batch = 1, .n_ctx = T};
    WF_CHECK_EQ(wf_infer_new(c, w, &o, NULL, &ctx, &e), WF_OK);
    if (ctx) WF_CHECK_EQ(wf_infer_forward(ctx, ids, 1, T, out, WF_LOGITS_ALL, &e), WF_OK);
    wf_infer_free(ctx);
}

static void forward_matches_tied_by_construction(void) {
    twins m;
    if (twins_load(&m)) return;
    enum { T = 7 };
    const int V = m.ct.vocab_size;
    static const int32_t ids[T] = {162, 248, 186, 380, 146, 347, 369};
    float *lt = malloc(sizeof(float) * T * V), *lu = malloc(sizeof(float) * T * V);
    logits_of(&m.ct, m.wt, ids, T, lt);
    logits_of(&m.cu, m.wu, ids, T, lu);
    WF_CHECK(memcmp(lt, lu, sizeof(float) * T * V) == 0);
    /* One head row perturbed: that logit column moves, every other stays bit-identical. */
    wf_tensor_info ti;
    wf_gpt_tensor_info(&m.cu, wf_gpt_tensor_find(&m.cu, "lm_head.weight"), &ti);
    for (int c = 0; c < m.cu.n_embd; c++) m.wu[ti.offset + 5 * (size_t)m.cu.n_embd + c] += 0.5f;
    logits_of(&m.cu, m.wu, ids, T, lu);
    int others_same = 1, col_moved = 1;
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) {
            float a = lt[t * V + v], b = lu[t * V + v];
            if (v == 5) col_moved &= fabsf(a - b) > 1e-4f;
            else others_same &= a == b;
        }
    WF_CHECK(others_same);
    WF_CHECK(col_moved);
    free(lt);
    free(lu);
    twins_free(&m);
}

static void training_step_matches_tied_by_construction(void) {
    twins m;
    if (twins_load(&m)) return;
    enum { B = 2, T = 8 };
    int32_t in[B * T], tg[B * T];
    for (int i = 0; i < B * T; i++) in[i] = (i * 37 + 11) % 512, tg[i] = (i * 53 + 7) % 512;
    wf_err e = {0};
    size_t nt = wf_gpt_numel(&m.ct), nu = wf_gpt_numel(&m.cu), VC = (size_t)m.ct.vocab_size * m.ct.n_embd;
    float *gt = calloc(nt, sizeof(float)), *gu = calloc(nu, sizeof(float));
    wf_gpt_view wvt, gvt, wvu, gvu;
    wf_gpt_view_bind(&m.ct, m.wt, &wvt, &e);
    wf_gpt_view_bind(&m.ct, gt, &gvt, &e);
    wf_gpt_view_bind(&m.cu, m.wu, &wvu, &e);
    wf_gpt_view_bind(&m.cu, gu, &gvu, &e);
    wf_trainer *tt = NULL, *tu = NULL;
    float losst = 0, lossu = 0;
    WF_CHECK_EQ(wf_trainer_new(&m.ct, B, T, 0, NULL, &tt, &e), WF_OK);
    WF_CHECK_EQ(wf_trainer_new(&m.cu, B, T, 0, NULL, &tu, &e), WF_OK);
    if (tt && tu) {
        WF_CHECK_EQ(wf_trainer_step(tt, &wvt, &gvt, in, tg, 1.0f, &losst, &e), WF_OK);
        WF_CHECK_EQ(wf_trainer_step(tu, &wvu, &gvu, in, tg, 1.0f, &lossu, &e), WF_OK);
        WF_CHECK(isfinite(losst) && losst > 0);
        WF_CHECK_EQ(memcmp(&losst, &lossu, sizeof losst), 0);
        /* Everything past the embeddings is bit-identical; wte's tied gradient = untied wte + lm_head. */
        WF_CHECK(memcmp(gt + VC, gu + VC, (nt - VC) * sizeof(float)) == 0);
        double worst = 0, scale = 0, head = 0;
        for (size_t i = 0; i < VC; i++) {
            worst = fmax(worst, fabs((double)gt[i] - ((double)gu[i] + gu[nt + i])));
            scale = fmax(scale, fabs(gt[i]));
            head = fmax(head, fabs(gu[nt + i]));
        }
        WF_CHECK(scale > 0 && head > 0);
        WF_CHECK(worst <= 1e-6 * scale);
        if (worst > 1e-6 * scale) fprintf(stderr, "  wte grad: max diff %g of %g\n", worst, scale);
        /* AdamW updates the head too (it sits in the final block). */
        wf_optim_opts oo;
        wf_optim_opts_default(&oo);
        wf_optim *opt = NULL;
        WF_CHECK_EQ(wf_optim_new(&m.cu, &oo, NULL, &opt, &e), WF_OK);
        float *before = malloc(VC * sizeof(float));
        memcpy(before, m.wu + nt, VC * sizeof(float));
        if (opt) wf_optim_step(opt, m.wu, gu, 1e-3f, NULL);
        size_t moved = 0;
        for (size_t i = 0; i < VC; i++) moved += m.wu[nt + i] != before[i];
        WF_CHECK(moved > VC / 2);
        free(before);
        wf_optim_free(opt);
    }
    wf_trainer_free(tt);
    wf_trainer_free(tu);
    wf_gpt_view_unbind(&wvt);
    wf_gpt_view_unbind(&gvt);
    wf_gpt_view_unbind(&wvu);
    wf_gpt_view_unbind(&gvu);
    free(gt);
    free(gu);
    twins_free(&m);
}

static void save_load_round_trip_and_missing_head(void) {
    twins m;
    if (twins_load(&m)) return;
    wf_err e = {0};
    char d[256];
    snprintf(d, sizeof d, "%s/saved", tmp);
    m.wu[wf_gpt_numel(&m.cu) - 1] = 3.25f; /* the head differs from wte */
    WF_CHECK_EQ(wf_checkpoint_save(d, &m.cu, m.wu, &e), WF_OK);
    wf_gpt_config c;
    float *w = NULL;
    WF_CHECK_EQ(wf_checkpoint_load(d, NULL, &c, &w, &e), WF_OK);
    WF_CHECK_EQ(c.untied_head, 1);
    WF_CHECK(w && memcmp(w, m.wu, wf_gpt_numel(&m.cu) * sizeof(float)) == 0);
    wf_free(NULL, w);
    char p[300], *text = NULL;
    size_t n = 0;
    snprintf(p, sizeof p, "%s/config.json", d);
    WF_CHECK_EQ(wf_file_read(NULL, p, &text, &n, &e), WF_OK);
    WF_CHECK_HAS(text, "\"tie_word_embeddings\":\tfalse");
    wf_free(NULL, text);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    wf_safetensors *st = NULL;
    WF_CHECK_EQ(wf_safetensors_open(p, NULL, &st, &e), WF_OK);
    if (st) {
        WF_CHECK(wf_safetensors_find(st, "lm_head.weight") >= 0); /* HF's name: no transformer. prefix */
        WF_CHECK(wf_safetensors_find(st, "transformer.wte.weight") >= 0);
    }
    wf_safetensors_close(st);
    /* A tied checkpoint under an untied config: the head is missing, and the message says why it is wanted. */
    snprintf(d, sizeof d, "%s/missing", tmp);
    WF_CHECK_EQ(wf_checkpoint_save(d, &m.ct, m.wt, &e), WF_OK);
    snprintf(p, sizeof p, "%s/config.json", d);
    WF_CHECK_EQ(wf_gpt_config_save(&m.cu, p, &e), WF_OK);
    w = (float *)1;
    WF_CHECK_EQ(wf_checkpoint_load(d, NULL, &c, &w, &e), WF_ECORRUPT);
    WF_CHECK(w == NULL);
    char want[600];
    snprintf(want, sizeof want, "%s: tensor 'lm_head.weight': missing, expected shape [512,64] in model.safetensors "
             "(config.json: tie_word_embeddings false)", d);
    WF_CHECK_STR(e.msg, want);
    twins_free(&m);
}

int main(void) {
    WF_CHECK(mkdtemp(tmp) != NULL);
    layout_and_config();
    forward_matches_tied_by_construction();
    training_step_matches_tied_by_construction();
    save_load_round_trip_and_missing_head();
    char rm[256];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmp);
    WF_CHECK_EQ(system(rm), 0);
    return wf_check_report();
}
