/* test_tokenizer.c — the GPT-2 tokenizer against Hugging Face: ids equal to
** GPT2TokenizerFast's on every fixture document (tests/fixtures/tokenizer,
** oracle/tokenizer_fixtures.py), decode(encode(x)) == x for fixtures and random
** bytes, fast pre-tokenizer == reference, small == heap BPE, tokenizer.json
** (ours saved, and an HF-trained one) == vocab.json + merges.txt, from_merges
** rebuilds GPT-2, concurrent encodes, bad files with exact messages, and
** allocation failures without leaks. Runs from the source root (CTest sets it). */
#include "base/rng.h"
#include "model/tok_int.h"
#include "tests/check.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX "tests/fixtures/tokenizer"

typedef struct {
    char name[96];
    const char *text;
    size_t len;
    const int32_t *ids;
    size_t n_ids;
} doc;

static char *corpus, *idsbin;
static doc docs[512];
static int n_docs;
static int quick;
static char tmp_root[256]; /* a fresh folder under /tmp for files the tests write */

static int load_fixtures(void) {
    wf_err e = {0};
    char *json;
    size_t n, nc, ni;
    if (wf_file_read(NULL, FIX "/index.json", &json, &n, &e) || wf_file_read(NULL, FIX "/corpus.bin", &corpus, &nc, &e) ||
        wf_file_read(NULL, FIX "/ids.bin", &idsbin, &ni, &e)) {
        fprintf(stderr, "fixtures: %s\n", e.msg);
        return -1;
    }
    cJSON *j = cJSON_Parse(json);
    const cJSON *arr = cJSON_GetObjectItem(j, "docs");
    for (const cJSON *d = arr ? arr->child : NULL; d && n_docs < 512; d = d->next) {
        doc *x = &docs[n_docs++];
        snprintf(x->name, sizeof x->name, "%s", cJSON_GetObjectItem(d, "name")->valuestring);
        size_t off = (size_t)cJSON_GetObjectItem(d, "offset")->valuedouble;
        x->len = (size_t)cJSON_GetObjectItem(d, "len")->valuedouble;
        size_t io = (size_t)cJSON_GetObjectItem(d, "ids_offset")->valuedouble;
        x->n_ids = (size_t)cJSON_GetObjectItem(d, "n_ids")->valuedouble;
        WF_ASSERT(off + x->len <= nc && (io + x->n_ids) * 4 <= ni);
        x->text = corpus + off;
        x->ids = (const int32_t *)(void *)(idsbin + io * 4);
    }
    cJSON_Delete(j);
    wf_free(NULL, json);
    return 0;
}

/* Encodes text; returns a wf_alloc'd array (caller frees) and its size. */
static int32_t *enc(const wf_tokenizer *t, const char *s, size_t n, size_t *n_ids) {
    int32_t *ids = NULL;
    size_t cap = 0;
    wf_err e = {0};
    *n_ids = 0;
    wf_status st = wf_tokenizer_encode(t, s, n, &ids, n_ids, &cap, &e);
    WF_CHECK_EQ(st, WF_OK);
    return ids;
}

/* All fixture docs equal HF's ids; returns the number of docs that differ. */
static int check_all_docs(const wf_tokenizer *t, const char *what) {
    int bad = 0;
    for (int i = 0; i < n_docs; i++) {
        size_t n;
        int32_t *ids = enc(t, docs[i].text, docs[i].len, &n);
        int same = n == docs[i].n_ids && !memcmp(ids, docs[i].ids, n * 4);
        if (!same) {
            size_t k = 0;
            while (k < n && k < docs[i].n_ids && ids[k] == docs[i].ids[k]) k++;
            fprintf(stderr, "%s: doc %s: %zu ids vs HF %zu, first difference at %zu: %d vs %d\n", what,
                    docs[i].name, n, docs[i].n_ids, k, k < n ? ids[k] : -1,
                    k < docs[i].n_ids ? docs[i].ids[k] : -1);
            bad++;
        }
        wf_free(NULL, ids);
    }
    return bad;
}

static void test_fixtures_match_hf(const wf_tokenizer *t) {
    WF_CHECK(n_docs >= 150);
    size_t bytes = 0;
    for (int i = 0; i < n_docs; i++) bytes += docs[i].len;
    WF_CHECK(bytes >= 200 * 1000);
    WF_CHECK_EQ(check_all_docs(t, "vocab.json+merges.txt"), 0);
}

