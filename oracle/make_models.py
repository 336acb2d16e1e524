#!/usr/bin/env python3
"""make_models.py — builds the small random-weight GPT-2 (Cerebras-GPT, model_type gpt2) model
fixtures under tests/fixtures/models/ with Hugging Face transformers, the trusted reference.

Run by hand from the repository root (never by CI or the product):
    python3 oracle/make_models.py [--out tests/fixtures/models]

Per model folder <name>/:
    config.json            transformers' own save_pretrained output
    model.safetensors      save_pretrained (F32; lm_head is tied, so not stored)
    pytorch_model.bin      torch.save(model.state_dict()) — the legacy format that
                           save_pretrained(safe_serialization=False) used to write
    ids_T<T>.json          {"ids": [...]} fixed token ids, T in 1, 7, 260
    logits_T<T>.f32        HF logits for those ids, raw little-endian float32, [T, vocab] row-major
    logits_T<T>.json       meta: shape, dtype, model, activation, versions
Weights: HF init (torch seed fixed), then biases and LayerNorm parameters perturbed so every
tensor matters (HF init leaves biases 0 and LN weights 1, which would hide layout bugs).
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

SEQ_LENS = (1, 7, 260)

MODELS = {
    # name: (config kwargs, torch seed, write .bin)
    "tiny-gelu": (dict(activation_function="gelu", n_layer=2, n_embd=64, n_head=4, n_inner=256,
                       vocab_size=512, n_positions=512), 1, True),
    "tiny-gelu-new": (dict(activation_function="gelu_new", n_layer=2, n_embd=64, n_head=4, n_inner=256,
                           vocab_size=512, n_positions=512), 2, True),
    # d_head 128; .bin left out to keep the fixtures small (tiny-* cover the .bin reader).
    "wide-head": (dict(activation_function="gelu", n_layer=1, n_embd=256, n_head=2, n_inner=256,
                       vocab_size=256, n_positions=300), 3, False),
}


def build(cfg_kwargs, seed):
    torch.manual_seed(seed)
    v = cfg_kwargs["vocab_size"]
    cfg = GPT2Config(**cfg_kwargs, bos_token_id=v - 1, eos_token_id=v - 1, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True)
    cfg._attn_implementation = "eager"
    model = GPT2LMHeadModel(cfg).float().eval()
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
            elif ".ln_" in name:
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
    return model


def logits_for(model, ids):
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids], dtype=torch.long))
    return out.logits[0].float().contiguous().numpy().astype("<f4")


def write_logits(model, name, d, vocab, n_pos):
    rng = np.random.RandomState(4321)
    for T in SEQ_LENS:
        if T > n_pos:
            continue
        ids = [int(x) for x in rng.randint(0, vocab, size=T)]
        with open(os.path.join(d, f"ids_T{T}.json"), "w") as f:
            json.dump({"ids": ids}, f)
            f.write("\n")
        lg = logits_for(model, ids)
        assert lg.shape == (T, vocab)
        lg.tofile(os.path.join(d, f"logits_T{T}.f32"))
        meta = {
            "model": name, "ids": f"ids_T{T}.json", "file": f"logits_T{T}.f32",
            "shape": [T, vocab], "dtype": "float32", "byteorder": "little",
            "activation": model.config.activation_function,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "attn_implementation": "eager",
            "max_abs_logit": float(np.abs(lg).max()),
        }
        with open(os.path.join(d, f"logits_T{T}.json"), "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")


def clean(d):
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/models")
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)

    models = {}
    for name, (kw, seed, with_bin) in MODELS.items():
        d = os.path.join(a.out, name)
        clean(d)
        m = build(kw, seed)
        models[name] = m
        m.save_pretrained(d)  # config.json + model.safetensors
        if with_bin:
            torch.save(m.state_dict(), os.path.join(d, "pytorch_model.bin"))
        write_logits(m, name, d, kw["vocab_size"], kw["n_positions"])

    # (d) tiny-gelu sharded: model.safetensors.index.json + shards, no .bin.
    d = os.path.join(a.out, "tiny-gelu-sharded")
    clean(d)
    models["tiny-gelu"].save_pretrained(d, max_shard_size="200KB")
    assert os.path.exists(os.path.join(d, "model.safetensors.index.json")), "not sharded"

    # (e) hub-style: the weights of tiny-gelu with names lacking "transformer.", causal-mask
    # buffers attn.bias [1,1,P,P] and attn.masked_bias [] present, and a tied lm_head.weight,
    # as old hub checkpoints (openai-community/gpt2) have them. n_positions cut to 64 (and wpe
    # to its first 64 rows) to keep the mask buffers small.
    d = os.path.join(a.out, "hub-style")
    clean(d)
    base = models["tiny-gelu"]
    kw = dict(MODELS["tiny-gelu"][0], n_positions=64)
    hub = build(kw, 1)
    with torch.no_grad():
        sd_base = base.state_dict()
        for k, p in hub.state_dict().items():
            src = sd_base[k]
            p.copy_(src[:64] if k.endswith("wpe.weight") else src)
    hub.config.save_pretrained(d)
    sd = {}
    P = 64
    for k, t in hub.state_dict().items():
        if k.startswith("lm_head."):
            continue
        sd[k[len("transformer."):]] = t.detach().clone().contiguous()
    for l in range(kw["n_layer"]):
        sd[f"h.{l}.attn.bias"] = torch.tril(torch.ones(P, P)).view(1, 1, P, P)
        sd[f"h.{l}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    sd_bin = dict(sd)
    sd_bin["lm_head.weight"] = sd["wte.weight"]  # shares wte's storage, as a tied model saves it
    torch.save(sd_bin, os.path.join(d, "pytorch_model.bin"))
    write_logits(hub, "hub-style", d, kw["vocab_size"], P)

    with open(os.path.join(a.out, "README.md"), "w") as f:
        f.write(f"""# Model fixtures (generated — do not edit)

