/* sched.c — continuous batching. One thread owns the inference context, whose
** cache rows are `parallel` slots (model/infer.h slot mode). Each loop: drop
** cancelled and expired sequences, move queued ones into free slots, then one
** forward over every active slot, each at its own position: one token for
** each decoding sequence plus up to 256 prompt tokens of sequences still
** prefilling (a prompt is split over steps, so new requests do not stall the
** others; while some decode, the step holds at most WF_SERVE_MIXED rows);
** then sample and append the tokens. Requests join and leave between
** steps. A sequence that wants its prompt's logprobs (echo) is prefilled on
** its own with every position's logits. The lock guards the queue, the slots
** and everything a job shows to http.c; the forward runs without it. */
#include "serve/serve_int.h"

#include "kernels/kernels.h"
#include "model/infer.h"

#include <errno.h>
#include <string.h>
#include <time.h>

const double wf_serve_ttft_bounds[8] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
const double wf_serve_tok_bounds[8] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5};

struct wf_sched {
    wf_serve_model m;
    wf_infer *inf;
    int parallel, max_queue;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t th;
    int started, stop, closed;
    wf_serve_seq **queue;  /* [max_queue], FIFO, qlen used */
    int qlen;
    wf_serve_seq **slot;   /* [parallel], NULL = free */
    float *logits;         /* [parallel, V]: next-token logits per slot */
    float *plogits;        /* [WF_SERVE_PREFILL, V]: prompt logits for echo */
    int *bslot, *bpos, *blen; /* [parallel] the step's sequences */
    int32_t *bids;         /* [parallel + WF_SERVE_PREFILL] the step's tokens */
    wf_serve_stats st;
};

static void observe(uint64_t *bucket, const double *bounds, double v) {
    for (int i = 0; i < 8; i++) bucket[i] += v <= bounds[i];
}

/* Marks q done (under the lock) and wakes its job's waiters. */
static void finish_seq(wf_sched *s, wf_serve_seq *q, int finish) {
    if (q->state == SEQ_DONE) return;
    if (!q->finish) q->finish = finish;
    q->state = SEQ_DONE;
    if (q->slot >= 0 && s->slot[q->slot] == q) s->slot[q->slot] = NULL;
    q->slot = -1;
    q->job->n_done++;
    pthread_cond_broadcast(&q->job->cond);
}

/* Top-k of logprobs row (lse subtracted) into e, highest first. */
static void top_k(wf_serve_lp *e, int k, const float *row, int V, float lse) {
    e->n_top = 0;
    for (int v = 0; v < V && k > 0; v++) {
        float x = row[v];
        if (e->n_top == k && x <= row[e->top_id[k - 1]]) continue;
        int i = e->n_top < k ? e->n_top++ : k - 1;
        while (i > 0 && row[e->top_id[i - 1]] < x) {
            e->top_id[i] = e->top_id[i - 1];
            i--;
        }
        e->top_id[i] = v;
    }
    for (int i = 0; i < e->n_top; i++) e->top_lp[i] = row[e->top_id[i]] - lse;
}

/* The token after row: logprob entry, text, stop checks (under the lock). */
static void produce(wf_sched *s, wf_serve_seq *q, const float *row) {
    wf_serve_job *j = q->job;
    if (q->state == SEQ_DONE) return;
    const int V = s->m.vocab;
    int32_t id = wf_sampler_next(q->smp, row);
    double now = wf_now();
    if (q->n_gen == 0) {
        if (!j->t_first) j->t_first = now;
        s->st.ttft_sum += now - j->t_submit;
        s->st.ttft_n++;
        observe(s->st.ttft_bucket, wf_serve_ttft_bounds, now - j->t_submit);
    } else {
        s->st.tok_sum += now - q->t_last;
        s->st.tok_n++;
        observe(s->st.tok_bucket, wf_serve_tok_bounds, now - q->t_last);
    }
    q->t_last = now;
    if (q->lp) {
        wf_serve_lp *e = &q->lp[q->n_lp++];
        float lse = wf_logsumexp(row, V);
        *e = (wf_serve_lp){.id = id, .has_lp = 1, .lp = row[id] - lse, .offset = q->len};
        top_k(e, j->logprobs, row, V, lse);
    }
    q->ids[q->n_prompt + q->n_gen++] = id;
    s->st.gen_tokens++;
    pthread_cond_broadcast(&j->cond);
    if (id == s->m.eos && !j->ignore_eos) {
        finish_seq(s, q, FINISH_STOP);
        return;
    }
    const char *b;
    int n = wf_tokenizer_token_bytes(s->m.tok, id, &b);
    size_t before = q->len;
    wf_err err = {0};
    if (n > 0 && wf_serve_seq_append(q, b, (size_t)n, &err)) {
        j->status = 500;
        snprintf(j->err, sizeof j->err, "%s", err.msg);
        finish_seq(s, q, FINISH_NONE);
        return;
    }
    if (j->n_stop) {
        size_t from = before > q->gen_start + j->stop_max ? before - j->stop_max : q->gen_start;
        for (size_t p = from; p < q->len; p++)
            for (int i = 0; i < j->n_stop; i++) {
                size_t l = strlen(j->stop[i]);
                if (p + l <= q->len && !memcmp(q->text + p, j->stop[i], l)) {
                    q->len = p;
                    q->text[p] = 0;
                    finish_seq(s, q, FINISH_STOP);
                    return;
                }
            }
    }
    if (q->n_gen >= q->max_gen) finish_seq(s, q, FINISH_LENGTH);
    else q->next = id;
}