static void test_roundtrip_fixtures(const wf_tokenizer *t) {
    int bad = 0;
    for (int i = 0; i < n_docs; i++) {
        char *out;
        size_t len;
        wf_err e = {0};
        WF_CHECK_EQ(wf_tokenizer_decode(t, docs[i].ids, docs[i].n_ids, &out, &len, &e), WF_OK);
        if (len != docs[i].len || memcmp(out, docs[i].text, len)) bad++;
        wf_free(NULL, out);
    }
    WF_CHECK_EQ(bad, 0);
}

static void test_basics(const wf_tokenizer *t) {
    WF_CHECK_EQ(wf_tokenizer_vocab_size(t), 50257);
    WF_CHECK_EQ(wf_tokenizer_eos(t), 50256);
    const char *b;
    WF_CHECK_EQ(wf_tokenizer_token_bytes(t, 220, &b), 1);
    WF_CHECK_EQ(b[0], ' ');
    WF_CHECK_EQ(wf_tokenizer_token_bytes(t, 15496, &b), 5);
    WF_CHECK(!memcmp(b, "Hello", 5));
    WF_CHECK_EQ(wf_tokenizer_token_bytes(t, 50256, &b), 13);
    WF_CHECK_EQ(wf_tokenizer_token_bytes(t, 50257, &b), -1);
    WF_CHECK_EQ(wf_tokenizer_token_bytes(t, -1, &b), -1);
    size_t n;
    int32_t *ids = enc(t, "Hello world", 11, &n);
    WF_CHECK_EQ(n, 2);
    WF_CHECK_EQ(ids[0], 15496);
    WF_CHECK_EQ(ids[1], 995);
    wf_free(NULL, ids);
    ids = enc(t, "", 0, &n);
    WF_CHECK_EQ(n, 0);
    wf_free(NULL, ids);
    /* appending: a second call adds after the first */
    int32_t *buf = NULL;
    size_t cap = 0, m = 0;
    wf_err e = {0};
    WF_CHECK_EQ(wf_tokenizer_encode(t, "Hello", 5, &buf, &m, &cap, &e), WF_OK);
    WF_CHECK_EQ(wf_tokenizer_encode(t, " world", 6, &buf, &m, &cap, &e), WF_OK);
    WF_CHECK_EQ(m, 2);
    WF_CHECK_EQ(buf[1], 995);
    wf_free(NULL, buf);
    /* NUL bytes are text */
    ids = enc(t, "a\0b", 3, &n);
    WF_CHECK_EQ(n, 3);
    wf_free(NULL, ids);
}

/* "gpt2" names the bundled files wherever the process runs. */
static void test_open_bundled(void) {
    wf_tokenizer *t = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_tokenizer_open("gpt2", &t, &e), WF_OK);
    if (t) WF_CHECK_EQ(wf_tokenizer_vocab_size(t), 50257);
    wf_tokenizer_free(t);
    char d[600];
    snprintf(d, sizeof d, "%s/none", tmp_root);
    WF_CHECK_EQ(wf_tokenizer_open(d, &t, &e), WF_EIO);
    WF_CHECK_HAS(e.msg, "tokenizer folder not found");
}

static void test_decode_bad_id(const wf_tokenizer *t) {
    int32_t ids[] = {15496, 995, 50257};
    char *out = (char *)1;
    size_t len = 7;
    wf_err e = {0};
    WF_CHECK_EQ(wf_tokenizer_decode(t, ids, 3, &out, &len, &e), WF_ERANGE);
    WF_CHECK_STR(e.msg, "token id 50257 at position 2 out of range [0, 50257)");
    WF_CHECK(out == NULL && len == 0);
    int32_t neg[] = {-3};
    WF_CHECK_EQ(wf_tokenizer_decode(t, neg, 1, &out, &len, &e), WF_ERANGE);
    WF_CHECK_STR(e.msg, "token id -3 at position 0 out of range [0, 50257)");
}

