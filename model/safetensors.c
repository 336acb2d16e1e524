/* safetensors.c — the safetensors reader (header validation with cJSON, data
** read with pread or from memory, F16/BF16 widening) and the F32 writer.
** Format table in safetensors.h. The file is never trusted: every length and
** offset is checked against the real size before it is used. */
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* safetensors' own reader caps the header at 100 MB (huggingface/safetensors
** MAX_HEADER_SIZE); a real header is a few hundred bytes per tensor. */
#define MAX_HEADER_BYTES (100u * 1000u * 1000u)
#define MAX_NAME_BYTES 1024
/* Offsets arrive as JSON doubles: only integers below 2^53 are exact. */
#define MAX_EXACT_INT 9007199254740992.0

static const struct { const char *name; size_t size; } dtypes[WF_DT_COUNT] = {
    [WF_DT_F32] = {"F32", 4}, [WF_DT_F16] = {"F16", 2},  [WF_DT_BF16] = {"BF16", 2},
    [WF_DT_F64] = {"F64", 8}, [WF_DT_I64] = {"I64", 8},  [WF_DT_I32] = {"I32", 4},
    [WF_DT_I16] = {"I16", 2}, [WF_DT_I8] = {"I8", 1},    [WF_DT_U8] = {"U8", 1},
    [WF_DT_BOOL] = {"BOOL", 1},
};

const char *wf_dtype_name(wf_dtype d) { return (unsigned)d < WF_DT_COUNT ? dtypes[d].name : "?"; }
size_t wf_dtype_size(wf_dtype d) { return (unsigned)d < WF_DT_COUNT ? dtypes[d].size : 0; }

/* IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void wf_dtype_to_f32(wf_dtype d, const void *src, float *dst, size_t n) {
    const uint8_t *p = src;
    switch (d) {
    case WF_DT_F32: memcpy(dst, src, n * 4); break; /* host is little-endian (asserted at open) */
    case WF_DT_F16:
        for (size_t i = 0; i < n; i++) dst[i] = half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    case WF_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
            memcpy(&dst[i], &bits, 4);
        }
        break;
    default: WF_ASSERT(!"wf_dtype_to_f32: dtype not widenable");
    }
}

typedef struct {
    wf_tensor_desc d;
    uint64_t begin, end; /* bytes within the data area */
} st_tensor;

struct wf_safetensors {
    wf_heap *heap;
    char path[512];      /* for messages */
    int fd;              /* -1 for a memory source */
    const uint8_t *mem;  /* memory source, borrowed */
    uint64_t file_size;  /* bytes */
    uint64_t data_start; /* 8 + header length */
    int n;
    st_tensor *t;        /* [n], names allocated from heap */
};

static int host_is_le(void) {
    uint16_t x = 1;
    uint8_t b;
    memcpy(&b, &x, 1);
    return b == 1;
}

/* Reads n bytes at off of the source; a short read means the file shrank. */
static wf_status src_read(const wf_safetensors *s, uint64_t off, void *dst, size_t n, const char *what,
                          wf_err *err) {
    if (off > s->file_size || n > s->file_size - off)
        return WF_FAIL(err, WF_ECORRUPT, "%s: %s: bytes [%llu, %llu) lie past the end of the file (%llu bytes)",
                       s->path, what, (unsigned long long)off, (unsigned long long)(off + n),
                       (unsigned long long)s->file_size);
    if (s->mem) {
        memcpy(dst, s->mem + off, n);
        return WF_OK;
    }
    uint8_t *p = dst;
    while (n) {
        ssize_t r = pread(s->fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return WF_FAIL(err, WF_EIO, "%s: %s: read at byte %llu failed: %s", s->path, what,
                                  (unsigned long long)off, strerror(errno));
        if (r == 0) return WF_FAIL(err, WF_ECORRUPT, "%s: %s: file truncated at byte %llu", s->path, what,
                                   (unsigned long long)off);
        p += r; off += (uint64_t)r; n -= (size_t)r;
    }
    return WF_OK;
}

void wf_safetensors_close(wf_safetensors *s) {
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    if (s->t)
        for (int i = 0; i < s->n; i++) wf_free(s->heap, (void *)s->t[i].d.name);
    wf_free(s->heap, s->t);
    wf_free(s->heap, s);
}

static int cmp_begin(const void *a, const void *b) {
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(st_tensor *const *)a)->d.name, (*(st_tensor *const *)b)->d.name);
}

