/* torchbin.c — pytorch_model.bin: libzip for the archive, a bounded pickle
** machine for data.pkl (only what torch.save emits for a state dict; see
** torchbin.h), and storage reads with offset and widening. Objects live in one
** value pool addressed by index; dicts and lists are ids whose items sit in an
** entry table, so nothing is ever executed or built outside these arrays. */
#include "model/torchbin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

/* Bounds for hostile pickles. A state dict of a 13B model has ~500 tensors and
** needs ~20 values per tensor; these leave room by orders of magnitude. */
#define MAX_PKL_BYTES (256u << 20)
#define MAX_VALUES (1u << 22)
#define MAX_STACK (1u << 16)
#define MAX_MARKS 256
#define MAX_MEMO (1u << 22)
#define MAX_TENSORS (1u << 20)
#define MAX_KEY_BYTES 256

enum { K_NONE, K_BOOL, K_INT, K_STR, K_TUPLE, K_DICT, K_LIST, K_GLOBAL, K_STORAGE, K_TENSOR };

/* Globals we accept: the callables torch.save needs, and storage types. */
enum { G_ODICT, G_REBUILD, G_STORAGE0 };
static const struct { const char *name; wf_dtype dt; } storages[] = {
    {"FloatStorage", WF_DT_F32}, {"HalfStorage", WF_DT_F16}, {"BFloat16Storage", WF_DT_BF16},
    {"DoubleStorage", WF_DT_F64}, {"LongStorage", WF_DT_I64}, {"IntStorage", WF_DT_I32},
    {"ShortStorage", WF_DT_I16}, {"CharStorage", WF_DT_I8}, {"ByteStorage", WF_DT_U8},
    {"BoolStorage", WF_DT_BOOL},
};
#define NSTORAGES ((int)(sizeof storages / sizeof storages[0]))

typedef struct {
    uint8_t kind;
    uint32_t a, b; /* STR: offset, length in pkl; TUPLE: first kid, count; STORAGE: key value */
    int64_t i;     /* INT/BOOL value; DICT/LIST id; GLOBAL id; STORAGE numel; TENSOR index */
    int64_t j;     /* STORAGE: dtype */
} pval;

typedef struct { uint32_t container, key, val; } pentry; /* key = UINT32_MAX for lists */

typedef struct {
    wf_tensor_desc d;
    char key[MAX_KEY_BYTES]; /* storage key */
    int64_t zindex;          /* zip entry of the storage */
    uint64_t offset;         /* elements into the storage */
    long long stride[WF_TENSOR_MAX_DIMS];
} tb_tensor;

struct wf_torchbin {
    wf_heap *heap;
    char path[512];
    zip_t *zip;
    char prefix[256];
    int n;
    tb_tensor *t; /* [n]; names from heap */
    uint8_t *crc_ok; /* [zip entries]: 1 once a storage has been streamed whole and its CRC-32 matched */
};

/* ---- growable arrays on the heap ------------------------------------------ */

typedef struct {
    wf_heap *h;
    const char *path;
    const uint8_t *p; /* the pickle */
    size_t len, pos, op_at;
    pval *vals; uint32_t nvals, capvals;
    uint32_t *kids; uint32_t nkids, capkids;
    pentry *ents; uint32_t nents, capents;
    uint32_t *stack; uint32_t sp, capstack;
    uint32_t marks[MAX_MARKS]; int nmarks;
    uint32_t *memo; uint32_t capmemo; /* value index + 1; 0 = empty */
    uint32_t ncont;                   /* dict/list ids handed out */
    tb_tensor *tens; uint32_t ntens, captens;
    wf_err *err;
} vm;

static wf_status grow(vm *m, void **arr, uint32_t *cap, uint32_t need, size_t elem, uint32_t max,
                      const char *what) {
    if (need <= *cap) return WF_OK;
    if (need > max)
        return WF_FAIL(m->err, WF_ECORRUPT, "%s: data.pkl: byte %zu: more than %u %s, expected fewer", m->path,
                       m->op_at, max, what);
    uint32_t c = *cap ? *cap : 64;
    while (c < need) c = c > max / 2 ? max : c * 2;
    void *q = wf_realloc(m->h, *arr, (size_t)c * elem, what, m->err);
    if (!q) return WF_ENOMEM;
    *arr = q;
    *cap = c;
    return WF_OK;
}

static void vm_free(vm *m) {
    wf_free(m->h, m->vals);
    wf_free(m->h, m->kids);
    wf_free(m->h, m->ents);
    wf_free(m->h, m->stack);
    wf_free(m->h, m->memo);
    wf_free(m->h, m->tens);
}

#define BAD(...) WF_FAIL(m->err, WF_ECORRUPT, __VA_ARGS__)

static wf_status new_val(vm *m, pval v, uint32_t *idx) {
    wf_status s = grow(m, (void **)&m->vals, &m->capvals, m->nvals + 1, sizeof(pval), MAX_VALUES, "values");
    if (s) return s;
    m->vals[m->nvals] = v;
    *idx = m->nvals++;
    return WF_OK;
}

