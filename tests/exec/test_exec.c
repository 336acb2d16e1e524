/* test_exec.c — the streaming executor (--mode stream) against the resident
** step on the tiny-gelu fixture: N fp32 steps with the RAM store and with the
** disk store give byte-identical model.safetensors and optimizer.bin, for
** accum 1 and 3, straight and across a stop + --resume, and the same
** validation loss (evaluated by streaming the layers); a too small
** --device-mem, a full disk during the step and a damaged store block are
** clear errors that leave the last checkpoint in force. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/exec.h"
#include "kernels/kernels.h"
#include "model/checkpoint.h"
#include "tests/check.h"
#include "tests/train/synth_data.h"

static char root[] = "/tmp/wf_test_execXXXXXX";
static char data[256];

/* 0: the 2-layer tiny-gelu fixture; 1: a 5-layer preset of the same width
** (the executor's layer slots are reused only from 3 layers on). */
static int five_layers;
static uint64_t max_shard; /* 0: the default (one file for these models) */
static int bf16;           /* --bf16: the stream carries the layers' bf16 copies */
static double sparsity = -1; /* > 0: a sparse run (dense kernels, so both modes compute alike) */

static void opts(wf_train_opts *o, const char *out, int accum) {
    wf_train_opts_default(o);
    o->model = "tests/fixtures/models/tiny-gelu";
    if (five_layers) {
        o->model = "cerebras-gpt-111m";
        o->n_layer = 5, o->n_embd = 64, o->n_head = 4, o->n_positions = 64, o->vocab_size = 512;
    }
    o->data = data;
    o->out = out;
    o->steps = 4;
    o->B = 2, o->T = 16, o->accum = accum;
    o->lr = 3e-3;
    o->warmup = 1;
    o->eval_every = 2;
    o->eval_windows = 3; /* batches of 2 windows and a tail of 1 */
    o->max_shard = max_shard;
    o->bf16 = bf16;
    if (sparsity > 0) o->sparsity = sparsity, o->sparse_kernels = WF_SPARSE_KERNELS_DENSE;
}

static char *slurp(const char *dir, const char *file, size_t *n) {
    char p[512], *buf = NULL;
    wf_err e;
    snprintf(p, sizeof p, "%s/ckpt-00000004/%s", dir, file);
    if (wf_file_read(NULL, p, &buf, n, &e)) fprintf(stderr, "%s\n", e.msg);
    return buf;
}

static int same_file(const char *d1, const char *d2, const char *file) {
    size_t n1 = 0, n2 = 0;
    char *a = slurp(d1, file, &n1), *b = slurp(d2, file, &n2);
    int same = a && b && n1 > 0 && n1 == n2 && memcmp(a, b, n1) == 0;
    wf_free(NULL, a), wf_free(NULL, b);
    return same;
}

/* One run; store: NULL resident, "" RAM store, else a disk store folder. */
static wf_status run(const char *out, int accum, const char *store, long stop_at, int resume, size_t dev,
                     wf_train_result *r, wf_err *e) {
    wf_train_opts o;
    opts(&o, out, accum);
    o.stop_at = stop_at, o.resume = resume;
    wf_exec *x = NULL;
    wf_step_hooks h;
    if (store) {
        wf_exec_opts xo = {.store_dir = store[0] ? store : NULL, .device_mem = dev};
        WF_CHECK_EQ(wf_exec_new(&xo, &x, e), WF_OK);
        wf_exec_hooks(x, &h);
        o.exec = &h;
    }
    wf_status st = wf_train_run(&o, r, e);
    wf_exec_free(x);
    return st;
}

