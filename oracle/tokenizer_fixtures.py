#!/usr/bin/env python3
"""tokenizer_fixtures.py — builds the GPT-2 tokenizer fixtures in
tests/fixtures/tokenizer/ from Hugging Face's GPT2TokenizerFast (the oracle),
loaded from the bundled data/gpt2/vocab.json + merges.txt. Run by hand, never
by CI:  python3 oracle/tokenizer_fixtures.py   (no network; ~10 s)
        python3 oracle/tokenizer_fixtures.py --check-saved DIR
          (DIR written by wf_tokenizer_save from data/gpt2: HF must load it and
          give the fixture ids)

Writes
  corpus.bin   every document's raw bytes, back to back
  ids.bin      every document's expected ids, int32 little-endian, back to back
  index.json   {"docs": [{"name", "offset", "len", "ids_offset", "n_ids", "utf8"}], ...}
  small_bpe/   a 600-token BPE tokenizer.json trained by HF on part of the corpus
               (merges as ["a", "b"] pairs), with small_bpe/ids.bin expected
               ids of the first documents (tests the tokenizer.json reader on a
               vocabulary that is not GPT-2's)

Oracles
  valid UTF-8     GPT2TokenizerFast.encode(text) (transformers 5: there is no
                  slow GPT2Tokenizer any more). Cross-checked with an
                  independent Python port of OpenAI's original encoder.py (the
                  `regex` module, ranks, merge-all-occurrences); the script
                  prints any disagreement (expected only where `regex`'s
                  Unicode 17 classes differ from HF's Unicode 16 ones).
  invalid UTF-8   the contract of model/tokenizer.h, built from HF's own parts:
                  HF's ByteLevel pre-tokenizer on bytes.decode('utf-8',
                  errors='replace') gives the pieces; each piece's original
                  bytes are BPE-encoded by HF's BPE model. On valid UTF-8 this
                  equals GPT2TokenizerFast.encode (checked for every doc).

Corpus sources (all generated here, offline): Python 3.11 stdlib source,
pydoc_data topics (English), C headers and the config Makefile (tabs), and
test/cjkencodings (PSF licence); GNU coreutils manual pages in Japanese from
Debian's manpages-ja (GPL-3.0-or-later, translation by the JM Project); the
rest is written in this script (emoji, scripts, digits, whitespace, rare code
points, random mixtures, invalid bytes).
"""
import codecs, glob, gzip, json, os, random, re, struct, sys, sysconfig, unicodedata

import regex
import tokenizers
import transformers
from transformers import GPT2TokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data", "gpt2")
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
STDLIB = sysconfig.get_paths()["stdlib"]
INCLUDE = sysconfig.get_paths()["include"]
EOT = "<|endoftext|>"


# ---------------------------------------------------------------- corpus ----

def read(path, limit=None):
    with open(path, "rb") as f:
        b = f.read()
    return b[:limit] if limit else b


def cut_utf8(b, limit):
    """First ~limit bytes of b, cut at a line end."""
    if len(b) <= limit:
        return b
    k = b.rfind(b"\n", 0, limit)
    return b[:k + 1] if k > 0 else b[:limit]


