/* shards.c — the token shard format of shards.h: the streaming writer (one
** .tmp file at a time, header patched in at close, fsync, rename), the
** meta.json manifest, and the reader (every shard mmapped read-only; windows
** and random batches are plain copies with a range check per token). */
#include "datasets/shards.h"

#include "base/rng.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITE_BUF_BYTES (1u << 20) /* writer staging buffer; bounds memory */

static const char *const split_names[WF_SPLIT_COUNT] = {"train", "val"};

void wf_shard_name(wf_split split, int index, char *buf, size_t cap) {
    snprintf(buf, cap, "%s_%06d.bin", split_names[split], index);
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) {
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static int dtype_for(int vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

/* ======================================================================== */
/* writer                                                                    */

struct wf_shard_writer {
    char *dir;
    wf_split split;
    int vocab, dtype;
    uint64_t shard_tokens; /* tokens per full shard */
    int index;             /* index of the open shard, or of the next one */
    uint64_t total;        /* tokens appended so far (all shards) */
    uint64_t cur_n;        /* tokens in the open shard */
    uint64_t cur_start;    /* split position of the open shard's first token */
    uint64_t fnv;          /* running checksum of the open shard's payload */
    int fd;                /* open shard's .tmp, or -1 */
    char tmp[4096], path[4096];
    uint8_t *buf;
    size_t used;
};

static wf_status write_all(int fd, const char *path, const uint8_t *p, size_t n, wf_err *err) {
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return WF_FAIL(err, WF_EIO, "%s: write failed: %s", path, k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
    }
    return WF_OK;
}

wf_status wf_shard_writer_open(const char *dir, wf_split split, int vocab_size,
                               uint64_t shard_tokens, wf_shard_writer **out, wf_err *err) {
    *out = NULL;
    if (split < 0 || split >= WF_SPLIT_COUNT || vocab_size <= 0)
        return WF_FAIL(err, WF_EUSAGE, "shard writer: bad split %d or vocab size %d", (int)split, vocab_size);
    if (!wf_path_is_dir(dir)) return WF_FAIL(err, WF_EIO, "%s: not a directory", dir);
    wf_shard_writer *w = wf_calloc(NULL, sizeof *w, "shard writer", err);
    if (!w) return err ? err->code : WF_ENOMEM;
    size_t dl = strlen(dir);
    w->dir = wf_alloc(NULL, dl + 1, "shard writer dir", err);
    w->buf = wf_alloc(NULL, WRITE_BUF_BYTES, "shard writer buffer", err);
    if (!w->dir || !w->buf) {
        wf_free(NULL, w->dir);
        wf_free(NULL, w->buf);
        wf_free(NULL, w);
        return err ? err->code : WF_ENOMEM;
    }
    memcpy(w->dir, dir, dl + 1);
    w->split = split;
    w->vocab = vocab_size;
    w->dtype = dtype_for(vocab_size);
    w->shard_tokens = shard_tokens ? shard_tokens : WF_SHARD_DEFAULT_TOKENS;
    w->fd = -1;
    *out = w;
    return WF_OK;
}

static wf_status flush_buf(wf_shard_writer *w, wf_err *err) {
    if (!w->used) return WF_OK;
    wf_status s = write_all(w->fd, w->tmp, w->buf, w->used, err);
    w->used = 0;
    return s;
}

static wf_status open_shard(wf_shard_writer *w, wf_err *err) {
    char name[64];
    wf_shard_name(w->split, w->index, name, sizeof name);
    snprintf(w->path, sizeof w->path, "%s/%s", w->dir, name);
    snprintf(w->tmp, sizeof w->tmp, "%s/%s.tmp", w->dir, name);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) return WF_FAIL(err, WF_EIO, "%s: cannot create: %s", w->tmp, strerror(errno));
    uint8_t zero[WF_SHARD_HEADER_BYTES] = {0}; /* patched at close */
    w->cur_n = 0;
    w->cur_start = w->total;
    w->fnv = FNV_INIT;
    return write_all(w->fd, w->tmp, zero, sizeof zero, err);
}

static wf_status close_shard(wf_shard_writer *w, wf_err *err) {
    wf_status s = flush_buf(w, err);
    if (s) return s;
    uint8_t h[WF_SHARD_HEADER_BYTES] = {0};
    memcpy(h, WF_SHARD_MAGIC, 4);
    put_u32(h + 4, WF_SHARD_VERSION);
    put_u32(h + 8, (uint32_t)w->vocab);
    put_u32(h + 12, (uint32_t)w->dtype);
    put_u64(h + 16, w->cur_n);
    put_u32(h + 24, (uint32_t)w->split);
    put_u32(h + 28, (uint32_t)w->index);
    put_u64(h + 32, w->cur_start);
    put_u64(h + 40, w->fnv);
    if (pwrite(w->fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return WF_FAIL(err, WF_EIO, "%s: header write failed: %s", w->tmp, strerror(errno));
    if (fsync(w->fd) != 0) return WF_FAIL(err, WF_EIO, "%s: fsync failed: %s", w->tmp, strerror(errno));
    int rc = close(w->fd);
    w->fd = -1;
    if (rc != 0) return WF_FAIL(err, WF_EIO, "%s: close failed: %s", w->tmp, strerror(errno));
    if (rename(w->tmp, w->path) != 0)
        return WF_FAIL(err, WF_EIO, "%s: rename to %s failed: %s", w->tmp, w->path, strerror(errno));
    w->index++;
    return WF_OK;
}

wf_status wf_shard_writer_append(wf_shard_writer *w, const int32_t *ids, size_t n, wf_err *err) {
    wf_status s;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= w->vocab)
            return WF_FAIL(err, WF_ERANGE, "%s split: token id %d at position %" PRIu64 " out of range [0, %d)",
                           split_names[w->split], (int)id, w->total, w->vocab);
        if (w->fd < 0 && (s = open_shard(w, err))) return s;
        if (w->used + 4 > WRITE_BUF_BYTES && (s = flush_buf(w, err))) return s;
        uint8_t *p = w->buf + w->used;
        if (w->dtype == 2) {
            p[0] = (uint8_t)id;
            p[1] = (uint8_t)(id >> 8);
        } else {
            put_u32(p, (uint32_t)id);
        }
        w->fnv = fnv1a(w->fnv, p, (size_t)w->dtype);
        w->used += (size_t)w->dtype;
        w->cur_n++;
        w->total++;
        if (w->cur_n == w->shard_tokens && (s = close_shard(w, err))) return s;
    }
    return WF_OK;
}

void wf_shard_writer_abort(wf_shard_writer *w) {
    if (!w) return;
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
    }
    wf_free(NULL, w->buf);
    wf_free(NULL, w->dir);
    wf_free(NULL, w);
}

