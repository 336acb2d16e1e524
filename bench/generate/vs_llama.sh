#!/usr/bin/env bash
# bench/generate/vs_llama.sh — batch-1 decode, wafer against llama.cpp on the
# very same random Cerebras-GPT-111M weights: wafer fp32 against llama.cpp
# f32, wafer --bf16 against bf16, wafer --int8 against q8_0. ROUNDS rounds
# (default 3), the order alternating from round to round; prints every
# measurement, then the medians and their ratio.
#
# llama.cpp is a benchmark peer, never part of wafer: build it yourself beside
# this repository (e.g. `cmake -B build -DGGML_NATIVE=ON && cmake --build build
# --target llama-bench llama-quantize`) and point LLAMA_BIN at its bin folder.
#
#   LLAMA_BIN=/path/to/llama.cpp/build/bin bench/generate/vs_llama.sh
#
# Env: LLAMA_BIN (required: holds llama-bench and llama-quantize), WORK (where
# the model and the GGUF files are made once and kept; default
# out/bench-vs-llama), WAFER (default build/wafer), ROUNDS (3), NTOK (128 new
# tokens), THREADS (default: all cores), LLAMA_REPS (3, llama-bench -r),
# LLAMA_EXTRA (more llama-bench flags, e.g. "-d 32" to decode after a
# 32-token context as wafer does; the default decodes from an empty one).
# Making the model needs python3 with torch and transformers, the GGUF files
# the gguf package (bench/generate/hf_to_gguf.py); the runs need neither.
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
die() { echo "vs_llama: $*" >&2; exit 1; }
[ -n "${LLAMA_BIN:-}" ] || die "set LLAMA_BIN to the folder with llama-bench and llama-quantize (see the top of this file)"
LB="$LLAMA_BIN/llama-bench"
LQ="$LLAMA_BIN/llama-quantize"
[ -x "$LB" ] || die "$LB: not an executable"
WAFER="${WAFER:-$root/build/wafer}"
[ -x "$WAFER" ] || die "$WAFER: not built (make build)"
WORK="${WORK:-$root/out/bench-vs-llama}"
ROUNDS="${ROUNDS:-3}"
NTOK="${NTOK:-128}"
THREADS="${THREADS:-$(nproc)}"
LLAMA_REPS="${LLAMA_REPS:-3}"
LLAMA_EXTRA="${LLAMA_EXTRA:-}"
MODEL="$WORK/model"
# 32 GPT-2 tokens
PROMPT="The history of computing is a story of machines that became smaller, faster and cheaper, until a device in every pocket held more power than whole rooms of old."

mkdir -p "$WORK" || die "$WORK: cannot create"
if [ ! -f "$MODEL/model.safetensors" ]; then
  echo "making $MODEL: random Cerebras-GPT-111M (seed 0) with transformers"
  python3 - "$MODEL" <<'EOF' || die "could not make the model (needs python3 with torch and transformers)"
import sys
import torch
from transformers import GPT2Config, GPT2LMHeadModel
torch.manual_seed(0)
cfg = GPT2Config(vocab_size=50257, n_positions=2048, n_embd=768, n_layer=10, n_head=12, n_inner=3072,
                 activation_function="gelu", layer_norm_epsilon=1e-5, tie_word_embeddings=True,
                 resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=50256, eos_token_id=50256)
GPT2LMHeadModel(cfg).to(torch.float32).eval().save_pretrained(sys.argv[1], safe_serialization=True,
                                                               max_shard_size="10GB")
EOF
  cp "$root/data/gpt2/vocab.json" "$root/data/gpt2/merges.txt" "$MODEL/" || die "data/gpt2: tokenizer files missing"
fi
if [ ! -f "$WORK/m111-f32.gguf" ]; then
  python3 "$root/bench/generate/hf_to_gguf.py" "$MODEL" "$WORK/m111-f32.gguf" || die "GGUF conversion failed"
