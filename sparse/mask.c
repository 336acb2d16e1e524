/* mask.c — the weight masks of sparse/sparse.h: random (uniform or ERK) and
** magnitude masks, applying a mask to a layer-major buffer, and the mask file
** (format table in sparse.h). */
#include "sparse/sparse_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "base/rng.h"

static const int slot_of[WF_SPARSE_MAT_COUNT] = {WF_T_QKV_W, WF_T_ATTNPROJ_W, WF_T_FC_W, WF_T_FCPROJ_W};

void wf_sparse_mat_shape(const wf_gpt_config *c, wf_sparse_mat s, int *rows, int *cols) {
    int C = c->n_embd, F = c->n_inner;
    switch (s) {
    case WF_SPARSE_QKV: *rows = C, *cols = 3 * C; break;
    case WF_SPARSE_APROJ: *rows = C, *cols = C; break;
    case WF_SPARSE_FC: *rows = C, *cols = F; break;
    default: *rows = F, *cols = C; break;
    }
}

const char *wf_sparse_mat_name(wf_sparse_mat s) {
    static const char *const n[WF_SPARSE_MAT_COUNT] = {"qkv", "attn_proj", "fc", "fc_proj"};
    return (unsigned)s < WF_SPARSE_MAT_COUNT ? n[s] : "?";
}

const char *wf_sparse_dist_name(wf_sparse_dist d) {
    static const char *const n[WF_SPARSE_DIST_COUNT] = {"uniform", "erk", "magnitude", "magnitude-erk"};
    return (unsigned)d < WF_SPARSE_DIST_COUNT ? n[d] : "?";
}

int wf_sparse_dist_parse(const char *s) {
    for (int d = 0; d < WF_SPARSE_DIST_COUNT; d++)
        if (!strcmp(s, wf_sparse_dist_name((wf_sparse_dist)d))) return d;
    return -1;
}

static size_t mat_words(const wf_gpt_config *c, wf_sparse_mat s) {
    int r, k;
    wf_sparse_mat_shape(c, s, &r, &k);
    return ((size_t)r * (size_t)k + 63) / 64;
}

/* A mask of all zeros (nothing kept) with its layout computed. */
static wf_status mask_alloc(const wf_gpt_config *c, wf_heap *h, wf_sparse_mask **out, wf_err *err) {
    *out = NULL;
    int L = c->n_layer;
    wf_sparse_mask *m = wf_calloc(h, sizeof *m, "sparse mask", err);
    if (!m) return WF_ENOMEM;
    m->cfg = *c, m->heap = h;
    size_t nm = (size_t)L * WF_SPARSE_MAT_COUNT;
    m->word_off = wf_calloc(h, sizeof(size_t) * (nm + 1), "sparse mask offsets", err);
    m->nnz = m->word_off ? wf_calloc(h, sizeof(uint64_t) * nm, "sparse mask counts", err) : NULL;
    m->use = m->nnz ? wf_calloc(h, nm, "sparse mask choices", err) : NULL;
    if (!m->use) {
        wf_sparse_mask_free(m);
        return WF_ENOMEM;
    }
    for (size_t i = 0; i < nm; i++) m->word_off[i + 1] = m->word_off[i] + mat_words(c, (wf_sparse_mat)(i % WF_SPARSE_MAT_COUNT));
    m->words = m->word_off[nm];
    m->bits = wf_calloc(h, sizeof(uint64_t) * (m->words ? m->words : 1), "sparse mask bits", err);
    if (!m->bits) {
        wf_sparse_mask_free(m);
        return WF_ENOMEM;
    }
    *out = m;
    return WF_OK;
}

void wf_sparse_mask_free(wf_sparse_mask *m) {
    if (!m) return;
    wf_free(m->heap, m->bits);
    wf_free(m->heap, m->use);
    wf_free(m->heap, m->nnz);
    wf_free(m->heap, m->word_off);
    wf_free(m->heap, m);
}

