/* api.c — the OpenAI wire format: parses and validates /v1/completions and
** /v1/chat/completions bodies into jobs (serve_int.h), renders responses,
** SSE chunks and error objects. Pure functions over memory: no sockets, no
** model math (so fuzz/fuzz_request.c can drive it on any bytes).
**
** Chat template (for base models, documented in README.md): each message
** becomes "System: <content>\n", "User: <content>\n" or "Assistant:
** <content>\n", then "Assistant:" opens the reply; "\nUser:" and "\nSystem:"
** are added to the stop strings. */
#include "serve/serve_int.h"
#include "base/rng.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STOP_BYTES 256 /* per stop string */

static int bad(char *msg, size_t cap, const char **param, const char *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static int bad(char *msg, size_t cap, const char **param, const char *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    *param = p;
    return 400;
}

/* An integer-valued JSON number in [lo, hi]. */
static int json_int(const cJSON *v, double lo, double hi, long long *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= lo && d <= hi) || d != floor(d)) return -1;
    *out = (long long)d;
    return 0;
}

void wf_serve_job_free(wf_serve_job *j) {
    if (!j) return;
    for (int i = 0; i < j->n_seq; i++) {
        wf_serve_seq *s = &j->seq[i];
        wf_free(NULL, s->ids);
        wf_free(NULL, s->text);
        wf_free(NULL, s->lp);
        wf_sampler_free(s->smp);
    }
    for (int i = 0; i < j->n_stop; i++) wf_free(NULL, j->stop[i]);
    wf_free(NULL, j->stop);
    wf_free(NULL, j->seq);
    pthread_cond_destroy(&j->cond);
    wf_free(NULL, j);
}

wf_status wf_serve_buf_append(char **buf, size_t *len, size_t *cap, const char *bytes, size_t n, wf_err *err) {
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 64;
        while (nc < *len + n + 1) nc *= 2;
        char *p = wf_realloc(NULL, *buf, nc, "serve text", err);
        if (!p) return WF_ENOMEM;
        *buf = p;
        *cap = nc;
    }
    if (n) memcpy(*buf + *len, bytes, n);
    *len += n;
    (*buf)[*len] = 0;
    return WF_OK;
}

wf_status wf_serve_seq_append(wf_serve_seq *s, const char *bytes, size_t n, wf_err *err) {
    return wf_serve_buf_append(&s->text, &s->len, &s->cap, bytes, n, err);
}

size_t wf_serve_seq_safe_len(const wf_serve_seq *s) {
    if (s->state == SEQ_DONE) return s->len;
    const wf_serve_job *j = s->job;
    size_t h = s->len;
    size_t gen = s->len - s->gen_start;
    for (size_t k = j->stop_max ? j->stop_max - 1 : 0; k > 0; k--) {
        if (k > gen) continue;
        int hit = 0;
        for (int i = 0; i < j->n_stop && !hit; i++)
            hit = strlen(j->stop[i]) > k && !memcmp(s->text + s->len - k, j->stop[i], k);
        if (hit) {
            h = s->len - k;
            break;
        }
    }
    /* do not split a UTF-8 character */
    size_t b = h, back = 0;
    while (b > s->gen_start && back < 3 && ((unsigned char)s->text[b - 1] & 0xC0) == 0x80) b--, back++;
    if (b > s->gen_start) {
        unsigned char c = (unsigned char)s->text[b - 1];
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (c >= 0xC0 && need > back + 1) h = b - 1;
    }
    return h;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t k;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) k = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) k = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) k = 4, cp = c & 0x07;
    else return 0;
    if (k > n) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return k;
}

char *wf_serve_utf8_clean(const char *s, size_t n) {
    char *o = malloc(n * 3 + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len((const unsigned char *)s + i, n - i);
        if (l && s[i]) {
            memcpy(o + k, s + i, l);
            k += l;
            i += l;
        } else if (!s[i]) { /* NUL would end the C string cJSON prints: keep it as U+0000 via cJSON? drop */
            i++;
        } else {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        }
    }
    o[k] = 0;
    return o;
}

