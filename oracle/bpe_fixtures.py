#!/usr/bin/env python3
"""bpe_fixtures.py — writes tests/fixtures/datasets/bpe_hf.json (run by hand):
small training texts and the merges Hugging Face tokenizers' BpeTrainer learns
from them with the settings wafer tokenizer-train mirrors (ByteLevel
pre-tokenizer without prefix space, the full 256-byte alphabet, min_frequency,
"<|endoftext|>" as special token). test_bpe_train.c trains on the same texts
and compares merges.txt line by line."""
import json
import random

from tokenizers import Tokenizer, models, pre_tokenizers, trainers


def hf_merges(texts, vocab, min_freq=2):
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tr = trainers.BpeTrainer(vocab_size=vocab, min_frequency=min_freq, show_progress=False,
                             special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    hf.train_from_iterator(texts, trainer=tr)
    m = json.loads(hf.to_str())["model"]["merges"]
    return [" ".join(x) if isinstance(x, list) else x for x in m]


def pseudo_japanese(seed, n):
    """Deterministic mixed text: kana, kanji, ASCII words, digits, punctuation, spaces."""
    r = random.Random(seed)
    kana = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソ"
    kanji = "日本語文字列表示設定変更名前説明書式使用方法出力入力指定場合"
    words = ["file", "the", "option", "--help", "ls", "mount", "-a", "PATH"]
    out = []
    while sum(map(len, out)) < n:
        k = r.random()
        if k < 0.45:
            out.append("".join(r.choice(kana) for _ in range(r.randint(1, 4))))
        elif k < 0.7:
            out.append("".join(r.choice(kanji) for _ in range(r.randint(1, 3))))
        elif k < 0.8:
            out.append(" " + r.choice(words) + " ")
        elif k < 0.85:
            out.append(str(r.randint(0, 300)))
        elif k < 0.93:
            out.append(r.choice("、。「」()"))
        else:
            out.append(r.choice(["\n", "\n\n", "　", "  "]))
    return "".join(out)


cases = [
    {"name": "aaabdaaabac", "texts": ["aaabdaaabac"], "vocab_size": 300, "min_frequency": 2},
    {"name": "low_lower", "texts": ["low lower lowest low newer newest wide wider widest"],
     "vocab_size": 1000, "min_frequency": 2},
    {"name": "mixed_japanese", "texts": [pseudo_japanese(1, 3000), pseudo_japanese(2, 2000), "ok ok ok"],
     "vocab_size": 420, "min_frequency": 2},
    {"name": "min_frequency_1", "texts": [pseudo_japanese(3, 800)], "vocab_size": 330, "min_frequency": 1},
]
for c in cases:
    c["merges"] = hf_merges(c["texts"], c["vocab_size"], c["min_frequency"])
with open("tests/fixtures/datasets/bpe_hf.json", "w", encoding="utf-8") as f:
    json.dump({"source": "tokenizers BpeTrainer (see oracle/bpe_fixtures.py)", "cases": cases}, f,
              ensure_ascii=False, indent=1)
print({c["name"]: len(c["merges"]) for c in cases})