static size_t mat_index(const wf_sparse_mask *m, int l, wf_sparse_mat s) {
    WF_ASSERT(l >= 0 && l < m->cfg.n_layer && (unsigned)s < WF_SPARSE_MAT_COUNT);
    return (size_t)l * WF_SPARSE_MAT_COUNT + (size_t)s;
}

uint64_t *wf_sparse_mask_bits_mut(wf_sparse_mask *m, int l, wf_sparse_mat s) {
    return m->bits + m->word_off[mat_index(m, l, s)];
}
const uint64_t *wf_sparse_mask_bits(const wf_sparse_mask *m, int l, wf_sparse_mat s) {
    return m->bits + m->word_off[mat_index(m, l, s)];
}
uint64_t wf_sparse_mask_nnz(const wf_sparse_mask *m, int l, wf_sparse_mat s) { return m->nnz[mat_index(m, l, s)]; }
wf_sparse_use wf_sparse_mask_use(const wf_sparse_mask *m, int l, wf_sparse_mat s) {
    return (wf_sparse_use)m->use[mat_index(m, l, s)];
}
void wf_sparse_mask_set_use(wf_sparse_mask *m, int l, wf_sparse_mat s, wf_sparse_use u) {
    WF_ASSERT((unsigned)u < WF_SPARSE_USE_COUNT);
    m->use[mat_index(m, l, s)] = (uint8_t)u;
}
double wf_sparse_mask_sparsity(const wf_sparse_mask *m) { return m->sparsity; }
wf_sparse_dist wf_sparse_mask_dist(const wf_sparse_mask *m) { return m->dist; }

double wf_sparse_mask_actual(const wf_sparse_mask *m) {
    double total = 0, kept = 0;
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
            int r, k;
            wf_sparse_mat_shape(&m->cfg, (wf_sparse_mat)s, &r, &k);
            total += (double)r * k;
            kept += (double)wf_sparse_mask_nnz(m, l, (wf_sparse_mat)s);
        }
    return total > 0 ? 1.0 - kept / total : 0.0;
}

/* Densities per matrix kind for sparsity S. Uniform: 1 - S everywhere. ERK
** (Evci et al. 2020, "Rigging the Lottery"; docs/REFERENCE.md): density_j = eps * (r_j + c_j) /
** (r_j * c_j), eps chosen so the kept total is (1 - S) of all weights; a
** matrix whose density would pass 1 is made dense and eps solved again for
** the rest. Every layer has the same shapes, so one density per kind. */
static void densities(const wf_gpt_config *c, double S, int erk, double dens[WF_SPARSE_MAT_COUNT]) {
    for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) dens[s] = 1.0 - S;
    if (!erk) return;
    int dense[WF_SPARSE_MAT_COUNT] = {0};
    for (int iter = 0; iter < WF_SPARSE_MAT_COUNT + 1; iter++) {
        double total = 0, fixed = 0, score = 0;
        for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
            int r, k;
            wf_sparse_mat_shape(c, (wf_sparse_mat)s, &r, &k);
            double n = (double)r * k;
            total += n;
            if (dense[s]) fixed += n;
            else score += (double)r + k; /* n * (r + k) / n */
        }
        double eps = score > 0 ? ((1.0 - S) * total - fixed) / score : 0;
        int again = 0;
        for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
            int r, k;
            wf_sparse_mat_shape(c, (wf_sparse_mat)s, &r, &k);
            dens[s] = dense[s] ? 1.0 : eps * ((double)r + k) / ((double)r * k);
            if (dens[s] > 1.0) dense[s] = 1, again = 1;
        }
        if (!again) break;
    }
    for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) dens[s] = dens[s] < 0 ? 0 : dens[s] > 1 ? 1 : dens[s];
}

static wf_status check_sparsity(double S, wf_err *err) {
    if (!(S >= 0.0 && S < 1.0))
        return WF_FAIL(err, WF_EUSAGE, "sparsity %g: expected a fraction of zeros in [0, 1)", S);
    return WF_OK;
}