/* A token as the "tokens" list shows it: its text when valid UTF-8, else
** "bytes:\xNN..." as OpenAI writes partial characters. */
static cJSON *token_string(const wf_serve_model *m, int32_t id) {
    const char *b;
    int n = wf_tokenizer_token_bytes(m->tok, id, &b);
    char buf[1024];
    if (n < 0) {
        snprintf(buf, sizeof buf, "<id %d>", (int)id);
        return cJSON_CreateString(buf);
    }
    int ok = 1;
    for (int i = 0; i < n && ok;) {
        size_t l = utf8_len((const unsigned char *)b + i, (size_t)(n - i));
        ok = l && b[i];
        i += (int)l;
    }
    if (ok && n < (int)sizeof buf) {
        memcpy(buf, b, (size_t)n);
        buf[n] = 0;
        return cJSON_CreateString(buf);
    }
    size_t k = (size_t)snprintf(buf, sizeof buf, "bytes:");
    for (int i = 0; i < n && k + 5 < sizeof buf; i++) k += (size_t)snprintf(buf + k, sizeof buf - k, "\\x%02x", (unsigned char)b[i]);
    return cJSON_CreateString(buf);
}

/* A request without "seed" samples from a seed of its own: a counter every
** request advances, mixed with the clock in nanoseconds and the process id
** (time(NULL) and the job's address had repeated within a second: 7 of 10
** requests gave the same text). */
static uint64_t fresh_seed(void) {
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull ^
                 ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ (uint64_t)getpid() << 40;
    return wf_splitmix64(&x);
}

/* ---- parsing ------------------------------------------------------------ */

/* src[0..n) into dst (n + 1 bytes) with '?' for the bytes that are not
** printable ASCII: a quote of the body in a one-line message. */
static void printable(char *dst, const char *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
    dst[n] = 0;
}

static int json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d > 15) return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* "prompt: contains U+0000 (NUL) at byte 14, ..." naming the last key seen. */
static int nul_at(const char *body, size_t key, size_t key_len, int have_key, size_t at, const char *what, char *msg,
                  size_t cap) {
    if (have_key) { /* the key as written, printable bytes only (the message is one line) */
        char k[65];
        printable(k, body + key, key_len < 64 ? key_len : 64);
        snprintf(msg, cap, "%s: contains %s at byte %zu of the body, which wafer does not accept", k, what, at);
    }
    else snprintf(msg, cap, "request body: contains %s at byte %zu, which wafer does not accept", what, at);
    return 400;
}

/* What cJSON would take silently and get wrong: a NUL in a string (\u0000 or
** the raw byte: cJSON's strings end there, so the text after it would vanish)
** and a lone UTF-16 surrogate (cJSON only says "invalid JSON"). Walks the
** strings of body[0..len), remembering the last object key, so that the
** message names the field ("prompt: contains U+0000 ..."). Returns 0 when
** the strings are fine; then cJSON judges the rest. */
static int scan_strings(const char *body, size_t len, char *msg, size_t cap) {
    size_t key = 0, key_len = 0, str = 0; /* the last key, and where the current string starts */
    int have_key = 0;
    for (size_t i = 0; i < len; i++) {
        if (body[i] == 0) return nul_at(body, key, key_len, have_key, i, "a NUL byte", msg, cap);
        if (body[i] != '"') continue;
        str = ++i;
        for (; i < len && body[i] != '"'; i++) {
            if (body[i] == 0) return nul_at(body, key, key_len, have_key, i, "a NUL byte", msg, cap);
            if (body[i] != '\\') continue;
            if (i + 1 >= len) return 0; /* cJSON reports the cut string */
            if (body[i + 1] != 'u') {
                i++;
                continue;
            }
            unsigned u, lo;
            if (i + 6 > len || hex4(body + i + 2, &u)) return 0; /* a bad escape: cJSON says where */
            if (u == 0) return nul_at(body, key, key_len, have_key, i, "U+0000 (NUL)", msg, cap);
            int high = u >= 0xD800 && u <= 0xDBFF, low = u >= 0xDC00 && u <= 0xDFFF;
            if (high && i + 12 <= len && body[i + 6] == '\\' && body[i + 7] == 'u' && !hex4(body + i + 8, &lo) &&
                lo >= 0xDC00 && lo <= 0xDFFF) {
                i += 11; /* a pair: one character */
                continue;
            }
            if (high || low) {
                snprintf(msg, cap, "request body: invalid JSON string escape \\u%.4s (lone surrogate) at byte %zu",
                         body + i + 2, i);
                return 400;
            }
            i += 5;
        }
        if (i >= len) return 0;
        size_t k = i + 1; /* a key when a ':' follows */
        while (k < len && json_space(body[k])) k++;
        if (k < len && body[k] == ':') key = str, key_len = i - str, have_key = 1;
    }
    return 0;
}