def corpus():
    docs = []

    def add(name, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        docs.append((name, data))

    # English prose: the pydoc topics (Python's reference documentation).
    import pydoc_data.topics as topics
    for key in ["assignment", "atom-identifiers", "class", "compound", "customization", "exceptions",
                "execmodel", "formatstrings", "function", "import", "lambda", "numbers", "strings",
                "typesseq", "with"]:
        add("en_pydoc_" + key, cut_utf8(topics.topics[key].encode(), 9000))

    # Python source.
    for mod in ["textwrap.py", "heapq.py", "bisect.py", "shlex.py", "colorsys.py", "fnmatch.py",
                "this.py", "keyword.py", "string.py", "glob.py"]:
        add("py_" + mod, cut_utf8(read(os.path.join(STDLIB, mod)), 8000))

    # C source and a tab-indented Makefile.
    for h in ["object.h", "listobject.h", "pymacro.h", "pyport.h"]:
        add("c_" + h, cut_utf8(read(os.path.join(INCLUDE, h)), 8000))
    mk = glob.glob(os.path.join(STDLIB, "config-*", "Makefile"))
    if mk:
        add("make_python_config", cut_utf8(read(mk[0])[20000:], 10000))
    add("c_tabs", "/* tabs */\nstatic int\tf(int x)\n{\n\tif (x > 0) {\n\t\treturn x * 2;\t/* twice */\n"
                  "\t}\n\t\n\treturn -1;\n}\n\n\tint a[3] = {1,2,3};\t\t\n\t \t x = y\t;\n" * 20)
    add("py_mixed_indent", "def f(x):\n    if x:\n\treturn x  \n    \n  \n\n\n\tpass\n  # c\t\n" * 30)

    # CJK: CPython's codec test texts and Japanese manual pages.
    for p in sorted(glob.glob(os.path.join(STDLIB, "test", "cjkencodings", "*-utf8.txt"))):
        add("cjk_" + os.path.basename(p)[:-9], read(p))
    for page in ["ls.1.gz", "cp.1.gz", "du.1.gz", "sort.1.gz", "date.1.gz"]:
        p = os.path.join("/usr/share/man/ja/man1", page)
        if os.path.exists(p):
            add("ja_man_" + page[:-5], cut_utf8(gzip.open(p).read(), 12000))
    add("zh_hand", "我们的模型在中文文本上也应该正确地分词。北京是中华人民共和国的首都，人口约两千万。\n"
                   "「你好」，他说。『这是一个测试』——没有问题！数字１２３和123混在一起。\n" * 8)
    add("ko_hand", "한국어 문장도 정확하게 토큰화되어야 합니다. 서울은 대한민국의 수도입니다.\n"
                   "안녕하세요! 저는 학생이에요. 오늘 날씨가 좋네요 :) 가나다라마바사\n" * 8)
    add("ja_hand", "日本語の文章も正しく分割されるべきです。東京は日本の首都です。\n"
                   "ｶﾀｶﾅ（半角）とカタカナ、ひらがな、漢字が混在する文。〜！？\u3000全角スペース\u3000も。\n" * 8)

    # Emoji: ZWJ sequences, skin tones, flags, keycaps, variation selectors.
    emoji = ["👩\u200d💻", "👨\u200d👩\u200d👧\u200d👦", "🏳\ufe0f\u200d🌈", "👍🏽", "🧑🏿\u200d🚀", "🇯🇵🇫🇷",
             "1\ufe0f\u20e3", "❤\ufe0f", "😀😃😄", "🙂 🙃", "✋🏻✋🏼✋🏽✋🏾✋🏿", "🫠", "🧔\u200d♀\ufe0f",
             "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"]
    add("emoji", " ".join(emoji) + "\n" + "".join(emoji) + "\nhi👋there " + " ".join(e + "x" for e in emoji))

    # Combining marks and many scripts.
    add("combining", "e\u0301 n\u0303 a\u030a\u0323 Z\u0351\u0352\u0353a\u0354\u0355l\u0356g\u0357o\u0358 "
                     "क्षत्रिय हिन्दी नमस्ते שָׁלוֹם عَرَبِيٌّ ภาษาไทย ສະບາຍດີ 각 각\n"
                     "Ελληνικά Русский язык Українська ქართული Հայերեն አማርኛ ᏣᎳᎩ ᚠᚢᚦ 𐌰𐌱𐌲 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚\n" * 5)
    digits = []
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)) == "Nd" and unicodedata.digit(chr(cp)) == 0:
            digits.append("".join(chr(cp + k) for k in range(10)))
    add("digits_scripts", " ".join(digits) + "\n" + "x".join(digits) + "\n²³¹ ½¾ ⅓ Ⅻ ⅻ ① ⑳ ㉑ 〇 〡〢 𐄇 ፩፪ ൰\n")
    add("numbers_ascii", "0 1 12 123 1234 12345 123456 3.14159 1,000,000 -42 +7 1e10 0x1F 2024-11-28 "
                         "12:30:45 $100 99% #1 v2.0.1 ipv4 192.168.0.1 " * 10)

    # Contractions, quotes and punctuation.
    add("contractions", "it's It'S I'm I'M you're YOU'RE we've they'll she'd don't can't won't "
                        "rock'n'roll '' ''s 's 't x's 'S 'LL 'Ll 'll 'lL ' s 're've 'd'd'd "
                        "O'Neil y'all ma'am 'twas '90s l'homme \"quoted\" ‘curly’ ’s ＇s\n" * 10)
    add("punctuation", "Hello, world! How are you? Fine... (really) [yes] {no} <maybe> a-b_c/d\\e|f "
                       "@#$%^&*~`;: --- ... !!! ??? «guillemets» „low“ “high” — – … ¿¡ §¶ †‡ • ‰ ′″ ‹›\n" * 10)

    # Whitespace runs and rare space characters.
    ws = ["  \n\n   x", "x  ", "x\n", "  ", " ", "\n", "\n\n\n", "a \n b", "a\t\tb", " \t x", "\t x",
          "x \n\n y", "x   y", "x\r\ny\r\n", "\r\r\n\n", "a\x0bb\x0cc", " \x0b x", "end with space ",
          "end with newline\n", "   leading", "\n   \n   \n", "a  \t  b"]
    for i, w in enumerate(ws):
        add("ws_%02d" % i, w)
    add("ws_mixture", "".join(ws) * 5)
    rare = ["\u0085", "\u2028", "\u2029", "\u00a0", "\u200b", "\ufeff", "\u180e", "\u1680", "\u3000",
            "\u202f", "\u205f", "\u2000", "\u2005", "\u200a", "\x1c", "\x1d", "\x1e", "\x1f", "\x00",
            "\x7f", "\u00ad", "\u200c", "\u200d", "\u2060", "\ufffd"]
    add("rare_unicode", "".join("a%sb %s c%s\n%s%s" % (r, r, r, r, r) for r in rare) +
        "nbsp\u00a0\u00a0x  \u00a0 y\u3000\u3000z \u2028\u2028 w\u0085\u0085")

    # Special token handling.
    add("special_tokens", f"a{EOT}b {EOT} c\n{EOT}\n{EOT}{EOT} <|endoftext|x <|endoftext {EOT[:-1]} "
                          f"< |endoftext|> <|ENDOFTEXT|> x{EOT}")

    # Long pieces (one pre-token > 64 bytes: the heap BPE path).
    add("long_runs", "a" * 3000 + " " + "ab" * 800 + " " + "1" * 1500 + " " + "!" * 1200 + "\n" * 700 +
        " " * 900 + "x " + "é" * 500 + " " + "的" * 400 + " " + "-=" * 300 + "\t" * 200 + "z")
    rnd = random.Random(1234)
    b64 = "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(6000))
    add("long_letters", b64 + " " + b64[:3000].lower())

    # Code point sweep: every 13th code point of every plane, in small groups.
    cps = [cp for cp in range(32, 0x110000, 13) if not 0xD800 <= cp < 0xE000]
    sweep = []
    for i, cp in enumerate(cps[:30000]):
        sweep.append(chr(cp))
        if i % 5 == 4:
            sweep.append(" " if i % 3 else "\n")
    add("codepoint_sweep", "".join(sweep))

    # Random mixtures of every class, for the pre-tokenizer state machine.
    pool = (list("abcXYZ") + ["é", "ß", "Ω", "日", "한", "ـ", "𝔘"] + list("0179") + ["٣", "²", "Ⅻ"] +
            list(" \t\n\r") + ["\u00a0", "\u3000", "\u2028", "\u0085"] + list("'!.,-_\"") +
            ["—", "😀", "\u0301", "\u200d", "\ufe0f"] + ["'s", "'t", "'re", "'ll", "'S", " '", "  "])
    for k in range(40):
        add("random_mix_%02d" % k, "".join(rnd.choice(pool) for _ in range(rnd.randint(50, 1500))))

    # Invalid UTF-8, each case on its own, then mixtures.
    bad = [b"\x80", b"\xff", b"\xc0\xaf", b"\xc1\x81", b"\xe2\x82", b"\xe2\x82A", b"\xed\xa0\x80",
           b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfe\xfe", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
           b"\xc2", b"\xf0\x9f\x98", b"\xf0\x9f\x98A"]
    for i, b in enumerate(bad):
        add("bad_utf8_%02d" % i, b)
        add("bad_utf8_ctx_%02d" % i, b"ab" + b + b"cd " + b + b" x " + b + b"'s  " + b + b"\n" + b + b"12" + b +
            b" \xe2\x80\x94" + b + b"\t" + b)
    rb = random.Random(99)
    for k in range(20):
        n = rb.randint(10, 600)
        if k < 10:
            data = bytes(rb.randrange(256) for _ in range(n))
        else:  # mostly text with a few bad bytes
            text = bytearray("".join(rb.choice(pool) for _ in range(n)).encode())
            for _ in range(rb.randint(1, 8)):
                text.insert(rb.randrange(len(text) + 1), rb.choice([0x80, 0xbf, 0xc3, 0xe2, 0xf0, 0xff]))
            data = bytes(text)
        add("bad_utf8_random_%02d" % k, data)
    return docs


