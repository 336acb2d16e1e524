#!/usr/bin/env bash
# demo.sh — the main job, run by `make demo` after building build/wafer: train a
# small Cerebras-GPT-style model from scratch on Japanese text, offline.
#   1. corpus     Debian's Japanese man pages -> plain text (cached in out/demo/corpus)
#   2. tokenizer  learn a byte-level BPE vocabulary on that text (wafer tokenizer-train)
#   3. tokenize   text -> token shards with a validation split (wafer tokenize)
#   4. train      a few minutes of training from random weights (wafer train)
#   5. eval       validation loss of the final checkpoint (wafer eval)
#   6. generate   sample text from it (wafer generate)
# Every knob can be overridden from the environment, e.g.
#   WF_DEMO_STEPS=1000 WF_DEMO_LAYERS=6 make demo
set -euo pipefail
cd "$(dirname "$0")/.."

WAFER=${WAFER:-build/wafer}
OUT=${WF_DEMO_OUT:-out/demo}
VOCAB=${WF_DEMO_VOCAB:-4096}          # BPE vocabulary: 256 bytes + merges + <|endoftext|>
VAL=${WF_DEMO_VAL:-0.01}              # share of tokens held out for validation
STEPS=${WF_DEMO_STEPS:-1200}          # 1200 x 16 x 128 = 2.5M tokens (~1 epoch): ~5 min at ~8k tokens/s on 2 cores
BATCH=${WF_DEMO_BATCH:-16}
SEQ=${WF_DEMO_SEQ:-128}
LAYERS=${WF_DEMO_LAYERS:-4}
EMBD=${WF_DEMO_EMBD:-256}
HEADS=${WF_DEMO_HEADS:-4}
LR=${WF_DEMO_LR:-2e-3}
WARMUP=${WF_DEMO_WARMUP:-60}
TRAIN_SECONDS=${WF_DEMO_TRAIN_SECONDS:-480} # cap on training time; the checkpoint saved on stop is used
PROMPT=${WF_DEMO_PROMPT:-$'名前\nls - '} # how man pages start: "NAME\ncmd - what it does"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
json_num() { # json_num FILE KEY: a number member of a flat JSON file
  sed -n "s/.*\"$2\": *\\([-0-9.eE+]*\\).*/\\1/p" "$1" | head -1
}

[ -x "$WAFER" ] || { echo "demo: $WAFER not found: run 'make demo' (it builds first)" >&2; exit 1; }
t_start=$(date +%s)
mkdir -p "$OUT"

say "1/6 corpus: Japanese man pages (manpages-ja) -> plain text"
bash scripts/demo_corpus.sh "$OUT/corpus"

say "2/6 tokenizer: byte-level BPE, vocabulary $VOCAB, learned on the corpus"
"$WAFER" tokenizer-train --vocab-size "$VOCAB" --out "$OUT/tokenizer" "$OUT/corpus"

say "3/6 tokenize: corpus -> token shards ($VAL held out for validation)"
"$WAFER" tokenize --model "$OUT/tokenizer" --out "$OUT/data" --val-fraction "$VAL" "$OUT/corpus"
# The same text with the GPT-2 vocabulary, to show what a Japanese vocabulary buys.
if [ -f data/gpt2/vocab.json ]; then
  "$WAFER" tokenize --model data/gpt2 --out "$OUT/data-gpt2" --val-fraction 0 --quiet "$OUT/corpus" 2>/dev/null || true
fi
bytes=$(json_num "$OUT/data/meta.json" bytes)
ntok=$(( $(json_num "$OUT/data/meta.json" train_tokens) + $(json_num "$OUT/data/meta.json" val_tokens) ))
H=$(json_num "$OUT/data/meta.json" unigram_entropy_nats)
echo "demo: $ntok tokens for $bytes bytes of text with the trained vocabulary ($(awk -v b="$bytes" -v n="$ntok" 'BEGIN{printf "%.2f", b/n}') bytes/token)"
if [ -f "$OUT/data-gpt2/meta.json" ]; then
  g=$(( $(json_num "$OUT/data-gpt2/meta.json" train_tokens) + $(json_num "$OUT/data-gpt2/meta.json" val_tokens) ))
  echo "demo: the GPT-2 vocabulary needs $g tokens for the same text ($(awk -v g="$g" -v n="$ntok" 'BEGIN{printf "%.2f", g/n}')x as many)"
