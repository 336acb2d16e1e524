/* bpe_train.c — the merge loop of the BPE trainer (bpe_train.h) and its two
** drivers (in-memory texts; files read on worker threads). Words are symbol
** strings (token ids) weighted by their counts. For every adjacent pair we keep
** its exact count and the list of words it occurs in; the best pair comes from
** a max-heap whose stale entries are re-pushed with their current count when
** popped (counts of old pairs only fall; new pairs, which contain the newest
** token, are pushed once at the end of the step that creates them). */
#include "datasets/bpe_train.h"

#include "datasets/bpe_int.h"

#include <pthread.h>
#include <string.h>

/* ======================================================================== */
/* GPT-2 byte order and byte-level spelling                                  */

/* order[i] = the byte with id i; cp[b] = code point that spells byte b. */
static void byte_tables(uint8_t order[256], uint16_t cp[256]) {
    int n = 0, extra = 0, is_print[256] = {0};
    for (int b = '!'; b <= '~'; b++) is_print[b] = 1;
    for (int b = 0xa1; b <= 0xac; b++) is_print[b] = 1;
    for (int b = 0xae; b <= 0xff; b++) is_print[b] = 1;
    for (int b = 0; b < 256; b++)
        if (is_print[b]) order[n++] = (uint8_t)b, cp[b] = (uint16_t)b;
    for (int b = 0; b < 256; b++)
        if (!is_print[b]) order[n++] = (uint8_t)b, cp[b] = (uint16_t)(256 + extra++);
}

size_t wf_bpe_spell(const uint8_t *raw, size_t n, char *dst) {
    uint8_t order[256];
    uint16_t cp[256];
    byte_tables(order, cp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t c = cp[raw[i]];
        if (c < 0x80) dst[k++] = (char)c;
        else {
            dst[k++] = (char)(0xc0 | (c >> 6));
            dst[k++] = (char)(0x80 | (c & 0x3f));
        }
    }
    dst[k] = 0;
    return k;
}

/* ======================================================================== */
/* pairs and the heap                                                        */

typedef struct {
    uint64_t key;    /* (uint64_t)a << 32 | b */
    int64_t count;   /* weighted occurrences now */
    uint32_t *where; /* words that held the pair at some point (may be stale) */
    uint32_t nw, cw;
    int banned;      /* merging it would recreate an existing token */
    int touched;     /* step number + 1 of the last increment */
} pair_t;

typedef struct {
    uint32_t *slot; /* [cap] pair index + 1 */
    uint32_t cap, n, ncap;
    pair_t *p;
} pair_map;

typedef struct {
    int64_t count;
    uint64_t key;
} heap_ent;

typedef struct {
    heap_ent *e;
    size_t n, cap;
} heap_t;

static uint32_t hash_key(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

static int64_t pair_find(const pair_map *m, uint64_t key) {
    if (!m->cap) return -1;
    for (uint32_t j = hash_key(key) & (m->cap - 1); m->slot[j]; j = (j + 1) & (m->cap - 1))
        if (m->p[m->slot[j] - 1].key == key) return m->slot[j] - 1;
    return -1;
}

static wf_status pair_get(pair_map *m, uint64_t key, uint32_t *idx, wf_err *err) {
    int64_t f = pair_find(m, key);
    if (f >= 0) {
        *idx = (uint32_t)f;
        return WF_OK;
    }
    if (2 * (uint64_t)(m->n + 1) >= m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 4096;
        uint32_t *slot = wf_calloc(NULL, (size_t)cap * sizeof *slot, "pair table", err);
        if (!slot) return err ? err->code : WF_ENOMEM;
        for (uint32_t i = 0; i < m->n; i++) {
            uint32_t j = hash_key(m->p[i].key) & (cap - 1);
            while (slot[j]) j = (j + 1) & (cap - 1);
            slot[j] = i + 1;
        }
        wf_free(NULL, m->slot);
        m->slot = slot;
        m->cap = cap;
    }
    if (m->n == m->ncap) {
        uint32_t nc = m->ncap ? m->ncap * 2 : 4096;
        pair_t *np = wf_realloc(NULL, m->p, (size_t)nc * sizeof *np, "pairs", err);
        if (!np) return err ? err->code : WF_ENOMEM;
        m->p = np;
        m->ncap = nc;
    }
    uint32_t i = m->n++;
    m->p[i] = (pair_t){.key = key};
    uint32_t j = hash_key(key) & (m->cap - 1);
    while (m->slot[j]) j = (j + 1) & (m->cap - 1);
    m->slot[j] = i + 1;
    *idx = i;
    return WF_OK;
}

static wf_status where_add(pair_t *p, uint32_t w, wf_err *err) {
    if (p->nw && p->where[p->nw - 1] == w) return WF_OK;
    if (p->nw == p->cw) {
        uint32_t nc = p->cw ? p->cw * 2 : 4;
        uint32_t *nw = wf_realloc(NULL, p->where, (size_t)nc * sizeof *nw, "pair word list", err);
        if (!nw) return err ? err->code : WF_ENOMEM;
        p->where = nw;
        p->cw = nc;
    }
    p->where[p->nw++] = w;
    return WF_OK;
}

/* Heap order: higher count first, then the smaller (a, b). */
static int above(const heap_ent *x, const heap_ent *y) {
    return x->count > y->count || (x->count == y->count && x->key < y->key);
}

static wf_status heap_push(heap_t *h, int64_t count, uint64_t key, wf_err *err) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 4096;
        heap_ent *ne = wf_realloc(NULL, h->e, nc * sizeof *ne, "pair heap", err);
        if (!ne) return err ? err->code : WF_ENOMEM;
        h->e = ne;
        h->cap = nc;
    }
    size_t i = h->n++;
    h->e[i] = (heap_ent){count, key};
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!above(&h->e[i], &h->e[up])) break;
        heap_ent t = h->e[i];
        h->e[i] = h->e[up];
        h->e[up] = t;
        i = up;
    }
    return WF_OK;
}

