/* test_checkpoint.c — checkpoint I/O against the HF-made fixtures
** (tests/fixtures/models, oracle/make_models.py): every format of a model gives
** the same bits, save -> load round-trips bit-exactly, F16/BF16 widen exactly,
** allocation failures leak nothing, and truncated, corrupt and hostile files
** (generated here under /tmp) fail with the file and the problem named.
** WF_KEEP_SAVED=DIR keeps wafer-saved copies of the fixtures (loaded from the
** .bin where there is one) in DIR/<name> for oracle/roundtrip.py;
** WF_TEST_VERBOSE=1 prints every expected error message. */
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "model/torchbin.h"
#include "tests/check.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#define FIX "tests/fixtures/models"

static char tmp_root[256];

/* ---- helpers ----------------------------------------------------------- */

static void put_file(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    WF_CHECK(f != NULL);
    if (!f) return;
    WF_CHECK_EQ(fwrite(buf, 1, n, f), n);
    fclose(f);
}

static char *get_file(const char *path, size_t *n) {
    char *buf = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_file_read(NULL, path, &buf, n, &e), WF_OK);
    return buf;
}

static void copy_file(const char *src, const char *dst) {
    size_t n = 0;
    char *b = get_file(src, &n);
    if (b) put_file(dst, b, n);
    wf_free(NULL, b);
}

/* A fresh folder under the temp root with tiny-gelu's config.json. */
static void model_dir(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", tmp_root, name);
    wf_err e = {0};
    WF_CHECK_EQ(wf_mkdir_p(out, &e), WF_OK);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", out);
    copy_file(FIX "/tiny-gelu/config.json", p);
}

static float *load_ok(const char *model, wf_gpt_config *c) {
    float *w = NULL;
    wf_err e = {0};
    wf_status s = wf_checkpoint_load(model, NULL, c, &w, &e);
    WF_CHECK_EQ(s, WF_OK);
    if (s) fprintf(stderr, "  load %s: %s\n", model, e.msg);
    return w;
}

/* Loading must fail with code and a message holding both needles. */
static void load_fails(const char *model, wf_status code, const char *needle1, const char *needle2) {
    wf_gpt_config c;
    float *w = (float *)1;
    wf_err e = {0};
    wf_status s = wf_checkpoint_load(model, NULL, &c, &w, &e);
    if (getenv("WF_TEST_VERBOSE")) printf("  [%s] %s\n", wf_status_name(s), e.msg);
    WF_CHECK_EQ(s, code);
    WF_CHECK(w == NULL);
    WF_CHECK_HAS(e.msg, needle1);
    if (needle2) WF_CHECK_HAS(e.msg, needle2);
}

/* The safetensors fixture split into header JSON and data, for mutation. */
typedef struct { cJSON *hdr; char *file; size_t size; uint64_t hlen; } stfile;

static stfile st_read(const char *path) {
    stfile f = {0};
    f.file = get_file(path, &f.size);
    for (int k = 7; k >= 0; k--) f.hlen = f.hlen << 8 | (uint8_t)f.file[k];
    f.hdr = cJSON_ParseWithLength(f.file + 8, (size_t)f.hlen);
    WF_CHECK(f.hdr != NULL);
    return f;
}

static void st_free(stfile *f) {
    cJSON_Delete(f->hdr);
    wf_free(NULL, f->file);
}

/* Writes dir/model.safetensors with header text `hdr` and the fixture's data area. */
static void st_write_raw(const char *dir, const char *hdr, const stfile *f) {
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    size_t hl = strlen(hdr), dl = f->size - 8 - (size_t)f->hlen;
    char *buf = malloc(8 + hl + dl);
    for (int k = 0; k < 8; k++) buf[k] = (char)((uint64_t)hl >> (8 * k));
    memcpy(buf + 8, hdr, hl);
    memcpy(buf + 8 + hl, f->file + 8 + f->hlen, dl);
    put_file(p, buf, 8 + hl + dl);
    free(buf);
}

static void st_write(const char *dir, const stfile *f) {
    char *h = cJSON_PrintUnformatted(f->hdr);
    st_write_raw(dir, h, f);
    cJSON_free(h);
}

static void set_offsets(cJSON *t, double b, double e) {
    cJSON *o = cJSON_GetObjectItem(t, "data_offsets");
    cJSON_SetNumberValue(cJSON_GetArrayItem(o, 0), b);
    cJSON_SetNumberValue(cJSON_GetArrayItem(o, 1), e);
}

static double offset_of(cJSON *t, int k) {
    return cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), k)->valuedouble;
}

