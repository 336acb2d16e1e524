/* bpe_int.h — shared inside the BPE trainer (bpe_words.c, bpe_train.c) only:
** the table of distinct pre-tokenized words and their counts. */
#ifndef WF_DATASETS_BPE_INT_H
#define WF_DATASETS_BPE_INT_H

#include "base/base.h"

/* A set of distinct byte strings with counts: open addressing over an arena.
** Not thread-safe; each counting thread owns one and they are merged after. */
typedef struct {
    uint32_t *slot;     /* [cap] word index + 1, 0 = empty */
    uint32_t cap;       /* power of two, > 2 * n */
    uint32_t n;         /* distinct words */
    uint32_t ncap;
    uint64_t *off;      /* [ncap] start of word i in the arena */
    uint32_t *len;      /* [ncap] byte length of word i */
    uint64_t *count;    /* [ncap] occurrences */
    uint64_t *hash;     /* [ncap] cached hash */
    uint8_t *arena;     /* word bytes, back to back */
    uint64_t arena_used, arena_cap;
    uint64_t total;     /* occurrences of all words */
} wf_bpe_words;

void wf_bpe_words_free(wf_bpe_words *w); /* frees the contents */
/* Adds `count` occurrences of the word s[0..n). */
wf_status wf_bpe_words_add(wf_bpe_words *w, const uint8_t *s, uint32_t n, uint64_t count, wf_err *err);

/* Index of the word s[0..n), or -1. */
int64_t wf_bpe_words_find(const wf_bpe_words *w, const uint8_t *s, uint32_t n);

/* A pre-tokenizer + counter (one per thread). */
typedef struct wf_bpe_counter wf_bpe_counter;
wf_status wf_bpe_counter_new(wf_bpe_counter **out, wf_err *err);
void wf_bpe_counter_free(wf_bpe_counter *c);
/* Cuts out "<|endoftext|>", pre-tokenizes the rest with the GPT-2 regex and
** counts the words. text must be valid UTF-8 (the caller checked it). */
wf_status wf_bpe_counter_add(wf_bpe_counter *c, const char *text, size_t len, wf_err *err);
/* The counts so far; owned by c. */
wf_bpe_words *wf_bpe_counter_words(wf_bpe_counter *c);

#endif
