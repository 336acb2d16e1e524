/* config.c — presets (docs/REFERENCE.md, Cerebras-GPT table) and the Hugging Face
** config.json reader/writer (cJSON). */
#include "model/config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct { const char *name; int L, C, H, F; float lr; int batch; int cosine; } preset;

/* docs/REFERENCE.md: Cerebras-GPT table (Dey et al. 2023). d_head = C / H. */
static const preset presets[] = {
    {"cerebras-gpt-111m", 10, 768, 12, 3072, 6.0e-4f, 120, 0},
    {"cerebras-gpt-256m", 14, 1088, 17, 4352, 6.0e-4f, 264, 0},
    {"cerebras-gpt-590m", 18, 1536, 12, 6144, 2.0e-4f, 264, 0},
    {"cerebras-gpt-1.3b", 24, 2048, 16, 8192, 2.0e-4f, 528, 1},
    {"cerebras-gpt-2.7b", 32, 2560, 20, 10240, 2.0e-4f, 528, 1},
    {"cerebras-gpt-6.7b", 32, 4096, 32, 16384, 1.2e-4f, 1040, 0},
    {"cerebras-gpt-13b", 40, 5120, 40, 20480, 1.2e-4f, 720, 1},
};
#define NPRESETS ((int)(sizeof presets / sizeof presets[0]))

const char *const wf_gpt_preset_names[] = {
    "cerebras-gpt-111m", "cerebras-gpt-256m", "cerebras-gpt-590m", "cerebras-gpt-1.3b",
    "cerebras-gpt-2.7b", "cerebras-gpt-6.7b", "cerebras-gpt-13b", NULL,
};

static void defaults(wf_gpt_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "custom");
    c->n_positions = 2048;
    c->vocab_size = 50257;
    c->layer_norm_eps = 1e-5f;
    c->act = WF_ACT_GELU;
    c->bos_token_id = c->eos_token_id = 50256;
}

wf_status wf_gpt_config_preset(const char *name, wf_gpt_config *c, wf_err *err) {
    const char *short_name = name;
    if (strncasecmp(name, "cerebras-gpt-", 13) == 0) short_name = name + 13;
    for (int i = 0; i < NPRESETS; i++) {
        if (strcasecmp(short_name, presets[i].name + 13) == 0) {
            const preset *p = &presets[i];
            defaults(c);
            snprintf(c->name, sizeof c->name, "%s", p->name);
            c->n_layer = p->L; c->n_embd = p->C; c->n_head = p->H; c->n_inner = p->F;
            c->lr = p->lr; c->batch_seqs = p->batch; c->cosine = p->cosine;
            return WF_OK;
        }
    }
    return WF_FAIL(err, WF_EUSAGE,
                   "%s: unknown model preset, expected one of cerebras-gpt-111m, -256m, -590m, "
                   "-1.3b, -2.7b, -6.7b, -13b, or a model folder", name);
}

wf_status wf_gpt_config_validate(const wf_gpt_config *c, const char *where, wf_err *err) {
#define POS(f) if (c->f <= 0) return WF_FAIL(err, WF_ECORRUPT, "%s: %s = %d, expected a positive value", where, #f, c->f)
    POS(n_layer); POS(n_embd); POS(n_head); POS(n_inner); POS(n_positions); POS(vocab_size);
#undef POS
    if (c->n_embd % c->n_head)
        return WF_FAIL(err, WF_ECORRUPT, "%s: n_embd %d is not divisible by n_head %d", where,
                       c->n_embd, c->n_head);
    if (c->n_layer > 1024 || c->n_embd > 65536 || c->n_inner > 262144 || c->n_positions > 1 << 20 ||
        c->vocab_size > 1 << 22)
        return WF_FAIL(err, WF_ECORRUPT, "%s: implausible model size (n_layer %d, n_embd %d, n_inner %d, "
                       "n_positions %d, vocab %d)", where, c->n_layer, c->n_embd, c->n_inner,
                       c->n_positions, c->vocab_size);
    if (!(c->layer_norm_eps > 0 && c->layer_norm_eps < 1))
        return WF_FAIL(err, WF_ECORRUPT, "%s: layer_norm_epsilon %g out of range", where,
                       (double)c->layer_norm_eps);
    if (c->untied_head != 0 && c->untied_head != 1)
        return WF_FAIL(err, WF_ECORRUPT, "%s: untied_head %d, expected 0 or 1", where, c->untied_head);
    if ((unsigned)c->act >= WF_ACT_COUNT)
        return WF_FAIL(err, WF_ECORRUPT, "%s: bad activation", where);
    return WF_OK;
}

int wf_gpt_activation_parse(const char *a) {
    if (!strcmp(a, "gelu")) return WF_ACT_GELU;
    if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh") || !strcmp(a, "gelu_fast")) return WF_ACT_GELU_NEW;
    return -1;
}

/* Reads an integer key; absent keeps *dst. Present but not an integer: error. */
static wf_status get_int(const cJSON *j, const char *key, int *dst, const char *path, wf_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return WF_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long long)v->valuedouble ||
        v->valuedouble < -2147483648.0 || v->valuedouble > 2147483647.0)
        return WF_FAIL(err, WF_ECORRUPT, "%s: key '%s' must be an integer", path, key);
    *dst = (int)v->valuedouble;
    return WF_OK;
}

