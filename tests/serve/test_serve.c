/* test_serve.c — `wafer serve` end to end on loopback: the server runs in
** this process (serve/serve.h) on a free port with the tiny fixture model and
** the bundled GPT-2 tokenizer; a small socket client checks every endpoint and
** error path, that batched decoding gives the same tokens as serial decoding,
** that echo logprobs equal `wafer score` on the same ids, and that 1,000
** malformed requests and abrupt disconnects leave it answering /health (ASan
** checks for leaks at exit). */
#include "../check.h"
#include "../http_client.h"
#include "../run_cmd.h"
#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/checkpoint.h"

/* The GPT-2 tokenizer needs a model with its 50257 ids (wf_tokenizer_fits):
** the tiny fixture's shape with vocab_size 50257 and seeded random weights,
** written to a temp folder named tiny-gelu. Chat uses the 512-id fixture. */
#define MODEL512 "tests/fixtures/models/tiny-gelu"
static char model_root[] = "/tmp/wf_test_serveXXXXXX";
static char model_dir[600];
#define MODEL model_dir

static int make_gpt2_model(void) {
    wf_gpt_config c;
    wf_err e = {0};
    if (!mkdtemp(model_root) || wf_gpt_config_load(MODEL512 "/config.json", &c, &e)) return 1;
    c.vocab_size = 50257;
    snprintf(model_dir, sizeof model_dir, "%s/tiny-gelu", model_root);
    float *w = wf_alloc(NULL, wf_gpt_numel(&c) * sizeof(float), "model", &e);
    if (!w) return 1;
    wf_gpt_init_random(&c, w, 7);
    wf_status st = wf_checkpoint_save(model_dir, &c, w, &e);
    wf_free(NULL, w);
    if (st) fprintf(stderr, "%s\n", e.msg);
    return st != WF_OK;
}
#define RESP_CAP (1 << 20)

/* One request on a fresh connection; returns the status (-1 on failure).
** out gets the (dechunked) body, hdr_out (optional) the headers. */
static int http(int port, const char *method, const char *path, const char *extra, const char *body, char *out,
                char *hdr_out) {
    int fd = wf_http_request(port, method, path, extra, body);
    if (fd < 0) return -1;
    size_t n = 0;
    ssize_t r;
    while (n < RESP_CAP - 1 && (r = recv(fd, out + n, RESP_CAP - 1 - n, 0)) > 0) n += (size_t)r;
    out[n] = 0;
    close(fd);
    return wf_http_split(out, hdr_out);
}

static char *buf, *buf2; /* global: response buffers of this test program */
static int port;

static cJSON *post(const char *path, const char *body, int want) {
    int st = http(port, "POST", path, NULL, body, buf, NULL);
    if (st != want) fprintf(stderr, "POST %s %s -> %d %s\n", path, body, st, buf);
    WF_CHECK_EQ(st, want);
    return cJSON_Parse(buf);
}

static const char *str_at(const cJSON *o, const char *a, int i, const char *b) {
    const cJSON *x = cJSON_GetArrayItem(cJSON_GetObjectItem(o, a), i);
    x = b ? cJSON_GetObjectItem(x, b) : x;
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* The text of choice i. */
static const char *text_of(const cJSON *o, int i) { return str_at(o, "choices", i, "text"); }

/* ---- error paths -------------------------------------------------------- */

static void check_error(const char *path, const char *body, int want, const char *param, const char *needle) {
    cJSON *o = post(path, body, want);
    const cJSON *e = cJSON_GetObjectItem(o, "error");
    WF_CHECK(cJSON_IsObject(e));
    WF_CHECK(cJSON_IsString(cJSON_GetObjectItem(e, "message")));
    WF_CHECK(cJSON_IsString(cJSON_GetObjectItem(e, "type")));
    if (param) WF_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "param")), param);
    if (needle) WF_CHECK_HAS(cJSON_GetStringValue(cJSON_GetObjectItem(e, "message")), needle);
    cJSON_Delete(o);
}

