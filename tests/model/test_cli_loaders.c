/* test_cli_loaders.c — issue 17 as a user meets it on the command line:
** NaN weights give JSON null plus a warning from `score` and `eval` (never a
** bare `nan` that JSON parsers reject), and a folder holding only config.json
** is sized by `info` and trained from scratch by `train`. */
#include "model/checkpoint.h"
#include "tests/check.h"
#include "tests/run_cmd.h"
#include "tests/train/synth_data.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TINY "tests/fixtures/models/tiny-gelu"

static char tmp[] = "/tmp/wf_test_cliloadersXXXXXX";
static char out[1 << 16];

/* Runs `wafer ARGS` (printf-style; stderr merged unless ARGS ends in 2>...). */
static int run(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static int run(const char *fmt, ...) {
    char args[2048], line[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "'%s' %s", WAFER_BIN, args);
    return wf_run_cmd(line, out, sizeof out);
}

/* Runs a shell line whose stderr goes to a file; out gets that stderr. */
static int run_stderr(const char *line) {
    char cmd[2048], path[128];
    snprintf(path, sizeof path, "%s/stderr.txt", tmp);
    snprintf(cmd, sizeof cmd, "%s >/dev/null 2>%s", line, path);
    char sink[64];
    int rc = wf_run_cmd(cmd, sink, sizeof sink);
    char *text = NULL;
    size_t n = 0;
    wf_err e = {0};
    out[0] = 0;
    if (wf_file_read(NULL, path, &text, &n, &e) == WF_OK) snprintf(out, sizeof out, "%s", text);
    wf_free(NULL, text);
    return rc;
}

/* tiny-gelu with ln_f.weight[0] = NaN, saved to dir. */
static void make_nan_model(const char *dir) {
    wf_gpt_config c;
    float *w = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_checkpoint_load(TINY, NULL, &c, &w, &e), WF_OK);
    if (!w) return;
    wf_tensor_info ti;
    wf_gpt_tensor_info(&c, wf_gpt_tensor_find(&c, "ln_f.weight"), &ti);
    w[ti.offset] = NAN;
    WF_CHECK_EQ(wf_checkpoint_save(dir, &c, w, &e), WF_OK);
    wf_free(NULL, w);
}

static void nan_weights_give_json_null_and_a_warning(const char *data) {
    char dir[256], warn[512];
    snprintf(dir, sizeof dir, "%s/nan", tmp);
    make_nan_model(dir);
    snprintf(warn, sizeof warn, "warning: %s: tensor 'transformer.ln_f.weight': 1 of 64 values are NaN or Inf "
             "(first at element 0); outputs will be NaN\n", dir);

    /* score: stdout alone must parse as JSON, with null where the numbers were. */
    WF_CHECK_EQ(run("score --model %s < /dev/null 2>/dev/null", dir), 1); /* no ids */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "echo 1 2 3 4 | '%s' score --model %s 2>/dev/null", WAFER_BIN, dir);
    WF_CHECK_EQ(wf_run_cmd(cmd, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    WF_CHECK(j != NULL);
    if (j) {
        WF_CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "mean_loss")));
        cJSON *lp = cJSON_GetObjectItem(j, "logprobs");
        WF_CHECK_EQ(cJSON_GetArraySize(lp), 3);
        for (int i = 0; i < 3; i++) WF_CHECK(cJSON_IsNull(cJSON_GetArrayItem(lp, i)));
        cJSON_Delete(j);
    }
    WF_CHECK(strstr(out, "nan") == NULL);
    snprintf(cmd, sizeof cmd, "echo 1 2 3 4 | '%s' score --model %s", WAFER_BIN, dir);
    WF_CHECK_EQ(run_stderr(cmd), 0);
    char both[1024];
    snprintf(both, sizeof both, "%swarning: score: 4 values are NaN or Inf (non-finite weights or logits?), printed "
             "as null\n", warn);
    WF_CHECK_STR(out, both);

    /* eval: the same. */
    WF_CHECK_EQ(run("eval --model %s --data %s --seq 16 --max-windows 4 2>/dev/null", dir, data), 0);
    WF_CHECK_STR(out, "{\"mean_loss\": null, \"perplexity\": null, \"tokens\": 64}\n");
    j = cJSON_Parse(out);
    WF_CHECK(j != NULL);
    cJSON_Delete(j);
    snprintf(cmd, sizeof cmd, "'%s' eval --model %s --data %s --seq 16 --max-windows 4", WAFER_BIN, dir, data);
    WF_CHECK_EQ(run_stderr(cmd), 0);
    snprintf(both, sizeof both, "%swarning: eval: mean_loss nan, perplexity nan: printed as null (JSON has no NaN or "
             "Inf)\n", warn);
    WF_CHECK_STR(out, both);

    /* A finite model prints numbers, no warning. */
    WF_CHECK_EQ(run("eval --model " TINY " --data %s --seq 16 --max-windows 4", data), 0);
    WF_CHECK(strncmp(out, "{\"mean_loss\": ", 14) == 0 && strstr(out, "null") == NULL);
    WF_CHECK(strstr(out, "warning") == NULL);
}