/* Copies the zip at src to dst, replacing the entry ending in `suffix` by data
** (n bytes), or dropping it when data is NULL. Entries are stored, as torch does. */
static void rezip_as(const char *src, const char *dst, const char *suffix, const void *data, size_t n,
                     int deflate) {
    int code = 0;
    zip_t *in = zip_open(src, ZIP_RDONLY, &code);
    unlink(dst);
    zip_t *out = zip_open(dst, ZIP_CREATE | ZIP_TRUNCATE, &code);
    WF_CHECK(in && out);
    if (!in || !out) return;
    zip_int64_t ne = zip_get_num_entries(in, 0);
    for (zip_int64_t i = 0; i < ne; i++) {
        const char *nm = zip_get_name(in, (zip_uint64_t)i, 0);
        size_t ln = strlen(nm), ls = strlen(suffix);
        int hit = ln >= ls && !strcmp(nm + ln - ls, suffix);
        void *buf;
        size_t len;
        if (hit) {
            if (!data) continue;
            buf = malloc(n ? n : 1);
            memcpy(buf, data, n);
            len = n;
        } else {
            zip_stat_t sb;
            zip_stat_index(in, (zip_uint64_t)i, 0, &sb);
            buf = malloc(sb.size ? sb.size : 1);
            zip_file_t *zf = zip_fopen_index(in, (zip_uint64_t)i, 0);
            WF_CHECK_EQ(zip_fread(zf, buf, sb.size), (zip_int64_t)sb.size);
            zip_fclose(zf);
            len = (size_t)sb.size;
        }
        zip_source_t *s = zip_source_buffer(out, buf, len, 1);
        zip_int64_t k = zip_file_add(out, nm, s, ZIP_FL_ENC_UTF_8);
        WF_CHECK(k >= 0);
        zip_set_file_compression(out, (zip_uint64_t)k, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
    }
    WF_CHECK_EQ(zip_close(out), 0);
    zip_discard(in);
}

static void rezip(const char *src, const char *dst, const char *suffix, const void *data, size_t n) {
    rezip_as(src, dst, suffix, data, n, 0);
}

/* data.pkl of a fixture .bin, malloc'd. */
static uint8_t *read_pkl(const char *bin, size_t *n) {
    int code = 0;
    zip_t *z = zip_open(bin, ZIP_RDONLY, &code);
    zip_int64_t ne = zip_get_num_entries(z, 0);
    uint8_t *buf = NULL;
    for (zip_int64_t i = 0; i < ne && !buf; i++) {
        const char *nm = zip_get_name(z, (zip_uint64_t)i, 0);
        if (strstr(nm, "/data.pkl")) {
            zip_stat_t sb;
            zip_stat_index(z, (zip_uint64_t)i, 0, &sb);
            buf = malloc(sb.size);
            zip_file_t *zf = zip_fopen_index(z, (zip_uint64_t)i, 0);
            zip_fread(zf, buf, sb.size);
            zip_fclose(zf);
            *n = (size_t)sb.size;
        }
    }
    zip_discard(z);
    return buf;
}

/* Replaces the first occurrence of `from` (nf bytes) by `to` (nt bytes); new malloc'd buffer. */
static uint8_t *splice(const uint8_t *p, size_t n, const void *from, size_t nf, const void *to, size_t nt,
                       size_t *out_n) {
    size_t at = 0;
    while (at + nf <= n && memcmp(p + at, from, nf)) at++;
    WF_CHECK(at + nf <= n);
    if (at + nf > n) at = 0, nf = 0;
    uint8_t *q = malloc(n - nf + nt);
    memcpy(q, p, at);
    memcpy(q + at, to, nt);
    memcpy(q + at + nt, p + at + nf, n - at - nf);
    *out_n = n - nf + nt;
    return q;
}

/* ---- cases -------------------------------------------------------------- */

static void config_of_fixture_matches_hf(void) {
    wf_gpt_config c;
    float *w = load_ok(FIX "/wide-head", &c);
    WF_CHECK_EQ(c.n_layer, 1);
    WF_CHECK_EQ(c.n_embd, 256);
    WF_CHECK_EQ(wf_gpt_head_dim(&c), 128);
    WF_CHECK_EQ(c.n_positions, 300);
    WF_CHECK_EQ(c.act, WF_ACT_GELU);
    wf_free(NULL, w);
    w = load_ok(FIX "/tiny-gelu-new", &c);
    WF_CHECK_EQ(c.act, WF_ACT_GELU_NEW);
    /* The oracle perturbs LayerNorm weights and biases: none is the HF default. */
    if (w) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(&c, wf_gpt_tensor_find(&c, "h.1.ln_2.weight"), &ti);
        WF_CHECK(w[ti.offset] != 1.0f);
        wf_gpt_tensor_info(&c, wf_gpt_tensor_find(&c, "h.1.mlp.c_fc.bias"), &ti);
        WF_CHECK(w[ti.offset] != 0.0f);
    }
    wf_free(NULL, w);
}

/* Every tensor of the .bin equals its namesake in the .safetensors, bit for bit. */
static void safetensors_and_bin_tensors_are_bit_identical(void) {
    const char *models[] = {"tiny-gelu", "tiny-gelu-new", "hub-style"};
    for (int m = 0; m < 3; m++) {
        char ps[256], pb[256];
        snprintf(ps, sizeof ps, FIX "/%s/model.safetensors", models[m]);
        snprintf(pb, sizeof pb, FIX "/%s/pytorch_model.bin", models[m]);
        wf_safetensors *st = NULL;
        wf_torchbin *tb = NULL;
        wf_err e = {0};
        WF_CHECK_EQ(wf_safetensors_open(ps, NULL, &st, &e), WF_OK);
        WF_CHECK_EQ(wf_torchbin_open(pb, NULL, &tb, &e), WF_OK);
        if (!st || !tb) { fprintf(stderr, "  %s\n", e.msg); wf_safetensors_close(st); wf_torchbin_close(tb); continue; }
        int compared = 0;
        for (int i = 0; i < wf_safetensors_count(st); i++) {
            const wf_tensor_desc *d = wf_safetensors_tensor(st, i);
            int j = wf_torchbin_find(tb, d->name);
            WF_CHECK(j >= 0);
            if (j < 0) continue;
            const wf_tensor_desc *d2 = wf_torchbin_tensor(tb, j);
            WF_CHECK_EQ(d2->ndim, d->ndim);
            WF_CHECK_EQ(d2->numel, d->numel);
            WF_CHECK_EQ(d2->dtype, WF_DT_F32);
            float *a = malloc(d->numel * 4 + 4), *b = malloc(d->numel * 4 + 4);
            WF_CHECK_EQ(wf_safetensors_read_f32(st, i, a, &e), WF_OK);
            WF_CHECK_EQ(wf_torchbin_read_f32(tb, j, b, &e), WF_OK);
            WF_CHECK(memcmp(a, b, d->numel * 4) == 0);
            free(a);
            free(b);
            compared++;
        }
        /* .bin has lm_head.weight besides (tied; in hub-style it shares wte's storage). */
        WF_CHECK_EQ(wf_torchbin_count(tb), wf_safetensors_count(st) + 1);
        WF_CHECK(wf_torchbin_find(tb, "lm_head.weight") >= 0);
        WF_CHECK_EQ(compared, wf_safetensors_count(st));
        wf_safetensors_close(st);
        wf_torchbin_close(tb);
    }
}