/* Spot checks of the generated class table (HF tokenizers 0.23.3 = Unicode 16.0). */
static void test_unicode_classes(void) {
    WF_CHECK_EQ(wf_tok_uc_class('a'), WF_TOK_LETTER);
    WF_CHECK_EQ(wf_tok_uc_class('7'), WF_TOK_NUMBER);
    WF_CHECK_EQ(wf_tok_uc_class(' '), WF_TOK_SPACE);
    WF_CHECK_EQ(wf_tok_uc_class('\''), WF_TOK_OTHER);
    WF_CHECK_EQ(wf_tok_uc_class(0x1C), WF_TOK_OTHER);    /* not \s for Oniguruma (Python isspace says yes) */
    WF_CHECK_EQ(wf_tok_uc_class(0x85), WF_TOK_SPACE);    /* NEL */
    WF_CHECK_EQ(wf_tok_uc_class(0xA0), WF_TOK_SPACE);    /* no-break space */
    WF_CHECK_EQ(wf_tok_uc_class(0x200B), WF_TOK_OTHER);  /* zero-width space is Cf */
    WF_CHECK_EQ(wf_tok_uc_class(0x2028), WF_TOK_SPACE);
    WF_CHECK_EQ(wf_tok_uc_class(0x3000), WF_TOK_SPACE);
    WF_CHECK_EQ(wf_tok_uc_class(0x0663), WF_TOK_NUMBER); /* Arabic-Indic three */
    WF_CHECK_EQ(wf_tok_uc_class(0x00B2), WF_TOK_NUMBER); /* superscript two (No) */
    WF_CHECK_EQ(wf_tok_uc_class(0x65E5), WF_TOK_LETTER); /* 日 */
    WF_CHECK_EQ(wf_tok_uc_class(0x0301), WF_TOK_OTHER);  /* combining acute (Mn) */
    WF_CHECK_EQ(wf_tok_uc_class(0x1C89), WF_TOK_LETTER); /* new in Unicode 16.0 */
    WF_CHECK_EQ(wf_tok_uc_class(0x10940), WF_TOK_OTHER); /* new in 17.0: not in HF's tables */
    WF_CHECK_EQ(wf_tok_uc_class(0x10FFFF), WF_TOK_OTHER);
}

/* Random byte strings built from pieces that stress every rule. */
static size_t random_text(wf_rng *r, char *buf, size_t cap) {
    static const char *const pool[] = {"a", "Z", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9d\x94\x98", "0", "7",
                                       "\xd9\xa3", "\xc2\xb2", " ", "  ", "\t", "\n", "\r\n", "\xc2\xa0",
                                       "\xe3\x80\x80", "\xe2\x80\xa8", "\xc2\x85", "'", "'s", "'re", "'ll",
                                       "!", ".", "-", "\xe2\x80\x94", "\xf0\x9f\x98\x80", "\xcc\x81",
                                       "\xe2\x80\x8d", "\x80", "\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80",
                                       "\xf4\x90\x80\x80", "\xc0\xaf", "<|endoftext|>", "\0"};
    size_t n = 0, want = wf_rng_next(r) % cap;
    while (n < want) {
        if (wf_rng_next(r) % 4 == 0) {
            buf[n++] = (char)(wf_rng_next(r) & 0xFF);
            continue;
        }
        const char *p = pool[wf_rng_next(r) % (sizeof pool / sizeof pool[0])];
        size_t l = strlen(p) + (p[0] == 0);
        if (n + l > cap) break;
        memcpy(buf + n, p, l);
        n += l;
    }
    return n;
}

static void test_random_roundtrip_and_pretok(const wf_tokenizer *t) {
    wf_rng r;
    wf_rng_seed(&r, 7);
    char buf[3000];
    int bad_rt = 0, bad_pre = 0, bad_bpe = 0;
    int iters = quick ? 150 : 600;
    for (int it = 0; it < iters; it++) {
        size_t n = random_text(&r, buf, sizeof buf);
        size_t m;
        int32_t *ids = enc(t, buf, n, &m);
        char *out;
        size_t len;
        wf_err e = {0};
        WF_CHECK_EQ(wf_tokenizer_decode(t, ids, m, &out, &len, &e), WF_OK);
        if (len != n || memcmp(out, buf, n)) bad_rt++;
        wf_free(NULL, out);
        wf_free(NULL, ids);
        /* every position, not only piece starts: the scanner must agree anywhere */
        const uint8_t *u = (const uint8_t *)buf;
        for (size_t i = 0; i < n; i++)
            if (wf_tok_pretok_next(u, n, i) != wf_tok_pretok_next_ref(u, n, i)) bad_pre++;
        /* small-array BPE == heap BPE on every piece */
        for (size_t i = 0; i < n;) {
            size_t end = wf_tok_pretok_next(u, n, i), k1, k2;
            int32_t a[3000], b[3000];
            WF_CHECK_EQ(wf_tok_bpe_piece(t, u + i, end - i, a, &k1, 0, &e), WF_OK);
            WF_CHECK_EQ(wf_tok_bpe_piece(t, u + i, end - i, b, &k2, 1, &e), WF_OK);
            if (k1 != k2 || memcmp(a, b, k1 * 4)) bad_bpe++;
            i = end;
        }
    }
    WF_CHECK_EQ(bad_rt, 0);
    WF_CHECK_EQ(bad_pre, 0);
    WF_CHECK_EQ(bad_bpe, 0);
}