wf_status wf_shard_writer_finish(wf_shard_writer *w, uint64_t *n_tokens, int *n_shards, wf_err *err) {
    wf_status s = WF_OK;
    if (w->fd >= 0) s = close_shard(w, err);
    if (!s) {
        if (n_tokens) *n_tokens = w->total;
        if (n_shards) *n_shards = w->index;
    }
    wf_shard_writer_abort(w);
    return s;
}

/* ======================================================================== */
/* meta.json                                                                 */

wf_status wf_shards_write_meta(const char *dir, const wf_shards_meta *m, wf_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    char tok[4200] = "";
    if (m->tokenizer) {
        /* JSON-escape the path: backslash and quote; control bytes as \u00XX. */
        size_t k = 0;
        for (const char *c = m->tokenizer; *c && k + 8 < sizeof tok; c++) {
            unsigned char u = (unsigned char)*c;
            if (u == '"' || u == '\\') { tok[k++] = '\\'; tok[k++] = (char)u; }
            else if (u < 0x20) k += (size_t)snprintf(tok + k, sizeof tok - k, "\\u%04x", u);
            else tok[k++] = (char)u;
        }
        tok[k] = 0;
    }
    char ent[64];
    if (m->unigram_entropy_nats >= 0) snprintf(ent, sizeof ent, "%.6f", m->unigram_entropy_nats);
    else snprintf(ent, sizeof ent, "null");
    char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "{\n"
                     "  \"format\": \"wftk\",\n"
                     "  \"version\": %d,\n"
                     "  \"vocab_size\": %d,\n"
                     "  \"eos_id\": %d,\n"
                     "  \"dtype\": \"%s\",\n"
                     "  \"train_tokens\": %" PRIu64 ",\n"
                     "  \"val_tokens\": %" PRIu64 ",\n"
                     "  \"train_shards\": %d,\n"
                     "  \"val_shards\": %d,\n"
                     "  \"tokenizer\": %s%s%s,\n"
                     "  \"val_fraction\": %.6g,\n"
                     "  \"documents\": %" PRIu64 ",\n"
                     "  \"files\": %" PRIu64 ",\n"
                     "  \"skipped_files\": %" PRIu64 ",\n"
                     "  \"skipped_lines\": %" PRIu64 ",\n"
                     "  \"bytes\": %" PRIu64 ",\n"
                     "  \"unigram_entropy_nats\": %s\n"
                     "}\n",
                     WF_SHARD_VERSION, m->vocab_size, m->eos_id, dtype_for(m->vocab_size) == 2 ? "uint16" : "uint32",
                     m->tokens[0], m->tokens[1], m->shards[0], m->shards[1], m->tokenizer ? "\"" : "",
                     m->tokenizer ? tok : "null", m->tokenizer ? "\"" : "", m->val_fraction, m->documents, m->files,
                     m->skipped_files, m->skipped_lines, m->bytes, ent);
    WF_ASSERT(n > 0 && (size_t)n < sizeof buf);
    return wf_file_write_atomic(path, buf, (size_t)n, err);
}

