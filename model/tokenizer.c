/* tokenizer.c — the byte-level BPE tokenizer core: the token and merge tables
** (open-addressed hash maps built once, read-only afterwards), encode (split
** out special tokens, pre-tokenize with tok_pretok.c, BPE each piece), decode,
** and wf_tokenizer_from_merges for the trainer. Files are read by tok_load.c
** and written by tok_save.c.
**
** BPE merges the adjacent pair of lowest rank, leftmost first, until none is in
** the table; this is HF tokenizers' order (its heap orders by rank, then
** position). Short pieces use a flat array scan; long ones (a 100 kB run of
** letters is one piece) a heap, so the cost stays O(n log n). No state changes
** during encode, so concurrent calls on one tokenizer are safe. */
#include "model/tok_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NO_RANK INT32_MAX
#define SMALL_PIECE 64 /* pieces up to this many bytes use the array scan */

/* ---- hashing ------------------------------------------------------------- */

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

static inline uint32_t merge_slot(uint64_t key, uint32_t mask) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & mask;
}

static inline const wf_tok_merge *merge_get(const wf_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t mask = t->mmap_cap - 1, h = merge_slot(key, mask);
    for (;;) {
        const wf_tok_merge *e = &t->mmap[h];
        if (e->key == key) return e;
        if (e->key == WF_TOK_EMPTY) return NULL;
        h = (h + 1) & mask;
    }
}

/* ---- building ------------------------------------------------------------ */

wf_status wf_tok_new(int n_vocab, size_t blob_bytes, wf_tokenizer **out, wf_err *err) {
    *out = NULL;
    if (n_vocab <= 0 || n_vocab > (1 << 30))
        return WF_FAIL(err, WF_ECORRUPT, "tokenizer: vocabulary size %d out of range [1, 2^30]", n_vocab);
    wf_tokenizer *t = wf_calloc(NULL, sizeof *t, "tokenizer", err);
    if (!t) return err ? err->code : WF_ENOMEM;
    t->n_vocab = n_vocab;
    t->eos = -1;
    t->vmap_cap = pow2_at_least((uint64_t)n_vocab * 2);
    t->blob = wf_alloc(NULL, blob_bytes + 1, "tokenizer bytes", err);
    t->off = wf_calloc(NULL, sizeof *t->off * (size_t)n_vocab, "tokenizer offsets", err);
    t->len = wf_alloc(NULL, sizeof *t->len * (size_t)n_vocab, "tokenizer lengths", err);
    t->vmap = wf_calloc(NULL, sizeof *t->vmap * t->vmap_cap, "tokenizer vocab map", err);
    if (!t->blob || !t->off || !t->len || !t->vmap) {
        wf_tokenizer_free(t);
        return err ? err->code : WF_ENOMEM;
    }
    for (int i = 0; i < n_vocab; i++) t->len[i] = -1;
    t->blob_cap = blob_bytes;
    *out = t;
    return WF_OK;
}

int32_t wf_tok_find(const wf_tokenizer *t, const char *bytes, size_t n) {
    uint32_t mask = t->vmap_cap - 1, h = (uint32_t)hash_bytes(bytes, n) & mask;
    for (;;) {
        uint32_t v = t->vmap[h];
        if (!v) return -1;
        int32_t id = (int32_t)(v - 1);
        if ((size_t)t->len[id] == n && !memcmp(t->blob + t->off[id], bytes, n)) return id;
        h = (h + 1) & mask;
    }
}

wf_status wf_tok_set(wf_tokenizer *t, int32_t id, const char *bytes, size_t n, wf_err *err) {
    WF_ASSERT(id >= 0 && id < t->n_vocab && t->len[id] < 0);
    WF_ASSERT(t->blob_used + n <= t->blob_cap);
    int32_t dup = wf_tok_find(t, bytes, n);
    if (dup >= 0) return WF_FAIL(err, WF_ECORRUPT, "ids %d and %d are the same token", dup, id);
    memcpy(t->blob + t->blob_used, bytes, n);
    t->off[id] = (uint32_t)t->blob_used;
    t->len[id] = (int32_t)n;
    t->blob_used += n;
    uint32_t mask = t->vmap_cap - 1, h = (uint32_t)hash_bytes(bytes, n) & mask;
    while (t->vmap[h]) h = (h + 1) & mask;
    t->vmap[h] = (uint32_t)id + 1;
    return WF_OK;
}

