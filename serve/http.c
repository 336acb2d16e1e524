/* http.c — the HTTP side of `wafer serve` on GNU libmicrohttpd (Debian
** libmicrohttpd-dev). Why it: a small, long-maintained C library that parses
** HTTP/1.1 itself (chunked bodies, 100-continue, pipelining), bounds
** connections, header memory and idle time, and offers a thread-per-connection
** mode in which a handler may block. That mode fits a server whose requests
** wait seconds for the model anyway: a completion handler waits on its job's
** condition variable (polling its socket so a client that hangs up cancels
** the job), and a stream is a callback response that blocks until the next
** tokens exist. libevent's evhttp would need the scheduler to post back into
** its loop; a hand-written parser would be a new attack surface.
**
** Routing, the API key (Bearer, all but /health), the body bound (413) and
** the OpenAI error objects live here; parsing and rendering in api.c, the
** batching in sched.c. */
#include "serve/serve_int.h"

#include "model/checkpoint.h"
#include "model/infer.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

struct wf_serve {
    wf_serve_opts o;
    char name[256], model[4096], tokdir[4096], api_key[256];
    struct MHD_Daemon *d;
    int port;
    pthread_t loader;
    int loader_started;
    pthread_mutex_t mu;     /* guards state and load_err */
    int state;              /* 0 loading, 1 ready, -1 failed */
    wf_err load_err;
    wf_gpt_config cfg;
    float *w;
    wf_tokenizer *tok;
    wf_serve_model m;
    wf_sched *sched;        /* set once when ready, never changes until stop */
    unsigned long long n_req; /* request ids (under mu) */
    atomic_int open;        /* requests begun and not yet completed (their answer sent) */
};

/* Per-request state (MHD's con_cls). */
typedef struct {
    char *body;
    size_t len, cap;
    int too_big;
} conn_t;

/* A streamed response's state, owned by the MHD response (freed in stream_free). */
typedef struct {
    wf_serve *s;
    wf_serve_job *job;
    int fd;
    char *pend;
    size_t pend_len, pend_off;
    int finished;
} stream_t;

static int peer_closed(int fd) {
    if (fd < 0) return 0;
    char b;
    ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) return 1;
    return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static int conn_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