/* A JSON number that is a non-negative integer below 2^53. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double x = v->valuedouble;
    if (!(x >= 0 && x < MAX_EXACT_INT) || x != (double)(uint64_t)x) return 0;
    *out = (uint64_t)x;
    return 1;
}

/* Parses one tensor entry into *t (name already set). */
static wf_status parse_entry(const wf_safetensors *s, const cJSON *e, st_tensor *t, uint64_t data_size,
                             wf_err *err) {
    const char *nm = t->d.name;
    if (!cJSON_IsObject(e))
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': entry is not a JSON object, expected "
                       "{\"dtype\", \"shape\", \"data_offsets\"}", s->path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': missing or non-string dtype, expected a string "
                       "such as \"F32\"", s->path, nm);
    int k = 0;
    while (k < WF_DT_COUNT && strcmp(dt->valuestring, dtypes[k].name)) k++;
    if (k == WF_DT_COUNT)
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': dtype '%.32s' is not supported, expected F32, "
                       "F16 or BF16", s->path, nm, dt->valuestring);
    t->d.dtype = (wf_dtype)k;
    if (!cJSON_IsArray(sh))
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': missing or non-array shape, expected a list of "
                       "dimensions", s->path, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > WF_TENSOR_MAX_DIMS)
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': %d dimensions, expected at most %d", s->path, nm,
                       nd, WF_TENSOR_MAX_DIMS);
    t->d.ndim = nd;
    uint64_t numel = 1;
    int overflow = 0;
    const cJSON *x;
    int i = 0;
    cJSON_ArrayForEach(x, sh) {
        uint64_t v;
        if (!json_uint(x, &v))
            return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': shape[%d] is not a non-negative integer, "
                           "expected one", s->path, nm, i);
        t->d.shape[i++] = (long long)v;
        if (v && numel > UINT64_MAX / v) overflow = 1;
        numel *= v;
    }
    t->d.numel = numel;
    uint64_t esz = dtypes[k].size;
    if (overflow || numel > UINT64_MAX / esz)
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': shape too large, expected at most %llu bytes",
                       s->path, nm, (unsigned long long)data_size);
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || !json_uint(of->child, &t->begin) ||
        !json_uint(of->child->next, &t->end))
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': bad data_offsets, expected [begin, end] with "
                       "non-negative integers", s->path, nm);
    if (t->begin <= t->end && t->end > data_size) /* the header is whole, the data is not */
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': data_offsets [%llu, %llu] past the end of the data "
                       "area (%llu bytes): the file is truncated (an interrupted copy or download?)", s->path, nm,
                       (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data_size);
    if (t->begin > t->end)
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': data_offsets [%llu, %llu] out of range, expected "
                       "begin <= end <= %llu (data area size)", s->path, nm, (unsigned long long)t->begin,
                       (unsigned long long)t->end, (unsigned long long)data_size);
    if (t->end - t->begin != numel * esz)
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': data_offsets span %llu bytes, expected %llu "
                       "(%llu elements of %s)", s->path, nm, (unsigned long long)(t->end - t->begin),
                       (unsigned long long)(numel * esz), (unsigned long long)numel, dtypes[k].name);
    return WF_OK;
}

