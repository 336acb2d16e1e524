#!/usr/bin/env bash
# bench/train/loss_bf16.sh — does `wafer train --bf16` learn like fp32? Trains
# the demo's small model (4 layers x 256, 4 heads, its vocabulary, seq 128,
# batch 8) on real text for STEPS steps twice from the same seed, fp32 and
# --bf16, and prints the max and mean relative difference of the per-step
# training losses (the issue's goal: max <= 1% over 200 steps).
# Env: BUILD (default build), DATA (default out/demo/data, from scripts/demo.sh),
# STEPS (200), LR (6e-4, the 111M recipe; at the demo's 2e-3 the run is chaotic:
# fp32 against fp32 with the lr moved by 5e-6 relative already differs 1.2%),
# THREADS (nproc). Exit 1 when the max difference exceeds 1%.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
data="${DATA:-$root/out/demo/data}"
steps="${STEPS:-200}"
lr="${LR:-6e-4}"
threads="${THREADS:-$(nproc)}"
[ -x "$build/wafer" ] || { echo "loss_bf16: $build/wafer not built"; exit 2; }
[ -f "$data/meta.json" ] || { echo "loss_bf16: no token data at $data (run scripts/demo.sh)"; exit 2; }
vocab=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$data/meta.json")
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for mode in fp32 bf16; do
  flag=""; [ "$mode" = bf16 ] && flag="--bf16"
  t0=$(date +%s.%N)
  "$build/wafer" train --model cerebras-gpt-111m --n-layer 4 --n-embd 256 --n-head 4 --n-positions 128 \
    --vocab-size "$vocab" --data "$data" --out "$tmp/$mode" --steps "$steps" --batch 8 --seq 128 \
    --lr "$lr" --warmup 20 --seed 1234 --threads "$threads" --save-every 0 --eval-every 0 -q $flag >/dev/null
  echo "loss_bf16: $mode $steps steps in $(python3 -c "import sys,time; print(round(time.time()-float(sys.argv[1]),1))" "$t0") s"
done
python3 - "$tmp/fp32/log.csv" "$tmp/bf16/log.csv" <<'PY'
import csv, sys
def read(p):
    return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(open(p)) if r["loss"]}
a, b = read(sys.argv[1]), read(sys.argv[2])
steps = sorted(set(a) & set(b))
rel = [abs(b[s] - a[s]) / abs(a[s]) for s in steps]
worst = max(range(len(steps)), key=lambda i: rel[i])
print(f"loss_bf16: {len(steps)} steps; fp32 loss {a[steps[0]]:.4f} -> {a[steps[-1]]:.4f}, "
      f"bf16 {b[steps[0]]:.4f} -> {b[steps[-1]]:.4f}")
print(f"loss_bf16: max relative difference {100*rel[worst]:.3f}% (step {steps[worst]}), "
      f"mean {100*sum(rel)/len(rel):.3f}%, last step {100*rel[-1]:.3f}%")
sys.exit(0 if rel[worst] <= 0.01 else 1)
PY
