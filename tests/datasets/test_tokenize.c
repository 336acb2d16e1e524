/* test_tokenize.c — `wafer tokenize` as a library (datasets/tokenize.h and
** inputs.h): exact skip messages and counts for bad files and lines, token
** content equal to encoding each document + EOS, the same bytes for 1 and 2
** threads, .txt segmentation that does not change ids, the validation split,
** shard rollover with stale shards removed, strict UTF-8, and bad arguments.
** Uses the bundled GPT-2 vocabulary (data/gpt2; tests run in the source root). */
#include "datasets/tokenize.h"
#include "tests/check.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[64];
static wf_tokenizer *gpt2;

typedef struct {
    char text[8192];
    int n;
} msgs;

static void collect(const char *msg, void *ud) {
    msgs *m = ud;
    size_t k = strlen(m->text);
    snprintf(m->text + k, sizeof m->text - k, "%s\n", msg);
    m->n++;
}

static void put(const char *dir, const char *name, const void *data, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *slash = strrchr(p, '/');
    *slash = 0;
    wf_mkdir_p(p, NULL);
    *slash = '/';
    FILE *f = fopen(p, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}
#define PUTS(dir, name, str) put(dir, name, str, sizeof(str) - 1)

/* Reads a whole split into a malloc'd array. */
static int32_t *read_split(const char *dir, wf_split sp, uint64_t *n) {
    wf_shards *s = NULL;
    wf_err e = {0};
    *n = 0;
    if (wf_shards_open(dir, &s, &e)) {
        fprintf(stderr, "open %s: %s\n", dir, e.msg);
        return NULL;
    }
    *n = wf_shards_count(s, sp);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    if (wf_shards_read(s, sp, 0, *n, v, &e)) *n = 0;
    wf_shards_close(s);
    return v;
}

static void append_doc(int32_t **ids, size_t *n, size_t *cap, const char *text) {
    wf_err e = {0};
    WF_CHECK_EQ(wf_tokenizer_encode(gpt2, text, strlen(text), ids, n, cap, &e), WF_OK);
    int32_t eos = wf_tokenizer_eos(gpt2);
    WF_CHECK_EQ(wf_tokenizer_encode(gpt2, "<|endoftext|>", 13, ids, n, cap, &e), WF_OK);
    WF_CHECK_EQ((*ids)[*n - 1], eos);
}

static void test_mixed_folder(void) {
    char in[128], out[128];
    snprintf(in, sizeof in, "%s/mixed", root);
    snprintf(out, sizeof out, "%s/mixed_out", root);
    PUTS(in, "a.txt", "Hello world.\nThis is a test.\n");
    PUTS(in, "b.jsonl", "{\"text\":\"doc one\"}\n\nnot json\n{\"x\":1}\n{\"text\":\"\"}\n"
                        "{\"text\":\"doc two\\nline \\u65e5\\u672c\"}\n[1]\n{\"text\":\"last, no newline\"}");
    PUTS(in, "bad.txt", "ab\xff\xfe" "cd");
    PUTS(in, "bad2.txt", "ok \xe2\x82"); /* truncated 3-byte sequence at the end */
    PUTS(in, "surrogate.txt", "x\xed\xa0\x80");
    PUTS(in, "empty.txt", "");
    PUTS(in, "sub/bin.txt", "abc\0def");
    PUTS(in, "ws.txt", "  \n\xe3\x80\x80\n"); /* spaces, newline, U+3000 */
    PUTS(in, "notes.md", "# not read");
    PUTS(in, "sub/.hidden.txt", "hidden");
    PUTS(in, "z.TXT", "upper case extension\n");
    msgs m = {{0}, 0};
    wf_tokenize_opts o = {.out_dir = out, .val_fraction = 0, .threads = 2, .on_skip = collect, .ud = &m};
    wf_tokenize_stats s;
    wf_err e = {0};
    const char *inputs[] = {in};
    WF_CHECK_EQ(wf_tokenize_run(gpt2, inputs, 1, &o, &s, &e), WF_OK);
    char want[2048];
    snprintf(want, sizeof want,
             "ignored 2 folder entries that are not .txt or .jsonl (1 .md, 1 hidden)\n"
             "skipped %s/b.jsonl:3: not valid JSON\n"
             "skipped %s/b.jsonl:4: no \"text\" string member\n"
             "skipped %s/b.jsonl:5: empty \"text\"\n"
             "skipped %s/b.jsonl:7: no \"text\" string member\n"
             "skipped %s/bad.txt: invalid UTF-8 at byte 2\n"
             "skipped %s/bad2.txt: invalid UTF-8 at byte 3\n"
             "skipped %s/empty.txt: empty file\n"
             "skipped %s/sub/bin.txt: binary file (NUL byte at byte 3)\n"
             "skipped %s/surrogate.txt: invalid UTF-8 at byte 1\n"
             "skipped %s/ws.txt: no text (only whitespace)\n",
             in, in, in, in, in, in, in, in, in, in);
    WF_CHECK_STR(m.text, want);
    WF_CHECK_EQ(s.files, 3);
    WF_CHECK_EQ(s.skipped_files, 6);
    WF_CHECK_EQ(s.skipped_lines, 4);
    WF_CHECK_EQ(s.ignored, 2);
    WF_CHECK_EQ(s.documents, 5);
    WF_CHECK_EQ(s.tokens[1], 0);
    /* Content: each document's ids then EOS, in walk order. */
    int32_t *want_ids = NULL;
    size_t wn = 0, wc = 0;
    append_doc(&want_ids, &wn, &wc, "Hello world.\nThis is a test.\n");
    append_doc(&want_ids, &wn, &wc, "doc one");
    append_doc(&want_ids, &wn, &wc, "doc two\nline \xe6\x97\xa5\xe6\x9c\xac");
    append_doc(&want_ids, &wn, &wc, "last, no newline");
    append_doc(&want_ids, &wn, &wc, "upper case extension\n");
    uint64_t n;
    int32_t *got = read_split(out, WF_SPLIT_TRAIN, &n);
    WF_CHECK_EQ(n, wn);
    WF_CHECK(got && n == wn && memcmp(got, want_ids, wn * sizeof *got) == 0);
    WF_CHECK_EQ(s.tokens[0], wn);
    free(got);
    wf_free(NULL, want_ids);
    /* meta.json carries the counts and a sane entropy. */
    wf_shards *sh = NULL;
    WF_CHECK_EQ(wf_shards_open(out, &sh, &e), WF_OK);
    if (sh) {
        WF_CHECK_EQ(wf_shards_eos(sh), 50256);
        WF_CHECK(wf_shards_unigram_entropy(sh) > 1.0 && wf_shards_unigram_entropy(sh) < log((double)wn));
        wf_shards_close(sh);
    }
    char meta[256], *mt = NULL;
    size_t ml;
    snprintf(meta, sizeof meta, "%s/meta.json", out);
    WF_CHECK_EQ(wf_file_read(NULL, meta, &mt, &ml, &e), WF_OK);
    WF_CHECK_HAS(mt, "\"skipped_files\": 6,");
    WF_CHECK_HAS(mt, "\"skipped_lines\": 4,");
    WF_CHECK_HAS(mt, "\"documents\": 5,");
    wf_free(NULL, mt);
}

/* Builds a corpus of many small documents and one large .txt file. */
static void make_big_corpus(const char *in) {
    char *big = malloc(400000);
    size_t k = 0;
    unsigned x = 1;
    while (k < 390000) {
        int r = (int)((x = x * 1103515245u + 12345u) >> 16) % 40;
        const char *w = r < 5 ? "\n" : r < 7 ? "\n\n" : r < 9 ? "  " : r < 10 ? "\xe3\x80\x80" : r < 12 ? "日本語 " : "word ";
        size_t l = strlen(w);
        memcpy(big + k, w, l);
        k += l;
        if (r >= 12) { /* a short variable token */
            k += (size_t)snprintf(big + k, 32, "t%u", (x >> 20) % 500);
        }
    }
    put(in, "big.txt", big, k);
    free(big);
    for (int i = 0; i < 150; i++) {
        char name[32], body[128];
        snprintf(name, sizeof name, "d%03d.txt", i);
        int l = snprintf(body, sizeof body, "Document %d says hello %d times.\n", i, i * 7);
        put(in, name, body, (size_t)l);
    }
}

static int files_equal(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int eq = wf_file_read(NULL, a, &x, &nx, NULL) == WF_OK && wf_file_read(NULL, b, &y, &ny, NULL) == WF_OK &&
             nx == ny && memcmp(x, y, nx) == 0;
    wf_free(NULL, x);
    wf_free(NULL, y);
    return eq;
}

static void test_threads_segments_and_split(void) {
    char in[128], o1[128], o2[128], o3[128], whole[128];
    snprintf(in, sizeof in, "%s/big", root);
    snprintf(o1, sizeof o1, "%s/big_t1", root);
    snprintf(o2, sizeof o2, "%s/big_t2", root);
    snprintf(o3, sizeof o3, "%s/big_seg", root);
    snprintf(whole, sizeof whole, "%s/big/big.txt", root);
    make_big_corpus(in);
    wf_tokenize_stats s1, s2, s3;
    wf_err e = {0};
    const char *inputs[] = {in};
    wf_tokenize_opts o = {.out_dir = o1, .val_fraction = 0.1, .threads = 1, .segment_bytes = 4096,
                          .shard_tokens = 5000};
    WF_CHECK_EQ(wf_tokenize_run(gpt2, inputs, 1, &o, &s1, &e), WF_OK);
    o.out_dir = o2;
    o.threads = 2;
    WF_CHECK_EQ(wf_tokenize_run(gpt2, inputs, 1, &o, &s2, &e), WF_OK);
    WF_CHECK_EQ(s1.tokens[0], s2.tokens[0]);
    WF_CHECK_EQ(s1.tokens[1], s2.tokens[1]);
    WF_CHECK(s1.shards[0] > 3);
    WF_CHECK_EQ(s1.shards[0], s2.shards[0]);
    int same = 1;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < s1.shards[k]; i++) {
            char n[32], a[256], b[256];
            wf_shard_name((wf_split)k, i, n, sizeof n);
            snprintf(a, sizeof a, "%s/%s", o1, n);
            snprintf(b, sizeof b, "%s/%s", o2, n);
            same &= files_equal(a, b);
        }
    WF_CHECK(same);
    /* The validation share is near the target (within one segment). */
    double frac = (double)s1.tokens[1] / (double)(s1.tokens[0] + s1.tokens[1]);
    WF_CHECK_NEAR(frac, 0.1, 0.02);
    WF_CHECK(s1.documents == 151);
    WF_CHECK_NEAR(s1.entropy_nats, s2.entropy_nats, 1e-12);

    /* Segmenting big.txt in 4 KiB pieces gives the ids of the whole file. */
    const char *one[] = {whole};
    o = (wf_tokenize_opts){.out_dir = o3, .val_fraction = 0, .threads = 2, .segment_bytes = 4096};
    WF_CHECK_EQ(wf_tokenize_run(gpt2, one, 1, &o, &s3, &e), WF_OK);
    char *text = NULL;
    size_t tl = 0;
    WF_CHECK_EQ(wf_file_read(NULL, whole, &text, &tl, &e), WF_OK);
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    WF_CHECK_EQ(wf_tokenizer_encode(gpt2, text, tl, &ids, &n, &cap, &e), WF_OK);
    uint64_t gn;
    int32_t *got = read_split(o3, WF_SPLIT_TRAIN, &gn);
    WF_CHECK_EQ(gn, n + 1);
    WF_CHECK(got && gn == n + 1 && memcmp(got, ids, n * sizeof *ids) == 0);
    free(got);
    wf_free(NULL, ids);
    wf_free(NULL, text);

    /* Rewriting o1 with one big shard removes the stale higher-numbered ones. */
    o = (wf_tokenize_opts){.out_dir = o1, .val_fraction = 0.1, .threads = 2, .segment_bytes = 4096};
    WF_CHECK_EQ(wf_tokenize_run(gpt2, inputs, 1, &o, &s1, &e), WF_OK);
    WF_CHECK_EQ(s1.shards[0], 1);
    char p[256];
    snprintf(p, sizeof p, "%s/train_000001.bin", o1);
    WF_CHECK(!wf_path_exists(p));
    wf_shards *sh = NULL;
    WF_CHECK_EQ(wf_shards_open(o1, &sh, &e), WF_OK);
    if (sh) WF_CHECK_EQ(wf_shards_verify(sh, &e), WF_OK);
    wf_shards_close(sh);
}

