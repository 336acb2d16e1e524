/* test_loop_fixtures.c — the training loop and eval against PyTorch, end to
** end. wf_train_run itself runs the 10 AdamW steps of
** tests/fixtures/train/traj_*.json (oracle/train_fixtures.py): the fixture's
** batches are written into a DATA_DIR at the positions the loop's data order
** reads them from, and the loss and learning rate of every step in log.csv,
** and the loss of the final checkpoint on batch 0, must match torch's. So a
** loop that forms a batch's inputs or targets wrong, or passes the wrong step
** index to the schedule, fails here. wf_eval_loss is checked against the mean
** cross-entropy computed in this file from the committed Hugging Face logits
** (tests/fixtures/models/<m>/logits_T260.f32), and so is `wafer eval`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "datasets/shards.h"
#include "model/checkpoint.h"
#include "tests/check.h"
#include "tests/run_cmd.h"
#include "tests/train/load_json.h"
#include "train/train.h"

#define FIX "tests/fixtures/train/"
#define MODELS "tests/fixtures/models/"

static char root[] = "/tmp/wf_test_loopfixXXXXXX";

/* Writes ids[0..n) as the train split (and no validation split) of dir. */
static void write_split(const char *dir, const int32_t *ids, size_t n, int vocab) {
    wf_err e;
    WF_CHECK_EQ(wf_mkdir_p(dir, &e), WF_OK);
    wf_shard_writer *w;
    uint64_t got = 0;
    WF_CHECK_EQ(wf_shard_writer_open(dir, WF_SPLIT_TRAIN, vocab, 0, &w, &e), WF_OK);
    WF_CHECK_EQ(wf_shard_writer_append(w, ids, n, &e), WF_OK);
    WF_CHECK_EQ(wf_shard_writer_finish(w, &got, NULL, &e), WF_OK);
    WF_CHECK_EQ(got, n);
    wf_shards_meta m = {.vocab_size = vocab, .eos_id = -1, .tokens = {got, 0}, .shards = {1, 0},
                        .unigram_entropy_nats = -1};
    WF_CHECK_EQ(wf_shards_write_meta(dir, &m, &e), WF_OK);
}

/* Start positions the loop will read for micro-batches d = 0..nd-1 (it deals
** global sequence d x B + b to row b, wf_shards_seqs): found by asking
** wf_shards_seqs on a probe split of the same length whose token p is p. */
#define NTOK 200000
static int probe_positions(uint64_t seed, int nd, int B, int T, uint64_t *pos) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/probe", root);
    int32_t *ids = wf_alloc(NULL, sizeof(int32_t) * NTOK, "probe", NULL), x[4096];
    for (int i = 0; i < NTOK; i++) ids[i] = i;
    write_split(dir, ids, NTOK, NTOK);
    wf_free(NULL, ids);
    wf_shards *s;
    wf_err e;
    WF_CHECK_EQ(wf_shards_open(dir, &s, &e), WF_OK);
    int ok = 1;
    for (int d = 0; d < nd; d++) {
        WF_CHECK_EQ(wf_shards_seqs(s, WF_SPLIT_TRAIN, seed, (uint64_t)d * (uint64_t)B, B, T, x, &e), WF_OK);
        for (int b = 0; b < B; b++) pos[d * B + b] = (uint64_t)x[b * (T + 1)];
    }
    /* the windows must not overlap, or two fixture rows would fight over tokens */
    for (int i = 0; i < nd * B; i++)
        for (int k = 0; k < i; k++)
            if (pos[i] < pos[k] + (uint64_t)T + 1 && pos[k] < pos[i] + (uint64_t)T + 1) ok = 0;
    wf_shards_close(s);
    return ok;
}

