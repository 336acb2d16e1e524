/* test_bpe_train.c — the byte-level BPE trainer (datasets/bpe_train.h): hand-
** checked merges on tiny corpora (equal to Hugging Face tokenizers' BpeTrainer
** on the same text, see oracle/bpe_check.py for the large-corpus check), the
** tie rule, min_frequency, the GPT-2 byte spelling, save/load round trips,
** thread-count independence and bad options. */
#include "datasets/bpe_train.h"
#include "tests/check.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static wf_bpe_train_opts opts(int vocab) {
    return (wf_bpe_train_opts){.vocab_size = vocab, .min_frequency = 2, .threads = 1};
}

/* "a|b" for merge i: the bytes of the two tokens that merge i joined are not
** kept by the tokenizer, so tests compare merge results (token 256+i). */
static const char *tok_str(const wf_tokenizer *t, int id, char *buf, size_t cap) {
    const char *b;
    int n = wf_tokenizer_token_bytes(t, id, &b);
    if (n < 0 || (size_t)n >= cap) return "(bad id)";
    memcpy(buf, b, (size_t)n);
    buf[n] = 0;
    return buf;
}

static void test_hand_checked_merges(void) {
    /* "aaabdaaabac" is one pre-token. Pairs: aa 4, ab 2, bd da ba ac 1.
    ** 1: a+a -> "aa" (4). Word: aa a b d aa a b a c; now (aa,a) 2 and (a,b) 2
    ** tie: (a,b) wins, ids (64,65) < (256,64). 2: "ab". Word: aa ab d aa ab a c.
    ** 3: aa+ab -> "aaab" (2). Every other pair occurs once < min_frequency 2. */
    const char *texts[] = {"aaabdaaabac"};
    size_t lens[] = {11};
    wf_bpe_train_opts o = opts(300);
    wf_tokenizer *t = NULL;
    wf_bpe_train_stats s;
    wf_err e = {0};
    WF_CHECK_EQ(wf_bpe_train_texts(texts, lens, 1, &o, &t, &s, &e), WF_OK);
    if (!t) return;
    char buf[64];
    WF_CHECK_EQ(s.merges, 3);
    WF_CHECK_EQ(s.last_count, 2);
    WF_CHECK_EQ(wf_tokenizer_vocab_size(t), 260);
    WF_CHECK_EQ(wf_tokenizer_eos(t), 259);
    WF_CHECK_STR(tok_str(t, 256, buf, sizeof buf), "aa");
    WF_CHECK_STR(tok_str(t, 257, buf, sizeof buf), "ab");
    WF_CHECK_STR(tok_str(t, 258, buf, sizeof buf), "aaab");
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    WF_CHECK_EQ(wf_tokenizer_encode(t, "aaabdaaabac", 11, &ids, &n, &cap, &e), WF_OK);
    WF_CHECK_EQ(n, 5); /* aaab d aaab a c */
    if (n == 5) {
        WF_CHECK_EQ(ids[0], 258);
        WF_CHECK_EQ(ids[2], 258);
        WF_CHECK_EQ(ids[1], 'd' - 33);
    }
    wf_free(NULL, ids);
    wf_tokenizer_free(t);

    /* min_frequency 1 keeps merging pairs seen once, up to the vocabulary. */
    o.min_frequency = 1;
    o.vocab_size = 259;
    WF_CHECK_EQ(wf_bpe_train_texts(texts, lens, 1, &o, &t, &s, &e), WF_OK);
    WF_CHECK_EQ(s.merges, 2);
    WF_CHECK_EQ(wf_tokenizer_vocab_size(t), 259);
    wf_tokenizer_free(t);
}

