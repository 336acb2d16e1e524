#!/usr/bin/env python3
"""make_seeds_files.py — writes the seeds of the tokenizer-file, shard and
optimizer-state fuzzers into fuzz/seeds/ (run by hand from the repository root:
python3 fuzz/make_seeds_files.py; standard library only). Each target gets a
valid input and hostile ones; the layouts are those the fuzz_<t>.c headers
describe. optimizer.bin follows the format table of train/train.h for the
fuzz_optstate model (1080 parameters)."""
import json
import os
import struct

out = "fuzz/seeds"


def put(target, name, data):
    os.makedirs(f"{out}/{target}", exist_ok=True)
    with open(f"{out}/{target}/{name}", "wb") as f:
        f.write(data)


def split2(a, b):
    return struct.pack("<H", len(a)) + a + b


def byte_map():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


# ---- fuzz_tokenizer: byte 0 even = text, odd = merge list --------------------
put("tokenizer", "text", b"\x00Hello world's 123 \xe6\x97\xa5\xe6\x9c\xac  \n\t<|endoftext|>x")
put("tokenizer", "text_bad_utf8", b"\x00\xff\xc3 \xed\xa0\x80\xf4\x90\x80\x80'll  \r\n\x00")
put("tokenizer", "merges", b"\x01\xc4\xa0 t\nh e\n\xc4\xa0t he\n")
put("tokenizer", "merges_hostile", b"\x01a\nb  c\n \n\xff \xfe\nzz zz\n")

# ---- fuzz_vocab: u16 length, vocab.json, merges.txt ---------------------------
bm = byte_map()
vocab = {bm[b]: i for i, b in enumerate(sorted(bm, key=lambda b: ord(bm[b])))}
merges = [("\u0120", "t"), ("h", "e"), ("\u0120t", "he")]
for a, b in merges:
    vocab[a + b] = len(vocab)
vocab["<|endoftext|>"] = len(vocab)
vj = json.dumps(vocab, ensure_ascii=False).encode()
mt = ("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)).encode()
put("vocab", "valid", split2(vj, mt))
put("vocab", "merge_not_in_vocab", split2(vj, b"#version: 0.2\nx y\n"))
put("vocab", "not_json", split2(b'{"a": 0, "b": ', mt))
put("vocab", "neg_id", split2(b'{"a": -1, "b": 1}', b"a b\n"))
put("vocab", "dup_id", split2(b'{"a": 0, "b": 0, "ab": 0}', b"a b\n"))
put("vocab", "array", split2(b"[1, 2, 3]", b""))
put("vocab", "empty", b"")

# ---- fuzz_tokjson: the whole input is tokenizer.json --------------------------
with open("tests/fixtures/tokenizer/small_bpe/tokenizer.json", "rb") as f:
    tj = f.read()
put("tokjson", "small_bpe", tj)
t = json.loads(tj)
t["model"]["merges"] = t["model"]["merges"][:5] + [["zz", "qq"]]
put("tokjson", "merge_unknown", json.dumps(t).encode())
t = json.loads(tj)
t["added_tokens"] = [{"id": 5, "content": "", "special": True}]
put("tokjson", "empty_added", json.dumps(t).encode())
put("tokjson", "no_model", b'{"version": "1.0", "model": null}')
put("tokjson", "truncated", tj[: len(tj) // 2])

# ---- fuzz_shards: u16 meta length, meta.json, split byte, train|val ----------


with open(f"{out}/shards/tiny", "rb") as f:
    tiny = f.read()
m = struct.unpack("<H", tiny[:2])[0]
meta, rest = tiny[2:2 + m], tiny[3 + m:]
meta_j = json.loads(meta)
for name, change in [("meta_vocab0", {"vocab_size": 0}), ("meta_huge_tokens", {"train_tokens": 2**62}),
                     ("meta_neg_eos", {"eos_id": -7}), ("meta_vocab_huge", {"vocab_size": 2**40})]:
    j = dict(meta_j)
    j.update(change)
    mj = json.dumps(j).encode()
    put("shards", name, struct.pack("<H", len(mj)) + mj + tiny[2 + m:3 + m] + rest)
put("shards", "train_truncated_header", tiny[:3 + m] + rest[:20])
put("shards", "flipped_payload", tiny[:-4] + bytes(b ^ 0xFF for b in tiny[-4:]))

# ---- fuzz_optstate: optimizer.bin of the 1080-parameter model ----------------
def optstate(numel=1080, step=3, n_sec=4, version=1, size_delta=0, sec_patch=None):
    names = [b"state", b"hparams", b"m", b"v"]
    sizes = [16 * 8, 8 * 4, numel * 4, numel * 4]
    al = lambda x: (x + 63) // 64 * 64
    pos, offs = al(32 + 32 * 4), []
    for sz in sizes:
        offs.append(pos)
        pos = al(pos + sz)
    total = pos
    buf = bytearray(total)
    buf[0:8] = b"WFOPTIM\0"
    struct.pack_into("<IIQQ", buf, 8, version, n_sec, total + size_delta, numel)
    for i, (nm, o, sz) in enumerate(zip(names, offs, sizes)):
        if sec_patch and sec_patch[0] == i:
            o, sz = sec_patch[1], sec_patch[2]
        struct.pack_into("<16sQQ", buf, 32 + 32 * i, nm, o, sz)
    st = [step, 96, 6, 1, 2, 3, 4, 7, 0, 2, 2, 16, 0, 0, 0, 0]
    struct.pack_into("<16Q", buf, offs[0], *st)
    struct.pack_into("<8f", buf, offs[1], 0.9, 0.95, 1e-8, 0.1, 1.0, 0, 0, 0)
    for k in range(numel):
        struct.pack_into("<f", buf, offs[2] + 4 * k, 0.001 * (k % 17))
        struct.pack_into("<f", buf, offs[3] + 4 * k, 1e-6 * (k % 13))
    return bytes(buf)


put("optstate", "valid", optstate())
put("optstate", "truncated", optstate()[:4000])
put("optstate", "bad_magic", b"WFOPTIMX" + optstate()[8:])
put("optstate", "version2", optstate(version=2))
put("optstate", "wrong_numel", optstate(numel=1000))
put("optstate", "size_field_lies", optstate(size_delta=64))
put("optstate", "section_past_end", optstate(sec_patch=(2, 2**63, 4320)))
put("optstate", "section_overflow", optstate(sec_patch=(3, 2**64 - 64, 128)))
put("optstate", "many_sections", optstate(n_sec=2**31))
put("optstate", "empty", b"")