static int get_bool(const cJSON *j, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

wf_status wf_gpt_config_load(const char *path, wf_gpt_config *c, wf_err *err) {
    char *text = NULL;
    size_t n;
    wf_status s = wf_file_read(NULL, path, &text, &n, err);
    if (s) return s;
    cJSON *j = cJSON_ParseWithLength(text, n);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long off = at ? (long)(at - text) : -1;
        wf_free(NULL, text);
        return WF_FAIL(err, WF_ECORRUPT, "%s: byte %ld: invalid JSON", path, off);
    }
    wf_free(NULL, text);
    defaults(c);
    if (!cJSON_IsObject(j)) {
        s = WF_FAIL(err, WF_ECORRUPT, "%s: expected a JSON object", path);
        goto done;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    if (cJSON_IsString(mt) && strcmp(mt->valuestring, "gpt2") != 0) {
        s = WF_FAIL(err, WF_ECORRUPT, "%s: model_type '%s' is not supported, expected 'gpt2'", path,
                    mt->valuestring);
        goto done;
    }
    c->n_inner = 0;
    if ((s = get_int(j, "n_layer", &c->n_layer, path, err)) || (s = get_int(j, "n_embd", &c->n_embd, path, err)) ||
        (s = get_int(j, "n_head", &c->n_head, path, err)) || (s = get_int(j, "n_inner", &c->n_inner, path, err)) ||
        (s = get_int(j, "n_positions", &c->n_positions, path, err)) ||
        (s = get_int(j, "vocab_size", &c->vocab_size, path, err)) ||
        (s = get_int(j, "bos_token_id", &c->bos_token_id, path, err)) ||
        (s = get_int(j, "eos_token_id", &c->eos_token_id, path, err)))
        goto done;
    if (c->n_inner == 0) c->n_inner = 4 * c->n_embd;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_epsilon");
    if (eps) {
        if (!cJSON_IsNumber(eps)) {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: key 'layer_norm_epsilon' must be a number", path);
            goto done;
        }
        c->layer_norm_eps = (float)eps->valuedouble;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "activation_function");
    if (act) {
        const char *a = cJSON_IsString(act) ? act->valuestring : "";
        int k = wf_gpt_activation_parse(a);
        if (k >= 0) c->act = (wf_activation)k;
        else {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: activation_function '%s' is not supported, expected "
                        "'gelu' or 'gelu_new'", path, a);
            goto done;
        }
    }
    static const struct { const char *key; int want; } flags[] = {
        {"scale_attn_weights", 1}, {"scale_attn_by_inverse_layer_idx", 0},
        {"reorder_and_upcast_attn", 0},
    };
    c->untied_head = !get_bool(j, "tie_word_embeddings", 1);
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (get_bool(j, flags[i].key, flags[i].want) != flags[i].want) {
            s = WF_FAIL(err, WF_ECORRUPT, "%s: '%s: %s' is not supported", path, flags[i].key,
                        flags[i].want ? "false" : "true");
            goto done;
        }
    }
    /* Name the config after its folder-independent identity, if it matches a preset. */
    for (int i = 0; i < NPRESETS; i++) {
        const preset *p = &presets[i];
        if (p->L == c->n_layer && p->C == c->n_embd && p->H == c->n_head && p->F == c->n_inner) {
            snprintf(c->name, sizeof c->name, "%s", p->name);
            c->lr = p->lr; c->batch_seqs = p->batch; c->cosine = p->cosine;
        }
    }
    s = wf_gpt_config_validate(c, path, err);
done:
    cJSON_Delete(j);
    return s;
}

wf_status wf_gpt_config_save(const wf_gpt_config *c, const char *path, wf_err *err) {
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2LMHeadModel"));
    cJSON_AddStringToObject(j, "model_type", "gpt2");
    cJSON_AddStringToObject(j, "activation_function", c->act == WF_ACT_GELU ? "gelu" : "gelu_new");
    cJSON_AddNumberToObject(j, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(j, "n_embd", c->n_embd);
    cJSON_AddNumberToObject(j, "n_head", c->n_head);
    cJSON_AddNumberToObject(j, "n_inner", c->n_inner);
    cJSON_AddNumberToObject(j, "n_positions", c->n_positions);
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "layer_norm_epsilon", (double)c->layer_norm_eps);
    cJSON_AddNumberToObject(j, "bos_token_id", c->bos_token_id);
    cJSON_AddNumberToObject(j, "eos_token_id", c->eos_token_id);
    cJSON_AddNumberToObject(j, "initializer_range", 0.02);
    cJSON_AddNumberToObject(j, "embd_pdrop", 0.0);
    cJSON_AddNumberToObject(j, "attn_pdrop", 0.0);
    cJSON_AddNumberToObject(j, "resid_pdrop", 0.0);
    cJSON_AddBoolToObject(j, "scale_attn_weights", 1);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", !c->untied_head);
    cJSON_AddBoolToObject(j, "use_cache", 1);
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return WF_FAIL(err, WF_ENOMEM, "%s: out of memory writing config", path);
    size_t n = strlen(text);
    char *buf = malloc(n + 2);
    if (!buf) {
        cJSON_free(text);
        return WF_FAIL(err, WF_ENOMEM, "%s: out of memory writing config", path);
    }
    memcpy(buf, text, n);
    buf[n] = '\n';
    cJSON_free(text);
    wf_status s = wf_file_write_atomic(path, buf, n + 1, err);
    free(buf);
    return s;
}