static void test_errors(void) {
    check_error("/v1/completions", "{\"prompt\":", 400, NULL, "request body: invalid JSON at byte 9");
    /* a NUL would cut the text after it (cJSON's strings end there): refused,
    ** as are a lone surrogate and data after the object; "\\u0000" is text */
    check_error("/v1/completions", "{\"prompt\":\"abc\\u0000def\"}", 400, NULL,
                "prompt: contains U+0000 (NUL) at byte 14 of the body, which wafer does not accept");
    check_error("/tokenize", "{\"prompt\":\"abc\\u0000def\"}", 400, NULL, "prompt: contains U+0000 (NUL)");
    check_error("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", 400, NULL,
                "content: contains U+0000 (NUL) at byte 40");
    check_error("/v1/completions", "{\"prompt\":[\"a\",\"b\\u0000\"]}", 400, NULL, "prompt: contains U+0000");
    check_error("/v1/completions", "{\"prompt\":\"\\ud800\"}", 400, NULL,
                "request body: invalid JSON string escape \\ud800 (lone surrogate) at byte 11");
    check_error("/v1/completions", "{\"prompt\":\"a\\uDC00b\"}", 400, NULL, "\\uDC00 (lone surrogate) at byte 12");
    check_error("/v1/completions", "{\"prompt\":\"\\ud800x\\udc00\"}", 400, NULL, "\\ud800 (lone surrogate)");
    cJSON *pair = post("/tokenize", "{\"prompt\":\"\\ud83d\\ude00\"}", 200); /* a pair is one character */
    WF_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(pair, "tokens")) > 0);
    cJSON_Delete(pair);
    { /* a raw NUL byte in a string (invalid JSON, and cJSON would cut the text there too) */
        static const char raw[] = "{\"prompt\":\"ab\0cd\",\"max_tokens\":1}";
        char req[256];
        int fd = wf_http_dial(port), n = snprintf(req, sizeof req, "POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
                                                  "Connection: close\r\nContent-Length: %zu\r\n\r\n", sizeof raw - 1);
        WF_CHECK(fd >= 0);
        wf_http_send_all(fd, req, (size_t)n);
        wf_http_send_all(fd, raw, sizeof raw - 1);
        size_t got = 0;
        ssize_t r;
        while (got < RESP_CAP - 1 && (r = recv(fd, buf + got, RESP_CAP - 1 - got, 0)) > 0) got += (size_t)r;
        buf[got] = 0;
        close(fd);
        WF_CHECK_HAS(buf, " 400 ");
        WF_CHECK_HAS(buf, "prompt: contains a NUL byte at byte 13");
    }
    check_error("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":1} junk", 400, NULL,
                "unexpected data after the JSON value at byte 30");
    cJSON *lit = post("/tokenize", "{\"prompt\":\"a\\\\u0000b\"}", 200);
    WF_CHECK(lit != NULL);
    cJSON_Delete(lit);
    check_error("/v1/completions", "[1,2]", 400, NULL, "not a JSON object");
    check_error("/v1/completions", "{}", 400, "prompt", "'prompt' must be");
    check_error("/v1/completions", "{\"prompt\":[]}", 400, "prompt", NULL);
    check_error("/v1/completions", "{\"prompt\":[[]]}", 400, "prompt", "empty list");
    check_error("/v1/completions", "{\"prompt\":[1,\"a\"]}", 400, "prompt", "element 1");
    check_error("/v1/completions", "{\"prompt\":[1,50257]}", 400, "prompt",
                "token id 50257 at position 1 out of range [0, 50257)");
    check_error("/v1/completions", "{\"prompt\":\"a\",\"temperature\":-1}", 400, "temperature", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"top_p\":0}", 400, "top_p", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":\"5\"}", 400, "max_tokens", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1.5}", 400, "max_tokens", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"n\":0}", 400, "n", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"logprobs\":21}", 400, "logprobs", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"stop\":[1]}", 400, "stop", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"echo\":1}", 400, "echo", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"stream\":\"yes\"}", 400, "stream", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"seed\":\"x\"}", 400, "seed", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"presence_penalty\":0.5}", 400, "presence_penalty", "not supported");
    check_error("/v1/completions", "{\"prompt\":\"a\",\"logit_bias\":{\"1\":5}}", 400, "logit_bias", NULL);
    check_error("/v1/completions", "{\"prompt\":\"a\",\"best_of\":3}", 400, "best_of", NULL);
    check_error("/v1/chat/completions", "{\"messages\":[]}", 400, "messages", NULL);
    check_error("/v1/chat/completions", "{\"messages\":[{\"role\":\"robot\",\"content\":\"a\"}]}", 400, "messages", "unknown role");
    check_error("/tokenize", "{\"prompt\":5}", 400, "prompt", NULL);
    check_error("/detokenize", "{\"tokens\":[99999999]}", 400, "tokens", "out of range");
    /* a prompt longer than the context (512) */
    char *big = malloc(8192);
    size_t k = (size_t)sprintf(big, "{\"prompt\":[");
    for (int i = 0; i < 600; i++) k += (size_t)sprintf(big + k, i ? ",%d" : "%d", i % 500);
    sprintf(big + k, "]}");
    check_error("/v1/completions", big, 400, "prompt", "600 tokens exceed the context of 512");
    free(big);
    /* wrong path / method */
    WF_CHECK_EQ(http(port, "GET", "/v1/nothing", NULL, NULL, buf, NULL), 404);
    WF_CHECK_HAS(buf, "\"type\":\"not_found_error\"");
    WF_CHECK_EQ(http(port, "GET", "/v1/completions", NULL, NULL, buf, NULL), 405);
    WF_CHECK_HAS(buf, "\"error\"");
    /* 413: over max_body (256 KiB in this test) */
    char *huge = malloc(300 * 1024);
    memset(huge, ' ', 300 * 1024 - 1);
    memcpy(huge, "{\"prompt\":\"a\"", 13);
    huge[300 * 1024 - 2] = '}';
    huge[300 * 1024 - 1] = 0;
    WF_CHECK_EQ(http(port, "POST", "/v1/completions", NULL, huge, buf, NULL), 413);
    WF_CHECK_HAS(buf, "exceeds 262144 bytes");
    free(huge);
    /* more sequences than the whole queue holds (max_queue 16 here): 400, a
    ** retry cannot help (it was 429 "retry later", forever) */
    char hdr[4096];
    WF_CHECK_EQ(http(port, "POST", "/v1/completions", NULL, "{\"prompt\":\"a\",\"n\":17,\"max_tokens\":1}", buf, hdr), 400);
    WF_CHECK_HAS(buf, "'n' x prompts = 17 sequences, more than this server's queue holds (16, its --max-queue)");
    WF_CHECK_HAS(buf, "\"param\":\"n\"");
    WF_CHECK(strstr(hdr, "Retry-After") == NULL);
}

/* ---- completions -------------------------------------------------------- */