static wf_status push(vm *m, uint32_t idx) {
    wf_status s = grow(m, (void **)&m->stack, &m->capstack, m->sp + 1, sizeof(uint32_t), MAX_STACK, "stack slots");
    if (s) return s;
    m->stack[m->sp++] = idx;
    return WF_OK;
}

static wf_status push_new(vm *m, pval v) {
    uint32_t idx;
    wf_status s = new_val(m, v, &idx);
    return s ? s : push(m, idx);
}

static uint32_t floor_sp(const vm *m) { return m->nmarks ? m->marks[m->nmarks - 1] : 0; }

static wf_status pop(vm *m, uint32_t *idx, const char *op) {
    if (m->sp <= floor_sp(m))
        return BAD("%s: data.pkl: byte %zu: %s on an empty stack, expected a value", m->path, m->op_at, op);
    *idx = m->stack[--m->sp];
    return WF_OK;
}

static wf_status need(vm *m, size_t n) {
    if (n > m->len - m->pos)
        return BAD("%s: data.pkl: byte %zu: pickle truncated, expected %zu more bytes", m->path, m->op_at, n);
    return WF_OK;
}

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

/* Builds a tuple from stack[from, sp) and replaces those slots with it. */
static wf_status make_tuple(vm *m, uint32_t from) {
    uint32_t cnt = m->sp - from;
    wf_status s = grow(m, (void **)&m->kids, &m->capkids, m->nkids + cnt, sizeof(uint32_t), MAX_VALUES, "tuple items");
    if (s) return s;
    if (cnt) memcpy(m->kids + m->nkids, m->stack + from, cnt * sizeof(uint32_t)); /* both NULL while empty */
    pval v = {.kind = K_TUPLE, .a = m->nkids, .b = cnt};
    m->nkids += cnt;
    m->sp = from;
    return push_new(m, v);
}

static wf_status add_entry(vm *m, uint32_t cont, uint32_t key, uint32_t val) {
    wf_status s = grow(m, (void **)&m->ents, &m->capents, m->nents + 1, sizeof(pentry), MAX_VALUES, "dict items");
    if (s) return s;
    m->ents[m->nents++] = (pentry){cont, key, val};
    return WF_OK;
}

static const pval *V(const vm *m, uint32_t idx) { return &m->vals[idx]; }
static uint32_t kid(const vm *m, const pval *t, uint32_t k) { return m->kids[t->a + k]; }

static wf_status memo_put(vm *m, uint64_t idx) {
    if (m->sp <= floor_sp(m)) return BAD("%s: data.pkl: byte %zu: PUT on an empty stack", m->path, m->op_at);
    if (idx >= MAX_MEMO)
        return BAD("%s: data.pkl: byte %zu: memo index %llu, expected below %u", m->path, m->op_at,
                   (unsigned long long)idx, MAX_MEMO);
    uint32_t old = m->capmemo;
    wf_status s = grow(m, (void **)&m->memo, &m->capmemo, (uint32_t)idx + 1, sizeof(uint32_t), MAX_MEMO, "memo slots");
    if (s) return s;
    if (m->capmemo > old) memset(m->memo + old, 0, (m->capmemo - old) * sizeof(uint32_t));
    m->memo[idx] = m->stack[m->sp - 1] + 1;
    return WF_OK;
}

static wf_status memo_get(vm *m, uint64_t idx) {
    if (idx >= m->capmemo || !m->memo[idx])
        return BAD("%s: data.pkl: byte %zu: memo index %llu was never stored, expected a stored one", m->path,
                   m->op_at, (unsigned long long)idx);
    return push(m, m->memo[idx] - 1);
}

static int str_is(const vm *m, const pval *v, const char *s) {
    return v->kind == K_STR && v->b == strlen(s) && !memcmp(m->p + v->a, s, v->b);
}

/* GLOBAL "module\nname\n": only the allowlisted names. */
static wf_status op_global(vm *m) {
    const uint8_t *q = m->p + m->pos, *end = m->p + m->len;
    const uint8_t *nl1 = memchr(q, '\n', (size_t)(end - q));
    const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
    if (!nl2) return BAD("%s: data.pkl: byte %zu: GLOBAL truncated, expected 'module\\nname\\n'", m->path, m->op_at);
    char mod[64], name[64];
    size_t lm = (size_t)(nl1 - q), ln = (size_t)(nl2 - nl1 - 1);
    snprintf(mod, sizeof mod, "%.*s", (int)(lm < 63 ? lm : 63), (const char *)q);
    snprintf(name, sizeof name, "%.*s", (int)(ln < 63 ? ln : 63), (const char *)nl1 + 1);
    m->pos = (size_t)(nl2 + 1 - m->p);
    int64_t g = -1;
    if (lm < 63 && ln < 63) {
        if (!strcmp(mod, "collections") && !strcmp(name, "OrderedDict")) g = G_ODICT;
        else if (!strcmp(mod, "torch._utils") && !strcmp(name, "_rebuild_tensor_v2")) g = G_REBUILD;
        else if (!strcmp(mod, "torch"))
            for (int k = 0; k < NSTORAGES; k++)
                if (!strcmp(name, storages[k].name)) g = G_STORAGE0 + k;
    }
    if (g < 0)
        return BAD("%s: data.pkl: byte %zu: GLOBAL '%s.%s' is not allowed, expected collections.OrderedDict, "
                   "torch._utils._rebuild_tensor_v2 or a torch storage type", m->path, m->op_at, mod, name);
    return push_new(m, (pval){.kind = K_GLOBAL, .i = g});
}