wf_status wf_tok_reserve_merges(wf_tokenizer *t, int n, wf_err *err) {
    WF_ASSERT(!t->mmap && n >= 0);
    t->mmap_cap = pow2_at_least((uint64_t)n * 2 + 1);
    t->mmap = wf_alloc(NULL, sizeof *t->mmap * t->mmap_cap, "tokenizer merge map", err);
    t->merge_a = wf_alloc(NULL, sizeof *t->merge_a * (size_t)(n ? n : 1), "tokenizer merges", err);
    t->merge_b = wf_alloc(NULL, sizeof *t->merge_b * (size_t)(n ? n : 1), "tokenizer merges", err);
    if (!t->mmap || !t->merge_a || !t->merge_b) return err ? err->code : WF_ENOMEM;
    for (uint32_t i = 0; i < t->mmap_cap; i++) t->mmap[i].key = WF_TOK_EMPTY;
    t->merge_room = n;
    return WF_OK;
}

wf_status wf_tok_add_merge(wf_tokenizer *t, int32_t a, int32_t b, int32_t out, wf_err *err) {
    WF_ASSERT(t->n_merges < t->merge_room);
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t mask = t->mmap_cap - 1, h = merge_slot(key, mask);
    while (t->mmap[h].key != WF_TOK_EMPTY) {
        if (t->mmap[h].key == key)
            return WF_FAIL(err, WF_ECORRUPT, "merge repeats the one of rank %d", t->mmap[h].rank);
        h = (h + 1) & mask;
    }
    t->mmap[h] = (wf_tok_merge){.key = key, .rank = t->n_merges, .out = out};
    t->merge_a[t->n_merges] = a;
    t->merge_b[t->n_merges] = b;
    t->n_merges++;
    return WF_OK;
}

wf_status wf_tok_add_special(wf_tokenizer *t, const char *bytes, size_t n, int32_t id, wf_err *err) {
    WF_ASSERT(n > 0);
    wf_tok_special *s = wf_realloc(NULL, t->specials, sizeof *s * (size_t)(t->n_specials + 1),
                                   "tokenizer specials", err);
    if (!s) return err ? err->code : WF_ENOMEM;
    t->specials = s;
    char *copy = wf_alloc(NULL, n + 1, "tokenizer special", err);
    if (!copy) return err ? err->code : WF_ENOMEM;
    memcpy(copy, bytes, n);
    copy[n] = 0;
    s[t->n_specials++] = (wf_tok_special){.text = copy, .len = n, .id = id};
    return WF_OK;
}

wf_status wf_tok_finish(wf_tokenizer *t, const char *what, wf_err *err) {
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = wf_tok_find(t, &c, 1);
        if (t->byte_id[b] < 0)
            return WF_FAIL(err, WF_ECORRUPT, "%s: no token for byte 0x%02x (byte-level BPE needs all 256)",
                           what, b);
    }
    t->eos = wf_tok_find(t, "<|endoftext|>", 13);
    if (!t->mmap) return wf_tok_reserve_merges(t, 0, err);
    return WF_OK;
}

void wf_tokenizer_free(wf_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_specials; i++) wf_free(NULL, t->specials[i].text);
    wf_free(NULL, t->specials);
    wf_free(NULL, t->blob);
    wf_free(NULL, t->off);
    wf_free(NULL, t->len);
    wf_free(NULL, t->vmap);
    wf_free(NULL, t->mmap);
    wf_free(NULL, t->merge_a);
    wf_free(NULL, t->merge_b);
    wf_free(NULL, t);
}

int wf_tokenizer_vocab_size(const wf_tokenizer *t) { return t->n_vocab; }
int wf_tokenizer_eos(const wf_tokenizer *t) { return t->eos; }

int wf_tokenizer_token_bytes(const wf_tokenizer *t, int32_t id, const char **bytes) {
    if (id < 0 || id >= t->n_vocab || t->len[id] < 0) return -1;
    *bytes = t->blob + t->off[id];
    return t->len[id];
}

/* ---- from_merges --------------------------------------------------------- */

