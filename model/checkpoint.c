/* checkpoint.c — Hugging Face model folders: picks the weights file(s), maps
** every named tensor onto the layer-major buffer of params.h (checking that
** each expected tensor appears exactly once with its shape), and writes
** config.json + model.safetensors back. The format readers are safetensors.c
** (also sharded, via model.safetensors.index.json) and torchbin.c. */
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "model/torchbin.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_BYTES 4096
#define MAX_SHARDS 4096

static const char *const SRC_PRESET = "random (preset, seed 1234)";
static const char *const SRC_ST = "model.safetensors";
static const char *const SRC_INDEX = "model.safetensors.index.json";
static const char *const SRC_BIN = "pytorch_model.bin";
static const char *const SRC_BIN_INDEX = "pytorch_model.bin.index.json"; /* shards pytorch_model-0000i-of-0000n.bin */
static const char *const SRC_NONE = "none (config.json only: random weights when training, seed --seed)";

/* One opened weights file: exactly one of st / tb is set. */
typedef struct {
    char path[PATH_BYTES];
    wf_safetensors *st;
    wf_torchbin *tb;
} wfile;

static int nfile_tensors(const wfile *f) { return f->st ? wf_safetensors_count(f->st) : wf_torchbin_count(f->tb); }
static const wf_tensor_desc *file_tensor(const wfile *f, int i) {
    return f->st ? wf_safetensors_tensor(f->st, i) : wf_torchbin_tensor(f->tb, i);
}
static wf_status file_read(wfile *f, int i, float *dst, wf_err *err) {
    return f->st ? wf_safetensors_read_f32(f->st, i, dst, err) : wf_torchbin_read_f32(f->tb, i, dst, err);
}

static wf_status join(char *out, const char *dir, const char *name, wf_err *err) {
    int k = snprintf(out, PATH_BYTES, "%s/%s", dir, name);
    if (k < 0 || k >= PATH_BYTES)
        return WF_FAIL(err, WF_EUSAGE, "%s: path too long, expected under %d bytes", dir, PATH_BYTES);
    return WF_OK;
}

static void shape_str(char *buf, size_t n, int ndim, const long long *shape) {
    size_t at = 0;
    at += (size_t)snprintf(buf, n, "[");
    for (int k = 0; k < ndim && at < n; k++) at += (size_t)snprintf(buf + at, n - at, "%s%lld", k ? "," : "", shape[k]);
    if (at < n) snprintf(buf + at, n - at, "]");
}

/* Decides where a folder's weights are; SRC_NONE when it has none. */
static wf_status pick_source(const char *dir, const char **source, wf_err *err) {
    char p[PATH_BYTES];
    const char *order[] = {SRC_ST, SRC_INDEX, SRC_BIN, SRC_BIN_INDEX};
    for (int i = 0; i < 4; i++) {
        int found;
        wf_status s = join(p, dir, order[i], err);
        if (!s) s = wf_path_probe(p, &found, err);
        if (s) return s;
        if (found) {
            *source = order[i];
            return WF_OK;
        }
    }
    *source = SRC_NONE;
    return WF_OK;
}

wf_status wf_checkpoint_load_config(const char *model, wf_gpt_config *cfg, const char **source, wf_err *err) {
    const char *src = NULL;
    wf_status s;
    int found;
    if (!wf_path_is_dir(model)) {
        if ((s = wf_path_probe(model, &found, err))) return s;
        if (found)
            return WF_FAIL(err, WF_EUSAGE, "%s: is a file, expected a model folder or a preset name", model);
        if (strchr(model, '/'))
            return WF_FAIL(err, WF_EIO, "%s: no such model folder", model);
        if ((s = wf_gpt_config_preset(model, cfg, err))) return s;
        if (source) *source = SRC_PRESET;
        return WF_OK;
    }
    char p[PATH_BYTES];
    if ((s = join(p, model, "config.json", err)) || (s = wf_path_probe(p, &found, err))) return s;
    if (!found) return WF_FAIL(err, WF_EIO, "%s: missing, expected a Hugging Face config.json", p);
    if ((s = wf_gpt_config_load(p, cfg, err))) return s;
    if ((s = pick_source(model, &src, err))) return s;
    if (source) *source = src;
    return WF_OK;
}