/* Parses and validates the header of an opened source. */
static wf_status parse_header(wf_safetensors *s, wf_err *err) {
    wf_status st;
    char *hdr = NULL;
    cJSON *j = NULL;
    st_tensor **order = NULL;
    if (s->file_size < 8)
        return WF_FAIL(err, WF_ECORRUPT, "%s: file is %llu bytes, expected at least 8 (header length)", s->path,
                       (unsigned long long)s->file_size);
    uint8_t lenb[8];
    if ((st = src_read(s, 0, lenb, 8, "header length", err))) return st;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | lenb[i];
    if (hlen > s->file_size - 8)
        return WF_FAIL(err, WF_ECORRUPT, "%s: header length %llu exceeds file size %llu", s->path,
                       (unsigned long long)hlen, (unsigned long long)s->file_size);
    if (hlen > MAX_HEADER_BYTES || hlen < 2)
        return WF_FAIL(err, WF_ECORRUPT, "%s: header length %llu, expected 2 to %u bytes", s->path,
                       (unsigned long long)hlen, MAX_HEADER_BYTES);
    s->data_start = 8 + hlen;
    uint64_t data_size = s->file_size - s->data_start;
    hdr = wf_alloc(s->heap, (size_t)hlen + 1, "safetensors header", err);
    if (!hdr) return WF_ENOMEM;
    if ((st = src_read(s, 8, hdr, (size_t)hlen, "header", err))) goto done;
    hdr[hlen] = 0;
    if (memchr(hdr, 0, (size_t)hlen)) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: header holds a NUL byte at byte %ld, expected JSON text", s->path,
                     8 + (long)((char *)memchr(hdr, 0, (size_t)hlen) - hdr));
        goto done;
    }
    const char *end = NULL;
    j = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= hdr && at <= hdr + hlen ? 8 + (long)(at - hdr) : -1;
        st = WF_FAIL(err, WF_ECORRUPT, "%s: header: invalid JSON near byte %ld, expected a JSON object",
                     s->path, off);
        goto done;
    }
    for (const char *p = end; p && p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: header: trailing bytes after the JSON object at byte %ld, "
                         "expected space padding", s->path, 8 + (long)(p - hdr));
            goto done;
        }
    if (!cJSON_IsObject(j)) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: header: JSON is not an object, expected {name: tensor, ...}",
                     s->path);
        goto done;
    }
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) if (!e->string || strcmp(e->string, "__metadata__")) n++;
    s->t = wf_calloc(s->heap, (size_t)(n ? n : 1) * sizeof *s->t, "safetensors index", err);
    if (!s->t) { st = WF_ENOMEM; goto done; }
    cJSON_ArrayForEach(e, j) {
        if (e->string && !strcmp(e->string, "__metadata__")) continue; /* free-form strings: ignored */
        const char *nm = e->string ? e->string : "";
        size_t nl = strlen(nm);
        if (nl == 0 || nl >= MAX_NAME_BYTES) {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: header: tensor name of %zu bytes, expected 1 to %d", s->path,
                         nl, MAX_NAME_BYTES - 1);
            goto done;
        }
        st_tensor *t = &s->t[s->n];
        char *name = wf_alloc(s->heap, nl + 1, "tensor name", err);
        if (!name) { st = WF_ENOMEM; goto done; }
        memcpy(name, nm, nl + 1);
        t->d.name = name;
        s->n++;
        if ((st = parse_entry(s, e, t, data_size, err))) goto done;
    }
    /* Duplicates and overlaps: sort pointers by name, then by offset. */
    if (s->n > 1) {
        order = wf_alloc(s->heap, (size_t)s->n * sizeof *order, "safetensors order", err);
        if (!order) { st = WF_ENOMEM; goto done; }
        for (int i = 0; i < s->n; i++) order[i] = &s->t[i];
        qsort(order, (size_t)s->n, sizeof *order, cmp_name);
        for (int i = 1; i < s->n; i++)
            if (!strcmp(order[i]->d.name, order[i - 1]->d.name)) {
                st = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': appears twice in the header, expected once",
                             s->path, order[i]->d.name);
                goto done;
            }
        qsort(order, (size_t)s->n, sizeof *order, cmp_begin);
        const st_tensor *reach = NULL; /* the non-empty tensor reaching furthest so far */
        for (int i = 0; i < s->n; i++) {
            const st_tensor *b = order[i];
            if (b->end == b->begin) continue; /* empty tensors occupy nothing */
            if (reach && b->begin < reach->end) {
                st = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' "
                             "[%llu, %llu], expected disjoint ranges", s->path, b->d.name,
                             (unsigned long long)b->begin, (unsigned long long)b->end, reach->d.name,
                             (unsigned long long)reach->begin, (unsigned long long)reach->end);
                goto done;
            }
            if (!reach || b->end > reach->end) reach = b;
        }
    }
    st = WF_OK;