static void test_matches_hf_on_words_with_spaces(void) {
    /* Expected: tokenizers 0.23 BpeTrainer(min_frequency=2, ByteLevel alphabet,
    ** ByteLevel(add_prefix_space=False)) on the same text (bpe_check.py style). */
    const char *text = "low lower lowest low newer newest wide wider widest";
    const char *want[] = {"lo", "we", "de", "ide", "st", "wide", " lo", " wide", "ewe", "newe", " newe", " lowe"};
    size_t len = strlen(text);
    wf_bpe_train_opts o = opts(1000);
    wf_tokenizer *t = NULL;
    wf_bpe_train_stats s;
    wf_err e = {0};
    WF_CHECK_EQ(wf_bpe_train_texts(&text, &len, 1, &o, &t, &s, &e), WF_OK);
    if (!t) return;
    WF_CHECK_EQ(s.merges, 12);
    char buf[64];
    for (int i = 0; i < 12 && i < s.merges; i++) WF_CHECK_STR(tok_str(t, 256 + i, buf, sizeof buf), want[i]);
    wf_tokenizer_free(t);

    /* "<|endoftext|>" in the text is cut out, never learned from. */
    const char *t2 = "ab<|endoftext|>ab<|endoftext|>";
    size_t l2 = strlen(t2);
    o.vocab_size = 300;
    WF_CHECK_EQ(wf_bpe_train_texts(&t2, &l2, 1, &o, &t, &s, &e), WF_OK);
    WF_CHECK_EQ(s.merges, 1);
    WF_CHECK_EQ(s.words, 2);
    if (t) WF_CHECK_STR(tok_str(t, 256, buf, sizeof buf), "ab");
    wf_tokenizer_free(t);
}

/* Trains on each case of tests/fixtures/datasets/bpe_hf.json (made by
** oracle/bpe_fixtures.py with HF tokenizers' BpeTrainer) and compares the
** saved merges.txt with HF's merges, line by line. */
static void test_fixture_merges_equal_hf(void) {
    char *json = NULL;
    size_t jl = 0;
    wf_err e = {0};
    WF_CHECK_EQ(wf_file_read(NULL, "tests/fixtures/datasets/bpe_hf.json", &json, &jl, &e), WF_OK);
    cJSON *root = json ? cJSON_ParseWithLength(json, jl) : NULL;
    wf_free(NULL, json);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases"), *c;
    WF_CHECK(cJSON_GetArraySize(cases) == 4);
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
        const cJSON *tj = cJSON_GetObjectItemCaseSensitive(c, "texts"), *mj = cJSON_GetObjectItemCaseSensitive(c, "merges");
        int n = cJSON_GetArraySize(tj);
        const char *texts[8];
        size_t lens[8];
        for (int i = 0; i < n && i < 8; i++) {
            texts[i] = cJSON_GetArrayItem(tj, i)->valuestring;
            lens[i] = strlen(texts[i]);
        }
        wf_bpe_train_opts o = opts(cJSON_GetObjectItemCaseSensitive(c, "vocab_size")->valueint);
        o.min_frequency = cJSON_GetObjectItemCaseSensitive(c, "min_frequency")->valueint;
        wf_tokenizer *t = NULL;
        wf_bpe_train_stats s;
        WF_CHECK_EQ(wf_bpe_train_texts(texts, lens, n, &o, &t, &s, &e), WF_OK);
        if (!t) continue;
        WF_CHECK_EQ(s.merges, cJSON_GetArraySize(mj));
        char dir[] = "/tmp/wf_test_bpe_fx_XXXXXX", path[128];
        WF_CHECK(mkdtemp(dir) != NULL);
        WF_CHECK_EQ(wf_tokenizer_save(t, dir, &e), WF_OK);
        snprintf(path, sizeof path, "%s/merges.txt", dir);
        char *mt = NULL;
        size_t ml = 0;
        WF_CHECK_EQ(wf_file_read(NULL, path, &mt, &ml, &e), WF_OK);
        int line = -1, mismatch = -1;
        for (char *p = mt, *nl; p && *p; p = nl + 1, line++) {
            nl = strchr(p, '\n');
            if (!nl) break;
            *nl = 0;
            if (line < 0) continue; /* "#version: 0.2" */
            const cJSON *want = cJSON_GetArrayItem(mj, line);
            if (mismatch < 0 && (!want || strcmp(want->valuestring, p) != 0)) {
                mismatch = line;
                fprintf(stderr, "%s: merge %d: wafer \"%s\", HF \"%s\"\n", name, line, p,
                        want ? want->valuestring : "(none)");
            }
        }
        WF_CHECK_EQ(mismatch, -1);
        WF_CHECK_EQ(line, cJSON_GetArraySize(mj));
        wf_free(NULL, mt);
        wf_tokenizer_free(t);
        char cmd[100];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        WF_CHECK_EQ(system(cmd), 0);
    }
    cJSON_Delete(root);
}