static void test_utf8_checker(void) {
    WF_CHECK_EQ(wf_utf8_check((const uint8_t *)"abc", 3), 3);
    WF_CHECK_EQ(wf_utf8_check((const uint8_t *)"\xf0\x9f\x98\x80!", 5), 5); /* U+1F600 */
    WF_CHECK_EQ(wf_utf8_check((const uint8_t *)"a\xc0\x80", 3), 1);         /* overlong NUL */
    WF_CHECK_EQ(wf_utf8_check((const uint8_t *)"ab\xe0\x80\xaf", 5), 2);     /* overlong 3-byte */
    WF_CHECK_EQ(wf_utf8_check((const uint8_t *)"\xed\xbf\xbf", 3), 0);       /* surrogate */
    WF_CHECK_EQ(wf_utf8_check((const uint8_t *)"\xf4\x90\x80\x80", 4), 0);   /* > U+10FFFF */
    WF_CHECK_EQ(wf_utf8_check((const uint8_t *)"xy\xe6\x97", 4), 2);         /* truncated */
    WF_CHECK_EQ(wf_utf8_check((const uint8_t *)"\x80", 1), 0);               /* stray continuation */
    WF_CHECK_EQ(wf_utf8_check((const uint8_t *)"a\0b", 3), 3);               /* NUL is valid UTF-8 */
    size_t big = 1u << 20;
    uint8_t *zeros = calloc(big, 1);
    WF_CHECK_EQ(wf_utf8_check(zeros, big), big); /* many NULs: no recursion, no stack overflow */
    zeros[big - 1] = 0xff;
    WF_CHECK_EQ(wf_utf8_check(zeros, big), big - 1);
    free(zeros);
}

