/* fuzz_tokenizer.c — libFuzzer target for the GPT-2 tokenizer. Input byte 0
** picks the mode:
**   even: the rest is text for the bundled GPT-2 tokenizer: decode(encode(x))
**         must give x back, the fast pre-tokenizer must agree with the
**         reference at every position, and array BPE with heap BPE;
**   odd:  the rest is a merge list ("a b" per line) for
**         wf_tokenizer_from_merges; when accepted, a fixed text must
**         round-trip through encode/decode.
** Errors are fine; crashes, leaks and mismatches are not.
** Run: CC=clang cmake -S . -B build-fuzz -DWF_FUZZ=ON && cmake --build build-fuzz --target fuzz_tokenizer
**      build-fuzz/fuzz/fuzz_tokenizer -max_total_time=300 -max_len=4096 */
#include "model/tok_int.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_gpt2.h"

static void fuzz_text(const uint8_t *s, size_t n) {
    wf_err e = {0};
    int32_t *ids = NULL;
    size_t k = 0, cap = 0;
    WF_ASSERT(wf_tokenizer_encode(gpt2, (const char *)s, n, &ids, &k, &cap, &e) == WF_OK);
    char *out;
    size_t len;
    WF_ASSERT(wf_tokenizer_decode(gpt2, ids, k, &out, &len, &e) == WF_OK);
    WF_ASSERT(len == n && (n == 0 || memcmp(out, s, n) == 0));
    wf_free(NULL, out);
    for (size_t i = 0; i < n; i++) WF_ASSERT(wf_tok_pretok_next(s, n, i) == wf_tok_pretok_next_ref(s, n, i));
    int32_t *a = malloc(sizeof *a * (n + 1)), *b = malloc(sizeof *b * (n + 1));
    for (size_t i = 0; i < n;) {
        size_t end = wf_tok_pretok_next(s, n, i), ka, kb;
        WF_ASSERT(end > i && end <= n);
        WF_ASSERT(wf_tok_bpe_piece(gpt2, s + i, end - i, a, &ka, 0, &e) == WF_OK);
        WF_ASSERT(wf_tok_bpe_piece(gpt2, s + i, end - i, b, &kb, 1, &e) == WF_OK);
        WF_ASSERT(ka == kb && memcmp(a, b, ka * sizeof *a) == 0);
        i = end;
    }
    free(a);
    free(b);
    wf_free(NULL, ids);
}

static void fuzz_merges(const uint8_t *s, size_t n) {
    char *text = malloc(n + 1);
    memcpy(text, s, n);
    text[n] = 0;
    const char *ma[256], *mb[256];
    int m = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && m < 256; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = 0;
        ma[m] = line;
        mb[m] = sp + 1;
        m++;
    }
    wf_tokenizer *t = NULL;
    wf_err e = {0};
    if (wf_tokenizer_from_merges(ma, mb, m, &t, &e) == WF_OK) {
        static const char sample[] = "the quick brown fox's 123 \xe6\x97\xa5\xff  \n<|endoftext|>x";
        int32_t *ids = NULL;
        size_t k = 0, cap = 0;
        WF_ASSERT(wf_tokenizer_encode(t, sample, sizeof sample - 1, &ids, &k, &cap, &e) == WF_OK);
        char *out;
        size_t len;
        WF_ASSERT(wf_tokenizer_decode(t, ids, k, &out, &len, &e) == WF_OK);
        WF_ASSERT(len == sizeof sample - 1 && memcmp(out, sample, len) == 0);
        WF_ASSERT(wf_tokenizer_vocab_size(t) == 257 + m);
        wf_free(NULL, out);
        wf_free(NULL, ids);
        wf_tokenizer_free(t);
    } else {
        WF_ASSERT(t == NULL && e.msg[0]);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t live = wf_heap_live(NULL);
    if (data[0] & 1) fuzz_merges(data + 1, size - 1);
    else fuzz_text(data + 1, size - 1);
    WF_ASSERT(wf_heap_live(NULL) == live); /* nothing leaked on the default heap */
    return 0;
}
