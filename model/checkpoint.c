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

/* NaN or Inf weights load (a diverged run's checkpoint is still worth
** inspecting) but never silently: one warning names the first such tensor and
** counts the others. Returns the number of non-finite values. */
static size_t warn_nonfinite(const char *dir, const wf_gpt_config *cfg, const float *w) {
    size_t total = 0, first_bad = 0, first_at = 0, first_numel = 0;
    int ntensors = 0, first = -1;
    for (int i = 0; i < wf_gpt_tensor_count(cfg); i++) {
        wf_tensor_info info;
        wf_gpt_tensor_info(cfg, i, &info);
        size_t bad = 0, at = 0;
        for (size_t k = 0; k < info.numel; k++)
            if (!isfinite(w[info.offset + k]) && bad++ == 0) at = k;
        if (!bad) continue;
        total += bad;
        if (ntensors++ == 0) first = i, first_bad = bad, first_at = at, first_numel = info.numel;
    }
    if (first >= 0) {
        wf_tensor_info info;
        wf_gpt_tensor_info(cfg, first, &info);
        char more[48] = "";
        if (ntensors > 1) snprintf(more, sizeof more, ", and %d more tensors", ntensors - 1);
        wf_log(WF_LOG_WARN, "%s: tensor 'transformer.%s': %zu of %zu values are NaN or Inf (first at element %zu)%s;"
               " outputs will be NaN", dir, info.name, first_bad, first_numel, first_at, more);
    }
    return total;
}

static wf_status load_folder(const char *dir, const char *source, wf_heap *h, const wf_gpt_config *cfg,
                             float **weights, wf_err *err) {
    wfile *files = NULL;
    int nfiles = 0;
    slot *slots = NULL;
    float *w = NULL;
    wf_status s;
    int nt = wf_gpt_tensor_count(cfg);
    if (source == SRC_INDEX || source == SRC_BIN_INDEX) {
        if ((s = read_index(dir, source, h, &files, &nfiles, err))) return s;
    } else {
        files = wf_calloc(h, sizeof *files, "weights file", err);
        if (!files) return WF_ENOMEM;
        nfiles = 1;
        if ((s = join(files[0].path, dir, source, err))) goto done;
    }
    for (int i = 0; i < nfiles; i++) {
        if (source == SRC_BIN || source == SRC_BIN_INDEX) s = wf_torchbin_open(files[i].path, h, &files[i].tb, err);
        else s = wf_safetensors_open(files[i].path, h, &files[i].st, err);
        if (s) goto done;
    }
    slots = wf_alloc(h, (size_t)nt * sizeof *slots, "tensor slots", err);
    if (!slots) { s = WF_ENOMEM; goto done; }
    for (int i = 0; i < nt; i++) slots[i] = (slot){-1, -1};
    char a[160], b[160];
    wf_tensor_info wte;
    wf_gpt_tensor_info(cfg, 0, &wte);
    for (int fi = 0; fi < nfiles; fi++) {
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
                if (want < 0) {
                    s = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': not a parameter of this model, expected only "
                                "the %d tensors of a %d-layer GPT-2", f->path, d->name, nt, cfg->n_layer);
                    goto done;
                }
                wf_gpt_tensor_info(cfg, want, &info);
            }
            int same = d->ndim == info.ndim;
            for (int k = 0; same && k < d->ndim; k++) same = d->shape[k] == info.shape[k];
            if (!same) {
                shape_str(a, sizeof a, d->ndim, d->shape);
                shape_str(b, sizeof b, info.ndim, info.shape);
                s = WF_FAIL(err, WF_ESHAPE, "%s: tensor '%s': shape %s, expected %s%s", f->path, d->name, a, b,
                            want == -2 ? " (tied to wte)" : "");
                goto done;
            }
            if (want == -2) continue;
            if (slots[want].file >= 0) {
                const wfile *g = &files[slots[want].file];
                s = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s': appears twice (also as '%s' in %s), expected once",
                            f->path, d->name, file_tensor(g, slots[want].idx)->name, g->path);
                goto done;
            }
            slots[want] = (slot){fi, ti};
        }
    }
    for (int i = 0; i < nt; i++) {
        if (slots[i].file >= 0) continue;
        wf_tensor_info info;
        wf_gpt_tensor_info(cfg, i, &info);
        shape_str(b, sizeof b, info.ndim, info.shape);
        s = WF_FAIL(err, WF_ECORRUPT, "%s: tensor '%s%s': missing, expected shape %s in %s%s", dir, hf_prefix(info.name),
                    info.name, b, source, i == nt - 1 && cfg->untied_head ? " (config.json: tie_word_embeddings false)" : "");
        goto done;
    }
    w = wf_alloc(h, wf_gpt_numel(cfg) * sizeof(float), "model weights", err);
    if (!w) { s = WF_ENOMEM; goto done; }
    for (int i = 0; i < nt; i++) {
        wf_tensor_info info;
        wf_gpt_tensor_info(cfg, i, &info);
        if ((s = file_read(&files[slots[i].file], slots[i].idx, w + info.offset, err))) goto done;
    }
    warn_nonfinite(dir, cfg, w);
    s = WF_OK;