wf_status wf_tokenizer_from_merges(const char *const *merges_a, const char *const *merges_b,
                                   int n_merges, wf_tokenizer **out, wf_err *err) {
    *out = NULL;
    if (n_merges < 0 || n_merges > (1 << 29))
        return WF_FAIL(err, WF_EUSAGE, "tokenizer: %d merges out of range", n_merges);
    size_t blob = 256 + 13;
    for (int i = 0; i < n_merges; i++) {
        if (!merges_a[i] || !merges_b[i])
            return WF_FAIL(err, WF_EUSAGE, "tokenizer: merge %d: NULL token", i);
        blob += strlen(merges_a[i]) + strlen(merges_b[i]);
    }
    wf_tokenizer *t;
    wf_status st = wf_tok_new(257 + n_merges, blob, &t, err);
    if (st) return st;
    uint16_t cp[256];
    uint8_t order[256];
    wf_tok_byte_map(cp, order);
    char buf[1024];
    for (int i = 0; i < 256; i++) {
        char c = (char)order[i];
        if ((st = wf_tok_set(t, i, &c, 1, err))) goto fail;
    }
    if ((st = wf_tok_reserve_merges(t, n_merges, err))) goto fail;
    for (int i = 0; i < n_merges; i++) {
        const char *sa = merges_a[i], *sb = merges_b[i];
        size_t la = strlen(sa), lb = strlen(sb);
        if (la + lb > sizeof buf) {
            st = WF_FAIL(err, WF_EUSAGE, "tokenizer: merge %d: tokens longer than %zu bytes", i, sizeof buf);
            goto fail;
        }
        long ra = wf_tok_unmap(sa, la, buf), rb = ra < 0 ? -1 : wf_tok_unmap(sb, lb, buf + ra);
        if (ra <= 0 || rb <= 0) {
            st = WF_FAIL(err, WF_EUSAGE, "tokenizer: merge %d ('%s' '%s'): not a byte-level token", i, sa, sb);
            goto fail;
        }
        int32_t a = wf_tok_find(t, buf, (size_t)ra), b = wf_tok_find(t, buf + ra, (size_t)rb);
        if (a < 0 || b < 0) {
            st = WF_FAIL(err, WF_EUSAGE, "tokenizer: merge %d ('%s' '%s'): token '%s' not made by an earlier merge",
                         i, sa, sb, a < 0 ? sa : sb);
            goto fail;
        }
        if (wf_tok_find(t, buf, (size_t)(ra + rb)) >= 0) {
            st = WF_FAIL(err, WF_EUSAGE, "tokenizer: merge %d ('%s' '%s'): result already a token", i, sa, sb);
            goto fail;
        }
        if ((st = wf_tok_set(t, 256 + i, buf, (size_t)(ra + rb), err)) ||
            (st = wf_tok_add_merge(t, a, b, 256 + i, err))) {
            wf_err_prefix(err, "tokenizer: merge %d ('%s' '%s')", i, sa, sb);
            goto fail;
        }
    }
    if ((st = wf_tok_set(t, 256 + n_merges, "<|endoftext|>", 13, err))) {
        wf_err_prefix(err, "tokenizer: <|endoftext|>");
        goto fail;
    }
    if ((st = wf_tok_add_special(t, "<|endoftext|>", 13, 256 + n_merges, err))) goto fail;
    if ((st = wf_tok_finish(t, "tokenizer", err))) goto fail;
    *out = t;
    return WF_OK;
fail:
    wf_tokenizer_free(t);
    return st;
}

/* ---- encode -------------------------------------------------------------- */

typedef struct {
    int32_t **ids;
    size_t *n, *cap;
} outbuf;

static wf_status out_reserve(outbuf *o, size_t more, wf_err *err) {
    if (*o->n + more <= *o->cap) return WF_OK;
    size_t c = *o->cap ? *o->cap : 256;
    while (c < *o->n + more) c *= 2;
    int32_t *p = wf_realloc(NULL, *o->ids, c * sizeof *p, "token ids", err);
    if (!p) return err ? err->code : WF_ENOMEM;
    *o->ids = p;
    *o->cap = c;
    return WF_OK;
}

/* BPE of a short piece with a flat array: sym[0..m) the current tokens,
** rk[k]/mo[k] the rank and result of the pair (sym[k], sym[k+1]). */
static size_t bpe_small(const wf_tokenizer *t, const uint8_t *w, size_t m, int32_t *sym) {
    int32_t rk[SMALL_PIECE], mo[SMALL_PIECE];
    for (size_t k = 0; k < m; k++) sym[k] = t->byte_id[w[k]];
    for (size_t k = 0; k + 1 < m; k++) {
        const wf_tok_merge *e = merge_get(t, sym[k], sym[k + 1]);
        rk[k] = e ? e->rank : NO_RANK;
        mo[k] = e ? e->out : -1;
    }
    while (m > 1) {
        int32_t best = NO_RANK;
        size_t bi = 0;
        for (size_t k = 0; k + 1 < m; k++)
            if (rk[k] < best) {
                best = rk[k];
                bi = k;
            }
        if (best == NO_RANK) break;
        sym[bi] = mo[bi];
        for (size_t k = bi + 1; k + 1 < m; k++) sym[k] = sym[k + 1];
        for (size_t k = bi + 1; k + 2 < m; k++) {
            rk[k] = rk[k + 1];
            mo[k] = mo[k + 1];
        }
        m--;
        if (bi > 0) {
            const wf_tok_merge *e = merge_get(t, sym[bi - 1], sym[bi]);
            rk[bi - 1] = e ? e->rank : NO_RANK;
            mo[bi - 1] = e ? e->out : -1;
        }
        if (bi + 1 < m) {
            const wf_tok_merge *e = merge_get(t, sym[bi], sym[bi + 1]);
            rk[bi] = e ? e->rank : NO_RANK;
            mo[bi] = e ? e->out : -1;
        }
    }
    return m;
}