/* Every allocation failure on the way is an error with nothing leaked. */
static void test_allocation_failures(void) {
    char in[128], out[128];
    snprintf(in, sizeof in, "%s/fault", root);
    snprintf(out, sizeof out, "%s/fault_out", root);
    PUTS(in, "a.txt", "Hello world.\nThis is a test.\n");
    PUTS(in, "b.jsonl", "{\"text\":\"doc one\"}\nbad\n{\"text\":\"doc two\"}\n");
    PUTS(in, "c.md", "x");
    const char *inputs[] = {in};
    for (int threads = 1; threads <= 2; threads++) {
        int k, failures = 0;
        size_t base = wf_heap_live(NULL);
        for (k = 0; k < 200; k++) {
            wf_tokenize_opts o = {.out_dir = out, .val_fraction = 0.2, .threads = threads};
            wf_tokenize_stats s;
            wf_err e = {0};
            wf_heap_fail_at(NULL, k);
            wf_status st = wf_tokenize_run(gpt2, inputs, 1, &o, &s, &e);
            wf_heap_fail_at(NULL, -1);
            if (st == WF_OK) break;
            failures += st != WF_ENOMEM;
            failures += wf_heap_live(NULL) != base;
        }
        WF_CHECK_EQ(failures, 0);
        WF_CHECK(k > 5 && k < 200);
    }
}