static uint64_t kept_count(double density, size_t n) {
    double k = floor(density * (double)n + 0.5);
    return k < 0 ? 0 : k > (double)n ? n : (uint64_t)k;
}

wf_status wf_sparse_mask_random(const wf_gpt_config *c, double S, wf_sparse_dist dist, uint64_t seed, wf_heap *h,
                                wf_sparse_mask **out, wf_err *err) {
    *out = NULL;
    wf_status st = check_sparsity(S, err);
    if (st) return st;
    if (dist != WF_SPARSE_UNIFORM && dist != WF_SPARSE_ERK)
        return WF_FAIL(err, WF_EUSAGE, "sparsity distribution '%s': a random mask is uniform or erk",
                       wf_sparse_dist_name(dist));
    double dens[WF_SPARSE_MAT_COUNT];
    densities(c, S, dist == WF_SPARSE_ERK, dens);
    wf_sparse_mask *m;
    if ((st = mask_alloc(c, h, &m, err))) return st;
    m->sparsity = S, m->dist = dist;
    size_t maxn = 0;
    for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
        int r, k;
        wf_sparse_mat_shape(c, (wf_sparse_mat)s, &r, &k);
        if ((size_t)r * k > maxn) maxn = (size_t)r * k;
    }
    uint32_t *idx = wf_alloc(h, sizeof(uint32_t) * (maxn ? maxn : 1), "sparse mask shuffle", err);
    if (!idx) {
        wf_sparse_mask_free(m);
        return WF_ENOMEM;
    }
    wf_rng rng;
    wf_rng_seed(&rng, seed ^ 0x5350415253450000ULL); /* "SPARSE": a stream apart from the weights' init */
    for (int l = 0; l < c->n_layer; l++)
        for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
            int r, k;
            wf_sparse_mat_shape(c, (wf_sparse_mat)s, &r, &k);
            size_t n = (size_t)r * k;
            uint64_t keep = kept_count(dens[s], n);
            /* partial Fisher-Yates: the first `keep` entries are a uniform sample */
            for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
            for (uint64_t i = 0; i < keep; i++) {
                uint64_t j = i + wf_rng_next(&rng) % (n - i);
                uint32_t t = idx[i];
                idx[i] = idx[j], idx[j] = t;
            }
            uint64_t *b = wf_sparse_mask_bits_mut(m, l, (wf_sparse_mat)s);
            for (uint64_t i = 0; i < keep; i++) b[idx[i] / 64] |= 1ULL << (idx[i] % 64);
            m->nnz[mat_index(m, l, (wf_sparse_mat)s)] = keep;
        }
    wf_free(h, idx);
    *out = m;
    return WF_OK;
}

typedef struct {
    float a;
    uint32_t i;
} mag;