/* A candidate merge in the heap: ordered by rank, then position. */
typedef struct {
    int32_t rank, pos, out;
} cand;

static int cand_less(cand a, cand b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(c, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n) {
    cand top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        cand mv = last;
        if (l < *n && cand_less(h[l], mv)) { m = l; mv = h[l]; }
        if (r < *n && cand_less(h[r], mv)) { m = r; }
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n) h[i] = last;
    return top;
}

/* BPE of a long piece: doubly linked symbols and a heap of candidate merges
** with stale entries skipped on pop (as HF does). Writes the result to sym. */
static wf_status bpe_large(const wf_tokenizer *t, const uint8_t *w, size_t m, int32_t *sym,
                           size_t *out_m, wf_err *err) {
    WF_ASSERT(m < INT32_MAX / 2);
    int32_t *nx = wf_alloc(NULL, m * 2 * sizeof *nx, "bpe links", err);
    cand *h = wf_alloc(NULL, m * 2 * sizeof *h, "bpe heap", err);
    if (!nx || !h) {
        wf_free(NULL, nx);
        wf_free(NULL, h);
        return err ? err->code : WF_ENOMEM;
    }
    int32_t *pv = nx + m;
    size_t hn = 0, hcap = m * 2;
    for (size_t k = 0; k < m; k++) {
        sym[k] = t->byte_id[w[k]];
        nx[k] = k + 1 < m ? (int32_t)(k + 1) : -1;
        pv[k] = (int32_t)k - 1;
    }
    for (size_t k = 0; k + 1 < m; k++) {
        const wf_tok_merge *e = merge_get(t, sym[k], sym[k + 1]);
        if (e) heap_push(h, &hn, (cand){e->rank, (int32_t)k, e->out});
    }
    while (hn) {
        cand c = heap_pop(h, &hn);
        int32_t p = c.pos;
        if (sym[p] < 0 || nx[p] < 0) continue;
        int32_t q = nx[p];
        const wf_tok_merge *e = merge_get(t, sym[p], sym[q]);
        if (!e || e->out != c.out) continue;
        sym[p] = c.out;
        sym[q] = -1;
        nx[p] = nx[q];
        if (nx[q] >= 0) pv[nx[q]] = p;
        /* each merge removes a symbol and adds at most 2 candidates: hn stays < 2m */
        WF_ASSERT(hn + 2 <= hcap);
        if (pv[p] >= 0 && (e = merge_get(t, sym[pv[p]], sym[p])))
            heap_push(h, &hn, (cand){e->rank, pv[p], e->out});
        if (nx[p] >= 0 && (e = merge_get(t, sym[p], sym[nx[p]])))
            heap_push(h, &hn, (cand){e->rank, p, e->out});
    }
    size_t k = 0;
    for (int32_t p = 0; p >= 0; p = nx[p]) sym[k++] = sym[p];
    *out_m = k;
    wf_free(NULL, nx);
    wf_free(NULL, h);
    return WF_OK;
}

wf_status wf_tok_bpe_piece(const wf_tokenizer *t, const uint8_t *w, size_t m, int32_t *out, size_t *n_out,
                           int force_large, wf_err *err) {
    WF_ASSERT(m > 0);
    if (m == 1) {
        out[0] = t->byte_id[w[0]];
        *n_out = 1;
        return WF_OK;
    }
    if (m <= SMALL_PIECE && !force_large) {
        *n_out = bpe_small(t, w, m, out);
        return WF_OK;
    }
    return bpe_large(t, w, m, out, n_out, err);
}

static wf_status encode_piece(const wf_tokenizer *t, const uint8_t *w, size_t m, outbuf *o, wf_err *err) {
    wf_status st = out_reserve(o, m, err);
    if (st) return st;
    size_t k = 0;
    if ((st = wf_tok_bpe_piece(t, w, m, *o->ids + *o->n, &k, 0, err))) return st;
    *o->n += k;
    return WF_OK;
}

