/* tok_load.c — reads a tokenizer folder: vocab.json + merges.txt (the GPT-2 /
** HF "slow" files) or tokenizer.json (HF tokenizers), and the GPT-2 byte-level
** spelling of tokens both use.
**
** Formats:
**   vocab.json      {"<byte-level token>": id, ...}; ids need not be dense.
**   merges.txt      optional "#version..." first line, then one merge a line:
**                   "<a> <b>" (one space; a, b and a+b in vocab.json); the line
**                   order is the merge rank.
**   tokenizer.json  model.vocab as above; model.merges as "a b" strings or
**                   ["a", "b"] pairs; added_tokens[] {id, content} matched in
**                   raw text before pre-tokenizing; pre_tokenizer ByteLevel.
** Byte-level spelling: byte b is the code point cp(b) of GPT-2's
** bytes_to_unicode (printable Latin-1 as itself, the other 68 bytes as
** U+0100..U+0143 in byte order), written in UTF-8. */
#include "model/tok_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* bytes_to_unicode without a table: the non-printable bytes 0..32, 127..160
** and 173 are numbered 256.. in order. */
static uint32_t byte_to_cp(uint8_t b) {
    if (b <= 32) return 256u + b;
    if (b >= 127 && b <= 160) return 256u + 33 + (b - 127u);
    if (b == 173) return 256u + 67;
    return b;
}

static int cp_to_byte(uint32_t cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
    if (cp < 256 || cp > 256 + 67) return -1;
    uint32_t k = cp - 256;
    return k < 33 ? (int)k : k < 67 ? (int)(127 + k - 33) : 173;
}

long wf_tok_unmap(const char *s, size_t n, char *dst) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, k = 0;
    while (i < n) {
        uint32_t cp;
        if (u[i] < 0x80) {
            cp = u[i++];
        } else if ((u[i] & 0xE0) == 0xC0 && i + 1 < n && (u[i + 1] & 0xC0) == 0x80) {
            cp = ((uint32_t)(u[i] & 0x1F) << 6) | (u[i + 1] & 0x3F);
            i += 2;
        } else {
            return -1; /* every mapped code point is below U+0800 */
        }
        int b = cp_to_byte(cp);
        if (b < 0) return -1;
        dst[k++] = (char)b;
    }
    return (long)k;
}

size_t wf_tok_map(const char *raw, size_t n, char *dst) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = byte_to_cp((uint8_t)raw[i]);
        if (cp < 0x80) {
            dst[k++] = (char)cp;
        } else {
            dst[k++] = (char)(0xC0 | (cp >> 6));
            dst[k++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return k;
}

/* ---- shared pieces ------------------------------------------------------- */

static wf_status parse_json(const char *path, const char *text, size_t n, cJSON **out, wf_err *err) {
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!*out) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        return WF_FAIL(err, WF_ECORRUPT, "%s: byte %zu: invalid JSON", path, at);
    }
    return WF_OK;
}

/* Fills the vocabulary from a JSON object {token: id}. Ids are bounded by the
** number of entries (vocabulary + n_added added tokens): the id table is sized
** by the largest id, so one huge id in a tiny file must not size it. Holes are
** allowed within that bound. */
static wf_status load_vocab(const char *path, const cJSON *vocab, int min_size, int n_added, size_t extra_bytes,
                            wf_tokenizer **out, wf_err *err) {
    if (!cJSON_IsObject(vocab)) return WF_FAIL(err, WF_ECORRUPT, "%s: vocabulary is not a JSON object", path);
    long max_id = min_size - 1;
    long entries = (long)cJSON_GetArraySize(vocab) + n_added;
    size_t blob = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || v < 0 || v >= (1 << 30) || v != (double)(long)v)
            return WF_FAIL(err, WF_ECORRUPT, "%s: token '%s': id is not an integer in [0, 2^30)", path,
                           e->string);
        if ((long)v >= entries)
            return WF_FAIL(err, WF_ECORRUPT, "%s: token '%s': id %ld out of range, expected below %ld (the number "
                           "of entries)", path, e->string, (long)v, entries);
        if ((long)v > max_id) max_id = (long)v;
        blob += strlen(e->string);
    }
    if (blob + extra_bytes >= UINT32_MAX) /* token offsets are 32-bit */
        return WF_FAIL(err, WF_ECORRUPT, "%s: tokens hold %zu bytes, expected under 4 GiB", path, blob + extra_bytes);
    if (max_id < 0) return WF_FAIL(err, WF_ECORRUPT, "%s: vocabulary is empty", path);
    wf_tokenizer *t;
    wf_status st = wf_tok_new((int)max_id + 1, blob + extra_bytes, &t, err);
    if (st) return st;
    char buf[4096];
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int id = (int)e->valuedouble;
        size_t n = strlen(e->string);
        long r = n <= sizeof buf ? wf_tok_unmap(e->string, n, buf) : -1;
        if (r < 0) {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: token '%s' (id %d) is not a byte-level token", path, e->string, id);
            goto fail;
        }
        if (t->len[id] >= 0) {
            char other[4096];
            size_t on = wf_tok_map(t->blob + t->off[id], (size_t)t->len[id] < 2048 ? (size_t)t->len[id] : 2047, other);
            other[on] = 0;
            st = WF_FAIL(err, WF_ECORRUPT, "%s: id %d is used by '%s' and '%s'", path, id, other, e->string);
            goto fail;
        }
        if ((st = wf_tok_set(t, id, buf, (size_t)r, err))) {
            wf_err_prefix(err, "%s: token '%s'", path, e->string);
            goto fail;
        }
    }
    *out = t;
    return WF_OK;