Made by `python3 oracle/make_models.py` with torch {torch.__version__}, transformers
{transformers.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}, on CPU in fp32,
eager attention. Weights: HF GPT-2 init with a fixed torch seed, then biases ~ N(0, 0.05) and
LayerNorm weights ~ 1 + N(0, 0.1).

| folder | activation | L | C | H | d_head | F | V | P | files |
|---|---|---|---|---|---|---|---|---|---|
| tiny-gelu | gelu (erf) | 2 | 64 | 4 | 16 | 256 | 512 | 512 | safetensors, .bin, logits T=1,7,260 |
| tiny-gelu-new | gelu_new (tanh) | 2 | 64 | 4 | 16 | 256 | 512 | 512 | safetensors, .bin, logits T=1,7,260 |
| wide-head | gelu | 1 | 256 | 2 | 128 | 256 | 256 | 300 | safetensors, logits T=1,7,260 |
| tiny-gelu-sharded | = tiny-gelu | | | | | | | | model.safetensors.index.json + shards |
| hub-style | = tiny-gelu, P=64 (wpe = first 64 rows) | | | | | | | 64 | safetensors and .bin without "transformer.", with attn.bias / attn.masked_bias, .bin with tied lm_head.weight; logits T=1,7 |

`logits_T<T>.f32`: raw little-endian float32, shape [T, vocab] row-major, the HF logits for the
ids in `ids_T<T>.json`; `logits_T<T>.json` describes it. The .bin files are
`torch.save(model.state_dict())` (zip + pickle protocol 2), which is what
`save_pretrained(safe_serialization=False)` wrote before transformers 5.
""")
    total = 0
    for root, _, files in os.walk(a.out):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    print(f"fixtures: {total / 1e6:.2f} MB under {a.out}")


if __name__ == "__main__":
    main()