static void loop_follows_torch_trajectory(const char *name) {
    char path[512];
    snprintf(path, sizeof path, FIX "traj_%s.json", name);
    cJSON *j = load_json(path);
    WF_CHECK(j != NULL);
    if (!j) return;
    int B = cJSON_GetObjectItem(j, "B")->valueint, T = cJSON_GetObjectItem(j, "T")->valueint;
    int K = cJSON_GetObjectItem(j, "accum")->valueint, steps = cJSON_GetObjectItem(j, "steps")->valueint;
    const cJSON *batches = cJSON_GetObjectItem(j, "batches"), *traj = cJSON_GetObjectItem(j, "trajectory");
    WF_CHECK(B * (T + 1) <= 4096 && steps * K * B <= 256);
    WF_CHECK_EQ(cJSON_GetArraySize(batches), steps);
    WF_CHECK_EQ(cJSON_GetArraySize(traj), steps);

    /* a seed whose windows do not overlap (the first one, in practice) */
    uint64_t pos[256], seed = 1;
    while (!probe_positions(seed, steps * K, B, T, pos) && seed < 20) seed++;
    WF_CHECK(seed < 20);
    int32_t *ids = wf_calloc(NULL, sizeof(int32_t) * NTOK, "data", NULL);
    int rows = 0;
    for (int s = 0; s < steps; s++)
        for (int k = 0; k < K; k++) {
            const cJSON *mb = cJSON_GetArrayItem(cJSON_GetArrayItem(batches, s), k);
            for (int b = 0; b < B; b++, rows++) {
                const cJSON *row = cJSON_GetArrayItem(mb, b);
                WF_CHECK_EQ(cJSON_GetArraySize(row), T + 1);
                for (int t = 0; t <= T; t++)
                    ids[pos[(s * K + k) * B + b] + (uint64_t)t] = (int32_t)cJSON_GetArrayItem(row, t)->valueint;
            }
        }
    WF_CHECK_EQ(rows, steps * K * B);
    char data[300], out[300];
    snprintf(data, sizeof data, "%s/data_%s", root, name);
    snprintf(out, sizeof out, "%s/out_%s", root, name);
    write_split(data, ids, NTOK, 512);
    wf_free(NULL, ids);

    wf_train_opts o;
    wf_train_opts_default(&o);
    char model[300];
    snprintf(model, sizeof model, MODELS "%s", name);
    o.model = model, o.data = data, o.out = out;
    o.steps = steps, o.B = B, o.T = T, o.accum = K, o.seed = seed;
    o.lr = cJSON_GetObjectItem(j, "peak_lr")->valuedouble;
    o.warmup = cJSON_GetObjectItem(j, "warmup")->valueint;
    o.end_frac = cJSON_GetObjectItem(j, "end_frac")->valuedouble;
    o.sched = strcmp(cJSON_GetObjectItem(j, "schedule")->valuestring, "cosine") == 0 ? WF_SCHED_COSINE
                                                                                        : WF_SCHED_LINEAR;
    /* torch's recipe in the fixture: AdamW 0.9/0.95/1e-8, decay 0.1 on the
    ** Conv1D weights only, clip 1.0 — wafer's defaults; checked, not assumed */
    WF_CHECK_FEQ(o.optim.beta1, (float)cJSON_GetObjectItem(j, "beta1")->valuedouble);
    WF_CHECK_FEQ(o.optim.beta2, (float)cJSON_GetObjectItem(j, "beta2")->valuedouble);
    WF_CHECK_FEQ(o.optim.eps, (float)cJSON_GetObjectItem(j, "eps")->valuedouble);
    WF_CHECK_FEQ(o.optim.weight_decay, (float)cJSON_GetObjectItem(j, "weight_decay")->valuedouble);
    WF_CHECK_FEQ(o.optim.clip, (float)cJSON_GetObjectItem(j, "clip")->valuedouble);
    WF_CHECK_EQ(o.optim.decay, WF_DECAY_MATRICES);
    wf_train_result r;
    wf_err e;
    wf_status st = wf_train_run(&o, &r, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    WF_CHECK_EQ(st, WF_OK);
    WF_CHECK_EQ(r.step, steps);

    /* log.csv: step,loss,val_loss,lr,tokens_per_s — loss printed %.6f, lr %.6e */
    snprintf(path, sizeof path, "%s/log.csv", out);
    char *csv = NULL;
    size_t n = 0;
    WF_CHECK_EQ(wf_file_read(NULL, path, &csv, &n, &e), WF_OK);
    double worst_loss = 0, worst_lr = 0;
    int seen = 0;
    char *line = csv ? strchr(csv, '\n') : NULL;
    while (line && line[1]) {
        line++;
        long step;
        double loss, lr;
        char val[64];
        if (sscanf(line, "%ld,%lf,%63[^,],%lf", &step, &loss, val, &lr) != 4 &&
            sscanf(line, "%ld,%lf,,%lf", &step, &loss, &lr) != 3) {
            WF_CHECK(0);
            break;
        }
        WF_CHECK_EQ(step, seen + 1);
        const cJSON *ts = cJSON_GetArrayItem(traj, seen);
        if (!ts) break;
        WF_CHECK_EQ(cJSON_GetObjectItem(ts, "step")->valueint, seen);
        double want_lr = cJSON_GetObjectItem(ts, "lr")->valuedouble;
        worst_loss = wf_check_max(worst_loss, fabs(loss - cJSON_GetObjectItem(ts, "loss")->valuedouble));
        worst_lr = wf_check_max(worst_lr, fabs(lr - want_lr) / want_lr);
        seen++;
        line = strchr(line, '\n');
    }
    wf_free(NULL, csv);
    WF_CHECK_EQ(seen, steps);
    /* last_loss is the loop's own double, not the printed one */
    WF_CHECK_NEAR(r.last_loss, cJSON_GetObjectItem(cJSON_GetArrayItem(traj, steps - 1), "loss")->valuedouble, 1e-5);

    /* the final checkpoint's weights: loss on batch 0 after the last step */
    wf_gpt_config cfg;
    float *w = NULL, fin = NAN;
    WF_CHECK_EQ(wf_checkpoint_load(r.checkpoint, NULL, &cfg, &w, &e), WF_OK);
    if (w) {
        wf_gpt_view wv;
        WF_CHECK_EQ(wf_gpt_view_bind(&cfg, w, &wv, &e), WF_OK);
        wf_trainer *tr;
        WF_CHECK_EQ(wf_trainer_new(&cfg, B, T, 0, NULL, &tr, &e), WF_OK);
        int32_t in[4096], tg[4096];
        const cJSON *mb = cJSON_GetArrayItem(cJSON_GetArrayItem(batches, 0), 0);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const cJSON *row = cJSON_GetArrayItem(mb, b);
                in[b * T + t] = cJSON_GetArrayItem(row, t)->valueint;
                tg[b * T + t] = cJSON_GetArrayItem(row, t + 1)->valueint;
            }
        WF_CHECK_EQ(wf_trainer_loss(tr, &wv, in, tg, &fin, &e), WF_OK);
        wf_trainer_free(tr);
        wf_gpt_view_unbind(&wv);
        wf_free(NULL, w);
    }
    double dfin = fabs(fin - cJSON_GetObjectItem(j, "final_loss_batch0")->valuedouble);
    printf("%s: wf_train_run, %d steps (accum %d, seed %llu): worst loss diff %.3g (log.csv, %%.6f), "
           "worst lr rel diff %.3g (%%.6e), final checkpoint loss diff %.3g\n",
           name, steps, K, (unsigned long long)seed, worst_loss, worst_lr, dfin);
    /* test_train.c's step-level bounds, plus the csv's print rounding (5e-7) */
    WF_CHECK(worst_loss < 1e-5);
    WF_CHECK(worst_lr < 1e-6);
    WF_CHECK(dfin < 1e-5);
    cJSON_Delete(j);
}