static int state_of(wf_serve *s) {
    pthread_mutex_lock(&s->mu);
    int st = s->state;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* The scheduler once the model is ready, else NULL (the loader sets it). */
static wf_sched *sched_of(wf_serve *s) { return state_of(s) == 1 ? s->sched : NULL; }

/* Queues a response that owns json (malloc'd). */
static enum MHD_Result reply(wf_serve *s, struct MHD_Connection *c, int status, char *json, const char *ctype) {
    wf_sched *sc = sched_of(s);
    if (sc) wf_sched_count(sc, status >= 400);
    if (!json) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(json);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype ? ctype : "application/json");
    if (status == 429) MHD_add_response_header(r, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result error(wf_serve *s, struct MHD_Connection *c, int status, const char *msg, const char *param) {
    return reply(s, c, status, wf_serve_error_json(status, msg, param), NULL);
}

static enum MHD_Result json_reply(wf_serve *s, struct MHD_Connection *c, int status, cJSON *o) {
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return reply(s, c, status, t, NULL);
}

/* ---- streaming ---------------------------------------------------------- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_t *st = cls;
    for (;;) {
        if (st->pend_off < st->pend_len) {
            size_t n = st->pend_len - st->pend_off < max ? st->pend_len - st->pend_off : max;
            memcpy(buf, st->pend + st->pend_off, n);
            st->pend_off += n;
            return (ssize_t)n;
        }
        free(st->pend);
        st->pend = NULL;
        st->pend_len = st->pend_off = 0;
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(wf_sched_lock(st->s->sched));
        st->pend = wf_serve_render_stream(&st->s->m, st->job, &st->finished);
        pthread_mutex_unlock(wf_sched_lock(st->s->sched));
        if (st->pend) {
            st->pend_len = strlen(st->pend);
            continue;
        }
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        if (peer_closed(st->fd)) return MHD_CONTENT_READER_END_WITH_ERROR;
        wf_sched_wait(st->s->sched, st->job, 50);
    }
}

static void stream_free(void *cls) {
    stream_t *st = cls;
    wf_sched_cancel(st->s->sched, st->job); /* returns at once when the job is done */
    wf_serve_job_free(st->job);
    free(st->pend);
    wf_free(NULL, st);
}

/* ---- endpoints ---------------------------------------------------------- */

static enum MHD_Result do_completion(wf_serve *s, struct MHD_Connection *c, conn_t *r, int chat) {
    char msg[512];
    const char *param;
    wf_serve_job *j;
    int st = wf_serve_parse(&s->m, chat, r->body ? r->body : "", r->len, &j, msg, sizeof msg, &param);
    if (st) return error(s, c, st, msg, param);
    pthread_mutex_lock(&s->mu);
    snprintf(j->id, sizeof j->id, "%s-%llu", chat ? "chatcmpl" : "cmpl", ++s->n_req);
    pthread_mutex_unlock(&s->mu);
    st = wf_sched_submit(s->sched, j, s->o.timeout_s);
    if (st == 400) { /* larger than the whole queue: a retry cannot help */
        snprintf(msg, sizeof msg, "'n' x prompts = %d sequences, more than this server's queue holds (%d, its "
                 "--max-queue); ask for fewer", j->n_seq, s->o.max_queue);
        wf_serve_job_free(j);
        return error(s, c, st, msg, "n");
    }
    if (st) {
        wf_serve_job_free(j);
        return error(s, c, st,
                     st == 429 ? "the queue is full; retry later"
                     : st == 503 ? "server shutting down" : "cannot start the request",
                     NULL);
    }
    int fd = conn_fd(c);
    if (j->stream) {
        stream_t *sc = wf_calloc(NULL, sizeof *sc, "serve stream", NULL);
        struct MHD_Response *resp =
            sc ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, sc, stream_free) : NULL;
        if (!resp) {
            wf_sched_cancel(s->sched, j);
            wf_serve_job_free(j);
            wf_free(NULL, sc);
            return MHD_NO;
        }
        *sc = (stream_t){.s = s, .job = j, .fd = fd};
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        wf_sched_count(s->sched, 0);
        enum MHD_Result ret = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    while (!wf_sched_wait(s->sched, j, 50))
        if (peer_closed(fd)) { /* the client hung up: free the slot now */
            wf_sched_cancel(s->sched, j);
            wf_serve_job_free(j);
            wf_sched_count(s->sched, 1);
            return MHD_NO;
        }
    enum MHD_Result ret = j->status ? error(s, c, j->status, j->err, NULL)
                                    : reply(s, c, 200, wf_serve_render(&s->m, j), NULL);
    wf_serve_job_free(j);
    return ret;
}

static enum MHD_Result do_tokenize(wf_serve *s, struct MHD_Connection *c, conn_t *r, int detok) {
    char msg[512], *out = NULL;
    const char *param;
    int st = wf_serve_tokenize(&s->m, detok, r->body ? r->body : "", r->len, &out, msg, sizeof msg, &param);
    if (st) return error(s, c, st, msg, param);
    return reply(s, c, 200, out, NULL);
}

static enum MHD_Result do_models(wf_serve *s, struct MHD_Connection *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "wafer");
    cJSON_AddNumberToObject(m, "max_model_len", s->m.n_ctx);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), m);
    return json_reply(s, c, 200, o);
}

static enum MHD_Result do_tokenizer_info(wf_serve *s, struct MHD_Connection *c) {
    cJSON *o = cJSON_CreateObject();
    int eos = wf_tokenizer_eos(s->tok);
    const char *b;
    int n = eos >= 0 ? wf_tokenizer_token_bytes(s->tok, eos, &b) : -1;
    char eos_s[256] = "";
    if (n > 0 && n < (int)sizeof eos_s) memcpy(eos_s, b, (size_t)n), eos_s[n] = 0;
    cJSON_AddStringToObject(o, "tokenizer_class", "GPT2TokenizerFast");
    cJSON_AddStringToObject(o, "eos_token", eos_s);
    cJSON_AddStringToObject(o, "bos_token", eos_s);
    cJSON_AddNumberToObject(o, "eos_token_id", eos);
    cJSON_AddNumberToObject(o, "bos_token_id", eos);
    cJSON_AddNullToObject(o, "pad_token");
    cJSON_AddBoolToObject(o, "add_bos_token", 0);
    cJSON_AddNumberToObject(o, "vocab_size", wf_tokenizer_vocab_size(s->tok));
    cJSON_AddNumberToObject(o, "model_vocab_size", s->m.vocab);
    cJSON_AddNumberToObject(o, "model_max_length", s->m.n_ctx);
    return json_reply(s, c, 200, o);
}