static heap_ent heap_pop(heap_t *h) {
    heap_ent top = h->e[0];
    h->e[0] = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < h->n && above(&h->e[l], &h->e[best])) best = l;
        if (r < h->n && above(&h->e[r], &h->e[best])) best = r;
        if (best == i) break;
        heap_ent t = h->e[i];
        h->e[i] = h->e[best];
        h->e[best] = t;
        i = best;
    }
    return top;
}

/* ======================================================================== */
/* the merge loop                                                            */

typedef struct {
    const wf_bpe_words *W;
    int32_t *sym;      /* symbols of word i at sym + W->off[i], W->len[i] of them at first */
    uint32_t *wlen;    /* current symbol count of each word */
    uint32_t *seen;    /* step + 1 when the word was last rewritten */
    pair_map pm;
    heap_t heap;
    uint32_t *touched; /* pairs incremented in this step */
    size_t nt, ct;
    int step;
} trainer;

static inline uint64_t key_of(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static wf_status add_count(trainer *t, int32_t a, int32_t b, int64_t d, uint32_t w, wf_err *err) {
    uint32_t i = 0;
    wf_status st;
    if (d < 0) {
        int64_t f = pair_find(&t->pm, key_of(a, b));
        WF_ASSERT(f >= 0); /* a pair we are taking away was counted */
        t->pm.p[f].count += d;
        return WF_OK;
    }
    if ((st = pair_get(&t->pm, key_of(a, b), &i, err))) return st;
    pair_t *p = &t->pm.p[i];
    p->count += d;
    if ((st = where_add(p, w, err))) return st;
    if (p->touched != t->step + 1) {
        p->touched = t->step + 1;
        if (t->nt == t->ct) {
            size_t nc = t->ct ? t->ct * 2 : 1024;
            uint32_t *nt = wf_realloc(NULL, t->touched, nc * sizeof *nt, "touched pairs", err);
            if (!nt) return err ? err->code : WF_ENOMEM;
            t->touched = nt;
            t->ct = nc;
        }
        t->touched[t->nt++] = i;
    }
    return WF_OK;
}

/* Replaces every (a, b) in word w by c, left to right, updating pair counts. */
static wf_status merge_word(trainer *t, uint32_t w, int32_t a, int32_t b, int32_t c, wf_err *err) {
    int32_t *s = t->sym + t->W->off[w];
    uint32_t len = t->wlen[w], j = 0, i = 0;
    int64_t wc = (int64_t)t->W->count[w];
    wf_status st;
    while (i < len) {
        if (i + 1 < len && s[i] == a && s[i + 1] == b) {
            if (j > 0) {
                if ((st = add_count(t, s[j - 1], a, -wc, w, err))) return st;
                if ((st = add_count(t, s[j - 1], c, wc, w, err))) return st;
            }
            if (i + 2 < len) {
                if ((st = add_count(t, b, s[i + 2], -wc, w, err))) return st;
                if ((st = add_count(t, c, s[i + 2], wc, w, err))) return st;
            }
            s[j++] = c;
            i += 2;
        } else {
            s[j++] = s[i++];
        }
    }
    t->wlen[w] = j;
    return WF_OK;
}

static void trainer_free(trainer *t) {
    for (uint32_t i = 0; i < t->pm.n; i++) wf_free(NULL, t->pm.p[i].where);
    wf_free(NULL, t->pm.p);
    wf_free(NULL, t->pm.slot);
    wf_free(NULL, t->heap.e);
    wf_free(NULL, t->touched);
    wf_free(NULL, t->sym);
    wf_free(NULL, t->wlen);
    wf_free(NULL, t->seen);
}

/* Learns merges from the word counts W and builds the tokenizer. */
static wf_status learn(const wf_bpe_words *W, const wf_bpe_train_opts *o, wf_tokenizer **out,
                       wf_bpe_train_stats *stats, wf_err *err) {
    int target = o->vocab_size - 257;
    uint8_t order[256];
    uint16_t cpmap[256];
    byte_tables(order, cpmap);
    int32_t id_of[256];
    for (int i = 0; i < 256; i++) id_of[order[i]] = i;

    trainer t = {.W = W};
    wf_bpe_words toks = {0}; /* token bytes; index = token id */
    int32_t *ma = NULL, *mb = NULL;
    char **sa = NULL, **sb = NULL;
    wf_status st = WF_OK;
    double t0 = wf_now(), last = t0;

    for (int i = 0; i < 256 && !st; i++) st = wf_bpe_words_add(&toks, &order[i], 1, 0, err);
    if (st) goto done;
    t.sym = wf_alloc(NULL, (W->arena_used ? W->arena_used : 1) * sizeof(int32_t), "BPE symbols", err);
    t.wlen = wf_alloc(NULL, (W->n ? W->n : 1) * sizeof(uint32_t), "BPE word lengths", err);
    t.seen = wf_calloc(NULL, (W->n ? W->n : 1) * sizeof(uint32_t), "BPE word marks", err);
    ma = wf_alloc(NULL, (size_t)(target > 0 ? target : 1) * sizeof *ma, "merges", err);
    mb = wf_alloc(NULL, (size_t)(target > 0 ? target : 1) * sizeof *mb, "merges", err);
    if (!t.sym || !t.wlen || !t.seen || !ma || !mb) {
        st = err ? err->code : WF_ENOMEM;
        goto done;
    }
    for (uint32_t w = 0; w < W->n; w++) {
        const uint8_t *bytes = W->arena + W->off[w];
        int32_t *s = t.sym + W->off[w];
        t.wlen[w] = W->len[w];
        for (uint32_t k = 0; k < W->len[w]; k++) s[k] = id_of[bytes[k]];
        for (uint32_t k = 0; k + 1 < W->len[w]; k++)
            if ((st = add_count(&t, s[k], s[k + 1], (int64_t)W->count[w], w, err))) goto done;
    }
    for (uint32_t i = 0; i < t.pm.n; i++)
        if ((st = heap_push(&t.heap, t.pm.p[i].count, t.pm.p[i].key, err))) goto done;

    int m = 0;
    uint8_t tmp[WF_BPE_MAX_TOKEN_SPELLED];
    while (m < target && t.heap.n > 0) {
        heap_ent top = heap_pop(&t.heap);
        int64_t f = pair_find(&t.pm, top.key);
        WF_ASSERT(f >= 0);
        pair_t *p = &t.pm.p[f];
        if (p->banned) continue;
        if (p->count != top.count) {
            if (p->count > 0 && (st = heap_push(&t.heap, p->count, p->key, err))) goto done;
            continue;
        }
        if (top.count < o->min_frequency || top.count <= 0) break;
        int32_t a = (int32_t)(top.key >> 32), b = (int32_t)(top.key & 0xffffffffu);
        uint32_t la = toks.len[a], lb = toks.len[b];
        size_t spelled = 0;
        if ((size_t)la + lb <= WF_BPE_MAX_TOKEN_SPELLED) {
            memcpy(tmp, toks.arena + toks.off[a], la);
            memcpy(tmp + la, toks.arena + toks.off[b], lb);
            for (uint32_t k = 0; k < la + lb; k++) spelled += cpmap[tmp[k]] < 0x80 ? 1 : 2;
        }
        if ((size_t)la + lb > WF_BPE_MAX_TOKEN_SPELLED || spelled > WF_BPE_MAX_TOKEN_SPELLED) {
            p->banned = 1; /* too long to spell in merges.txt: never merge this pair */
            stats->long_skipped++;
            continue;
        }
        if (wf_bpe_words_find(&toks, tmp, la + lb) >= 0) {
            p->banned = 1;
            stats->dup_skipped++;
            continue;
        }
        int32_t c = 256 + m;
        if ((st = wf_bpe_words_add(&toks, tmp, la + lb, 0, err))) goto done;
        WF_ASSERT(toks.n == (uint32_t)c + 1);
        ma[m] = a;
        mb[m] = b;
        stats->last_count = top.count;
        t.step = m;
        t.nt = 0;
        /* p->where is not reallocated during the step (only pairs with c
        ** grow), but t.pm.p may move: keep the index and a copy of the list. */
        uint32_t *where = p->where, nw = p->nw;
        for (uint32_t k = 0; k < nw; k++) {
            uint32_t w = where[k];
            if (t.seen[w] == (uint32_t)m + 1) continue;
            t.seen[w] = (uint32_t)m + 1;
            if ((st = merge_word(&t, w, a, b, c, err))) goto done;
        }
        p = &t.pm.p[f];
        p->count = 0;
        wf_free(NULL, p->where);
        p->where = NULL;
        p->nw = p->cw = 0;
        for (size_t k = 0; k < t.nt; k++) {
            const pair_t *q = &t.pm.p[t.touched[k]];
            if (q->count > 0 && (st = heap_push(&t.heap, q->count, q->key, err))) goto done;
        }
        m++;
        double now = wf_now();
        if (o->progress_every > 0 && now - last >= o->progress_every) {
            last = now;
            wf_log(WF_LOG_INFO, "tokenizer-train: merge %d/%d (pair seen %lld times), %.1f s", m, target,
                   (long long)top.count, now - t0);
        }
    }
    stats->merges = m;
    stats->seconds_merge = wf_now() - t0;

    sa = wf_calloc(NULL, (size_t)(m ? m : 1) * sizeof *sa, "merge strings", err);
    sb = wf_calloc(NULL, (size_t)(m ? m : 1) * sizeof *sb, "merge strings", err);
    if (!sa || !sb) {
        st = err ? err->code : WF_ENOMEM;
        goto done;
    }
    for (int i = 0; i < m; i++) {
        for (int side = 0; side < 2; side++) {
            int32_t id = side ? mb[i] : ma[i];
            uint32_t l = toks.len[id];
            char *s = wf_alloc(NULL, 2 * (size_t)l + 1, "merge string", err);
            if (!s) {
                st = err ? err->code : WF_ENOMEM;
                goto done;
            }
            wf_bpe_spell(toks.arena + toks.off[id], l, s);
            (side ? sb : sa)[i] = s;
        }
    }
    st = wf_tokenizer_from_merges((const char *const *)sa, (const char *const *)sb, m, out, err);
    if (st) wf_err_prefix(err, "BPE trainer: building the tokenizer");

done:
    for (int i = 0; sa && i < stats->merges; i++) wf_free(NULL, sa[i]);
    for (int i = 0; sb && i < stats->merges; i++) wf_free(NULL, sb[i]);
    wf_free(NULL, sa);
    wf_free(NULL, sb);
    wf_free(NULL, ma);
    wf_free(NULL, mb);
    wf_bpe_words_free(&toks);
    trainer_free(&t);
    return st;
}

static wf_status check_opts(const wf_bpe_train_opts *o, wf_err *err) {
    if (o->vocab_size < 257 || o->vocab_size > (1 << 22))
        return WF_FAIL(err, WF_EUSAGE, "vocab size %d out of range [257, %d] (256 bytes + merges + <|endoftext|>)",
                       o->vocab_size, 1 << 22);
    if (o->min_frequency < 1) return WF_FAIL(err, WF_EUSAGE, "min frequency %lld must be at least 1", o->min_frequency);
    if (o->threads < 1 || o->threads > 256)
        return WF_FAIL(err, WF_EUSAGE, "threads %d out of range [1, 256]", o->threads);
    return WF_OK;
}

static void fill_word_stats(wf_bpe_train_stats *s, const wf_bpe_words *W) {
    s->words = W->total;
    s->unique_words = W->n;
}

wf_status wf_bpe_train_texts(const char *const *texts, const size_t *lens, int n, const wf_bpe_train_opts *o,
                             wf_tokenizer **out, wf_bpe_train_stats *stats, wf_err *err) {
    *out = NULL;
    memset(stats, 0, sizeof *stats);
    wf_status st = check_opts(o, err);
    if (st) return st;
    wf_bpe_counter *c;
    if ((st = wf_bpe_counter_new(&c, err))) return st;
    double t0 = wf_now();
    for (int i = 0; i < n && !st; i++) {
        if (wf_utf8_check((const uint8_t *)texts[i], lens[i]) != lens[i]) {
            stats->skipped_files++;
            continue;
        }
        st = wf_bpe_counter_add(c, texts[i], lens[i], err);
        stats->documents++;
        stats->bytes += lens[i];
    }
    stats->seconds_count = wf_now() - t0;
    if (!st) {
        fill_word_stats(stats, wf_bpe_counter_words(c));
        st = learn(wf_bpe_counter_words(c), o, out, stats, err);
    }
    wf_bpe_counter_free(c);
    return st;
}

/* ======================================================================== */
/* files on threads: the calling thread reads segments into a bounded queue;
** each worker pre-tokenizes into its own counter; counts are summed after. */

#define QCAP 8

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv_put, cv_get;
    char *text[QCAP];
    size_t len[QCAP], cap[QCAP];
    int head, n, done;
    wf_status st; /* first worker failure */
    wf_err err;
} queue_t;

