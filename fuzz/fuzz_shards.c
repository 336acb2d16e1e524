/* fuzz_shards.c — libFuzzer target for the token shard reader (datasets/
** shards.h). Input layout: u16 LE meta length M, M bytes of meta.json, one byte
** k, then the rest is split at k/255 of its length into train_000000.bin and
** val_000000.bin; train_000001.bin and val_000001.bin are copies of them (shard
** index 1, first position = the first shard's token count), so a
** meta.json that counts 2 shards a split gets a reader over two files (reads
** that cross a shard boundary). The files go to a private temp folder; the
** reader must reject or serve them without crashing, leaking or reading out
** of bounds. */
#include "datasets/shards.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* global: the fuzzer's scratch folder, made once per process. */
static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

/* Writes p as shard 1 of its split: header index 1, first position n_tokens of shard 0. */
static void put_second(const char *name, const uint8_t *p, size_t n) {
    uint8_t *c = malloc(n ? n : 1);
    if (!c) abort();
    if (n) memcpy(c, p, n);
    if (n >= 40) {
        memset(c + 28, 0, 4);
        c[28] = 1;
        memcpy(c + 32, p + 16, 8);
    }
    put(name, c, n);
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/wf_fuzz_shards_XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    if (size < 3) return 0;
    size_t m = (size_t)data[0] | (size_t)data[1] << 8;
    if (m > size - 3) m = size - 3;
    const uint8_t *meta = data + 2, *rest = data + 3 + m;
    size_t nrest = size - 3 - m, cut = nrest * data[2 + m] / 255;
    put("meta.json", meta, m);
    put("train_000000.bin", rest, cut);
    put("val_000000.bin", rest + cut, nrest - cut);
    put_second("train_000001.bin", rest, cut);
    put_second("val_000001.bin", rest + cut, nrest - cut);
    wf_shards *s = NULL;
    wf_err e = {0};
    if (wf_shards_open(dir, &s, &e) == WF_OK) {
        int32_t buf[4 * 33];
        for (int k = 0; k < WF_SPLIT_COUNT; k++) {
            uint64_t n = wf_shards_count(s, (wf_split)k);
            (void)wf_shards_read(s, (wf_split)k, 0, n < 64 ? (size_t)n : 64, buf, &e);
            if (n > 64) (void)wf_shards_read(s, (wf_split)k, n - 64, 64, buf, &e);
            if (n > 2) (void)wf_shards_read(s, (wf_split)k, n / 2 - 1, 2, buf, &e); /* a shard boundary */
            (void)wf_shards_read(s, (wf_split)k, n, 1, buf, &e); /* past the end: an error */
            (void)wf_shards_batch(s, (wf_split)k, 1, 2, 0, 4, 32, buf, &e);
        }
        (void)wf_shards_verify(s, &e);
        WF_ASSERT(wf_shards_vocab_size(s) > 0 && wf_shards_nshards(s, WF_SPLIT_TRAIN) >= 0);
        (void)wf_shards_eos(s), (void)wf_shards_unigram_entropy(s);
        wf_shards_close(s);
    }
    WF_ASSERT(wf_heap_live(NULL) == 0);
    return 0;
}