/* ======================================================================== */
/* reader                                                                    */

typedef struct {
    char *path;
    const uint8_t *map; /* whole file, read-only */
    size_t map_len;
    uint64_t n, start;  /* tokens; split position of the first one */
} shard;

struct wf_shards {
    int vocab, eos, dtype;
    double entropy;
    int ns[WF_SPLIT_COUNT];
    shard *sh[WF_SPLIT_COUNT];
    uint64_t count[WF_SPLIT_COUNT];
};

void wf_shards_close(wf_shards *s) {
    if (!s) return;
    for (int k = 0; k < WF_SPLIT_COUNT; k++) {
        for (int i = 0; s->sh[k] && i < s->ns[k]; i++) {
            if (s->sh[k][i].map) munmap((void *)s->sh[k][i].map, s->sh[k][i].map_len);
            wf_free(NULL, s->sh[k][i].path);
        }
        wf_free(NULL, s->sh[k]);
    }
    wf_free(NULL, s);
}

/* A non-negative integer member of meta.json no larger than max. */
static wf_status meta_int(const cJSON *root, const char *path, const char *key, double max, int required,
                          double *out, wf_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (!required) return WF_OK;
        return WF_FAIL(err, WF_ECORRUPT, "%s: key '%s' missing", path, key);
    }
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !(d >= 0 && d <= max) || d != (double)(uint64_t)d)
        return WF_FAIL(err, WF_ECORRUPT, "%s: '%s' must be an integer in [0, %.0f]", path, key, max);
    *out = d;
    return WF_OK;
}

