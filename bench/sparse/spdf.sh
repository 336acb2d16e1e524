#!/usr/bin/env bash
# bench/sparse/spdf.sh — the SPDF quality experiment (issue 13; arXiv 2303.10464) on the demo
# corpus (Debian's Japanese man pages, scripts/demo_corpus.sh) with a small model: the same
# training FLOPs dense and at 75% sparsity (the sparse run takes more steps, each cheaper), then
# a short dense fine-tune of the sparse model. Validation loss against training FLOPs goes to
# OUT/spdf.png, the final numbers to OUT/spdf.md.
# FLOPs per token: 6 x (density x block-matrix params + the tied head V x C) + 6 L T C for
# attention (causal half of PaLM's 12 L T C); biases and LayerNorm left out.
# A fourth run, dense for as many steps as the sparse one (more FLOPs), is the control: it tells
# how much of the sparse run's edge comes from its extra steps. A run whose OUT/<run>/latest
# exists is not repeated (delete the folder to redo it).
# Env: OUT (out/spdf), STEPS (dense steps, 300), SPARSITY (0.75), FT_STEPS (STEPS/5),
# LAYERS 4, EMBD 256, HEADS 4, VOCAB 4096, SEQ 128, BATCH 16, LR 2e-3, THREADS (nproc).
set -euo pipefail
cd "$(dirname "$0")/../.."
WAFER=${WAFER:-build/wafer}
PLOT=${PLOT:-build/bench/sparse/spdf_plot}
OUT=${OUT:-out/spdf}
STEPS=${STEPS:-300} S=${SPARSITY:-0.75} L=${LAYERS:-4} C=${EMBD:-256} NH=${HEADS:-4} V=${VOCAB:-4096}
T=${SEQ:-128} B=${BATCH:-16} LR=${LR:-2e-3} TH=${THREADS:-$(nproc)}
FT=${FT_STEPS:-$(( STEPS / 5 ))}
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}" # shared machines: see bench/sparse/run.sh
mkdir -p "$OUT"
bash scripts/demo_corpus.sh out/demo/corpus
[ -f "$OUT/tokenizer/vocab.json" ] || "$WAFER" tokenizer-train --vocab-size "$V" --out "$OUT/tokenizer" out/demo/corpus
[ -f "$OUT/data/meta.json" ] || "$WAFER" tokenize --model "$OUT/tokenizer" --out "$OUT/data" --val-fraction 0.01 out/demo/corpus
F=$((4 * C))
read -r dense_tok sparse_tok <<<"$(awk -v L=$L -v C=$C -v F=$F -v V=$V -v T=$T -v S=$S 'BEGIN{
  blk = L * (3*C*C + C*C + 2*C*F); head = V*C; att = 6*L*T*C;
  printf "%.0f %.0f", 6*(blk + head) + att, 6*((1-S)*blk + head) + att }')"
SSTEPS=$(awk -v d=$dense_tok -v s=$sparse_tok -v n=$STEPS 'BEGIN{printf "%d", n*d/s + 0.5}')
gd=$(awk -v f=$dense_tok -v b=$B -v t=$T 'BEGIN{printf "%.6f", f*b*t/1e9}')
gs=$(awk -v f=$sparse_tok -v b=$B -v t=$T 'BEGIN{printf "%.6f", f*b*t/1e9}')
echo "spdf: dense $dense_tok FLOP/token, $S sparse $sparse_tok FLOP/token: $STEPS dense steps = $SSTEPS sparse steps"
common=(--model cerebras-gpt-111m --n-layer "$L" --n-embd "$C" --n-head "$NH" --n-positions "$T" --vocab-size "$V"
        --data "$OUT/data" --batch "$B" --seq "$T" --lr "$LR" --threads "$TH" --eval-windows 32 -q --overwrite)
[ -f "$OUT/dense/latest" ] ||
"$WAFER" train "${common[@]}" --out "$OUT/dense" --steps "$STEPS" --warmup $((STEPS / 20)) --eval-every $((STEPS / 10))
[ -f "$OUT/sparse/latest" ] ||
"$WAFER" train "${common[@]}" --out "$OUT/sparse" --steps "$SSTEPS" --warmup $((SSTEPS / 20)) --eval-every $((SSTEPS / 10)) \
  --sparsity "$S"
[ -f "$OUT/dense-steps/latest" ] ||
"$WAFER" train "${common[@]}" --out "$OUT/dense-steps" --steps "$SSTEPS" --warmup $((SSTEPS / 20)) --eval-every $((SSTEPS / 10))
sck="$OUT/sparse/$(head -1 "$OUT/sparse/latest")"
[ -f "$OUT/finetune/latest" ] ||
"$WAFER" train --model "$sck" --data "$OUT/data" --batch "$B" --seq "$T" --lr "$(awk -v l=$LR 'BEGIN{print l/4}')" \
  --threads "$TH" --eval-windows 32 -q --overwrite --out "$OUT/finetune" --steps "$FT" --warmup 0 \
  --eval-every $((FT / 4 > 0 ? FT / 4 : 1)) --dense-finetune
total_s=$(awk -v g=$gs -v n=$SSTEPS 'BEGIN{printf "%.3f", g*n}')
"$PLOT" "$OUT/spdf.png" "$OUT/spdf.md" "dense" "$gd" 0 "$OUT/dense/log.csv" \
  "sparse $(awk -v s=$S 'BEGIN{printf "%d", s*100}')%" "$gs" 0 "$OUT/sparse/log.csv" \
  "sparse then dense finetune" "$gd" "$total_s" "$OUT/finetune/log.csv" \
  "dense as many steps as sparse" "$gd" 0 "$OUT/dense-steps/log.csv"
echo "spdf: $OUT/spdf.png"; cat "$OUT/spdf.md"
