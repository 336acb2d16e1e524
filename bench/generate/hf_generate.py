#!/usr/bin/env python3
"""hf_generate.py — the PyTorch peer for bench/generate: GPT2LMHeadModel built
from the same cerebras-gpt-111m config (random weights, fp32, eval, no grad),
torch.set_num_threads(N), batch 1. Prints one JSON line:
  decode_tok_s  — HF generate, greedy: (t(P + NEW) - t(P + 1)) / (NEW - 1)
  prefill_tok_s — one forward over a PROMPT-token input (use_cache=True).
Not a test; run by bench/generate/run.sh."""
import argparse, json, time

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def best(fn, reps):
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=1024)
    ap.add_argument("--new", type=int, default=128)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=50257, n_positions=2048, n_embd=768, n_layer=10, n_head=12,
                     n_inner=3072, activation_function="gelu", layer_norm_epsilon=1e-5,
                     bos_token_id=50256, eos_token_id=50256, tie_word_embeddings=True)
    model = GPT2LMHeadModel(cfg).eval()
    g = torch.Generator().manual_seed(1)
    short = torch.randint(0, 50257, (1, 32), generator=g)
    long = torch.randint(0, 50257, (1, a.prompt), generator=g)

    def gen(n):
        with torch.no_grad():
            model.generate(short, attention_mask=torch.ones_like(short), max_new_tokens=n,
                           min_new_tokens=n, do_sample=False, pad_token_id=0)

    gen(4)  # warm-up
    t1 = best(lambda: gen(1), 3)
    tn = best(lambda: gen(a.new), 2)
    decode = (a.new - 1) / (tn - t1)

    def pre():
        with torch.no_grad():
            model(long, use_cache=True)

    pre()
    tp = best(pre, 3)
    print(json.dumps({"threads": a.threads, "torch": torch.__version__,
                      "decode_tok_s": decode, "prefill_tok_s": a.prompt / tp}))


if __name__ == "__main__":
    main()