static void stream_matches_resident(void) {
    for (int accum = 1; accum <= 3; accum += 2) {
        char ref[300], out[300], store[400];
        wf_train_result r;
        wf_err e;
        snprintf(ref, sizeof ref, "%s/resident%d%s", root, accum, five_layers ? "-5l" : "");
        WF_CHECK_EQ(run(ref, accum, NULL, 0, 0, 0, &r, &e), WF_OK);
        WF_CHECK_EQ(r.step, 4);
        double ref_loss = r.last_loss, ref_val = r.val_loss;
        WF_CHECK(ref_loss > 0 && ref_loss < 7);
        WF_CHECK(ref_val > 0 && ref_val < 7);
        for (int disk = 0; disk < 2; disk++)
            for (int split = 0; split < 2; split++) {
                snprintf(out, sizeof out, "%s/stream%d-%s-%s%s", root, accum, disk ? "disk" : "ram",
                         split ? "split" : "straight", five_layers ? "-5l" : "");
                snprintf(store, sizeof store, "%s/store", out);
                const char *s = disk ? store : "";
                if (split) {
                    WF_CHECK_EQ(run(out, accum, s, 2, 0, 0, &r, &e), WF_OK);
                    WF_CHECK_EQ(r.step, 2);
                    WF_CHECK_EQ(run(out, accum, s, 0, 1, 0, &r, &e), WF_OK);
                } else {
                    WF_CHECK_EQ(run(out, accum, s, 0, 0, 0, &r, &e), WF_OK);
                }
                WF_CHECK_EQ(r.step, 4);
                WF_CHECK(r.last_loss == ref_loss);
                WF_CHECK(r.val_loss == ref_val); /* the streamed evaluation gives the resident one's bits */
                WF_CHECK(same_file(ref, out, "model.safetensors"));
                WF_CHECK(same_file(ref, out, "optimizer.bin"));
                printf("accum %d %s %s: loss %.6f (resident %.6f)\n", accum, disk ? "disk" : "ram",
                       split ? "stop+resume" : "straight", r.last_loss, ref_loss);
            }
    }
}

/* The executor's hooks, with the optimizer pass of step 3 dying half-way:
** the disk store takes 5 writes of the pass, then the process is SIGKILLed
** (store.bin is left half-updated, nothing is cleaned up). */
static wf_step_hooks real;
static int updates;
static wf_status dying_update(void *ud, float lr, float *gn, wf_err *e) {
    if (++updates == 3) wf_store_fail_write_at(5);
    wf_status st = real.update(ud, lr, gn, e);
    if (st) raise(SIGKILL);
    return st;
}

static void sigkill_in_the_optimizer_pass(void) {
    char out[300], store[400];
    snprintf(out, sizeof out, "%s/killed", root);
    snprintf(store, sizeof store, "%s/store", out);
    fflush(NULL);
    pid_t pid = fork(); /* before this process starts OpenMP threads */
    if (pid == 0) {
        wf_train_opts o;
        wf_train_result r;
        wf_err e;
        opts(&o, out, 1);
        o.save_every = 1;
        wf_exec_opts xo = {.store_dir = store};
        wf_exec *x;
        if (wf_exec_new(&xo, &x, &e)) _exit(3);
        wf_exec_hooks(x, &real);
        wf_step_hooks h = real;
        h.update = dying_update;
        o.exec = &h;
        wf_train_run(&o, &r, &e);
        _exit(4); /* not reached: killed in step 3 */
    }
    int ws = 0;
    WF_CHECK_EQ(waitpid(pid, &ws, 0), pid);
    WF_CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    size_t n = 0;
    char p[512], *latest = NULL;
    wf_err e;
    snprintf(p, sizeof p, "%s/latest", out);
    if (wf_file_read(NULL, p, &latest, &n, &e) == WF_OK) WF_CHECK(strncmp(latest, "ckpt-00000002", 13) == 0);
    else WF_CHECK(!"no latest after the kill");
    wf_free(NULL, latest);
    wf_train_result r;
    WF_CHECK_EQ(run(out, 1, store, 0, 1, 0, &r, &e), WF_OK); /* resume over the half-updated store */
    WF_CHECK_EQ(r.step, 4);
}