static void test_bad_arguments(void) {
    char out[128];
    snprintf(out, sizeof out, "%s/bad_out", root);
    wf_tokenize_stats s;
    wf_err e = {0};
    const char *missing[] = {"/nonexistent/input.txt"};
    wf_tokenize_opts o = {.out_dir = out, .val_fraction = 0.01, .threads = 1};
    WF_CHECK_EQ(wf_tokenize_run(gpt2, missing, 1, &o, &s, &e), WF_EIO);
    WF_CHECK_STR(e.msg, "/nonexistent/input.txt: No such file or directory");
    o.val_fraction = 0.7;
    WF_CHECK_EQ(wf_tokenize_run(gpt2, missing, 1, &o, &s, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "val fraction 0.7 out of range [0, 0.5]");
    /* Only unusable files: an error, and no meta.json is left behind. */
    char in[128];
    snprintf(in, sizeof in, "%s/allbad", root);
    PUTS(in, "e.txt", "");
    PUTS(in, "f.jsonl", "{\"y\":2}\n");
    const char *inputs[] = {in};
    msgs m = {{0}, 0};
    o = (wf_tokenize_opts){.out_dir = out, .val_fraction = 0.01, .threads = 1, .on_skip = collect, .ud = &m};
    WF_CHECK_EQ(wf_tokenize_run(gpt2, inputs, 1, &o, &s, &e), WF_ECORRUPT);
    WF_CHECK_STR(e.msg, "no text to tokenize: 1 files skipped, 0 folder entries ignored");
    WF_CHECK_EQ(m.n, 2);
    char meta[256];
    snprintf(meta, sizeof meta, "%s/meta.json", out);
    WF_CHECK(!wf_path_exists(meta));
    /* A file named directly is read whatever its extension. */
    char md[160];
    snprintf(md, sizeof md, "%s/readme.md", in);
    PUTS(in, "readme.md", "# Title\n");
    const char *direct[] = {md};
    o.on_skip = NULL;
    WF_CHECK_EQ(wf_tokenize_run(gpt2, direct, 1, &o, &s, &e), WF_OK);
    WF_CHECK_EQ(s.documents, 1);
}

/* Symlinks back up the tree (x -> ., sub/up -> ..) and a second link to a
** file: each folder and file is read once, the repeats counted as ignored.
** Before (device, inode) tracking, one loop read a.txt 60-odd times and two
** loops grew without end (the alarm turns that into a failure). */
static void test_symlink_loops(void) {
    char in[128], p[256];
    snprintf(in, sizeof in, "%s/loops", root);
    PUTS(in, "a.txt", "alpha\n");
    PUTS(in, "sub/b.txt", "beta\n");
    snprintf(p, sizeof p, "%s/x", in);
    WF_CHECK_EQ(symlink(".", p), 0);
    snprintf(p, sizeof p, "%s/alias.txt", in);
    WF_CHECK_EQ(symlink("a.txt", p), 0);
    const char *inputs[] = {in, in};
    alarm(30);
    for (int twice = 0; twice < 2; twice++) {
        wf_input_list l = {0};
        wf_err e = {0};
        WF_CHECK_EQ(wf_inputs_collect(inputs, 1 + twice, &l, &e), WF_OK);
        WF_CHECK_EQ(l.n, 2); /* alias.txt sorts first and is the one read; sub/b.txt */
        WF_CHECK_EQ(l.ignored, 2 + 2 * twice); /* a.txt (read as alias.txt), x; then sub/up, the 2nd INPUT */
        WF_CHECK_STR(l.ignored_summary, twice ? "4 already seen" : "2 already seen");
        wf_inputs_free(&l);
        if (!twice) {
            snprintf(p, sizeof p, "%s/sub/up", in);
            WF_CHECK_EQ(symlink("..", p), 0);
        }
    }
    alarm(0);
}

/* Number of entries of root named "<base>.tmp-*" or "<base>.old-*". */
static int leftovers(const char *base) {
    char cmd[300], buf[64];
    snprintf(cmd, sizeof cmd, "ls -d '%s'.tmp-* '%s'.old-* 2>/dev/null | wc -l", base, base);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f && fgets(buf, sizeof buf, f)) n = atoi(buf);
    if (f) pclose(f);
    return n;
}