/* Runs q's prompt into its slot (without the lock); with echo + logprobs,
** fills the prompt's logprob entries from the logits of every position. */
static wf_status prefill(wf_sched *s, wf_serve_seq *q, wf_err *err) {
    const int V = s->m.vocab, n = q->n_prompt;
    const int all = q->n_echo > 0;
    float *next = s->logits + (size_t)q->slot * V;
    for (int t0 = 0; t0 < n; t0 += WF_SERVE_PREFILL) {
        int Tc = n - t0 < WF_SERVE_PREFILL ? n - t0 : WF_SERVE_PREFILL, last = t0 + Tc == n;
        wf_logits_mode mode = all ? WF_LOGITS_ALL : last ? WF_LOGITS_LAST : WF_LOGITS_NONE;
        wf_status st = wf_infer_forward_slots(s->inf, &q->slot, &t0, &Tc, q->ids + t0, 1, all ? s->plogits : next,
                                              mode, err);
        if (st) return st;
        if (!all) continue;
        for (int t = 0; t < Tc; t++) {
            int i = t0 + t;
            const float *row = s->plogits + (size_t)t * V;
            if (i + 1 < n) {
                wf_serve_lp *e = &q->lp[i + 1];
                float lse = wf_logsumexp(row, V);
                e->has_lp = 1;
                e->lp = row[e->id] - lse;
                top_k(e, q->job->logprobs, row, V, lse);
            } else memcpy(next, row, sizeof(float) * V);
        }
    }
    q->pos = n;
    return WF_OK;
}

/* Ends sequences whose job was cancelled or ran out of time (under the lock). */
static void retire(wf_sched *s, double now) {
    for (int i = 0; i < s->qlen + s->parallel; i++) {
        wf_serve_seq *q = i < s->qlen ? s->queue[i] : s->slot[i - s->qlen];
        if (!q) continue;
        wf_serve_job *j = q->job;
        if (!j->cancelled && !s->stop && now <= j->deadline) continue;
        if (s->stop && !j->status) {
            j->status = 503;
            snprintf(j->err, sizeof j->err, "server shutting down");
        } else if (j->cancelled) {
            s->st.cancelled++;
        } else if (!j->status) {
            j->status = 504;
            snprintf(j->err, sizeof j->err, "request exceeded the time limit of %.0f s",
                     j->deadline - j->t_submit);
        }
        finish_seq(s, q, FINISH_NONE); /* cut short: its last chunk says null, not "length" */
    }
    int k = 0;
    for (int i = 0; i < s->qlen; i++)
        if (s->queue[i]->state != SEQ_DONE) s->queue[k++] = s->queue[i];
    s->qlen = k;
}

/* Ends q with a 500 carrying err (under the lock). */
static void fail_seq(wf_sched *s, wf_serve_seq *q, const wf_err *err) {
    q->job->status = 500;
    snprintf(q->job->err, sizeof q->job->err, "%s", err->msg);
    finish_seq(s, q, FINISH_NONE);
}