static wf_status map_shard(wf_shards *s, const char *dir, wf_split split, int idx, uint64_t start, shard *sh,
                           wf_err *err) {
    char name[64];
    wf_shard_name(split, idx, name, sizeof name);
    size_t pl = strlen(dir) + strlen(name) + 2;
    sh->path = wf_alloc(NULL, pl, "shard path", err);
    if (!sh->path) return err ? err->code : WF_ENOMEM;
    snprintf(sh->path, pl, "%s/%s", dir, name);
    const char *p = sh->path;
    int fd;
    uint64_t size;
    wf_status fs = wf_file_open_read(p, &fd, &size, err);
    if (fs) {
        size_t l = err ? strlen(err->msg) : 0;
        if (err) snprintf(err->msg + l, sizeof err->msg - l, " (listed in meta.json)");
        return fs;
    }
    if (size < WF_SHARD_HEADER_BYTES) {
        close(fd);
        return WF_FAIL(err, WF_ECORRUPT, "%s: %llu bytes, shorter than the %d-byte header", p,
                       (unsigned long long)size, WF_SHARD_HEADER_BYTES);
    }
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return WF_FAIL(err, WF_EIO, "%s: mmap failed: %s", p, strerror(errno));
    sh->map = m;
    sh->map_len = (size_t)size;
    const uint8_t *h = sh->map;
    if (memcmp(h, WF_SHARD_MAGIC, 4) != 0)
        return WF_FAIL(err, WF_ECORRUPT, "%s: byte 0: bad magic, expected \"WFTK\"", p);
    uint32_t ver = get_u32(h + 4), vocab = get_u32(h + 8), dtype = get_u32(h + 12);
    uint64_t n = get_u64(h + 16), st0 = get_u64(h + 32);
    uint32_t sp = get_u32(h + 24), ix = get_u32(h + 28);
    if (ver != WF_SHARD_VERSION)
        return WF_FAIL(err, WF_ECORRUPT, "%s: byte 4: version %u, expected %d", p, ver, WF_SHARD_VERSION);
    if (vocab != (uint32_t)s->vocab)
        return WF_FAIL(err, WF_ECORRUPT, "%s: byte 8: vocab size %u, expected %d (meta.json)", p, vocab, s->vocab);
    if (dtype != (uint32_t)s->dtype)
        return WF_FAIL(err, WF_ECORRUPT, "%s: byte 12: dtype %u, expected %d", p, dtype, s->dtype);
    if (sp != (uint32_t)split)
        return WF_FAIL(err, WF_ECORRUPT, "%s: byte 24: split %u, expected %d", p, sp, (int)split);
    if (ix != (uint32_t)idx)
        return WF_FAIL(err, WF_ECORRUPT, "%s: byte 28: shard index %u, expected %d", p, ix, idx);
    if (st0 != start)
        return WF_FAIL(err, WF_ECORRUPT, "%s: byte 32: start position %" PRIu64 ", expected %" PRIu64, p, st0, start);
    uint64_t payload = sh->map_len - WF_SHARD_HEADER_BYTES;
    if (n == 0 || n > payload / dtype || n * dtype != payload)
        return WF_FAIL(err, WF_ECORRUPT, "%s: byte 16: %" PRIu64 " tokens, but the file holds %" PRIu64
                       " payload bytes (%u per token)", p, n, payload, dtype);
    /* One sequential pass over the payload (about 1 GB/s: FNV-1a is a chain
    ** of multiplies); the pages it reads are the ones training reads next. */
    madvise((void *)sh->map, sh->map_len, MADV_SEQUENTIAL);
    uint64_t sum = fnv1a(FNV_INIT, h + WF_SHARD_HEADER_BYTES, (size_t)payload);
    madvise((void *)sh->map, sh->map_len, MADV_RANDOM); /* batches read windows anywhere */
    if (sum != get_u64(h + 40))
        return WF_FAIL(err, WF_ECORRUPT, "%s: payload checksum mismatch (file changed after writing, "
                       "or a bad disk): byte 40 says %016" PRIx64 ", the payload gives %016" PRIx64,
                       p, get_u64(h + 40), sum);
    sh->n = n;
    sh->start = start;
    return WF_OK;
}

