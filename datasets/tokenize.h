/* tokenize.h — text files to token shards (`wafer tokenize`): reads INPUTS by
** the rules of inputs.h, encodes segments on worker threads, writes them in
** input order (so the output does not depend on the thread count), joins
** documents with EOS and splits off a validation set.
**
** Validation split: segments (a .jsonl document, or a ~256 KiB piece of a .txt
** file) are dealt in order; a segment of k tokens goes to val when that brings
** the val share closer to val_fraction, i.e. when
**     val_tokens + k/2 < val_fraction * (train_tokens + val_tokens + k),
** else to train. Deterministic, spread over the whole corpus, never more than
** about half a segment off the target. EOS follows the last segment of every
** document in whichever split that segment went to. */
#ifndef WF_DATASETS_TOKENIZE_H
#define WF_DATASETS_TOKENIZE_H

#include "datasets/inputs.h"
#include "datasets/shards.h"
#include "model/tokenizer.h"

typedef struct {
    const char *out_dir;      /* created if needed */
    const char *tokenizer_dir;/* recorded in meta.json; may be NULL */
    double val_fraction;      /* [0, 0.5] */
    int threads;              /* encoding threads, >= 1 (1 = encode on the calling thread) */
    uint64_t shard_tokens;    /* tokens per shard; 0 = WF_SHARD_DEFAULT_TOKENS */
    size_t segment_bytes;     /* .txt segment target; 0 = 256 KiB */
    wf_skip_fn on_skip;       /* one line per skipped file or line; NULL = wf_log WARN */
    void *ud;
    double progress_every;    /* seconds between wf_log INFO progress lines; 0 = never */
} wf_tokenize_opts;

typedef struct {
    uint64_t files;          /* files read */
    uint64_t documents;      /* documents written (each ends with EOS) */
    uint64_t bytes;          /* text bytes encoded */
    uint64_t tokens[WF_SPLIT_COUNT];
    int shards[WF_SPLIT_COUNT];
    uint64_t skipped_files, skipped_lines;
    uint64_t ignored;        /* folder entries not read (see inputs.h) */
    double entropy_nats;     /* unigram entropy of the train tokens */
    int val_by_tokens;       /* too few documents: the validation split is the corpus's last tokens */
    double seconds;
} wf_tokenize_stats;

/* Runs the whole pipeline. tok is shared read-only by the threads. The new
** dataset is built in the sibling folder out_dir.tmp-PID and swapped in whole
** when complete; the old one (if any) is removed after the swap. On failure,
** or when killed at any point, out_dir still holds the old dataset (or does
** not exist, when there was none); a later run removes the .tmp-PID folders
** of dead processes. An existing out_dir that holds anything but a dataset
** (meta.json, train_/val_NNNNNN.bin) is refused with WF_EUSAGE, untouched.
** A symlink out_dir keeps pointing at its folder, which is replaced. */
wf_status wf_tokenize_run(const wf_tokenizer *tok, const char *const *inputs, int n_inputs,
                          const wf_tokenize_opts *o, wf_tokenize_stats *stats, wf_err *err);

#endif