static void test_completions(void) {
    /* greedy is deterministic, max_tokens counted, usage right */
    cJSON *a = post("/v1/completions", "{\"prompt\":\"a b c\",\"max_tokens\":8,\"temperature\":0}", 200);
    cJSON *b = post("/v1/completions", "{\"prompt\":[64,275,269],\"max_tokens\":8,\"temperature\":0}", 200);
    WF_CHECK(text_of(a, 0) && strlen(text_of(a, 0)) > 0);
    WF_CHECK_STR(text_of(a, 0), text_of(b, 0)); /* "a b c" is ids 64 275 269 */
    WF_CHECK_STR(str_at(a, "choices", 0, "finish_reason"), "length");
    WF_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "object")), "text_completion");
    WF_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "model")), "tiny-gelu");
    cJSON *u = cJSON_GetObjectItem(a, "usage");
    WF_CHECK_EQ(cJSON_GetObjectItem(u, "prompt_tokens")->valueint, 3);
    WF_CHECK_EQ(cJSON_GetObjectItem(u, "completion_tokens")->valueint, 8);
    WF_CHECK_EQ(cJSON_GetObjectItem(u, "total_tokens")->valueint, 11);
    /* same as `wafer generate` greedy on the same prompt */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt 'a b c' --max-tokens 8 --temperature 0 2>/dev/null",
             WAFER_BIN, MODEL);
    WF_CHECK_EQ(wf_run_cmd(cmd, buf2, RESP_CAP), 0);
    WF_CHECK_STR(text_of(a, 0), buf2);
    /* a stop string cuts the text before it; more than 4 stops are fine */
    char full[256], stop[8], body[512];
    snprintf(full, sizeof full, "%s", text_of(a, 0));
    if (strlen(full) >= 4) {
        memcpy(stop, full + 2, 2);
        stop[2] = 0;
        char *at = strstr(full, stop);
        snprintf(body, sizeof body,
                 "{\"prompt\":\"a b c\",\"max_tokens\":8,\"temperature\":0,\"stop\":[\"zq1\",\"zq2\",\"zq3\",\"zq4\",\"zq5\",\"%s\"]}",
                 stop);
        cJSON *s = post("/v1/completions", body, 200);
        *at = 0;
        WF_CHECK_STR(text_of(s, 0), full);
        WF_CHECK_STR(str_at(s, "choices", 0, "finish_reason"), "stop");
        cJSON_Delete(s);
    } else WF_CHECK(!"greedy text too short for the stop test");
    cJSON_Delete(a);
    cJSON_Delete(b);
    /* neutral values of unsupported options are accepted (clients send them) */
    a = post("/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1,\"presence_penalty\":0,\"frequency_penalty\":0,"
                                "\"best_of\":1,\"logit_bias\":{},\"suffix\":null,\"user\":\"u\"}", 200);
    cJSON_Delete(a);
    /* max_tokens 0: empty text, no tokens */
    a = post("/v1/completions", "{\"prompt\":\"a b\",\"max_tokens\":0}", 200);
    WF_CHECK_STR(text_of(a, 0), "");
    WF_CHECK_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "usage"), "completion_tokens")->valueint, 0);
    cJSON_Delete(a);
    /* prompt forms: list of strings, list of id lists; n choices per prompt */
    a = post("/v1/completions", "{\"prompt\":[\"a\",\"b c\"],\"max_tokens\":2,\"n\":2,\"temperature\":0}", 200);
    cJSON *ch = cJSON_GetObjectItem(a, "choices");
    WF_CHECK_EQ(cJSON_GetArraySize(ch), 4);
    for (int i = 0; i < 4; i++) WF_CHECK_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(ch, i), "index")->valueint, i);
    WF_CHECK_STR(text_of(a, 0), text_of(a, 1)); /* greedy: both choices of a prompt agree */
    WF_CHECK_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "usage"), "prompt_tokens")->valueint, 3);
    cJSON_Delete(a);
    a = post("/v1/completions", "{\"prompt\":[[1,2],[3]],\"max_tokens\":1,\"temperature\":0}", 200);
    WF_CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(a, "choices")), 2);
    cJSON_Delete(a);
    /* no seed: each request samples anew (time(NULL) and an address had
    ** repeated within a second); five of them are not all the same */
    int differ = 0;
    a = post("/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":12,\"temperature\":1}", 200);
    for (int i = 0; i < 4; i++) {
        b = post("/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":12,\"temperature\":1}", 200);
        differ += text_of(a, 0) && text_of(b, 0) && strcmp(text_of(a, 0), text_of(b, 0)) != 0;
        cJSON_Delete(b);
    }
    cJSON_Delete(a);
    WF_CHECK(differ >= 3);
    /* seed: same seed, same sample */
    a = post("/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":12,\"seed\":7,\"temperature\":1}", 200);
    b = post("/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":12,\"seed\":7,\"temperature\":1}", 200);
    WF_CHECK(text_of(a, 0) && text_of(b, 0));
    WF_CHECK_STR(text_of(a, 0), text_of(b, 0));
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* Echo logprobs against `wafer score` on the same ids (T = 300 crosses the
** 256-token prefill chunk), and the lm-evaluation-harness contract. */
static void test_echo_vs_score(void) {
    enum { T = 300 };
    int ids[T];
    unsigned x = 12345;
    for (int i = 0; i < T; i++) ids[i] = (int)((x = x * 1103515245u + 12345u) >> 16) % 512;
    char *body = malloc(8192), *idtxt = malloc(8192);
    size_t k = (size_t)sprintf(body, "{\"prompt\":[");
    size_t m = 0;
    for (int i = 0; i < T; i++) {
        k += (size_t)sprintf(body + k, i ? ",%d" : "%d", ids[i]);
        m += (size_t)sprintf(idtxt + m, "%d ", ids[i]);
    }
    sprintf(body + k, "],\"max_tokens\":1,\"temperature\":0,\"echo\":true,\"logprobs\":1}");
    cJSON *o = post("/v1/completions", body, 200);
    char cmd[8192 + 256];
    snprintf(cmd, sizeof cmd, "echo '%s' | %s score --model %s 2>/dev/null", idtxt, WAFER_BIN, MODEL);
    WF_CHECK_EQ(wf_run_cmd(cmd, buf2, RESP_CAP), 0);
    cJSON *sc = cJSON_Parse(buf2);
    const cJSON *ref = cJSON_GetObjectItem(sc, "logprobs");
    const cJSON *lp = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0), "logprobs");
    const cJSON *tl = cJSON_GetObjectItem(lp, "token_logprobs");
    const cJSON *top = cJSON_GetObjectItem(lp, "top_logprobs");
    WF_CHECK_EQ(cJSON_GetArraySize(ref), T - 1);
    WF_CHECK_EQ(cJSON_GetArraySize(tl), T + 1); /* T prompt entries + the generated one */
    WF_CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(lp, "tokens")), T + 1);
    WF_CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(lp, "text_offset")), T + 1);
    WF_CHECK(cJSON_IsNull(cJSON_GetArrayItem(tl, 0)));
    WF_CHECK(cJSON_IsNull(cJSON_GetArrayItem(top, 0)));
    double maxdiff = 0;
    int bad_top = 0;
    for (int i = 1; i < T && cJSON_GetArraySize(ref) == T - 1; i++) {
        const cJSON *v = cJSON_GetArrayItem(tl, i);
        double d = cJSON_IsNumber(v) ? fabs(v->valuedouble - cJSON_GetArrayItem(ref, i - 1)->valuedouble) : 1e9;
        if (d > maxdiff) maxdiff = d;
        /* lm-eval's greedy check: the chosen token's logprob vs the top values */
        double best = -1e30;
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetArrayItem(top, i)) if (e->valuedouble > best) best = e->valuedouble;
        bad_top += !(best >= v->valuedouble) || cJSON_GetArraySize(cJSON_GetArrayItem(top, i)) < 1;
    }
    printf("echo vs score: max |diff| %.3g over %d tokens\n", maxdiff, T - 1);
    WF_CHECK(maxdiff <= 1e-5);
    WF_CHECK_EQ(bad_top, 0);
    cJSON_Delete(sc);
    cJSON_Delete(o);
    /* max_tokens 0 + echo: exactly the prompt entries; text = the prompt's text */
    sprintf(body, "{\"prompt\":\"a b c\",\"max_tokens\":0,\"echo\":true,\"logprobs\":0}");
    o = post("/v1/completions", body, 200);
    WF_CHECK_STR(text_of(o, 0), "a b c");
    lp = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0), "logprobs");
    WF_CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(lp, "token_logprobs")), 3);
    WF_CHECK_STR(str_at(lp, "tokens", 1, NULL), " b");
    WF_CHECK_EQ(cJSON_GetArrayItem(cJSON_GetObjectItem(lp, "text_offset"), 2)->valueint, 3);
    cJSON_Delete(o);
    free(body);
    free(idtxt);
}