static void test_spelling(void) {
    char out[16];
    WF_CHECK_EQ(wf_bpe_spell((const uint8_t *)" ", 1, out), 2);
    WF_CHECK_STR(out, "\xc4\xa0"); /* Ġ */
    wf_bpe_spell((const uint8_t *)"\n", 1, out);
    WF_CHECK_STR(out, "\xc4\x8a"); /* Ċ */
    wf_bpe_spell((const uint8_t *)"a~", 2, out);
    WF_CHECK_STR(out, "a~");
    wf_bpe_spell((const uint8_t *)"\xff", 1, out);
    WF_CHECK_STR(out, "\xc3\xbf"); /* ÿ = U+00FF */
    wf_bpe_spell((const uint8_t *)"\xad", 1, out);
    WF_CHECK_STR(out, "\xc5\x83"); /* Ń = U+0143, the last of the 68 moved bytes */
    wf_bpe_spell((const uint8_t *)"\x00", 1, out);
    WF_CHECK_STR(out, "\xc4\x80"); /* Ā = U+0100 */
}

/* A deterministic pseudo-English corpus: words from a small syllable set. */
static char *make_corpus(size_t n, unsigned seed) {
    static const char *syl[] = {"ka", "ri", "to", "ne", "sa", "mi", "lo", "ve", "qu", "ist", "ing", "the", "on"};
    char *s = malloc(n + 1);
    size_t k = 0;
    unsigned x = seed;
    while (k + 16 < n) {
        int ns = 1 + (int)((x = x * 1103515245u + 12345u) >> 16) % 3;
        for (int i = 0; i < ns; i++) {
            const char *p = syl[((x = x * 1103515245u + 12345u) >> 16) % 13];
            while (*p) s[k++] = *p++;
        }
        unsigned r = ((x = x * 1103515245u + 12345u) >> 16) % 20;
        s[k++] = r == 0 ? '\n' : r == 1 ? ',' : ' ';
        if (r == 1) s[k++] = ' ';
    }
    s[k] = 0;
    return s;
}

/* Saves t into a fresh temp folder and loads it back (NULL on failure); the
** folder is removed before returning. */
static wf_tokenizer *save_and_reload(const wf_tokenizer *t) {
    char dir[] = "/tmp/wf_test_bpe_XXXXXX", cmd[100];
    wf_tokenizer *t2 = NULL;
    wf_err e = {0};
    WF_CHECK(mkdtemp(dir) != NULL);
    WF_CHECK_EQ(wf_tokenizer_save(t, dir, &e), WF_OK);
    WF_CHECK_EQ(wf_tokenizer_load(dir, &t2, &e), WF_OK);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    WF_CHECK_EQ(system(cmd), 0);
    return t2;
}

static void test_roundtrip_and_compression(void) {
    char *corpus = make_corpus(200000, 7);
    size_t len = strlen(corpus);
    const char *texts[] = {corpus};
    wf_bpe_train_opts o = opts(600);
    wf_tokenizer *t = NULL, *t2 = NULL;
    wf_bpe_train_stats s;
    wf_err e = {0};
    WF_CHECK_EQ(wf_bpe_train_texts(texts, &len, 1, &o, &t, &s, &e), WF_OK);
    if (!t) {
        free(corpus);
        return;
    }
    WF_CHECK_EQ(s.merges, 600 - 257);
    t2 = save_and_reload(t);
    if (t2) {
        const char *sample = "kariton quist, mithe\nonving lo ve sa 日本語のテキスト ok";
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, ca = 0, nb = 0, cb = 0;
        WF_CHECK_EQ(wf_tokenizer_encode(t, sample, strlen(sample), &a, &na, &ca, &e), WF_OK);
        WF_CHECK_EQ(wf_tokenizer_encode(t2, sample, strlen(sample), &b, &nb, &cb, &e), WF_OK);
        WF_CHECK_EQ(na, nb);
        WF_CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0);
        char *back = NULL;
        size_t bl = 0;
        WF_CHECK_EQ(wf_tokenizer_decode(t2, b, nb, &back, &bl, &e), WF_OK);
        WF_CHECK_STR(back, sample);
        wf_free(NULL, back);
        wf_free(NULL, a);
        wf_free(NULL, b);
        /* The learned merges compress the training text well below a byte a token. */
        int32_t *c = NULL;
        size_t nc = 0, cc = 0;
        WF_CHECK_EQ(wf_tokenizer_encode(t2, corpus, len, &c, &nc, &cc, &e), WF_OK);
        WF_CHECK((double)len / (double)nc > 3.0);
        wf_free(NULL, c);
    }
    wf_tokenizer_free(t2);
    wf_tokenizer_free(t);
    free(corpus);
}