/* BINPERSID: ('storage', torch.<T>Storage, key, location, numel) -> a storage reference. */
static wf_status op_persid(vm *m) {
    uint32_t pid;
    wf_status s = pop(m, &pid, "BINPERSID");
    if (s) return s;
    const pval *t = V(m, pid);
    if (t->kind != K_TUPLE || t->b != 5 || !str_is(m, V(m, kid(m, t, 0)), "storage") ||
        V(m, kid(m, t, 1))->kind != K_GLOBAL || V(m, kid(m, t, 1))->i < G_STORAGE0 ||
        V(m, kid(m, t, 2))->kind != K_STR || V(m, kid(m, t, 2))->b == 0 ||
        V(m, kid(m, t, 2))->b >= MAX_KEY_BYTES || V(m, kid(m, t, 4))->kind != K_INT || V(m, kid(m, t, 4))->i < 0)
        return BAD("%s: data.pkl: byte %zu: persistent id is not ('storage', torch.<T>Storage, key, location, "
                   "numel), expected a torch storage reference", m->path, m->op_at);
    pval v = {.kind = K_STORAGE, .a = kid(m, t, 2), .i = V(m, kid(m, t, 4))->i,
              .j = storages[V(m, kid(m, t, 1))->i - G_STORAGE0].dt};
    return push_new(m, v);
}

/* REDUCE: OrderedDict() -> a dict; _rebuild_tensor_v2(storage, offset, size, stride, ...) -> a tensor. */
static wf_status op_reduce(vm *m) {
    uint32_t ai = 0, fi = 0;
    wf_status s = pop(m, &ai, "REDUCE");
    if (!s) s = pop(m, &fi, "REDUCE");
    if (s) return s;
    const pval *f = V(m, fi), *args = V(m, ai);
    if (f->kind == K_GLOBAL && f->i == G_ODICT && args->kind == K_TUPLE && args->b == 0)
        return push_new(m, (pval){.kind = K_DICT, .i = m->ncont++});
    if (f->kind != K_GLOBAL || f->i != G_REBUILD)
        return BAD("%s: data.pkl: byte %zu: REDUCE of something other than OrderedDict() or "
                   "_rebuild_tensor_v2, expected one of those", m->path, m->op_at);
    if (args->kind != K_TUPLE || args->b < 4)
        return BAD("%s: data.pkl: byte %zu: _rebuild_tensor_v2 arguments are not a tuple of at least 4, "
                   "expected (storage, offset, size, stride, ...)", m->path, m->op_at);
    const pval *st = V(m, kid(m, args, 0)), *off = V(m, kid(m, args, 1));
    const pval *size = V(m, kid(m, args, 2)), *stride = V(m, kid(m, args, 3));
    if (st->kind != K_STORAGE || off->kind != K_INT || off->i < 0 || size->kind != K_TUPLE ||
        stride->kind != K_TUPLE || size->b != stride->b || size->b > WF_TENSOR_MAX_DIMS)
        return BAD("%s: data.pkl: byte %zu: bad _rebuild_tensor_v2 arguments, expected (storage, offset >= 0, "
                   "size, stride) with equal ranks <= %d", m->path, m->op_at, WF_TENSOR_MAX_DIMS);
    if (m->ntens >= MAX_TENSORS)
        return BAD("%s: data.pkl: byte %zu: more than %u tensors", m->path, m->op_at, MAX_TENSORS);
    if ((s = grow(m, (void **)&m->tens, &m->captens, m->ntens + 1, sizeof(tb_tensor), MAX_TENSORS, "tensors")))
        return s;
    tb_tensor *t = &m->tens[m->ntens];
    memset(t, 0, sizeof *t);
    t->d.dtype = (wf_dtype)st->j;
    t->d.ndim = (int)size->b;
    t->offset = (uint64_t)off->i;
    t->zindex = st->i; /* storage numel, for now; resolved to a zip index at open */
    const pval *key = V(m, st->a);
    memcpy(t->key, m->p + key->a, key->b);
    t->key[key->b] = 0;
    uint64_t numel = 1;
    for (uint32_t k = 0; k < size->b; k++) {
        const pval *a = V(m, kid(m, size, k)), *b = V(m, kid(m, stride, k));
        if (a->kind != K_INT || b->kind != K_INT || a->i < 0 || b->i < 0 || a->i > (int64_t)1 << 40)
            return BAD("%s: data.pkl: byte %zu: tensor size/stride item %u is not a non-negative integer",
                       m->path, m->op_at, k);
        t->d.shape[k] = a->i;
        t->stride[k] = b->i;
        if (a->i && numel > ((uint64_t)1 << 40) / (uint64_t)a->i)
            return BAD("%s: data.pkl: byte %zu: tensor of more than 2^40 elements", m->path, m->op_at);
        numel *= (uint64_t)a->i;
    }
    t->d.numel = numel;
    return push_new(m, (pval){.kind = K_TENSOR, .i = m->ntens++});
}