/* ---- eval --------------------------------------------------------------- */

typedef struct {
    const int32_t *ids;
    uint64_t n;
} mem_tokens;

static wf_status read_mem(void *ud, uint64_t pos, size_t n, int32_t *out, wf_err *err) {
    const mem_tokens *m = ud;
    if (pos + n > m->n) return WF_FAIL(err, WF_ERANGE, "memory tokens: [%llu, +%zu) past %llu",
                                       (unsigned long long)pos, n, (unsigned long long)m->n);
    memcpy(out, m->ids + pos, n * sizeof(int32_t));
    return WF_OK;
}

/* The logits of T = 260 tokens from position 0 are exactly what eval's one
** window of T+1 = 260 tokens computes (causal attention): the expected mean
** loss is -log softmax(logits[t])[ids[t+1]] over t < 259, in double here. */
static void eval_matches_fixture_logits(const char *name) {
    char path[512];
    snprintf(path, sizeof path, MODELS "%s/ids_T260.json", name);
    cJSON *j = load_json(path);
    WF_CHECK(j != NULL);
    const cJSON *a = j ? cJSON_GetObjectItem(j, "ids") : NULL;
    WF_CHECK_EQ(cJSON_GetArraySize(a), 260);
    int32_t ids[260];
    for (int i = 0; i < 260; i++) ids[i] = a ? cJSON_GetArrayItem(a, i)->valueint : 0;
    cJSON_Delete(j);
    wf_gpt_config cfg;
    float *w = NULL;
    wf_err e;
    char dir[300];
    snprintf(dir, sizeof dir, MODELS "%s", name);
    WF_CHECK_EQ(wf_checkpoint_load(dir, NULL, &cfg, &w, &e), WF_OK);
    int V = cfg.vocab_size;
    snprintf(path, sizeof path, MODELS "%s/logits_T260.f32", name);
    char *buf = NULL;
    size_t n = 0;
    WF_CHECK_EQ(wf_file_read(NULL, path, &buf, &n, &e), WF_OK);
    WF_CHECK_EQ(n, (size_t)260 * V * sizeof(float));
    if (!w || !buf || n != (size_t)260 * V * sizeof(float)) {
        wf_free(NULL, w), wf_free(NULL, buf);
        return;
    }
    const float *lg = (const float *)buf;
    double want = 0;
    for (int t = 0; t < 259; t++) {
        double mx = lg[(size_t)t * V];
        for (int v = 1; v < V; v++) mx = lg[(size_t)t * V + v] > mx ? lg[(size_t)t * V + v] : mx;
        double z = 0;
        for (int v = 0; v < V; v++) z += exp(lg[(size_t)t * V + v] - mx);
        want += -(lg[(size_t)t * V + ids[t + 1]] - mx - log(z));
    }
    want /= 259;
    mem_tokens m = {ids, 260};
    double got = NAN;
    uint64_t tokens = 0;
    /* B = 2 with one window: a partial last batch */
    for (int B = 1; B <= 2; B++) {
        WF_CHECK_EQ(wf_eval_loss(&cfg, w, read_mem, &m, 260, B, 259, 0, NULL, &got, &tokens, &e), WF_OK);
        printf("%s: eval B=%d T=259: %.7f, from HF logits %.7f, diff %.3g\n", name, B, got, want, fabs(got - want));
        WF_CHECK_NEAR(got, want, 2e-5);
        WF_CHECK_EQ(tokens, 259);
    }
    wf_free(NULL, w), wf_free(NULL, buf);
#ifdef WAFER_BIN
    /* `wafer eval` on the same 260 tokens, as the train split of a DATA_DIR */
    char data[300], cmd[1200], out[4096];
    snprintf(data, sizeof data, "%s/eval_%s", root, name);
    write_split(data, ids, 260, V);
    snprintf(cmd, sizeof cmd, "%s eval --model %s --data %s --split train --seq 259 --batch 1 2>/dev/null",
             WAFER_BIN, dir, data);
    WF_CHECK_EQ(wf_run_cmd(cmd, out, sizeof out), 0);
    double cli = NAN;
    const char *ml = strstr(out, "\"mean_loss\": ");
    if (ml) cli = strtod(ml + 13, NULL);
    printf("%s: wafer eval: %s", name, out);
    WF_CHECK_NEAR(cli, want, 2e-5); /* printed %.6f */
    WF_CHECK_HAS(out, "\"tokens\": 259}");
#endif
}

int main(void) {
    if (!mkdtemp(root)) return 1;
    loop_follows_torch_trajectory("tiny-gelu");
    loop_follows_torch_trajectory("tiny-gelu-new");
    eval_matches_fixture_logits("tiny-gelu");
    eval_matches_fixture_logits("tiny-gelu-new");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return wf_check_report();
}
