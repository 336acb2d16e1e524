#!/usr/bin/env python3
"""shard_seeds.py — writes the libFuzzer seeds of fuzz/fuzz_shards.c (run by hand):
valid datasets in the fuzzer's input layout (u16 meta length, meta.json, cut
byte, train_000000.bin + val_000000.bin bytes), per datasets/shards.h."""
import struct


def shard(split, idx, start, toks, vocab):
    payload = b"".join(struct.pack("<H", t) for t in toks)
    h = 0xcbf29ce484222325
    for b in payload:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    hdr = b"WFTK" + struct.pack("<IIIQIIQQ", 1, vocab, 2, len(toks), split, idx, start, h) + b"\0" * 16
    assert len(hdr) == 64
    return hdr + payload


def seed(name, ntrain, nval, vocab=1000):
    tr = shard(0, 0, 0, [i % vocab for i in range(ntrain)], vocab)
    va = shard(1, 0, 0, [(3 * i) % vocab for i in range(nval)], vocab)
    meta = ('{"format":"wftk","version":1,"vocab_size":%d,"eos_id":%d,"train_tokens":%d,"val_tokens":%d,'
            '"train_shards":1,"val_shards":1,"unigram_entropy_nats":2.5}' % (vocab, vocab - 1, ntrain, nval)).encode()
    rest = tr + va
    k = next(kk for kk in range(256) if len(rest) * kk // 255 == len(tr))
    data = struct.pack("<H", len(meta)) + meta + bytes([k]) + rest
    open(f"fuzz/seeds/shards/{name}", "wb").write(data)


if __name__ == "__main__":
    seed("small", 100, 40)
    seed("tiny", 33, 34, 50)