/* Whole-model loads: .safetensors, .bin, shards and hub-style names agree. */
static void every_format_loads_the_same_weights(void) {
    wf_gpt_config c1, c2;
    char d[300], p[512];
    float *a = load_ok(FIX "/tiny-gelu", &c1);
    model_dir(d, sizeof d, "bin-only");
    snprintf(p, sizeof p, "%s/pytorch_model.bin", d);
    copy_file(FIX "/tiny-gelu/pytorch_model.bin", p);
    float *b = load_ok(d, &c2);
    float *s = load_ok(FIX "/tiny-gelu-sharded", &c2);
    size_t n = wf_gpt_numel(&c1);
    WF_CHECK_EQ(n, 165632);
    WF_CHECK(a && b && memcmp(a, b, n * 4) == 0);
    WF_CHECK(a && s && memcmp(a, s, n * 4) == 0);
    /* hub-style: same weights except that n_positions (and wpe) is cut to 64. */
    float *h = load_ok(FIX "/hub-style", &c2);
    snprintf(d, sizeof d, "%s/hub-bin", tmp_root);
    wf_err e = {0};
    wf_mkdir_p(d, &e);
    snprintf(p, sizeof p, "%s/config.json", d);
    copy_file(FIX "/hub-style/config.json", p);
    snprintf(p, sizeof p, "%s/pytorch_model.bin", d);
    copy_file(FIX "/hub-style/pytorch_model.bin", p);
    float *hb = load_ok(d, &c2);
    WF_CHECK_EQ(c2.n_positions, 64);
    if (a && h && hb) {
        WF_CHECK(memcmp(h, hb, wf_gpt_numel(&c2) * 4) == 0);
        for (int i = 0; i < wf_gpt_tensor_count(&c1); i++) {
            wf_tensor_info t1, t2;
            wf_gpt_tensor_info(&c1, i, &t1);
            wf_gpt_tensor_info(&c2, i, &t2);
            WF_CHECK_STR(t1.name, t2.name);
            size_t cnt = i == 1 ? t2.numel : t1.numel; /* wpe: first 64 rows */
            WF_CHECK(memcmp(a + t1.offset, h + t2.offset, cnt * 4) == 0);
        }
    }
    wf_free(NULL, a);
    wf_free(NULL, b);
    wf_free(NULL, s);
    wf_free(NULL, h);
    wf_free(NULL, hb);
}

static void save_then_load_is_bit_exact(void) {
    wf_gpt_config c, c2;
    float *w = load_ok(FIX "/wide-head", &c);
    char d[300], p[512];
    snprintf(d, sizeof d, "%s/saved/nested", tmp_root);
    wf_err e = {0};
    WF_CHECK_EQ(wf_checkpoint_save(d, &c, w, &e), WF_OK);
    float *r = load_ok(d, &c2);
    WF_CHECK_EQ(c2.n_embd, c.n_embd);
    WF_CHECK_EQ(c2.n_positions, c.n_positions);
    WF_CHECK_EQ(c2.act, c.act);
    WF_CHECK(w && r && memcmp(w, r, wf_gpt_numel(&c) * 4) == 0);
    /* The file as HF expects it: prefixed names, no lm_head, format metadata, aligned data. */
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    wf_safetensors *st = NULL;
    WF_CHECK_EQ(wf_safetensors_open(p, NULL, &st, &e), WF_OK);
    if (st) {
        WF_CHECK_EQ(wf_safetensors_count(st), wf_gpt_tensor_count(&c));
        WF_CHECK(wf_safetensors_find(st, "transformer.h.0.attn.c_attn.weight") >= 0);
        WF_CHECK(wf_safetensors_find(st, "lm_head.weight") < 0);
    }
    wf_safetensors_close(st);
    stfile f = st_read(p);
    WF_CHECK_EQ((8 + f.hlen) % 64, 0);
    char *meta = cJSON_PrintUnformatted(cJSON_GetObjectItem(f.hdr, "__metadata__"));
    WF_CHECK_STR(meta, "{\"format\":\"pt\"}");
    cJSON_free(meta);
    st_free(&f);
    /* A failed write (disk full) leaves the previous file intact. */
    wf_file_fail_write_at(1);
    WF_CHECK(wf_checkpoint_save(d, &c, w, &e) != WF_OK);
    wf_file_fail_write_at(-1);
    float *r2 = load_ok(d, &c2);
    WF_CHECK(w && r2 && memcmp(w, r2, wf_gpt_numel(&c) * 4) == 0);
    wf_free(NULL, w);
    wf_free(NULL, r);
    wf_free(NULL, r2);
}

static void f16_and_bf16_widen_exactly(void) {
    /* 1, -2, 65504 (max), 2^-24 (smallest subnormal), -0, +inf, 2^-14 (smallest normal) */
    const uint16_t h[7] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x0400};
    const float hf[7] = {1.0f, -2.0f, 65504.0f, 5.9604644775390625e-08f, -0.0f, INFINITY, 6.103515625e-05f};
    const uint16_t b[3] = {0x3f80, 0xc0a0, 0x0001}; /* 1, -5, smallest bf16 subnormal */
    const float bf[3] = {1.0f, -5.0f, 9.18354961579912115600575419705e-41f};
    const char *hdr = "{\"a\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[0,14]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[14,20]},"
                      "\"__metadata__\":{\"format\":\"pt\"}}";
    size_t hl = strlen(hdr);
    uint8_t buf[512];
    for (int k = 0; k < 8; k++) buf[k] = (uint8_t)(hl >> (8 * k));
    memcpy(buf + 8, hdr, hl);
    memcpy(buf + 8 + hl, h, 14);
    memcpy(buf + 8 + hl + 14, b, 6);
    wf_safetensors *st = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_safetensors_open_mem("mem.safetensors", buf, 8 + hl + 20, NULL, &st, &e), WF_OK);
    if (!st) return;
    float out[8];
    WF_CHECK_EQ(wf_safetensors_read_f32(st, wf_safetensors_find(st, "a"), out, &e), WF_OK);
    WF_CHECK(memcmp(out, hf, sizeof hf) == 0);
    WF_CHECK_EQ(wf_safetensors_read_f32(st, wf_safetensors_find(st, "b"), out, &e), WF_OK);
    WF_CHECK(memcmp(out, bf, sizeof bf) == 0);
    wf_safetensors_close(st);
}