/* Continuous batching: concurrent greedy requests give the same tokens and
** logprobs (to 1e-5: each row's math is the same, only GEMM blocking may
** differ) as each alone. The logprobs matter: the random fixture model's
** greedy text hardly depends on the context, its logprobs do. */
typedef struct {
    char body[512];
    char text[16384];
    double lp[512];
    int n_lp, status;
} job_t;

static void *run_job(void *arg) {
    job_t *j = arg;
    char *b = malloc(RESP_CAP);
    j->status = http(port, "POST", "/v1/completions", NULL, j->body, b, NULL);
    cJSON *o = cJSON_Parse(b);
    snprintf(j->text, sizeof j->text, "%s", text_of(o, 0) ? text_of(o, 0) : "(none)");
    const cJSON *tl = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0), "logprobs"), "token_logprobs");
    j->n_lp = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, tl) if (j->n_lp < 512) j->lp[j->n_lp++] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(o);
    free(b);
    return NULL;
}

/* A counter's value from /metrics (NaN when missing). */
static double metric(const char *name) {
    char *b = malloc(RESP_CAP), key[128];
    double v = NAN;
    snprintf(key, sizeof key, "\n%s ", name);
    if (http(port, "GET", "/metrics", NULL, NULL, b, NULL) == 200 && strstr(b, key)) v = atof(strstr(b, key) + strlen(key));
    free(b);
    return v;
}