/* Reads model.safetensors.index.json and lists its shard files (plain names in dir). */
static wf_status read_index(const char *dir, const char *index, wf_heap *h, wfile **files, int *nfiles, wf_err *err) {
    char p[PATH_BYTES];
    wf_status s = join(p, dir, index, err);
    if (s) return s;
    char *text = NULL;
    size_t len = 0;
    if ((s = wf_file_read(h, p, &text, &len, err))) return s;
    cJSON *j = cJSON_ParseWithLength(text, len);
    wf_free(h, text);
    if (!j) return WF_FAIL(err, WF_ECORRUPT, "%s: invalid JSON, expected {\"weight_map\": {...}}", p);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
    if (!cJSON_IsObject(wm) || !wm->child) {
        cJSON_Delete(j);
        return WF_FAIL(err, WF_ECORRUPT, "%s: no weight_map object, expected {\"weight_map\": {name: file}}", p);
    }
    int cap = cJSON_GetArraySize(wm), n = 0;
    if (cap > MAX_SHARDS) cap = MAX_SHARDS;
    wfile *f = wf_calloc(h, (size_t)cap * sizeof *f, "shard list", err);
    if (!f) {
        cJSON_Delete(j);
        return WF_ENOMEM;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        const char *fn = cJSON_IsString(e) ? e->valuestring : NULL;
        if (!fn || !*fn || strchr(fn, '/') || strchr(fn, '\\') || !strcmp(fn, ".") || !strcmp(fn, "..")) {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': shard file '%s' is not a plain file name, expected one "
                        "in the same folder", p, e->string ? e->string : "", fn ? fn : "(not a string)");
            break;
        }
        char full[PATH_BYTES];
        if ((s = join(full, dir, fn, err))) break;
        int k = 0;
        while (k < n && strcmp(f[k].path, full)) k++;
        if (k < n) continue;
        if (n == cap) {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: more than %d shard files", p, MAX_SHARDS);
            break;
        }
        memcpy(f[n++].path, full, sizeof full);
    }
    cJSON_Delete(j);
    if (s) {
        wf_free(h, f);
        return s;
    }
    *files = f;
    *nfiles = n;
    return WF_OK;
}

/* Buffers the checkpoint may carry besides the parameters: ignored. */
static int is_ignored_buffer(const char *name) {
    if (strncmp(name, "h.", 2)) return 0;
    const char *dot = strchr(name + 2, '.');
    return dot && (!strcmp(dot, ".attn.bias") || !strcmp(dot, ".attn.masked_bias"));
}

typedef struct { int file, idx; } slot;

/* GPT2LMHeadModel's state dict prefixes the body's tensors, not the head's. */
static const char *hf_prefix(const char *name) { return strcmp(name, "lm_head.weight") ? "transformer." : ""; }

/* A model being read block by block (checkpoint.h): a folder's files with
** every expected tensor located, or a random initialisation. */
struct wf_ckpt_reader {
    wf_gpt_config cfg;
    wf_heap *h;
    char dir[PATH_BYTES];
    int random, next; /* random: blocks must come in order (one generator) */
    wf_rng rng;
    wfile *files;
    int nfiles;
    slot *slots;
    /* NaN or Inf weights load (a diverged run's checkpoint is still worth
    ** inspecting) but never silently: one warning after the last block names
    ** the first such tensor and counts the others. */
    size_t first_bad, first_at, first_numel;
    int bad_tensors, first;
};

static void count_nonfinite(wf_ckpt_reader *r, int i, const float *p, size_t numel) {
    size_t bad = 0, at = 0;
    for (size_t k = 0; k < numel; k++)
        if (!isfinite(p[k]) && bad++ == 0) at = k;
    if (!bad) return;
    if (r->bad_tensors++ == 0) r->first = i, r->first_bad = bad, r->first_at = at, r->first_numel = numel;
}

static void warn_nonfinite(const wf_ckpt_reader *r) {
    if (!r->bad_tensors) return;
    wf_tensor_info info;
    wf_gpt_tensor_info(&r->cfg, r->first, &info);
    char more[48] = "";
    if (r->bad_tensors > 1) snprintf(more, sizeof more, ", and %d more tensors", r->bad_tensors - 1);
    wf_log(WF_LOG_WARN, "%s: tensor '%s%s': %zu of %zu values are NaN or Inf (first at element %zu)%s;"
           " outputs will be NaN", r->dir, hf_prefix(info.name), info.name, r->first_bad, r->first_numel, r->first_at, more);
}

void wf_checkpoint_close(wf_ckpt_reader *r) {
    if (!r) return;
    wf_free(r->h, r->slots);
    for (int i = 0; i < r->nfiles; i++) {
        wf_safetensors_close(r->files[i].st);
        wf_torchbin_close(r->files[i].tb);
    }
    wf_free(r->h, r->files);
    wf_free(r->h, r);
}