/* The request body as a JSON object, or NULL with the reason in msg: the
** byte where the JSON breaks, data after the value, a NUL in a string or a
** lone surrogate (scan_strings). */
static cJSON *parse_body(const char *body, size_t len, char *msg, size_t cap) {
    if (scan_strings(body, len, msg, cap)) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) { /* the body is not NUL-terminated: show at most 12 bytes of it, printable ones */
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        char near[13];
        printable(near, body + at, len - at < 12 ? len - at : 12);
        snprintf(msg, cap, "request body: invalid JSON at byte %zu (near '%s')", at, near);
        return NULL;
    }
    size_t at = (size_t)(end - body);
    while (at < len && json_space(body[at])) at++;
    if (at < len) {
        snprintf(msg, cap, "request body: unexpected data after the JSON value at byte %zu", at);
        cJSON_Delete(root);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(msg, cap, "request body: not a JSON object");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

typedef struct {
    int32_t *ids;
    size_t n, cap;
} idvec;

static int add_prompt_ids(const wf_serve_model *m, idvec *pv, int *np, const cJSON *arr, int idx, char *msg,
                          size_t cap, const char **param) {
    idvec *v = &pv[*np];
    int n = cJSON_GetArraySize(arr);
    if (n == 0) return bad(msg, cap, param, "prompt", "prompt %d: empty list of token ids", idx);
    wf_err e = {0};
    v->ids = wf_alloc(NULL, sizeof(int32_t) * (size_t)n, "serve prompt", &e);
    if (!v->ids) return bad(msg, cap, param, NULL, "out of memory for prompt %d", idx);
    v->cap = (size_t)n;
    (*np)++;
    const cJSON *t;
    cJSON_ArrayForEach(t, arr) {
        long long id;
        if (json_int(t, -1e18, 1e18, &id))
            return bad(msg, cap, param, "prompt", "prompt %d: element %zu is not an integer token id", idx, v->n);
        if (id < 0 || id >= m->vocab)
            return bad(msg, cap, param, "prompt", "prompt %d: token id %lld at position %zu out of range [0, %d)",
                       idx, id, v->n, m->vocab);
        v->ids[v->n++] = (int32_t)id;
    }
    return 0;
}

static int add_prompt_text(const wf_serve_model *m, idvec *pv, int *np, const char *text, size_t len, int idx,
                           char *msg, size_t cap, const char **param) {
    idvec *v = &pv[*np];
    (*np)++;
    wf_err e = {0};
    if (wf_tokenizer_encode(m->tok, text, len, &v->ids, &v->n, &v->cap, &e))
        return bad(msg, cap, param, "prompt", "prompt %d: %s", idx, e.msg);
    if (v->n == 0 && m->eos >= 0) { /* empty prompt: start from <|endoftext|>, as OpenAI does */
        if (v->cap < 1) {
            int32_t *p = wf_realloc(NULL, v->ids, sizeof(int32_t), "serve prompt", &e);
            if (!p) return bad(msg, cap, param, NULL, "out of memory");
            v->ids = p;
            v->cap = 1;
        }
        v->ids[0] = m->eos;
        v->n = 1;
    }
    if (v->n == 0) return bad(msg, cap, param, "prompt", "prompt %d: empty", idx);
    for (size_t i = 0; i < v->n; i++)
        if (v->ids[i] >= m->vocab)
            return bad(msg, cap, param, "prompt",
                       "prompt %d: token id %d at position %zu out of range [0, %d) of the model "
                       "(does the tokenizer fit the model?)", idx, (int)v->ids[i], i, m->vocab);
    return 0;
}

/* Renders messages with the plain chat template into a malloc'd string. */
static int chat_prompt(const cJSON *msgs, char **out, size_t *outlen, char *msg, size_t cap, const char **param) {
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return bad(msg, cap, param, "messages", "'messages' must be a non-empty array");
    size_t total = 16;
    const cJSON *m;
    int i = 0;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role))
            return bad(msg, cap, param, "messages", "messages[%d]: expected an object with a string 'role'", i);
        if (strcmp(role->valuestring, "system") && strcmp(role->valuestring, "user") &&
            strcmp(role->valuestring, "assistant") && strcmp(role->valuestring, "developer"))
            return bad(msg, cap, param, "messages", "messages[%d]: unknown role '%.40s'", i, role->valuestring);
        if (cJSON_IsString(content)) total += strlen(content->valuestring) + 16;
        else if (cJSON_IsArray(content)) {
            const cJSON *part;
            cJSON_ArrayForEach(part, content) {
                const cJSON *tx = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (!cJSON_IsString(tx))
                    return bad(msg, cap, param, "messages",
                               "messages[%d]: content parts must be {\"type\": \"text\", \"text\": ...}", i);
                total += strlen(tx->valuestring);
            }
            total += 16;
        } else if (!cJSON_IsNull(content) || strcmp(role->valuestring, "assistant"))
            return bad(msg, cap, param, "messages", "messages[%d]: 'content' must be a string", i);
        i++;
    }
    char *p = malloc(total);
    if (!p) return bad(msg, cap, param, NULL, "out of memory");
    size_t k = 0;
    cJSON_ArrayForEach(m, msgs) {
        const char *r = cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring;
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        const char *R = !strcmp(r, "user") ? "User" : !strcmp(r, "assistant") ? "Assistant" : "System";
        k += (size_t)sprintf(p + k, "%s: ", R);
        if (cJSON_IsString(content)) k += (size_t)sprintf(p + k, "%s", content->valuestring);
        else if (cJSON_IsArray(content)) {
            const cJSON *part;
            cJSON_ArrayForEach(part, content) k += (size_t)sprintf(
                p + k, "%s", cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring);
        }
        p[k++] = '\n';
    }
    k += (size_t)sprintf(p + k, "Assistant:");
    *out = p;
    *outlen = k;
    return 0;
}

