#!/usr/bin/env python3
"""sparse_check.py — a pruned checkpoint (wafer prune: dense weights with zeros + sparse_mask.bin)
loads unchanged in Hugging Face transformers and gives the logits wafer gives on its sparse kernels.
usage: python3 oracle/sparse_check.py WAFER_BIN MODEL_DIR   (prints the max |logprob| difference;
exit 1 above 1e-4). Not part of CI: the oracle scripts are run by hand (README)."""
import json
import subprocess
import sys

import torch
from transformers import GPT2LMHeadModel

wafer, model = sys.argv[1], sys.argv[2]
ids = list(range(1, 41))
out = subprocess.run([wafer, "score", "--model", model], input=" ".join(map(str, ids)), capture_output=True,
                     text=True, check=True)
ours = json.loads(out.stdout)["logprobs"]
m = GPT2LMHeadModel.from_pretrained(model).eval()
zeros = sum(int((p == 0).sum()) for n, p in m.named_parameters() if n.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")))
total = sum(p.numel() for n, p in m.named_parameters() if n.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")))
with torch.no_grad():
    lg = m(torch.tensor([ids])).logits[0].double().log_softmax(-1)
theirs = [lg[t, ids[t + 1]].item() for t in range(len(ids) - 1)]
d = max(abs(a - b) for a, b in zip(ours, theirs))
print(f"{model}: block matrices {zeros}/{total} zeros ({zeros / total:.4f}) in transformers; "
      f"max |logprob| diff wafer (sparse kernels) vs transformers {d:.2e}")
sys.exit(0 if d <= 1e-4 else 1)