/* Items stack[from, sp) go into container c (a dict: pairs; a list: values). */
static wf_status fill(vm *m, uint32_t c, uint32_t from, const char *op) {
    const pval *cv = V(m, c);
    if (cv->kind != K_DICT && cv->kind != K_LIST)
        return BAD("%s: data.pkl: byte %zu: %s on something that is not a dict or list", m->path, m->op_at, op);
    int is_dict = cv->kind == K_DICT;
    uint32_t id = (uint32_t)cv->i;
    if (is_dict && (m->sp - from) % 2)
        return BAD("%s: data.pkl: byte %zu: %s with an odd number of items, expected key/value pairs", m->path,
                   m->op_at, op);
    for (uint32_t k = from; k < m->sp; k += is_dict ? 2 : 1) {
        wf_status s = add_entry(m, id, is_dict ? m->stack[k] : UINT32_MAX, m->stack[is_dict ? k + 1 : k]);
        if (s) return s;
    }
    m->sp = from;
    return WF_OK;
}

static wf_status pop_mark(vm *m, uint32_t *from, const char *op) {
    if (!m->nmarks) return BAD("%s: data.pkl: byte %zu: %s without MARK", m->path, m->op_at, op);
    *from = m->marks[--m->nmarks];
    return WF_OK;
}

