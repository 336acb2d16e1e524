#!/usr/bin/env python3
"""make_file_seeds.py — writes the seeds of fuzz_tokenizer, fuzz_tokfiles and fuzz_optstate into
fuzz/seeds/ (run by hand from the repository root: python3 fuzz/make_file_seeds.py; no torch needed).
Valid files first, then hostile ones, each aimed at one check of the reader. Seeds whose fix
belongs to another change go to fuzz/seeds/<target>/pending/, which the CI replay skips."""
import json
import os
import struct

S = "fuzz/seeds"


def put(target, name, data):
    path = f"{S}/{target}/{name}"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- fuzz_tokenizer: byte 0 even = text for GPT-2, odd = a merge list ----
put("tokenizer", "text-ascii", b"\x00Hello, world! It's 2026.\n  Tabs\tand  spaces ")
put("tokenizer", "text-utf8", b"\x02caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 's 've")
put("tokenizer", "text-invalid-utf8", b"\x04\xff\xfe a\x80b \xc3")
put("tokenizer", "text-empty", b"\x00")
put("tokenizer", "merges-ok", b"\x01\xc4\xa0 t\nh e\nt h\nth e\n")
put("tokenizer", "merges-unknown-part", b"\x01x yz\n")
put("tokenizer", "merges-duplicate", b"\x01h e\nh e\n")