/* Headers no real writer makes, opened from memory. */
static void hostile_headers_are_rejected(void) {
    static const struct { const char *hdr; const char *want; } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
         "tensor 'a': 9 dimensions, expected at most 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
         "tensor 'a': shape too large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
         "tensor 'a': shape[0] is not a non-negative integer"},
        {"{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor 'a': missing or non-string dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "tensor 'a': missing or non-array shape"},
        {"{\"a\":[]}", "tensor 'a': entry is not a JSON object"},
        {"{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor name of 0 bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "data_offsets [4, 0] out of range"},
        /* the data area holds 4 bytes: a file cut short, said so */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         "mem.safetensors: tensor 'a': data_offsets [0, 8] past the end of the data area (4 bytes): the file is "
         "truncated"},
        {"{}", NULL}, /* no tensors: valid */
        {"{\"__metadata__\":{\"x\":\"y\"},\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", NULL}, /* empty tensor inside */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[512] = {0};
        size_t hl = strlen(cases[i].hdr);
        for (int k = 0; k < 8; k++) buf[k] = (uint8_t)(hl >> (8 * k));
        memcpy(buf + 8, cases[i].hdr, hl);
        wf_safetensors *st = NULL;
        wf_err e = {0};
        wf_status s = wf_safetensors_open_mem("mem.safetensors", buf, 8 + hl + 4, NULL, &st, &e);
        if (cases[i].want) {
            WF_CHECK_EQ(s, WF_ECORRUPT);
            WF_CHECK_HAS(e.msg, "mem.safetensors: ");
            WF_CHECK_HAS(e.msg, cases[i].want);
        } else {
            WF_CHECK_EQ(s, WF_OK);
        }
        wf_safetensors_close(st);
    }
    /* A NUL inside the header, and a header length under 2. */
    uint8_t nul[16] = {6, 0, 0, 0, 0, 0, 0, 0, '{', ' ', 0, ' ', ' ', '}'};
    wf_safetensors *st = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_safetensors_open_mem("nul.safetensors", nul, 14, NULL, &st, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "nul.safetensors: header holds a NUL byte at byte 10");
    nul[0] = 1;
    WF_CHECK_EQ(wf_safetensors_open_mem("one.safetensors", nul, 14, NULL, &st, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "one.safetensors: header length 1, expected 2 to");
}