/* Runs the pickle; on success *result is the value STOP returned. */
static wf_status run(vm *m, uint32_t *result) {
    wf_status s = WF_OK;
    uint32_t a = 0, b = 0, from = 0;
    while (!s) {
        m->op_at = m->pos;
        if (m->pos >= m->len) return BAD("%s: data.pkl: byte %zu: pickle ends without STOP", m->path, m->pos);
        uint8_t op = m->p[m->pos++];
        switch (op) {
        case 0x80: /* PROTO */
            if ((s = need(m, 1))) break;
            if (m->p[m->pos] < 2 || m->p[m->pos] > 5)
                s = BAD("%s: data.pkl: byte %zu: pickle protocol %d, expected 2", m->path, m->op_at, m->p[m->pos]);
            m->pos++;
            break;
        case '}': s = push_new(m, (pval){.kind = K_DICT, .i = m->ncont++}); break; /* EMPTY_DICT */
        case ']': s = push_new(m, (pval){.kind = K_LIST, .i = m->ncont++}); break; /* EMPTY_LIST */
        case ')': s = push_new(m, (pval){.kind = K_TUPLE}); break;                  /* EMPTY_TUPLE */
        case 'N': s = push_new(m, (pval){.kind = K_NONE}); break;
        case 0x88: s = push_new(m, (pval){.kind = K_BOOL, .i = 1}); break; /* NEWTRUE */
        case 0x89: s = push_new(m, (pval){.kind = K_BOOL, .i = 0}); break; /* NEWFALSE */
        case '(': /* MARK */
            if (m->nmarks >= MAX_MARKS)
                s = BAD("%s: data.pkl: byte %zu: MARKs nested deeper than %d", m->path, m->op_at, MAX_MARKS);
            else m->marks[m->nmarks++] = m->sp;
            break;
        case 'X': /* BINUNICODE */
        case 0x8c: { /* SHORT_BINUNICODE */
            int w = op == 'X' ? 4 : 1;
            if ((s = need(m, (size_t)w))) break;
            uint64_t n = rd_le(m->p + m->pos, w);
            m->pos += (size_t)w;
            if ((s = need(m, n))) break;
            s = push_new(m, (pval){.kind = K_STR, .a = (uint32_t)m->pos, .b = (uint32_t)n});
            m->pos += n;
            break;
        }
        case 'J': case 'K': case 'M': { /* BININT, BININT1, BININT2 */
            int w = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            if ((s = need(m, (size_t)w))) break;
            uint64_t v = rd_le(m->p + m->pos, w);
            m->pos += (size_t)w;
            int64_t iv = op == 'J' ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
            s = push_new(m, (pval){.kind = K_INT, .i = iv});
            break;
        }
        case 0x8a: { /* LONG1: n bytes, two's complement little-endian */
            if ((s = need(m, 1))) break;
            int n = m->p[m->pos++];
            if (n > 8) { s = BAD("%s: data.pkl: byte %zu: LONG1 of %d bytes, expected at most 8", m->path, m->op_at, n); break; }
            if ((s = need(m, (size_t)n))) break;
            uint64_t v = rd_le(m->p + m->pos, n);
            if (n && n < 8 && (m->p[m->pos + n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
            m->pos += (size_t)n;
            s = push_new(m, (pval){.kind = K_INT, .i = (int64_t)v});
            break;
        }
        case 'q': case 'r': { /* BINPUT, LONG_BINPUT */
            int w = op == 'q' ? 1 : 4;
            if ((s = need(m, (size_t)w))) break;
            uint64_t i = rd_le(m->p + m->pos, w);
            m->pos += (size_t)w;
            s = memo_put(m, i);
            break;
        }
        case 'h': case 'j': { /* BINGET, LONG_BINGET */
            int w = op == 'h' ? 1 : 4;
            if ((s = need(m, (size_t)w))) break;
            uint64_t i = rd_le(m->p + m->pos, w);
            m->pos += (size_t)w;
            s = memo_get(m, i);
            break;
        }
        case 'c': s = op_global(m); break;
        case 'Q': s = op_persid(m); break;
        case 'R': s = op_reduce(m); break;
        case 't': /* TUPLE */
            if (!(s = pop_mark(m, &from, "TUPLE"))) s = make_tuple(m, from);
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            uint32_t n = (uint32_t)(op - 0x84);
            if (m->sp < floor_sp(m) + n) { s = BAD("%s: data.pkl: byte %zu: TUPLE%u on a short stack", m->path, m->op_at, n); break; }
            s = make_tuple(m, m->sp - n);
            break;
        }
        case 's': /* SETITEM */
            if (m->sp < floor_sp(m) + 3) { s = BAD("%s: data.pkl: byte %zu: SETITEM on a short stack", m->path, m->op_at); break; }
            s = fill(m, m->stack[m->sp - 3], m->sp - 2, "SETITEM");
            break;
        case 'u': /* SETITEMS */
        case 'e': /* APPENDS */
            if ((s = pop_mark(m, &from, op == 'u' ? "SETITEMS" : "APPENDS"))) break;
            if (from == 0 || from <= floor_sp(m)) { s = BAD("%s: data.pkl: byte %zu: %s with nothing below MARK", m->path, m->op_at, op == 'u' ? "SETITEMS" : "APPENDS"); break; }
            s = fill(m, m->stack[from - 1], from, op == 'u' ? "SETITEMS" : "APPENDS");
            break;
        case 'a': /* APPEND */
            if (m->sp < floor_sp(m) + 2) { s = BAD("%s: data.pkl: byte %zu: APPEND on a short stack", m->path, m->op_at); break; }
            s = fill(m, m->stack[m->sp - 2], m->sp - 1, "APPEND");
            break;
        case 'b': /* BUILD: object state (the state dict's _metadata) is dropped */
            if ((s = pop(m, &a, "BUILD"))) break;
            if (m->sp <= floor_sp(m)) s = BAD("%s: data.pkl: byte %zu: BUILD without an object", m->path, m->op_at);
            break;
        case '.': /* STOP */
            if ((s = pop(m, &b, "STOP"))) break;
            *result = b;
            return WF_OK;
        default:
            s = BAD("%s: data.pkl: byte %zu: opcode 0x%02x ('%c') is not supported, expected one that torch.save "
                    "emits for a state dict", m->path, m->op_at, op, op >= 0x20 && op < 0x7f ? op : '?');
        }
    }
    return s;
}

/* ---- archive ---------------------------------------------------------- */

static wf_status zip_fail(wf_torchbin *t, zip_error_t *ze, const char *what, wf_err *err) {
    wf_status s = WF_FAIL(err, WF_ECORRUPT, "%s: %s: %s, expected a zip archive written by torch.save", t->path,
                          what, zip_error_strerror(ze));
    return s;
}

/* zlib's crc32 takes a uInt length: feed it in pieces. */
static uLong crc_update(uLong crc, const uint8_t *p, uint64_t n) {
    while (n) {
        uInt m = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, m);
        p += m;
        n -= m;
    }
    return crc;
}

/* The zip directory's CRC-32 of an entry against the one computed over its bytes. */
static wf_status check_crc(const wf_torchbin *t, const zip_stat_t *sb, uLong got, const char *what, wf_err *err) {
    if (!(sb->valid & ZIP_STAT_CRC) || (uint32_t)got == sb->crc) return WF_OK;
    return WF_FAIL(err, WF_ECORRUPT, "%s: %s: CRC-32 %08x, expected %08x from the zip directory (corrupt archive)",
                   t->path, what, (unsigned)got, (unsigned)sb->crc);
}

/* Reads zip entry idx whole into a heap buffer (at most max bytes). */
static wf_status read_entry(wf_torchbin *t, zip_int64_t idx, uint8_t **out, size_t *len, size_t max, wf_err *err) {
    zip_stat_t sb;
    const char *name = zip_get_name(t->zip, (zip_uint64_t)idx, 0);
    if (zip_stat_index(t->zip, (zip_uint64_t)idx, 0, &sb) != 0 || !(sb.valid & ZIP_STAT_SIZE))
        return WF_FAIL(err, WF_ECORRUPT, "%s: %s: cannot stat the zip entry", t->path, name ? name : "?");
    if (sb.size > max)
        return WF_FAIL(err, WF_ECORRUPT, "%s: %s: %llu bytes, expected at most %zu", t->path, name,
                       (unsigned long long)sb.size, max);
    uint8_t *buf = wf_alloc(t->heap, (size_t)sb.size + 1, "zip entry", err);
    if (!buf) return WF_ENOMEM;
    zip_file_t *zf = zip_fopen_index(t->zip, (zip_uint64_t)idx, 0);
    zip_int64_t got = zf ? zip_fread(zf, buf, sb.size) : -1;
    if (zf) zip_fclose(zf);
    if (got < 0 || (zip_uint64_t)got != sb.size) {
        wf_free(t->heap, buf);
        return WF_FAIL(err, WF_ECORRUPT, "%s: %s: read %lld of %llu bytes, expected all (truncated or corrupt "
                       "archive)", t->path, name, (long long)got, (unsigned long long)sb.size);
    }
    wf_status s = check_crc(t, &sb, crc_update(crc32(0, NULL, 0), buf, sb.size), name, err);
    if (s) {
        wf_free(t->heap, buf);
        return s;
    }
    *out = buf;
    *len = (size_t)sb.size;
    return WF_OK;
}

void wf_torchbin_close(wf_torchbin *t) {
    if (!t) return;
    if (t->zip) zip_discard(t->zip);
    if (t->t)
        for (int i = 0; i < t->n; i++) wf_free(t->heap, (void *)t->t[i].d.name);
    wf_free(t->heap, t->t);
    wf_free(t->heap, t->crc_ok);
    wf_free(t->heap, t);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Finds <prefix>/data.pkl, runs it and resolves each tensor's storage. */
static wf_status load_index(wf_torchbin *t, wf_err *err) {
    zip_int64_t ne = zip_get_num_entries(t->zip, 0), pkl = -1;
    t->crc_ok = wf_calloc(t->heap, ne > 0 ? (size_t)ne : 1, "storage CRC flags", err);
    if (!t->crc_ok) return WF_ENOMEM;
    for (zip_int64_t i = 0; i < ne && pkl < 0; i++) {
        const char *nm = zip_get_name(t->zip, (zip_uint64_t)i, 0);
        if (!nm) continue;
        const char *slash = strchr(nm, '/');
        if (slash && slash != nm && !strcmp(slash, "/data.pkl") && (size_t)(slash - nm) < sizeof t->prefix) {
            pkl = i;
            snprintf(t->prefix, sizeof t->prefix, "%.*s", (int)(slash - nm), nm);
        }
    }
    if (pkl < 0)
        return WF_FAIL(err, WF_ECORRUPT, "%s: no <prefix>/data.pkl entry, expected a zip archive written "
                       "by torch.save (>= 1.6)", t->path);
    uint8_t *p = NULL;
    size_t len = 0;
    wf_status s = read_entry(t, pkl, &p, &len, MAX_PKL_BYTES, err);
    if (s) return s;
    vm m = {.h = t->heap, .path = t->path, .p = p, .len = len, .err = err};
    uint32_t res = 0;
    if ((s = run(&m, &res))) goto done;
    const pval *top = V(&m, res);
    if (top->kind != K_DICT) {
        s = WF_FAIL(err, WF_ECORRUPT, "%s: data.pkl: top-level object is not a dict, expected a state dict", t->path);
        goto done;
    }
    int n = 0;
    for (uint32_t k = 0; k < m.nents; k++) n += m.ents[k].container == (uint32_t)top->i;
    t->t = wf_calloc(t->heap, (size_t)(n ? n : 1) * sizeof *t->t, "torchbin index", err);
    if (!t->t) { s = WF_ENOMEM; goto done; }
    for (uint32_t k = 0; k < m.nents; k++) {
        const pentry *e = &m.ents[k];
        if (e->container != (uint32_t)top->i) continue;
        const pval *key = V(&m, e->key), *val = V(&m, e->val);
        if (key->kind != K_STR || key->b == 0 || key->b >= 1024) {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: data.pkl: state dict key %d is not a name, expected a string of "
                        "1 to 1023 bytes", t->path, t->n);
            goto done;
        }
        char *name = wf_alloc(t->heap, key->b + 1u, "tensor name", err);
        if (!name) { s = WF_ENOMEM; goto done; }
        memcpy(name, m.p + key->a, key->b);
        name[key->b] = 0;
        tb_tensor *tt = &t->t[t->n++];
        tt->d.name = name;
        if (memchr(name, 0, key->b)) {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: data.pkl: state dict key holds a NUL byte", t->path);
            goto done;
        }
        if (val->kind != K_TENSOR) {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': value is not a tensor, expected a flat state dict",
                        t->path, name);
            goto done;
        }
        const tb_tensor *src = &m.tens[val->i];
        tt->d.dtype = src->d.dtype;
        tt->d.ndim = src->d.ndim;
        tt->d.numel = src->d.numel;
        memcpy(tt->d.shape, src->d.shape, sizeof tt->d.shape);
        memcpy(tt->stride, src->stride, sizeof tt->stride);
        memcpy(tt->key, src->key, sizeof tt->key);
        tt->offset = src->offset;
        /* The storage: its zip entry must hold exactly numel elements, and the tensor must fit. */
        uint64_t st_numel = (uint64_t)src->zindex, esz = wf_dtype_size(tt->d.dtype);
        char ename[600];
        snprintf(ename, sizeof ename, "%s/data/%s", t->prefix, tt->key);
        zip_int64_t zi = zip_name_locate(t->zip, ename, 0);
        zip_stat_t sb;
        if (zi < 0 || zip_stat_index(t->zip, (zip_uint64_t)zi, 0, &sb) != 0 || !(sb.valid & ZIP_STAT_SIZE)) {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': storage entry '%s' missing, expected it in the archive",
                        t->path, name, ename);
            goto done;
        }
        if (st_numel > UINT64_MAX / esz || sb.size != st_numel * esz) {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': storage '%s' is %llu bytes, expected %llu (%llu x %s)",
                        t->path, name, ename, (unsigned long long)sb.size,
                        (unsigned long long)(st_numel <= UINT64_MAX / esz ? st_numel * esz : 0),
                        (unsigned long long)st_numel, wf_dtype_name(tt->d.dtype));
            goto done;
        }
        /* Highest element touched: offset + sum((size-1)*stride), for non-empty tensors. */
        uint64_t last = tt->offset;
        for (int d = 0; d < tt->d.ndim; d++)
            if (tt->d.shape[d] > 0) last += (uint64_t)(tt->d.shape[d] - 1) * (uint64_t)tt->stride[d];
        if (tt->d.numel && (tt->offset > st_numel || last >= st_numel)) {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': reaches element %llu of storage '%s', expected below "
                        "its %llu elements", t->path, name, (unsigned long long)last, tt->key,
                        (unsigned long long)st_numel);
            goto done;
        }
        tt->zindex = zi;
    }
    /* Names once each: sort pointers (a hostile pickle can repeat a tensor a million times). */
    if (t->n > 1) {
        const char **names = wf_alloc(t->heap, (size_t)t->n * sizeof *names, "name order", err);
        if (!names) { s = WF_ENOMEM; goto done; }
        for (int i = 0; i < t->n; i++) names[i] = t->t[i].d.name;
        qsort(names, (size_t)t->n, sizeof *names, cmp_str);
        for (int i = 1; i < t->n; i++)
            if (!strcmp(names[i], names[i - 1])) {
                s = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': appears twice in the state dict, expected once",
                            t->path, names[i]);
                break;
            }
        wf_free(t->heap, names);
    }