typedef struct {
    queue_t *q;
    wf_bpe_counter *c;
} worker_arg;

static void *count_worker(void *arg) {
    worker_arg *wa = arg;
    queue_t *q = wa->q;
    char *mine = NULL;
    size_t mycap = 0;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->n && !q->done) pthread_cond_wait(&q->cv_get, &q->mu);
        if (!q->n) {
            pthread_mutex_unlock(&q->mu);
            break;
        }
        /* swap buffers with the queue slot so the reader can refill it */
        int h = q->head;
        char *txt = q->text[h];
        size_t len = q->len[h], cap = q->cap[h];
        q->text[h] = mine;
        q->cap[h] = mycap;
        mine = txt;
        mycap = cap;
        q->head = (q->head + 1) % QCAP;
        q->n--;
        pthread_cond_signal(&q->cv_put);
        pthread_mutex_unlock(&q->mu);
        wf_err e = {0};
        wf_status st = wf_bpe_counter_add(wa->c, mine, len, &e);
        if (st) {
            pthread_mutex_lock(&q->mu);
            if (!q->st) {
                q->st = st;
                q->err = e;
            }
            q->done = 1;
            pthread_cond_broadcast(&q->cv_put);
            pthread_mutex_unlock(&q->mu);
            break;
        }
    }
    wf_free(NULL, mine);
    return NULL;
}