/* Opens every file of the folder and finds each expected tensor exactly once. */
static wf_status open_folder(wf_ckpt_reader *r, const char *dir, const char *source, wf_err *err) {
    wf_heap *h = r->h;
    const wf_gpt_config *cfg = &r->cfg;
    wf_status s;
    int nt = wf_gpt_tensor_count(cfg);
    if (source == SRC_INDEX || source == SRC_BIN_INDEX) {
        if ((s = read_index(dir, source, h, &r->files, &r->nfiles, err))) return s;
    } else {
        r->files = wf_calloc(h, sizeof *r->files, "weights file", err);
        if (!r->files) return WF_ENOMEM;
        r->nfiles = 1;
        if ((s = join(r->files[0].path, dir, source, err))) return s;
    }
    wfile *files = r->files;
    for (int i = 0; i < r->nfiles; i++) {
        if (source == SRC_BIN || source == SRC_BIN_INDEX) s = wf_torchbin_open(files[i].path, h, &files[i].tb, err);
        else s = wf_safetensors_open(files[i].path, h, &files[i].st, err);
        if (s) return s;
    }
    slot *slots = r->slots = wf_alloc(h, (size_t)nt * sizeof *slots, "tensor slots", err);
    if (!slots) return WF_ENOMEM;
    for (int i = 0; i < nt; i++) slots[i] = (slot){-1, -1};
    char a[160], b[160];
    wf_tensor_info wte;
    wf_gpt_tensor_info(cfg, 0, &wte);
    for (int fi = 0; fi < r->nfiles; fi++) {
        const wfile *f = &files[fi];
        for (int ti = 0; ti < nfile_tensors(f); ti++) {
            const wf_tensor_desc *d = file_tensor(f, ti);
            const char *nm = d->name;
            if (!strncmp(nm, "transformer.", 12)) nm += 12;
            if (is_ignored_buffer(nm)) continue;
            int want;
            wf_tensor_info info;
            if (!strcmp(d->name, "lm_head.weight") && !cfg->untied_head) {
                info = wte; /* tied: must match wte, and is not loaded */
                want = -2;
            } else {
                want = wf_gpt_tensor_find(cfg, d->name);
                if (want < 0)
                    return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': not a parameter of this model, expected only "
                                   "the %d tensors of a %d-layer GPT-2", f->path, d->name, nt, cfg->n_layer);
                wf_gpt_tensor_info(cfg, want, &info);
            }
            int same = d->ndim == info.ndim;
            for (int k = 0; same && k < d->ndim; k++) same = d->shape[k] == info.shape[k];
            if (!same) {
                shape_str(a, sizeof a, d->ndim, d->shape);
                shape_str(b, sizeof b, info.ndim, info.shape);
                return WF_FAIL(err, WF_ESHAPE, "%s: tensor '%s': shape %s, expected %s%s", f->path, d->name, a, b,
                               want == -2 ? " (tied to wte)" : "");
            }
            if (want == -2) continue;
            if (slots[want].file >= 0) {
                const wfile *g = &files[slots[want].file];
                return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': appears twice (also as '%s' in %s), expected once",
                               f->path, d->name, file_tensor(g, slots[want].idx)->name, g->path);
            }
            slots[want] = (slot){fi, ti};
        }
    }
    for (int i = 0; i < nt; i++) {
        if (slots[i].file >= 0) continue;
        wf_tensor_info info;
        wf_gpt_tensor_info(cfg, i, &info);
        shape_str(b, sizeof b, info.ndim, info.shape);
        return WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s%s': missing, expected shape %s in %s%s", dir, hf_prefix(info.name),
                       info.name, b, source, i == nt - 1 && cfg->untied_head ? " (config.json: tie_word_embeddings false)" : "");
    }
    return WF_OK;
}

static wf_status reader_new(const wf_gpt_config *cfg, const char *dir, wf_heap *h, wf_ckpt_reader **out, wf_err *err) {
    wf_ckpt_reader *r = wf_calloc(h, sizeof *r, "checkpoint reader", err);
    if (!r) return WF_ENOMEM;
    r->cfg = *cfg, r->h = h;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    *out = r;
    return WF_OK;
}

wf_status wf_checkpoint_open_random(const wf_gpt_config *cfg, uint64_t seed, wf_heap *h, wf_ckpt_reader **out,
                                    wf_err *err) {
    wf_status s = reader_new(cfg, cfg->name, h, out, err);
    if (s) return s;
    (*out)->random = 1;
    wf_rng_seed(&(*out)->rng, seed);
    return WF_OK;
}

