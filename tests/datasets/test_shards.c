/* test_shards.c — the token shard format (datasets/shards.h): write/read
** round trips in both dtypes and across shard boundaries, deterministic
** batches, and the exact errors for missing, truncated, corrupt and lying
** files. */
#include "datasets/shards.h"
#include "tests/check.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* Writes a dataset with n_train tokens (id = (i*7) % vocab) and n_val tokens
** (id = (i*3) % vocab), shard_tokens per shard. Returns 0 on success. */
static int make_dataset(const char *dir, int vocab, uint64_t n_train, uint64_t n_val, uint64_t shard_tokens) {
    wf_err e = {0};
    rm_rf(dir);
    if (wf_mkdir_p(dir, &e)) return -1;
    wf_shards_meta m = {.vocab_size = vocab, .eos_id = vocab - 1, .unigram_entropy_nats = 1.5};
    for (int k = 0; k < 2; k++) {
        wf_shard_writer *w;
        if (wf_shard_writer_open(dir, (wf_split)k, vocab, shard_tokens, &w, &e)) return -1;
        uint64_t n = k ? n_val : n_train;
        for (uint64_t i = 0; i < n; i++) {
            int32_t id = (int32_t)((i * (k ? 3 : 7)) % (uint64_t)vocab);
            if (wf_shard_writer_append(w, &id, 1, &e)) {
                wf_shard_writer_abort(w);
                return -1;
            }
        }
        if (wf_shard_writer_finish(w, &m.tokens[k], &m.shards[k], &e)) return -1;
    }
    return wf_shards_write_meta(dir, &m, &e) ? -1 : 0;
}

static void test_roundtrip_u16_across_shards(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/a", tmpdir);
    WF_CHECK_EQ(make_dataset(dir, 50257, 2500, 10, 1000), 0);
    char p[400];
    snprintf(p, sizeof p, "%s/train_000002.bin", dir);
    WF_CHECK(wf_path_exists(p));
    snprintf(p, sizeof p, "%s/train_000003.bin", dir);
    WF_CHECK(!wf_path_exists(p));
    wf_shards *s = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_shards_open(dir, &s, &e), WF_OK);
    if (!s) return;
    WF_CHECK_EQ(wf_shards_vocab_size(s), 50257);
    WF_CHECK_EQ(wf_shards_eos(s), 50256);
    WF_CHECK_EQ(wf_shards_count(s, WF_SPLIT_TRAIN), 2500);
    WF_CHECK_EQ(wf_shards_count(s, WF_SPLIT_VAL), 10);
    WF_CHECK_EQ(wf_shards_nshards(s, WF_SPLIT_TRAIN), 3);
    WF_CHECK_EQ(wf_shards_nshards(s, WF_SPLIT_VAL), 1);
    WF_CHECK_NEAR(wf_shards_unigram_entropy(s), 1.5, 1e-9);
    WF_CHECK_EQ(wf_shards_verify(s, &e), WF_OK);
    /* A window crossing two shard boundaries. */
    int32_t buf[1200];
    WF_CHECK_EQ(wf_shards_read(s, WF_SPLIT_TRAIN, 990, 1100, buf, &e), WF_OK);
    int bad = 0;
    for (int i = 0; i < 1100; i++) bad += buf[i] != (int32_t)(((990 + i) * 7) % 50257);
    WF_CHECK_EQ(bad, 0);
    WF_CHECK_EQ(wf_shards_read(s, WF_SPLIT_VAL, 0, 10, buf, &e), WF_OK);
    WF_CHECK_EQ(buf[9], 27);
    /* The end of a split is a hard edge. */
    WF_CHECK_EQ(wf_shards_read(s, WF_SPLIT_TRAIN, 2000, 501, buf, &e), WF_ERANGE);
    WF_CHECK_STR(e.msg, "train split: window [2000, 2501) passes its end (2500 tokens)");
    WF_CHECK_EQ(wf_shards_read(s, WF_SPLIT_TRAIN, 2000, 500, buf, &e), WF_OK);
    WF_CHECK_EQ(buf[499], (2499 * 7) % 50257);
    wf_shards_close(s);
}