static int by_magnitude(const void *x, const void *y) {
    const mag *p = x, *q = y;
    if (p->a != q->a) return p->a > q->a ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

wf_status wf_sparse_mask_magnitude(const wf_gpt_config *c, const float *weights, double S, int erk, wf_heap *h,
                                   wf_sparse_mask **out, wf_err *err) {
    *out = NULL;
    wf_status st = check_sparsity(S, err);
    if (st) return st;
    double dens[WF_SPARSE_MAT_COUNT];
    densities(c, S, erk, dens);
    wf_sparse_mask *m;
    if ((st = mask_alloc(c, h, &m, err))) return st;
    m->sparsity = S, m->dist = erk ? WF_SPARSE_MAGNITUDE_ERK : WF_SPARSE_MAGNITUDE;
    size_t maxn = 0;
    for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
        int r, k;
        wf_sparse_mat_shape(c, (wf_sparse_mat)s, &r, &k);
        if ((size_t)r * k > maxn) maxn = (size_t)r * k;
    }
    mag *v = wf_alloc(h, sizeof(mag) * (maxn ? maxn : 1), "sparse mask magnitudes", err);
    if (!v) {
        wf_sparse_mask_free(m);
        return WF_ENOMEM;
    }
    for (int l = 0; l < c->n_layer; l++)
        for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
            int r, k;
            wf_sparse_mat_shape(c, (wf_sparse_mat)s, &r, &k);
            size_t n = (size_t)r * k;
            wf_tensor_info ti;
            wf_gpt_tensor_info(c, 2 + WF_T_LAYER_COUNT * l + slot_of[s], &ti);
            const float *w = weights + ti.offset;
            for (size_t i = 0; i < n; i++) v[i].a = fabsf(w[i]), v[i].i = (uint32_t)i;
            qsort(v, n, sizeof *v, by_magnitude);
            uint64_t keep = kept_count(dens[s], n);
            uint64_t *b = wf_sparse_mask_bits_mut(m, l, (wf_sparse_mat)s);
            for (uint64_t i = 0; i < keep; i++) b[v[i].i / 64] |= 1ULL << (v[i].i % 64);
            m->nnz[mat_index(m, l, (wf_sparse_mat)s)] = keep;
        }
    wf_free(h, v);
    *out = m;
    return WF_OK;
}

/* Zeros the masked positions of one n-element matrix. Per 64-weight word,
** whichever set is smaller is walked bit by bit (count-trailing-zeros): the
** dropped weights are zeroed, or the kept ones saved, the word cleared and
** they put back. Both cost O(min(kept, dropped)) plus a 256-byte clear, so a
** 90% mask and a 10% mask are equally cheap. */
static void apply_mat(const uint64_t *b, float *w, size_t n) {
    size_t nw = (n + 63) / 64;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < nw; i++) {
        size_t base = i * 64, cnt = n - base < 64 ? n - base : 64;
        uint64_t valid = cnt == 64 ? ~0ULL : (1ULL << cnt) - 1, keep = b[i] & valid, drop = ~keep & valid;
        float *p = w + base;
        if (!drop) continue;
        if (__builtin_popcountll(drop) <= 32) {
            for (; drop; drop &= drop - 1) p[__builtin_ctzll(drop)] = 0.0f;
        } else {
            float kept[32];
            int k = 0;
            for (uint64_t m = keep; m; m &= m - 1) kept[k++] = p[__builtin_ctzll(m)];
            memset(p, 0, sizeof(float) * cnt);
            k = 0;
            for (uint64_t m = keep; m; m &= m - 1) p[__builtin_ctzll(m)] = kept[k++];
        }
    }
}

void wf_sparse_mask_apply_layer(const wf_sparse_mask *m, int l, float *block) {
    size_t base = wf_gpt_block_offset(&m->cfg, 1 + l);
    for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(&m->cfg, 2 + WF_T_LAYER_COUNT * l + slot_of[s], &ti);
        apply_mat(wf_sparse_mask_bits(m, l, (wf_sparse_mat)s), block + (ti.offset - base), ti.numel);
    }
}

void wf_sparse_mask_apply(const wf_sparse_mask *m, float *buf) {
    for (int l = 0; l < m->cfg.n_layer; l++)
        wf_sparse_mask_apply_layer(m, l, buf + wf_gpt_block_offset(&m->cfg, 1 + l));
}

uint64_t wf_sparse_mask_violations(const wf_sparse_mask *m, const float *buf) {
    uint64_t bad = 0;
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
            wf_tensor_info ti;
            wf_gpt_tensor_info(&m->cfg, 2 + WF_T_LAYER_COUNT * l + slot_of[s], &ti);
            const uint64_t *b = wf_sparse_mask_bits(m, l, (wf_sparse_mat)s);
            const float *w = buf + ti.offset;
            for (size_t i = 0; i < ti.numel; i++)
                if (!((b[i / 64] >> (i % 64)) & 1) && w[i] != 0.0f) bad++;
        }
    return bad;
}

