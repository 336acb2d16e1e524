/* bpe_train.h — learning a byte-level BPE vocabulary from the user's corpus
** (`wafer tokenizer-train`), in the manner of Hugging Face's ByteLevel
** BpeTrainer:
**  1. pre-tokenize with the GPT-2 regex (PCRE2, Unicode properties), after
**     cutting out every literal "<|endoftext|>", and count the distinct words;
**  2. start from the 256 single bytes (all of them, seen or not);
**  3. repeatedly merge the most frequent adjacent pair of symbols, summed over
**     words weighted by their counts; ties go to the pair with the smaller
**     (left id, right id), ids in GPT-2 byte order then merge order (HF's rule,
**     since HF's alphabet ids sort the same way). Pair counts are kept exact
**     by incremental updates of the words that hold the merged pair (a
**     pair -> words index) and a max-heap with lazy re-insertion;
**  4. stop at vocab_size - 257 merges, or when the best pair occurs fewer than
**     min_frequency times.
** Unlike HF, a merge whose result is already a token (the same bytes reached
** along another path) is not taken: every merge adds one new token, so the
** vocabulary is ids 0..255 bytes, 256+i merge i, then "<|endoftext|>", which
** is wf_tokenizer_from_merges' layout and the real GPT-2 files' layout. */
#ifndef WF_DATASETS_BPE_TRAIN_H
#define WF_DATASETS_BPE_TRAIN_H

#include "datasets/inputs.h"
#include "model/tokenizer.h"

/* Longest token a merge may make, in its byte-level spelling (a byte spells as
** 1 or 2 UTF-8 bytes): the limit wf_tokenizer_from_merges (model/tokenizer.c)
** accepts. A pair whose result would be longer is never merged, so a corpus
** with a long repeated line still yields a loadable tokenizer. */
#define WF_BPE_MAX_TOKEN_SPELLED 1024

typedef struct {
    int vocab_size;        /* >= 257: 256 bytes + merges + <|endoftext|> */
    long long min_frequency; /* >= 1; HF's default is 2 */
    int threads;           /* pre-tokenizing threads, >= 1 */
    wf_skip_fn on_skip;    /* skipped files and lines; NULL = wf_log WARN */
    void *ud;
    double progress_every; /* seconds between wf_log INFO lines; 0 = never */
} wf_bpe_train_opts;

typedef struct {
    uint64_t files, documents, bytes;
    uint64_t skipped_files, skipped_lines, ignored;
    uint64_t words, unique_words; /* pre-tokens, and distinct ones */
    int merges;                   /* merges learned */
    int dup_skipped;              /* merges not taken: result already a token */
    int long_skipped;             /* pairs not merged: result over WF_BPE_MAX_TOKEN_SPELLED */
    long long last_count;         /* count of the last merged pair */
    double seconds_count, seconds_merge;
} wf_bpe_train_stats;

/* Reads INPUTS (rules of inputs.h) and learns a tokenizer; *out is owned by the
** caller (wf_tokenizer_free). Fails with WF_ECORRUPT when no text is usable. */
wf_status wf_bpe_train_files(const char *const *inputs, int n_inputs, const wf_bpe_train_opts *o,
                             wf_tokenizer **out, wf_bpe_train_stats *stats, wf_err *err);

/* The same on in-memory texts (each one a document; valid UTF-8 expected,
** invalid segments are skipped). For tests and small corpora. */
wf_status wf_bpe_train_texts(const char *const *texts, const size_t *lens, int n, const wf_bpe_train_opts *o,
                             wf_tokenizer **out, wf_bpe_train_stats *stats, wf_err *err);

/* GPT-2 byte-level spelling of raw bytes (the form of vocab.json and
** merges.txt: byte 0x20 is "Ġ"), written NUL-terminated into dst, which has
** room for 2*n + 1 bytes. Returns the length. */
size_t wf_bpe_spell(const uint8_t *raw, size_t n, char *dst);

#endif