wf_status wf_checkpoint_open(const char *model, int init, uint64_t seed, wf_heap *h, wf_gpt_config *cfg,
                             wf_ckpt_reader **out, wf_err *err) {
    *out = NULL;
    const char *source = NULL;
    wf_status s = wf_checkpoint_load_config(model, cfg, &source, err);
    if (s) return s;
    if (source == SRC_NONE && !init)
        return WF_FAIL(err, WF_EIO, "%s: no model weights, expected model.safetensors, model.safetensors.index.json "
                       "or pytorch_model.bin (only config.json: train --model starts it from random weights)", model);
    if (source == SRC_PRESET || source == SRC_NONE)
        return wf_checkpoint_open_random(cfg, source == SRC_PRESET ? WF_CHECKPOINT_PRESET_SEED : seed, h, out, err);
    if ((s = reader_new(cfg, model, h, out, err))) return s;
    if ((s = open_folder(*out, model, source, err))) {
        wf_checkpoint_close(*out);
        *out = NULL;
    }
    return s;
}

wf_status wf_checkpoint_read_block(wf_ckpt_reader *r, int b, float *dst, wf_err *err) {
    const wf_gpt_config *c = &r->cfg;
    WF_ASSERT(b >= 0 && b < wf_gpt_nblocks(c));
    if (r->random) {
        if (b != r->next)
            return WF_FAIL(err, WF_EUSAGE, "%s: random initialisation gives blocks in order: block %d asked for, "
                           "%d is next", r->dir, b, r->next);
        wf_gpt_init_block(c, b, dst, &r->rng);
        r->next++;
        return WF_OK;
    }
    size_t base = wf_gpt_block_offset(c, b), end = base + wf_gpt_block_numel(c, b);
    for (int i = 0; i < wf_gpt_tensor_count(c); i++) {
        wf_tensor_info info;
        wf_gpt_tensor_info(c, i, &info);
        if (info.offset < base || info.offset >= end) continue;
        float *p = dst + (info.offset - base);
        wf_status s = file_read(&r->files[r->slots[i].file], r->slots[i].idx, p, err);
        if (s) return s;
        count_nonfinite(r, i, p, info.numel);
    }
    if (b == wf_gpt_nblocks(c) - 1) warn_nonfinite(r);
    return WF_OK;
}

/* init 0: a folder without weights is an error (inference needs trained weights). */
static wf_status load_any(const char *model, int init, uint64_t seed, wf_heap *h, wf_gpt_config *cfg, float **weights,
                          wf_err *err) {
    *weights = NULL;
    wf_ckpt_reader *r;
    wf_status s = wf_checkpoint_open(model, init, seed, h, cfg, &r, err);
    if (s) return s;
    float *w = wf_alloc(h, wf_gpt_numel(cfg) * sizeof(float), "model weights", err);
    if (!w) s = WF_ENOMEM;
    for (int b = 0; !s && b < wf_gpt_nblocks(cfg); b++) s = wf_checkpoint_read_block(r, b, w + wf_gpt_block_offset(cfg, b), err);
    wf_checkpoint_close(r);
    if (s) wf_free(h, w);
    else *weights = w;
    return s;
}

wf_status wf_checkpoint_load(const char *model, wf_heap *h, wf_gpt_config *cfg, float **weights, wf_err *err) {
    return load_any(model, 0, 0, h, cfg, weights, err);
}

wf_status wf_checkpoint_load_or_init(const char *model, uint64_t seed, wf_heap *h, wf_gpt_config *cfg,
                                     float **weights, wf_err *err) {
    return load_any(model, 1, seed, h, cfg, weights, err);
}

typedef struct {
    const wf_gpt_config *cfg;
    wf_block_fn get;
    void *ud;
    int cur;            /* block whose data blk holds, -1 none */
    const float *blk;
} save_ctx;

static wf_status save_tensor(void *ud, int i, const float **data, wf_err *err) {
    save_ctx *x = ud;
    wf_tensor_info info;
    wf_gpt_tensor_info(x->cfg, i, &info);
    int b = 0;
    while (b + 1 < wf_gpt_nblocks(x->cfg) && wf_gpt_block_offset(x->cfg, b + 1) <= info.offset) b++;
    if (b != x->cur) {
        wf_status s = x->get(x->ud, b, &x->blk, err);
        if (s) return s;
        x->cur = b;
    }
    *data = x->blk + (info.offset - wf_gpt_block_offset(x->cfg, b));
    return WF_OK;
}

/* Tensors [first, first+n) of the entries as one safetensors file; the
** save context's callback indices are the model's tensor indices. */
typedef struct {
    save_ctx *x;
    int first;
} shard_ctx;