static void *run(void *arg) {
    wf_sched *s = arg;
    const int V = s->m.vocab;
    wf_serve_seq *batch[256], *echo[256];
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        retire(s, wf_now());
        for (int i = 0; i < s->parallel && s->qlen > 0; i++) {
            if (s->slot[i]) continue;
            wf_serve_seq *q = s->queue[0];
            memmove(s->queue, s->queue + 1, sizeof(*s->queue) * (size_t)--s->qlen);
            q->slot = i;
            q->pos = 0;
            q->state = SEQ_RUNNING;
            s->slot[i] = q;
            if (q->max_gen == 0 && q->n_echo == 0) finish_seq(s, q, FINISH_LENGTH); /* needs no model */
        }
        /* the step: decoding sequences first, then prompt chunks within the row budget */
        int B = 0, rows = 0, n_dec = 0, n_echo = 0, budget = WF_SERVE_PREFILL;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && n_dec) budget = n_dec + 16 < WF_SERVE_MIXED ? WF_SERVE_MIXED - n_dec : 16;
            for (int i = 0; i < s->parallel; i++) {
                wf_serve_seq *q = s->slot[i];
                if (!q || q->state != SEQ_RUNNING || q->job->cancelled) continue;
                int decoding = q->pos >= q->n_prompt, n = 1;
                if (pass == 0 && !decoding) continue;
                if (pass == 1) {
                    if (decoding) continue;
                    if (q->n_echo) {
                        echo[n_echo++] = q;
                        continue;
                    }
                    n = q->n_prompt - q->pos < budget ? q->n_prompt - q->pos : budget;
                    if (n <= 0) continue;
                    budget -= n;
                    memcpy(s->bids + rows, q->ids + q->pos, sizeof(int32_t) * (size_t)n);
                } else {
                    s->bids[rows] = q->next;
                    n_dec++;
                }
                s->bslot[B] = i;
                s->bpos[B] = q->pos;
                s->blen[B] = n;
                rows += n;
                batch[B++] = q;
            }
        }
        s->st.active = 0;
        for (int i = 0; i < s->parallel; i++) s->st.active += s->slot[i] != NULL;
        s->st.queued = s->qlen;
        if (!B && !n_echo) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&s->wake, &s->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < n_echo; i++) { /* whole prompt, every position's logits */
            wf_serve_seq *q = echo[i];
            wf_err err = {0};
            wf_status st = prefill(s, q, &err);
            pthread_mutex_lock(&s->mu);
            q->n_lp = q->n_echo;
            if (st) fail_seq(s, q, &err);
            else if (q->max_gen == 0) finish_seq(s, q, FINISH_LENGTH);
            else produce(s, q, s->logits + (size_t)q->slot * V);
            pthread_mutex_unlock(&s->mu);
        }
        wf_err err = {0};
        wf_status st = B ? wf_infer_forward_slots(s->inf, s->bslot, s->bpos, s->blen, s->bids, B, s->logits,
                                                  WF_LOGITS_LAST, &err)
                         : WF_OK;
        pthread_mutex_lock(&s->mu);
        s->st.steps += n_dec > 0;
        s->st.step_rows += (uint64_t)n_dec;
        for (int b = 0; b < B; b++) {
            wf_serve_seq *q = batch[b];
            if (st) {
                fail_seq(s, q, &err);
                continue;
            }
            q->pos += s->blen[b];
            if (q->pos >= q->n_prompt) produce(s, q, s->logits + (size_t)b * V); /* else: more prompt to come */
        }
    }
    retire(s, wf_now()); /* stop: every remaining sequence ends with 503 */
    s->closed = 1;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