/* fuzz/seeds/torchbin/views.bin (fuzz/make_seeds.py): a storage shared by two names, a view at
** storage offset 8, a transposed view, F16/BF16 storages, a 0-dim tensor, bool and int64. */
static void bin_views_offsets_and_types(void) {
    wf_torchbin *t = NULL;
    wf_err e = {0};
    const char *p = "fuzz/seeds/torchbin/views.bin";
    WF_CHECK_EQ(wf_torchbin_open(p, NULL, &t, &e), WF_OK);
    if (!t) return;
    float w[24], tied[24], row[4], x[4];
    WF_CHECK_EQ(wf_torchbin_count(t), 9);
    WF_CHECK_EQ(wf_torchbin_read_f32(t, wf_torchbin_find(t, "w"), w, &e), WF_OK);
    WF_CHECK_EQ(wf_torchbin_read_f32(t, wf_torchbin_find(t, "tied"), tied, &e), WF_OK);
    WF_CHECK_EQ(wf_torchbin_read_f32(t, wf_torchbin_find(t, "row"), row, &e), WF_OK);
    WF_CHECK(memcmp(w, tied, sizeof w) == 0);
    WF_CHECK(memcmp(w + 8, row, sizeof row) == 0); /* base[2]: offset 2 rows of 4 */
    WF_CHECK_EQ(wf_torchbin_tensor(t, wf_torchbin_find(t, "row"))->ndim, 1);
    WF_CHECK_EQ(wf_torchbin_read_f32(t, wf_torchbin_find(t, "scalar"), x, &e), WF_OK);
    WF_CHECK_FEQ(x[0], -10000);
    WF_CHECK_EQ(wf_torchbin_tensor(t, wf_torchbin_find(t, "scalar"))->ndim, 0);
    WF_CHECK_EQ(wf_torchbin_read_f32(t, wf_torchbin_find(t, "h"), x, &e), WF_OK);
    WF_CHECK_EQ(wf_torchbin_tensor(t, wf_torchbin_find(t, "h"))->dtype, WF_DT_F16);
    WF_CHECK_EQ(wf_torchbin_tensor(t, wf_torchbin_find(t, "bf"))->dtype, WF_DT_BF16);
    WF_CHECK_EQ(wf_torchbin_read_f32(t, wf_torchbin_find(t, "t"), w, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "tensor 't': strides (1,4) are not contiguous, expected (6,1)");
    WF_CHECK_EQ(wf_torchbin_read_f32(t, wf_torchbin_find(t, "mask"), w, &e), WF_ECORRUPT);
    WF_CHECK_HAS(e.msg, "tensor 'mask': dtype BOOL is not supported");
    WF_CHECK_EQ(wf_torchbin_tensor(t, wf_torchbin_find(t, "idx"))->dtype, WF_DT_I64);
    wf_torchbin_close(t);
    /* The same archive with deflated entries (torch stores them; other writers may not). */
    char z[300];
    snprintf(z, sizeof z, "%s/deflated.bin", tmp_root);
    wf_mkdir_p(tmp_root, &e);
    rezip_as(p, z, "/no-such-entry", NULL, 0, 1);
    WF_CHECK_EQ(wf_torchbin_open(z, NULL, &t, &e), WF_OK);
    if (!t) return;
    WF_CHECK_EQ(wf_torchbin_read_f32(t, wf_torchbin_find(t, "row"), x, &e), WF_OK);
    WF_CHECK(memcmp(w + 8, x, sizeof x) == 0);
    WF_CHECK_EQ(wf_torchbin_read_f32(t, wf_torchbin_find(t, "tied"), tied, &e), WF_OK);
    WF_CHECK(memcmp(w, tied, sizeof tied) == 0);
    wf_torchbin_close(t);
}

/* STYLE 15: fail allocation k = 0, 1, 2 ... until load succeeds; never a leak. */
static void allocation_failures_leak_nothing(void) {
    const char *models[] = {FIX "/tiny-gelu", FIX "/tiny-gelu-sharded", NULL};
    char bin[512];
    snprintf(bin, sizeof bin, "%s/bin-only", tmp_root); /* made by every_format_loads_the_same_weights */
    models[2] = bin;
    for (int m = 0; m < 3; m++) {
        wf_heap *h = wf_heap_new(0);
        int k = 0, ok = 0;
        for (; k < 10000; k++) {
            wf_gpt_config c;
            float *w = NULL;
            wf_err e = {0};
            wf_heap_fail_at(h, k);
            wf_status s = wf_checkpoint_load(models[m], h, &c, &w, &e);
            if (s == WF_OK) {
                ok = 1;
                WF_CHECK(wf_heap_live(h) >= wf_gpt_numel(&c) * 4);
                wf_free(h, w);
                break;
            }
            WF_CHECK_EQ(s, WF_ENOMEM);
            WF_CHECK(w == NULL);
            WF_CHECK_EQ(wf_heap_live(h), 0);
        }
        WF_CHECK(ok);
        WF_CHECK(k > 3); /* the loop did inject failures */
        WF_CHECK_EQ(wf_heap_live(h), 0);
        wf_heap_fail_at(h, -1);
        wf_heap_free(h);
    }
}

static void presets_and_missing_paths(void) {
    wf_gpt_config c;
    const char *src = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_checkpoint_load_config("cerebras-gpt-256m", &c, &src, &e), WF_OK);
    WF_CHECK_EQ(c.n_embd, 1088);
    WF_CHECK_HAS(src, "random");
    WF_CHECK_EQ(wf_checkpoint_load_config(FIX "/tiny-gelu-sharded", &c, &src, &e), WF_OK);
    WF_CHECK_STR(src, "model.safetensors.index.json");
    load_fails("cerebras-gpt-999m", WF_EUSAGE, "cerebras-gpt-999m", "unknown model preset");
    load_fails("/nonexistent/model", WF_EIO, "/nonexistent/model", "no such model folder");
    load_fails(FIX "/README.md", WF_EUSAGE, "README.md", "is a file");
    char d[300], p[512];
    /* A folder without config.json. */
    snprintf(d, sizeof d, "%s/no-config", tmp_root);
    wf_mkdir_p(d, &e);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    copy_file(FIX "/tiny-gelu/model.safetensors", p);
    load_fails(d, WF_EIO, "no-config/config.json", "missing");
    /* config.json that is not JSON. */
    snprintf(p, sizeof p, "%s/config.json", d);
    put_file(p, "{\"n_layer\": 2,, }", 17);
    load_fails(d, WF_ECORRUPT, "no-config/config.json", "invalid JSON");
    /* config.json but no weights. */
    model_dir(d, sizeof d, "no-weights");
    load_fails(d, WF_EIO, "no-weights", "no model weights");
}