# ---- fuzz_tokfiles: byte 0 even = u16 len + vocab.json + merges.txt; odd = tokenizer.json ----
def byte_spellings():
    """GPT-2's bytes_to_unicode: printable Latin-1 as itself, the other 68 bytes as U+0100.."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    rest = [b for b in range(256) if b not in keep]
    cps = {b: b for b in keep}
    cps.update({b: 256 + i for i, b in enumerate(rest)})
    return [chr(cps[b]) for b in keep + rest]  # GPT-2's id order


BYTES = byte_spellings()


def slow(vocab, merges, header="#version: 0.2\n"):
    v = json.dumps(vocab, ensure_ascii=False).encode()
    m = (header + "".join(f"{a} {b}\n" for a, b in merges)).encode()
    return b"\x00" + struct.pack("<H", len(v)) + v + m


vocab = {t: i for i, t in enumerate(BYTES)}
merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("\u0120", "w")]
for a, b in merges:
    vocab[a + b] = len(vocab)
vocab["<|endoftext|>"] = len(vocab)
put("tokfiles", "slow-ok", slow(vocab, merges))
put("tokfiles", "slow-no-version-line", slow(vocab, merges, header=""))
put("tokfiles", "slow-merge-not-in-vocab", slow(vocab, merges + [("x", "yz")]))
put("tokfiles", "slow-dup-ids", slow(dict(vocab, extra=0), merges))
put("tokfiles", "slow-negative-id", slow(dict(vocab, extra=-5), merges))
put("tokfiles", "slow-sparse-ids", slow(dict(vocab, extra=5000), merges))
put("tokfiles", "slow-not-json", b"\x00\x05\x00{\"a\":merges")
put("tokfiles", "slow-bad-spelling", slow(dict(vocab, **{"\u4e2d": 200}), merges))
put("tokfiles", "slow-no-space", slow(vocab, []) + b"hell\n")
put("tokfiles", "slow-crlf", slow(vocab, merges).replace(b"\n", b"\r\n"))
with open("tests/fixtures/tokenizer/small_bpe/tokenizer.json", "rb") as f:
    put("tokfiles", "json-small-bpe", b"\x01" + f.read())
fast = {"model": {"type": "BPE", "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
        "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "special": True}],
        "pre_tokenizer": {"type": "ByteLevel"}}
put("tokfiles", "json-ok", b"\x01" + json.dumps(fast).encode())
put("tokfiles", "json-pair-merges", b"\x01" + json.dumps(
    dict(fast, model=dict(fast["model"], merges=[[a, b] for a, b in merges]))).encode())
put("tokfiles", "json-added-new-id", b"\x01" + json.dumps(
    dict(fast, added_tokens=[{"id": len(vocab), "content": "<pad>"}])).encode())
put("tokfiles", "json-added-no-content", b"\x01" + json.dumps(dict(fast, added_tokens=[{"id": 3}])).encode())
put("tokfiles", "json-merges-not-array", b"\x01" + json.dumps(dict(fast, model=dict(fast["model"], merges=7))).encode())
put("tokfiles", "json-vocab-string-ids", b"\x01" + json.dumps(
    dict(fast, model=dict(fast["model"], vocab={"a": "1"}))).encode())
put("tokfiles", "json-truncated", b"\x01" + json.dumps(fast).encode()[:200])
put("tokfiles", "json-empty-object", b"\x01{}")
# huge ids: the tokenizer engineer's (model/tok_load.c), replayed once fixed
put("tokfiles", "pending/slow-huge-id", slow(dict(vocab, extra=(1 << 30) - 1), merges))
put("tokfiles", "json-added-huge-id", b"\x01" + json.dumps(
    dict(fast, added_tokens=[{"id": (1 << 30) - 1, "content": "<big>"}])).encode())

# ---- fuzz_optstate: optimizer.bin for its tiny model (1 layer, C 4, F 16, P 4, V 8) ----
C, F, P, V = 4, 16, 4, 8
NUMEL = V * C + P * C + (2 * C + C * 3 * C + 3 * C + C * C + C + 2 * C + C * F + F + F * C + C) + 2 * C


def optstate(step=3, decay=0, version=1, sections=None, size=None, numel=NUMEL, state=None):
    st = state or [step, 1000, 40, 1, 2, 3, 4, 7, decay, 1, 2, 4, 0, 0, 0, 0]
    secs = sections or [("state", struct.pack("<16Q", *st)),
                        ("hparams", struct.pack("<8f", 0.9, 0.95, 1e-8, 0.1, 1.0, 0, 0, 0)),
                        ("m", struct.pack(f"<{numel}f", *[0.01 * i for i in range(numel)])),
                        ("v", struct.pack(f"<{numel}f", *[0.001 * i for i in range(numel)]))]
    head = 32 + 32 * len(secs)
    off, table, body = (head + 63) // 64 * 64, b"", b""
    for name, data in secs:
        table += name.encode().ljust(16, b"\0") + struct.pack("<QQ", off + len(body), len(data))
        body += data + b"\0" * ((-len(data)) % 64)
    out = b"WFOPTIM\0" + struct.pack("<II", version, len(secs)) + b"\0" * 8 + struct.pack("<Q", numel) + table
    out = out.ljust(off, b"\0") + body
    return out[:16] + struct.pack("<Q", size if size is not None else len(out)) + out[24:]


ok = optstate()
put("optstate", "ok", ok)
put("optstate", "ok-decay-all", optstate(decay=2))
put("optstate", "bad-magic", b"XX" + ok[2:])
put("optstate", "bad-version", optstate(version=2))
put("optstate", "truncated", ok[:len(ok) // 2])
put("optstate", "size-field-lies", optstate(size=len(ok) + 64))
put("optstate", "numel-mismatch", optstate(numel=NUMEL + 1))
put("optstate", "decay-unknown", optstate(decay=9))
put("optstate", "section-missing", optstate(sections=[("state", b"\0" * 128), ("hparams", b"\0" * 32)]))
put("optstate", "section-outside", ok[:48] + struct.pack("<Q", 1 << 40) + ok[56:])
put("optstate", "section-count-huge", ok[:12] + struct.pack("<I", 0xFFFFFFFF) + ok[16:])
put("optstate", "short-header", ok[:20])
put("optstate", "empty", b"")
# step counts past LONG_MAX: the train engineer's (train/optstate.c range check)
put("optstate", "pending/step-2pow63", optstate(step=1 << 63))
put("optstate", "pending/step-long-max", optstate(step=(1 << 63) - 1))