/* Same split contents as want[0..wn)? */
static int split_is(const char *dir, const int32_t *want, uint64_t wn) {
    uint64_t n;
    int32_t *got = read_split(dir, WF_SPLIT_TRAIN, &n);
    int same = got && n == wn && memcmp(got, want, wn * sizeof *got) == 0;
    free(got);
    return same;
}

/* Rebuilding a dataset never loses the old one: a failed run (disk full at
** meta.json) leaves it as it was, a folder with other files in it is refused
** untouched, and a run killed at any moment leaves a loadable dataset, the
** old or the new, whose leftovers the next run removes. Before the fix the
** old meta.json went first, so all of these lost the dataset. */
static void test_rebuild_is_atomic(void) {
    char small[128], big[128], out[128], scratch[128], notes[256];
    snprintf(small, sizeof small, "%s/rebuild_in", root);
    snprintf(big, sizeof big, "%s/big", root); /* from test_threads_segments_and_split */
    snprintf(out, sizeof out, "%s/rebuild_out", root);
    snprintf(scratch, sizeof scratch, "%s/rebuild_scratch", root);
    PUTS(small, "a.txt", "The old dataset: a few words.\n");
    const char *in_a[] = {small}, *in_b[] = {big};
    wf_tokenize_opts oa = {.out_dir = out, .val_fraction = 0, .threads = 1};
    wf_tokenize_opts ob = {.out_dir = out, .val_fraction = 0.1, .threads = 1, .segment_bytes = 4096,
                           .shard_tokens = 3000};
    wf_tokenize_stats s;
    wf_err e = {0};
    uint64_t na, nb;
    WF_CHECK_EQ(wf_tokenize_run(gpt2, in_a, 1, &oa, &s, &e), WF_OK);
    int32_t *ids_a = read_split(out, WF_SPLIT_TRAIN, &na);
    WF_CHECK(ids_a && na > 5);
    ob.out_dir = scratch;
    double t0 = wf_now();
    WF_CHECK_EQ(wf_tokenize_run(gpt2, in_b, 1, &ob, &s, &e), WF_OK);
    double t_b = wf_now() - t0;
    int32_t *ids_b = read_split(scratch, WF_SPLIT_TRAIN, &nb);
    WF_CHECK(ids_b && nb > 10000 && s.shards[0] > 3);
    ob.out_dir = out;
    if (!ids_a || !ids_b) {
        free(ids_a);
        free(ids_b);
        return;
    }

    /* disk full while writing meta.json: the old dataset is intact */
    wf_file_fail_write_at(0);
    WF_CHECK_EQ(wf_tokenize_run(gpt2, in_b, 1, &ob, &s, &e), WF_EIO);
    wf_file_fail_write_at(-1);
    WF_CHECK_HAS(e.msg, "meta.json");
    WF_CHECK(split_is(out, ids_a, na));
    WF_CHECK_EQ(leftovers(out), 0);

    /* a folder holding other files is refused, and nothing in it is touched */
    snprintf(notes, sizeof notes, "%s/notes.txt", out);
    PUTS(out, "notes.txt", "mine");
    WF_CHECK_EQ(wf_tokenize_run(gpt2, in_b, 1, &ob, &s, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "holds 'notes.txt', which is not part of a dataset");
    WF_CHECK(wf_path_exists(notes) && split_is(out, ids_a, na));
    unlink(notes);

    /* killed at spread-out moments of a rebuild: always the old or the new */
    int olds = 0, news = 0, bad = 0;
    for (int i = 0; i < 12; i++) {
        WF_CHECK_EQ(wf_tokenize_run(gpt2, in_a, 1, &oa, &s, &e), WF_OK);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            wf_err ce = {0};
            _exit(wf_tokenize_run(gpt2, in_b, 1, &ob, &s, &ce) ? 1 : 0);
        }
        usleep((useconds_t)(1e6 * t_b * 2 * i / 11));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (split_is(out, ids_a, na)) olds++;
        else if (split_is(out, ids_b, nb)) news++;
        else bad++;
    }
    WF_CHECK_EQ(bad, 0);
    WF_CHECK(olds > 0); /* the first kill comes before the swap */
    printf("rebuild killed 12 times (run %.3f s): %d old, %d new\n", t_b, olds, news);
    WF_CHECK_EQ(wf_tokenize_run(gpt2, in_a, 1, &oa, &s, &e), WF_OK);
    WF_CHECK_EQ(leftovers(out), 0); /* the killed runs' build folders are gone */
    WF_CHECK(split_is(out, ids_a, na));

    /* OUT given as a symlink: the link stays, its folder gets the new dataset */
    char link[160];
    struct stat st;
    snprintf(link, sizeof link, "%s/rebuild_link", root);
    WF_CHECK_EQ(symlink(out, link), 0);
    ob.out_dir = link;
    WF_CHECK_EQ(wf_tokenize_run(gpt2, in_b, 1, &ob, &s, &e), WF_OK);
    WF_CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    WF_CHECK(split_is(out, ids_b, nb));
    WF_CHECK_EQ(leftovers(out), 0);
    free(ids_a);
    free(ids_b);
}