static wf_status enqueue(queue_t *q, const char *text, size_t len, wf_err *err) {
    pthread_mutex_lock(&q->mu);
    while (q->n == QCAP && !q->st) pthread_cond_wait(&q->cv_put, &q->mu);
    if (q->st) { /* a worker failed: stop reading */
        wf_status st = q->st;
        if (err) *err = q->err;
        pthread_mutex_unlock(&q->mu);
        return st;
    }
    int i = (q->head + q->n) % QCAP;
    if (q->cap[i] < len) {
        char *nt = wf_realloc(NULL, q->text[i], len, "segment text", err);
        if (!nt) {
            pthread_mutex_unlock(&q->mu);
            return err ? err->code : WF_ENOMEM;
        }
        q->text[i] = nt;
        q->cap[i] = len;
    }
    memcpy(q->text[i], text, len);
    q->len[i] = len;
    q->n++;
    pthread_cond_signal(&q->cv_get);
    pthread_mutex_unlock(&q->mu);
    return WF_OK;
}

static void skip_msg(const wf_bpe_train_opts *o, const char *msg) {
    if (o->on_skip) o->on_skip(msg, o->ud);
    else wf_log(WF_LOG_WARN, "%s", msg);
}

static wf_status read_inputs(const wf_input_list *in, const wf_bpe_train_opts *o, queue_t *q,
                             wf_bpe_train_stats *stats, wf_err *err) {
    wf_status st = WF_OK;
    double t0 = wf_now(), last = t0;
    for (int i = 0; i < in->n && !st; i++) {
        const wf_input_file *f = &in->files[i];
        int ok;
        uint64_t bytes;
        char msg[4300];
        if ((st = wf_inputs_admit(f->path, &ok, msg, sizeof msg, &bytes, err))) break;
        if (!ok) {
            skip_msg(o, msg);
            stats->skipped_files++;
            continue;
        }
        wf_doc_reader *r;
        if ((st = wf_doc_reader_open(f, 0, o->on_skip, o->ud, &r, err))) break;
        for (;;) {
            const char *text;
            size_t len;
            int doc_end;
            if ((st = wf_doc_reader_next(r, &text, &len, &doc_end, err)) || !text) break;
            if ((st = enqueue(q, text, len, err))) break;
            stats->bytes += len;
            stats->documents += (uint64_t)doc_end;
        }
        stats->skipped_lines += wf_doc_reader_skipped_lines(r);
        wf_doc_reader_close(r);
        stats->files++;
        double now = wf_now();
        if (o->progress_every > 0 && now - last >= o->progress_every) {
            last = now;
            wf_log(WF_LOG_INFO, "tokenizer-train: counting words: %.1f MB, %d/%d files, %.1f s",
                   (double)stats->bytes / 1e6, i + 1, in->n, now - t0);
        }
    }
    return st;
}

