#!/usr/bin/env python3
"""train_fixtures.py — the PyTorch truth for wafer's training (tests/train/).

Run by hand (never by CI): python3 oracle/train_fixtures.py
Writes tests/fixtures/train/:
  grads_<model>.f32 / .json  gradient of every parameter of the fixture model
                             for one fixed batch (mean cross-entropy over B*T
                             targets), concatenated in wafer's layer-major order
                             (model/params.h: wte, wpe, h.0.ln_1.weight, ...,
                             ln_f.bias; Conv1D weights (in, out)); the .json
                             lists names, shapes, offsets, the batch and the loss.
  traj_<model>.json          10 AdamW steps: the token batches, the hyper-
                             parameters and the loss / grad-norm / lr per step.
Models: tests/fixtures/models/tiny-gelu (gelu) and tiny-gelu-new (gelu_new).
AdamW as torch.optim.AdamW with two param groups (decay: Conv1D weights;
no decay: biases, LayerNorm, wte, wpe), clip_grad_norm_(1.0), LR schedule:
linear warm-up lr = peak*(s+1)/warmup for s < warmup, then linear or cosine
decay to 10% of peak at s = steps (wafer kernels/adamw.h wf_lr_at).
"""
import json, math, os, sys
import numpy as np
import torch
from transformers import GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
OUT = os.path.join(ROOT, "tests", "fixtures", "train")
LAYER = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
         "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
         "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]


def names(L):
    n = ["wte.weight", "wpe.weight"]
    for l in range(L):
        n += ["h.%d.%s" % (l, t) for t in LAYER]
    return n + ["ln_f.weight", "ln_f.bias"]


def load(name):
    m = GPT2LMHeadModel.from_pretrained(os.path.join(MODELS, name), attn_implementation="eager",
                                        dtype=torch.float32)
    m.train()
    return m


def loss_of(m, win):
    x = torch.tensor(win, dtype=torch.long)
    logits = m(x[:, :-1]).logits
    V = logits.shape[-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1))


def lr_at(kind, peak, warmup, total, s):
    if s < warmup:
        return peak * (s + 1) / warmup
    end = peak * 0.1
    frac = min(1.0, max(0.0, (s - warmup) / max(1, total - warmup)))
    if kind == "cosine":
        return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * frac))
    return peak - (peak - end) * frac


def grads(name, B, T, seed):
    torch.manual_seed(0)
    m = load(name)
    V = m.config.vocab_size
    win = np.random.default_rng(seed).integers(0, V, size=(B, T + 1)).tolist()
    loss = loss_of(m, win)
    loss.backward()
    params = dict(m.transformer.named_parameters())
    chunks, table, off = [], [], 0
    for n in names(m.config.n_layer):
        g = params[n].grad.detach().numpy().astype("<f4").ravel()
        table.append({"name": n, "shape": list(params[n].shape), "offset": off, "numel": int(g.size)})
        chunks.append(g)
        off += g.size
    np.concatenate(chunks).tofile(os.path.join(OUT, "grads_%s.f32" % name))
    meta = {"model": name, "B": B, "T": T, "windows": win, "loss": float(loss),
            "numel": off, "tensors": table,
            "file": "grads_%s.f32: float32 little-endian, layer-major concatenation" % name}
    with open(os.path.join(OUT, "grads_%s.json" % name), "w") as f:
        json.dump(meta, f, indent=1)
    print(name, "loss", float(loss), "numel", off)


def trajectory(name, B, T, K, steps, peak, warmup, sched, seed):
    torch.manual_seed(0)
    m = load(name)
    V = m.config.vocab_size
    rng = np.random.default_rng(seed)
    batches = [[rng.integers(0, V, size=(B, T + 1)).tolist() for _ in range(K)] for _ in range(steps)]
    decay, nodecay = [], []
    for n, p in m.transformer.named_parameters():
        (decay if p.dim() == 2 and not n.startswith(("wte", "wpe")) else nodecay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=peak, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    out = []
    for s in range(steps):
        lr = lr_at(sched, peak, warmup, steps, s)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        tot = 0.0
        for k in range(K):
            loss = loss_of(m, batches[s][k])
            (loss / K).backward()
            tot += float(loss)
        gn = float(torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0))
        opt.step()
        out.append({"step": s, "loss": tot / K, "grad_norm": gn, "lr": lr})
    final = float(loss_of(m, batches[0][0]))
    meta = {"model": name, "B": B, "T": T, "accum": K, "steps": steps, "peak_lr": peak,
            "warmup": warmup, "schedule": sched, "end_frac": 0.1, "beta1": 0.9, "beta2": 0.95,
            "eps": 1e-8, "weight_decay": 0.1, "clip": 1.0,
            "decay": "Conv1D weights only (no biases, LayerNorm, wte, wpe)",
            "batches": batches, "trajectory": out, "final_loss_batch0": final}
    with open(os.path.join(OUT, "traj_%s.json" % name), "w") as f:
        json.dump(meta, f)
    print(name, "losses", [round(o["loss"], 6) for o in out], "norms", [round(o["grad_norm"], 3) for o in out])


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    print("torch", torch.__version__, file=sys.stderr)
    grads("tiny-gelu", 2, 16, 11)
    grads("tiny-gelu-new", 2, 16, 12)
    trajectory("tiny-gelu", 2, 16, 2, 10, 3e-3, 3, "linear", 21)
    trajectory("tiny-gelu-new", 2, 24, 1, 10, 3e-3, 3, "cosine", 22)


if __name__ == "__main__":
    main()