/* A long repeated line (one pre-token of 5000 'a's, three times) used to make
** merges past the 1024 spelled bytes wf_tokenizer_from_merges accepts, so
** training failed at the very end. Now such pairs are not merged; the
** tokenizer builds, saves, loads, and round-trips the line. */
static void test_long_repeated_line(void) {
    size_t n = 3 * 5001 + 20;
    char *text = malloc(n + 1);
    size_t k = 0;
    for (int line = 0; line < 3; line++) {
        memset(text + k, 'a', 5000);
        k += 5000;
        text[k++] = '\n';
    }
    k += (size_t)snprintf(text + k, n + 1 - k, "é%s", "\xc3\xa9\xc3\xa9\xc3\xa9");
    const char *texts[] = {text};
    size_t lens[] = {k};
    wf_bpe_train_opts o = opts(300);
    wf_tokenizer *t = NULL, *t2 = NULL;
    wf_bpe_train_stats s;
    wf_err e = {0};
    WF_CHECK_EQ(wf_bpe_train_texts(texts, lens, 1, &o, &t, &s, &e), WF_OK);
    if (e.code) fprintf(stderr, "  %s\n", e.msg);
    WF_CHECK(s.long_skipped > 0);
    int longest = 0;
    for (int32_t id = 0; t && id < wf_tokenizer_vocab_size(t); id++) {
        const char *b;
        int l = wf_tokenizer_token_bytes(t, id, &b);
        if (l > longest) longest = l;
    }
    WF_CHECK(longest >= 512 && longest <= WF_BPE_MAX_TOKEN_SPELLED); /* merged up to the cap, not past it */
    if (t) t2 = save_and_reload(t);
    if (t2) {
        int32_t *ids = NULL;
        size_t ni = 0, ci = 0, bl = 0;
        char *back = NULL;
        WF_CHECK_EQ(wf_tokenizer_encode(t2, text, k, &ids, &ni, &ci, &e), WF_OK);
        WF_CHECK(ni > 0 && ni < 100);
        WF_CHECK_EQ(wf_tokenizer_decode(t2, ids, ni, &back, &bl, &e), WF_OK);
        WF_CHECK(bl == k && back && memcmp(back, text, k) == 0);
        wf_free(NULL, back);
        wf_free(NULL, ids);
    }
    wf_tokenizer_free(t2);
    wf_tokenizer_free(t);
    free(text);
}