static void test_batching(void) {
    enum { N = 8 };
    job_t jobs[N], solo[N];
    const char *prompts[N] = {"a", "a b c d e f", "x", "q r", "[1, 2]", "in on at", "a,b;c,d;e,f;g,h;i", "k"};
    for (int i = 0; i < N; i++) {
        snprintf(jobs[i].body, sizeof jobs[i].body,
                 "{\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0,\"ignore_eos\":true,\"logprobs\":0}",
                 prompts[i],
                 100 + 37 * i);
        solo[i] = jobs[i];
        run_job(&solo[i]);
    }
    double steps0 = metric("wafer_decode_steps_total"), rows0 = metric("wafer_decode_rows_total");
    pthread_t th[N];
    for (int i = 0; i < N; i++) pthread_create(&th[i], NULL, run_job, &jobs[i]);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    double steps = metric("wafer_decode_steps_total") - steps0, rows = metric("wafer_decode_rows_total") - rows0;
    printf("concurrent: %.0f sequence-steps in %.0f decode steps (mean batch %.2f)\n", rows, steps, rows / steps);
    WF_CHECK(rows / steps > 1.5); /* the requests really shared decode steps */
    int same = 0;
    double maxdiff = 0;
    for (int i = 0; i < N; i++) {
        WF_CHECK_EQ(jobs[i].status, solo[i].status);
        WF_CHECK_EQ(jobs[i].n_lp, 100 + 37 * i);
        WF_CHECK_EQ(jobs[i].n_lp, solo[i].n_lp);
        for (int t = 0; t < jobs[i].n_lp && t < solo[i].n_lp; t++) {
            double d = fabs(jobs[i].lp[t] - solo[i].lp[t]);
            maxdiff = d > maxdiff || d != d ? (d != d ? 1e9 : d) : maxdiff;
        }
        same += !strcmp(jobs[i].text, solo[i].text);
        if (strcmp(jobs[i].text, solo[i].text))
            fprintf(stderr, "batched '%s' vs alone '%s'\n", jobs[i].text, solo[i].text);
    }
    WF_CHECK_EQ(same, N);
    printf("batched vs alone: max |logprob diff| %.3g\n", maxdiff);
    WF_CHECK(maxdiff <= 1e-5);
}

static void test_stream(void) {
    cJSON *a = post("/v1/completions", "{\"prompt\":\"a b c\",\"max_tokens\":8,\"temperature\":0}", 200);
    int st = http(port, "POST", "/v1/completions", NULL,
                  "{\"prompt\":\"a b c\",\"max_tokens\":8,\"temperature\":0,\"stream\":true,"
                  "\"stream_options\":{\"include_usage\":true}}",
                  buf, NULL);
    WF_CHECK_EQ(st, 200);
    char acc[4096] = "";
    int events = 0, done = 0, usage = 0, finish = 0;
    for (char *p = buf; (p = strstr(p, "data: ")); p += 6) {
        char *end = strstr(p, "\n\n");
        if (!end) break;
        *end = 0;
        events++;
        if (!strcmp(p + 6, "[DONE]")) done = 1;
        else {
            cJSON *o = cJSON_Parse(p + 6);
            WF_CHECK(o != NULL);
            if (text_of(o, 0)) strncat(acc, text_of(o, 0), sizeof acc - strlen(acc) - 1);
            if (cJSON_IsObject(cJSON_GetObjectItem(o, "usage"))) usage = 1;
            if (str_at(o, "choices", 0, "finish_reason")) finish = 1;
            cJSON_Delete(o);
        }
        *end = '\n';
    }
    WF_CHECK(events >= 3);
    WF_CHECK(done && usage && finish);
    WF_CHECK_STR(acc, text_of(a, 0));
    cJSON_Delete(a);
}

/* Chat with a tokenizer of the 512-token fixture model's size, trained here. */
static void test_chat(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "d=$(mktemp -d) && mkdir $d/c && for i in $(seq 50); do echo 'System: be brief. User: hello there. "
             "Assistant: a b c d e f hi.'; done > $d/c/a.txt && %s tokenizer-train --vocab-size 512 --out $d/tok "
             "--quiet $d/c >/dev/null 2>&1 && printf %%s $d/tok",
             WAFER_BIN);
    WF_CHECK_EQ(wf_run_cmd(cmd, buf2, RESP_CAP), 0);
    char tokdir[512];
    snprintf(tokdir, sizeof tokdir, "%s", buf2);
    wf_serve_opts o = {.model = MODEL512, .tokenizer = tokdir, .parallel = 2};
    wf_err e = {0};
    wf_serve *s = NULL;
    WF_CHECK_EQ(wf_serve_start(&o, &s, &e), WF_OK);
    if (!s) return;
    for (int t = 0; t < 600 && wf_serve_state(s, &e) == 0; t++) usleep(10000);
    port = wf_serve_port(s);
    cJSON *a;
    int st;
    a = post("/v1/chat/completions",
             "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"a\"}],"
             "\"max_tokens\":5,\"temperature\":0}",
             200);
    WF_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "object")), "chat.completion");
    const cJSON *msg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "choices"), 0), "message");
    WF_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "role")), "assistant");
    WF_CHECK(cJSON_IsString(cJSON_GetObjectItem(msg, "content")));
    cJSON_Delete(a);
    st = http(port, "POST", "/v1/chat/completions", NULL,
              "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":3,\"stream\":true}", buf, NULL);
    WF_CHECK_EQ(st, 200);
    WF_CHECK_HAS(buf, "\"object\":\"chat.completion.chunk\"");
    WF_CHECK_HAS(buf, "\"delta\":{\"role\":\"assistant\"");
    WF_CHECK_HAS(buf, "data: [DONE]");
    wf_serve_stop(s);
    snprintf(cmd, sizeof cmd, "rm -rf \"$(dirname '%s')\"", tokdir);
    WF_CHECK_EQ(wf_run_cmd(cmd, buf2, RESP_CAP), 0);
}

