#!/usr/bin/env python3
"""roundtrip.py — checks that a model folder written by wafer (wf_checkpoint_save) loads in
Hugging Face transformers and gives the same logits as the original fixture model.

    WF_KEEP_SAVED=/tmp/rt ./build/tests/model/test_checkpoint      # wafer writes /tmp/rt/<name>
    python3 oracle/roundtrip.py /tmp/rt/tiny-gelu [tests/fixtures/models/tiny-gelu]

Prints, per fixture sequence length T, the max abs difference between the saved model's logits
and (a) the stored fixture logits, (b) the original folder loaded by transformers now; and the
max abs weight difference. Exits 1 unless the weights are bit-identical and the logits agree to
1e-6. (Logits of bit-identical weights can differ in the last bit: torch's CPU GEMV picks its code
path by the address alignment of the mmap'd tensors, which depends on the header length.)
Run by hand; never by CI or the product.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from transformers import GPT2LMHeadModel


def load(d):
    m = GPT2LMHeadModel.from_pretrained(d, attn_implementation="eager", dtype=torch.float32)
    return m.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("saved", help="folder written by wafer")
    ap.add_argument("ref", nargs="?", help="original fixture folder (default: "
                    "tests/fixtures/models/<basename of saved>)")
    a = ap.parse_args()
    ref = a.ref or os.path.join("tests/fixtures/models", os.path.basename(os.path.normpath(a.saved)))
    torch.set_num_threads(1)
    saved, orig = load(a.saved), load(ref)
    # The LM head must come out tied to wte (wafer does not write lm_head.weight).
    assert saved.lm_head.weight.data_ptr() == saved.transformer.wte.weight.data_ptr(), "lm_head not tied"
    sd_s, sd_o = saved.state_dict(), orig.state_dict()
    assert sd_s.keys() == sd_o.keys(), sorted(set(sd_s) ^ set(sd_o))
    wdiff = max((sd_s[k].float() - sd_o[k].float()).abs().max().item() for k in sd_s)
    print(f"{a.saved} vs {ref}: {len(sd_s)} tensors, max abs weight diff {wdiff:.3g}")
    worst = wdiff
    for T in (1, 7, 260):
        ids_path = os.path.join(ref, f"ids_T{T}.json")
        if not os.path.exists(ids_path):
            continue
        with open(ids_path) as f:
            ids = json.load(f)["ids"]
        with torch.no_grad():
            x = torch.tensor([ids])
            ls = saved(input_ids=x).logits[0].numpy()
            lo = orig(input_ids=x).logits[0].numpy()
        fix = np.fromfile(os.path.join(ref, f"logits_T{T}.f32"), dtype="<f4").reshape(ls.shape)
        d_fix = float(np.abs(ls - fix).max())
        d_orig = float(np.abs(ls - lo).max())
        worst = max(worst, d_fix, d_orig)
        print(f"  T={T:3d}: max abs logit diff vs fixture file {d_fix:.3g}, vs original model {d_orig:.3g} "
              f"(max |logit| {float(np.abs(fix).max()):.3g})")
    ok = wdiff == 0 and worst <= 1e-6
    print(("OK" if ok else "FAILED") + f": weights {'bit-identical' if wdiff == 0 else 'DIFFERENT'}, "
          f"worst logit diff {worst:.3g} (tolerance 1e-6)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
