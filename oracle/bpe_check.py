#!/usr/bin/env python3
"""bpe_check.py — checks `wafer tokenizer-train` against Hugging Face (run by hand).

1. Trains wafer's byte-level BPE on 9 of every 10 corpus files and Hugging Face
   tokenizers' BpeTrainer (ByteLevel pre-tokenizer, full byte alphabet,
   min_frequency 2) on the same texts; reports how many merges agree, in order.
2. Loads wafer's output folder with transformers (GPT2TokenizerFast from
   vocab.json + merges.txt, and PreTrainedTokenizerFast from tokenizer.json),
   encodes the held-out tenth and compares with `wafer encode`.
3. Reports tokens per character on the held-out text for the GPT-2 vocabulary
   and for the trained one.

usage: python3 oracle/bpe_check.py --wafer build/wafer --corpus out/demo/corpus \
           [--vocab 8192] [--gpt2 data/gpt2] [--work /tmp/bpe_check]
Nothing here is run by CI or by the product.
"""
import argparse
import json
import os
import subprocess
import sys

from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
from transformers import GPT2TokenizerFast, PreTrainedTokenizerFast


def corpus_files(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for f in sorted(files):
            if f.endswith(".txt") and not f.startswith("."):
                out.append(os.path.join(d, f))
    return sorted(out, key=lambda p: p.encode())


def wafer_encode(wafer, model, text):
    r = subprocess.run([wafer, "encode", "--model", model], input=text.encode(), capture_output=True, check=True)
    return [int(x) for x in r.stdout.split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wafer", default="build/wafer")
    ap.add_argument("--corpus", default="out/demo/corpus")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--gpt2", default="data/gpt2")
    ap.add_argument("--work", default="/tmp/bpe_check")
    ap.add_argument("--docs", type=int, default=40, help="held-out documents to encode with both")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)

    files = corpus_files(a.corpus)
    train = [f for i, f in enumerate(files) if i % 10 != 9]
    held = [f for i, f in enumerate(files) if i % 10 == 9]
    texts = [open(f, encoding="utf-8").read() for f in train]
    held_texts = [open(f, encoding="utf-8").read() for f in held]
    print(f"corpus: {len(files)} files; training on {len(train)} ({sum(map(len, texts))} chars), "
          f"holding out {len(held)} ({sum(map(len, held_texts))} chars)")

    # 1. wafer vs HF trainer
    wdir = os.path.join(a.work, "wafer_tok")
    subprocess.run([a.wafer, "tokenizer-train", "--vocab-size", str(a.vocab), "--out", wdir, "--quiet",
                    "--threads", "2"] + train, check=True)
    wm = [l.rstrip("\n") for l in open(os.path.join(wdir, "merges.txt"), encoding="utf-8")][1:]

    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=a.vocab, min_frequency=2, show_progress=False,
                             special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    hf.train_from_iterator(texts, trainer=tr)
    hm = json.loads(hf.to_str())["model"]["merges"]
    hm = [" ".join(m) if isinstance(m, list) else m for m in hm]
    same = 0
    while same < min(len(wm), len(hm)) and wm[same] == hm[same]:
        same += 1
    common = len(set(wm) & set(hm))
    print(f"merges: wafer {len(wm)}, HF {len(hm)}; identical in order for the first {same}; "
          f"{common} of wafer's merges are in HF's list ({100.0 * common / max(1, len(wm)):.2f}%)")
    if same < min(len(wm), len(hm)):
        print(f"  first difference at merge {same}: wafer '{wm[same]}' vs HF '{hm[same]}'")

    # 2. transformers loads wafer's folder and encodes like wafer
    fast = GPT2TokenizerFast.from_pretrained(wdir)
    tj = PreTrainedTokenizerFast(tokenizer_file=os.path.join(wdir, "tokenizer.json"))
    n_ok = n_tj = 0
    docs = held_texts[: a.docs]
    for t in docs:
        w = wafer_encode(a.wafer, wdir, t)
        n_ok += w == fast(t)["input_ids"]
        n_tj += w == tj(t)["input_ids"]
    print(f"held-out documents encoded identically: GPT2TokenizerFast {n_ok}/{len(docs)}, "
          f"PreTrainedTokenizerFast(tokenizer.json) {n_tj}/{len(docs)}; "
          f"eos id {fast.eos_token_id} (vocab {len(fast)})")
    rt = sum(fast.decode(wafer_encode(a.wafer, wdir, t)) == t for t in docs[:10])
    print(f"decode(encode(text)) == text for {rt}/10 held-out documents")

    # 3. tokens per character
    g2 = GPT2TokenizerFast.from_pretrained(a.gpt2)
    chars = sum(len(t) for t in held_texts)
    ng = sum(len(g2(t)["input_ids"]) for t in held_texts)
    nw = sum(len(fast(t)["input_ids"]) for t in held_texts)
    print(f"held-out Japanese text, {chars} chars: GPT-2 vocab {ng / chars:.3f} tokens/char, "
          f"trained {a.vocab} vocab {nw / chars:.3f} tokens/char ({ng / nw:.2f}x fewer tokens)")
    return 0 if n_ok == len(docs) and n_tj == len(docs) else 1


if __name__ == "__main__":
    sys.exit(main())