/* ---- the mask file ------------------------------------------------------------ */

enum { HDR = 64 };

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* zlib's crc32 takes a uInt length: feed it in pieces. */
static uint32_t crc_of(const uint8_t *p, size_t n) {
    uLong crc = crc32(0, NULL, 0);
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, k);
        p += k, n -= k;
    }
    return (uint32_t)crc;
}

static size_t choices_bytes(int L) { return ((size_t)L * WF_SPARSE_MAT_COUNT + 7) / 8 * 8; }

wf_status wf_sparse_mask_save(const char *path, const wf_sparse_mask *m, wf_err *err) {
    int L = m->cfg.n_layer;
    size_t cb = choices_bytes(L), body = cb + 8 * m->words, n = HDR + body;
    uint8_t *buf = wf_calloc(m->heap, n, "sparse mask file", err);
    if (!buf) return WF_ENOMEM;
    uint64_t kept = 0;
    for (size_t i = 0; i < (size_t)L * WF_SPARSE_MAT_COUNT; i++) kept += m->nnz[i];
    memcpy(buf, "WFMASK\0\0", 8);
    put32(buf + 8, WF_SPARSE_MASK_VERSION);
    put32(buf + 12, (uint32_t)L);
    put32(buf + 16, (uint32_t)m->cfg.n_embd);
    put32(buf + 20, (uint32_t)m->cfg.n_inner);
    put32(buf + 24, (uint32_t)m->dist);
    put32(buf + 28, WF_SPARSE_MAT_COUNT);
    uint64_t sb;
    memcpy(&sb, &m->sparsity, 8);
    put64(buf + 32, sb);
    put64(buf + 40, kept);
    put64(buf + 48, body);
    memcpy(buf + HDR, m->use, (size_t)L * WF_SPARSE_MAT_COUNT);
    for (size_t i = 0; i < m->words; i++) put64(buf + HDR + cb + 8 * i, m->bits[i]);
    put32(buf + 56, crc_of(buf + HDR, body));
    put32(buf + 60, crc_of(buf, 60));
    wf_status st = wf_file_write_atomic(path, buf, n, err);
    wf_free(m->heap, buf);
    return st;
}