static void bad_safetensors_are_rejected_with_the_problem_named(void) {
    char d[300];
    model_dir(d, sizeof d, "bad-st");
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    stfile f = st_read(FIX "/tiny-gelu/model.safetensors");
    if (!f.hdr) return;
    /* Truncations at several cut points. */
    const size_t cuts[] = {0, 5, 8, 9, 8 + (size_t)f.hlen / 2, 8 + (size_t)f.hlen, 8 + (size_t)f.hlen + 1000,
                           f.size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        put_file(path, f.file, cuts[i]);
        const char *why = cuts[i] < 8 ? "expected at least 8"
                          : cuts[i] < 8 + f.hlen ? "exceeds file size"
                                                 : "the file is truncated";
        load_fails(d, WF_ECORRUPT, path, why);
    }
    /* Header length field larger than the file. */
    {
        char *b = malloc(f.size);
        memcpy(b, f.file, f.size);
        memset(b, 0xff, 8);
        put_file(path, b, f.size);
        free(b);
        load_fails(d, WF_ECORRUPT, "header length 18446744073709551615 exceeds file size", path);
    }
    st_write_raw(d, "{\"transformer.wte.weight\": {\"dtype\": \"F32\", ", &f);
    load_fails(d, WF_ECORRUPT, path, "invalid JSON");
    st_write_raw(d, "[1, 2, 3]", &f);
    load_fails(d, WF_ECORRUPT, path, "not an object");
    st_write_raw(d, "{} garbage", &f);
    load_fails(d, WF_ECORRUPT, path, "trailing bytes");

    const char *victim = "transformer.h.0.ln_1.bias", *other = "transformer.h.0.ln_1.weight";
    /* Offsets past the data area. */
    cJSON *t = cJSON_GetObjectItem(f.hdr, victim);
    double b0 = offset_of(t, 0), e0 = offset_of(t, 1);
    set_offsets(t, 1e9, 1e9 + 256);
    st_write(d, &f);
    load_fails(d, WF_ECORRUPT, "tensor 'transformer.h.0.ln_1.bias': data_offsets [1000000000, 1000000256] past the end",
               path);
    /* Overlapping another tensor. */
    double ob = offset_of(cJSON_GetObjectItem(f.hdr, other), 0);
    set_offsets(t, ob + 128, ob + 384);
    st_write(d, &f);
    load_fails(d, WF_ECORRUPT, path, "overlap");
    /* Span disagreeing with shape x dtype. */
    set_offsets(t, b0, e0 - 4);
    st_write(d, &f);
    load_fails(d, WF_ECORRUPT, "data_offsets span 252 bytes, expected 256", path);
    set_offsets(t, b0, e0);
    /* Negative / fractional offsets. */
    set_offsets(t, -8, e0);
    st_write(d, &f);
    load_fails(d, WF_ECORRUPT, path, "bad data_offsets");
    set_offsets(t, b0, e0);
    /* Unsupported dtypes: unknown at parse time, known-but-not-float at read time. */
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("F8_E4M3"));
    st_write(d, &f);
    load_fails(d, WF_ECORRUPT, "tensor 'transformer.h.0.ln_1.bias': dtype 'F8_E4M3' is not supported", path);
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("I32"));
    st_write(d, &f);
    load_fails(d, WF_ECORRUPT, "tensor 'transformer.h.0.ln_1.bias': dtype I32 is not supported", path);
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("F32"));
    /* Shape contradicting the config (same byte count, transposed). */
    cJSON *fc = cJSON_GetObjectItem(f.hdr, "transformer.h.1.mlp.c_fc.weight");
    cJSON *shape = cJSON_GetObjectItem(fc, "shape");
    cJSON_SetNumberValue(cJSON_GetArrayItem(shape, 0), 256);
    cJSON_SetNumberValue(cJSON_GetArrayItem(shape, 1), 64);
    st_write(d, &f);
    load_fails(d, WF_ESHAPE, "tensor 'transformer.h.1.mlp.c_fc.weight': shape [256,64], expected [64,256]", path);
    cJSON_SetNumberValue(cJSON_GetArrayItem(shape, 0), 64);
    cJSON_SetNumberValue(cJSON_GetArrayItem(shape, 1), 256);
    /* Missing tensor. */
    cJSON *gone = cJSON_DetachItemFromObject(f.hdr, "transformer.ln_f.bias");
    st_write(d, &f);
    load_fails(d, WF_ECORRUPT, "tensor 'transformer.ln_f.bias': missing, expected shape [64]", "bad-st");
    cJSON_AddItemToObject(f.hdr, "transformer.ln_f.bias", gone);
    /* The same name twice in the header. */
    cJSON_AddItemToObject(f.hdr, victim, cJSON_Duplicate(t, 1));
    st_write(d, &f);
    load_fails(d, WF_ECORRUPT, "tensor 'transformer.h.0.ln_1.bias': appears twice in the header", path);
    cJSON_DeleteItemFromObject(f.hdr, victim); /* removes the first of the two */
    /* The same parameter under two names (with and without "transformer."). */
    cJSON *moved = cJSON_DetachItemFromObject(f.hdr, victim);
    cJSON_AddItemToObject(f.hdr, "h.0.ln_1.weight", moved);
    st_write(d, &f);
    load_fails(d, WF_ECORRUPT, "appears twice", "h.0.ln_1.weight");
    moved = cJSON_DetachItemFromObject(f.hdr, "h.0.ln_1.weight");
    /* A tensor this config has no place for. */
    cJSON_AddItemToObject(f.hdr, "transformer.h.7.ln_1.bias", moved);
    st_write(d, &f);
    load_fails(d, WF_ECORRUPT, "tensor 'transformer.h.7.ln_1.bias': not a parameter", path);
    moved = cJSON_DetachItemFromObject(f.hdr, "transformer.h.7.ln_1.bias");
    cJSON_AddItemToObject(f.hdr, victim, moved);
    /* Tied lm_head with the wrong shape. */
    cJSON *lm = cJSON_Duplicate(cJSON_GetObjectItem(f.hdr, victim), 1);
    cJSON_AddItemToObject(f.hdr, "lm_head.weight", lm);
    set_offsets(lm, 0, 0);
    cJSON_SetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(lm, "shape"), 0), 0);
    st_write(d, &f);
    load_fails(d, WF_ESHAPE, "tensor 'lm_head.weight': shape [0], expected [512,64] (tied to wte)", path);
    cJSON_DeleteItemFromObject(f.hdr, "lm_head.weight");
    /* After all that the restored header loads again. */
    st_write(d, &f);
    wf_gpt_config c;
    float *w = load_ok(d, &c);
    wf_free(NULL, w);
    st_free(&f);
}

static void bad_shard_index_is_rejected(void) {
    char d[300], p[600];
    model_dir(d, sizeof d, "bad-index");
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", d);
    const char *evil = "{\"weight_map\": {\"transformer.wte.weight\": \"../../etc/passwd\"}}";
    put_file(p, evil, strlen(evil));
    load_fails(d, WF_ECORRUPT, "'../../etc/passwd' is not a plain file name", p);
    const char *missing = "{\"weight_map\": {\"transformer.wte.weight\": \"model-00001-of-00009.safetensors\"}}";
    put_file(p, missing, strlen(missing));
    load_fails(d, WF_EIO, "model-00001-of-00009.safetensors", "cannot open");
    put_file(p, "{\"metadata\": {}}", 16);
    load_fails(d, WF_ECORRUPT, p, "no weight_map");
}