fail:
    wf_tokenizer_free(t);
    return st;
}

/* Adds one merge "a b" (a and b already split) found at `where` (for errors). */
static wf_status add_merge(wf_tokenizer *t, const char *path, const char *where, const char *a, size_t la,
                           const char *b, size_t lb, const char *vocab_name, wf_err *err) {
    char ra[2048], rb[2048];
    long na = la <= sizeof ra / 2 ? wf_tok_unmap(a, la, ra) : -1;
    long nb = lb <= sizeof rb / 2 ? wf_tok_unmap(b, lb, rb) : -1;
    int32_t ia = na > 0 ? wf_tok_find(t, ra, (size_t)na) : -1;
    int32_t ib = nb > 0 ? wf_tok_find(t, rb, (size_t)nb) : -1;
    if (ia < 0 || ib < 0) {
        const char *bad = ia < 0 ? a : b;
        int bl = (int)(ia < 0 ? la : lb);
        return WF_FAIL(err, WF_ECORRUPT, "%s: %s: token '%.*s' not in %s", path, where, bl, bad, vocab_name);
    }
    memcpy(ra + na, rb, (size_t)nb);
    int32_t io = wf_tok_find(t, ra, (size_t)(na + nb));
    if (io < 0)
        return WF_FAIL(err, WF_ECORRUPT, "%s: %s: merged token '%.*s%.*s' not in %s", path, where, (int)la, a,
                       (int)lb, b, vocab_name);
    wf_status st = wf_tok_add_merge(t, ia, ib, io, err);
    if (st) wf_err_prefix(err, "%s: %s: '%.*s %.*s'", path, where, (int)la, a, (int)lb, b);
    return st;
}

/* ---- vocab.json + merges.txt --------------------------------------------- */

static wf_status load_merges_txt(wf_tokenizer *t, const char *path, const char *text, size_t n, wf_err *err) {
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += text[i] == '\n';
    wf_status st = wf_tok_reserve_merges(t, lines + 1, err);
    if (st) return st;
    size_t i = 0;
    int lineno = 0;
    while (i < n) {
        const char *ln = text + i;
        const char *nl = memchr(ln, '\n', n - i);
        size_t ll = nl ? (size_t)(nl - ln) : n - i;
        i += ll + (nl != NULL);
        lineno++;
        if (ll && ln[ll - 1] == '\r') ll--;
        if (ll == 0) continue;
        if (lineno == 1 && ll >= 8 && !memcmp(ln, "#version", 8)) continue;
        const char *sp = memchr(ln, ' ', ll);
        if (!sp || sp == ln || sp == ln + ll - 1 || memchr(sp + 1, ' ', (size_t)(ln + ll - sp - 1)))
            return WF_FAIL(err, WF_ECORRUPT, "%s: line %d: expected two tokens separated by one space, got '%.*s'",
                           path, lineno, (int)(ll < 200 ? ll : 200), ln);
        char where[32];
        snprintf(where, sizeof where, "line %d", lineno);
        st = add_merge(t, path, where, ln, (size_t)(sp - ln), sp + 1, (size_t)(ln + ll - sp - 1), "vocab.json", err);
        if (st) return st;
    }
    return WF_OK;
}

