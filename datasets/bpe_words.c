/* bpe_words.c — the first half of BPE training: GPT-2 pre-tokenization (the
** tokenizer's own pre-tokenizer, wf_tokenizer_pretok_next, so training splits
** text exactly as encoding does) and counting of distinct words in an
** open-addressed table. */
#include "datasets/bpe_int.h"
#include "model/tokenizer.h"

#include <string.h>

static const char eot[] = "<|endoftext|>";

static uint64_t hash_bytes(const uint8_t *s, uint32_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

void wf_bpe_words_free(wf_bpe_words *w) {
    wf_free(NULL, w->slot);
    wf_free(NULL, w->off);
    wf_free(NULL, w->len);
    wf_free(NULL, w->count);
    wf_free(NULL, w->hash);
    wf_free(NULL, w->arena);
    memset(w, 0, sizeof *w);
}

static wf_status grow_slots(wf_bpe_words *w, wf_err *err) {
    uint32_t cap = w->cap ? w->cap * 2 : 1024;
    uint32_t *slot = wf_calloc(NULL, (size_t)cap * sizeof *slot, "word table", err);
    if (!slot) return err ? err->code : WF_ENOMEM;
    for (uint32_t i = 0; i < w->n; i++) {
        uint32_t j = (uint32_t)w->hash[i] & (cap - 1);
        while (slot[j]) j = (j + 1) & (cap - 1);
        slot[j] = i + 1;
    }
    wf_free(NULL, w->slot);
    w->slot = slot;
    w->cap = cap;
    return WF_OK;
}

static wf_status grow_words(wf_bpe_words *w, wf_err *err) {
    uint32_t nc = w->ncap ? w->ncap * 2 : 1024;
    uint64_t *off = wf_realloc(NULL, w->off, (size_t)nc * sizeof *off, "word offsets", err);
    if (!off) return err ? err->code : WF_ENOMEM;
    w->off = off;
    uint32_t *len = wf_realloc(NULL, w->len, (size_t)nc * sizeof *len, "word lengths", err);
    if (!len) return err ? err->code : WF_ENOMEM;
    w->len = len;
    uint64_t *cnt = wf_realloc(NULL, w->count, (size_t)nc * sizeof *cnt, "word counts", err);
    if (!cnt) return err ? err->code : WF_ENOMEM;
    w->count = cnt;
    uint64_t *h = wf_realloc(NULL, w->hash, (size_t)nc * sizeof *h, "word hashes", err);
    if (!h) return err ? err->code : WF_ENOMEM;
    w->hash = h;
    w->ncap = nc;
    return WF_OK;
}

wf_status wf_bpe_words_add(wf_bpe_words *w, const uint8_t *s, uint32_t n, uint64_t count, wf_err *err) {
    wf_status st;
    if (2 * (uint64_t)(w->n + 1) >= w->cap && (st = grow_slots(w, err))) return st;
    uint64_t h = hash_bytes(s, n);
    uint32_t j = (uint32_t)h & (w->cap - 1);
    while (w->slot[j]) {
        uint32_t i = w->slot[j] - 1;
        if (w->hash[i] == h && w->len[i] == n && memcmp(w->arena + w->off[i], s, n) == 0) {
            w->count[i] += count;
            w->total += count;
            return WF_OK;
        }
        j = (j + 1) & (w->cap - 1);
    }
    if (w->n == UINT32_MAX - 1) return WF_FAIL(err, WF_ENOMEM, "BPE trainer: more than 4 billion distinct words");
    if (w->n == w->ncap && (st = grow_words(w, err))) return st;
    if (w->arena_used + n > w->arena_cap) {
        uint64_t nc = w->arena_cap ? w->arena_cap * 2 : (1u << 20);
        while (nc < w->arena_used + n) nc *= 2;
        uint8_t *a = wf_realloc(NULL, w->arena, (size_t)nc, "word arena", err);
        if (!a) return err ? err->code : WF_ENOMEM;
        w->arena = a;
        w->arena_cap = nc;
    }
    memcpy(w->arena + w->arena_used, s, n);
    uint32_t i = w->n++;
    w->off[i] = w->arena_used;
    w->len[i] = n;
    w->count[i] = count;
    w->hash[i] = h;
    w->arena_used += n;
    w->total += count;
    w->slot[j] = i + 1;
    return WF_OK;
}

int64_t wf_bpe_words_find(const wf_bpe_words *w, const uint8_t *s, uint32_t n) {
    if (!w->cap) return -1;
    uint64_t h = hash_bytes(s, n);
    for (uint32_t j = (uint32_t)h & (w->cap - 1); w->slot[j]; j = (j + 1) & (w->cap - 1)) {
        uint32_t i = w->slot[j] - 1;
        if (w->hash[i] == h && w->len[i] == n && memcmp(w->arena + w->off[i], s, n) == 0) return i;
    }
    return -1;
}

struct wf_bpe_counter {
    wf_bpe_words words;
};

wf_status wf_bpe_counter_new(wf_bpe_counter **out, wf_err *err) {
    *out = NULL;
    wf_bpe_counter *c = wf_calloc(NULL, sizeof *c, "BPE counter", err);
    if (!c) return err ? err->code : WF_ENOMEM;
    *out = c;
    return WF_OK;
}

void wf_bpe_counter_free(wf_bpe_counter *c) {
    if (!c) return;
    wf_bpe_words_free(&c->words);
    wf_free(NULL, c);
}

wf_bpe_words *wf_bpe_counter_words(wf_bpe_counter *c) { return &c->words; }

/* Pre-tokenizes s[0..n), which contains no "<|endoftext|>". */
static wf_status count_piece(wf_bpe_counter *c, const uint8_t *s, size_t n, wf_err *err) {
    size_t at = 0;
    while (at < n) {
        size_t end = wf_tokenizer_pretok_next(s, n, at);
        WF_ASSERT(end > at && end <= n);
        if (end - at > UINT32_MAX) end = at + UINT32_MAX;
        wf_status st = wf_bpe_words_add(&c->words, s + at, (uint32_t)(end - at), 1, err);
        if (st) return st;
        at = end;
    }
    return WF_OK;
}

wf_status wf_bpe_counter_add(wf_bpe_counter *c, const char *text, size_t len, wf_err *err) {
    const uint8_t *s = (const uint8_t *)text;
    size_t at = 0, el = sizeof eot - 1;
    while (at < len) {
        const uint8_t *hit = NULL;
        for (const uint8_t *p = s + at; (p = memchr(p, '<', len - (size_t)(p - s))) != NULL; p++)
            if ((size_t)(s + len - p) >= el && memcmp(p, eot, el) == 0) {
                hit = p;
                break;
            }
        size_t end = hit ? (size_t)(hit - s) : len;
        wf_status st = count_piece(c, s + at, end - at, err);
        if (st) return st;
        at = hit ? end + el : len;
    }
    return WF_OK;
}