static void bad_bin_files_are_rejected_with_the_problem_named(void) {
    char d[300], path[600];
    model_dir(d, sizeof d, "bad-bin");
    snprintf(path, sizeof path, "%s/pytorch_model.bin", d);
    const char *orig = FIX "/tiny-gelu/pytorch_model.bin";
    size_t n = 0;
    char *zipb = get_file(orig, &n);
    /* Truncated archives (the central directory is at the end). */
    const size_t cuts[] = {0, 100, n / 2, n - 30};
    for (size_t i = 0; i < 4; i++) {
        put_file(path, zipb, cuts[i]);
        load_fails(d, WF_ECORRUPT, path, "zip");
    }
    wf_free(NULL, zipb);
    size_t pn = 0, qn = 0;
    uint8_t *pkl = read_pkl(orig, &pn);
    if (!pkl) return;
    /* An opcode torch.save never emits. */
    uint8_t *q = malloc(pn);
    memcpy(q, pkl, pn);
    q[2] = 0xff;
    rezip(orig, path, "/data.pkl", q, pn);
    load_fails(d, WF_ECORRUPT, "data.pkl: byte 2: opcode 0xff ('?') is not supported", path);
    free(q);
    /* A global outside the allowlist (what a code-running pickle needs). */
    q = splice(pkl, pn, "collections\nOrderedDict\n", 24, "posix\nsystem\n", 13, &qn);
    rezip(orig, path, "/data.pkl", q, qn);
    load_fails(d, WF_ECORRUPT, "GLOBAL 'posix.system' is not allowed", path);
    free(q);
    /* An empty tuple built from MARK on an empty stack, then returned (fuzzer find: UB on NULL + 0). */
    rezip(orig, path, "/data.pkl", "\x80\x02(t.", 5);
    load_fails(d, WF_ECORRUPT, "data.pkl: top-level object is not a dict", path);
    /* Two entries with one name. */
    q = splice(pkl, pn, "transformer.wpe.weight", 22, "transformer.wte.weight", 22, &qn);
    rezip(orig, path, "/data.pkl", q, qn);
    load_fails(d, WF_ECORRUPT, "tensor 'transformer.wte.weight': appears twice in the state dict", path);
    free(q);
    /* Pickle cut in half. */
    rezip(orig, path, "/data.pkl", pkl, pn / 2);
    load_fails(d, WF_ECORRUPT, path, "data.pkl: byte");
    /* No data.pkl at all. */
    rezip(orig, path, "/data.pkl", NULL, 0);
    load_fails(d, WF_ECORRUPT, path, "no <prefix>/data.pkl");
    /* A storage shorter than the pickle says. */
    rezip(orig, path, "/data/3", "abcd", 4);
    load_fails(d, WF_ECORRUPT, "storage 'pytorch_model/data/3' is 4 bytes, expected", path);
    /* A storage missing. */
    rezip(orig, path, "/data/3", NULL, 0);
    load_fails(d, WF_ECORRUPT, "storage entry 'pytorch_model/data/3' missing", path);
    free(pkl);
    /* Non-contiguous: wte's strides (64, 1) turned into (1, 64). */
    const char *hub = FIX "/hub-style/pytorch_model.bin";
    pkl = read_pkl(hub, &pn);
    const uint8_t from[] = {'K', 64, 'K', 1, 0x86}, to[] = {'K', 1, 'K', 64, 0x86};
    q = splice(pkl, pn, from, sizeof from, to, sizeof to, &qn);
    rezip(hub, path, "/data.pkl", q, qn);
    /* same folder; hub-style's config (n_positions 64) */
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/config.json", d);
    copy_file(FIX "/hub-style/config.json", cfg);
    load_fails(d, WF_ECORRUPT, "tensor 'wte.weight': strides (1,64) are not contiguous, expected (64,1)", path);
    free(q);
    free(pkl);
}

/* Loading must fail with code and exactly msg. */
static void load_fails_exact(const char *model, wf_status code, const char *msg) {
    wf_gpt_config c;
    float *w = (float *)1;
    wf_err e = {0};
    WF_CHECK_EQ(wf_checkpoint_load(model, NULL, &c, &w, &e), code);
    WF_CHECK(w == NULL);
    WF_CHECK_STR(e.msg, msg);
}

/* Issue 17: names that cannot be followed say why, a FIFO does not block the
** open, and a config.json-only folder trains from scratch but does not serve. */
static void unreadable_names_and_config_only_folders(void) {
    char d[300], p[600], m[1200];
    model_dir(d, sizeof d, "symlink-loop");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    WF_CHECK_EQ(symlink(p, p), 0);
    snprintf(m, sizeof m, "%s: cannot open: Too many levels of symbolic links", p);
    load_fails_exact(d, WF_EIO, m);

    model_dir(d, sizeof d, "dangling-config");
    snprintf(p, sizeof p, "%s/config.json", d);
    unlink(p);
    WF_CHECK_EQ(symlink("/nonexistent/config.json", p), 0);
    snprintf(m, sizeof m, "%s: cannot open: dangling symbolic link", p);
    load_fails_exact(d, WF_EIO, m);

    model_dir(d, sizeof d, "fifo-st");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    WF_CHECK_EQ(mkfifo(p, 0600), 0);
    snprintf(m, sizeof m, "%s: not a regular file, expected a .safetensors file", p);
    load_fails_exact(d, WF_EIO, m);

    model_dir(d, sizeof d, "fifo-bin");
    snprintf(p, sizeof p, "%s/pytorch_model.bin", d);
    WF_CHECK_EQ(mkfifo(p, 0600), 0);
    snprintf(m, sizeof m, "%s: not a regular file, expected a pytorch_model.bin zip archive", p);
    load_fails_exact(d, WF_EIO, m);

    model_dir(d, sizeof d, "config-only");
    snprintf(m, sizeof m, "%s: no model weights, expected model.safetensors, model.safetensors.index.json or "
             "pytorch_model.bin (only config.json: train --model starts it from random weights)", d);
    load_fails_exact(d, WF_EIO, m);
    wf_gpt_config c;
    const char *src = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_checkpoint_load_config(d, &c, &src, &e), WF_OK);
    WF_CHECK_STR(src, "none (config.json only: random weights when training, seed --seed)");
    float *w = NULL;
    WF_CHECK_EQ(wf_checkpoint_load_or_init(d, 77, NULL, &c, &w, &e), WF_OK);
    if (!w) return;
    float *want = malloc(wf_gpt_numel(&c) * sizeof(float));
    wf_gpt_init_random(&c, want, 77);
    WF_CHECK(memcmp(w, want, wf_gpt_numel(&c) * sizeof(float)) == 0);
    WF_CHECK(want[0] != 0.0f);
    free(want);
    wf_free(NULL, w);
    /* With weights present, the seed plays no part. */
    float *a = load_ok(FIX "/tiny-gelu", &c);
    WF_CHECK_EQ(wf_checkpoint_load_or_init(FIX "/tiny-gelu", 77, NULL, &c, &w, &e), WF_OK);
    WF_CHECK(a && w && memcmp(a, w, wf_gpt_numel(&c) * sizeof(float)) == 0);
    wf_free(NULL, a);
    wf_free(NULL, w);
}