static wf_status load_vocab_merges(const char *vpath, const char *mpath, wf_tokenizer **out, wf_err *err) {
    char *vtext = NULL, *mtext = NULL;
    size_t vn, mn;
    cJSON *j = NULL;
    wf_tokenizer *t = NULL;
    wf_status st;
    if ((st = wf_file_read(NULL, vpath, &vtext, &vn, err))) goto done;
    if ((st = wf_file_read(NULL, mpath, &mtext, &mn, err))) goto done;
    if ((st = parse_json(vpath, vtext, vn, &j, err))) goto done;
    if ((st = load_vocab(vpath, j, 0, 0, 13, &t, err))) goto done;
    if ((st = load_merges_txt(t, mpath, mtext, mn, err))) goto done;
    if (wf_tok_find(t, "<|endoftext|>", 13) >= 0) {
        /* GPT2Tokenizer's default special token: split out of raw text. */
        if ((st = wf_tok_add_special(t, "<|endoftext|>", 13, wf_tok_find(t, "<|endoftext|>", 13), err))) goto done;
    }
    st = wf_tok_finish(t, vpath, err);
done:
    if (st) wf_tokenizer_free(t);
    else *out = t;
    cJSON_Delete(j);
    wf_free(NULL, vtext);
    wf_free(NULL, mtext);
    return st;
}

/* ---- tokenizer.json ------------------------------------------------------ */

static wf_status load_tokenizer_json(const char *path, wf_tokenizer **out, wf_err *err) {
    char *text = NULL;
    size_t n;
    cJSON *j = NULL;
    wf_tokenizer *t = NULL;
    wf_status st;
    if ((st = wf_file_read(NULL, path, &text, &n, err))) goto done;
    if ((st = parse_json(path, text, n, &j, err))) goto done;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsObject(model) || (type && !(cJSON_IsString(type) && !strcmp(type->valuestring, "BPE")))) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: model: expected a BPE model", path);
        goto done;
    }
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer");
    const cJSON *ptype = cJSON_GetObjectItemCaseSensitive(pre, "type");
    if (!cJSON_IsString(ptype) || strcmp(ptype->valuestring, "ByteLevel") != 0) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: pre_tokenizer: expected type ByteLevel (GPT-2), got %s", path,
                     cJSON_IsString(ptype) ? ptype->valuestring : "none");
        goto done;
    }
    /* Options that change the result and that GPT-2 does not use: refuse them
    ** rather than tokenize differently from HF. */
    static const struct {
        const char *obj, *key;
        int bad_if_true; /* 1: refuse true; 0: refuse false */
    } unsupported[] = {{"pre_tokenizer", "add_prefix_space", 1}, {"pre_tokenizer", "use_regex", 0},
                       {"model", "ignore_merges", 1}, {"model", "byte_fallback", 1}};
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(!strcmp(unsupported[i].obj, "model") ? model : pre,
                                                          unsupported[i].key);
        if (unsupported[i].bad_if_true ? cJSON_IsTrue(v) : cJSON_IsFalse(v)) {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: %s.%s %s is not supported", path, unsupported[i].obj,
                         unsupported[i].key, unsupported[i].bad_if_true ? "true" : "false");
            goto done;
        }
    }
    static const char *const empty_keys[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, empty_keys[i]);
        if (cJSON_IsString(v) && v->valuestring[0]) {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: model.%s '%s' is not supported", path, empty_keys[i],
                         v->valuestring);
            goto done;
        }
    }
    /* Added tokens may sit above the model's vocabulary: size for both. */
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(j, "added_tokens");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    int min_size = 0, n_added = cJSON_IsArray(added) ? cJSON_GetArraySize(added) : 0;
    long entries = (long)(cJSON_IsObject(vocab) ? cJSON_GetArraySize(vocab) : 0) + n_added;
    size_t extra = 0;
    for (const cJSON *a = cJSON_IsArray(added) ? added->child : NULL; a; a = a->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 29) ||
            id->valuedouble != (double)id->valueint ||
            !cJSON_IsString(content) || !content->valuestring[0]) {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: added_tokens: entry without a valid id and content", path);
            goto done;
        }
        if (id->valuedouble >= (double)entries) {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: added_tokens: '%s': id %.0f out of range, expected below %ld (the "
                         "number of entries)", path, content->valuestring, id->valuedouble, entries);
            goto done;
        }
        if (id->valueint + 1 > min_size) min_size = id->valueint + 1;
        extra += strlen(content->valuestring);
    }
    if ((st = load_vocab(path, vocab, min_size, n_added, extra, &t, err))) goto done;
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) {
        st = WF_FAIL(err, WF_ECORRUPT, "%s: model.merges: expected an array", path);
        goto done;
    }
    if ((st = wf_tok_reserve_merges(t, cJSON_GetArraySize(merges), err))) goto done;
    int k = 0;
    for (const cJSON *m = merges->child; m; m = m->next, k++) {
        char where[48];
        snprintf(where, sizeof where, "model.merges[%d]", k);
        const char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        if (cJSON_IsString(m)) {
            const char *s = m->valuestring, *sp = strchr(s, ' ');
            if (sp && sp != s && sp[1] && !strchr(sp + 1, ' ')) {
                a = s;
                la = (size_t)(sp - s);
                b = sp + 1;
                lb = strlen(b);
            }
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            a = m->child->valuestring;
            b = m->child->next->valuestring;
            la = strlen(a);
            lb = strlen(b);
        }
        if (!a || !la || !lb) {
            st = WF_FAIL(err, WF_ECORRUPT, "%s: %s: expected \"a b\" or [\"a\", \"b\"]", path, where);
            goto done;
        }
        if ((st = add_merge(t, path, where, a, la, b, lb, "model.vocab", err))) goto done;
    }
    for (const cJSON *a = cJSON_IsArray(added) ? added->child : NULL; a; a = a->next) {
        int id = cJSON_GetObjectItemCaseSensitive(a, "id")->valueint;
        const char *c = cJSON_GetObjectItemCaseSensitive(a, "content")->valuestring;
        size_t cl = strlen(c);
        if (t->len[id] < 0) {
            if ((st = wf_tok_set(t, id, c, cl, err))) {
                wf_err_prefix(err, "%s: added_tokens: '%s'", path, c);
                goto done;
            }
        } else if ((size_t)t->len[id] != cl || memcmp(t->blob + t->off[id], c, cl) != 0) {
            /* in the vocabulary under its byte-level spelling? */
            char raw[1024];
            long r = cl < sizeof raw ? wf_tok_unmap(c, cl, raw) : -1;
            if (r < 0 || (size_t)r != (size_t)t->len[id] || memcmp(t->blob + t->off[id], raw, (size_t)r)) {
                st = WF_FAIL(err, WF_ECORRUPT, "%s: added_tokens: '%s' has id %d, which model.vocab gives another token",
                             path, c, id);
                goto done;
            }
        }
        if ((st = wf_tok_add_special(t, c, cl, id, err))) goto done;
    }
    st = wf_tok_finish(t, path, err);