fi
echo "demo: unigram entropy of the tokens: $H nats/token — a model that ignores context cannot go below it;"
echo "      the validation loss of the trained model should end well under it."

if ! "$WAFER" train --help >/dev/null 2>&1; then
  say "4/6 train: not available in this build"
  echo "demo: 'wafer train' is not built yet; stopping after tokenizing. Outputs:"
  echo "  corpus    $OUT/corpus"
  echo "  tokenizer $OUT/tokenizer"
  echo "  data      $OUT/data"
  exit 0
fi

say "4/6 train: $LAYERS layers x $EMBD wide, $HEADS heads, vocabulary $VOCAB; $STEPS steps of $BATCH x $SEQ tokens"
echo "demo: training stops at $STEPS steps or after $TRAIN_SECONDS s, whichever comes first (Ctrl-C also saves)"
rm -rf "$OUT/run"
rc=0
timeout --preserve-status -s INT "$TRAIN_SECONDS" \
  "$WAFER" train --model cerebras-gpt-111m --n-layer "$LAYERS" --n-embd "$EMBD" --n-head "$HEADS" \
  --n-positions "$SEQ" --vocab-size "$VOCAB" --data "$OUT/data" --out "$OUT/run" \
  --steps "$STEPS" --batch "$BATCH" --seq "$SEQ" --lr "$LR" --warmup "$WARMUP" \
  --eval-every $(( STEPS / 5 > 0 ? STEPS / 5 : 1 )) --tokenizer "$OUT/tokenizer" || rc=$?
if [ "$rc" = 130 ]; then
  echo "demo: the time budget ran out (WF_DEMO_TRAIN_SECONDS=$TRAIN_SECONDS); going on with the checkpoint saved on stop"
elif [ "$rc" != 0 ]; then
  echo "demo: wafer train failed (exit $rc)" >&2
  exit "$rc"
fi
ckpt="$OUT/run/$(head -1 "$OUT/run/latest")" # `latest` names the newest checkpoint folder

say "5/6 eval: validation loss of the final model"
"$WAFER" eval --model "$ckpt" --data "$OUT/data" --seq "$SEQ" | tee "$OUT/eval.json"
loss=$(json_num "$OUT/eval.json" mean_loss)
if [ -n "$loss" ]; then
  echo "demo: validation loss $loss nats/token vs unigram entropy $H nats/token (uniform guess: $(awk -v v="$VOCAB" 'BEGIN{printf "%.2f", log(v)}'))"
fi

say "6/6 generate: prompt $(printf '%q' "$PROMPT")"
printf '\033[4m%s\033[0m' "$PROMPT"   # the prompt (underlined), then the model's continuation
"$WAFER" generate --model "$ckpt" --prompt "$PROMPT" --max-tokens 80 --temperature 0.7 --top-k 20 --seed 2
echo

say "done in $(( $(date +%s) - t_start )) s. Outputs:"
echo "  corpus      $OUT/corpus (text of $(find "$OUT/corpus" -name '*.txt' | wc -l) man pages)"
echo "  tokenizer   $OUT/tokenizer (vocab.json, merges.txt, tokenizer.json: loads in Hugging Face)"
echo "  data        $OUT/data (token shards + meta.json)"
echo "  model       $ckpt (Hugging Face folder), log $OUT/run/log.csv, loss curve $OUT/run/loss.png"
echo "  try:        $WAFER generate --model $ckpt --prompt \$'名前\\nmount - '"
