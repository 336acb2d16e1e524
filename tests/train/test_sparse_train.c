/* test_sparse_train.c — sparse training (issue 13) through train/loop.c on
** the tiny-gelu fixture: masked weights and their Adam moments stay exactly
** zero over many steps (sparse and dense kernels), resume is bit-identical in
** sparse mode (and reuses the stored kernel choice), --dense-finetune drops
** the mask, and bad masks or sparsities give one clear error. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/shards.h"
#include "model/checkpoint.h"
#include "sparse/sparse.h"
#include "tests/check.h"
#include "tests/train/synth_data.h"
#include "train/train.h"

static char root[] = "/tmp/wf_test_sparse_trainXXXXXX";
static char data[256];

static void opts(wf_train_opts *o, const char *out) {
    wf_train_opts_default(o);
    o->model = "tests/fixtures/models/tiny-gelu";
    o->data = data;
    o->out = out;
    o->steps = 6;
    o->B = 2, o->T = 16, o->accum = 2;
    o->lr = 3e-3;
    o->warmup = 2;
    o->eval_every = 0;
    o->eval_windows = 2;
}

static char *slurp(const char *dir, const char *file, size_t *n) {
    char p[512], *buf = NULL;
    wf_err e;
    snprintf(p, sizeof p, "%s/%s", dir, file);
    if (wf_file_read(NULL, p, &buf, n, &e)) fprintf(stderr, "%s\n", e.msg);
    return buf;
}

static int same_file(const char *d1, const char *d2, const char *file) {
    size_t n1 = 0, n2 = 0;
    char *a = slurp(d1, file, &n1), *b = slurp(d2, file, &n2);
    int same = a && b && n1 == n2 && memcmp(a, b, n1) == 0;
    wf_free(NULL, a), wf_free(NULL, b);
    return same;
}

/* Checks checkpoint dir: weights, m and v are zero wherever the mask is; returns kept weights that are nonzero. */
static uint64_t check_zero(const char *dir, const char *what) {
    wf_gpt_config c;
    float *w = NULL;
    wf_err e;
    wf_sparse_mask *m = NULL;
    wf_optim *o = NULL;
    char p[512];
    WF_CHECK_EQ(wf_checkpoint_load(dir, NULL, &c, &w, &e), WF_OK);
    snprintf(p, sizeof p, "%s/%s", dir, WF_SPARSE_MASK_FILE);
    WF_CHECK_EQ(wf_sparse_mask_load(p, &c, NULL, &m, &e), WF_OK);
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    WF_CHECK_EQ(wf_optim_new(&c, &oo, NULL, &o, &e), WF_OK);
    wf_train_state st;
    snprintf(p, sizeof p, "%s/optimizer.bin", dir);
    WF_CHECK_EQ(wf_optstate_load(p, o, &st, &e), WF_OK);
    uint64_t nz = 0;
    if (w && m && o) {
        WF_CHECK_EQ(wf_sparse_mask_violations(m, w), 0);
        WF_CHECK_EQ(wf_sparse_mask_violations(m, o->m), 0);
        WF_CHECK_EQ(wf_sparse_mask_violations(m, o->v), 0);
        WF_CHECK_NEAR(wf_sparse_mask_actual(m), 0.75, 1e-3);
        /* the kept weights did train: their moments are nonzero */
        for (int l = 0; l < c.n_layer; l++) {
            wf_tensor_info ti;
            wf_gpt_tensor_info(&c, 2 + WF_T_LAYER_COUNT * l + WF_T_FC_W, &ti);
            const uint64_t *b = wf_sparse_mask_bits(m, l, WF_SPARSE_FC);
            for (size_t i = 0; i < ti.numel; i++)
                nz += ((b[i / 64] >> (i % 64)) & 1) && o->v[ti.offset + i] != 0.0f;
        }
        printf("%s step %llu: masked weights, m, v all zero; %llu kept fc weights with nonzero v\n", what,
               (unsigned long long)st.step, (unsigned long long)nz);
    }
    wf_optim_free(o);
    wf_sparse_mask_free(m);
    wf_free(NULL, w);
    return nz;
}

static void masked_weights_and_moments_stay_zero_over_many_steps(void) {
    static const int kinds[2] = {WF_SPARSE_KERNELS_SPARSE, WF_SPARSE_KERNELS_DENSE};
    for (int k = 0; k < 2; k++) {
        char out[300], ck[400];
        snprintf(out, sizeof out, "%s/zero%d", root, k);
        wf_train_opts o;
        wf_train_result r;
        wf_err e = {0};
        opts(&o, out);
        o.steps = getenv("WF_TEST_QUICK") ? 12 : 40;
        o.sparsity = 0.75;
        o.sparse_kernels = kinds[k];
        o.save_every = 4;
        o.keep = 0;
        WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_OK);
        if (e.msg[0]) fprintf(stderr, "%s\n", e.msg);
        WF_CHECK(r.last_loss > 0 && r.last_loss < 6.3); /* ln(512) = 6.24 at the start */
        for (long s = 4; s <= o.steps; s += 4) {
            snprintf(ck, sizeof ck, "%s/ckpt-%08ld", out, s);
            WF_CHECK(check_zero(ck, k ? "dense kernels" : "sparse kernels") > 1000);
        }
    }
}