/* Every piece of every fixture doc through both BPE paths. */
static void test_bpe_paths_on_fixtures(const wf_tokenizer *t) {
    int bad = 0;
    int32_t *a = malloc(sizeof *a * 70000), *b = malloc(sizeof *b * 70000);
    for (int d = 0; d < n_docs; d++) {
        const uint8_t *u = (const uint8_t *)docs[d].text;
        size_t n = docs[d].len;
        for (size_t i = 0; i < n;) {
            size_t end = wf_tok_pretok_next(u, n, i), k1, k2;
            wf_err e = {0};
            if (end - i <= 70000) {
                wf_tok_bpe_piece(t, u + i, end - i, a, &k1, 0, &e);
                wf_tok_bpe_piece(t, u + i, end - i, b, &k2, 1, &e);
                if (k1 != k2 || memcmp(a, b, k1 * 4)) bad++;
            }
            i = end;
        }
    }
    free(a);
    free(b);
    WF_CHECK_EQ(bad, 0);
}

typedef struct {
    const wf_tokenizer *t;
    int bad;
} thread_arg;

static void *encode_all(void *p) {
    thread_arg *a = p;
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < n_docs; i++) {
            int32_t *ids = NULL;
            size_t n = 0, cap = 0;
            wf_err e = {0};
            if (wf_tokenizer_encode(a->t, docs[i].text, docs[i].len, &ids, &n, &cap, &e) ||
                n != docs[i].n_ids || memcmp(ids, docs[i].ids, n * 4))
                a->bad++;
            wf_free(NULL, ids);
        }
    return NULL;
}

static void test_concurrent_encode(const wf_tokenizer *t) {
    pthread_t th[2];
    thread_arg args[2] = {{t, 0}, {t, 0}};
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, encode_all, &args[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    WF_CHECK_EQ(args[0].bad + args[1].bad, 0);
}

/* ---- files ----------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    WF_ASSERT(f);
    fputs(text, f);
    fclose(f);
}

static void make_dir(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", tmp_root, name);
    wf_err e = {0};
    WF_ASSERT(wf_mkdir_p(out, &e) == WF_OK);
}

static void test_save_and_tokenizer_json(const wf_tokenizer *t) {
    char dir[512], p[600];
    make_dir(dir, sizeof dir, "saved");
    wf_err e = {0};
    /* disk full on the first write: an error naming the file, nothing half-written */
    wf_file_fail_write_at(0);
    WF_CHECK(wf_tokenizer_save(t, dir, &e) != WF_OK);
    wf_file_fail_write_at(-1);
    WF_CHECK_HAS(e.msg, "vocab.json");
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    WF_CHECK(!wf_path_exists(p));
    WF_CHECK_EQ(wf_tokenizer_save(t, dir, &e), WF_OK);
    static const char *const files[] = {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        WF_CHECK(wf_path_exists(p));
    }
    /* our vocab.json + merges.txt */
    wf_tokenizer *t2 = NULL;
    WF_CHECK_EQ(wf_tokenizer_load(dir, &t2, &e), WF_OK);
    if (t2) {
        WF_CHECK_EQ(wf_tokenizer_vocab_size(t2), 50257);
        WF_CHECK_EQ(check_all_docs(t2, "saved vocab.json+merges.txt"), 0);
        wf_tokenizer_free(t2);
    }
    /* tokenizer.json alone */
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/merges.txt", dir);
    unlink(p);
    t2 = NULL;
    WF_CHECK_EQ(wf_tokenizer_load(dir, &t2, &e), WF_OK);
    if (t2) {
        WF_CHECK_EQ(wf_tokenizer_vocab_size(t2), 50257);
        WF_CHECK_EQ(wf_tokenizer_eos(t2), 50256);
        WF_CHECK_EQ(t2->n_merges, 50000);
        WF_CHECK_EQ(check_all_docs(t2, "saved tokenizer.json"), 0);
        wf_tokenizer_free(t2);
    }
}

