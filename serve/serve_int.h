/* serve_int.h — shared inside serve/ only: a request ("job") and its
** sequences, the parser/renderer (api.c), the scheduler (sched.c) and the
** metrics the HTTP layer (http.c) exports.
**
** Life of a request: http.c reads the body, api.c parses and validates it into
** a job (prompt ids, params, one sequence per prompt x n), sched.c queues the
** sequences, runs them in slots and appends tokens to them under the scheduler
** lock, signalling job->cond; http.c renders the result (or streams deltas)
** and frees the job once every sequence is done (cancelled ones included). */
#ifndef WF_SERVE_INT_H
#define WF_SERVE_INT_H

#include "model/config.h"
#include "model/sample.h"
#include "model/tokenizer.h"
#include "serve/serve.h"

#include <pthread.h>

#define WF_SERVE_MAX_TOP 20    /* logprobs k limit (OpenAI allows 5; vLLM 20) */
#define WF_SERVE_MAX_SEQS 256  /* prompts x n per request */
#define WF_SERVE_MAX_STOP 64   /* stop strings per request (OpenAI: 4; we allow more) */
#define WF_SERVE_PREFILL 256   /* prompt tokens per forward call (as `wafer score`) */
#define WF_SERVE_MIXED 96      /* rows of a step that also decodes: the products stay on the
                               ** skinny path (kernels.h wf_gemm_p64), so a new prompt costs
                               ** the decoding sequences little per step */

/* What the parser needs to know about the model. */
typedef struct {
    const wf_tokenizer *tok;
    int vocab;  /* model vocab_size: ids must be < vocab */
    int n_ctx;  /* tokens per sequence */
    int eos;    /* end-of-text id (< vocab), or -1 */
    const char *name;
} wf_serve_model;

/* One log-probability entry (a prompt token with echo, or a generated one). */
typedef struct {
    int32_t id;
    int has_lp;     /* 0: the first prompt token (null in JSON) */
    float lp;       /* log p(id | previous), natural log, from the raw logits */
    size_t offset;  /* byte offset of the token's text in the choice's text */
    int n_top;
    int32_t top_id[WF_SERVE_MAX_TOP];
    float top_lp[WF_SERVE_MAX_TOP];
} wf_serve_lp;

enum { SEQ_QUEUED, SEQ_RUNNING, SEQ_DONE };
enum { FINISH_NONE, FINISH_STOP, FINISH_LENGTH };

typedef struct wf_serve_job wf_serve_job;

typedef struct {
    wf_serve_job *job;
    int index;          /* choice index = prompt * n + j */
    int prompt;         /* which prompt */
    int32_t *ids;       /* [n_prompt + max_gen] prompt then generated ids */
    int n_prompt, n_gen, max_gen; /* max_gen = min(max_tokens, n_ctx - n_prompt + 1) */
    char *text;         /* the choice's text (prompt text first when echo); NUL-terminated */
    size_t len, cap;    /* bytes in text / allocated */
    size_t gen_start;   /* where the generated text starts in text */
    wf_serve_lp *lp;    /* [n_lp] when logprobs were asked, capacity n_prompt + max_gen */
    int n_lp;
    int state, finish;
    int slot, pos;      /* cache row, and tokens in it (scheduler only) */
    int32_t next;       /* token to feed at the next decode step (scheduler only) */
    wf_sampler *smp;
    size_t sent;        /* streaming: bytes of text already sent (http only) */
    int lp_sent, final_sent, started;
    int n_echo;         /* lp[0..n_echo) are the prompt's (echo); published by the prefill */
    double t_last;      /* when the last token came (metrics) */
} wf_serve_seq;

struct wf_serve_job {
    /* request */
    int chat, stream, include_usage, echo;
    int ignore_eos;     /* vLLM's extension: keep going past <|endoftext|> (benchmarks) */
    int logprobs;       /* -1: none; else top-k per token in [0, 20] */
    int max_tokens, n;
    float temperature, top_p;
    uint64_t seed;
    char **stop;        /* [n_stop] NUL-terminated, non-empty */
    int n_stop;
    size_t stop_max;    /* longest stop string */
    int n_prompts, n_seq;
    int prompt_tokens;  /* sum over prompts */
    wf_serve_seq *seq;  /* [n_seq] */
    char id[40];
    long created;
    /* progress, under the scheduler lock */
    pthread_cond_t cond;
    int n_done, cancelled;
    int status;         /* 0, or an HTTP error status (504 time limit, 500) */
    char err[sizeof ((wf_err *)0)->msg];
    double t_submit, t_first, deadline;
};