static void test_info_endpoints(void) {
    WF_CHECK_EQ(http(port, "GET", "/health", NULL, NULL, buf, NULL), 200);
    WF_CHECK_HAS(buf, "\"status\":\"ok\"");
    WF_CHECK_EQ(http(port, "GET", "/v1/models", NULL, NULL, buf, NULL), 200);
    WF_CHECK_HAS(buf, "\"id\":\"tiny-gelu\"");
    cJSON *o = post("/tokenize", "{\"prompt\":\"Hello world\"}", 200);
    const cJSON *t = cJSON_GetObjectItem(o, "tokens");
    WF_CHECK_EQ(cJSON_GetArraySize(t), 2);
    WF_CHECK_EQ(cJSON_GetArrayItem(t, 0)->valueint, 15496);
    WF_CHECK_EQ(cJSON_GetArrayItem(t, 1)->valueint, 995);
    cJSON_Delete(o);
    o = post("/detokenize", "{\"tokens\":[15496,995]}", 200);
    WF_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "prompt")), "Hello world");
    cJSON_Delete(o);
    WF_CHECK_EQ(http(port, "GET", "/tokenizer_info", NULL, NULL, buf, NULL), 200);
    WF_CHECK_HAS(buf, "\"eos_token\":\"<|endoftext|>\"");
    WF_CHECK_HAS(buf, "\"model_max_length\":512");
    WF_CHECK_EQ(http(port, "GET", "/metrics", NULL, NULL, buf, NULL), 200);
    WF_CHECK_HAS(buf, "wafer_requests_total ");
    WF_CHECK_HAS(buf, "wafer_time_to_first_token_seconds_count ");
    WF_CHECK_HAS(buf, "wafer_queue_length 0");
}

/* 1,000 malformed requests and abrupt disconnects; then the server still
** answers and no slot is stuck (and, under ASan, nothing leaked). */
static void test_robustness(void) {
    const char *bodies[] = {
        "{\"prompt\":\"a b\",\"max_tokens\":3,\"echo\":true,\"logprobs\":2,\"stop\":[\"x\"]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":3,\"stream\":true}",
        "{\"prompt\":[[1,2],[3,4]],\"n\":2,\"max_tokens\":2}",
        "{\"tokens\":[1,2,3]}",
    };
    const char *paths[] = {"/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize", "/health", "/x"};
    unsigned x = 99;
    int n = 1000, answered = 0;
    char req[2048];
    for (int i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        const char *b = bodies[(x >> 8) % 4];
        char body[512];
        size_t bl = strlen(b);
        memcpy(body, b, bl + 1);
        int muts = (int)((x >> 12) % 6);
        for (int k = 0; k < muts; k++) {
            x = x * 1103515245u + 12345u;
            body[(x >> 8) % bl] = (char)(x >> 20);
        }
        if ((x >> 4) % 5 == 0) bl = (x >> 10) % bl; /* truncated */
        int fd = wf_http_dial(port);
        if (fd < 0) continue;
        int kind = (int)((x >> 16) % 10);
        size_t len;
        if (kind == 0) len = (size_t)snprintf(req, sizeof req, "GARBAGE\r\n\r\n");
        else
            len = (size_t)snprintf(req, sizeof req,
                                   "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
                                   paths[(x >> 20) % 6], kind == 1 ? bl + 50 : bl);
        wf_http_send_all(fd, req, len);
        wf_http_send_all(fd, body, bl);
        if (kind <= 2) { /* hang up at once: mid-body (kind 1) or before the answer */
            close(fd);
            continue;
        }
        ssize_t r;
        size_t got = 0;
        while ((r = recv(fd, req, sizeof req, 0)) > 0) got += (size_t)r;
        answered += got > 0;
        close(fd);
    }
    WF_CHECK(answered > n / 2);
    /* long generations (8 x 512 tokens) whose clients hang up must be cancelled */
    double cancelled0 = metric("wafer_cancelled_total");
    for (int i = 0; i < 4; i++) {
        int fd = wf_http_dial(port);
        const char *b = i % 2 ? "{\"prompt\":\"a\",\"max_tokens\":100000,\"n\":8,\"ignore_eos\":true,\"stream\":true}"
                              : "{\"prompt\":\"a\",\"max_tokens\":100000,\"n\":8,\"ignore_eos\":true}";
        int len = snprintf(req, sizeof req, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                           strlen(b), b);
        wf_http_send_all(fd, req, (size_t)len);
        usleep(5000);
        close(fd);
        for (int t = 0; t < 100 && metric("wafer_active_slots") + metric("wafer_queue_length") > 0; t++) usleep(20000);
    }
    int idle = 0;
    for (int t = 0; t < 100 && !idle; t++) {
        usleep(50000);
        WF_CHECK_EQ(http(port, "GET", "/metrics", NULL, NULL, buf, NULL), 200);
        idle = strstr(buf, "wafer_active_slots 0") && strstr(buf, "wafer_queue_length 0");
    }
    WF_CHECK(idle);
    printf("disconnects: %.0f sequences cancelled\n", metric("wafer_cancelled_total") - cancelled0);
    WF_CHECK(metric("wafer_cancelled_total") - cancelled0 >= 28); /* 32 unless a request finished in 5 ms */
    WF_CHECK_EQ(http(port, "GET", "/health", NULL, NULL, buf, NULL), 200);
}

static wf_serve *start(wf_serve_opts *o) {
    wf_err e = {0};
    wf_serve *s = NULL;
    WF_CHECK_EQ(wf_serve_start(o, &s, &e), WF_OK);
    if (!s) {
        fprintf(stderr, "%s\n", e.msg);
        return NULL;
    }
    for (int t = 0; t < 600 && wf_serve_state(s, &e) == 0; t++) usleep(10000);
    return s;
}

/* A request on its own thread, for the shutdown test. */
typedef struct {
    const char *body;
    int status;
    char *out;
} bg_req;
static void *bg_post(void *arg) {
    bg_req *q = arg;
    q->status = http(port, "POST", "/v1/completions", NULL, q->body, q->out, NULL);
    return NULL;
}

