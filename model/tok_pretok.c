/* tok_pretok.c — the GPT-2 pre-tokenizer: splits text into the pieces that BPE
** then encodes one by one, exactly as the regex
**   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
** does in Hugging Face tokenizers (Oniguruma, Unicode 16.0 classes from
** tok_unicode.c), but on bytes and without a regex engine.
**
** Invalid UTF-8: a byte that does not start a well-formed sequence (strict:
** no overlongs, no surrogates, nothing above U+10FFFF, no truncation) is one
** OTHER character. U+FFFD, which HF sees after errors='replace', is OTHER too,
** so the pieces fall where HF's fall; their bytes are the original ones.
**
** wf_tok_pretok_next is the fast path; wf_tok_pretok_next_ref is a literal
** transcription of the alternation (tried in order, with the lookahead done by
** backtracking) that the tests compare it with on random input. */
#include "model/tok_int.h"

#include <string.h>

/* Strict UTF-8 decode of the sequence at s[i]: returns its length (2..4) and
** sets *cp, or 0 when s[i] does not start a well-formed sequence. s[i] >= 0x80. */
static inline size_t utf8_seq(const uint8_t *s, size_t n, size_t i, uint32_t *cp) {
    uint8_t b0 = s[i];
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
            *cp = ((uint32_t)(b0 & 0x1F) << 6) | (s[i + 1] & 0x3F);
            return 2;
        }
        return 0;
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (i + 2 >= n) return 0;
        uint8_t b1 = s[i + 1], b2 = s[i + 2];
        uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
        if (b1 < lo || b1 > hi || (b2 & 0xC0) != 0x80) return 0;
        *cp = ((uint32_t)(b0 & 0x0F) << 12) | ((uint32_t)(b1 & 0x3F) << 6) | (b2 & 0x3F);
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (i + 3 >= n) return 0;
        uint8_t b1 = s[i + 1], b2 = s[i + 2], b3 = s[i + 3];
        uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
        if (b1 < lo || b1 > hi || (b2 & 0xC0) != 0x80 || (b3 & 0xC0) != 0x80) return 0;
        *cp = ((uint32_t)(b0 & 0x07) << 18) | ((uint32_t)(b1 & 0x3F) << 12) |
              ((uint32_t)(b2 & 0x3F) << 6) | (b3 & 0x3F);
        return 4;
    }
    return 0;
}

/* Class of the character at s[i] and its byte length in *clen. */
static inline int class_at(const uint8_t *ascii, const uint8_t *s, size_t n, size_t i, size_t *clen) {
    uint8_t b = s[i];
    if (b < 0x80) {
        *clen = 1;
        return ascii[b];
    }
    uint32_t cp;
    size_t l = utf8_seq(s, n, i, &cp);
    if (!l) {
        *clen = 1;
        return WF_TOK_OTHER;
    }
    *clen = l;
    return wf_tok_uc_class(cp);
}

size_t wf_tok_pretok_next(const uint8_t *s, size_t n, size_t i) {
    const uint8_t *ascii = wf_tok_uc_stage2 + (size_t)wf_tok_uc_stage1[0] * 128;
    uint8_t c0 = s[i];
    if (c0 == '\'' && i + 1 < n) { /* 's 't 're 've 'm 'll 'd: first alternatives win */
        uint8_t c1 = s[i + 1];
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
        if (i + 2 < n) {
            uint8_t c2 = s[i + 2];
            if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
                return i + 3;
        }
    }
    size_t l;
    int c = class_at(ascii, s, n, i, &l);
    size_t j = i + l;
    if (c0 == ' ' && j < n) { /* ` ?X+`: a space joins the run after it unless that is space too */
        size_t l2;
        int c2 = class_at(ascii, s, n, j, &l2);
        if (c2 != WF_TOK_SPACE) {
            c = c2;
            j += l2;
        }
    }
    if (c != WF_TOK_SPACE) {
        while (j < n) {
            if (s[j] < 0x80) {
                if (ascii[s[j]] != c) break;
                j++;
                continue;
            }
            if (class_at(ascii, s, n, j, &l) != c) break;
            j += l;
        }
        return j;
    }
    /* \s+(?!\S) then \s+: a whitespace run followed by a non-space gives up its
    ** last character (which then starts the next piece), unless it is alone. */
    size_t last = i;
    while (j < n) {
        if (class_at(ascii, s, n, j, &l) != WF_TOK_SPACE) break;
        last = j;
        j += l;
    }
    if (j == n) return n;
    return last > i ? last : j;
}