static void faults_are_clear_errors(void) {
    char out[300], store[400];
    wf_train_result r;
    wf_err e;
    snprintf(out, sizeof out, "%s/small", root);
    WF_CHECK_EQ(run(out, 1, "", 0, 0, 4096, &r, &e), WF_ENOMEM);
    WF_CHECK_HAS(e.msg, "--device-mem 4096");
    /* a full disk during the step: the run fails naming the store, the
    ** checkpoint of step 2 stays in force and a resume finishes the run */
    snprintf(out, sizeof out, "%s/full", root);
    snprintf(store, sizeof store, "%s/store", out);
    WF_CHECK_EQ(run(out, 1, store, 2, 0, 0, &r, &e), WF_OK);
    wf_store_fail_write_at(40);
    wf_status st = run(out, 1, store, 0, 1, 0, &r, &e);
    wf_store_fail_write_at(-1);
    WF_CHECK_EQ(st, WF_EIO);
    WF_CHECK_HAS(e.msg, "store.bin");
    WF_CHECK_HAS(e.msg, "No space left");
    WF_CHECK_EQ(run(out, 1, store, 0, 1, 0, &r, &e), WF_OK);
    WF_CHECK_EQ(r.step, 4);
    char ref[300];
    snprintf(ref, sizeof ref, "%s/resident1", root);
    WF_CHECK(same_file(ref, out, "model.safetensors"));
}

/* Above --max-shard-size both modes write the sharded HF form, the same
** bytes; the engine loads it back to the weights of the single file. */
static void sharded_checkpoints(void) {
    char ref[300], out[300], one[300], path[400];
    wf_train_result r;
    wf_err e;
    max_shard = 100000; /* tiny-gelu: 665 KB of tensors in several shards */
    snprintf(ref, sizeof ref, "%s/sharded-resident", root);
    snprintf(out, sizeof out, "%s/sharded-stream", root);
    WF_CHECK_EQ(run(ref, 1, NULL, 0, 0, 0, &r, &e), WF_OK);
    WF_CHECK_EQ(run(out, 1, "", 2, 0, 0, &r, &e), WF_OK);
    WF_CHECK_EQ(run(out, 1, "", 0, 1, 0, &r, &e), WF_OK); /* resume reads the shards back into the store */
    max_shard = 0;
    WF_CHECK(same_file(ref, out, "model.safetensors.index.json"));
    WF_CHECK(same_file(ref, out, "optimizer.bin"));
    int n = 0, of = 0;
    for (int k = 2; k <= 99 && !of; k++) {
        snprintf(path, sizeof path, "%s/ckpt-00000004/model-00001-of-%05d.safetensors", out, k);
        if (wf_path_exists(path)) of = k;
    }
    printf("sharded checkpoint: %d shards\n", of);
    for (int k = 1; k <= of; k++) {
        char fn[64];
        snprintf(fn, sizeof fn, "model-%05d-of-%05d.safetensors", k, of);
        snprintf(path, sizeof path, "%s/ckpt-00000004/%s", out, fn);
        if (!wf_path_exists(path)) break;
        WF_CHECK(same_file(ref, out, fn));
        n++;
    }
    WF_CHECK(of >= 5);
    WF_CHECK_EQ(n, of);
    snprintf(path, sizeof path, "%s/ckpt-00000004/model.safetensors", out);
    WF_CHECK(!wf_path_exists(path));
    /* same weights as the unsharded run of the same steps */
    snprintf(one, sizeof one, "%s/resident1/ckpt-00000004", root);
    snprintf(path, sizeof path, "%s/ckpt-00000004", out);
    wf_gpt_config c1, c2;
    float *w1 = NULL, *w2 = NULL;
    WF_CHECK_EQ(wf_checkpoint_load(one, NULL, &c1, &w1, &e), WF_OK);
    WF_CHECK_EQ(wf_checkpoint_load(path, NULL, &c2, &w2, &e), WF_OK);
    WF_CHECK(w1 && w2 && memcmp(w1, w2, wf_gpt_numel(&c1) * sizeof(float)) == 0);
    wf_free(NULL, w1), wf_free(NULL, w2);
}