# ---------------------------------------------------------------- oracles ---

def byte_encoder():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_ENC = byte_encoder()


class OpenAIStyle:
    """Independent port of OpenAI's GPT-2 encoder.py (regex module)."""
    PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def __init__(self):
        self.enc = json.load(open(os.path.join(DATA, "vocab.json"), encoding="utf-8"))
        lines = open(os.path.join(DATA, "merges.txt"), encoding="utf-8").read().split("\n")[1:]
        self.ranks = {tuple(l.split(" ")): i for i, l in enumerate(l for l in lines if l)}
        self.cache = {}

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        w = list(word)
        while len(w) > 1:
            pairs = set(zip(w, w[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            w = out
        self.cache[word] = w
        return w

    def encode(self, text):
        ids = []
        parts = text.split(EOT)
        for k, part in enumerate(parts):
            for piece in self.PAT.findall(part):
                mapped = "".join(BYTE_ENC[b] for b in piece.encode("utf-8"))
                ids.extend(self.enc[t] for t in self.bpe(mapped))
            if k + 1 < len(parts):
                ids.append(self.enc[EOT])
        return ids


def decode_replace_spans(raw):
    """raw.decode('utf-8', errors='replace') and, per character, its byte span in raw."""
    errors = {}

    def handler(exc):
        errors[exc.start] = exc.end
        return ("\ufffd", exc.end)

    codecs.register_error("wf_record", handler)
    text = raw.decode("utf-8", errors="wf_record")
    spans, pos = [], 0
    for ch in text:
        end = errors.get(pos, pos + len(ch.encode("utf-8")))
        spans.append((pos, end))
        pos = end
    assert pos == len(raw)
    return text, spans


def contract_ids(tok, raw):
    """The tokenizer.h contract from HF's parts (see the module docstring)."""
    backend = tok.backend_tokenizer
    eot_id = tok.convert_tokens_to_ids(EOT)
    ids = []
    segs = raw.split(EOT.encode())
    for k, seg in enumerate(segs):
        text, spans = decode_replace_spans(seg)
        for _, (a, b) in backend.pre_tokenizer.pre_tokenize_str(text):
            piece = seg[spans[a][0]:spans[b - 1][1]]
            mapped = "".join(BYTE_ENC[x] for x in piece)
            ids.extend(t.id for t in backend.model.tokenize(mapped))
        if k + 1 < len(segs):
            ids.append(eot_id)
    return ids


# ---------------------------------------------------------------- main ------

def main():
    tok = GPT2TokenizerFast(vocab=os.path.join(DATA, "vocab.json"), merges=os.path.join(DATA, "merges.txt"))
    assert len(tok) == 50257 and tok.eos_token_id == 50256
    ref = OpenAIStyle()
    docs = corpus()
    os.makedirs(OUT, exist_ok=True)
    index, blob, idblob = [], bytearray(), bytearray()
    disagree = []
    for name, raw in docs:
        try:
            text = raw.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        via_parts = contract_ids(tok, raw)
        if utf8:
            ids = tok.encode(text)
            assert ids == via_parts, f"{name}: HF parts disagree with HF encode"
            if ref.encode(text) != ids:
                disagree.append(name)
            assert tok.decode(ids) == text, f"{name}: HF round trip"
        else:
            ids = via_parts
        index.append({"name": name, "offset": len(blob), "len": len(raw), "ids_offset": len(idblob) // 4,
                      "n_ids": len(ids), "utf8": utf8})
        blob += raw
        idblob += struct.pack("<%di" % len(ids), *ids)
    with open(os.path.join(OUT, "corpus.bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(OUT, "ids.bin"), "wb") as f:
        f.write(idblob)
    meta = {"oracle": "GPT2TokenizerFast (transformers %s, tokenizers %s) on data/gpt2" %
                      (transformers.__version__, tokenizers.__version__),
            "generator": "oracle/tokenizer_fixtures.py", "docs": index}
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{len(docs)} docs, {len(blob)} bytes, {len(idblob) // 4} ids; "
          f"{sum(not d['utf8'] for d in index)} invalid UTF-8")
    print("OpenAI-style (regex %s) reference disagrees with HF on: %s" % (regex.__version__, disagree or "none"))
    for name in disagree:
        raw = dict(docs)[name].decode()
        a, b = tok.encode(raw), ref.encode(raw)
        i = next(i for i in range(min(len(a), len(b))) if a[i] != b[i]) if a[:len(b)] != b[:len(a)] else min(len(a), len(b))
        print("  %s: first difference at id %d: HF %s, regex %s (%r)" %
              (name, i, a[i:i + 3], b[i:i + 3], tok.decode(a[max(0, i - 2):i + 3])))
    small_bpe(docs)


def small_bpe(docs):
    """A small HF-trained byte-level BPE saved as tokenizer.json (array merges)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=600, special_tokens=[EOT],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    texts = [d.decode("utf-8") for _, d in docs if _.startswith(("en_", "py_"))]
    t.train_from_iterator(texts, tr)
    d = os.path.join(OUT, "small_bpe")
    os.makedirs(d, exist_ok=True)
    t.save(os.path.join(d, "tokenizer.json"))
    chosen = [(n, raw) for n, raw in docs if n.startswith(("en_pydoc_a", "c_tabs", "ja_hand", "emoji", "special",
                                                           "random_mix_0", "ws_"))]
    idblob, index = bytearray(), []
    for n, raw in chosen:
        ids = t.encode(raw.decode("utf-8")).ids
        index.append({"name": n, "ids_offset": len(idblob) // 4, "n_ids": len(ids)})
        idblob += struct.pack("<%di" % len(ids), *ids)
    with open(os.path.join(d, "ids.bin"), "wb") as f:
        f.write(idblob)
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"vocab_size": t.get_vocab_size(), "docs": index}, f, indent=1)
    print("small_bpe: vocab %d, %d docs" % (t.get_vocab_size(), len(chosen)))


def check_saved(d):
    """Loads a folder written by wf_tokenizer_save with HF (tokenizer.json alone,
    and transformers' from_pretrained) and compares with the fixture ids."""
    from tokenizers import Tokenizer
    fast = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    auto = transformers.AutoTokenizer.from_pretrained(d)
    corpus = open(os.path.join(OUT, "corpus.bin"), "rb").read()
    ids = open(os.path.join(OUT, "ids.bin"), "rb").read()
    meta = json.load(open(os.path.join(OUT, "index.json")))
    bad = n = 0
    for doc in meta["docs"]:
        if not doc["utf8"]:
            continue
        text = corpus[doc["offset"]:doc["offset"] + doc["len"]].decode()
        want = list(struct.unpack_from("<%di" % doc["n_ids"], ids, doc["ids_offset"] * 4))
        n += 1
        if fast.encode(text).ids != want or auto.encode(text) != want:
            bad += 1
            print("differs:", doc["name"])
    print("%s: %d of %d valid-UTF-8 docs equal the fixture ids with HF tokenizers and %s" %
          (d, n - bad, n, type(auto).__name__))
    return bad == 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check-saved":
        sys.exit(0 if check_saved(sys.argv[2]) else 1)
    main()
