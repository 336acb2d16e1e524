/* fuzz_request.c — libFuzzer target for the server's request parser and
** renderer (serve/api.c) on any bytes. Byte 0 picks the endpoint:
** 0 /v1/completions, 1 /v1/chat/completions, 2 /tokenize, 3 /detokenize;
** the rest is the body. An accepted job is then "generated" a few tokens
** (as the scheduler would append them), streamed and rendered in full; every
** rendered JSON must parse again. A 400 must come with a message. Crashes,
** leaks and unparsable output are bugs.
** Run: CC=clang cmake -S . -B build-fuzz -DWF_FUZZ=ON && cmake --build build-fuzz --target fuzz_request
**      build-fuzz/fuzz/fuzz_request -max_total_time=300 -max_len=4096 */
#include "serve/serve_int.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_gpt2.h"

static void check_json(char *s) {
    WF_ASSERT(s);
    cJSON *o = cJSON_Parse(s);
    WF_ASSERT(o);
    cJSON_Delete(o);
    free(s);
}

/* What the scheduler does to a sequence, without a model. */
static void fake_token(wf_serve_job *j, wf_serve_seq *q, int32_t id) {
    if (q->n_gen >= q->max_gen) return;
    if (q->lp) {
        wf_serve_lp *e = &q->lp[q->n_lp++];
        *e = (wf_serve_lp){.id = id, .has_lp = 1, .lp = -1.5f, .offset = q->len, .n_top = j->logprobs};
        for (int k = 0; k < e->n_top; k++) e->top_id[k] = (id + k) % 512, e->top_lp[k] = -1.0f - (float)k;
    }
    q->ids[q->n_prompt + q->n_gen++] = id;
    const char *b;
    int n = wf_tokenizer_token_bytes(gpt2, id, &b);
    wf_err e = {0};
    if (n > 0) WF_ASSERT(wf_serve_seq_append(q, b, (size_t)n, &e) == WF_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    wf_serve_model m = {.tok = gpt2, .vocab = 512, .n_ctx = 64, .eos = 511, .name = "fuzz"};
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char msg[512];
    const char *param;
    int kind = data[0] % 4;
    if (kind >= 2) {
        char *out = NULL;
        int st = wf_serve_tokenize(&m, kind == 3, body, len, &out, msg, sizeof msg, &param);
        if (st) WF_ASSERT(st == 400 && msg[0]);
        else check_json(out);
        return 0;
    }
    wf_serve_job *j = NULL;
    int st = wf_serve_parse(&m, kind, body, len, &j, msg, sizeof msg, &param);
    if (st) {
        WF_ASSERT(st == 400 && msg[0] && !j);
        check_json(wf_serve_error_json(st, msg, param));
        return 0;
    }
    for (int i = 0; i < j->n_seq; i++) {
        wf_serve_seq *q = &j->seq[i];
        q->n_lp = q->n_echo;
        for (int k = 0; k < q->n_echo; k++) q->lp[k].has_lp = k > 0, q->lp[k].lp = -2.0f;
        fake_token(j, q, (int32_t)(data[size - 1] % 512));
        fake_token(j, q, 200 + i % 56);
    }
    int finished = 0;
    char *s = wf_serve_render_stream(&m, j, &finished);
    WF_ASSERT(!finished || j->n_seq == 0);
    free(s);
    for (int i = 0; i < j->n_seq; i++) j->seq[i].state = SEQ_DONE, j->seq[i].finish = FINISH_LENGTH;
    for (int guard = 0; !finished && guard < 4; guard++) free(wf_serve_render_stream(&m, j, &finished));
    WF_ASSERT(finished);
    check_json(wf_serve_render(&m, j));
    wf_serve_job_free(j);
    return 0;
}
