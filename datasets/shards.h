/* shards.h — the token dataset on disk: a DATA_DIR of binary token shards plus
** a meta.json manifest, written by `wafer tokenize` and read by training and
** evaluation. The reader maps every shard read-only and serves windows of
** tokens at any position of a split (windows may cross shard boundaries) and
** deterministic random batches, so training is reproducible from (seed, step).
**
** DATA_DIR layout
**   meta.json            manifest, written last and atomically: its presence
**                        means the dataset is complete (see below)
**   train_000000.bin ... shards of the train split, numbered from 0
**   val_000000.bin   ... shards of the validation split (may be none)
**
** Shard file, little-endian, header 64 bytes (STYLE 11):
**   offset size  field
**   0      4     magic "WFTK"
**   4      4     u32 version = 1
**   8      4     u32 vocab_size; every token is < vocab_size
**   12     4     u32 dtype = token width in bytes: 2 when vocab_size <= 65536, else 4
**   16     8     u64 n_tokens in this shard (> 0)
**   24     4     u32 split: 0 train, 1 val
**   28     4     u32 shard index within its split (agrees with the file name)
**   32     8     u64 position of the shard's first token within its split
**   40     8     u64 FNV-1a 64 of the payload bytes (checked by wf_shards_open)
**   48     16    reserved, zero
**   64     n_tokens * dtype   the tokens
** File size is exactly 64 + n_tokens * dtype.
**
** meta.json (the reader needs the keys marked *):
**   format* "wftk", version* 1, vocab_size*, eos_id, dtype ("uint16"/"uint32"),
**   train_tokens*, val_tokens*, train_shards*, val_shards*, tokenizer (path),
**   val_fraction, documents, files, skipped_files, skipped_lines, bytes,
**   unigram_entropy_nats (entropy of the train tokens' unigram distribution,
**   nats per token: the loss of the best model that ignores context). */
#ifndef WF_DATASETS_SHARDS_H
#define WF_DATASETS_SHARDS_H

#include "base/base.h"

#define WF_SHARD_MAGIC "WFTK"
#define WF_SHARD_VERSION 1
#define WF_SHARD_HEADER_BYTES 64
/* Default tokens per shard: 100M tokens = 200 MB at u16; big enough that a
** 10B-token corpus is 100 files, small enough to write and copy one by one. */
#define WF_SHARD_DEFAULT_TOKENS 100000000ull

typedef enum { WF_SPLIT_TRAIN = 0, WF_SPLIT_VAL = 1, WF_SPLIT_COUNT } wf_split;

/* ---- reader -------------------------------------------------------------- */
typedef struct wf_shards wf_shards;

/* Opens DATA_DIR: reads meta.json, maps every shard it lists, checks each
** header against the manifest (magic, version, vocab, dtype, split, index,
** start position, file size) and each payload against its checksum (one
** sequential pass, about 1 GB/s; a mismatch is WF_ECORRUPT naming the shard).
** Tokens themselves are range-checked as they are read. A FIFO or device in
** place of a file is an error, never a hang. *out is owned by the caller
** (wf_shards_close). */
wf_status wf_shards_open(const char *dir, wf_shards **out, wf_err *err);
void wf_shards_close(wf_shards *s); /* NULL is a no-op */

int wf_shards_vocab_size(const wf_shards *s);
int wf_shards_eos(const wf_shards *s);                  /* -1 when meta.json has none */
uint64_t wf_shards_count(const wf_shards *s, wf_split split); /* tokens in the split */
int wf_shards_nshards(const wf_shards *s, wf_split split);
/* Unigram entropy of the train tokens (nats/token) from meta.json; -1 if absent. */
double wf_shards_unigram_entropy(const wf_shards *s);

/* Copies tokens [pos, pos+n) of split into out. Fails with WF_ERANGE when the
** window passes the end of the split, and with WF_ECORRUPT naming the shard
** file and byte offset when a token is >= vocab_size. Thread-safe. */
wf_status wf_shards_read(const wf_shards *s, wf_split split, uint64_t pos, size_t n,
                         int32_t *out, wf_err *err);

/* Fills x with rows row0 .. row0+B-1 of the batch of training step `step`:
** each row is T+1 consecutive tokens (inputs x[0..T), targets x[1..T+1)),
** starting at a position drawn uniformly from [0, count - (T+1)] by a
** generator seeded from (seed, step, row). Same arguments, same tokens, on
** every machine: data-parallel workers take disjoint row ranges of one
** global batch. x holds B*(T+1) ints, row-major. Fails with WF_ESHAPE when
** the split has fewer than T+1 tokens. Thread-safe. */
wf_status wf_shards_batch(const wf_shards *s, wf_split split, uint64_t seed, uint64_t step,
                          int row0, int B, int T, int32_t *x, wf_err *err);

/* Fills x with sequences g0 .. g0+n-1 of the run's stream: sequence g is
** T+1 consecutive tokens at a position drawn uniformly from [0, count -
** (T+1)] by a generator seeded from (seed, g) alone. Training deals global
** sequence g = m x B + row to row `row` of global micro-batch m, so any split
** of a step's sequences into ranks, micro-batches and rows (-np 2 --batch
** 4, -np 4 --batch 2, --batch 4 --accum 2) reads the same tokens. x holds
** n*(T+1) ints. Errors as wf_shards_batch. Thread-safe. */
wf_status wf_shards_seqs(const wf_shards *s, wf_split split, uint64_t seed, uint64_t g0, int n, int T, int32_t *x,
                         wf_err *err);

/* Reads every token of every shard: checks the payload checksum and that each
** token is < vocab_size. Errors name the file. */
wf_status wf_shards_verify(const wf_shards *s, wf_err *err);

/* ---- writer -------------------------------------------------------------- */
typedef struct wf_shard_writer wf_shard_writer;

/* Starts writing the shards of one split into dir (which must exist). A shard
** is closed (header written, fsync, renamed from .tmp) every shard_tokens
** tokens (0 = WF_SHARD_DEFAULT_TOKENS), so memory stays flat. Appended tokens
** must be in [0, vocab_size). */
wf_status wf_shard_writer_open(const char *dir, wf_split split, int vocab_size,
                               uint64_t shard_tokens, wf_shard_writer **out, wf_err *err);
wf_status wf_shard_writer_append(wf_shard_writer *w, const int32_t *ids, size_t n, wf_err *err);
/* Closes the last shard and frees w in all cases. *n_tokens / *n_shards
** (either may be NULL) get the split's totals. */
wf_status wf_shard_writer_finish(wf_shard_writer *w, uint64_t *n_tokens, int *n_shards,
                                 wf_err *err);
void wf_shard_writer_abort(wf_shard_writer *w); /* removes the open .tmp; NULL is a no-op */

/* The manifest tokenize writes last (see the meta.json table above). Plain data. */
typedef struct {
    int vocab_size;
    int eos_id;                          /* -1: none */
    uint64_t tokens[WF_SPLIT_COUNT];     /* per split */
    int shards[WF_SPLIT_COUNT];          /* per split */
    const char *tokenizer;               /* folder the ids come from; may be NULL */
    double val_fraction;
    uint64_t documents, files, skipped_files, skipped_lines, bytes;
    double unigram_entropy_nats;         /* < 0: not computed */
} wf_shards_meta;

/* Writes dir/meta.json atomically. */
wf_status wf_shards_write_meta(const char *dir, const wf_shards_meta *m, wf_err *err);

/* "train_000012.bin" for (WF_SPLIT_TRAIN, 12) into buf (at least 32 bytes). */
void wf_shard_name(wf_split split, int index, char *buf, size_t cap);

#endif