static void test_files_threads_agree(void) {
    char dir[] = "/tmp/wf_test_bpe_files_XXXXXX";
    WF_CHECK(mkdtemp(dir) != NULL);
    char path[200];
    for (int i = 0; i < 6; i++) {
        char *c = make_corpus(20000, 100u + (unsigned)i);
        snprintf(path, sizeof path, "%s/doc%d.txt", dir, i);
        wf_err e = {0};
        WF_CHECK_EQ(wf_file_write_atomic(path, c, strlen(c), &e), WF_OK);
        free(c);
    }
    snprintf(path, sizeof path, "%s/bad.txt", dir);
    WF_CHECK_EQ(wf_file_write_atomic(path, "ok\xc0\xaf", 4, NULL), WF_OK);
    const char *in[] = {dir};
    wf_tokenizer *t1 = NULL, *t2 = NULL;
    wf_bpe_train_stats s1, s2;
    wf_err e = {0};
    wf_bpe_train_opts o = opts(700);
    WF_CHECK_EQ(wf_bpe_train_files(in, 1, &o, &t1, &s1, &e), WF_OK);
    o.threads = 2;
    WF_CHECK_EQ(wf_bpe_train_files(in, 1, &o, &t2, &s2, &e), WF_OK);
    WF_CHECK_EQ(s1.files, 6);
    WF_CHECK_EQ(s1.skipped_files, 1);
    WF_CHECK_EQ(s1.words, s2.words);
    WF_CHECK_EQ(s1.unique_words, s2.unique_words);
    WF_CHECK_EQ(s1.merges, s2.merges);
    int diff = 0;
    for (int id = 0; t1 && t2 && id < 700; id++) {
        const char *a, *b;
        int la = wf_tokenizer_token_bytes(t1, id, &a), lb = wf_tokenizer_token_bytes(t2, id, &b);
        diff += la != lb || memcmp(a, b, (size_t)la) != 0;
    }
    WF_CHECK_EQ(diff, 0);
    wf_tokenizer_free(t1);
    wf_tokenizer_free(t2);
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    WF_CHECK_EQ(system(cmd), 0);
}

static void test_bad_options(void) {
    const char *texts[] = {"abc abc"};
    size_t lens[] = {7};
    wf_tokenizer *t = NULL;
    wf_bpe_train_stats s;
    wf_err e = {0};
    wf_bpe_train_opts o = opts(256);
    WF_CHECK_EQ(wf_bpe_train_texts(texts, lens, 1, &o, &t, &s, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "vocab size 256 out of range [257, 4194304] (256 bytes + merges + <|endoftext|>)");
    o = opts(300);
    o.min_frequency = 0;
    WF_CHECK_EQ(wf_bpe_train_texts(texts, lens, 1, &o, &t, &s, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "min frequency 0 must be at least 1");
    /* vocab 257: no merges, just the bytes and <|endoftext|>. */
    o = opts(257);
    WF_CHECK_EQ(wf_bpe_train_texts(texts, lens, 1, &o, &t, &s, &e), WF_OK);
    WF_CHECK_EQ(s.merges, 0);
    WF_CHECK_EQ(wf_tokenizer_vocab_size(t), 257);
    wf_tokenizer_free(t);
    const char *in[] = {"/nonexistent/corpus"};
    o = opts(300);
    WF_CHECK_EQ(wf_bpe_train_files(in, 1, &o, &t, &s, &e), WF_EIO);
    WF_CHECK_STR(e.msg, "/nonexistent/corpus: No such file or directory");
}

/* Every allocation failure while training is WF_ENOMEM with nothing leaked. */
static void test_allocation_failures(void) {
    char *corpus = make_corpus(600, 3);
    size_t len = strlen(corpus);
    const char *texts[] = {corpus};
    wf_bpe_train_opts o = opts(280);
    size_t base = wf_heap_live(NULL);
    int k, bad = 0;
    for (k = 0; k < 3000; k++) {
        wf_tokenizer *t = NULL;
        wf_bpe_train_stats s;
        wf_err e = {0};
        wf_heap_fail_at(NULL, k);
        wf_status st = wf_bpe_train_texts(texts, &len, 1, &o, &t, &s, &e);
        wf_heap_fail_at(NULL, -1);
        if (st == WF_OK) {
            wf_tokenizer_free(t);
            break;
        }
        bad += st != WF_ENOMEM || t != NULL || wf_heap_live(NULL) != base;
    }
    WF_CHECK_EQ(bad, 0);
    if (!(k > 10 && k < 3000)) fprintf(stderr, "allocation failure loop ended at k = %d\n", k);
    WF_CHECK(k > 10 && k < 3000);
    WF_CHECK_EQ(wf_heap_live(NULL), base);
    free(corpus);
}

int main(void) {
    test_hand_checked_merges();
    test_matches_hf_on_words_with_spaces();
    test_fixture_merges_equal_hf();
    test_spelling();
    test_roundtrip_and_compression();
    test_long_repeated_line();
    test_files_threads_agree();
    test_bad_options();
    test_allocation_failures();
    return wf_check_report();
}