/* ---- api.c ------------------------------------------------------------ */
/* Parses a /v1/completions (chat = 0) or /v1/chat/completions (chat = 1)
** body into a new job (sequences allocated, samplers not yet). On bad input
** returns the HTTP status (400) and writes a one-line message and the
** offending parameter name (or NULL) — never crashes, for any bytes. */
int wf_serve_parse(const wf_serve_model *m, int chat, const char *body, size_t len, wf_serve_job **out,
                   char *msg, size_t msgcap, const char **param);
void wf_serve_job_free(wf_serve_job *j); /* NULL is a no-op */

/* Appends n bytes to a growing NUL-terminated buffer (wf_realloc, default
** heap; *buf may start NULL with *cap 0; free with wf_free(NULL, *buf)). */
wf_status wf_serve_buf_append(char **buf, size_t *len, size_t *cap, const char *bytes, size_t n, wf_err *err);
/* Appends a token's bytes to s->text (done by the scheduler). */
wf_status wf_serve_seq_append(wf_serve_seq *s, const char *bytes, size_t n, wf_err *err);
/* Bytes of generated text that are safe to send while s is still running:
** not part of a possible stop string, not a split UTF-8 character. */
size_t wf_serve_seq_safe_len(const wf_serve_seq *s);

/* Renders the whole response (non-streaming). Returns malloc'd JSON (free()). */
char *wf_serve_render(const wf_serve_model *m, const wf_serve_job *j);
/* Renders the next SSE events for streaming into a malloc'd string (or NULL
** when there is nothing new); *finished = 1 once the final events (usage,
** [DONE]) are included. Call under the scheduler lock. */
char *wf_serve_render_stream(const wf_serve_model *m, wf_serve_job *j, int *finished);
/* {"error": {...}} with type chosen from status. malloc'd. */
char *wf_serve_error_json(int status, const char *msg, const char *param);
/* /tokenize, /detokenize bodies -> response JSON, or an HTTP error status. */
int wf_serve_tokenize(const wf_serve_model *m, int detok, const char *body, size_t len, char **out, char *msg,
                      size_t msgcap, const char **param);
/* JSON string of bytes: invalid UTF-8 becomes U+FFFD (malloc'd, NUL-terminated). */
char *wf_serve_utf8_clean(const char *s, size_t n);

/* ---- sched.c ---------------------------------------------------------- */
typedef struct wf_sched wf_sched;

typedef struct {
    uint64_t requests, errors, prompt_tokens, gen_tokens;
    uint64_t steps, step_rows;       /* batched decode steps, and sequences in them */
    uint64_t cancelled;              /* sequences ended early because the client went away */
    double ttft_sum, tok_sum;        /* seconds */
    uint64_t ttft_n, tok_n;
    uint64_t ttft_bucket[8], tok_bucket[8]; /* cumulative at the bounds below */
    int queued, active;
} wf_serve_stats;
extern const double wf_serve_ttft_bounds[8]; /* seconds (const table) */
extern const double wf_serve_tok_bounds[8];

wf_status wf_sched_new(const wf_serve_model *m, const wf_gpt_config *cfg, const float *weights, int parallel,
                       int max_queue, int pack, int int8, wf_sched **out, wf_err *err);
/* Ends every job (503 "server shutting down") and stops the thread; after it
** submits get 503. wf_sched_free then joins and frees (NULL is a no-op). */
void wf_sched_shutdown(wf_sched *s);
void wf_sched_free(wf_sched *s);
/* Queues j's sequences. Returns 0, or an HTTP status: 400 (more sequences
** than the whole queue holds), 429 (the queue is full now), 503 (stopping), 500. */
int wf_sched_submit(wf_sched *s, wf_serve_job *j, double timeout_s);
/* Marks j cancelled and waits until the scheduler has let go of it. */
void wf_sched_cancel(wf_sched *s, wf_serve_job *j);
/* Waits (at most ms) for news on j; returns 1 when every sequence is done. */
int wf_sched_wait(wf_sched *s, wf_serve_job *j, int ms);
pthread_mutex_t *wf_sched_lock(wf_sched *s);
void wf_sched_stats(wf_sched *s, wf_serve_stats *out);
void wf_sched_count(wf_sched *s, int error);

#endif
