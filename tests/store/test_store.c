/* test_store.c — the weight store: RAM and disk round trips of every block
** and kind, a damaged tensor named by layer and tensor, a truncated file, a
** store made for another model, and a full disk, each a clear error. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/params.h"
#include "store/store.h"
#include "tests/check.h"

static char root[] = "/tmp/wf_test_storeXXXXXX";

static wf_gpt_config tiny(void) {
    wf_gpt_config c;
    wf_err e;
    WF_CHECK_EQ(wf_gpt_config_preset("cerebras-gpt-111m", &c, &e), WF_OK);
    c.n_layer = 2, c.n_embd = 32, c.n_head = 2, c.n_inner = 128, c.n_positions = 64, c.vocab_size = 100;
    return c;
}

static void fill(float *x, size_t n, float seed) {
    for (size_t i = 0; i < n; i++) x[i] = seed + (float)i * 0.25f;
}

static void round_trip(const char *dir) {
    wf_gpt_config c = tiny();
    wf_store *s;
    wf_err e;
    WF_CHECK_EQ(wf_store_open(dir, &c, NULL, &s, &e), WF_OK);
    size_t n = wf_gpt_block_numel(&c, 1) > wf_gpt_block_numel(&c, 0) ? wf_gpt_block_numel(&c, 1) : wf_gpt_block_numel(&c, 0);
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    for (int k = 0; k < WF_STORE_KINDS; k++)
        for (int blk = 0; blk < wf_gpt_nblocks(&c); blk++) {
            fill(a, wf_store_numel(&c, (wf_store_kind)k, blk), (float)(k * 10 + blk));
            WF_CHECK_EQ(wf_store_write(s, (wf_store_kind)k, blk, a, &e), WF_OK);
        }
    for (int k = 0; k < WF_STORE_KINDS; k++)
        for (int blk = 0; blk < wf_gpt_nblocks(&c); blk++) {
            size_t m = wf_store_numel(&c, (wf_store_kind)k, blk); /* HALF blocks are smaller */
            fill(a, m, (float)(k * 10 + blk));
            memset(b, 0, m * sizeof(float));
            WF_CHECK_EQ(wf_store_read(s, (wf_store_kind)k, blk, b, &e), WF_OK);
            WF_CHECK(memcmp(a, b, m * sizeof(float)) == 0);
        }
    uint64_t rd, wr;
    wf_store_traffic(s, &rd, &wr);
    uint64_t all = 0;
    for (int k = 0; k < WF_STORE_KINDS; k++)
        for (int blk = 0; blk < wf_gpt_nblocks(&c); blk++) all += wf_store_numel(&c, (wf_store_kind)k, blk) * sizeof(float);
    WF_CHECK(all < (uint64_t)WF_STORE_KINDS * wf_gpt_numel(&c) * sizeof(float));
    WF_CHECK_EQ(rd, all);
    WF_CHECK_EQ(wr, rd);
    /* prefetch-ahead and write-behind keep program order: a prefetch made
    ** stale by a later write is dropped, prefetches of every block at once
    ** are bounded, and reads see the newest bytes */
    for (int round = 0; round < 3; round++)
        for (int blk = 0; blk < wf_gpt_nblocks(&c); blk++) {
            size_t m = wf_gpt_block_numel(&c, blk);
            for (int k = 0; k < WF_STORE_KINDS; k++) wf_store_prefetch(s, (wf_store_kind)k, blk);
            fill(a, m, (float)(100 * round + blk));
            WF_CHECK_EQ(wf_store_write(s, WF_STORE_W, blk, a, &e), WF_OK);
            wf_store_prefetch(s, WF_STORE_W, blk);
            memset(b, 0, m * sizeof(float));
            WF_CHECK_EQ(wf_store_read(s, WF_STORE_W, blk, b, &e), WF_OK);
            WF_CHECK(memcmp(a, b, m * sizeof(float)) == 0);
            fill(a, m, (float)(1 * 10 + blk));
            WF_CHECK_EQ(wf_store_read(s, WF_STORE_M, blk, b, &e), WF_OK);
            WF_CHECK(memcmp(a, b, m * sizeof(float)) == 0);
        }
    WF_CHECK_EQ(wf_store_flush(s, &e), WF_OK);
    wf_store_close(s);
    free(a), free(b);
}