static void histogram(char **p, size_t *len, const char *name, const char *help, const uint64_t *b,
                      const double *bounds, double sum, uint64_t n) {
    char tmp[2048];
    size_t k = (size_t)snprintf(tmp, sizeof tmp, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < 8; i++)
        k += (size_t)snprintf(tmp + k, sizeof tmp - k, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                              (unsigned long long)b[i]);
    k += (size_t)snprintf(tmp + k, sizeof tmp - k, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                          (unsigned long long)n, name, sum, name, (unsigned long long)n);
    char *np = realloc(*p, *len + k + 1);
    if (!np) return;
    memcpy(np + *len, tmp, k + 1);
    *p = np;
    *len += k;
}

static enum MHD_Result do_metrics(wf_serve *s, struct MHD_Connection *c) {
    wf_serve_stats st;
    wf_sched_stats(s->sched, &st);
    size_t len = 0;
    char *p = malloc(4096);
    if (!p) return MHD_NO;
    len = (size_t)snprintf(p, 4096,
                           "# HELP wafer_requests_total HTTP requests answered (API endpoints)\n"
                           "# TYPE wafer_requests_total counter\nwafer_requests_total %llu\n"
                           "# HELP wafer_request_errors_total requests answered with a 4xx/5xx status\n"
                           "# TYPE wafer_request_errors_total counter\nwafer_request_errors_total %llu\n"
                           "# HELP wafer_prompt_tokens_total prompt tokens accepted\n"
                           "# TYPE wafer_prompt_tokens_total counter\nwafer_prompt_tokens_total %llu\n"
                           "# HELP wafer_generation_tokens_total tokens generated\n"
                           "# TYPE wafer_generation_tokens_total counter\nwafer_generation_tokens_total %llu\n"
                           "# HELP wafer_decode_steps_total batched decode steps\n"
                           "# TYPE wafer_decode_steps_total counter\nwafer_decode_steps_total %llu\n"
                           "# HELP wafer_decode_rows_total sequences summed over decode steps (/ steps = mean batch)\n"
                           "# TYPE wafer_decode_rows_total counter\nwafer_decode_rows_total %llu\n"
                           "# HELP wafer_cancelled_total sequences ended early because the client went away\n"
                           "# TYPE wafer_cancelled_total counter\nwafer_cancelled_total %llu\n"
                           "# HELP wafer_queue_length sequences waiting for a slot\n"
                           "# TYPE wafer_queue_length gauge\nwafer_queue_length %d\n"
                           "# HELP wafer_active_slots sequences in the batch\n"
                           "# TYPE wafer_active_slots gauge\nwafer_active_slots %d\n",
                           (unsigned long long)st.requests, (unsigned long long)st.errors,
                           (unsigned long long)st.prompt_tokens, (unsigned long long)st.gen_tokens,
                           (unsigned long long)st.steps, (unsigned long long)st.step_rows,
                           (unsigned long long)st.cancelled, st.queued,
                           st.active);
    histogram(&p, &len, "wafer_time_to_first_token_seconds", "from queueing to the first token", st.ttft_bucket,
              wf_serve_ttft_bounds, st.ttft_sum, st.ttft_n);
    histogram(&p, &len, "wafer_time_per_output_token_seconds", "between consecutive tokens of a sequence",
              st.tok_bucket, wf_serve_tok_bounds, st.tok_sum, st.tok_n);
    return reply(s, c, 200, p, "text/plain; version=0.0.4");
}

static const struct {
    const char *path, *method;
    int kind;
} routes[] = {
    {"/v1/completions", "POST", 1}, {"/v1/chat/completions", "POST", 2}, {"/tokenize", "POST", 3},
    {"/detokenize", "POST", 4},     {"/v1/models", "GET", 5},            {"/tokenizer_info", "GET", 6},
    {"/metrics", "GET", 7},
};