/* Stopping (what SIGINT does) with a request running and a stream queued
** behind it: each gets its 503 before the connections close (they had been
** cut: an empty reply, a stream without its error event or [DONE]). */
static void test_stop_answers_every_request(void) {
    wf_serve_opts o = {.model = MODEL, .tokenizer = "gpt2", .parallel = 1};
    wf_serve *s = start(&o);
    if (!s) return;
    port = wf_serve_port(s);
    bg_req a = {"{\"prompt\":\"a\",\"max_tokens\":100000,\"ignore_eos\":true,\"n\":32}", 0, malloc(RESP_CAP)};
    bg_req b = {"{\"prompt\":\"a\",\"max_tokens\":100000,\"ignore_eos\":true,\"stream\":true}", 0,
                malloc(RESP_CAP)};
    pthread_t ta, tb;
    WF_CHECK(a.out && b.out);
    if (!a.out || !b.out) return;
    WF_CHECK_EQ(pthread_create(&ta, NULL, bg_post, &a), 0);
    usleep(50 * 1000);
    WF_CHECK_EQ(pthread_create(&tb, NULL, bg_post, &b), 0);
    usleep(100 * 1000);
    WF_CHECK(wf_serve_open_requests(s) == 2); /* both still going */
    wf_serve_stop(s);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    WF_CHECK_EQ(a.status, 503);
    WF_CHECK_HAS(a.out, "server shutting down");
    WF_CHECK_EQ(b.status, 200);
    WF_CHECK_HAS(b.out, "data: {\"error\":{\"message\":\"server shutting down\"");
    WF_CHECK_HAS(b.out, "data: [DONE]");
    free(a.out), free(b.out);
}

/* The command itself (on --host localhost): SIGINT with a request running
** answers it with 503 and logs how many requests it ended ("stopping
** (SIGINT): 1 request in progress ends with 503"), then "stopped", and exits 0. */
static void test_cli_sigint(void) {
    char log[] = "/tmp/wf_test_serve_logXXXXXX";
    int lfd = mkstemp(log);
    WF_CHECK(lfd >= 0);
    if (lfd < 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(lfd, 2);
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) dup2(nul, 1);
        execl(WAFER_BIN, WAFER_BIN, "serve", "--model", MODEL, "--tokenizer", "gpt2", "--port", "0", "--parallel",
              "1", "--host", "localhost", (char *)NULL);
        _exit(127);
    }
    close(lfd);
    WF_CHECK(pid > 0);
    if (pid <= 0) return;
    char text[4096] = "";
    const char *at = NULL;
    for (int t = 0; t < 1000 && !strstr(text, "wafer serve: ready"); t++) {
        usleep(10 * 1000);
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        text[n] = 0;
        if (f) fclose(f);
    }
    WF_CHECK_HAS(text, "wafer serve: ready");
    /* --host localhost is loopback: no warning about listening without --api-key */
    WF_CHECK(strstr(text, "warning") == NULL);
    if ((at = strstr(text, "listening on http://localhost:"))) port = atoi(at + strlen("listening on http://localhost:"));
    bg_req a = {"{\"prompt\":\"a\",\"max_tokens\":100000,\"ignore_eos\":true}", 0, malloc(RESP_CAP)};
    pthread_t ta;
    int started = at && a.out && pthread_create(&ta, NULL, bg_post, &a) == 0;
    WF_CHECK(started);
    for (int t = 0; started && t < 500 && !(metric("wafer_active_slots") >= 1); t++) usleep(10 * 1000);
    WF_CHECK(metric("wafer_active_slots") >= 1);
    kill(pid, SIGINT);
    int ws = 0;
    WF_CHECK_EQ(waitpid(pid, &ws, 0), pid);
    if (started) pthread_join(ta, NULL);
    WF_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    WF_CHECK_EQ(a.status, 503);
    if (a.out) WF_CHECK_HAS(a.out, "server shutting down");
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f) fclose(f);
    WF_CHECK_HAS(text, "wafer serve: stopping (SIGINT): 1 request in progress ends with 503");
    WF_CHECK_HAS(text, "wafer serve: stopped");
    free(a.out);
    unlink(log);
}