static wf_status encode_plain(const wf_tokenizer *t, const uint8_t *s, size_t n, outbuf *o, wf_err *err) {
    size_t i = 0;
    while (i < n) {
        size_t e = wf_tok_pretok_next(s, n, i);
        wf_status st = encode_piece(t, s + i, e - i, o, err);
        if (st) return st;
        i = e;
    }
    return WF_OK;
}

/* Leftmost special token at or after `from`, longest on a tie; -1 if none.
** next[k] caches where special k occurs next (SIZE_MAX: never again), so each
** special's occurrences are searched for once per call, not once per segment. */
static int next_special(const wf_tokenizer *t, const uint8_t *s, size_t n, size_t from, size_t *next,
                        size_t *at) {
    int best = -1;
    for (int k = 0; k < t->n_specials; k++) {
        const wf_tok_special *sp = &t->specials[k];
        if (next[k] != SIZE_MAX && next[k] < from) { /* stale: search again */
            const uint8_t *p = sp->len <= n - from ? memmem(s + from, n - from, sp->text, sp->len) : NULL;
            next[k] = p ? (size_t)(p - s) : SIZE_MAX;
        }
        size_t a = next[k];
        if (a == SIZE_MAX) continue;
        if (best < 0 || a < *at || (a == *at && sp->len > t->specials[best].len)) {
            best = k;
            *at = a;
        }
    }
    return best;
}

wf_status wf_tokenizer_encode(const wf_tokenizer *t, const char *text, size_t len, int32_t **ids,
                              size_t *n, size_t *cap, wf_err *err) {
    outbuf o = {ids, n, cap};
    const uint8_t *s = (const uint8_t *)text;
    size_t next_small[8], *next = next_small;
    if (t->n_specials > 8) {
        next = wf_alloc(NULL, sizeof *next * (size_t)t->n_specials, "special token scan", err);
        if (!next) return err ? err->code : WF_ENOMEM;
    }
    for (int k = 0; k < t->n_specials; k++) {
        const wf_tok_special *sp = &t->specials[k];
        const uint8_t *p = sp->len <= len ? memmem(s, len, sp->text, sp->len) : NULL;
        next[k] = p ? (size_t)(p - s) : SIZE_MAX;
    }
    size_t pos = 0;
    wf_status st = WF_OK;
    while (pos < len) {
        size_t at = len;
        int k = t->n_specials ? next_special(t, s, len, pos, next, &at) : -1;
        if ((st = encode_plain(t, s + pos, at - pos, &o, err))) break;
        if (k < 0) break;
        if ((st = out_reserve(&o, 1, err))) break;
        (*ids)[(*n)++] = t->specials[k].id;
        pos = at + t->specials[k].len;
    }
    if (next != next_small) wf_free(NULL, next);
    return st;
}

/* ---- decode -------------------------------------------------------------- */

wf_status wf_tokenizer_decode(const wf_tokenizer *t, const int32_t *ids, size_t n, char **out,
                              size_t *len, wf_err *err) {
    *out = NULL;
    *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab || t->len[id] < 0) {
            if (id >= 0 && id < t->n_vocab)
                return WF_FAIL(err, WF_ERANGE, "token id %d at position %zu has no token in the vocabulary",
                               id, i);
            return WF_FAIL(err, WF_ERANGE, "token id %d at position %zu out of range [0, %d)", id, i,
                           t->n_vocab);
        }
        total += (size_t)t->len[id];
    }
    char *buf = wf_alloc(NULL, total + 1, "decoded text", err);
    if (!buf) return err ? err->code : WF_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + k, t->blob + t->off[ids[i]], (size_t)t->len[ids[i]]);
        k += (size_t)t->len[ids[i]];
    }
    buf[k] = 0;
    *out = buf;
    *len = k;
    return WF_OK;
}

wf_status wf_tokenizer_fits(const wf_tokenizer *t, int model_vocab, const char *where, wf_err *err) {
    int n = t->n_vocab;
    if (n <= model_vocab && model_vocab - n <= WF_TOKENIZER_MAX_PAD) return WF_OK;
    return WF_FAIL(err, WF_ESHAPE, "%s: tokenizer has %d tokens but the model's vocab_size is %d, expected %d to %d "
                   "tokens (a tokenizer of another model?)", where, n, model_vocab,
                   model_vocab > WF_TOKENIZER_MAX_PAD ? model_vocab - WF_TOKENIZER_MAX_PAD : 1, model_vocab);
}