static int add_stop(wf_serve_job *j, const char *s, char *msg, size_t cap, const char **param) {
    size_t n = strlen(s);
    if (n == 0) return 0; /* an empty stop string never matches: ignore it, as OpenAI does */
    if (n > MAX_STOP_BYTES) return bad(msg, cap, param, "stop", "a stop string is %zu bytes, at most %d", n, MAX_STOP_BYTES);
    if (j->n_stop >= WF_SERVE_MAX_STOP)
        return bad(msg, cap, param, "stop", "more than %d stop strings", WF_SERVE_MAX_STOP);
    wf_err e = {0};
    char *c = wf_alloc(NULL, n + 1, "serve stop", &e);
    if (!c) return bad(msg, cap, param, NULL, "out of memory");
    memcpy(c, s, n + 1);
    j->stop[j->n_stop++] = c;
    if (n > j->stop_max) j->stop_max = n;
    return 0;
}

/* Reads the sampling fields shared by both endpoints into j. */
static int parse_params(const wf_serve_model *m, const cJSON *root, wf_serve_job *j, char *msg, size_t cap,
                        const char **param) {
    const cJSON *v;
    long long ll;
    v = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (v && !cJSON_IsString(v) && !cJSON_IsNull(v)) return bad(msg, cap, param, "model", "'model' must be a string");
    /* options wafer does not implement: accepted at their neutral value only,
    ** so that a client never silently gets other semantics */
    static const struct { const char *key, *what; double num; } neutral[] = {
        {"presence_penalty", "0", 0}, {"frequency_penalty", "0", 0}, {"best_of", "1", 1},
        {"logit_bias", "{}", -1}, {"suffix", "null", -2}};
    for (size_t i = 0; i < sizeof neutral / sizeof neutral[0]; i++) {
        v = cJSON_GetObjectItemCaseSensitive(root, neutral[i].key);
        int ok = !v || cJSON_IsNull(v) ||
                 (neutral[i].num == -1 ? cJSON_IsObject(v) && !v->child
                                       : cJSON_IsNumber(v) && v->valuedouble == neutral[i].num);
        if (!ok)
            return bad(msg, cap, param, neutral[i].key, "'%s' is not supported (only %s)", neutral[i].key,
                       neutral[i].what);
    }
    j->max_tokens = j->chat ? m->n_ctx : 16;
    const char *mt = j->chat && cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens")
                         ? "max_completion_tokens" : "max_tokens";
    v = cJSON_GetObjectItemCaseSensitive(root, mt);
    if (v && !cJSON_IsNull(v)) {
        if (json_int(v, 0, 1e9, &ll)) return bad(msg, cap, param, mt, "'%s' must be an integer >= 0", mt);
        j->max_tokens = (int)ll;
    }
    j->temperature = 1.0f;
    v = cJSON_GetObjectItemCaseSensitive(root, "temperature");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 2))
            return bad(msg, cap, param, "temperature", "'temperature' must be a number in [0, 2]");
        j->temperature = (float)v->valuedouble;
    }
    j->top_p = 1.0f;
    v = cJSON_GetObjectItemCaseSensitive(root, "top_p");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble <= 1))
            return bad(msg, cap, param, "top_p", "'top_p' must be a number in (0, 1]");
        j->top_p = (float)v->valuedouble;
    }
    j->n = 1;
    v = cJSON_GetObjectItemCaseSensitive(root, "n");
    if (v && !cJSON_IsNull(v)) {
        if (json_int(v, 1, WF_SERVE_MAX_SEQS, &ll))
            return bad(msg, cap, param, "n", "'n' must be an integer in [1, %d]", WF_SERVE_MAX_SEQS);
        j->n = (int)ll;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "seed");
    if (v && !cJSON_IsNull(v)) {
        if (json_int(v, -9.2e18, 9.2e18, &ll)) return bad(msg, cap, param, "seed", "'seed' must be an integer");
        j->seed = (uint64_t)ll;
    } else j->seed = fresh_seed();
    j->stop = wf_calloc(NULL, sizeof(char *) * WF_SERVE_MAX_STOP, "serve stops", NULL);
    if (!j->stop) return bad(msg, cap, param, NULL, "out of memory");
    v = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (cJSON_IsString(v)) {
        if (add_stop(j, v->valuestring, msg, cap, param)) return 400;
    } else if (cJSON_IsArray(v)) {
        const cJSON *s;
        cJSON_ArrayForEach(s, v) {
            if (!cJSON_IsString(s)) return bad(msg, cap, param, "stop", "'stop' must be a string or a list of strings");
            if (add_stop(j, s->valuestring, msg, cap, param)) return 400;
        }
    } else if (v && !cJSON_IsNull(v))
        return bad(msg, cap, param, "stop", "'stop' must be a string or a list of strings");
    if (j->chat && (add_stop(j, "\nUser:", msg, cap, param) || add_stop(j, "\nSystem:", msg, cap, param)))
        return 400;
    j->logprobs = -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "logprobs");
    if (j->chat) {
        if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v))
            return bad(msg, cap, param, "logprobs", "chat logprobs are not supported; use /v1/completions");
    } else if (v && !cJSON_IsNull(v)) {
        if (json_int(v, 0, WF_SERVE_MAX_TOP, &ll))
            return bad(msg, cap, param, "logprobs", "'logprobs' must be an integer in [0, %d]", WF_SERVE_MAX_TOP);
        j->logprobs = (int)ll;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "echo");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v) || j->chat) return bad(msg, cap, param, "echo", "'echo' must be a boolean (completions only)");
        j->echo = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "ignore_eos");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) return bad(msg, cap, param, "ignore_eos", "'ignore_eos' must be a boolean");
        j->ignore_eos = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) return bad(msg, cap, param, "stream", "'stream' must be a boolean");
        j->stream = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (v && !cJSON_IsNull(v)) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(v, "include_usage");
        if (!cJSON_IsObject(v) || (u && !cJSON_IsBool(u)))
            return bad(msg, cap, param, "stream_options", "'stream_options' must be {\"include_usage\": bool}");
        j->include_usage = cJSON_IsTrue(u);
    }
    return 0;
}