wf_status wf_sched_new(const wf_serve_model *m, const wf_gpt_config *cfg, const float *weights, int parallel,
                       int max_queue, int pack, int int8, wf_sched **out, wf_err *err) {
    *out = NULL;
    if (parallel < 1 || parallel > 256 || max_queue < 1)
        return WF_FAIL(err, WF_EUSAGE, "serve: --parallel %d outside [1, 256] or --max-queue %d < 1", parallel,
                       max_queue);
    wf_sched *s = wf_calloc(NULL, sizeof *s, "serve scheduler", err);
    if (!s) return WF_ENOMEM;
    s->m = *m;
    s->parallel = parallel;
    s->max_queue = max_queue;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    wf_infer_opts io = {.max_batch = parallel, .n_ctx = m->n_ctx, .max_rows = parallel + WF_SERVE_PREFILL,
                        .pack = pack, .int8 = int8};
    wf_status st = wf_infer_new(cfg, weights, &io, NULL, &s->inf, err);
    if (st) goto fail;
    const size_t V = (size_t)m->vocab;
    s->queue = wf_calloc(NULL, sizeof(*s->queue) * (size_t)max_queue, "serve queue", err);
    s->slot = wf_calloc(NULL, sizeof(*s->slot) * (size_t)parallel, "serve slots", err);
    s->logits = wf_alloc(NULL, sizeof(float) * (size_t)parallel * V, "serve logits", err);
    s->plogits = wf_alloc(NULL, sizeof(float) * WF_SERVE_PREFILL * V, "serve prompt logits", err);
    s->bslot = wf_alloc(NULL, sizeof(int) * (size_t)parallel * 3, "serve batch", err);
    s->bids = wf_alloc(NULL, sizeof(int32_t) * (size_t)(parallel + WF_SERVE_PREFILL), "serve batch ids", err);
    if (!s->queue || !s->slot || !s->logits || !s->plogits || !s->bslot || !s->bids) {
        st = WF_ENOMEM;
        goto fail;
    }
    s->bpos = s->bslot + parallel;
    s->blen = s->bpos + parallel;
    if (pthread_create(&s->th, NULL, run, s)) {
        st = WF_FAIL(err, WF_ENOMEM, "serve: cannot start the scheduler thread: %s", strerror(errno));
        goto fail;
    }
    s->started = 1;
    *out = s;
    return WF_OK;
fail:
    wf_sched_free(s);
    return st;
}

void wf_sched_shutdown(wf_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

void wf_sched_free(wf_sched *s) {
    if (!s) return;
    wf_sched_shutdown(s);
    if (s->started) pthread_join(s->th, NULL);
    wf_infer_free(s->inf);
    wf_free(NULL, s->queue);
    wf_free(NULL, s->slot);
    wf_free(NULL, s->logits);
    wf_free(NULL, s->plogits);
    wf_free(NULL, s->bslot);
    wf_free(NULL, s->bids);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    wf_free(NULL, s);
}

int wf_sched_submit(wf_sched *s, wf_serve_job *j, double timeout_s) {
    wf_err err = {0};
    for (int i = 0; i < j->n_seq; i++) {
        wf_serve_seq *q = &j->seq[i];
        wf_sample_opts so = {.temperature = j->temperature, .top_k = 0, .top_p = j->top_p};
        q->slot = -1;
        if (wf_sampler_new(s->m.vocab, &so, j->seed + (uint64_t)q->index, NULL, &q->smp, &err)) return 500;
    }
    if (j->n_seq > s->max_queue) return 400; /* could never fit, however long it waited */
    pthread_mutex_lock(&s->mu);
    int st = 0;
    if (s->stop) st = 503;
    else if (s->qlen + j->n_seq > s->max_queue) st = 429;
    else {
        j->t_submit = wf_now();
        j->deadline = j->t_submit + timeout_s;
        for (int i = 0; i < j->n_seq; i++) s->queue[s->qlen++] = &j->seq[i];
        s->st.prompt_tokens += (uint64_t)j->prompt_tokens;
        s->st.queued = s->qlen;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

void wf_sched_cancel(wf_sched *s, wf_serve_job *j) {
    pthread_mutex_lock(&s->mu);
    j->cancelled = 1;
    pthread_cond_signal(&s->wake);
    while (j->n_done < j->n_seq) pthread_cond_wait(&j->cond, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

int wf_sched_wait(wf_sched *s, wf_serve_job *j, int ms) {
    pthread_mutex_lock(&s->mu);
    if (j->n_done < j->n_seq) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&j->cond, &s->mu, &ts);
    }
    int done = j->n_done == j->n_seq;
    pthread_mutex_unlock(&s->mu);
    return done;
}

pthread_mutex_t *wf_sched_lock(wf_sched *s) { return &s->mu; }

void wf_sched_stats(wf_sched *s, wf_serve_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}

void wf_sched_count(wf_sched *s, int error) {
    pthread_mutex_lock(&s->mu);
    s->st.requests++;
    s->st.errors += error != 0;
    pthread_mutex_unlock(&s->mu);
}
