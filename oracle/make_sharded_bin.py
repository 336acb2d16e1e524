#!/usr/bin/env python3
"""make_sharded_bin.py — sharded pytorch_model-0000i-of-0000n.bin fixtures
without torch: reads tests/fixtures/models/tiny-gelu/pytorch_model.bin (the
pickle + zip layout torch.save writes), splits its state dict over shards, in
fp32 and in fp16, adds the attn.bias / attn.masked_bias buffers old GPT-2
checkpoints carry, and writes pytorch_model.bin.index.json. The logits of the
fp32 folder are tiny-gelu's (same weights, bit for bit).

usage: python3 oracle/make_sharded_bin.py   (from the repository root)"""
import collections, io, json, os, pickle, shutil, struct, sys, types, zipfile

SRC = "tests/fixtures/models/tiny-gelu"
NSHARDS = 3


class Tensor:
    def __init__(self, dtype, data, shape):
        self.dtype, self.data, self.shape = dtype, data, shape


def load(path):
    z = zipfile.ZipFile(path)
    pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
    prefix = pkl[: -len("/data.pkl")]

    class U(pickle.Unpickler):
        def find_class(self, mod, name):
            if mod == "collections" and name == "OrderedDict":
                return collections.OrderedDict
            if mod == "torch._utils" and name == "_rebuild_tensor_v2":
                return lambda st, off, size, stride, *rest: (st, off, size, stride)
            if mod == "torch":
                return name
            raise ValueError(mod + "." + name)

        def persistent_load(self, pid):
            return pid  # ('storage', 'FloatStorage', key, 'cpu', numel)

    sd = U(io.BytesIO(z.read(pkl))).load()
    out = collections.OrderedDict()
    for name, (st, off, size, stride) in sd.items():
        assert st[1] == "FloatStorage"
        raw = z.read(f"{prefix}/data/{st[2]}")
        n = 1
        for d in size:
            n *= d
        out[name] = Tensor("f32", raw[off * 4 : (off + n) * 4], tuple(size))
    return out


# Fake torch globals so pickle writes the names torch.load expects.
torch = types.ModuleType("torch")
tutils = types.ModuleType("torch._utils")
sys.modules["torch"], sys.modules["torch._utils"] = torch, tutils
for cname in ("FloatStorage", "HalfStorage", "BoolStorage"):
    c = type(cname, (), {})
    c.__module__ = "torch"
    setattr(torch, cname, c)


def _rebuild_tensor_v2(*a):
    raise RuntimeError("not for loading")


_rebuild_tensor_v2.__module__ = "torch._utils"
tutils._rebuild_tensor_v2 = _rebuild_tensor_v2


class StorageRef:
    def __init__(self, cls, key, numel):
        self.cls, self.key, self.numel = cls, key, numel


class TRef:
    def __init__(self, st, shape):
        self.st, self.shape = st, shape

    def __reduce__(self):
        stride, s = [], 1
        for d in reversed(self.shape):
            stride.insert(0, s)
            s *= d
        return (_rebuild_tensor_v2, (self.st, 0, tuple(self.shape), tuple(stride), False, collections.OrderedDict()))


class P(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


def write_shard(path, tensors):
    sd, blobs = collections.OrderedDict(), {}
    for i, (name, t) in enumerate(tensors):
        cls = {"f32": torch.FloatStorage, "f16": torch.HalfStorage, "bool": torch.BoolStorage}[t.dtype]
        width = {"f32": 4, "f16": 2, "bool": 1}[t.dtype]
        sd[name] = TRef(StorageRef(cls, str(i), len(t.data) // width), t.shape)
        blobs[str(i)] = t.data
    buf = io.BytesIO()
    P(buf, protocol=2).dump(sd)
    base = os.path.splitext(os.path.basename(path))[0]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{base}/data.pkl", buf.getvalue())
        z.writestr(f"{base}/byteorder", "little")
        for k, v in blobs.items():
            z.writestr(f"{base}/data/{k}", v)
        z.writestr(f"{base}/version", "3\n")


def to_f16(t):
    vals = struct.unpack(f"<{len(t.data) // 4}f", t.data)
    return Tensor("f16", struct.pack(f"<{len(vals)}e", *vals), t.shape)


def make(dst, half):
    sd = load(f"{SRC}/pytorch_model.bin")
    cfg = json.load(open(f"{SRC}/config.json"))
    P_, L = cfg["n_positions"], cfg["n_layer"]
    items = []
    for name, t in sd.items():
        items.append((name, to_f16(t) if half else t))
        if name.endswith(".ln_1.bias"):  # the buffers old GPT-2 checkpoints carry, after ln_1
            pre = name[: -len("ln_1.bias")]
            mask = bytes(1 if j <= i else 0 for i in range(P_) for j in range(P_))
            items.append((pre + "attn.bias", Tensor("bool", mask, (1, 1, P_, P_))))
            items.append((pre + "attn.masked_bias", Tensor("f32", struct.pack("<f", -1e4), ())))
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    for f in ("config.json", "generation_config.json"):
        shutil.copy(f"{SRC}/{f}", f"{dst}/{f}")
    per = (len(items) + NSHARDS - 1) // NSHARDS
    wmap, total = {}, 0
    for s in range(NSHARDS):
        fn = f"pytorch_model-{s + 1:05d}-of-{NSHARDS:05d}.bin"
        part = items[s * per : (s + 1) * per]
        write_shard(f"{dst}/{fn}", part)
        for name, t in part:
            wmap[name] = fn
            total += len(t.data)
    json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, open(f"{dst}/pytorch_model.bin.index.json", "w"),
              indent=2)
    print(dst, len(items), "tensors in", NSHARDS, "shards", "(fp16)" if half else "(fp32)")


make("tests/fixtures/models/tiny-gelu-sharded-bin", False)
make("tests/fixtures/models/tiny-gelu-sharded-bin-f16", True)
