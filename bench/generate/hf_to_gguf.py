#!/usr/bin/env python3
"""hf_to_gguf.py — write a wafer / Hugging Face GPT-2-style folder (config.json,
model.safetensors, vocab.json, merges.txt) as a GGUF f32 file, so that
llama.cpp (built beside wafer as a benchmark peer, never committed) runs the
very same weights. Then `llama-quantize OUT.gguf OUT-q8_0.gguf q8_0` (or bf16)
makes the other formats. Benchmark tooling only: needs numpy and the `gguf`
package from PyPI (pip install gguf); wafer itself never uses it.

    python3 bench/generate/hf_to_gguf.py MODEL_DIR OUT.gguf

HF GPT-2 keeps Conv1D weights as [in, out]; GGUF wants [out, in] (numpy
order), so block matrices are transposed. Tied embeddings: no output.weight
(llama.cpp falls back to token_embd). Only single-file model.safetensors in
F32 is read; sharded or other dtypes are refused with a message.
"""
import json
import struct
import sys

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("hf_to_gguf: needs the gguf package (pip install gguf)")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, meta in head.items():
            if name == "__metadata__":
                continue
            if meta["dtype"] != "F32":
                sys.exit(f"hf_to_gguf: {path}: tensor {name} is {meta['dtype']}, only F32 is read")
            a, b = meta["data_offsets"]
            f.seek(base + a)
            out[name] = np.frombuffer(f.read(b - a), dtype="<f4").reshape(meta["shape"]).copy()
        return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: hf_to_gguf.py MODEL_DIR OUT.gguf")
    src, dst = sys.argv[1], sys.argv[2]
    cfg = json.load(open(f"{src}/config.json"))
    t = read_safetensors(f"{src}/model.safetensors")
    vocab = json.load(open(f"{src}/vocab.json", encoding="utf-8"))
    merges = [l.rstrip("\n") for l in open(f"{src}/merges.txt", encoding="utf-8")
              if l.strip() and not l.startswith("#version")]
    V, L = cfg["vocab_size"], cfg["n_layer"]
    C, H = cfg["n_embd"], cfg["n_head"]
    toks = [""] * V
    for s, i in vocab.items():
        if i < V:
            toks[i] = s
    for i in range(V):
        if not toks[i]:
            toks[i] = f"[PAD{i}]"
    types = [gguf.TokenType.NORMAL] * V
    eos = cfg.get("eos_token_id", 50256)
    if eos < V:
        types[eos] = gguf.TokenType.CONTROL

    w = gguf.GGUFWriter(dst, "gpt2")
    w.add_name("wafer-" + src.rstrip("/").split("/")[-1])
    w.add_context_length(cfg["n_positions"])
    w.add_embedding_length(C)
    w.add_feed_forward_length(cfg.get("n_inner") or 4 * C)
    w.add_block_count(L)
    w.add_head_count(H)
    w.add_layer_norm_eps(cfg.get("layer_norm_epsilon", 1e-5))
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(toks)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg.get("bos_token_id", eos))
    w.add_eos_token_id(eos)
    w.add_add_bos_token(False)

    p = "transformer."
    w.add_tensor("token_embd.weight", t[p + "wte.weight"])
    w.add_tensor("position_embd.weight", t[p + "wpe.weight"])
    names = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
             "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    for l in range(L):
        for hf, gg in names.items():
            wt = t[f"{p}h.{l}.{hf}.weight"]
            if wt.ndim == 2:
                wt = np.ascontiguousarray(wt.T)  # Conv1D [in, out] -> [out, in]
            w.add_tensor(f"blk.{l}.{gg}.weight", wt)
            w.add_tensor(f"blk.{l}.{gg}.bias", t[f"{p}h.{l}.{hf}.bias"])
    w.add_tensor("output_norm.weight", t[p + "ln_f.weight"])
    w.add_tensor("output_norm.bias", t[p + "ln_f.bias"])
    if "lm_head.weight" in t and not cfg.get("tie_word_embeddings", True):
        w.add_tensor("output.weight", t["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"hf_to_gguf: wrote {dst} ({L} layers, width {C}, vocabulary {V})")


if __name__ == "__main__":
    main()