/* A resident run with --accum 2 (the current settings), then stream mode from
** the RAM and the disk store, each stopped at step 2 and resumed: the same
** loss and byte-identical model.safetensors and optimizer.bin. */
static void stop_resume_matches(const char *tag) {
    char ref[300], out[300], store[400];
    wf_train_result r;
    wf_err e;
    snprintf(ref, sizeof ref, "%s/%s-resident", root, tag);
    WF_CHECK_EQ(run(ref, 2, NULL, 0, 0, 0, &r, &e), WF_OK);
    double ref_loss = r.last_loss;
    WF_CHECK(ref_loss > 0 && ref_loss < 7);
    for (int disk = 0; disk < 2; disk++) {
        snprintf(out, sizeof out, "%s/%s-%s", root, tag, disk ? "disk" : "ram");
        snprintf(store, sizeof store, "%s/store", out);
        WF_CHECK_EQ(run(out, 2, disk ? store : "", 2, 0, 0, &r, &e), WF_OK);
        WF_CHECK_EQ(run(out, 2, disk ? store : "", 0, 1, 0, &r, &e), WF_OK);
        WF_CHECK(r.last_loss == ref_loss);
        WF_CHECK(same_file(ref, out, "model.safetensors"));
        WF_CHECK(same_file(ref, out, "optimizer.bin"));
        printf("%s %s stop+resume: loss %.6f (resident %.6f)\n", tag, disk ? "disk" : "ram", r.last_loss, ref_loss);
    }
}

/* --bf16: the layers travel as bf16 matrices + fp32 vectors (the HALF kind),
** and the run gives resident --bf16's bits with fewer bytes read. */
static void bf16_streams_half(void) {
    bf16 = 1;
    stop_resume_matches("bf16");
    bf16 = 0;
}

/* Store bytes read and written by one streamed step (one micro-batch and the
** update) of the tiny-gelu fixture: --bf16 when half, a sparse mask when mask. */
static void step_traffic(const wf_gpt_config *c, int half, const wf_sparse_mask *mask, uint64_t *rd, uint64_t *wr) {
    wf_trainer *tr = NULL;
    wf_optim *o = NULL;
    wf_exec *x = NULL;
    wf_ckpt_reader *ck = NULL;
    wf_step_hooks h;
    wf_optim_opts oo;
    wf_err e;
    wf_gpt_config cc;
    wf_optim_opts_default(&oo);
    wf_exec_opts xo = {0};
    *rd = *wr = 0;
    WF_CHECK_EQ(wf_trainer_new(c, 2, 16, 0, NULL, &tr, &e), WF_OK);
    WF_CHECK_EQ(wf_trainer_set_bf16(tr, half, &e), WF_OK);
    WF_CHECK_EQ(wf_optim_new_state(c, &oo, NULL, &o, &e), WF_OK);
    WF_CHECK_EQ(wf_exec_new(&xo, &x, &e), WF_OK);
    WF_CHECK_EQ(wf_checkpoint_open("tests/fixtures/models/tiny-gelu", 0, 0, NULL, &cc, &ck, &e), WF_OK);
    wf_exec_hooks(x, &h);
    WF_CHECK_EQ(h.open(h.ud, c, tr, ck, NULL, o, mask, &e), WF_OK);
    int32_t in[32], tg[32];
    for (int i = 0; i < 32; i++) in[i] = i * 7 % 512, tg[i] = (i * 7 + 1) % 512;
    uint64_t r0, w0, r1, w1;
    wf_store_traffic(wf_exec_store(x), &r0, &w0);
    float loss, gn;
    WF_CHECK_EQ(h.micro(h.ud, in, tg, 1.0f, &loss, &e), WF_OK);
    wf_store_traffic(wf_exec_store(x), &r1, &w1);
    *rd = r1 - r0; /* the micro-batch's reads: the layers streamed in */
    WF_CHECK_EQ(h.update(h.ud, 1e-3f, &gn, &e), WF_OK);
    WF_CHECK(isfinite(loss) && isfinite(gn));
    wf_store_traffic(wf_exec_store(x), &r1, &w1);
    *wr = w1 - w0; /* the step's writes: gradients out, then W, m, v */
    h.close(h.ud);
    wf_checkpoint_close(ck);
    wf_exec_free(x);
    wf_optim_free(o);
    wf_trainer_free(tr);
}