wf_status wf_sparse_mask_parse(const uint8_t *d, size_t n, const char *name, const wf_gpt_config *c, wf_heap *h,
                               wf_sparse_mask **out, wf_err *err) {
    *out = NULL;
    if (n < HDR)
        return WF_FAIL(err, WF_ECORRUPT, "%s: %zu bytes, shorter than the %d-byte header of a mask file", name, n, HDR);
    if (memcmp(d, "WFMASK\0\0", 8))
        return WF_FAIL(err, WF_ECORRUPT, "%s: offset 0: bad magic, expected \"WFMASK\" (not a wafer mask file)", name);
    if (get32(d + 60) != crc_of(d, 60))
        return WF_FAIL(err, WF_ECORRUPT, "%s: offset 60: header CRC mismatch (the file is damaged)", name);
    uint32_t ver = get32(d + 8);
    if (ver != WF_SPARSE_MASK_VERSION)
        return WF_FAIL(err, WF_ECORRUPT, "%s: offset 8: version %u, expected %d", name, ver, WF_SPARSE_MASK_VERSION);
    uint32_t L = get32(d + 12), C = get32(d + 16), F = get32(d + 20), dist = get32(d + 24), per = get32(d + 28);
    if (L != (uint32_t)c->n_layer || C != (uint32_t)c->n_embd || F != (uint32_t)c->n_inner)
        return WF_FAIL(err, WF_ESHAPE, "%s: mask for a model of %u layers, n_embd %u, n_inner %u; this model has "
                       "%d layers, n_embd %d, n_inner %d (a mask file of another model?)", name, L, C, F,
                       c->n_layer, c->n_embd, c->n_inner);
    if (per != WF_SPARSE_MAT_COUNT)
        return WF_FAIL(err, WF_ECORRUPT, "%s: offset 28: %u matrices per layer, expected %d", name, per, WF_SPARSE_MAT_COUNT);
    if (dist >= WF_SPARSE_DIST_COUNT)
        return WF_FAIL(err, WF_ECORRUPT, "%s: offset 24: unknown distribution %u", name, dist);
    double S;
    uint64_t sb = get64(d + 32);
    memcpy(&S, &sb, 8);
    if (!(S >= 0.0 && S < 1.0))
        return WF_FAIL(err, WF_ECORRUPT, "%s: offset 32: sparsity %g outside [0, 1)", name, S);
    wf_sparse_mask *m;
    wf_status st = mask_alloc(c, h, &m, err);
    if (st) return st;
    m->sparsity = S, m->dist = (wf_sparse_dist)dist;
    size_t cb = choices_bytes(c->n_layer), body = cb + 8 * m->words;
    uint64_t want_body = get64(d + 48), kept = get64(d + 40);
    if (want_body != body || n - HDR != body) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: offset 48: body of %llu bytes, file holds %zu after the header; the "
                     "model's masks take %zu", name, (unsigned long long)want_body, n - HDR, body);
        goto fail;
    }
    if (get32(d + 56) != crc_of(d + HDR, body)) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: offset %d: body CRC mismatch (the file is damaged)", name, HDR);
        goto fail;
    }
    size_t nm = (size_t)c->n_layer * WF_SPARSE_MAT_COUNT;
    for (size_t i = 0; i < cb; i++) {
        uint8_t u = d[HDR + i];
        if ((i < nm && u >= WF_SPARSE_USE_COUNT) || (i >= nm && u)) {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: offset %zu: kernel choice %u, expected 0..%d", name, HDR + i, u,
                         i < nm ? WF_SPARSE_USE_COUNT - 1 : 0);
            goto fail;
        }
        if (i < nm) m->use[i] = u;
    }
    for (size_t i = 0; i < m->words; i++) m->bits[i] = get64(d + HDR + cb + 8 * i);
    uint64_t total = 0;
    for (size_t i = 0; i < nm; i++) {
        int r, k;
        wf_sparse_mat_shape(c, (wf_sparse_mat)(i % WF_SPARSE_MAT_COUNT), &r, &k);
        size_t bits = (size_t)r * k, w0 = m->word_off[i], w1 = m->word_off[i + 1];
        uint64_t cnt = 0;
        for (size_t w = w0; w < w1; w++) cnt += (uint64_t)__builtin_popcountll(m->bits[w]);
        if (bits % 64 && (m->bits[w1 - 1] >> (bits % 64))) {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: layer %zu %s: padding bits set past the matrix", name,
                         i / WF_SPARSE_MAT_COUNT, wf_sparse_mat_name((wf_sparse_mat)(i % WF_SPARSE_MAT_COUNT)));
            goto fail;
        }
        m->nnz[i] = cnt, total += cnt;
    }
    if (total != kept) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: offset 40: header counts %llu kept weights, the bits hold %llu", name,
                     (unsigned long long)kept, (unsigned long long)total);
        goto fail;
    }
    *out = m;
    return WF_OK;
fail:
    wf_sparse_mask_free(m);
    return st;
}

wf_status wf_sparse_mask_load(const char *path, const wf_gpt_config *c, wf_heap *h, wf_sparse_mask **out,
                              wf_err *err) {
    char *buf;
    size_t n;
    *out = NULL;
    wf_status st = wf_file_read(h, path, &buf, &n, err);
    if (st) return st;
    st = wf_sparse_mask_parse((const uint8_t *)buf, n, path, c, h, out, err);
    wf_free(h, buf);
    return st;
}

int wf_sparse_mask_in(const char *dir) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, WF_SPARSE_MASK_FILE);
    return wf_path_exists(p);
}
