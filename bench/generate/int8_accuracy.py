#!/usr/bin/env python3
"""int8_accuracy.py — the accuracy cost of `--int8` on real text, measured
the way llama.cpp's llama-perplexity measures q8_0 against f32, so the two
can be set side by side:

    python3 bench/generate/int8_accuracy.py MODEL_DIR TEXT_FILE [--ctx 256] [--chunks 16]

The text is encoded with the model's tokenizer (`wafer encode`) and cut into
chunks of --ctx tokens; each chunk is scored (`wafer score --logits`) with
fp32 weights and with `--int8`. As llama-perplexity does, only the second
half of each chunk is counted. Printed (JSON): positions, perplexity with
each, their change in percent, how often the top-1 token agrees, and the
mean and max KL divergence of int8 from fp32.

The llama.cpp side, on the same weights (bench/generate/hf_to_gguf.py, then
llama-quantize to q8_0):
    llama-perplexity -m f32.gguf -f TEXT -c 256 --chunks 16 --kl-divergence-base base.kld
    llama-perplexity -m q8_0.gguf -c 256 --chunks 16 --kl-divergence-base base.kld --kl-divergence
("Same top p" is the top-1 agreement). Needs numpy; wafer itself does not.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("text")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--chunks", type=int, default=16)
    ap.add_argument("--wafer", default=os.path.join(os.path.dirname(__file__), "../../build/wafer"))
    a = ap.parse_args()
    with open(a.text, "rb") as f:
        enc = subprocess.run([a.wafer, "encode", "--model", a.model], input=f.read(),
                             capture_output=True, check=True)
    ids = [int(t) for t in enc.stdout.split()]
    tmp = tempfile.NamedTemporaryFile(suffix=".bin", delete=False).name

    def logprobs(chunk, extra):
        subprocess.run([a.wafer, "score", "--model", a.model, "--logits", tmp] + extra,
                       input=" ".join(map(str, chunk)).encode(), capture_output=True, check=True)
        x = np.fromfile(tmp, dtype="<f4").reshape(len(chunk), -1).astype(np.float64)
        if not np.isfinite(x).all():
            sys.exit("int8_accuracy: non-finite logits")
        m = x.max(1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(1, keepdims=True))

    nll32, nll8, kl, same = [], [], [], 0
    for k in range(a.chunks):
        ch = ids[k * a.ctx:(k + 1) * a.ctx]
        if len(ch) < a.ctx:
            break
        p, q = logprobs(ch, []), logprobs(ch, ["--int8"])
        for i in range(a.ctx // 2, a.ctx - 1):
            nll32.append(-p[i, ch[i + 1]])
            nll8.append(-q[i, ch[i + 1]])
            same += int(p[i].argmax() == q[i].argmax())
            kl.append(float((np.exp(p[i]) * (p[i] - q[i])).sum()))
    os.unlink(tmp)
    if not nll32:
        sys.exit(f"int8_accuracy: {a.text}: fewer than {a.ctx} tokens")
    p32, p8 = float(np.exp(np.mean(nll32))), float(np.exp(np.mean(nll8)))
    print(json.dumps({"positions": len(nll32), "ppl_fp32": p32, "ppl_int8": p8,
                      "dppl_pct": 100 * (p8 / p32 - 1), "same_top1_pct": 100 * same / len(nll32),
                      "mean_kl": float(np.mean(kl)), "max_kl": float(np.max(kl))}))


if __name__ == "__main__":
    main()
