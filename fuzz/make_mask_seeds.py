#!/usr/bin/env python3
"""make_mask_seeds.py — writes the seeds of fuzz_sparsemask into fuzz/seeds/sparsemask/ (run by hand
from the repository root: python3 fuzz/make_mask_seeds.py). The model is fuzz_sparsemask.c's tiny one:
2 layers, n_embd 4, n_inner 16, so each matrix (qkv 4x12, attn_proj 4x4, fc 4x16, fc_proj 16x4) takes
one 64-bit word. Valid files first, then hostile ones, each aimed at one check of the reader
(sparse/mask.c; format table in sparse/sparse.h)."""
import os
import struct
import zlib

D = "fuzz/seeds/sparsemask"
SHAPES = [(4, 12), (4, 4), (4, 16), (16, 4)]


def put(name, data):
    os.makedirs(D, exist_ok=True)
    with open(f"{D}/{name}", "wb") as f:
        f.write(data)


def mask(L=2, C=4, F=16, dist=0, per=4, sparsity=0.5, kept=None, body_size=None, words=None, choices=None,
         version=1, magic=b"WFMASK\0\0", fix_crc=True, body_crc=None):
    if words is None:
        words = []
        for _ in range(L):
            for r, c in SHAPES:
                n = r * c
                words.append(sum(1 << i for i in range(0, n, 2)))  # every other weight kept
    if choices is None:
        choices = bytes(((L * 4 + 7) // 8) * 8)
    body = choices + b"".join(struct.pack("<Q", w) for w in words)
    if kept is None:
        kept = sum(bin(w).count("1") for w in words)
    hdr = magic + struct.pack("<IIIIII", version, L, C, F, dist, per) + struct.pack("<dQQ", sparsity, kept,
                                                                                     len(body) if body_size is None else body_size)
    hdr += struct.pack("<I", zlib.crc32(body) if body_crc is None else body_crc)
    hdr += struct.pack("<I", zlib.crc32(hdr) if fix_crc else 0)
    return hdr + body


ok = mask()
put("ok", ok)
put("ok-erk-choices", mask(dist=1, choices=bytes([1, 2, 0, 2, 2, 1, 0, 1])))
put("ok-all-kept", mask(sparsity=0.0, words=[(1 << (r * c)) - 1 if r * c < 64 else (1 << 64) - 1
                                                 for _ in range(2) for r, c in SHAPES]))
put("ok-none-kept", mask(sparsity=0.99, words=[0] * 8))
put("empty", b"")
put("short-header", ok[:40])
put("bad-magic", mask(magic=b"WFMASQ\0\0"))
put("header-crc", ok[:60] + b"\0\0\0\0" + ok[64:])
put("bad-version", mask(version=2))
put("other-shape", mask(C=8, F=32))
put("other-layers", mask(L=3))
put("per-layer-3", mask(per=3))
put("dist-unknown", mask(dist=9))
put("sparsity-one", mask(sparsity=1.0))
put("sparsity-negative", mask(sparsity=-0.25))
put("sparsity-nan", mask(sparsity=float("nan")))
put("body-size-lies", mask(body_size=8))
put("body-size-huge", mask(body_size=(1 << 63)))
put("truncated-body", ok[:-8])
put("trailing-bytes", ok + b"\0" * 8)
put("body-crc", mask(body_crc=0x12345678))
put("kept-count-lies", mask(kept=3))
put("padding-bits", mask(words=[(1 << 63) | 1] + [1] * 7, kept=9))
put("choice-unknown", mask(choices=bytes([7, 0, 0, 0, 0, 0, 0, 0])))