wf_status wf_bpe_train_files(const char *const *inputs, int n_inputs, const wf_bpe_train_opts *o, wf_tokenizer **out,
                             wf_bpe_train_stats *stats, wf_err *err) {
    *out = NULL;
    memset(stats, 0, sizeof *stats);
    wf_status st = check_opts(o, err);
    if (st) return st;
    wf_input_list in = {0};
    if ((st = wf_inputs_collect(inputs, n_inputs, &in, err))) {
        wf_inputs_free(&in);
        return st;
    }
    stats->ignored = in.ignored;
    if (in.ignored) {
        char msg[700];
        snprintf(msg, sizeof msg, "ignored %llu folder entries that are not .txt or .jsonl (%s)",
                 (unsigned long long)in.ignored, in.ignored_summary);
        skip_msg(o, msg);
    }
    int nt = o->threads;
    wf_bpe_counter *cs[256] = {0};
    worker_arg wa[256];
    pthread_t th[256];
    int started = 0;
    queue_t q = {0};
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv_put, NULL);
    pthread_cond_init(&q.cv_get, NULL);
    double t0 = wf_now();
    for (int i = 0; i < nt && !st; i++) st = wf_bpe_counter_new(&cs[i], err);
    for (; !st && started < nt; started++) {
        wa[started] = (worker_arg){&q, cs[started]};
        if (pthread_create(&th[started], NULL, count_worker, &wa[started]) != 0)
            st = WF_FAIL(err, WF_EIO, "cannot start counting thread %d", started);
    }
    if (!st) st = read_inputs(&in, o, &q, stats, err);
    pthread_mutex_lock(&q.mu);
    q.done = 1;
    pthread_cond_broadcast(&q.cv_get);
    pthread_mutex_unlock(&q.mu);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    if (!st && q.st) {
        st = q.st;
        if (err) *err = q.err;
    }
    /* Sum every thread's counts into the first counter's table. */
    wf_bpe_words *W = cs[0] ? wf_bpe_counter_words(cs[0]) : NULL;
    for (int i = 1; i < nt && !st && cs[i]; i++) {
        const wf_bpe_words *Wi = wf_bpe_counter_words(cs[i]);
        for (uint32_t k = 0; k < Wi->n && !st; k++)
            st = wf_bpe_words_add(W, Wi->arena + Wi->off[k], Wi->len[k], Wi->count[k], err);
        wf_bpe_counter_free(cs[i]);
        cs[i] = NULL;
    }
    stats->seconds_count = wf_now() - t0;
    if (!st && stats->documents == 0)
        st = WF_FAIL(err, WF_ECORRUPT, "no text to learn from: %llu files skipped, %llu folder entries ignored",
                     (unsigned long long)stats->skipped_files, (unsigned long long)stats->ignored);
    if (!st) {
        fill_word_stats(stats, W);
        wf_log(WF_LOG_INFO, "tokenizer-train: %.1f MB, %llu words (%llu distinct) in %.1f s; merging",
               (double)stats->bytes / 1e6, (unsigned long long)stats->words, (unsigned long long)stats->unique_words,
               stats->seconds_count);
        st = learn(W, o, out, stats, err);
    }
    for (int i = 0; i < nt; i++) wf_bpe_counter_free(cs[i]);
    for (int i = 0; i < QCAP; i++) wf_free(NULL, q.text[i]);
    pthread_cond_destroy(&q.cv_put);
    pthread_cond_destroy(&q.cv_get);
    pthread_mutex_destroy(&q.mu);
    wf_inputs_free(&in);
    return st;
}
