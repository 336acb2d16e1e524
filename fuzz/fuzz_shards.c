/* fuzz_shards.c — libFuzzer target for the token shard reader (datasets/
** shards.h). Input layout: u16 LE meta length M, M bytes of meta.json, one byte
** k, then the rest is split at k/255 of its length into train_000000.bin and
** val_000000.bin. The files go to a private temp folder; the reader must reject
** or serve them without crashing, leaking or reading out of bounds. */
#include "datasets/shards.h"
#include "fuzz_util.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fuzz_scratch("shards");
    if (size < 3) return 0;
    size_t m = (size_t)data[0] | (size_t)data[1] << 8;
    if (m > size - 3) m = size - 3;
    const uint8_t *meta = data + 2, *rest = data + 3 + m;
    size_t nrest = size - 3 - m, cut = nrest * data[2 + m] / 255;
    fuzz_put("meta.json", meta, m);
    fuzz_put("train_000000.bin", rest, cut);
    fuzz_put("val_000000.bin", rest + cut, nrest - cut);
    wf_shards *s = NULL;
    wf_err e = {0};
    wf_status st = wf_shards_open(dir, &s, &e);
    fuzz_report(st, &e);
    if (st == WF_OK) {
        int32_t buf[4 * 33];
        for (int k = 0; k < WF_SPLIT_COUNT; k++) {
            uint64_t n = wf_shards_count(s, (wf_split)k);
            (void)wf_shards_read(s, (wf_split)k, 0, n < 64 ? (size_t)n : 64, buf, &e);
            if (n > 64) (void)wf_shards_read(s, (wf_split)k, n - 64, 64, buf, &e);
            (void)wf_shards_read(s, (wf_split)k, n, 1, buf, &e); /* past the end: an error */
            (void)wf_shards_batch(s, (wf_split)k, 1, 2, 0, 4, 32, buf, &e);
        }
        (void)wf_shards_verify(s, &e);
        wf_shards_close(s);
    }
    WF_ASSERT(wf_heap_live(NULL) == 0);
    return 0;
}
