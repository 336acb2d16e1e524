/* fuzz_tokjson.c — libFuzzer target for tokenizer.json (model/tok_load.c
** through wf_tokenizer_load on a folder holding only that file). The whole
** input is the file. Errors are fine; crashes, leaks and out-of-bounds reads
** are not; a tokenizer that loads must encode and decode a fixed text. */
#include "fuzz_util.h"
#include "model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_scratch("tokjson");
    fuzz_put("tokenizer.json", data, size);
    size_t live = wf_heap_live(NULL);
    wf_tokenizer *t = NULL;
    wf_err e = {0};
    wf_status st = wf_tokenizer_load(fuzz_dir, &t, &e);
    fuzz_report(st, &e);
    if (st == WF_OK) {
        static const char sample[] = "Hello world's 42 \xe6\x97\xa5\xc3 <|endoftext|> \t\n";
        int32_t *ids = NULL;
        size_t k = 0, cap = 0;
        if (wf_tokenizer_encode(t, sample, sizeof sample - 1, &ids, &k, &cap, &e) == WF_OK) {
            char *out = NULL;
            size_t len;
            if (wf_tokenizer_decode(t, ids, k, &out, &len, &e) == WF_OK) wf_free(NULL, out);
        }
        wf_free(NULL, ids);
        wf_tokenizer_free(t);
    } else {
        WF_ASSERT(t == NULL && e.msg[0]);
    }
    WF_ASSERT(wf_heap_live(NULL) == live);
    return 0;
}