fi
for g in bf16 q8_0; do
  if [ ! -f "$WORK/m111-$g.gguf" ]; then
    [ -x "$LQ" ] || die "$LQ: not an executable (needed once, to make m111-$g.gguf)"
    "$LQ" "$WORK/m111-f32.gguf" "$WORK/m111-$g.gguf" "$g" >"$WORK/quantize-$g.log" 2>&1 ||
      die "llama-quantize $g failed: see $WORK/quantize-$g.log"
  fi
done

echo "cpu          : $(lscpu | sed -n 's/^Model name: *//p')"
echo "llama.cpp    : $("$LB" --version 2>&1 | head -1)"
echo "wafer        : $WAFER ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rounds $ROUNDS, $NTOK new tokens, $THREADS threads, llama-bench -r $LLAMA_REPS $LLAMA_EXTRA"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

run_wafer() { # $1 pair, $2 wafer flag
  local line v
  line=$(GOMP_SPINCOUNT=10000 "$WAFER" generate --model "$MODEL" --prompt "$PROMPT" --max-tokens "$NTOK" \
         --temperature 0 --threads "$THREADS" $2 2>&1 >/dev/null | grep '^\[generate\]' | tail -1)
  v=$(printf '%s\n' "$line" | sed -n 's/.* decode \([0-9.]*\) tok\/s.*/\1/p')
  if [ -z "$v" ]; then echo "  wafer $1: FAILED: $line"; return; fi
  echo "$v" >>"$TMP/wafer-$1"
  printf '  wafer %-5s %8.2f tok/s\n' "$1" "$v"
}

run_llama() { # $1 pair, $2 GGUF type; columns counted from the end (quoted fields may hold commas)
  local v
  v=$("$LB" -m "$WORK/m111-$2.gguf" -p 0 -n "$NTOK" -t "$THREADS" -r "$LLAMA_REPS" $LLAMA_EXTRA -o csv 2>"$TMP/lb.err" |
      awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { gsub(/"/, "", $i); back[$i] = NF - i } next }
               { gsub(/"/, ""); if ($(NF - back["n_gen"]) > 0) { a = $(NF - back["avg_ts"]); s = $(NF - back["stddev_ts"]) } }
               END { if (a != "") print a, s }')
  if [ -z "$v" ]; then echo "  llama $1: FAILED: $(tail -3 "$TMP/lb.err" | tr '\n' ' ')"; return; fi
  echo "${v%% *}" >>"$TMP/llama-$1"
  printf '  llama %-5s %8.2f tok/s   (m111-%s.gguf, mean of %s, stddev %s)\n' "$1" "${v%% *}" "$2" "$LLAMA_REPS" "${v##* }"
}

PAIRS="fp32: bf16:--bf16 int8:--int8"
gguf_of() { case $1 in fp32) echo f32 ;; bf16) echo bf16 ;; int8) echo q8_0 ;; esac; }

for r in $(seq 1 "$ROUNDS"); do
  echo "=== round $r/$ROUNDS $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  for p in $PAIRS; do
    name=${p%%:*} flag=${p#*:}
    if [ $((r % 2)) -eq 1 ]; then
      run_wafer "$name" "$flag"; run_llama "$name" "$(gguf_of "$name")"
    else
      run_llama "$name" "$(gguf_of "$name")"; run_wafer "$name" "$flag"
    fi
  done
done

median() { [ -s "$1" ] && sort -g "$1" | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
echo "=== medians (decode tok/s), load at end $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %10s %10s %12s\n' pair wafer llama wafer/llama
for p in $PAIRS; do
  name=${p%%:*}
  w=$(median "$TMP/wafer-$name") l=$(median "$TMP/llama-$name")
  ratio=$(awk -v w="${w:-0}" -v l="${l:-0}" 'BEGIN { if (w > 0 && l > 0) printf "%.2fx", w / l; else print "n/a" }')
  printf '%-6s %10s %10s %12s   (llama.cpp %s)\n' "$name" "${w:-n/a}" "${l:-n/a}" "$ratio" "$(gguf_of "$name")"
done