static void test_roundtrip_u32(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/b", tmpdir);
    WF_CHECK_EQ(make_dataset(dir, 100000, 300, 0, 0), 0);
    wf_shards *s = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_shards_open(dir, &s, &e), WF_OK);
    if (!s) return;
    WF_CHECK_EQ(wf_shards_nshards(s, WF_SPLIT_VAL), 0);
    WF_CHECK_EQ(wf_shards_count(s, WF_SPLIT_VAL), 0);
    int32_t buf[300];
    WF_CHECK_EQ(wf_shards_read(s, WF_SPLIT_TRAIN, 0, 300, buf, &e), WF_OK);
    WF_CHECK_EQ(buf[299], 299 * 7);
    char p[400];
    snprintf(p, sizeof p, "%s/train_000000.bin", dir);
    char *raw;
    size_t len;
    WF_CHECK_EQ(wf_file_read(NULL, p, &raw, &len, &e), WF_OK);
    WF_CHECK_EQ(len, 64 + 300 * 4);
    WF_CHECK_EQ(raw[12], 4);
    wf_free(NULL, raw);
    /* Batches on an empty split are a clear error. */
    WF_CHECK_EQ(wf_shards_batch(s, WF_SPLIT_VAL, 1, 0, 0, 2, 8, buf, &e), WF_ESHAPE);
    WF_CHECK_STR(e.msg, "val split has 0 tokens, need at least T+1 = 9 for one sequence");
    wf_shards_close(s);
}

static void test_batches_are_deterministic_and_sliceable(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/a", tmpdir);
    wf_shards *s = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_shards_open(dir, &s, &e), WF_OK);
    if (!s) return;
    int32_t a[4 * 17], b[4 * 17], c[2 * 17], d[4 * 17];
    WF_CHECK_EQ(wf_shards_batch(s, WF_SPLIT_TRAIN, 42, 7, 0, 4, 16, a, &e), WF_OK);
    WF_CHECK_EQ(wf_shards_batch(s, WF_SPLIT_TRAIN, 42, 7, 0, 4, 16, b, &e), WF_OK);
    WF_CHECK(memcmp(a, b, sizeof a) == 0);
    /* Rows 2..3 asked alone equal rows 2..3 of the whole batch. */
    WF_CHECK_EQ(wf_shards_batch(s, WF_SPLIT_TRAIN, 42, 7, 2, 2, 16, c, &e), WF_OK);
    WF_CHECK(memcmp(a + 2 * 17, c, sizeof c) == 0);
    WF_CHECK_EQ(wf_shards_batch(s, WF_SPLIT_TRAIN, 42, 8, 0, 4, 16, d, &e), WF_OK);
    WF_CHECK(memcmp(a, d, sizeof a) != 0);
    /* Every row is a real window: consecutive ids of the i*7 pattern. */
    int bad = 0;
    for (int r = 0; r < 4; r++)
        for (int t = 1; t < 17; t++) bad += (a[r * 17 + t] - a[r * 17 + t - 1] + 50257) % 50257 != 7;
    WF_CHECK_EQ(bad, 0);
    /* Sequences: g0 = 8, n = 4 equals 8..9 then 10..11 (any split of a step
    ** reads the same tokens); another seed or another index reads others. */
    int32_t q[4 * 17], q1[2 * 17], q2[2 * 17], q3[4 * 17];
    WF_CHECK_EQ(wf_shards_seqs(s, WF_SPLIT_TRAIN, 42, 8, 4, 16, q, &e), WF_OK);
    WF_CHECK_EQ(wf_shards_seqs(s, WF_SPLIT_TRAIN, 42, 8, 2, 16, q1, &e), WF_OK);
    WF_CHECK_EQ(wf_shards_seqs(s, WF_SPLIT_TRAIN, 42, 10, 2, 16, q2, &e), WF_OK);
    WF_CHECK(memcmp(q, q1, sizeof q1) == 0 && memcmp(q + 2 * 17, q2, sizeof q2) == 0);
    WF_CHECK_EQ(wf_shards_seqs(s, WF_SPLIT_TRAIN, 43, 8, 4, 16, q3, &e), WF_OK);
    WF_CHECK(memcmp(q, q3, sizeof q) != 0);
    WF_CHECK(memcmp(q, q + 17, 17 * sizeof q[0]) != 0);
    for (int r = 0; r < 4; r++)
        for (int t = 1; t < 17; t++) bad += (q[r * 17 + t] - q[r * 17 + t - 1] + 50257) % 50257 != 7;
    WF_CHECK_EQ(bad, 0);
    WF_CHECK_EQ(wf_shards_seqs(s, WF_SPLIT_TRAIN, 42, 0, 1, 1 << 30, q, &e), WF_ESHAPE);
    wf_shards_close(s);
}