/* Issue 17: a flipped byte inside a stored (uncompressed) storage is caught by
** the CRC-32 on load, however the tensor is read. */
static void bin_crc_is_verified_on_load(void) {
    char d[300], path[600];
    model_dir(d, sizeof d, "bad-crc");
    snprintf(path, sizeof path, "%s/pytorch_model.bin", d);
    const char *orig = FIX "/tiny-gelu/pytorch_model.bin";
    int code = 0;
    zip_t *z = zip_open(orig, ZIP_RDONLY, &code);
    zip_stat_t sb;
    WF_CHECK(z && zip_stat(z, "pytorch_model/data/3", 0, &sb) == 0);
    if (z) zip_discard(z);
    size_t len = (size_t)sb.size;
    uint8_t *pat = malloc(len);
    memset(pat, 0x3c, len); /* 0.0115 as fp32: a recognisable run in the archive */
    rezip(orig, path, "/data/3", pat, len);
    float *w = NULL;
    wf_gpt_config c;
    wf_err e = {0};
    WF_CHECK_EQ(wf_checkpoint_load(d, NULL, &c, &w, &e), WF_OK); /* intact: loads */
    wf_free(NULL, w);
    size_t n = 0;
    char *file = get_file(path, &n);
    uint8_t *at = file ? memmem(file, n, pat, len) : NULL;
    WF_CHECK(at != NULL);
    if (at) {
        uLong want = crc32(0, pat, (uInt)len);
        at[len / 2] ^= 1;
        uLong got = crc32(0, at, (uInt)len);
        put_file(path, file, n);
        char m[900];
        snprintf(m, sizeof m, ": storage '3': CRC-32 %08x, expected %08x from the zip directory (corrupt archive)",
                 (unsigned)got, (unsigned)want);
        load_fails(d, WF_ECORRUPT, path, m);
    }
    wf_free(NULL, file);
    free(pat);
}

/* Saves fixture models as wafer writes them, for oracle/roundtrip.py. */
static void keep_saved_copies(const char *out) {
    const char *names[] = {"tiny-gelu", "tiny-gelu-new", "wide-head"};
    for (int i = 0; i < 3; i++) {
        char src[300], bin[300], dst[600];
        snprintf(src, sizeof src, FIX "/%s", names[i]);
        snprintf(bin, sizeof bin, "%s/bin-src-%s", tmp_root, names[i]);
        snprintf(dst, sizeof dst, "%s/pytorch_model.bin", src);
        if (wf_path_exists(dst)) { /* load from the .bin: the other reader */
            wf_err e = {0};
            wf_mkdir_p(bin, &e);
            char p[600];
            snprintf(p, sizeof p, "%s/pytorch_model.bin", bin);
            copy_file(dst, p);
            snprintf(p, sizeof p, "%s/config.json", bin);
            snprintf(dst, sizeof dst, "%s/config.json", src);
            copy_file(dst, p);
            snprintf(src, sizeof src, "%s", bin);
        }
        wf_gpt_config c;
        float *w = load_ok(src, &c);
        snprintf(dst, sizeof dst, "%s/%s", out, names[i]);
        wf_err e = {0};
        WF_CHECK_EQ(wf_checkpoint_save(dst, &c, w, &e), WF_OK);
        printf("saved %s -> %s\n", src, dst);
        wf_free(NULL, w);
    }
}

static void rm_rf(const char *p) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    WF_CHECK_EQ(system(cmd), 0);
}

int main(void) {
    if (!wf_path_is_dir(FIX "/tiny-gelu")) {
        fprintf(stderr, "run from the repository root: %s/tiny-gelu not found\n", FIX);
        return 1;
    }
    snprintf(tmp_root, sizeof tmp_root, "/tmp/wf_test_checkpoint_%d", (int)getpid());
    rm_rf(tmp_root);
    config_of_fixture_matches_hf();
    safetensors_and_bin_tensors_are_bit_identical();
    every_format_loads_the_same_weights();
    save_then_load_is_bit_exact();
    f16_and_bf16_widen_exactly();
    bin_views_offsets_and_types();
    hostile_headers_are_rejected();
    allocation_failures_leak_nothing();
    presets_and_missing_paths();
    bad_safetensors_are_rejected_with_the_problem_named();
    bad_shard_index_is_rejected();
    bad_bin_files_are_rejected_with_the_problem_named();
    unreadable_names_and_config_only_folders();
    bin_crc_is_verified_on_load();
    if (getenv("WF_KEEP_SAVED")) keep_saved_copies(getenv("WF_KEEP_SAVED"));
    rm_rf(tmp_root);
    return wf_check_report();
}