int wf_serve_parse(const wf_serve_model *m, int chat, const char *body, size_t len, wf_serve_job **out,
                   char *msg, size_t msgcap, const char **param) {
    *out = NULL;
    *param = NULL;
    wf_err e = {0};
    int st = 0, np = 0;
    idvec pv[WF_SERVE_MAX_SEQS];
    memset(pv, 0, sizeof pv);
    char *chat_text = NULL;
    char why[160] = "";
    cJSON *root = parse_body(body, len, why, sizeof why);
    wf_serve_job *j = wf_calloc(NULL, sizeof *j, "serve job", &e);
    if (!j) {
        st = bad(msg, msgcap, param, NULL, "out of memory");
        goto done;
    }
    pthread_cond_init(&j->cond, NULL);
    j->chat = chat;
    if (!root) {
        st = bad(msg, msgcap, param, NULL, "%s", why);
        goto done;
    }
    if ((st = parse_params(m, root, j, msg, msgcap, param))) goto done;
    if (chat) {
        size_t n = 0;
        if ((st = chat_prompt(cJSON_GetObjectItemCaseSensitive(root, "messages"), &chat_text, &n, msg, msgcap, param)))
            goto done;
        if ((st = add_prompt_text(m, pv, &np, chat_text, n, 0, msg, msgcap, param))) goto done;
    } else {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
        if (cJSON_IsString(p)) st = add_prompt_text(m, pv, &np, p->valuestring, strlen(p->valuestring), 0, msg, msgcap, param);
        else if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0) {
            const cJSON *first = p->child;
            if (cJSON_IsNumber(first)) st = add_prompt_ids(m, pv, &np, p, 0, msg, msgcap, param);
            else {
                const cJSON *x;
                int i = 0;
                cJSON_ArrayForEach(x, p) {
                    if (np >= WF_SERVE_MAX_SEQS) {
                        st = bad(msg, msgcap, param, "prompt", "more than %d prompts", WF_SERVE_MAX_SEQS);
                        break;
                    }
                    if (cJSON_IsString(x))
                        st = add_prompt_text(m, pv, &np, x->valuestring, strlen(x->valuestring), i, msg, msgcap, param);
                    else if (cJSON_IsArray(x)) st = add_prompt_ids(m, pv, &np, x, i, msg, msgcap, param);
                    else st = bad(msg, msgcap, param, "prompt",
                                  "prompt %d: expected a string or a list of token ids", i);
                    if (st) break;
                    i++;
                }
            }
        } else st = bad(msg, msgcap, param, "prompt",
                        "'prompt' must be a string, a list of strings, a list of token ids or a list of those");
        if (st) goto done;
    }
    for (int i = 0; i < np; i++)
        if (pv[i].n > (size_t)m->n_ctx) {
            st = bad(msg, msgcap, param, "prompt", "prompt %d: %zu tokens exceed the context of %d tokens", i,
                     pv[i].n, m->n_ctx);
            goto done;
        }
    if ((long)np * j->n > WF_SERVE_MAX_SEQS) {
        st = bad(msg, msgcap, param, "n", "%d prompts x n = %d exceeds %d sequences per request", np, j->n,
                 WF_SERVE_MAX_SEQS);
        goto done;
    }
    j->n_prompts = np;
    j->seq = wf_calloc(NULL, sizeof(wf_serve_seq) * (size_t)np * j->n, "serve seqs", &e);
    if (!j->seq) {
        st = bad(msg, msgcap, param, NULL, "out of memory");
        goto done;
    }
    for (int p = 0; p < np; p++) {
        j->prompt_tokens += (int)pv[p].n;
        for (int k = 0; k < j->n; k++) {
            wf_serve_seq *s = &j->seq[j->n_seq++];
            s->job = j;
            s->index = p * j->n + k;
            s->prompt = p;
            s->n_prompt = (int)pv[p].n;
            int room = m->n_ctx - s->n_prompt + 1;
            s->max_gen = j->max_tokens < room ? j->max_tokens : room;
            s->ids = wf_alloc(NULL, sizeof(int32_t) * (size_t)(s->n_prompt + s->max_gen), "serve ids", &e);
            if (!s->ids || wf_serve_seq_append(s, "", 0, &e)) {
                st = bad(msg, msgcap, param, NULL, "out of memory");
                goto done;
            }
            memcpy(s->ids, pv[p].ids, sizeof(int32_t) * pv[p].n);
            if (j->logprobs >= 0) {
                int cap = (j->echo ? s->n_prompt : 0) + s->max_gen;
                s->lp = wf_alloc(NULL, sizeof(wf_serve_lp) * (size_t)(cap ? cap : 1), "serve logprobs", &e);
                if (!s->lp) {
                    st = bad(msg, msgcap, param, NULL, "out of memory for logprobs");
                    goto done;
                }
            }
            if (j->echo)
                for (int t = 0; t < s->n_prompt; t++) {
                    const char *b;
                    int n = wf_tokenizer_token_bytes(m->tok, s->ids[t], &b);
                    if (s->lp) s->lp[s->n_echo++] = (wf_serve_lp){.id = s->ids[t], .offset = s->len};
                    if (n > 0 && wf_serve_seq_append(s, b, (size_t)n, &e)) {
                        st = bad(msg, msgcap, param, NULL, "out of memory");
                        goto done;
                    }
                }
            s->gen_start = s->len;
        }
    }
    snprintf(j->id, sizeof j->id, "%s", chat ? "chatcmpl" : "cmpl"); /* http.c numbers it */
    j->created = (long)time(NULL);
