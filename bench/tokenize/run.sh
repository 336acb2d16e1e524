#!/usr/bin/env bash
# bench/tokenize/run.sh — data pipeline speed on the demo corpus (Japanese man
# pages, ~9 MB): `wafer tokenizer-train` (vocabulary 8192) and `wafer tokenize`
# (1 and 2 threads), each against Hugging Face tokenizers (Rust) doing the same
# work: BpeTrainer on the same texts, encode_batch with the same tokenizer.json.
# BUILD (default: build) names the build folder; the corpus is made if missing.
set -eu
cd "$(dirname "$0")/../.."
W=${BUILD:-build}/wafer
C=out/demo/corpus
T=$(mktemp -d /tmp/wf_bench_tok.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -x "$W" ] || { echo "bench/tokenize: $W not built" >&2; exit 1; }
bash scripts/demo_corpus.sh "$C" >/dev/null
now() { date +%s.%N; }
t0=$(now); "$W" tokenizer-train --vocab-size 8192 --out "$T/tok" --quiet "$C" 2>/dev/null; t1=$(now)
"$W" tokenize --model "$T/tok" --out "$T/d1" --threads 1 --quiet "$C" 2>/dev/null; t2=$(now)
"$W" tokenize --model "$T/tok" --out "$T/d2" --threads 2 --quiet "$C" 2>/dev/null; t3=$(now)
bytes=$(sed -n 's/.*"bytes": \([0-9]*\).*/\1/p' "$T/d2/meta.json")
tokens=$(sed -n 's/.*"train_tokens": \([0-9]*\).*/\1/p' "$T/d2/meta.json")
awk -v b="$bytes" -v n="$tokens" -v a="$t0" -v c="$t1" -v d="$t2" -v e="$t3" 'BEGIN{
  printf "wafer tokenizer-train 8192: %.2f s for %.1f MB\n", c-a, b/1e6;
  printf "wafer tokenize 1 thread:    %.2f s (%.1f MB/s)\n", d-c, b/1e6/(d-c);
  printf "wafer tokenize 2 threads:   %.2f s (%.1f MB/s), %d train tokens\n", e-d, b/1e6/(e-d), n }'
if python3 -c "import tokenizers" 2>/dev/null; then
  echo "peer (HF tokenizers, 2 threads): $(python3 bench/tokenize/hf_peer.py "$C" 8192 "$T/tok" 2)"
else
  echo "peer: python tokenizers not installed; skipped"
fi
