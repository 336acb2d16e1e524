#!/usr/bin/env python3
"""eval_check.py — does a model trained by wafer give the same validation loss in
Hugging Face transformers as in `wafer eval`?

  python3 oracle/eval_check.py --wafer build/wafer --model OUT/ckpt-N --data DATA_DIR [--seq T]
                               [--max-windows N] [--mode resident|stream]

Loads the checkpoint folder with GPT2LMHeadModel.from_pretrained (fp32), reads
the validation shards of DATA_DIR directly (format: datasets/shards.h — 64-byte
header, then u16/u32 tokens), scores the same windows as `wafer eval` (window i
= tokens [i*T, i*T+T], each token a target once, the tail dropped), runs
`wafer eval` with the same --seq, and prints both mean losses and their
difference. Exit 1 when they differ by more than --tol (default 1e-4 nats).
Run by hand; never needed by CI or the product."""
import argparse, glob, json, os, struct, subprocess, sys

import numpy as np
import torch
from transformers import GPT2LMHeadModel


def read_split(data, split):
    toks = []
    for path in sorted(glob.glob(os.path.join(data, f"{split}_*.bin"))):
        raw = open(path, "rb").read()
        magic, version, vocab, width, n = struct.unpack_from("<4sIIIQ", raw, 0)
        assert magic == b"WFTK" and version == 1, f"{path}: not a wafer shard"
        dt = np.uint16 if width == 2 else np.uint32
        toks.append(np.frombuffer(raw, dtype=dt, count=n, offset=64).astype(np.int64))
    return np.concatenate(toks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wafer", default="build/wafer")
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--seq", type=int, default=None)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--max-windows", type=int, default=0, help="score only the first N windows (0: all)")
    ap.add_argument("--mode", default="resident", help="wafer eval --mode (stream: layers read from the folder)")
    a = ap.parse_args()

    model = GPT2LMHeadModel.from_pretrained(a.model, torch_dtype=torch.float32).eval()
    T = a.seq or min(model.config.n_positions, 1024)
    val = read_split(a.data, "val")
    nwin = (len(val) - 1) // T
    if a.max_windows > 0:
        nwin = min(nwin, a.max_windows)
    total, count = 0.0, 0
    with torch.no_grad():
        for w0 in range(0, nwin, a.batch):
            rows = [val[i * T:i * T + T + 1] for i in range(w0, min(nwin, w0 + a.batch))]
            x = torch.tensor(np.stack(rows))
            logits = model(x[:, :-1]).logits.double()
            lp = torch.log_softmax(logits, dim=-1)
            nll = -lp.gather(-1, x[:, 1:, None]).squeeze(-1)
            total += nll.sum().item()
            count += nll.numel()
    hf = total / count

    out = subprocess.run([a.wafer, "eval", "--model", a.model, "--data", a.data, "--seq", str(T), "--batch",
                          str(a.batch), "--max-windows", str(a.max_windows), "--mode", a.mode],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"wafer eval failed: {out.stderr.strip()}")
    wf = json.loads(out.stdout)
    diff = abs(wf["mean_loss"] - hf)
    print(f"windows {nwin} x seq {T} = {count} tokens (wafer: {wf['tokens']})")
    print(f"HF transformers mean loss {hf:.6f}  wafer eval {wf['mean_loss']:.6f}  |diff| {diff:.2e}"
          f"  (tolerance {a.tol:g})")
    sys.exit(0 if diff <= a.tol and count == wf["tokens"] else 1)


if __name__ == "__main__":
    main()