/* ---- reference ----------------------------------------------------------- */

/* Decodes one character the slow way: length from the lead byte, then the code
** point, then reject overlong / surrogate / too large. Returns its class. */
static int ref_char(const uint8_t *s, size_t n, size_t i, size_t *clen) {
    uint8_t b = s[i];
    size_t need = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    *clen = 1;
    if (need == 0 || i + need > n) return WF_TOK_OTHER;
    uint32_t cp = need == 1 ? b : need == 2 ? (b & 0x1Fu) : need == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (size_t k = 1; k < need; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return WF_TOK_OTHER;
        cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return WF_TOK_OTHER;
    *clen = need;
    return wf_tok_uc_class(cp);
}

/* Matches X+ where X is "class == want" (or, for OTHER, "not space/letter/number"). */
static size_t ref_run(const uint8_t *s, size_t n, size_t p, int want) {
    size_t l;
    while (p < n && ref_char(s, n, p, &l) == want) p += l;
    return p;
}

size_t wf_tok_pretok_next_ref(const uint8_t *s, size_t n, size_t i) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (int k = 0; k < 7; k++) {
        size_t m = contractions[k][2] ? 3 : 2;
        if (i + m <= n && !memcmp(s + i, contractions[k], m)) return i + m;
    }
    static const int runs[] = {WF_TOK_LETTER, WF_TOK_NUMBER, WF_TOK_OTHER};
    for (int k = 0; k < 3; k++) {
        size_t p = i, l;
        if (s[p] == ' ') p++;
        /* ` ?` is greedy; without the space the run cannot start on a space. */
        if (p < n && ref_char(s, n, p, &l) == runs[k]) return ref_run(s, n, p, runs[k]);
    }
    /* \s+(?!\S): greedy, then backtrack one character at a time. */
    size_t ends[64], ne = 0, p = i, l;
    while (p < n && ref_char(s, n, p, &l) == WF_TOK_SPACE) {
        p += l;
        if (ne < 64) ends[ne++] = p;
        else { /* long run: only the last two ends matter for the backtrack */
            ends[62] = ends[63];
            ends[63] = p;
        }
    }
    WF_ASSERT(ne > 0); /* every character is one of the four classes */
    for (size_t k = ne; k-- > 0;) {
        size_t e = ends[k];
        if (e == n || ref_char(s, n, e, &l) == WF_TOK_SPACE) return e;
    }
    return ends[ne - 1]; /* \s+ */
}

void wf_tok_byte_map(uint16_t byte_cp[256], uint8_t order[256]) {
    /* GPT-2 bytes_to_unicode: printable Latin-1 bytes keep their code point;
    ** the other 68 bytes get 256, 257, ... in byte order. Ids follow the same
    ** list: the printable ones first, then the rest. */
    int k = 0, extra = 0;
    for (int b = 0; b < 256; b++) {
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
            byte_cp[b] = (uint16_t)b;
            order[k++] = (uint8_t)b;
        }
    }
    for (int b = 0; b < 256; b++) {
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
            byte_cp[b] = (uint16_t)(256 + extra++);
            order[k++] = (uint8_t)b;
        }
    }
}

size_t wf_tokenizer_pretok_next(const uint8_t *s, size_t n, size_t i) { return wf_tok_pretok_next(s, n, i); }