static void faults(const char *dir) {
    wf_gpt_config c = tiny();
    wf_store *s;
    wf_err e;
    WF_CHECK_EQ(wf_store_open(dir, &c, NULL, &s, &e), WF_OK);
    size_t n = wf_gpt_block_numel(&c, 1) > wf_gpt_block_numel(&c, 0) ? wf_gpt_block_numel(&c, 1) : wf_gpt_block_numel(&c, 0);
    float *a = calloc(n, sizeof(float));
    /* unwritten block */
    WF_CHECK_EQ(wf_store_read(s, WF_STORE_M, 1, a, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "read before it was written");
    for (int blk = 0; blk < wf_gpt_nblocks(&c); blk++) {
        fill(a, wf_gpt_block_numel(&c, blk), (float)blk);
        WF_CHECK_EQ(wf_store_write(s, WF_STORE_W, blk, a, &e), WF_OK);
    }
    /* damage one float of layer 0's c_attn.weight (weights are kind 0, after the 4 KiB header) */
    char path[400];
    snprintf(path, sizeof path, "%s/store.bin", dir);
    int fd = open(path, O_RDWR);
    WF_CHECK(fd >= 0);
    size_t e0 = (wf_gpt_block_numel(&c, 0) * 4 + 4095) / 4096 * 4096;
    off_t at = (off_t)(4096 + e0 + (2 * 32 + 10) * 4); /* ln_1 w+b, then c_attn.weight */
    float bad = 12345.0f;
    WF_CHECK_EQ(pwrite(fd, &bad, 4, at), 4);
    WF_CHECK_EQ(wf_store_read(s, WF_STORE_W, 1, a, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "store.bin");
    WF_CHECK_HAS(e.msg, "layer 0");
    WF_CHECK_HAS(e.msg, "h.0.attn.c_attn.weight");
    WF_CHECK_EQ(wf_store_read(s, WF_STORE_W, 2, a, &e), WF_OK); /* layer 1 intact */
    /* truncated file: the final norm block of W lies past the end */
    WF_CHECK_EQ(ftruncate(fd, at), 0);
    WF_CHECK_EQ(wf_store_read(s, WF_STORE_W, 3, a, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "truncated");
    close(fd);
    /* a full disk */
    wf_store_fail_write_at(0);
    wf_status st = wf_store_write(s, WF_STORE_G, 0, a, &e); /* written behind: the error may come at flush */
    if (st == WF_OK) st = wf_store_flush(s, &e);
    wf_store_fail_write_at(-1);
    WF_CHECK_EQ(st, WF_EIO);
    WF_CHECK_HAS(e.msg, "No space left");
    WF_CHECK_HAS(e.msg, "block 0 (gradients)");
    WF_CHECK(wf_store_read(s, WF_STORE_G, 0, a, &e) != WF_OK); /* a failed write is not trusted */
    wf_store_close(s);
    /* another model */
    wf_gpt_config other = c;
    other.n_layer = 3;
    WF_CHECK_EQ(wf_store_open(dir, &other, NULL, &s, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "another model");
    WF_CHECK_HAS(e.msg, "expected 3 layers");
    WF_CHECK(s == NULL);
    WF_CHECK_EQ(wf_store_open(dir, &c, NULL, &s, &e), WF_OK); /* same model reopens */
    {   /* while it is open, a second run (another process) is refused, naming the holder */
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            wf_store *t = NULL;
            wf_err te = {0};
            int ok = wf_store_open(dir, &c, NULL, &t, &te) == WF_EUSAGE && t == NULL &&
                     strstr(te.msg, "store.bin: in use by another run") &&
                     strstr(te.msg, "give this run its own --store");
            if (!ok) fprintf(stderr, "second open: %s\n", te.msg);
            _exit(ok ? 0 : 1);
        }
        int ws = -1;
        WF_CHECK(pid > 0 && waitpid(pid, &ws, 0) == pid);
        WF_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    wf_store_close(s);
    WF_CHECK_EQ(wf_store_open(dir, &c, NULL, &s, &e), WF_OK); /* closed: free again */
    wf_store_close(s);
    free(a);
}

/* Packed layers (a sparse model): the layer blocks of W, M, V, G hold fewer
** floats, round-trip, move only those bytes, and a dense open of the same
** folder is refused (the header records the packed size). */
static void packed(const char *dir) {
    wf_gpt_config c = tiny();
    wf_store *s;
    wf_err e;
    size_t layer = wf_gpt_block_numel(&c, 1), pn[64];
    for (int l = 0; l < c.n_layer && l < 64; l++) pn[l] = layer / 4 + (size_t)l;
    WF_CHECK_EQ(wf_store_open_packed(dir, &c, pn, NULL, NULL, &s, &e), WF_OK);
    if (!s) return;
    float *a = malloc(layer * sizeof(float)), *b = malloc(layer * sizeof(float));
    WF_CHECK_EQ(wf_store_block_numel(s, WF_STORE_G, 1), pn[0]);
    WF_CHECK_EQ(wf_store_block_numel(s, WF_STORE_W, 0), wf_gpt_block_numel(&c, 0));
    for (int k = 0; k < WF_STORE_HALF; k++)
        for (int blk = 1; blk <= c.n_layer; blk++) {
            fill(a, pn[blk - 1], (float)(k * 10 + blk));
            WF_CHECK_EQ(wf_store_write(s, (wf_store_kind)k, blk, a, &e), WF_OK);
        }
    uint64_t r0, w0, r1, w1, want = 0;
    wf_store_traffic(s, &r0, &w0);
    for (int k = 0; k < WF_STORE_HALF; k++)
        for (int blk = 1; blk <= c.n_layer; blk++) {
            fill(a, pn[blk - 1], (float)(k * 10 + blk));
            memset(b, 0, layer * sizeof(float));
            WF_CHECK_EQ(wf_store_read(s, (wf_store_kind)k, blk, b, &e), WF_OK);
            WF_CHECK(memcmp(a, b, pn[blk - 1] * sizeof(float)) == 0);
            WF_CHECK(b[pn[blk - 1]] == 0.0f); /* nothing past the packed size */
            want += pn[blk - 1] * sizeof(float);
        }
    wf_store_traffic(s, &r1, &w1);
    WF_CHECK_EQ(r1 - r0, want);
    WF_CHECK_EQ(w0, want);
    if (dir) { /* a damaged packed block: named as the block (it has one checksum), not as its first tensor */
        WF_CHECK_EQ(wf_store_flush(s, &e), WF_OK);
        char path[400];
        snprintf(path, sizeof path, "%s/store.bin", dir);
        int fd = open(path, O_RDWR);
        WF_CHECK(fd >= 0);
        size_t e0 = (wf_gpt_block_numel(&c, 0) * 4 + 4095) / 4096 * 4096;
        float bad = 12345.0f;
        WF_CHECK_EQ(pwrite(fd, &bad, 4, (off_t)(4096 + e0 + 40)), 4); /* W of layer 0, packed */
        close(fd);
        WF_CHECK_EQ(wf_store_read(s, WF_STORE_W, 1, b, &e), WF_ECORRUPT);
        WF_CHECK_HAS(e.msg, "layer 0), the packed block (weights): checksum mismatch");
    }
    wf_store_close(s);
    if (dir) {
        WF_CHECK_EQ(wf_store_open(dir, &c, NULL, &s, &e), WF_EUSAGE);
        WF_CHECK_HAS(e.msg, "store made for another model");
    }
    free(a), free(b);
}

int main(void) {
    WF_CHECK(mkdtemp(root) != NULL);
    packed(NULL);
    {
        char pd[300];
        snprintf(pd, sizeof pd, "%s/packed", root);
        packed(pd);
    }
    char dir[300];
    round_trip(NULL);
    snprintf(dir, sizeof dir, "%s/rt", root);
    round_trip(dir);
    snprintf(dir, sizeof dir, "%s/bad", root);
    faults(dir);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", root);
    return wf_check_report();
}