done:
    wf_free(s->heap, order);
    cJSON_Delete(j);
    wf_free(s->heap, hdr);
    return st;
}

static wf_status open_common(wf_safetensors *s, wf_safetensors **out, wf_err *err) {
    wf_status st = parse_header(s, err);
    if (st) {
        wf_safetensors_close(s);
        return st;
    }
    *out = s;
    return WF_OK;
}

static wf_safetensors *new_handle(const char *name, wf_heap *h, wf_err *err) {
    WF_ASSERT(host_is_le());
    wf_safetensors *s = wf_calloc(h, sizeof *s, "safetensors handle", err);
    if (!s) return NULL;
    s->heap = h;
    s->fd = -1;
    snprintf(s->path, sizeof s->path, "%s", name);
    return s;
}

wf_status wf_safetensors_open(const char *path, wf_heap *h, wf_safetensors **out, wf_err *err) {
    *out = NULL;
    wf_safetensors *s = new_handle(path, h, err);
    if (!s) return WF_ENOMEM;
    s->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block the open */
    if (s->fd < 0) {
        int e = errno;
        wf_safetensors_close(s);
        return WF_FAIL(err, WF_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat sb;
    if (fstat(s->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        wf_safetensors_close(s);
        return WF_FAIL(err, WF_EIO, "%s: not a regular file, expected a .safetensors file", path);
    }
    s->file_size = (uint64_t)sb.st_size;
    return open_common(s, out, err);
}

wf_status wf_safetensors_open_mem(const char *name, const void *buf, size_t n, wf_heap *h,
                                  wf_safetensors **out, wf_err *err) {
    *out = NULL;
    wf_safetensors *s = new_handle(name, h, err);
    if (!s) return WF_ENOMEM;
    s->mem = buf;
    s->file_size = n;
    return open_common(s, out, err);
}

int wf_safetensors_count(const wf_safetensors *s) { return s->n; }

const wf_tensor_desc *wf_safetensors_tensor(const wf_safetensors *s, int i) {
    WF_ASSERT(i >= 0 && i < s->n);
    return &s->t[i].d;
}

int wf_safetensors_find(const wf_safetensors *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].d.name, name)) return i;
    return -1;
}

wf_status wf_safetensors_read_f32(wf_safetensors *s, int i, float *dst, wf_err *err) {
    WF_ASSERT(i >= 0 && i < s->n);
    const st_tensor *t = &s->t[i];
    wf_dtype d = t->d.dtype;
    if (d != WF_DT_F32 && d != WF_DT_F16 && d != WF_DT_BF16)
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': dtype %s is not supported, expected F32, F16 or "
                       "BF16", s->path, t->d.name, wf_dtype_name(d));
    uint64_t off = s->data_start + t->begin;
    if (d == WF_DT_F32) return src_read(s, off, dst, (size_t)(t->end - t->begin), t->d.name, err);
    /* Narrow types: read the 2n bytes into the back half of dst, then widen front to back
    ** through a stack chunk. Safe in place: after widening elements [0, k+m), the output ends at
    ** byte 4(k+m) <= 2n + 2(k+m), where the first unread input element starts. */
    size_t n = (size_t)t->d.numel;
    uint8_t *tmp = (uint8_t *)dst + 2 * n;
    wf_status st = src_read(s, off, tmp, 2 * n, t->d.name, err);
    if (st) return st;
    uint8_t chunk[4096];
    for (size_t k = 0; k < n; k += sizeof chunk / 2) {
        size_t m = n - k < sizeof chunk / 2 ? n - k : sizeof chunk / 2;
        memcpy(chunk, tmp + 2 * k, 2 * m);
        wf_dtype_to_f32(d, chunk, dst + k, m);
    }
    return WF_OK;
}