done:
    for (int i = 0; i < WF_SERVE_MAX_SEQS; i++) wf_free(NULL, pv[i].ids);
    free(chat_text);
    cJSON_Delete(root);
    if (st) {
        wf_serve_job_free(j);
        return st;
    }
    *out = j;
    return 0;
}

/* ---- rendering ------------------------------------------------------------ */

static void add_text(cJSON *o, const char *key, const char *s, size_t n) {
    char *c = wf_serve_utf8_clean(s, n);
    cJSON_AddStringToObject(o, key, c ? c : "");
    free(c);
}

/* Unicode characters in text[0..off). */
static long chars_before(const char *text, size_t off) {
    long k = 0;
    for (size_t i = 0; i < off; i++) k += ((unsigned char)text[i] & 0xC0) != 0x80;
    return k;
}

static cJSON *render_logprobs(const wf_serve_model *m, const wf_serve_seq *s, int from, int to) {
    cJSON *o = cJSON_CreateObject();
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
    cJSON *lps = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs");
    cJSON *offs = cJSON_AddArrayToObject(o, "text_offset");
    for (int i = from; i < to; i++) {
        const wf_serve_lp *e = &s->lp[i];
        cJSON_AddItemToArray(toks, token_string(m, e->id));
        if (!e->has_lp) {
            cJSON_AddItemToArray(lps, cJSON_CreateNull());
            cJSON_AddItemToArray(tops, cJSON_CreateNull());
        } else {
            cJSON_AddItemToArray(lps, cJSON_CreateNumber(e->lp));
            cJSON *t = cJSON_CreateObject();
            int chosen_in = 0;
            for (int k = 0; k < e->n_top; k++) {
                cJSON *key = token_string(m, e->top_id[k]);
                cJSON_AddNumberToObject(t, key->valuestring, e->top_lp[k]);
                cJSON_Delete(key);
                chosen_in |= e->top_id[k] == e->id;
            }
            if (!chosen_in) { /* OpenAI: the sampled token is always there (up to logprobs + 1 entries) */
                cJSON *key = token_string(m, e->id);
                cJSON_AddNumberToObject(t, key->valuestring, e->lp);
                cJSON_Delete(key);
            }
            cJSON_AddItemToArray(tops, t);
        }
        size_t off = e->offset < s->len ? e->offset : s->len;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)chars_before(s->text, off)));
    }
    return o;
}