wf_status wf_shards_open(const char *dir, wf_shards **out, wf_err *err) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    if (!wf_path_is_dir(dir))
        return WF_FAIL(err, WF_EIO, wf_path_exists(dir) ? "%s: not a folder: expected the data folder `wafer tokenize --out` "
                       "wrote (meta.json and shards)" : "%s: no such data folder", dir);
    if (!wf_path_exists(path))
        return WF_FAIL(err, WF_EIO, "%s: missing: not a wafer dataset (make one with 'wafer tokenize'), "
                       "or tokenize did not finish", path);
    char *text = NULL;
    size_t len;
    wf_status st = wf_file_read(NULL, path, &text, &len, err);
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength(text, len);
    wf_free(NULL, text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return WF_FAIL(err, WF_ECORRUPT, "%s: not a JSON object", path);
    }
    wf_shards *s = wf_calloc(NULL, sizeof *s, "shards", err);
    if (!s) {
        cJSON_Delete(root);
        return err ? err->code : WF_ENOMEM;
    }
    s->eos = -1;
    s->entropy = -1;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    double vocab = 0, ver = 0, ntok[2] = {0, 0}, nsh[2] = {0, 0}, eos = -1;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "wftk") != 0) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: 'format' must be \"wftk\"", path);
        goto fail;
    }
    if ((st = meta_int(root, path, "version", 1e9, 1, &ver, err))) goto fail;
    if (ver != WF_SHARD_VERSION) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: version %.0f, expected %d", path, ver, WF_SHARD_VERSION);
        goto fail;
    }
    if ((st = meta_int(root, path, "vocab_size", (double)(1 << 30), 1, &vocab, err))) goto fail;
    if (vocab < 1) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: vocab_size must be at least 1", path);
        goto fail;
    }
    if ((st = meta_int(root, path, "train_tokens", 9007199254740992.0, 1, &ntok[0], err)) ||
        (st = meta_int(root, path, "val_tokens", 9007199254740992.0, 1, &ntok[1], err)) ||
        (st = meta_int(root, path, "train_shards", 1e6, 1, &nsh[0], err)) ||
        (st = meta_int(root, path, "val_shards", 1e6, 1, &nsh[1], err)))
        goto fail;
    const cJSON *eosj = cJSON_GetObjectItemCaseSensitive(root, "eos_id");
    if (!(cJSON_IsNumber(eosj) && eosj->valuedouble == -1) &&
        (st = meta_int(root, path, "eos_id", vocab - 1, 0, &eos, err)))
        goto fail;
    const cJSON *ent = cJSON_GetObjectItemCaseSensitive(root, "unigram_entropy_nats");
    if (cJSON_IsNumber(ent) && ent->valuedouble >= 0) s->entropy = ent->valuedouble;
    s->vocab = (int)vocab;
    s->eos = (int)eos;
    s->dtype = dtype_for(s->vocab);
    for (int k = 0; k < WF_SPLIT_COUNT; k++) {
        int n = (int)nsh[k];
        if (n > 0) {
            s->sh[k] = wf_calloc(NULL, (size_t)n * sizeof(shard), "shard table", err);
            if (!s->sh[k]) {
                st = err ? err->code : WF_ENOMEM;
                goto fail;
            }
        }
        s->ns[k] = n;
        uint64_t pos = 0;
        for (int i = 0; i < n; i++) {
            if ((st = map_shard(s, dir, (wf_split)k, i, pos, &s->sh[k][i], err))) goto fail;
            pos += s->sh[k][i].n;
        }
        if (pos != (uint64_t)ntok[k]) {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: %s_tokens is %.0f, but its %d shards hold %" PRIu64 " tokens",
                         path, split_names[k], ntok[k], n, pos);
            goto fail;
        }
        s->count[k] = pos;
    }
    cJSON_Delete(root);
    *out = s;
    return WF_OK;
fail:
    cJSON_Delete(root);
    wf_shards_close(s);
    return st;
}

int wf_shards_vocab_size(const wf_shards *s) { return s->vocab; }
int wf_shards_eos(const wf_shards *s) { return s->eos; }
uint64_t wf_shards_count(const wf_shards *s, wf_split split) { return s->count[split]; }
int wf_shards_nshards(const wf_shards *s, wf_split split) { return s->ns[split]; }
double wf_shards_unigram_entropy(const wf_shards *s) { return s->entropy; }

