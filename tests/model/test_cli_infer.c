/* test_cli_infer.c — the inference commands as users and scripts call them
** (the names are a contract): `wafer score` agrees with Hugging Face's logits
** fixture, `--logits` writes [T, vocab] float32, `wafer generate` is
** reproducible from its seed, `encode | decode` round-trips, and bad ids and
** bad flags give one-line errors with the documented exit codes. */
#include "model/checkpoint.h"
#include "model/params.h"
#include "model/tokenizer.h"
#include "tests/check.h"
#include "tests/run_cmd.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char out[1 << 16];
static char tmp[] = "/tmp/wf_test_cliinferXXXXXX";
#define TINY "tests/fixtures/models/tiny-gelu"

/* Runs `wafer ARGS` (printf-style) with `input` (may be NULL) on stdin, via a
** temp file so no shell feature beyond POSIX sh is needed. Output in out. */
static int run(const char *input, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int run(const char *input, const char *fmt, ...) {
    char args[2048], line[3072], in_path[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(in_path, sizeof in_path, "%s/stdin.txt", tmp);
    wf_err e = {0};
    WF_CHECK_EQ(wf_file_write_atomic(in_path, input ? input : "", input ? strlen(input) : 0, &e), WF_OK);
    /* keep a trailing stderr redirection last: "ARGS 2>/dev/null" -> "... < in 2>/dev/null" */
    char *err_redir = strstr(args, " 2>");
    if (err_redir && strchr(err_redir + 3, ' ')) err_redir = NULL;
    if (err_redir) *err_redir = 0;
    snprintf(line, sizeof line, "'%s' %s < '%s'%s", WAFER_BIN, args, in_path, err_redir ? " 2>/dev/null" : "");
    return wf_run_cmd(line, out, sizeof out);
}

static float *read_f32(const char *path, size_t *n) {
    char *buf;
    size_t len;
    wf_err e = {0};
    if (wf_file_read(NULL, path, &buf, &len, &e)) return NULL;
    *n = len / 4;
    return (float *)buf;
}

/* score on HF's 7-token fixture: logprobs and mean_loss from the reference logits. */
static void score_matches_hf_logits(void) {
    static const int ids[7] = {162, 248, 186, 380, 146, 347, 369}; /* ids_T7.json */
    const int V = 512;
    size_t n = 0;
    float *ref = read_f32(TINY "/logits_T7.f32", &n);
    WF_CHECK(ref && n == 7 * (size_t)V);
    if (!ref) return;
    char logits_path[128];
    snprintf(logits_path, sizeof logits_path, "%s/logits.f32", tmp);
    WF_CHECK_EQ(run("162 248 186 380 146 347 369\n", "score --model " TINY " --logits %s", logits_path), 0);
    {   /* --mode stream reads each layer from the folder: the same JSON */
        static char resident[sizeof out];
        snprintf(resident, sizeof resident, "%s", out);
        WF_CHECK_EQ(run("162 248 186 380 146 347 369\n", "score --model " TINY " --mode stream"), 0);
        WF_CHECK_STR(out, resident);
        WF_CHECK_EQ(run("1 2\n", "score --model 111m --mode stream"), 2);
        WF_CHECK_HAS(out, "--mode stream reads a model folder");
        WF_CHECK_EQ(run("162 248 186 380 146 347 369\n", "score --model " TINY " --logits %s", logits_path), 0);
    }
    cJSON *j = cJSON_Parse(out);
    WF_CHECK(j != NULL);
    if (j) {
        cJSON *lp = cJSON_GetObjectItem(j, "logprobs");
        WF_CHECK_EQ(cJSON_GetObjectItem(j, "n_tokens")->valueint, 7);
        WF_CHECK_EQ(cJSON_GetArraySize(lp), 6);
        double sum = 0;
        for (int i = 0; i < 6; i++) {
            double mx = -INFINITY, z = 0;
            for (int v = 0; v < V; v++) mx = fmax(mx, ref[i * V + v]);
            for (int v = 0; v < V; v++) z += exp(ref[i * V + v] - mx);
            double want = ref[i * V + ids[i + 1]] - mx - log(z);
            WF_CHECK_NEAR(cJSON_GetArrayItem(lp, i)->valuedouble, want, 1e-4);
            sum -= want;
        }
        WF_CHECK_NEAR(cJSON_GetObjectItem(j, "mean_loss")->valuedouble, sum / 6, 1e-4);
        cJSON_Delete(j);
    }
    size_t m = 0;
    float *got = read_f32(logits_path, &m);
    WF_CHECK_EQ(m, n);
    double worst = 0;
    for (size_t i = 0; got && i < n && i < m; i++) worst = wf_check_max(worst, fabs((double)got[i] - ref[i]));
    WF_CHECK_NEAR(worst, 0, 1e-4); /* fp32 logits vs HF: max abs error */
    wf_free(NULL, got);
    wf_free(NULL, ref);
}

static void score_rejects_bad_ids(void) {
    WF_CHECK_EQ(run("1 2 512\n", "score --model " TINY), 1);
    WF_CHECK_HAS(out, "wafer score: ");
    WF_CHECK_HAS(out, "512");
    WF_CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* exactly one line */
    WF_CHECK_EQ(run("1 two 3\n", "score --model " TINY), 1);
    WF_CHECK_HAS(out, "two");
    WF_CHECK_EQ(run("1 2\n", "score --model /nonexistent/model"), 1);
    WF_CHECK_HAS(out, "/nonexistent/model");
}

/* A small random model with the GPT-2 vocabulary, so generate can use data/gpt2. */
static void make_gpt2_vocab_model(char *dir, size_t cap) {
    snprintf(dir, cap, "%s/small", tmp);
    wf_gpt_config c;
    wf_err e = {0};
    WF_CHECK_EQ(wf_gpt_config_preset("111m", &c, &e), WF_OK);
    c.n_layer = 1; c.n_embd = 32; c.n_head = 2; c.n_inner = 128; c.n_positions = 64;
    float *w = calloc(wf_gpt_numel(&c), sizeof *w);
    wf_gpt_init_random(&c, w, 7);
    WF_CHECK_EQ(wf_checkpoint_save(dir, &c, w, &e), WF_OK);
    free(w);
}

static void generate_is_reproducible_from_its_seed(void) {
    static char first[sizeof out];
    char dir[128];
    make_gpt2_vocab_model(dir, sizeof dir);
#define FMT "generate --model %s --tokenizer gpt2 --prompt 'The wafer' --max-tokens 12 %s 2>/dev/null"
    WF_CHECK_EQ(run(NULL, FMT, dir, "--seed 5 --temperature 0.9 --top-k 40 --top-p 0.95"), 0);
    snprintf(first, sizeof first, "%s", out);
    WF_CHECK(strlen(first) > strlen("The wafer"));
    WF_CHECK_EQ(run(NULL, FMT, dir, "--seed 5 --temperature 0.9 --top-k 40 --top-p 0.95"), 0);
    WF_CHECK_STR(out, first);
    WF_CHECK_EQ(run(NULL, FMT, dir, "--seed 5 --temperature 0.9 --top-k 40 --top-p 0.95 --threads 1"), 0);
    WF_CHECK_STR(out, first); /* same bits on 1 and 2 threads */
    WF_CHECK_EQ(run(NULL, FMT, dir, "--seed 5 --temperature 0.9 --top-k 40 --top-p 0.95 --mode stream"), 0);
    WF_CHECK_STR(out, first); /* layers read from the folder at each step: the same text */
    WF_CHECK_EQ(run(NULL, FMT, dir, "--seed 6 --temperature 0.9 --top-k 40 --top-p 0.95"), 0);
    WF_CHECK(strcmp(out, first) != 0); /* 12 tokens from 50257: a collision would be a bug */
    WF_CHECK_EQ(run(NULL, "generate --model %s --tokenizer gpt2 --prompt x --top-p 1.5", dir), 2);
    WF_CHECK_HAS(out, "--top-p '1.5'");
    WF_CHECK_EQ(run(NULL, "generate --model %s --prompt Hello", TINY), 1); /* GPT-2's 50257 tokens, vocab 512 */
    WF_CHECK_STR(out, "wafer generate: gpt2: tokenizer has 50257 tokens but the model's vocab_size is 512, "
                      "expected 1 to 512 tokens (a tokenizer of another model?)\n");
}

/* Issue 17: a 300-token tokenizer on a 50257-token model printed nothing and
** exited 0; it is refused. A padded vocab_size (50304 for 50257) is fine. */
static void generate_refuses_a_tokenizer_of_another_model(void) {
    char dir[128], tokdir[160];
    make_gpt2_vocab_model(dir, sizeof dir);
    snprintf(tokdir, sizeof tokdir, "%s/tok300", tmp);
    static char a[43][3], b[43][3];
    const char *pa[43], *pb[43];
    for (int i = 0; i < 43; i++) { /* "aa", "ab", ... : 43 merges of two letters, 257 + 43 = 300 tokens */
        a[i][0] = (char)('a' + i / 26); b[i][0] = (char)('a' + i % 26);
        pa[i] = a[i]; pb[i] = b[i];
    }
    wf_tokenizer *t = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_tokenizer_from_merges(pa, pb, 43, &t, &e), WF_OK);
    if (!t) return;
    WF_CHECK_EQ(wf_tokenizer_vocab_size(t), 300);
    WF_CHECK_EQ(wf_tokenizer_save(t, tokdir, &e), WF_OK);
    char want[512];
    snprintf(want, sizeof want, "wafer generate: %s: tokenizer has 300 tokens but the model's vocab_size is 50257, "
             "expected 49234 to 50257 tokens (a tokenizer of another model?)\n", tokdir);
    WF_CHECK_EQ(run(NULL, "generate --model %s --tokenizer %s --prompt 'ab ab' --max-tokens 30", dir, tokdir), 1);
    WF_CHECK_STR(out, want);
    /* The rule, directly: padding up to WF_TOKENIZER_MAX_PAD ids is accepted, not one more. */
    WF_CHECK_EQ(wf_tokenizer_fits(t, 300, "t", &e), WF_OK);
    WF_CHECK_EQ(wf_tokenizer_fits(t, 300 + WF_TOKENIZER_MAX_PAD, "t", &e), WF_OK);
    WF_CHECK_EQ(wf_tokenizer_fits(t, 301 + WF_TOKENIZER_MAX_PAD, "t", &e), WF_ESHAPE);
    WF_CHECK_EQ(wf_tokenizer_fits(t, 299, "t", &e), WF_ESHAPE);
    wf_tokenizer_free(t);
}

static void encode_decode_round_trip(void) {
    WF_CHECK_EQ(run("Hello world\n", "encode --model gpt2"), 0);
    WF_CHECK_STR(out, "15496 995 198\n");
    const char *text = "こんにちは  世界 🙂\n\tx  \n";
    WF_CHECK_EQ(run(text, "encode --model gpt2"), 0);
    static char ids[sizeof out];
    snprintf(ids, sizeof ids, "%s", out);
    WF_CHECK_EQ(run(ids, "decode --model gpt2"), 0);
    WF_CHECK_STR(out, text);
    WF_CHECK_EQ(run("15496 50257\n", "decode --model gpt2"), 1);
    WF_CHECK_HAS(out, "50257");
}

/* WAFER_ISA naming no path is an error before any work (exit 2, one line);
** a lower path is accepted and reported; and unless the user chose, wafer
** runs with the short OpenMP spin (cli/main.c re-executes itself with
** GOMP_SPINCOUNT=10000), which generate's summary line reports. */
static void isa_and_omp_defaults(void) {
    char dir[128], line[1024];
    make_gpt2_vocab_model(dir, sizeof dir);
    snprintf(line, sizeof line, "WAFER_ISA=avx513 '%s' info %s", WAFER_BIN, TINY);
    WF_CHECK_EQ(wf_run_cmd(line, out, sizeof out), 2);
    WF_CHECK_STR(out, "wafer info: WAFER_ISA: 'avx513' is not a path, expected portable, avx2, avx512, "
                      "avx512bf16 or amx\n");
    const char *gen = "generate --model %s --tokenizer gpt2 --prompt x --max-tokens 2 </dev/null";
    char args[512];
    snprintf(args, sizeof args, gen, dir);
    snprintf(line, sizeof line, "env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY WAFER_ISA=portable '%s' %s", WAFER_BIN, args);
    WF_CHECK_EQ(wf_run_cmd(line, out, sizeof out), 0);
    WF_CHECK_HAS(out, "isa portable; omp-spin 10000;");
    snprintf(line, sizeof line, "env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=77 '%s' %s", WAFER_BIN, args);
    WF_CHECK_EQ(wf_run_cmd(line, out, sizeof out), 0);
    WF_CHECK_HAS(out, "omp-spin 77;");
}

int main(void) {
    WF_CHECK(mkdtemp(tmp) != NULL);
    isa_and_omp_defaults();
    score_matches_hf_logits();
    score_rejects_bad_ids();
    generate_is_reproducible_from_its_seed();
    generate_refuses_a_tokenizer_of_another_model();
    encode_decode_round_trip();
    char rm[256];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmp);
    WF_CHECK_EQ(system(rm), 0);
    return wf_check_report();
}
