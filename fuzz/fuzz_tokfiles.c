/* fuzz_tokfiles.c — libFuzzer target for the tokenizer file readers
** (model/tok_load.c). Input byte 0 picks the files:
**   even: bytes 1..2 are a u16 LE length M; the next M bytes are vocab.json,
**         the rest merges.txt;
**   odd:  the rest is tokenizer.json.
** They go to a private temp folder and wf_tokenizer_load reads it. When it
** is accepted, a fixed text must round-trip through encode/decode (every id
** in range) and token_bytes must answer for every id. Errors are fine;
** crashes, leaks and out-of-bounds reads are not. */
#include "model/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* global: the fuzzer's scratch folder, made once per process. */
static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!p) {
        unlink(path);
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/wf_fuzz_tokfiles_XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    if (size < 1) return 0;
    if (data[0] & 1) {
        put("vocab.json", NULL, 0), put("merges.txt", NULL, 0);
        put("tokenizer.json", data + 1, size - 1);
    } else {
        if (size < 3) return 0;
        size_t m = (size_t)data[1] | (size_t)data[2] << 8;
        if (m > size - 3) m = size - 3;
        put("tokenizer.json", NULL, 0);
        put("vocab.json", data + 3, m);
        put("merges.txt", data + 3 + m, size - 3 - m);
    }
    wf_tokenizer *t = NULL;
    wf_err e = {0};
    if (wf_tokenizer_load(dir, &t, &e) == WF_OK) {
        int V = wf_tokenizer_vocab_size(t);
        WF_ASSERT(V > 0);
        for (int32_t id = -1; id <= V && id < 4096; id++) {
            const char *b;
            int n = wf_tokenizer_token_bytes(t, id, &b);
            WF_ASSERT((id < 0 || id >= V) ? n < 0 : n >= -1);
        }
        static const char text[] = "Hello, world! \xc3\xa9t\xc3\xa9 <|endoftext|> 123\n\t  x";
        int32_t *ids = NULL;
        size_t k = 0, cap = 0;
        if (wf_tokenizer_encode(t, text, sizeof text - 1, &ids, &k, &cap, &e) == WF_OK) {
            for (size_t i = 0; i < k; i++) WF_ASSERT(ids[i] >= 0 && ids[i] < V);
            char *out = NULL;
            size_t len = 0;
            if (wf_tokenizer_decode(t, ids, k, &out, &len, &e) == WF_OK) wf_free(NULL, out);
        }
        wf_free(NULL, ids);
        wf_tokenizer_free(t);
    }
    WF_ASSERT(wf_heap_live(NULL) == 0);
    return 0;
}