/* Bytes a streamed step moves: the HALF copies cut the layers' share of the
** reads; a sparse mask cuts the layers' reads and writes to the kept weights. */
static void fewer_bytes(void) {
    wf_gpt_config c;
    wf_err e;
    WF_CHECK_EQ(wf_checkpoint_load_config("tests/fixtures/models/tiny-gelu", &c, NULL, &e), WF_OK);
    uint64_t rd[3], wr[3];
    step_traffic(&c, 0, NULL, &rd[0], &wr[0]);
    step_traffic(&c, 1, NULL, &rd[1], &wr[1]);
    /* layers: 12 C^2 of the 12 C^2 + 13 C floats go from 4 to 2 bytes, read twice (forward, backward)
    ** except the last, which stays on the device from its forward to its backward */
    size_t layer = wf_gpt_block_numel(&c, 1), half_layer = wf_store_numel(&c, WF_STORE_HALF, 1);
    printf("bytes read by one streamed micro-batch: fp32 %llu, bf16 %llu (layer block %zu -> %zu bytes)\n",
           (unsigned long long)rd[0], (unsigned long long)rd[1], layer * 4, half_layer * 4);
    WF_CHECK(half_layer * 4 < layer * 4 * 6 / 10);
    WF_CHECK_EQ(rd[0] - rd[1], (uint64_t)(2 * c.n_layer - 1) * (layer - half_layer) * 4);
    /* sparse 0.75: each layer block moves its packed size; reads as above, writes once per kind
    ** (the gradient out, then W, m, v of the update) */
    wf_sparse_mask *m = NULL;
    WF_CHECK_EQ(wf_sparse_mask_random(&c, 0.75, WF_SPARSE_UNIFORM, 5, NULL, &m, &e), WF_OK);
    if (!m) return;
    step_traffic(&c, 0, m, &rd[2], &wr[2]);
    uint64_t saved = 0, saved_last = 0;
    for (int l = 0; l < c.n_layer; l++) {
        uint64_t d = (uint64_t)(layer - wf_sparse_packed_numel(m, l)) * 4;
        saved += d;
        if (l == c.n_layer - 1) saved_last = d;
    }
    printf("one streamed step, dense vs 75%% sparse: read %llu vs %llu, written %llu vs %llu bytes\n",
           (unsigned long long)rd[0], (unsigned long long)rd[2], (unsigned long long)wr[0], (unsigned long long)wr[2]);
    WF_CHECK(saved > 0);
    WF_CHECK_EQ(rd[0] - rd[2], 2 * saved - saved_last);
    WF_CHECK_EQ(wr[0] - wr[2], 4 * saved);
    wf_sparse_mask_free(m);
}

/* A sparse model streamed (the store holding and moving the kept weights
** only) trains to the resident sparse run's bytes, RAM and disk store, across
** a stop and --resume, with the dense kernels on both sides; and a new mask
** by magnitude from a folder is refused in stream mode (the loop holds no
** weights to prune). */
static void sparse_stream_matches_resident(void) {
    wf_train_result r;
    wf_err e;
    char out[300];
    sparsity = 0.75, five_layers = 1; /* a preset: a random mask (a folder would be pruned by magnitude, resident only) */
    stop_resume_matches("sparse");
    bf16 = 1; /* the packed layers' bf16 copies stream */
    stop_resume_matches("sparse-bf16");
    bf16 = 0;
    five_layers = 0;
    snprintf(out, sizeof out, "%s/sparse-prune", root);
    WF_CHECK_EQ(run(out, 2, "", 0, 0, 0, &r, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "pruning by magnitude needs the model in memory; make the sparse copy first (wafer prune");
    sparsity = -1;
}

int main(void) {
    wf_kernels_set_threads(2);
    WF_CHECK(mkdtemp(root) != NULL);
    snprintf(data, sizeof data, "%s/data", root);
    make_data(data, 512);
    sigkill_in_the_optimizer_pass();
    stream_matches_resident();
    char killed[300];
    snprintf(killed, sizeof killed, "%s/killed", root);
    {
        char ref[300];
        snprintf(ref, sizeof ref, "%s/resident1", root);
        WF_CHECK(same_file(ref, killed, "model.safetensors"));
        WF_CHECK(same_file(ref, killed, "optimizer.bin"));
    }
    faults_are_clear_errors();
    sharded_checkpoints();
    bf16_streams_half();
    fewer_bytes();
    sparse_stream_matches_resident();
    five_layers = 1;
    stream_matches_resident();
    five_layers = 0;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", root);
    return wf_check_report();
}
