#!/usr/bin/env python3
"""make_seeds.py — writes the small seed inputs of the checkpoint fuzzers into fuzz/seeds/
(run by hand from the repository root: python3 fuzz/make_seeds.py). fuzz/run.sh adds the model
fixtures (tests/fixtures/models) to these at run time. Each seed exercises a different path:
F32/F16/BF16, 0-dim, empty tensors, shared storages, storage offsets, non-contiguous views,
bool/int storages, and a real module state dict (with its _metadata BUILD)."""
import collections
import os

import torch
from safetensors.torch import save_file

out = "fuzz/seeds"
os.makedirs(f"{out}/safetensors", exist_ok=True)
os.makedirs(f"{out}/torchbin", exist_ok=True)
torch.manual_seed(0)

save_file({"transformer.wte.weight": torch.randn(4, 2), "transformer.h.0.ln_1.bias": torch.randn(2)},
          f"{out}/safetensors/f32.safetensors", metadata={"format": "pt"})
save_file({"a": torch.randn(3).half(), "b": torch.randn(2, 2).bfloat16(), "s": torch.tensor(1.5),
           "e": torch.zeros(0, 3)}, f"{out}/safetensors/mixed.safetensors")
save_file({"mask": torch.ones(2, 2, dtype=torch.bool), "i": torch.arange(3)},
          f"{out}/safetensors/ints.safetensors")

base = torch.randn(6, 4)
sd = collections.OrderedDict()
sd["w"] = base
sd["tied"] = base                 # same storage twice
sd["row"] = base[2]               # storage offset 8
sd["t"] = base.t()                # non-contiguous
sd["h"] = torch.randn(3).half()
sd["bf"] = torch.randn(2, 2).bfloat16()
sd["scalar"] = torch.tensor(-1e4)
sd["mask"] = torch.tril(torch.ones(3, 3, dtype=torch.bool))
sd["idx"] = torch.arange(5)
torch.save(sd, f"{out}/torchbin/views.bin")
torch.save(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2)).state_dict(),
           f"{out}/torchbin/module.bin")
# Raw pickles for fuzz_torchbin's pickle mode (input byte 0 = PROTO), which wraps the input in a
# zip whose storage k holds 64 * (k + 1) bytes: storages here are sized to match, so seeds open.
import zipfile  # noqa: E402

m = collections.OrderedDict()
m["w"] = torch.randn(16)                                     # key 0: 16 F32
base2 = torch.randn(4, 8)                                    # key 1: 32 F32
m["m"] = base2
m["row"] = base2[1]                                          # storage offset 8
m["h"] = torch.randn(8, 12).half()                           # key 2: 96 F16
m["bf"] = torch.randn(128).bfloat16()                        # key 3: 128 BF16
m["t"] = torch.randn(8, 10).t()                              # key 4: 80 F32, non-contiguous
m["scalar"] = torch.randn(96)[3]                             # key 5: 0-dim view at offset 3
m["mask"] = torch.ones(448, dtype=torch.bool).view(16, 28)   # key 6: 448 BOOL
m["idx"] = torch.arange(64)                                  # key 7: 64 I64
m["tied"] = m["w"]
torch.save(m, "/tmp/wf_seed_matched.bin")
for src, dst in (("/tmp/wf_seed_matched.bin", "matched.pkl"), (f"{out}/torchbin/module.bin", "module.pkl")):
    with zipfile.ZipFile(src) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
        with open(f"{out}/torchbin/{dst}", "wb") as f:
            f.write(z.read(pkl))
os.remove("/tmp/wf_seed_matched.bin")

for d in ("safetensors", "torchbin"):
    for f in sorted(os.listdir(f"{out}/{d}")):
        print(f"{out}/{d}/{f}: {os.path.getsize(f'{out}/{d}/{f}')} bytes")