static void test_writer_rejects_out_of_range_ids(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/c", tmpdir);
    wf_err e = {0};
    WF_CHECK_EQ(wf_mkdir_p(dir, &e), WF_OK);
    wf_shard_writer *w;
    WF_CHECK_EQ(wf_shard_writer_open(dir, WF_SPLIT_TRAIN, 100, 0, &w, &e), WF_OK);
    int32_t ids[3] = {1, 99, 100};
    WF_CHECK_EQ(wf_shard_writer_append(w, ids, 3, &e), WF_ERANGE);
    WF_CHECK_STR(e.msg, "train split: token id 100 at position 2 out of range [0, 100)");
    wf_shard_writer_abort(w);
    char p[400];
    snprintf(p, sizeof p, "%s/train_000000.bin.tmp", dir);
    WF_CHECK(!wf_path_exists(p));
    WF_CHECK_EQ(wf_shard_writer_open("/nonexistent/x", WF_SPLIT_TRAIN, 100, 0, &w, &e), WF_EIO);
    WF_CHECK_STR(e.msg, "/nonexistent/x: not a directory");
}

/* Overwrites bytes [off, off+n) of a file. */
static void poke(const char *path, long off, const void *bytes, size_t n) {
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    fseek(f, off, SEEK_SET);
    fwrite(bytes, 1, n, f);
    fclose(f);
}

static void expect_open_error(const char *dir, wf_status code, const char *msg) {
    wf_shards *s = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_shards_open(dir, &s, &e), code);
    WF_CHECK_HAS(e.msg, msg);
    WF_CHECK(s == NULL);
    wf_shards_close(s);
}