done:
    if (s) wf_free(h, w);
    else *weights = w;
    wf_free(h, slots);
    for (int i = 0; i < nfiles; i++) {
        wf_safetensors_close(files[i].st);
        wf_torchbin_close(files[i].tb);
    }
    wf_free(h, files);
    return s;
}

/* init 0: a folder without weights is an error (inference needs trained weights). */
static wf_status load_any(const char *model, int init, uint64_t seed, wf_heap *h, wf_gpt_config *cfg, float **weights,
                          wf_err *err) {
    *weights = NULL;
    const char *source = NULL;
    wf_status s = wf_checkpoint_load_config(model, cfg, &source, err);
    if (s) return s;
    if (source == SRC_NONE && !init)
        return WF_FAIL(err, WF_EIO, "%s: no model weights, expected model.safetensors, model.safetensors.index.json "
                       "or pytorch_model.bin (only config.json: train --model starts it from random weights)", model);
    if (source == SRC_PRESET || source == SRC_NONE) {
        float *w = wf_alloc(h, wf_gpt_numel(cfg) * sizeof(float), "model weights", err);
        if (!w) return WF_ENOMEM;
        wf_gpt_init_random(cfg, w, source == SRC_PRESET ? WF_CHECKPOINT_PRESET_SEED : seed);
        *weights = w;
        return WF_OK;
    }
    return load_folder(model, source, h, cfg, weights, err);
}

wf_status wf_checkpoint_load(const char *model, wf_heap *h, wf_gpt_config *cfg, float **weights, wf_err *err) {
    return load_any(model, 0, 0, h, cfg, weights, err);
}

wf_status wf_checkpoint_load_or_init(const char *model, uint64_t seed, wf_heap *h, wf_gpt_config *cfg,
                                     float **weights, wf_err *err) {
    return load_any(model, 1, seed, h, cfg, weights, err);
}

wf_status wf_checkpoint_save(const char *dir, const wf_gpt_config *cfg, const float *weights, wf_err *err) {
    char p[PATH_BYTES];
    wf_status s = wf_gpt_config_validate(cfg, dir, err);
    if (s) return s;
    if ((s = wf_mkdir_p(dir, err))) return s;
    if ((s = join(p, dir, "config.json", err)) || (s = wf_gpt_config_save(cfg, p, err))) return s;
    int nt = wf_gpt_tensor_count(cfg);
    typedef struct { char name[80]; long long shape[2]; } named;
    named *names = wf_alloc(NULL, (size_t)nt * sizeof *names, "tensor names", err);
    wf_st_entry *ents = wf_alloc(NULL, (size_t)nt * sizeof *ents, "tensor entries", err);
    if (!names || !ents) {
        wf_free(NULL, names);
        wf_free(NULL, ents);
        return WF_ENOMEM;
    }
    for (int i = 0; i < nt; i++) {
        wf_tensor_info info;
        wf_gpt_tensor_info(cfg, i, &info);
        snprintf(names[i].name, sizeof names[i].name, "%s%s", hf_prefix(info.name), info.name);
        names[i].shape[0] = info.shape[0];
        names[i].shape[1] = info.shape[1];
        ents[i] = (wf_st_entry){names[i].name, info.ndim, names[i].shape, weights + info.offset};
    }
    if (!(s = join(p, dir, "model.safetensors", err))) s = wf_safetensors_write(p, ents, nt, err);
    wf_free(NULL, names);
    wf_free(NULL, ents);
    return s;
}