done:
    if (st) wf_tokenizer_free(t);
    else *out = t;
    cJSON_Delete(j);
    wf_free(NULL, text);
    return st;
}

wf_status wf_tokenizer_load(const char *dir, wf_tokenizer **out, wf_err *err) {
    *out = NULL;
    int found;
    if (!wf_path_is_dir(dir)) {
        wf_status st = wf_path_probe(dir, &found, err);
        return st ? st : WF_FAIL(err, WF_EIO, "%s: tokenizer folder not found", dir);
    }
    char vpath[4096], mpath[4096], jpath[4096];
    snprintf(vpath, sizeof vpath, "%s/vocab.json", dir);
    snprintf(mpath, sizeof mpath, "%s/merges.txt", dir);
    snprintf(jpath, sizeof jpath, "%s/tokenizer.json", dir);
    int hv, hm, hj;
    wf_status st;
    if ((st = wf_path_probe(vpath, &hv, err)) || (st = wf_path_probe(mpath, &hm, err)) ||
        (st = wf_path_probe(jpath, &hj, err)))
        return st;
    if (hv && (hm || !hj)) return load_vocab_merges(vpath, mpath, out, err);
    if (hj) return load_tokenizer_json(jpath, out, err);
    if (hm) return load_vocab_merges(vpath, mpath, out, err); /* names the missing vocab.json */
    return WF_FAIL(err, WF_EIO, "%s: no tokenizer files (looked for vocab.json + merges.txt, or tokenizer.json)",
                   dir);
}

wf_status wf_tokenizer_open(const char *model, wf_tokenizer **out, wf_err *err) {
    *out = NULL;
    if (strcmp(model, "gpt2") != 0 || wf_path_is_dir(model)) return wf_tokenizer_load(model, out, err);
    char path[4096];
    const char *env = getenv("WAFER_DATA");
    if (env && *env) {
        snprintf(path, sizeof path, "%s/gpt2", env);
        return wf_tokenizer_load(path, out, err);
    }
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        /* the executable sits in a build folder somewhere under the source
        ** root (build/wafer, build/tests/model/test_x, ...): look upwards */
        for (int up = 0; up < 5; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = 0;
            snprintf(path, sizeof path, "%s/data/gpt2", exe);
            if (wf_path_is_dir(path)) return wf_tokenizer_load(path, out, err);
        }
    }
    return WF_FAIL(err, WF_EIO, "gpt2: bundled tokenizer files not found (looked for data/gpt2 in the 5 folders "
                                "above the executable; set WAFER_DATA to the data folder)");
}

const char *wf_tokenizer_for_model(const char *flag, const char *model) {
    if (flag) return flag;
    if (!wf_path_is_dir(model)) return "gpt2";
    static const char *const files[] = {"vocab.json", "tokenizer.json"};
    for (int i = 0; i < 2; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", model, files[i]);
        if (wf_path_exists(p)) return model;
    }
    return "gpt2";
}