static enum MHD_Result route(wf_serve *s, struct MHD_Connection *c, conn_t *r, const char *url, const char *method) {
    int state = state_of(s);
    if (!strcmp(url, "/health")) {
        if (strcmp(method, "GET") && strcmp(method, "HEAD")) return error(s, c, 405, "use GET /health", NULL);
        if (state == 1) return reply(s, c, 200, strdup("{\"status\":\"ok\"}"), NULL);
        if (state == 0) return reply(s, c, 503, strdup("{\"status\":\"loading\"}"), NULL);
        return error(s, c, 503, s->load_err.msg, NULL);
    }
    if (s->api_key[0]) {
        const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        size_t kl = strlen(s->api_key);
        int ok = a && !strncmp(a, "Bearer ", 7) && strlen(a + 7) == kl;
        unsigned diff = 0;
        for (size_t i = 0; ok && i < kl; i++) diff |= (unsigned)(a[7 + i] ^ s->api_key[i]); /* constant time */
        if (!ok || diff) return error(s, c, 401, "missing or wrong API key (Authorization: Bearer KEY)", NULL);
    }
    int kind = 0, path_known = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(url, routes[i].path)) {
            path_known = 1;
            if (!strcmp(method, routes[i].method)) kind = routes[i].kind;
        }
    if (!path_known) return error(s, c, 404, "no such endpoint", NULL);
    if (!kind) return error(s, c, 405, "method not allowed for this endpoint", NULL);
    if (state != 1)
        return error(s, c, 503, state == 0 ? "the model is still loading" : s->load_err.msg, NULL);
    if (r->too_big) {
        char m[128];
        snprintf(m, sizeof m, "request body exceeds %zu bytes", s->o.max_body);
        return error(s, c, 413, m, NULL);
    }
    switch (kind) {
    case 1: return do_completion(s, c, r, 0);
    case 2: return do_completion(s, c, r, 1);
    case 3: return do_tokenize(s, c, r, 0);
    case 4: return do_tokenize(s, c, r, 1);
    case 5: return do_models(s, c);
    case 6: return do_tokenizer_info(s, c);
    default: return do_metrics(s, c);
    }
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    wf_serve *s = cls;
    conn_t *r = *con_cls;
    if (!r) {
        r = wf_calloc(NULL, sizeof *r, "serve request", NULL);
        if (!r) return MHD_NO;
        *con_cls = r;
        atomic_fetch_add(&s->open, 1);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_big || r->len + n > s->o.max_body) {
            r->too_big = 1;
            return MHD_YES; /* keep reading, answer 413 at the end */
        }
        wf_err err = {0};
        return wf_serve_buf_append(&r->body, &r->len, &r->cap, upload, n, &err) ? MHD_NO : MHD_YES;
    }
    return route(s, c, r, url, method);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    wf_serve *s = cls;
    (void)c;
    (void)toe;
    conn_t *r = *con_cls;
    if (r) {
        wf_free(NULL, r->body);
        wf_free(NULL, r);
        atomic_fetch_sub(&s->open, 1);
    }
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n') buf[--n] = 0;
    wf_log(WF_LOG_DEBUG, "serve: http: %s", buf);
}

/* ---- lifecycle ---------------------------------------------------------- */

static void *load(void *arg) {
    wf_serve *s = arg;
    wf_err err = {0};
    wf_sched *sc = NULL;
    wf_status st = wf_checkpoint_load(s->model, NULL, &s->cfg, &s->w, &err);
    if (!st) st = wf_tokenizer_open(s->tokdir, &s->tok, &err);
    if (!st) st = wf_tokenizer_fits(s->tok, s->cfg.vocab_size, s->tokdir, &err);
    if (!st) {
        int n_ctx = s->o.n_ctx > 0 ? s->o.n_ctx : s->cfg.n_positions;
        if (n_ctx > s->cfg.n_positions) {
            st = WF_FAIL(&err, WF_EUSAGE, "serve: --ctx %d exceeds the model's n_positions %d", n_ctx,
                         s->cfg.n_positions);
        } else {
            int eos = wf_tokenizer_eos(s->tok);
            if (eos < 0 || eos >= s->cfg.vocab_size) eos = s->cfg.eos_token_id;
            if (eos < 0 || eos >= s->cfg.vocab_size) eos = -1;
            s->m = (wf_serve_model){.tok = s->tok, .vocab = s->cfg.vocab_size, .n_ctx = n_ctx, .eos = eos,
                                    .name = s->name};
            int pack = !s->o.no_pack && !s->o.int8 && wf_infer_pack_auto(&s->cfg);
            if (!s->o.no_pack && !s->o.int8 && !pack)
                wf_log(WF_LOG_WARN, "serve: no packed copy of the weights (%.2f GiB would exceed half the "
                       "available memory): slower decoding", (double)wf_infer_pack_bytes(&s->cfg) / 1073741824.0);
            st = wf_sched_new(&s->m, &s->cfg, s->w, s->o.parallel, s->o.max_queue, pack, s->o.int8, &sc, &err);
        }
    }
    pthread_mutex_lock(&s->mu);
    s->sched = sc;
    s->state = st ? -1 : 1;
    if (st) s->load_err = err;
    pthread_mutex_unlock(&s->mu);
    if (!st) wf_log(WF_LOG_INFO, "serve: %s ready on port %d (%d slots)", s->name, s->port, s->o.parallel);
    return NULL;
}