/* Index of the shard holding split position pos (pos < count). */
static int find_shard(const wf_shards *s, wf_split split, uint64_t pos) {
    int lo = 0, hi = s->ns[split] - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (s->sh[split][mid].start <= pos) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

wf_status wf_shards_read(const wf_shards *s, wf_split split, uint64_t pos, size_t n, int32_t *out, wf_err *err) {
    if (split < 0 || split >= WF_SPLIT_COUNT) return WF_FAIL(err, WF_EUSAGE, "shards: bad split %d", (int)split);
    uint64_t count = s->count[split];
    if (pos > count || n > count - pos)
        return WF_FAIL(err, WF_ERANGE, "%s split: window [%" PRIu64 ", %" PRIu64 ") passes its end (%" PRIu64
                       " tokens)", split_names[split], pos, pos + (uint64_t)n, count);
    if (n == 0) return WF_OK;
    int i = find_shard(s, split, pos);
    size_t done = 0;
    while (done < n) {
        const shard *sh = &s->sh[split][i];
        uint64_t off = pos + done - sh->start;
        size_t take = (size_t)(sh->n - off);
        if (take > n - done) take = n - done;
        const uint8_t *p = sh->map + WF_SHARD_HEADER_BYTES + off * (uint64_t)s->dtype;
        for (size_t j = 0; j < take; j++) {
            uint32_t v = s->dtype == 2 ? (uint32_t)p[2 * j] | (uint32_t)p[2 * j + 1] << 8 : get_u32(p + 4 * j);
            if (v >= (uint32_t)s->vocab)
                return WF_FAIL(err, WF_ECORRUPT, "%s: byte %" PRIu64 ": token %u out of range [0, %d)", sh->path,
                               (uint64_t)WF_SHARD_HEADER_BYTES + (off + j) * (uint64_t)s->dtype, v, s->vocab);
            out[done + j] = (int32_t)v;
        }
        done += take;
        i++;
    }
    return WF_OK;
}

/* The window of T+1 tokens whose start a generator seeded with key draws. */
static wf_status window(const wf_shards *s, wf_split split, uint64_t key, int T, int32_t *x, wf_err *err) {
    uint64_t w = (uint64_t)T + 1, span = s->count[split] - w + 1; /* number of possible start positions */
    wf_rng r;
    wf_rng_seed(&r, key);
    return wf_shards_read(s, split, wf_rng_next(&r) % span, (size_t)w, x, err);
}

static wf_status check_args(const wf_shards *s, wf_split split, int row0, int B, int T, wf_err *err) {
    if (split < 0 || split >= WF_SPLIT_COUNT || B < 0 || T < 1 || row0 < 0)
        return WF_FAIL(err, WF_EUSAGE, "shards batch: bad arguments (split %d, row0 %d, B %d, T %d)", (int)split,
                       row0, B, T);
    if (s->count[split] < (uint64_t)T + 1)
        return WF_FAIL(err, WF_ESHAPE, "%s split has %" PRIu64 " tokens, need at least T+1 = %" PRIu64
                       " for one sequence", split_names[split], s->count[split], (uint64_t)T + 1);
    return WF_OK;
}

wf_status wf_shards_batch(const wf_shards *s, wf_split split, uint64_t seed, uint64_t step, int row0, int B, int T,
                          int32_t *x, wf_err *err) {
    wf_status st = check_args(s, split, row0, B, T, err);
    for (int b = 0; b < B && !st; b++) {
        uint64_t key = seed ^ 0x5745414645520000ull; /* "WAFER" */
        key = wf_splitmix64(&key) ^ step;
        key = wf_splitmix64(&key) ^ (uint64_t)(row0 + b);
        st = window(s, split, key, T, x + (size_t)b * ((size_t)T + 1), err);
    }
    return st;
}

wf_status wf_shards_seqs(const wf_shards *s, wf_split split, uint64_t seed, uint64_t g0, int n, int T, int32_t *x,
                         wf_err *err) {
    wf_status st = check_args(s, split, 0, n, T, err);
    for (int i = 0; i < n && !st; i++) {
        uint64_t key = seed ^ 0x5745464553455100ull; /* "WAFSEQ" */
        key = wf_splitmix64(&key) ^ (g0 + (uint64_t)i);
        key = wf_splitmix64(&key);
        st = window(s, split, key, T, x + (size_t)i * ((size_t)T + 1), err);
    }
    return st;
}

wf_status wf_shards_verify(const wf_shards *s, wf_err *err) {
    for (int k = 0; k < WF_SPLIT_COUNT; k++)
        for (int i = 0; i < s->ns[k]; i++) {
            const shard *sh = &s->sh[k][i];
            const uint8_t *p = sh->map + WF_SHARD_HEADER_BYTES;
            size_t bytes = (size_t)(sh->n * (uint64_t)s->dtype);
            if (fnv1a(FNV_INIT, p, bytes) != get_u64(sh->map + 40))
                return WF_FAIL(err, WF_ECORRUPT, "%s: payload checksum mismatch (file changed after writing)",
                               sh->path);
            for (uint64_t j = 0; j < sh->n; j++) {
                uint32_t v = s->dtype == 2 ? (uint32_t)p[2 * j] | (uint32_t)p[2 * j + 1] << 8 : get_u32(p + 4 * j);
                if (v >= (uint32_t)s->vocab)
                    return WF_FAIL(err, WF_ECORRUPT, "%s: byte %" PRIu64 ": token %u out of range [0, %d)",
                                   sh->path, (uint64_t)WF_SHARD_HEADER_BYTES + j * (uint64_t)s->dtype, v, s->vocab);
            }
        }
    return WF_OK;
}