/* ---- writer ------------------------------------------------------------ */

typedef struct { char *p; size_t n, cap; int oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = wf_realloc(NULL, b->p, cap, "safetensors header", NULL);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v) {
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_put(b, tmp, (size_t)k);
}

static void sb_json_str(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; sb_put(b, e, 2); }
        else if (c < 0x20) { char e[8]; snprintf(e, sizeof e, "\\u%04x", c); sb_put(b, e, 6); }
        else sb_put(b, (const char *)&c, 1);
    }
    sb_put(b, "\"", 1);
}

wf_status wf_safetensors_write(const char *path, const wf_st_entry *t, int n, wf_err *err) {
    return wf_safetensors_write_fn(path, t, n, NULL, NULL, err);
}

wf_status wf_safetensors_write_fn(const char *path, const wf_st_entry *t, int n, wf_st_data_fn get, void *ud,
                                  wf_err *err) {
    WF_ASSERT(host_is_le());
    sbuf b = {0};
    uint64_t off = 0;
    sb_str(&b, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        WF_ASSERT(t[i].ndim >= 0 && t[i].ndim <= WF_TENSOR_MAX_DIMS);
        uint64_t numel = 1;
        sb_str(&b, ",");
        sb_json_str(&b, t[i].name);
        sb_str(&b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int k = 0; k < t[i].ndim; k++) {
            if (k) sb_str(&b, ",");
            sb_u64(&b, (uint64_t)t[i].shape[k]);
            numel *= (uint64_t)t[i].shape[k];
        }
        sb_str(&b, "],\"data_offsets\":[");
        sb_u64(&b, off);
        sb_str(&b, ",");
        sb_u64(&b, off + 4 * numel);
        sb_str(&b, "]}");
        off += 4 * numel;
    }
    sb_str(&b, "}");
    /* Space padding puts the data area on a 64-byte boundary (the format asks for 8; 64 lets
    ** an mmap reader use aligned SIMD loads on every F32 tensor whose size is a multiple of 16). */
    while (!b.oom && (8 + b.n) % 64) sb_str(&b, " ");
    if (b.oom) {
        wf_free(NULL, b.p);
        return WF_FAIL(err, WF_ENOMEM, "%s: out of memory building the header", path);
    }
    uint8_t lenb[8];
    for (int k = 0; k < 8; k++) lenb[k] = (uint8_t)((uint64_t)b.n >> (8 * k));
    wf_afile *f = NULL;
    wf_status st = wf_afile_open(path, &f, err);
    if (!st) st = wf_afile_write(f, lenb, 8, err);
    if (!st) st = wf_afile_write(f, b.p, b.n, err);
    wf_free(NULL, b.p);
    for (int i = 0; i < n && !st; i++) {
        size_t numel = 1;
        for (int k = 0; k < t[i].ndim; k++) numel *= (size_t)t[i].shape[k];
        const float *data = t[i].data;
        if (!data) st = get(ud, i, &data, err);
        if (!st) st = wf_afile_write(f, data, numel * 4, err);
    }
    if (st) {
        wf_afile_abort(f);
        return st;
    }
    return wf_afile_commit(f, err);
}