static const char *finish_name(int f) { return f == FINISH_STOP ? "stop" : f == FINISH_LENGTH ? "length" : NULL; }

static cJSON *usage(const wf_serve_job *j) {
    long gen = 0;
    for (int i = 0; i < j->n_seq; i++) gen += j->seq[i].n_gen;
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)gen);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(gen + j->prompt_tokens));
    return u;
}

static cJSON *envelope(const wf_serve_model *m, const wf_serve_job *j, const char *object) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", m->name);
    return o;
}

char *wf_serve_render(const wf_serve_model *m, const wf_serve_job *j) {
    cJSON *o = envelope(m, j, j->chat ? "chat.completion" : "text_completion");
    cJSON *ch = cJSON_AddArrayToObject(o, "choices");
    for (int i = 0; i < j->n_seq; i++) {
        const wf_serve_seq *s = &j->seq[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", s->index);
        if (j->chat) {
            cJSON *msg = cJSON_AddObjectToObject(c, "message");
            cJSON_AddStringToObject(msg, "role", "assistant");
            add_text(msg, "content", s->text + s->gen_start, s->len - s->gen_start);
            cJSON_AddNullToObject(c, "logprobs");
        } else {
            add_text(c, "text", s->text, s->len);
            if (s->lp) cJSON_AddItemToObject(c, "logprobs", render_logprobs(m, s, 0, s->n_lp));
            else cJSON_AddNullToObject(c, "logprobs");
        }
        cJSON_AddStringToObject(c, "finish_reason", finish_name(s->finish) ? finish_name(s->finish) : "length");
        cJSON_AddItemToArray(ch, c);
    }
    cJSON_AddItemToObject(o, "usage", usage(j));
    char *r = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return r;
}

/* Appends "data: <json>\n\n" for o (deleted) to the growing *buf. */
static void sse(char **buf, size_t *len, cJSON *o, const char *raw) {
    char *p = o ? cJSON_PrintUnformatted(o) : NULL;
    const char *d = p ? p : raw;
    size_t n = strlen(d);
    char *nb = realloc(*buf, *len + n + 9);
    if (nb) {
        *buf = nb;
        *len += (size_t)sprintf(nb + *len, "data: %s\n\n", d);
    }
    free(p);
    cJSON_Delete(o);
}

char *wf_serve_render_stream(const wf_serve_model *m, wf_serve_job *j, int *finished) {
    char *buf = NULL;
    size_t len = 0;
    int all_final = 1;
    *finished = 0;
    for (int i = 0; i < j->n_seq; i++) {
        wf_serve_seq *s = &j->seq[i];
        if (s->final_sent) continue;
        int done = s->state == SEQ_DONE;
        size_t safe = wf_serve_seq_safe_len(s);
        if (!done) all_final = 0;
        if (!done && safe <= s->sent && (!j->chat || s->started) && s->n_lp == s->lp_sent) continue;
        if (j->status && !done) continue;
        cJSON *o = envelope(m, j, j->chat ? "chat.completion.chunk" : "text_completion");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", s->index);
        size_t from = s->sent > safe ? safe : s->sent;
        if (j->chat) {
            cJSON *d = cJSON_AddObjectToObject(c, "delta");
            if (!s->started) cJSON_AddStringToObject(d, "role", "assistant");
            if (safe > from || !s->started) add_text(d, "content", s->text + from, safe - from);
            cJSON_AddNullToObject(c, "logprobs");
        } else {
            add_text(c, "text", s->text + from, safe - from);
            if (s->lp && s->n_lp > s->lp_sent) cJSON_AddItemToObject(c, "logprobs", render_logprobs(m, s, s->lp_sent, s->n_lp));
            else cJSON_AddNullToObject(c, "logprobs");
        }
        s->started = 1;
        s->sent = safe;
        s->lp_sent = s->n_lp;
        if (done && finish_name(s->finish)) cJSON_AddStringToObject(c, "finish_reason", finish_name(s->finish));
        else cJSON_AddNullToObject(c, "finish_reason");
        s->final_sent = done;
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), c);
        sse(&buf, &len, o, NULL);
    }
    if (all_final) {
        if (j->status) {
            char *e = wf_serve_error_json(j->status, j->err, NULL);
            sse(&buf, &len, NULL, e ? e : "{}");
            free(e);
        }
        if (j->include_usage) { /* what was used, an ended request too */
            cJSON *o = envelope(m, j, j->chat ? "chat.completion.chunk" : "text_completion");
            cJSON_AddArrayToObject(o, "choices");
            cJSON_AddItemToObject(o, "usage", usage(j));
            sse(&buf, &len, o, NULL);
        }
        sse(&buf, &len, NULL, "[DONE]");
        *finished = 1;
    }
    return buf;
}