/* An HF-trained 600-token BPE in tokenizer.json (merges as pairs). */
static void test_small_hf_tokenizer_json(void) {
    wf_tokenizer *t = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_tokenizer_load(FIX "/small_bpe", &t, &e), WF_OK);
    if (!t) {
        fprintf(stderr, "%s\n", e.msg);
        return;
    }
    WF_CHECK_EQ(wf_tokenizer_vocab_size(t), 600);
    WF_CHECK_EQ(wf_tokenizer_eos(t), 0);
    char *json, *ids;
    size_t n, ni;
    WF_ASSERT(!wf_file_read(NULL, FIX "/small_bpe/index.json", &json, &n, &e));
    WF_ASSERT(!wf_file_read(NULL, FIX "/small_bpe/ids.bin", &ids, &ni, &e));
    cJSON *j = cJSON_Parse(json);
    int checked = 0, bad = 0;
    for (const cJSON *d = cJSON_GetObjectItem(j, "docs")->child; d; d = d->next) {
        const char *name = cJSON_GetObjectItem(d, "name")->valuestring;
        size_t io = (size_t)cJSON_GetObjectItem(d, "ids_offset")->valuedouble;
        size_t nn = (size_t)cJSON_GetObjectItem(d, "n_ids")->valuedouble;
        for (int i = 0; i < n_docs; i++) {
            if (strcmp(docs[i].name, name)) continue;
            size_t m;
            int32_t *got = enc(t, docs[i].text, docs[i].len, &m);
            if (m != nn || memcmp(got, ids + io * 4, m * 4)) {
                fprintf(stderr, "small_bpe: doc %s differs (%zu ids vs %zu)\n", name, m, nn);
                bad++;
            }
            checked++;
            wf_free(NULL, got);
        }
    }
    WF_CHECK(checked >= 30);
    WF_CHECK_EQ(bad, 0);
    cJSON_Delete(j);
    wf_free(NULL, json);
    wf_free(NULL, ids);
    wf_tokenizer_free(t);
}

