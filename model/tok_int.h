/* tok_int.h — shared inside the tokenizer files only (tokenizer.c, tok_*.c):
** the wf_tokenizer body, the GPT-2 byte<->unicode map, the code point class
** table and the pre-tokenizer. Not for other subsystems: use model/tokenizer.h. */
#ifndef WF_MODEL_TOK_INT_H
#define WF_MODEL_TOK_INT_H

#include "model/tokenizer.h"

#include <stdint.h>

/* Code point classes of the GPT-2 regex: \p{L}, \p{N}, \s, and the rest. */
enum { WF_TOK_OTHER = 0, WF_TOK_LETTER = 1, WF_TOK_NUMBER = 2, WF_TOK_SPACE = 3 };

/* Generated table (tok_unicode.c): class = stage2[stage1[cp >> 7] * 128 + (cp & 127)]. */
extern const uint8_t wf_tok_uc_stage1[0x110000 >> 7];
extern const uint8_t wf_tok_uc_stage2[];

/* Class of code point cp (cp < 0x110000). */
static inline int wf_tok_uc_class(uint32_t cp) {
    return wf_tok_uc_stage2[(size_t)wf_tok_uc_stage1[cp >> 7] * 128 + (cp & 127)];
}

/* End (exclusive byte offset) of the pre-token that starts at s[i], i < n:
** the GPT-2 regex 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
** applied to bytes; bytes that are not well-formed UTF-8 are OTHER. */
size_t wf_tok_pretok_next(const uint8_t *s, size_t n, size_t i);
/* The same thing written as a literal transcription of the regex semantics
** (backtracking by code point), kept as the reference the tests compare with. */
size_t wf_tok_pretok_next_ref(const uint8_t *s, size_t n, size_t i);

/* GPT-2 bytes_to_unicode: byte b is written as code point wf_tok_byte_cp(b);
** order[i] is the byte with id i in the GPT-2 vocabulary layout. */
void wf_tok_byte_map(uint16_t byte_cp[256], uint8_t order[256]);

/* One merge rule in the rank table: (a, b) -> out, at priority rank. */
typedef struct {
    uint64_t key; /* (uint64_t)a << 32 | b; WF_TOK_EMPTY when the slot is free */
    int32_t rank; /* line order in merges.txt, 0 = first */
    int32_t out;  /* id of the merged token */
} wf_tok_merge;
#define WF_TOK_EMPTY UINT64_MAX

/* An added (special) token: matched in the raw text before pre-tokenizing. */
typedef struct {
    char *text; /* raw bytes, owned */
    size_t len;
    int32_t id;
} wf_tok_special;

struct wf_tokenizer {
    int n_vocab;          /* largest id + 1 */
    char *blob;           /* raw bytes of every token, back to back */
    size_t blob_used, blob_cap; /* bytes filled / allocated (blob has one more for a NUL) */
    uint32_t *off;        /* [n_vocab] start of token i in blob */
    int32_t *len;         /* [n_vocab] byte length, -1 for an id with no token */
    uint32_t *vmap;       /* [vmap_cap] open-addressed raw bytes -> id+1 (0 = empty) */
    uint32_t vmap_cap;    /* power of two, >= 2 * tokens */
    wf_tok_merge *mmap;   /* [mmap_cap] open-addressed merge table */
    uint32_t mmap_cap;    /* power of two, >= 2 * n_merges */
    int n_merges, merge_room; /* merges added / reserved */
    int32_t *merge_a, *merge_b; /* [n_merges] rank order, for save */
    int32_t byte_id[256]; /* id of each single-byte token */
    wf_tok_special *specials;
    int n_specials;
    int eos; /* "<|endoftext|>" id or -1 */
};

/* ---- building (tokenizer.c) ---------------------------------------------- */
/* An empty tokenizer with room for n_vocab ids (all holes). */
wf_status wf_tok_new(int n_vocab, size_t blob_bytes, wf_tokenizer **out, wf_err *err);
/* Sets token id to bytes; fails on a duplicate string (names both ids). */
wf_status wf_tok_set(wf_tokenizer *t, int32_t id, const char *bytes, size_t n, wf_err *err);
/* Id of the token spelled by these raw bytes, or -1. */
int32_t wf_tok_find(const wf_tokenizer *t, const char *bytes, size_t n);
/* Adds merge (a, b) -> out with the next rank; fails on a repeated pair. */
wf_status wf_tok_add_merge(wf_tokenizer *t, int32_t a, int32_t b, int32_t out, wf_err *err);
/* Registers an added token matched before pre-tokenizing. */
wf_status wf_tok_add_special(wf_tokenizer *t, const char *bytes, size_t n, int32_t id, wf_err *err);
/* Checks every byte has a token, fills byte_id and eos. what names the source in errors. */
wf_status wf_tok_finish(wf_tokenizer *t, const char *what, wf_err *err);
/* Reserves merge table room for n merges (before wf_tok_add_merge). */
wf_status wf_tok_reserve_merges(wf_tokenizer *t, int n, wf_err *err);

/* BPE of one piece w[0..m), m > 0, into out (room for m ids); *n_out ids.
** force_large takes the heap path even for short pieces (tests compare both). */
wf_status wf_tok_bpe_piece(const wf_tokenizer *t, const uint8_t *w, size_t m, int32_t *out, size_t *n_out,
                           int force_large, wf_err *err);

/* ---- byte-level strings (tok_load.c) ------------------------------------- */
/* Converts a GPT-2 byte-level string (UTF-8 of mapped code points) to raw bytes
** in dst (room for n bytes). Returns the byte count, or -1 when a code point is
** not one of the 256 mapped ones. */
long wf_tok_unmap(const char *s, size_t n, char *dst);
/* Writes the byte-level spelling of raw bytes into dst (room for 2*n); returns length. */
size_t wf_tok_map(const char *raw, size_t n, char *dst);

#endif