wf_status wf_serve_start(const wf_serve_opts *o, wf_serve **out, wf_err *err) {
    *out = NULL;
    if (!o->model) return WF_FAIL(err, WF_EUSAGE, "serve: no model given");
    wf_serve *s = wf_calloc(NULL, sizeof *s, "serve", err);
    if (!s) return WF_ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    s->o = *o;
    if (!s->o.host) s->o.host = "127.0.0.1";
    if (!s->o.parallel) s->o.parallel = 4;
    if (!s->o.max_queue) s->o.max_queue = 64;
    if (!s->o.max_body) s->o.max_body = 4u << 20;
    if (s->o.timeout_s <= 0) s->o.timeout_s = 600;
    snprintf(s->model, sizeof s->model, "%s", o->model);
    snprintf(s->api_key, sizeof s->api_key, "%s", o->api_key ? o->api_key : "");
    if (o->tokenizer) snprintf(s->tokdir, sizeof s->tokdir, "%s", o->tokenizer);
    else snprintf(s->tokdir, sizeof s->tokdir, "%s", wf_tokenizer_for_model(NULL, o->model));
    if (o->name) snprintf(s->name, sizeof s->name, "%s", o->name);
    else {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", o->model);
        size_t n = strlen(tmp);
        while (n > 1 && tmp[n - 1] == '/') tmp[--n] = 0;
        const char *b = strrchr(tmp, '/');
        snprintf(s->name, sizeof s->name, "%.255s", b ? b + 1 : tmp);
    }
    wf_status st;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    const char *ip = !strcmp(s->o.host, "localhost") ? "127.0.0.1" : s->o.host; /* the name everyone types */
    if (o->port < 0 || o->port > 65535) {
        st = WF_FAIL(err, WF_EUSAGE, "serve: --port %d: expected 0..65535", o->port);
        goto fail;
    }
    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
        st = WF_FAIL(err, WF_EUSAGE, "serve: --host '%s': not an IPv4 address (such as 127.0.0.1 or 0.0.0.0) or "
                     "localhost", s->o.host);
        goto fail;
    }
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC,
                            (uint16_t)o->port, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &addr,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)(s->o.parallel + s->o.max_queue + 64),
                            /* idle limit; above the request limit so a long wait is never cut */
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(s->o.timeout_s + 60),
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
    if (!s->d) {
        st = WF_FAIL(err, WF_EIO, "serve: %s:%d: cannot listen (port in use?)", s->o.host, o->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : o->port;
    if (pthread_create(&s->loader, NULL, load, s)) {
        st = WF_FAIL(err, WF_ENOMEM, "serve: cannot start the loader thread");
        goto fail;
    }
    s->loader_started = 1;
    *out = s;
    return WF_OK;
fail:
    wf_serve_stop(s);
    return st;
}

int wf_serve_port(const wf_serve *s) { return s->port; }

int wf_serve_state(wf_serve *s, wf_err *err) {
    pthread_mutex_lock(&s->mu);
    int st = s->state;
    if (st < 0 && err) *err = s->load_err;
    pthread_mutex_unlock(&s->mu);
    return st;
}

int wf_serve_open_requests(wf_serve *s) { return s ? atomic_load(&s->open) : 0; }

void wf_serve_stop(wf_serve *s) {
    if (!s) return;
    if (s->loader_started) pthread_join(s->loader, NULL);
    if (s->d) MHD_quiesce_daemon(s->d); /* no new connections */
    wf_sched_shutdown(s->sched);          /* every running or queued request ends with 503 ... */
    /* ... and its answer goes out before the connections close (up to 5 s:
    ** a stream's error event and [DONE]; it had been cut without either) */
    for (int i = 0; i < 500 && atomic_load(&s->open) > 0; i++) usleep(10 * 1000);
    if (s->d) MHD_stop_daemon(s->d);
    wf_sched_free(s->sched);
    wf_tokenizer_free(s->tok);
    wf_free(NULL, s->w);
    pthread_mutex_destroy(&s->mu);
    wf_free(NULL, s);
}