done:
    vm_free(&m);
    wf_free(t->heap, p);
    return s;
}

static wf_torchbin *new_handle(const char *name, wf_heap *h, wf_err *err) {
    wf_torchbin *t = wf_calloc(h, sizeof *t, "torchbin handle", err);
    if (!t) return NULL;
    t->heap = h;
    snprintf(t->path, sizeof t->path, "%s", name);
    return t;
}

static wf_status finish_open(wf_torchbin *t, wf_torchbin **out, wf_err *err) {
    wf_status s = load_index(t, err);
    if (s) {
        wf_torchbin_close(t);
        return s;
    }
    *out = t;
    return WF_OK;
}

wf_status wf_torchbin_open(const char *path, wf_heap *h, wf_torchbin **out, wf_err *err) {
    *out = NULL;
    wf_torchbin *t = new_handle(path, h, err);
    if (!t) return WF_ENOMEM;
    /* O_NONBLOCK: a FIFO in place of the file must not block the open. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        wf_torchbin_close(t);
        return WF_FAIL(err, WF_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || fcntl(fd, F_SETFL, 0) != 0) {
        close(fd);
        wf_torchbin_close(t);
        return WF_FAIL(err, WF_EIO, "%s: not a regular file, expected a pytorch_model.bin zip archive", path);
    }
    int code = 0;
    t->zip = zip_fdopen(fd, ZIP_RDONLY, &code); /* owns fd on success */
    if (!t->zip) {
        close(fd);
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        wf_status s = code == ZIP_ER_OPEN || code == ZIP_ER_READ || code == ZIP_ER_NOENT
                          ? WF_FAIL(err, WF_EIO, "%s: cannot open: %s", path, zip_error_strerror(&ze))
                          : zip_fail(t, &ze, "not a readable zip archive", err);
        zip_error_fini(&ze);
        wf_torchbin_close(t);
        return s;
    }
    return finish_open(t, out, err);
}