char *wf_serve_error_json(int status, const char *msg, const char *param) {
    const char *type = status == 401 ? "authentication_error"
                       : status == 404 ? "not_found_error"
                       : status == 429 ? "rate_limit_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    add_text(e, "message", msg, strlen(msg));
    cJSON_AddStringToObject(e, "type", type);
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (status == 401) cJSON_AddStringToObject(e, "code", "invalid_api_key");
    else cJSON_AddNullToObject(e, "code");
    char *r = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return r;
}

int wf_serve_tokenize(const wf_serve_model *m, int detok, const char *body, size_t len, char **out, char *msg,
                      size_t msgcap, const char **param) {
    *param = NULL;
    int st = 0;
    int np = 0;
    idvec pv[1];
    memset(pv, 0, sizeof pv);
    char why[160] = "";
    cJSON *root = parse_body(body, len, why, sizeof why), *o = NULL;
    if (!root) {
        st = bad(msg, msgcap, param, NULL, "%s", why);
        goto done;
    }
    if (!detok) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
        if (!p) p = cJSON_GetObjectItemCaseSensitive(root, "text");
        if (!cJSON_IsString(p)) {
            st = bad(msg, msgcap, param, "prompt", "'prompt' must be a string");
            goto done;
        }
        wf_err e = {0};
        if (wf_tokenizer_encode(m->tok, p->valuestring, strlen(p->valuestring), &pv[0].ids, &pv[0].n, &pv[0].cap, &e)) {
            st = bad(msg, msgcap, param, "prompt", "%s", e.msg);
            goto done;
        }
        o = cJSON_CreateObject();
        cJSON *a = cJSON_AddArrayToObject(o, "tokens");
        for (size_t i = 0; i < pv[0].n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(pv[0].ids[i]));
        cJSON_AddNumberToObject(o, "count", (double)pv[0].n);
        cJSON_AddNumberToObject(o, "max_model_len", m->n_ctx);
    } else {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tokens");
        if (!cJSON_IsArray(t)) {
            st = bad(msg, msgcap, param, "tokens", "'tokens' must be a list of token ids");
            goto done;
        }
        wf_tokenizer *tk = (wf_tokenizer *)m->tok;
        wf_serve_model mm = *m;
        mm.vocab = wf_tokenizer_vocab_size(tk);
        if (cJSON_GetArraySize(t) > 0 && (st = add_prompt_ids(&mm, pv, &np, t, 0, msg, msgcap, param))) {
            *param = "tokens";
            goto done;
        }
        char *text = NULL;
        size_t n = 0;
        wf_err e = {0};
        if (wf_tokenizer_decode(m->tok, pv[0].ids, pv[0].n, &text, &n, &e)) {
            st = bad(msg, msgcap, param, "tokens", "%s", e.msg);
            goto done;
        }
        o = cJSON_CreateObject();
        add_text(o, "prompt", text, n);
        wf_free(NULL, text);
    }
    *out = cJSON_PrintUnformatted(o);
done:
    wf_free(NULL, pv[0].ids);
    cJSON_Delete(o);
    cJSON_Delete(root);
    return st;
}