static wf_status shard_tensor(void *ud, int i, const float **data, wf_err *err) {
    shard_ctx *s = ud;
    return save_tensor(s->x, s->first + i, data, err);
}

wf_status wf_checkpoint_save_blocks(const char *dir, const wf_gpt_config *cfg, wf_block_fn get, void *ud,
                                    uint64_t max_shard_bytes, wf_err *err) {
    char p[PATH_BYTES];
    wf_status s = wf_gpt_config_validate(cfg, dir, err);
    if (s) return s;
    if ((s = wf_mkdir_p(dir, err))) return s;
    if ((s = join(p, dir, "config.json", err)) || (s = wf_gpt_config_save(cfg, p, err))) return s;
    int nt = wf_gpt_tensor_count(cfg);
    typedef struct { char name[80]; long long shape[2]; int shard; } named;
    named *names = wf_alloc(NULL, (size_t)nt * sizeof *names, "tensor names", err);
    wf_st_entry *ents = wf_alloc(NULL, (size_t)nt * sizeof *ents, "tensor entries", err);
    if (!names || !ents) {
        wf_free(NULL, names);
        wf_free(NULL, ents);
        return WF_ENOMEM;
    }
    /* shards: consecutive tensors while they fit max_shard_bytes (a larger
    ** tensor gets a shard of its own), as transformers' save_pretrained does */
    int nshards = 1;
    uint64_t in_shard = 0, total = 0;
    for (int i = 0; i < nt; i++) {
        wf_tensor_info info;
        wf_gpt_tensor_info(cfg, i, &info);
        snprintf(names[i].name, sizeof names[i].name, "%s%s", hf_prefix(info.name), info.name);
        names[i].shape[0] = info.shape[0];
        names[i].shape[1] = info.shape[1];
        ents[i] = (wf_st_entry){names[i].name, info.ndim, names[i].shape, NULL};
        uint64_t bytes = 4 * (uint64_t)info.numel;
        if (max_shard_bytes && in_shard > 0 && in_shard + bytes > max_shard_bytes) nshards++, in_shard = 0;
        names[i].shard = nshards - 1;
        in_shard += bytes, total += bytes;
    }
    save_ctx x = {cfg, get, ud, -1, NULL};
    if (nshards == 1) {
        if (!(s = join(p, dir, "model.safetensors", err))) s = wf_safetensors_write_fn(p, ents, nt, save_tensor, &x, err);
    } else {
        cJSON *idx = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(idx, "metadata");
        cJSON *map = cJSON_AddObjectToObject(idx, "weight_map");
        cJSON_AddNumberToObject(meta, "total_size", (double)total);
        for (int first = 0, k = 0; !s && first < nt; k++) {
            int n = 0;
            while (first + n < nt && names[first + n].shard == k) n++;
            char fn[64];
            snprintf(fn, sizeof fn, "model-%05d-of-%05d.safetensors", k + 1, nshards);
            for (int i = first; i < first + n; i++) cJSON_AddStringToObject(map, names[i].name, fn);
            shard_ctx sc = {&x, first};
            if (!(s = join(p, dir, fn, err))) s = wf_safetensors_write_fn(p, ents + first, n, shard_tensor, &sc, err);
            first += n;
        }
        char *text = s ? NULL : cJSON_Print(idx);
        cJSON_Delete(idx);
        if (!s && !text) s = WF_FAIL(err, WF_ENOMEM, "%s: out of memory writing model.safetensors.index.json", dir);
        if (!s && !(s = join(p, dir, "model.safetensors.index.json", err))) s = wf_file_write_atomic(p, text, strlen(text), err);
        free(text);
    }
    wf_free(NULL, names);
    wf_free(NULL, ents);
    return s;
}

typedef struct { const wf_gpt_config *cfg; const float *w; } whole;

static wf_status whole_block(void *ud, int b, const float **blk, wf_err *err) {
    (void)err;
    const whole *x = ud;
    *blk = x->w + wf_gpt_block_offset(x->cfg, b);
    return WF_OK;
}

wf_status wf_checkpoint_save(const char *dir, const wf_gpt_config *cfg, const float *weights, wf_err *err) {
    return wf_checkpoint_save_sharded(dir, cfg, weights, 0, err);
}

wf_status wf_checkpoint_save_sharded(const char *dir, const wf_gpt_config *cfg, const float *weights,
                                     uint64_t max_shard_bytes, wf_err *err) {
    whole x = {cfg, weights};
    return wf_checkpoint_save_blocks(dir, cfg, whole_block, &x, max_shard_bytes, err);
}