/* One document: the validation split is its last tokens (by token, not by document), said in the stats;
** with enough documents the split stays by document. */
static void test_one_document_splits_by_tokens(void) {
    char in[600], out[600], out0[600];
    snprintf(in, sizeof in, "%s/onedoc", root);
    snprintf(out, sizeof out, "%s/onedoc_out", root);
    snprintf(out0, sizeof out0, "%s/onedoc_out0", root);
    PUTS(in, "book.txt", "The only document of this corpus is a short story about a wafer that learned to count. "
                         "It counted PEs, colors and cycles, and then it counted the tokens of its own story.\n");
    wf_tokenize_opts o = {.out_dir = out, .val_fraction = 0.1, .threads = 2};
    wf_tokenize_stats s;
    wf_err e = {0};
    const char *inputs[] = {in};
    WF_CHECK_EQ(wf_tokenize_run(gpt2, inputs, 1, &o, &s, &e), WF_OK);
    WF_CHECK_EQ(s.documents, 1);
    WF_CHECK_EQ(s.val_by_tokens, 1);
    uint64_t total = s.tokens[0] + s.tokens[1];
    WF_CHECK(total > 20);
    WF_CHECK_EQ(s.tokens[1], (uint64_t)ceil(0.1 * (double)total));
    /* train then val is the whole document, in order: the same tokens as with no split */
    o.out_dir = out0, o.val_fraction = 0;
    wf_tokenize_stats s0;
    WF_CHECK_EQ(wf_tokenize_run(gpt2, inputs, 1, &o, &s0, &e), WF_OK);
    WF_CHECK_EQ(s0.val_by_tokens, 0);
    uint64_t nt, nv, n0;
    int32_t *tr = read_split(out, WF_SPLIT_TRAIN, &nt), *va = read_split(out, WF_SPLIT_VAL, &nv);
    int32_t *all = read_split(out0, WF_SPLIT_TRAIN, &n0);
    WF_CHECK_EQ(nt + nv, n0);
    WF_CHECK(tr && va && all && nt + nv == n0 && memcmp(tr, all, nt * 4) == 0 && memcmp(va, all + nt, nv * 4) == 0);
    free(tr), free(va), free(all);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/wf_test_tokenize_XXXXXX");
    if (!mkdtemp(root)) return 1;
    wf_err e = {0};
    if (wf_tokenizer_load("data/gpt2", &gpt2, &e)) {
        fprintf(stderr, "cannot load data/gpt2: %s\n", e.msg);
        return 1;
    }
    test_mixed_folder();
    test_threads_segments_and_split();
    test_rebuild_is_atomic();
    test_utf8_checker();
    test_symlink_loops();
    test_one_document_splits_by_tokens();
    test_bad_arguments();
    test_allocation_failures();
    wf_tokenizer_free(gpt2);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) return 1;
    return wf_check_report();
}