static void test_corrupt_and_lying_files(void) {
    char dir[300], p[400], meta[400];
    snprintf(dir, sizeof dir, "%s/d", tmpdir);
    snprintf(p, sizeof p, "%s/train_000001.bin", dir);
    snprintf(meta, sizeof meta, "%s/meta.json", dir);

    expect_open_error("/nonexistent/data", WF_EIO, "/nonexistent/data: no such data folder");

    make_dataset(dir, 1000, 250, 0, 100);
    unlink(meta);
    expect_open_error(dir, WF_EIO, "meta.json: missing: not a wafer dataset");

    make_dataset(dir, 1000, 250, 0, 100);
    poke(p, 0, "WFTX", 4);
    expect_open_error(dir, WF_ECORRUPT, "train_000001.bin: byte 0: bad magic, expected \"WFTK\"");

    make_dataset(dir, 1000, 250, 0, 100);
    poke(p, 28, "\x05", 1);
    expect_open_error(dir, WF_ECORRUPT, "train_000001.bin: byte 28: shard index 5, expected 1");

    make_dataset(dir, 1000, 250, 0, 100);
    poke(p, 32, "\x00", 1);
    expect_open_error(dir, WF_ECORRUPT, "train_000001.bin: byte 32: start position 0, expected 100");

    make_dataset(dir, 1000, 250, 0, 100);
    if (truncate(p, 64 + 150) != 0) WF_CHECK(0);
    expect_open_error(dir, WF_ECORRUPT,
                      "train_000001.bin: byte 16: 100 tokens, but the file holds 150 payload bytes (2 per token)");

    make_dataset(dir, 1000, 250, 0, 100);
    if (truncate(p, 10) != 0) WF_CHECK(0);
    expect_open_error(dir, WF_ECORRUPT, "train_000001.bin: 10 bytes, shorter than the 64-byte header");

    make_dataset(dir, 1000, 250, 0, 100);
    unlink(p);
    expect_open_error(dir, WF_EIO, "train_000001.bin: cannot open: No such file or directory (listed in meta.json)");

    make_dataset(dir, 1000, 250, 0, 100);
    wf_err e = {0};
    const char *lie = "{\"format\":\"wftk\",\"version\":1,\"vocab_size\":1000,\"train_tokens\":251,"
                      "\"val_tokens\":0,\"train_shards\":3,\"val_shards\":0}";
    WF_CHECK_EQ(wf_file_write_atomic(meta, lie, strlen(lie), &e), WF_OK);
    expect_open_error(dir, WF_ECORRUPT, "meta.json: train_tokens is 251, but its 3 shards hold 250 tokens");

    const char *neg = "{\"format\":\"wftk\",\"version\":1,\"vocab_size\":-3,\"train_tokens\":250,"
                      "\"val_tokens\":0,\"train_shards\":3,\"val_shards\":0}";
    WF_CHECK_EQ(wf_file_write_atomic(meta, neg, strlen(neg), &e), WF_OK);
    expect_open_error(dir, WF_ECORRUPT, "meta.json: 'vocab_size' must be an integer in [0, 1073741824]");

    const char *miss = "{\"format\":\"wftk\",\"version\":1,\"vocab_size\":1000}";
    WF_CHECK_EQ(wf_file_write_atomic(meta, miss, strlen(miss), &e), WF_OK);
    expect_open_error(dir, WF_ECORRUPT, "meta.json: key 'train_tokens' missing");

    WF_CHECK_EQ(wf_file_write_atomic(meta, "[1,2", 4, &e), WF_OK);
    expect_open_error(dir, WF_ECORRUPT, "meta.json: not a JSON object");

    /* A changed payload byte: open checks the checksum and names the shard. */
    make_dataset(dir, 1000, 250, 0, 100);
    poke(p, 64 + 2 * 5, "\x01", 1);
    expect_open_error(dir, WF_ECORRUPT, "train_000001.bin: payload checksum mismatch (file changed after writing");

    /* A FIFO in place of a shard is an error, not a hang (alarm: a blocking open fails the test). */
    make_dataset(dir, 1000, 250, 0, 100);
    unlink(p);
    WF_CHECK_EQ(mkfifo(p, 0644), 0);
    alarm(20);
    expect_open_error(dir, WF_EIO, "train_000001.bin: not a regular file (a FIFO) (listed in meta.json)");
    alarm(0);
    unlink(p);

    /* A token >= vocab in the payload under a matching checksum: open
    ** succeeds, reading it names the file and the byte offset. */
    make_dataset(dir, 1000, 250, 0, 100);
    poke(p, 64 + 2 * 5, "\xff\xff", 2);
    uint8_t payload[200];
    FILE *f = fopen(p, "rb");
    WF_CHECK(f && fseek(f, 64, SEEK_SET) == 0 && fread(payload, 1, 200, f) == 200);
    if (f) fclose(f);
    uint64_t h = 0xcbf29ce484222325ull;
    uint8_t le[8];
    for (int i = 0; i < 200; i++) h = (h ^ payload[i]) * 0x100000001b3ull;
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(h >> (8 * i));
    poke(p, 40, le, 8);
    wf_shards *s = NULL;
    WF_CHECK_EQ(wf_shards_open(dir, &s, &e), WF_OK);
    if (s) {
        int32_t buf[100];
        WF_CHECK_EQ(wf_shards_read(s, WF_SPLIT_TRAIN, 100, 10, buf, &e), WF_ECORRUPT);
        WF_CHECK_HAS(e.msg, "train_000001.bin: byte 74: token 65535 out of range [0, 1000)");
        WF_CHECK_EQ(wf_shards_verify(s, &e), WF_ECORRUPT);
        WF_CHECK_HAS(e.msg, "train_000001.bin: byte 74: token 65535 out of range [0, 1000)");
        wf_shards_close(s);
    }
}

/* Every allocation failure while opening is WF_ENOMEM with nothing leaked. */
static void test_open_allocation_failures(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/a", tmpdir);
    WF_CHECK_EQ(make_dataset(dir, 50257, 2500, 10, 1000), 0);
    size_t base = wf_heap_live(NULL);
    int k, bad = 0;
    for (k = 0; k < 100; k++) {
        wf_shards *s = NULL;
        wf_err e = {0};
        wf_heap_fail_at(NULL, k);
        wf_status st = wf_shards_open(dir, &s, &e);
        wf_heap_fail_at(NULL, -1);
        if (st == WF_OK) {
            wf_shards_close(s);
            break;
        }
        bad += st != WF_ENOMEM || s != NULL || wf_heap_live(NULL) != base;
    }
    WF_CHECK_EQ(bad, 0);
    WF_CHECK(k > 3 && k < 100);
    WF_CHECK_EQ(wf_heap_live(NULL), base);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/wf_test_shards_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roundtrip_u16_across_shards();
    test_roundtrip_u32();
    test_batches_are_deterministic_and_sliceable();
    test_writer_rejects_out_of_range_ids();
    test_corrupt_and_lying_files();
    test_open_allocation_failures();
    rm_rf(tmpdir);
    return wf_check_report();
}