static void config_only_folder_is_sized_and_trained_from_scratch(const char *data) {
    char dir[256], cfg[300], o[300];
    snprintf(dir, sizeof dir, "%s/new-arch", tmp);
    wf_err e = {0};
    WF_CHECK_EQ(wf_mkdir_p(dir, &e), WF_OK);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    char *text = NULL;
    size_t n = 0;
    WF_CHECK_EQ(wf_file_read(NULL, TINY "/config.json", &text, &n, &e), WF_OK);
    WF_CHECK_EQ(wf_file_write_atomic(cfg, text, n, &e), WF_OK);
    wf_free(NULL, text);

    WF_CHECK_EQ(run("info %s", dir), 0);
    WF_CHECK_HAS(out, "weights     none (config.json only: random weights when training, seed --seed)\n");
    WF_CHECK_HAS(out, "parameters  ");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "echo 1 2 | '%s' score --model %s", WAFER_BIN, dir);
    WF_CHECK_EQ(wf_run_cmd(cmd, out, sizeof out), 1);
    WF_CHECK_HAS(out, "no model weights");

    snprintf(o, sizeof o, "%s/run", tmp);
    WF_CHECK_EQ(run("train --model %s --data %s --out %s --steps 2 --batch 2 --seq 16 --seed 9", dir, data, o), 0);
    WF_CHECK_HAS(out, "wafer train: done: step 2");
    char ck[400];
    snprintf(ck, sizeof ck, "%s/ckpt-00000002", o);
    wf_gpt_config c, c0;
    float *w = NULL, *w0 = NULL;
    WF_CHECK_EQ(wf_checkpoint_load(ck, NULL, &c, &w, &e), WF_OK);
    WF_CHECK_EQ(wf_checkpoint_load_or_init(dir, 9, NULL, &c0, &w0, &e), WF_OK);
    if (w && w0) {
        /* trained from the seed-9 init, not from tiny-gelu's weights: close to it, not equal */
        WF_CHECK_EQ(c.n_embd, 64);
        double diff = 0;
        for (size_t i = 0; i < wf_gpt_numel(&c); i++) diff = fmax(diff, fabs((double)w[i] - w0[i]));
        WF_CHECK(diff > 0 && diff < 0.05);
    }
    wf_free(NULL, w);
    wf_free(NULL, w0);
}

/* Presets take --n-inner and --activation (a new architecture without writing a config.json). */
static void preset_overrides_reach_the_checkpoint(const char *data) {
    char o[300], ck[400];
    snprintf(o, sizeof o, "%s/preset-run", tmp);
    WF_CHECK_EQ(run("train --model cerebras-gpt-111m --n-layer 1 --n-embd 32 --n-head 2 --n-positions 32 "
                    "--vocab-size 512 --n-inner 48 --activation gelu_new --data %s --out %s --steps 1 --batch 1 "
                    "--seq 16", data, o), 0);
    WF_CHECK_HAS(out, "wafer train: done: step 1");
    snprintf(ck, sizeof ck, "%s/ckpt-00000001", o);
    wf_gpt_config c;
    wf_err e = {0};
    WF_CHECK_EQ(wf_checkpoint_load_config(ck, &c, NULL, &e), WF_OK);
    WF_CHECK_EQ(c.n_inner, 48);
    WF_CHECK_EQ(c.act, WF_ACT_GELU_NEW);
    WF_CHECK_EQ(c.n_embd, 32);
    WF_CHECK_EQ(run("train --model cerebras-gpt-111m --activation relu --data %s --out %s --steps 1", data, o), 2);
    WF_CHECK_STR(out, "wafer train: --activation 'relu': expected gelu or gelu_new (see 'wafer train --help')\n");
    WF_CHECK_EQ(run("train --model " TINY " --n-inner 48 --data %s --out %s/x --steps 1", data, tmp), 2);
    WF_CHECK_HAS(out, "tiny-gelu: --n-layer/--n-embd/--n-head/--n-inner/--n-positions/--vocab-size/--activation "
                      "apply to a preset, not to a model folder");
}

