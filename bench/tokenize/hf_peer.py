#!/usr/bin/env python3
"""hf_peer.py CORPUS VOCAB TOKDIR THREADS — the Hugging Face peer of bench/tokenize:
times tokenizers' BpeTrainer (ByteLevel, as wafer tokenizer-train) on the corpus
files, and encode_batch of the same texts with wafer's trained tokenizer.json
(HF's Rust encoder on THREADS threads, as wafer tokenize). Prints one JSON line."""
import json, os, sys, time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
os.environ["RAYON_NUM_THREADS"] = sys.argv[4] if len(sys.argv) > 4 else "2"
from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders

root, vocab, tokdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".txt"))
texts = [open(f, encoding="utf-8").read() for f in files]
nbytes = sum(len(t.encode()) for t in texts)

t0 = time.time()
hf = Tokenizer(models.BPE())
hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
hf.decoder = decoders.ByteLevel()
tr = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, show_progress=False,
                         special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
hf.train_from_iterator(texts, trainer=tr)
t_train = time.time() - t0

tok = Tokenizer.from_file(os.path.join(tokdir, "tokenizer.json"))
t0 = time.time()
enc = tok.encode_batch(texts)
t_enc = time.time() - t0
ntok = sum(len(e.ids) for e in enc)
print(json.dumps({"bytes": nbytes, "hf_train_s": round(t_train, 3), "hf_encode_s": round(t_enc, 3),
                  "hf_encode_mb_s": round(nbytes / 1e6 / t_enc, 2), "hf_tokens": ntok}))