int main(void) {
    buf = malloc(RESP_CAP);
    buf2 = malloc(RESP_CAP);
    WF_CHECK_EQ(make_gpt2_model(), 0);
    wf_serve_opts o = {.model = MODEL, .tokenizer = "gpt2", .parallel = 4, .max_queue = 16, .max_body = 256 * 1024};
    wf_serve *s = start(&o);
    if (!s) return wf_check_report();
    WF_CHECK_EQ(wf_serve_state(s, NULL), 1);
    port = wf_serve_port(s);
    WF_CHECK(port > 0);
    test_info_endpoints();
    test_errors();
    test_completions();
    test_echo_vs_score();
    test_batching();
    test_stream();
    test_robustness();
    wf_serve_stop(s);
    test_chat();
    test_stop_answers_every_request();
    test_cli_sigint();
    {   /* --host localhost is 127.0.0.1; a name that is no address says which flag */
        wf_serve_opts lo = {.model = MODEL, .tokenizer = "gpt2", .parallel = 1, .host = "localhost"};
        wf_serve *ls = NULL;
        wf_err le = {0};
        WF_CHECK_EQ(wf_serve_start(&lo, &ls, &le), WF_OK);
        wf_serve_stop(ls);
        lo.host = "my-server";
        ls = NULL;
        WF_CHECK_EQ(wf_serve_start(&lo, &ls, &le), WF_EUSAGE);
        WF_CHECK_HAS(le.msg, "serve: --host 'my-server': not an IPv4 address");
        wf_serve_stop(ls);
    }

    /* API key: Bearer on everything but /health */
    wf_serve_opts k = {.model = MODEL, .tokenizer = "gpt2", .api_key = "sekret", .parallel = 1, .timeout_s = 0.002};
    s = start(&k);
    if (s) {
        port = wf_serve_port(s);
        WF_CHECK_EQ(http(port, "GET", "/health", NULL, NULL, buf, NULL), 200);
        WF_CHECK_EQ(http(port, "GET", "/v1/models", NULL, NULL, buf, NULL), 401);
        WF_CHECK_HAS(buf, "invalid_api_key");
        WF_CHECK_EQ(http(port, "GET", "/v1/models", "Authorization: Bearer sekreT\r\n", NULL, buf, NULL), 401);
        WF_CHECK_EQ(http(port, "GET", "/v1/models", "Authorization: Bearer sekret\r\n", NULL, buf, NULL), 200);
        /* the per-request time limit (2 ms here) ends a long generation with 504 */
        WF_CHECK_EQ(http(port, "POST", "/v1/completions", "Authorization: Bearer sekret\r\n",
                         "{\"prompt\":\"a\",\"max_tokens\":100000,\"ignore_eos\":true}", buf, NULL), 504);
        WF_CHECK_HAS(buf, "time limit");
        /* streamed: the error event, usage as asked, [DONE]; no chunk claims
        ** "length" (a client that stops at finish_reason took it as complete) */
        WF_CHECK_EQ(http(port, "POST", "/v1/completions", "Authorization: Bearer sekret\r\n",
                         "{\"prompt\":\"a\",\"max_tokens\":100000,\"ignore_eos\":true,\"stream\":true,"
                         "\"stream_options\":{\"include_usage\":true}}", buf, NULL), 200);
        WF_CHECK_HAS(buf, "request exceeded the time limit");
        WF_CHECK(strstr(buf, "\"finish_reason\":\"length\"") == NULL);
        WF_CHECK_HAS(buf, "\"usage\":{");
        WF_CHECK_HAS(buf, "data: [DONE]");
        wf_serve_stop(s);
    }

    /* while the model loads (a 111M preset: random init takes ~2 s), /health says 503
    ** (release run only: under ASan (WF_TEST_QUICK) the init alone takes 8 s) */
    wf_err e = {0};
    wf_serve_opts slow = {.model = "cerebras-gpt-111m", .tokenizer = "gpt2", .parallel = 1, .n_ctx = 16};
    s = NULL;
    if (!getenv("WF_TEST_QUICK")) WF_CHECK_EQ(wf_serve_start(&slow, &s, &e), WF_OK);
    if (s) {
        WF_CHECK_EQ(http(wf_serve_port(s), "GET", "/health", NULL, NULL, buf, NULL), 503);
        WF_CHECK_HAS(buf, "\"status\":\"loading\"");
        WF_CHECK_EQ(http(wf_serve_port(s), "GET", "/v1/models", NULL, NULL, buf, NULL), 503);
        WF_CHECK_HAS(buf, "still loading");
        wf_serve_stop(s);
    }
    /* a model that cannot load: /health says 503 with the reason */
    wf_serve_opts bad = {.model = "tests/fixtures/models/no-such-model"};
    s = NULL;
    WF_CHECK_EQ(wf_serve_start(&bad, &s, &e), WF_OK);
    if (s) {
        for (int t = 0; t < 500 && wf_serve_state(s, &e) == 0; t++) usleep(10000);
        WF_CHECK_EQ(wf_serve_state(s, &e), -1);
        WF_CHECK_HAS(e.msg, "no-such-model");
        WF_CHECK_EQ(http(wf_serve_port(s), "GET", "/health", NULL, NULL, buf, NULL), 503);
        WF_CHECK_HAS(buf, "no-such-model");
        WF_CHECK_EQ(http(wf_serve_port(s), "POST", "/v1/completions", NULL, "{}", buf, NULL), 503);
        wf_serve_stop(s);
    }
    /* a taken port is an error naming the address */
    wf_serve_opts p1 = {.model = MODEL, .tokenizer = "gpt2"};
    wf_serve *s1 = start(&p1);
    if (s1) {
        wf_serve_opts p2 = {.model = MODEL, .port = wf_serve_port(s1)};
        s = NULL;
        WF_CHECK_EQ(wf_serve_start(&p2, &s, &e), WF_EIO);
        WF_CHECK_HAS(e.msg, "cannot listen");
        wf_serve_stop(s);
        wf_serve_stop(s1);
    }
    /* the command: bad flags exit 2, a model that cannot load exits 1 with the reason */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s serve --model %s --port 99999", WAFER_BIN, MODEL);
    WF_CHECK_EQ(wf_run_cmd(cmd, buf, RESP_CAP), 2);
    WF_CHECK_HAS(buf, "--port '99999'");
    snprintf(cmd, sizeof cmd, "%s serve --model tests/fixtures/models/no-such-model --port 0", WAFER_BIN);
    WF_CHECK_EQ(wf_run_cmd(cmd, buf, RESP_CAP), 1);
    WF_CHECK_HAS(buf, "wafer serve: ");
    WF_CHECK_HAS(buf, "no-such-model");
    /* a tokenizer that does not fit the model is refused, as `wafer generate` does */
    snprintf(cmd, sizeof cmd, "%s serve --model %s --tokenizer gpt2 --port 0", WAFER_BIN, MODEL512);
    WF_CHECK_EQ(wf_run_cmd(cmd, buf, RESP_CAP), 1);
    WF_CHECK_HAS(buf, "tokenizer has 50257 tokens but the model's vocab_size is 512");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", model_root);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    free(buf);
    free(buf2);
    return wf_check_report();
}
