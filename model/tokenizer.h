/* tokenizer.h — the GPT-2 byte-level BPE tokenizer, id-for-id equal to Hugging
** Face's GPT2TokenizerFast on valid UTF-8. It loads vocab.json + merges.txt (or
** tokenizer.json), encodes arbitrary bytes, decodes ids back to raw bytes and
** saves an HF-loadable folder. Used by the CLI (encode/decode/generate), the
** data pipeline (tokenize) and the BPE trainer (wf_tokenizer_from_merges).
**
** Contract for input bytes (see model/tok_pretok.c for the details):
**  - Valid UTF-8: ids equal HF GPT2TokenizerFast(text) with its defaults,
**    including "<|endoftext|>" in the text becoming the single EOS id (HF
**    splits added special tokens out before pre-tokenizing).
**  - Invalid UTF-8: each byte that is not part of a well-formed sequence is
**    classed like U+FFFD (a symbol: neither letter, number nor space), so words
**    split exactly where HF splits bytes.decode('utf-8', errors='replace');
**    BPE then runs on the raw bytes of each word, so decode(encode(x)) == x for
**    every byte string x. (HF itself would encode the EF BF BD of U+FFFD and
**    lose the bytes.)
** Unicode classes (\p{L}, \p{N}, \s): HF tokenizers' Oniguruma has Unicode
** 16.0; tok_unicode.c is generated from HF itself (oracle/tokenizer_unicode_table.py),
** not from Python 3.11's unicodedata (14.0.0), which lacks 9392 newer letters/numbers.
**
** Thread safety: a loaded wf_tokenizer is never written after load (no cache:
** BPE runs per piece with call-local scratch), so any number of threads may
** call encode/decode/token_bytes on one tokenizer at once. Load/free/save must
** not run concurrently with use. Speed: 25-60 MB/s on one core (bench/tokenizer). */
#ifndef WF_MODEL_TOKENIZER_H
#define WF_MODEL_TOKENIZER_H

#include "base/base.h"

typedef struct wf_tokenizer wf_tokenizer;

/* Loads dir/vocab.json + dir/merges.txt, else dir/tokenizer.json. Errors name
** the folder and file, e.g. "<dir>/merges.txt: line 7: token 'xy' not in
** vocab.json". *out is owned by the caller (wf_tokenizer_free). */
wf_status wf_tokenizer_load(const char *dir, wf_tokenizer **out, wf_err *err);
void wf_tokenizer_free(wf_tokenizer *t); /* NULL is a no-op */

/* Like wf_tokenizer_load, but the name "gpt2" (when no folder of that name
** exists) means the bundled GPT-2 files (data/gpt2 of the source tree):
** $WAFER_DATA/gpt2 if that is set, else data/gpt2 in the nearest of the 5
** folders above the executable (build dirs live inside the source tree). */
wf_status wf_tokenizer_open(const char *model, wf_tokenizer **out, wf_err *err);
/* The tokenizer folder to use with a model: flag when given, else the model
** folder when it holds vocab.json or tokenizer.json, else "gpt2" (the bundled
** GPT-2 vocabulary, which wf_tokenizer_open resolves). Returns one of its
** arguments or a static string. */
const char *wf_tokenizer_for_model(const char *flag, const char *model);

int wf_tokenizer_vocab_size(const wf_tokenizer *t); /* largest id + 1 */
int wf_tokenizer_eos(const wf_tokenizer *t);        /* "<|endoftext|>" id, or -1 */

/* Slack allowed between a model's vocab_size and its tokenizer: HF models pad
** vocab_size up (to a multiple of 64 or 128, e.g. 50304 for GPT-2's 50257),
** so the model may have up to this many ids without a token; a larger gap
** means the tokenizer belongs to another model. */
#define WF_TOKENIZER_MAX_PAD 1023
/* Checks that t fits a model of model_vocab ids: every token id must exist in
** the model (tokenizer size <= model_vocab), and at most WF_TOKENIZER_MAX_PAD
** model ids may lack a token. `where` names the tokenizer in the message. */
wf_status wf_tokenizer_fits(const wf_tokenizer *t, int model_vocab, const char *where, wf_err *err);

/* Appends the ids of text[0..len) to the growing buffer *ids (capacity *cap,
** used *n). *ids may be NULL with *cap 0; it is (re)allocated with wf_alloc on
** the default heap, and the caller frees it with wf_free(NULL, *ids). On
** failure the buffer (ids, n, cap) stays valid (ids appended so far are kept). text is
** arbitrary bytes (NUL allowed). Scratch: none for pieces up to 64 bytes; a
** longer piece (one pre-token, e.g. a run of 100k letters) takes 32 bytes per
** byte of it for the call. */
wf_status wf_tokenizer_encode(const wf_tokenizer *t, const char *text, size_t len,
                              int32_t **ids, size_t *n, size_t *cap, wf_err *err);

/* Raw bytes of one token (not UTF-8 checked, not NUL-terminated); *bytes is
** owned by t. Returns the length, or -1 when id is out of range. */
int wf_tokenizer_token_bytes(const wf_tokenizer *t, int32_t id, const char **bytes);

/* Concatenates the bytes of ids into *out (wf_alloc, default heap, NUL-terminated,
** *len excludes the NUL; caller frees with wf_free(NULL, *out)). An id out of
** range fails with WF_ERANGE: "token id 50257 at position 3 out of range [0, 50257)". */
wf_status wf_tokenizer_decode(const wf_tokenizer *t, const int32_t *ids, size_t n,
                              char **out, size_t *len, wf_err *err);

/* Writes dir/vocab.json, merges.txt, tokenizer.json (loadable by HF
** tokenizers and transformers), tokenizer_config.json, special_tokens_map.json.
** Creates dir if needed; every file is written atomically. */
wf_status wf_tokenizer_save(const wf_tokenizer *t, const char *dir, wf_err *err);

/* Builds a GPT-2-style tokenizer from a merge list in memory (for the BPE
** trainer). Tokens are spelled as GPT-2 byte-level strings (UTF-8 of the
** bytes_to_unicode map: byte 0x20 is "Ġ", 0x0A is "Ċ", 'a' is "a"), exactly as
** in merges.txt. Merge i joins merges_a[i] + merges_b[i]; its rank is i.
** Vocabulary (the layout of the real GPT-2 files, which this reproduces from
** their merges.txt):
**   ids 0..255      the 256 single bytes, in GPT-2 order (printable bytes
**                   '!'..'~', 0xA1..0xAC, 0xAE..0xFF first, then the rest);
**   ids 256+i       the token made by merge i (a merge whose result already
**                   exists, or whose parts are not yet tokens, is an error
**                   naming the merge index);
**   id 256+n_merges "<|endoftext|>" (the EOS).
** So vocab_size = 257 + n_merges. The strings are copied; *out is owned by the
** caller. */
wf_status wf_tokenizer_from_merges(const char *const *merges_a, const char *const *merges_b,
                                   int n_merges, wf_tokenizer **out, wf_err *err);

/* The GPT-2 pre-tokenizer on its own (for the BPE trainer, so that training
** splits text exactly as encoding does): the end (exclusive byte offset) of
** the piece that starts at s[i], i < n. Arbitrary bytes; bytes that are not
** well-formed UTF-8 count as "other" characters. */
size_t wf_tokenizer_pretok_next(const uint8_t *s, size_t n, size_t i);

#endif