/* from_merges with GPT-2's own merge list rebuilds GPT-2 id for id. */
static void test_from_merges(const wf_tokenizer *gpt2) {
    char *text;
    size_t n;
    wf_err e = {0};
    WF_ASSERT(!wf_file_read(NULL, "data/gpt2/merges.txt", &text, &n, &e));
    const char **a = malloc(sizeof *a * 50000), **b = malloc(sizeof *b * 50000);
    int k = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "#version", 8)) continue;
        char *sp = strchr(line, ' ');
        WF_ASSERT(sp && k < 50000);
        *sp = 0;
        a[k] = line;
        b[k] = sp + 1;
        k++;
    }
    WF_CHECK_EQ(k, 50000);
    wf_tokenizer *t = NULL;
    WF_CHECK_EQ(wf_tokenizer_from_merges(a, b, k, &t, &e), WF_OK);
    if (t) {
        WF_CHECK_EQ(wf_tokenizer_vocab_size(t), 50257);
        WF_CHECK_EQ(wf_tokenizer_eos(t), 50256);
        int diff = 0;
        for (int32_t id = 0; id < 50257; id++) {
            const char *x, *y;
            int lx = wf_tokenizer_token_bytes(t, id, &x), ly = wf_tokenizer_token_bytes(gpt2, id, &y);
            if (lx != ly || memcmp(x, y, (size_t)lx)) diff++;
        }
        WF_CHECK_EQ(diff, 0);
        WF_CHECK_EQ(check_all_docs(t, "from_merges"), 0);
        wf_tokenizer_free(t);
    }
    /* errors name the merge */
    const char *ea[] = {"a", "ab", "x"}, *eb[] = {"b", "c", "yz"};
    WF_CHECK_EQ(wf_tokenizer_from_merges(ea, eb, 3, &t, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "tokenizer: merge 2 ('x' 'yz'): token 'yz' not made by an earlier merge");
    WF_CHECK(t == NULL);
    const char *da[] = {"a", "a"}, *db[] = {"b", "b"};
    WF_CHECK_EQ(wf_tokenizer_from_merges(da, db, 2, &t, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "tokenizer: merge 1 ('a' 'b'): result already a token");
    const char *ua[] = {"\xe6\x97\xa5"}, *ub[] = {"a"};
    WF_CHECK_EQ(wf_tokenizer_from_merges(ua, ub, 1, &t, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "tokenizer: merge 0 ('\xe6\x97\xa5' 'a'): not a byte-level token");
    /* a tiny trained vocabulary: "Ġt" + "he" */
    const char *ta[] = {"\xc4\xa0", "h", "\xc4\xa0t"}, *tb[] = {"t", "e", "he"};
    WF_CHECK_EQ(wf_tokenizer_from_merges(ta, tb, 3, &t, &e), WF_OK);
    if (t) {
        size_t m;
        int32_t *ids = enc(t, " the<|endoftext|>", 17, &m);
        WF_CHECK_EQ(m, 2);
        WF_CHECK_EQ(ids[0], 258);
        WF_CHECK_EQ(ids[1], 259);
        wf_free(NULL, ids);
        wf_tokenizer_free(t);
    }
    free(a);
    free(b);
    wf_free(NULL, text);
}

static void expect_load_error(const char *dir, wf_status code, const char *msg) {
    wf_tokenizer *t = (wf_tokenizer *)1;
    wf_err e = {0};
    WF_CHECK_EQ(wf_tokenizer_load(dir, &t, &e), code);
    WF_CHECK(t == NULL);
    WF_CHECK_STR(e.msg, msg);
}

/* JSON of a vocabulary holding the 256 bytes (ids 0..255, byte order) and "ab" = 256. */
static void byte_vocab_json(char *vocab, size_t cap) {
    size_t k = (size_t)snprintf(vocab, cap, "{");
    for (int b = 0; b < 256; b++) {
        char raw = (char)b, sp[4];
        size_t l = wf_tok_map(&raw, 1, sp);
        sp[l] = 0;
        k += (size_t)snprintf(vocab + k, cap - k, "%s\"%s%s\": %d", b ? ", " : "",
                              (sp[0] == '"' || sp[0] == '\\') ? "\\" : "", sp, b);
    }
    snprintf(vocab + k, cap - k, ", \"ab\": 256}");
}

/* Added tokens are matched leftmost-longest without overlap (ids from HF
** tokenizers 0.23.3 on the same tokenizer.json). */
static void test_added_tokens_json(void) {
    char d[512], vocab[8192], tj[12000];
    make_dir(d, sizeof d, "added");
    byte_vocab_json(vocab, sizeof vocab);
    snprintf(tj, sizeof tj,
             "{\"added_tokens\": [{\"id\": 257, \"content\": \"<a\"}, {\"id\": 258, \"content\": \"<ab>\"}, "
             "{\"id\": 259, \"content\": \"b>\"}], \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, "
             "\"model\": {\"type\": \"BPE\", \"vocab\": %s, \"merges\": [[\"a\", \"b\"]]}}",
             vocab);
    write_file(d, "tokenizer.json", tj);
    wf_tokenizer *t = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_tokenizer_load(d, &t, &e), WF_OK);
    if (!t) return;
    WF_CHECK_EQ(wf_tokenizer_vocab_size(t), 260);
    WF_CHECK_EQ(wf_tokenizer_eos(t), -1);
    static const struct {
        const char *text;
        int n;
        int32_t ids[4];
    } cases[] = {{"x<ab>y", 3, {120, 258, 121}},
                 {"<a<ab>b>", 3, {257, 258, 259}},
                 {"ab<ab", 3, {256, 257, 98}},
                 {"<ab b>", 4, {257, 98, 32, 259}}};
    for (int i = 0; i < 4; i++) {
        size_t n;
        int32_t *ids = enc(t, cases[i].text, strlen(cases[i].text), &n);
        WF_CHECK_EQ(n, cases[i].n);
        for (int k = 0; k < cases[i].n && k < (int)n; k++) WF_CHECK_EQ(ids[k], cases[i].ids[k]);
        wf_free(NULL, ids);
    }
    wf_tokenizer_free(t);
}

static void test_bad_files(void) {
    char d[512], m[1024];
    snprintf(d, sizeof d, "%s/nope", tmp_root);
    snprintf(m, sizeof m, "%s: tokenizer folder not found", d);
    expect_load_error(d, WF_EIO, m);

    make_dir(d, sizeof d, "empty");
    snprintf(m, sizeof m, "%s: no tokenizer files (looked for vocab.json + merges.txt, or tokenizer.json)", d);
    expect_load_error(d, WF_EIO, m);

    char vocab[8192];
    byte_vocab_json(vocab, sizeof vocab);

    make_dir(d, sizeof d, "nomerges");
    write_file(d, "vocab.json", vocab);
    snprintf(m, sizeof m, "%s/merges.txt: cannot open: No such file or directory", d);
    expect_load_error(d, WF_EIO, m);

    make_dir(d, sizeof d, "badjson");
    write_file(d, "vocab.json", "{\"a\": 1,, }");
    write_file(d, "merges.txt", "#version: 0.2\n");
    snprintf(m, sizeof m, "%s/vocab.json: byte 9: invalid JSON", d);
    expect_load_error(d, WF_ECORRUPT, m);

    make_dir(d, sizeof d, "unknown_token");
    write_file(d, "vocab.json", vocab);
    write_file(d, "merges.txt", "#version: 0.2\na b\nzz b\n");
    snprintf(m, sizeof m, "%s/merges.txt: line 3: token 'zz' not in vocab.json", d);
    expect_load_error(d, WF_ECORRUPT, m);

    make_dir(d, sizeof d, "unknown_result");
    write_file(d, "vocab.json", vocab);
    write_file(d, "merges.txt", "#version: 0.2\nb c\n");
    snprintf(m, sizeof m, "%s/merges.txt: line 2: merged token 'bc' not in vocab.json", d);
    expect_load_error(d, WF_ECORRUPT, m);

    make_dir(d, sizeof d, "bad_line");
    write_file(d, "vocab.json", vocab);
    write_file(d, "merges.txt", "a b\nab\n");
    snprintf(m, sizeof m, "%s/merges.txt: line 2: expected two tokens separated by one space, got 'ab'", d);
    expect_load_error(d, WF_ECORRUPT, m);

    make_dir(d, sizeof d, "missing_byte");
    write_file(d, "vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}");
    write_file(d, "merges.txt", "a b\n");
    snprintf(m, sizeof m, "%s/vocab.json: no token for byte 0x00 (byte-level BPE needs all 256)", d);
    expect_load_error(d, WF_ECORRUPT, m);

    make_dir(d, sizeof d, "bad_id");
    write_file(d, "vocab.json", "{\"a\": -1}");
    write_file(d, "merges.txt", "");
    snprintf(m, sizeof m, "%s/vocab.json: token 'a': id is not an integer in [0, 2^30)", d);
    expect_load_error(d, WF_ECORRUPT, m);

    /* One huge id in an 18-byte file must not size a 2^30-entry id table (issue 17). */
    make_dir(d, sizeof d, "huge_id");
    write_file(d, "vocab.json", "{\"a\": 999999999}");
    write_file(d, "merges.txt", "");
    snprintf(m, sizeof m, "%s/vocab.json: token 'a': id 999999999 out of range, expected below 1 (the number of "
             "entries)", d);
    expect_load_error(d, WF_ECORRUPT, m);

    make_dir(d, sizeof d, "json_huge_added");
    write_file(d, "tokenizer.json", "{\"added_tokens\": [{\"id\": 536870000, \"content\": \"<x>\"}], "
                                    "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, "
                                    "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    snprintf(m, sizeof m, "%s/tokenizer.json: added_tokens: '<x>': id 536870000 out of range, expected below 2 "
             "(the number of entries)", d);
    expect_load_error(d, WF_ECORRUPT, m);

    /* A symlink loop in place of tokenizer.json names the loop, not "no tokenizer files". */
    make_dir(d, sizeof d, "json_loop");
    char loop[600];
    snprintf(loop, sizeof loop, "%s/tokenizer.json", d);
    WF_CHECK_EQ(symlink(loop, loop), 0);
    snprintf(m, sizeof m, "%s: cannot open: Too many levels of symbolic links", loop);
    expect_load_error(d, WF_EIO, m);

    make_dir(d, sizeof d, "json_not_bpe");
    write_file(d, "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
    snprintf(m, sizeof m, "%s/tokenizer.json: model: expected a BPE model", d);
    expect_load_error(d, WF_ECORRUPT, m);

    make_dir(d, sizeof d, "json_prefix_space");
    write_file(d, "tokenizer.json", "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true}, "
                                    "\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}");
    snprintf(m, sizeof m, "%s/tokenizer.json: pre_tokenizer.add_prefix_space true is not supported", d);
    expect_load_error(d, WF_ECORRUPT, m);

    make_dir(d, sizeof d, "json_split");
    write_file(d, "tokenizer.json", "{\"pre_tokenizer\": {\"type\": \"Sequence\"}, "
                                    "\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}");
    snprintf(m, sizeof m, "%s/tokenizer.json: pre_tokenizer: expected type ByteLevel (GPT-2), got Sequence", d);
    expect_load_error(d, WF_ECORRUPT, m);

    make_dir(d, sizeof d, "json_bad_merge");
    char tj[9000];
    snprintf(tj, sizeof tj,
             "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": %s, "
             "\"merges\": [[\"a\", \"b\"], [\"q\", \"\xc4\xa0\xc4\xa0\"]]}}",
             vocab);
    write_file(d, "tokenizer.json", tj);
    snprintf(m, sizeof m, "%s/tokenizer.json: model.merges[1]: token '\xc4\xa0\xc4\xa0' not in model.vocab", d);
    expect_load_error(d, WF_ECORRUPT, m);
}

/* Allocation k fails, for k = 0, 1, ...: a clean error and no leak each time. */
static void test_alloc_failures(const wf_tokenizer *gpt2) {
    wf_heap *h = wf_heap_default();
    size_t base = wf_heap_live(h);
    int ok = 0, k;
    for (k = 0; k < 200 && !ok; k++) {
        wf_heap_fail_at(h, k);
        wf_tokenizer *t = NULL;
        wf_err e = {0};
        if (wf_tokenizer_load(FIX "/small_bpe", &t, &e) == WF_OK) {
            ok = 1;
            wf_tokenizer_free(t);
        } else {
            WF_CHECK_EQ(e.code, WF_ENOMEM);
            WF_CHECK(t == NULL);
        }
        wf_heap_fail_at(h, -1);
        WF_CHECK_EQ(wf_heap_live(h), base);
    }
    WF_CHECK(ok && k > 3);
    /* encode: the buffer grows; a failed growth keeps what was there */
    const char *text = docs[0].text;
    size_t len = docs[0].len;
    for (k = 0, ok = 0; k < 50 && !ok; k++) {
        int32_t *ids = NULL;
        size_t n = 0, cap = 0;
        wf_err e = {0};
        wf_heap_fail_at(h, k);
        wf_status st = wf_tokenizer_encode(gpt2, text, len, &ids, &n, &cap, &e);
        wf_heap_fail_at(h, -1);
        if (st == WF_OK) ok = 1;
        else WF_CHECK_EQ(e.code, WF_ENOMEM);
        WF_CHECK(n <= cap);
        wf_free(NULL, ids);
        WF_CHECK_EQ(wf_heap_live(h), base);
    }
    WF_CHECK(ok);
}

int main(void) {
    quick = getenv("WF_TEST_QUICK") != NULL;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/wf_test_tokenizer_XXXXXX");
    WF_ASSERT(mkdtemp(tmp_root));
    if (load_fixtures()) return 1;
    wf_tokenizer *t = NULL;
    wf_err e = {0};
    double t0 = wf_now();
    if (wf_tokenizer_load("data/gpt2", &t, &e)) {
        fprintf(stderr, "load data/gpt2: %s\n", e.msg);
        return 1;
    }
    printf("loaded GPT-2 in %.3f s; %d fixture docs\n", wf_now() - t0, n_docs);
    test_basics(t);
    test_fixtures_match_hf(t);
    test_roundtrip_fixtures(t);
    test_decode_bad_id(t);
    test_open_bundled();
    test_unicode_classes();
    test_random_roundtrip_and_pretok(t);
    test_bpe_paths_on_fixtures(t);
    test_concurrent_encode(t);
    test_save_and_tokenizer_json(t);
    test_small_hf_tokenizer_json();
    test_from_merges(t);
    test_added_tokens_json();
    test_bad_files();
    test_alloc_failures(t);
    wf_tokenizer_free(t);
    wf_free(NULL, corpus);
    wf_free(NULL, idsbin);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    return wf_check_report();
}
