/* serve.h — `wafer serve`: an OpenAI-compatible HTTP server on the inference
** engine (model/infer.h). POST /v1/completions (echo with prompt logprobs,
** streaming), /v1/chat/completions, /tokenize, /detokenize; GET /health,
** /v1/models, /tokenizer_info, /metrics. Continuous batching: `parallel`
** slots, each request sequence with its own KV cache row, one batched decode
** step across the active slots, a bounded queue beyond them. The library
** never prints; the CLI (cli/cmd_serve.c) owns messages and signals. */
#ifndef WF_SERVE_H
#define WF_SERVE_H

#include "base/base.h"

typedef struct wf_serve wf_serve;

typedef struct {
    const char *model;     /* HF folder or preset name (required) */
    const char *tokenizer; /* NULL: the model folder's files, else the bundled GPT-2 ("gpt2") */
    const char *name;      /* model id in responses; NULL = last path component of model */
    const char *host;      /* IPv4 address to bind; NULL = "127.0.0.1" (loopback) */
    int port;              /* 0 = any free port (read it back with wf_serve_port) */
    int parallel;          /* decode slots (sequences in the batch); 0 = 4 */
    int max_queue;         /* sequences waiting beyond the slots; 0 = 64; more -> 429 */
    const char *api_key;   /* NULL/"" = none; else "Authorization: Bearer KEY" on all but /health */
    size_t max_body;       /* request body bytes; 0 = 4 MiB; more -> 413 */
    double timeout_s;      /* per-request time limit in seconds; 0 = 600; past it -> 504 */
    int n_ctx;             /* tokens per sequence; 0 = the model's n_positions */
    int no_pack;           /* 1: decode from the weights as loaded; 0: from a copy packed for
                           ** decoding (model/infer.h pack: ~4 bytes/param, faster) when it
                           ** takes at most half the available memory */
    int int8;              /* 1: every product on int8 weights (model/infer.h int8) */
} wf_serve_opts;

/* Binds the socket and starts answering at once (/health says 503 while the
** model loads in a background thread). Errors: WF_EUSAGE for bad options,
** WF_EIO when the address cannot be bound ("127.0.0.1:8080: cannot listen").
** *out is freed with wf_serve_stop. */
wf_status wf_serve_start(const wf_serve_opts *o, wf_serve **out, wf_err *err);
int wf_serve_port(const wf_serve *s); /* the bound TCP port */
/* 0 while loading, 1 when ready, -1 when loading failed (then *err says why). */
int wf_serve_state(wf_serve *s, wf_err *err);
/* Stops accepting, cancels running requests, joins every thread, frees all.
** NULL is a no-op. */
void wf_serve_stop(wf_serve *s);
/* Requests begun whose answer has not gone out yet. */
int wf_serve_open_requests(wf_serve *s);

#endif
