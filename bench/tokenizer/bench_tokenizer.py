#!/usr/bin/env python3
"""bench_tokenizer.py — one-thread GPT-2 encode throughput: wafer (bench_tokenizer)
beside Hugging Face GPT2TokenizerFast (TOKENIZERS_PARALLELISM=false,
RAYON_NUM_THREADS=1) on the same corpus: tests/fixtures/tokenizer repeated to
~20 MB, then only its English prose and source code documents (en_, py_,
c_, make_). Invalid UTF-8 documents go to HF as errors='replace' text.
usage: python3 bench/tokenizer/bench_tokenizer.py [--bin build/bench/tokenizer/bench_tokenizer] [--mb 20]
Run from the source root."""
import argparse, json, os, re, subprocess, sys, time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"


def run(a, tok, only):
    cmd = [a.bin, "--mb", str(a.mb)] + (["--only", only] if only else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    print("== %s" % ("documents " + only if only else "all fixture documents"))
    print(out.strip())
    ours_docs = float(re.search(r"per_doc_MBps: ([\d.]+)", out).group(1))
    ours_one = float(re.search(r"one_call_MBps: ([\d.]+)", out).group(1))
    reps = int(re.search(r"x (\d+) repeats", out).group(1))
    fix = "tests/fixtures/tokenizer"
    corpus = open(os.path.join(fix, "corpus.bin"), "rb").read()
    index = json.load(open(os.path.join(fix, "index.json")))["docs"]
    if only:
        index = [d for d in index if d["name"].startswith(tuple(only.split(",")))]
    raw = [corpus[d["offset"]:d["offset"] + d["len"]] for d in index]
    texts = [r.decode("utf-8", errors="replace") for r in raw]
    nbytes = sum(len(r) for r in raw) * reps
    backend = tok.backend_tokenizer
    backend.encode(texts[0])  # warm up
    t0 = time.perf_counter()
    for _ in range(reps):
        for s in texts:
            backend.encode(s, add_special_tokens=False)
    hf_docs = nbytes / (time.perf_counter() - t0) / 1e6
    t0 = time.perf_counter()
    for _ in range(reps):
        backend.encode_batch(texts, add_special_tokens=False)
    hf_batch = nbytes / (time.perf_counter() - t0) / 1e6
    t0 = time.perf_counter()
    for _ in range(reps):
        tok(texts)["input_ids"]
    hf_call = nbytes / (time.perf_counter() - t0) / 1e6
    print("HF tokenizers per doc (backend.encode): %.2f MB/s" % hf_docs)
    print("HF tokenizers batch (encode_batch, 1 thread): %.2f MB/s" % hf_batch)
    print("HF GPT2TokenizerFast(texts): %.2f MB/s" % hf_call)
    print("ratio wafer per doc / HF per doc: %.1fx; wafer per doc / HF batch: %.1fx; wafer one call: %.2f MB/s"
          % (ours_docs / hf_docs, ours_docs / hf_batch, ours_one))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bench/tokenizer/bench_tokenizer")
    ap.add_argument("--mb", type=float, default=20)
    a = ap.parse_args()
    from transformers import GPT2TokenizerFast
    tok = GPT2TokenizerFast(vocab="data/gpt2/vocab.json", merges="data/gpt2/merges.txt")
    run(a, tok, None)
    run(a, tok, "en_,py_,c_,make_")


if __name__ == "__main__":
    main()