/* An untied config (tie_word_embeddings false) trains from config.json alone,
** and a run stopped and resumed gives the same bits as a straight run: the
** head's weights, gradients and AdamW moments all go through the checkpoint. */
static void untied_checkpoint_round_trip_through_train(const char *data) {
    char dir[256], cfg[300], a[300], b[300], ck[400];
    snprintf(dir, sizeof dir, "%s/untied", tmp);
    wf_err e = {0};
    WF_CHECK_EQ(wf_mkdir_p(dir, &e), WF_OK);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    const char *js = "{\"model_type\": \"gpt2\", \"n_layer\": 1, \"n_embd\": 32, \"n_head\": 2, \"vocab_size\": 512, "
                     "\"n_positions\": 32, \"tie_word_embeddings\": false}";
    WF_CHECK_EQ(wf_file_write_atomic(cfg, js, strlen(js), &e), WF_OK);
    WF_CHECK_EQ(run("info %s", dir), 0);
    WF_CHECK_HAS(out, "LM head untied: its own lm_head.weight)");
    snprintf(a, sizeof a, "%s/untied-a", tmp);
    snprintf(b, sizeof b, "%s/untied-b", tmp);
#define ARGS "--data %s --steps 3 --batch 2 --seq 16 --lr 1e-2 --warmup 1 -q"
    WF_CHECK_EQ(run("train --model %s --out %s " ARGS, dir, a, data), 0);
    WF_CHECK_EQ(run("train --model %s --out %s " ARGS " --stop-at 2", dir, b, data), 0);
    WF_CHECK_EQ(run("train --model %s --out %s " ARGS " --resume", dir, b, data), 0);
#undef ARGS
    wf_gpt_config ca, cb;
    float *wa = NULL, *wb = NULL, *w0 = NULL;
    snprintf(ck, sizeof ck, "%s/ckpt-00000003", a);
    WF_CHECK_EQ(wf_checkpoint_load(ck, NULL, &ca, &wa, &e), WF_OK);
    snprintf(ck, sizeof ck, "%s/ckpt-00000003", b);
    WF_CHECK_EQ(wf_checkpoint_load(ck, NULL, &cb, &wb, &e), WF_OK);
    WF_CHECK_EQ(wf_checkpoint_load_or_init(dir, 1234, NULL, &cb, &w0, &e), WF_OK);
    WF_CHECK_EQ(ca.untied_head, 1);
    if (wa && wb && w0) {
        size_t n = wf_gpt_numel(&ca), VC = (size_t)ca.vocab_size * ca.n_embd;
        WF_CHECK(memcmp(wa, wb, n * sizeof(float)) == 0);
        size_t moved = 0;
        for (size_t i = n - VC; i < n; i++) moved += wa[i] != w0[i];
        WF_CHECK(moved > 0); /* the head was trained */
        WF_CHECK(memcmp(wa, wa + n - VC, VC * sizeof(float)) != 0); /* and is not wte */
    }
    wf_free(NULL, wa);
    wf_free(NULL, wb);
    wf_free(NULL, w0);
}

int main(void) {
    WF_CHECK(mkdtemp(tmp) != NULL);
    char data[300];
    snprintf(data, sizeof data, "%s/data", tmp);
    make_data(data, 512);
    nan_weights_give_json_null_and_a_warning(data);
    config_only_folder_is_sized_and_trained_from_scratch(data);
    preset_overrides_reach_the_checkpoint(data);
    untied_checkpoint_round_trip_through_train(data);
    char rm[256];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmp);
    WF_CHECK_EQ(system(rm), 0);
    return wf_check_report();
}