wf_status wf_torchbin_open_mem(const char *name, const void *buf, size_t n, wf_heap *h, wf_torchbin **out,
                               wf_err *err) {
    *out = NULL;
    wf_torchbin *t = new_handle(name, h, err);
    if (!t) return WF_ENOMEM;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(buf, n, 0, &ze);
    if (src) {
        t->zip = zip_open_from_source(src, ZIP_RDONLY, &ze);
        if (!t->zip) zip_source_free(src);
    }
    if (!t->zip) {
        wf_status s = zip_fail(t, &ze, "not a readable zip archive", err);
        zip_error_fini(&ze);
        wf_torchbin_close(t);
        return s;
    }
    zip_error_fini(&ze);
    return finish_open(t, out, err);
}

int wf_torchbin_count(const wf_torchbin *t) { return t->n; }

const wf_tensor_desc *wf_torchbin_tensor(const wf_torchbin *t, int i) {
    WF_ASSERT(i >= 0 && i < t->n);
    return &t->t[i].d;
}

int wf_torchbin_find(const wf_torchbin *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->t[i].d.name, name)) return i;
    return -1;
}

wf_status wf_torchbin_read_f32(wf_torchbin *t, int i, float *dst, wf_err *err) {
    WF_ASSERT(i >= 0 && i < t->n);
    const tb_tensor *tt = &t->t[i];
    wf_dtype d = tt->d.dtype;
    if (d != WF_DT_F32 && d != WF_DT_F16 && d != WF_DT_BF16)
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': dtype %s is not supported, expected F32, F16 or BF16",
                       t->path, tt->d.name, wf_dtype_name(d));
    /* Contiguous row-major: stride[k] = prod(shape[k+1:]); size-1 dims may have any stride. */
    long long want = 1;
    for (int k = tt->d.ndim - 1; k >= 0; k--) {
        if (tt->d.shape[k] != 1 && tt->stride[k] != want) {
            char got_s[160] = "", want_s[160] = "";
            char tmp[32];
            for (int q = 0; q < tt->d.ndim; q++) {
                long long wq = 1;
                for (int r = q + 1; r < tt->d.ndim; r++) wq *= tt->d.shape[r];
                snprintf(tmp, sizeof tmp, "%s%lld", q ? "," : "", tt->stride[q]);
                strncat(got_s, tmp, sizeof got_s - strlen(got_s) - 1);
                snprintf(tmp, sizeof tmp, "%s%lld", q ? "," : "", wq);
                strncat(want_s, tmp, sizeof want_s - strlen(want_s) - 1);
            }
            return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': strides (%s) are not contiguous, expected (%s)",
                           t->path, tt->d.name, got_s, want_s);
        }
        want *= tt->d.shape[k];
    }
    size_t esz = wf_dtype_size(d), n = (size_t)tt->d.numel;
    if (n == 0) return WF_OK;
    zip_file_t *zf = zip_fopen_index(t->zip, (zip_uint64_t)tt->zindex, 0);
    if (!zf)
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': cannot open storage '%s': %s", t->path, tt->d.name,
                       tt->key, zip_strerror(t->zip));
    /* The first read of a storage streams all of it through CRC-32 from its
    ** first byte (no seek), so that a flipped bit anywhere in it is caught;
    ** the tensor's elements are widened on the way. Later tensors of a
    ** verified, uncompressed storage seek straight to their bytes. */
    wf_status s = WF_OK;
    uint8_t buf[1 << 14];
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(t->zip, (zip_uint64_t)tt->zindex, 0, &sb) != 0) s = WF_ECORRUPT;
    uint64_t skip = tt->offset * esz, total = sb.size, pos = 0;
    int verified = t->crc_ok[tt->zindex];
    if (!s && verified && (sb.valid & ZIP_STAT_COMP_METHOD) && sb.comp_method == ZIP_CM_STORE && skip) {
        if (zip_fseek(zf, (zip_int64_t)skip, SEEK_SET) != 0) s = WF_ECORRUPT;
        pos = skip;
    }
    if (verified) total = skip + (uint64_t)n * esz; /* nothing to check past the tensor */
    uLong crc = crc32(0, NULL, 0);
    while (pos < total && !s) {
        size_t m = total - pos < sizeof buf ? (size_t)(total - pos) : sizeof buf;
        if (pos < skip && m > skip - pos) m = (size_t)(skip - pos); /* chunks meet the tensor's start */
        if (pos >= skip && pos < skip + (uint64_t)n * esz) {      /* ... and hold whole elements in it */
            uint64_t left = skip + (uint64_t)n * esz - pos;
            if (m > left) m = (size_t)left;
            m -= m % esz;
        }
        zip_int64_t got = zip_fread(zf, buf, m);
        if (got != (zip_int64_t)m) { s = WF_ECORRUPT; break; }
        crc = crc_update(crc, buf, m);
        if (pos >= skip && pos < skip + (uint64_t)n * esz) wf_dtype_to_f32(d, buf, dst + (pos - skip) / esz, m / esz);
        pos += m;
    }
    zip_fclose(zf);
    if (s)
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': storage '%s' is truncated or corrupt, expected %zu "
                       "readable elements", t->path, tt->d.name, tt->key, n);
    if (verified) return WF_OK;
    char what[700];
    snprintf(what, sizeof what, "tensor '%s': storage '%s'", tt->d.name, tt->key);
    if ((s = check_crc(t, &sb, crc, what, err))) return s;
    t->crc_ok[tt->zindex] = 1;
    return WF_OK;
}