static void resume_is_bit_identical_in_sparse_mode(void) {
    char straight[300], split[300], a[400], b[400];
    snprintf(straight, sizeof straight, "%s/straight", root);
    snprintf(split, sizeof split, "%s/split", root);
    wf_train_opts o;
    wf_train_result r;
    wf_err e;
    opts(&o, straight);
    o.sparsity = 0.75, o.sparsity_dist = WF_SPARSE_ERK, o.sparse_kernels = WF_SPARSE_KERNELS_SPARSE;
    WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_OK);
    opts(&o, split);
    o.sparsity = 0.75, o.sparsity_dist = WF_SPARSE_ERK, o.sparse_kernels = WF_SPARSE_KERNELS_SPARSE;
    o.stop_at = 3;
    WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_OK);
    WF_CHECK_EQ(r.step, 3);
    /* resumed without --sparsity: the checkpoint's mask holds; --sparse-kernels
    ** dense is overridden by the choice stored in the mask */
    opts(&o, split);
    o.resume = 1, o.sparse_kernels = WF_SPARSE_KERNELS_DENSE;
    WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_OK);
    WF_CHECK_EQ(r.step, 6);
    snprintf(a, sizeof a, "%s/ckpt-00000006", straight);
    snprintf(b, sizeof b, "%s/ckpt-00000006", split);
    WF_CHECK(same_file(a, b, "model.safetensors"));
    WF_CHECK(same_file(a, b, "optimizer.bin"));
    WF_CHECK(same_file(a, b, WF_SPARSE_MASK_FILE));
    /* a different sparsity on resume is refused */
    opts(&o, split);
    o.resume = 1, o.steps = 8, o.sparsity = 0.5;
    WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "sparse_mask.bin holds a mask of sparsity 0.75; give the same --sparsity");
    /* dense fine-tune from the sparse checkpoint: masked weights move, no mask saved */
    char ft[300];
    snprintf(ft, sizeof ft, "%s/finetune", root);
    opts(&o, ft);
    o.model = a, o.dense_finetune = 1, o.steps = 2;
    WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_OK);
    snprintf(b, sizeof b, "%s/ckpt-00000002", ft);
    WF_CHECK(!wf_sparse_mask_in(b));
    wf_gpt_config c;
    float *w = NULL;
    wf_sparse_mask *m = NULL;
    char p[500];
    snprintf(p, sizeof p, "%s/%s", a, WF_SPARSE_MASK_FILE);
    WF_CHECK_EQ(wf_checkpoint_load(b, NULL, &c, &w, &e), WF_OK);
    WF_CHECK_EQ(wf_sparse_mask_load(p, &c, NULL, &m, &e), WF_OK);
    if (w && m) WF_CHECK(wf_sparse_mask_violations(m, w) > 10000);
    wf_sparse_mask_free(m);
    wf_free(NULL, w);
    /* fine-tuning the sparse folder without flags stays sparse */
    snprintf(ft, sizeof ft, "%s/finetune-sparse", root);
    opts(&o, ft);
    o.model = a, o.steps = 2;
    WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_OK);
    snprintf(b, sizeof b, "%s/ckpt-00000002", ft);
    WF_CHECK(wf_sparse_mask_in(b));
}

static void bad_masks_and_sparsities_are_refused(void) {
    char out[300], model[300], cmd[700], p[400];
    wf_train_opts o;
    wf_train_result r;
    wf_err e;
    snprintf(out, sizeof out, "%s/bad", root);
    opts(&o, out);
    o.sparsity = 1.0;
    WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "--sparsity 1: expected a fraction of zeros in [0, 1)");
    /* a model folder carrying a mask of another model */
    snprintf(model, sizeof model, "%s/model-other-mask", root);
    snprintf(cmd, sizeof cmd, "cp -r tests/fixtures/models/tiny-gelu %s", model);
    WF_CHECK_EQ(system(cmd), 0);
    wf_gpt_config c;
    WF_CHECK_EQ(wf_checkpoint_load_config(model, &c, NULL, &e), WF_OK);
    c.n_embd = 32, c.n_inner = 128;
    wf_sparse_mask *m;
    WF_CHECK_EQ(wf_sparse_mask_random(&c, 0.5, WF_SPARSE_UNIFORM, 1, NULL, &m, &e), WF_OK);
    snprintf(p, sizeof p, "%s/%s", model, WF_SPARSE_MASK_FILE);
    WF_CHECK_EQ(wf_sparse_mask_save(p, m, &e), WF_OK);
    wf_sparse_mask_free(m);
    opts(&o, out);
    o.model = model;
    WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_ESHAPE);
    WF_CHECK_HAS(e.msg, "model-other-mask/sparse_mask.bin: mask for a model of 2 layers, n_embd 32, n_inner 128; "
                        "this model has 2 layers, n_embd 64, n_inner 256");
    /* a damaged mask */
    WF_CHECK_EQ(wf_file_write_atomic(p, "WFMASK\0\0garbage", 15, &e), WF_OK);
    WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "sparse_mask.bin: 15 bytes, shorter than the 64-byte header");
    /* --dense-finetune ignores it */
    o.dense_finetune = 1, o.steps = 1;
    WF_CHECK_EQ(wf_train_run(&o, &r, &e), WF_OK);
}

int main(void) {
    if (!mkdtemp(root)) return 1;
    snprintf(data, sizeof data, "%s/data", root);
    make_data(data, 512);
    masked_weights_and_moments_stay_zero_over_many_steps();
    resume_is_bit_identical_in_sparse_mode();
    bad_masks_and_sparsities_are_refused();
    WF_CHECK_EQ(wf_heap_live(NULL), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd)) return 1;
    return wf_check_report();
}
