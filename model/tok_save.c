/* tok_save.c — writes a tokenizer folder that both wafer and Hugging Face load:
** vocab.json + merges.txt (GPT-2 files, formats in tok_load.c), tokenizer.json
** (HF tokenizers: BPE model, ByteLevel pre-tokenizer/decoder, merges as "a b"
** strings, which every tokenizers version reads), tokenizer_config.json and
** special_tokens_map.json (transformers, GPT2Tokenizer with <|endoftext|> as
** bos/eos/unk). Each file is written atomically. */
#include "model/tok_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *p;
    size_t n, cap;
    wf_status st;
    wf_err *err;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->st) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n + 1) c *= 2;
        char *q = wf_realloc(NULL, b->p, c, "tokenizer save buffer", b->err);
        if (!q) {
            b->st = b->err ? b->err->code : WF_ENOMEM;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_fmt(sbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    WF_ASSERT(k >= 0 && (size_t)k < sizeof tmp);
    sb_put(b, tmp, (size_t)k);
}

/* A JSON string literal; s is UTF-8 (byte-level spellings always are). */
static void sb_json(sbuf *b, const char *s, size_t n) {
    sb_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, s + run, i - run);
        if (c == '"') sb_str(b, "\\\"");
        else if (c == '\\') sb_str(b, "\\\\");
        else sb_fmt(b, "\\u%04x", c);
        run = i + 1;
    }
    sb_put(b, s + run, n - run);
    sb_put(b, "\"", 1);
}

/* The byte-level spelling of token id as a JSON string. */
static void sb_token(sbuf *b, const wf_tokenizer *t, int32_t id, char *tmp) {
    size_t k = wf_tok_map(t->blob + t->off[id], (size_t)t->len[id], tmp);
    sb_json(b, tmp, k);
}

static size_t max_token_len(const wf_tokenizer *t) {
    size_t m = 0;
    for (int i = 0; i < t->n_vocab; i++)
        if (t->len[i] > 0 && (size_t)t->len[i] > m) m = (size_t)t->len[i];
    return m;
}

static void write_vocab(sbuf *b, const wf_tokenizer *t, char *tmp, const char *indent) {
    sb_str(b, "{");
    int first = 1;
    for (int i = 0; i < t->n_vocab; i++) {
        if (t->len[i] < 0) continue;
        sb_str(b, first ? "\n" : ",\n");
        sb_str(b, indent);
        sb_token(b, t, i, tmp);
        sb_fmt(b, ": %d", i);
        first = 0;
    }
    sb_str(b, "\n");
    sb_put(b, indent, strlen(indent) >= 2 ? strlen(indent) - 2 : 0);
    sb_str(b, "}");
}

static void merge_line(sbuf *b, const wf_tokenizer *t, int k, char *tmp) {
    size_t na = wf_tok_map(t->blob + t->off[t->merge_a[k]], (size_t)t->len[t->merge_a[k]], tmp);
    tmp[na++] = ' ';
    size_t nb = wf_tok_map(t->blob + t->off[t->merge_b[k]], (size_t)t->len[t->merge_b[k]], tmp + na);
    sb_put(b, tmp, na + nb);
}

static wf_status emit(const char *dir, const char *name, sbuf *b, wf_err *err) {
    if (b->st) return b->st;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    wf_status st = wf_file_write_atomic(path, b->p, b->n, err);
    b->n = 0;
    return st;
}

wf_status wf_tokenizer_save(const wf_tokenizer *t, const char *dir, wf_err *err) {
    wf_status st = wf_mkdir_p(dir, err);
    if (st) return st;
    size_t room = 4 * max_token_len(t) + 16;
    char *tmp = wf_alloc(NULL, room, "tokenizer save", err);
    if (!tmp) return err ? err->code : WF_ENOMEM;
    sbuf b = {.err = err};

    write_vocab(&b, t, tmp, "  ");
    sb_str(&b, "\n");
    if ((st = emit(dir, "vocab.json", &b, err))) goto done;

    sb_str(&b, "#version: 0.2\n");
    for (int k = 0; k < t->n_merges; k++) {
        merge_line(&b, t, k, tmp);
        sb_str(&b, "\n");
    }
    if ((st = emit(dir, "merges.txt", &b, err))) goto done;

    sb_str(&b, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [");
    for (int k = 0; k < t->n_specials; k++) {
        sb_str(&b, k ? ",\n    {" : "\n    {");
        sb_fmt(&b, "\"id\": %d, \"content\": ", t->specials[k].id);
        sb_json(&b, t->specials[k].text, t->specials[k].len);
        sb_str(&b, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                   "\"normalized\": false, \"special\": true}");
    }
    sb_str(&b, t->n_specials ? "\n  ],\n" : "],\n");
    sb_str(&b, "  \"normalizer\": null,\n"
               "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
               "\"trim_offsets\": true, \"use_regex\": true},\n"
               "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
               "\"trim_offsets\": false, \"use_regex\": true},\n"
               "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
               "\"trim_offsets\": true, \"use_regex\": true},\n"
               "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
               "    \"continuing_subword_prefix\": \"\",\n    \"end_of_word_suffix\": \"\",\n"
               "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n"
               "    \"vocab\": ");
    write_vocab(&b, t, tmp, "      ");
    sb_str(&b, ",\n    \"merges\": [");
    for (int k = 0; k < t->n_merges; k++) {
        sb_str(&b, k ? ",\n      " : "\n      ");
        size_t na = wf_tok_map(t->blob + t->off[t->merge_a[k]], (size_t)t->len[t->merge_a[k]], tmp);
        tmp[na++] = ' ';
        size_t nb = wf_tok_map(t->blob + t->off[t->merge_b[k]], (size_t)t->len[t->merge_b[k]], tmp + na);
        sb_json(&b, tmp, na + nb);
    }
    sb_str(&b, t->n_merges ? "\n    ]\n  }\n}\n" : "]\n  }\n}\n");
    if ((st = emit(dir, "tokenizer.json", &b, err))) goto done;

    const char *eos = t->eos >= 0 ? "\"<|endoftext|>\"" : "null";
    sb_fmt(&b, "{\n  \"add_prefix_space\": false,\n  \"bos_token\": %s,\n  \"eos_token\": %s,\n"
               "  \"unk_token\": %s,\n  \"errors\": \"replace\",\n  \"tokenizer_class\": \"GPT2Tokenizer\"\n}\n",
           eos, eos, eos);
    if ((st = emit(dir, "tokenizer_config.json", &b, err))) goto done;

    if (t->eos >= 0)
        sb_str(&b, "{\n  \"bos_token\": \"<|endoftext|>\",\n  \"eos_token\": \"<|endoftext|>\",\n"
                   "  \"unk_token\": \"<|endoftext|>\"\n}\n");
    else
        sb_str(&b, "{}\n");
    st = emit(dir, "special_tokens_map.json", &b, err);
done:
    wf_free(NULL, b.p);
    wf_free(NULL, tmp);
    return st;
}
