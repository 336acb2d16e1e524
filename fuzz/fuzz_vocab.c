/* fuzz_vocab.c — libFuzzer target for the tokenizer files vocab.json +
** merges.txt (model/tok_load.c through wf_tokenizer_load). Input: u16 LE
** length m, m bytes of vocab.json, the rest is merges.txt. The loader must
** reject the pair with an error or load a tokenizer that encodes and decodes
** a fixed text without crashing, leaking or reading out of bounds. */
#include "fuzz_util.h"
#include "model/tokenizer.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loads fuzz_dir as a tokenizer and, when it loads, runs a text through it. */
static void load_and_use(void) {
    size_t live = wf_heap_live(NULL);
    wf_tokenizer *t = NULL;
    wf_err e = {0};
    wf_status st = wf_tokenizer_load(fuzz_dir, &t, &e);
    fuzz_report(st, &e);
    if (st == WF_OK) {
        static const char sample[] = "the quick brown fox's 123 \xe6\x97\xa5\xff  \n<|endoftext|>x";
        int32_t *ids = NULL;
        size_t k = 0, cap = 0;
        if (wf_tokenizer_encode(t, sample, sizeof sample - 1, &ids, &k, &cap, &e) == WF_OK) {
            char *out = NULL;
            size_t len;
            if (wf_tokenizer_decode(t, ids, k, &out, &len, &e) == WF_OK) wf_free(NULL, out);
        }
        wf_free(NULL, ids);
        (void)wf_tokenizer_vocab_size(t);
        (void)wf_tokenizer_eos(t);
        wf_tokenizer_free(t);
    } else {
        WF_ASSERT(t == NULL && e.msg[0]);
    }
    WF_ASSERT(wf_heap_live(NULL) == live);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_scratch("vocab");
    const uint8_t *v, *m;
    size_t nv, nm;
    fuzz_split2(data, size, &v, &nv, &m, &nm);
    fuzz_put("vocab.json", v, nv);
    fuzz_put("merges.txt", m, nm);
    load_and_use();
    return 0;
}
