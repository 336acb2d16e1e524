/* synth_data.h — a small synthetic token dataset for the training tests:
** 3000 train and 1000 validation tokens with a learnable pattern, written as a
** DATA_DIR through the real shard writer. Header-only; include after check.h. */
#ifndef WF_TEST_SYNTH_DATA_H
#define WF_TEST_SYNTH_DATA_H

#include "datasets/shards.h"

static void make_data(const char *dir, int vocab) {
    wf_err e;
    WF_CHECK_EQ(wf_mkdir_p(dir, &e), WF_OK);
    int32_t ids[4000];
    for (int i = 0; i < 4000; i++) ids[i] = (int32_t)((i * 7 + (i / 13) * 3) % 97 + (i % 5) * 80) % vocab;
    uint64_t n[2] = {0, 0};
    for (int sp = 0; sp < 2; sp++) {
        wf_shard_writer *w;
        WF_CHECK_EQ(wf_shard_writer_open(dir, (wf_split)sp, vocab, 0, &w, &e), WF_OK);
        WF_CHECK_EQ(wf_shard_writer_append(w, ids + sp * 3000, sp ? 1000 : 3000, &e), WF_OK);
        WF_CHECK_EQ(wf_shard_writer_finish(w, &n[sp], NULL, &e), WF_OK);
    }
    wf_shards_meta m = {.vocab_size = vocab, .eos_id = -1, .tokens = {n[0], n[1]}, .shards = {1, 1},
                        .unigram_entropy_nats = -1};
    WF_CHECK_EQ(wf_shards_write_meta(dir, &m, &e), WF_OK);
}

#endif
