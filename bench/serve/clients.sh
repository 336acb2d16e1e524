#!/usr/bin/env bash
# bench/serve/clients.sh — real clients against `wafer serve` (by hand, needs
# PyPI: pip install openai "lm_eval[api,hf]" torch): the official openai
# client, then lm-evaluation-harness on two offline tasks (bench/serve/
# lm_eval_tasks.py) with `local-completions` (wafer serve) and with its own
# `hf` backend on the same model folder, then a per-sample comparison.
# MODEL: a HF folder with the GPT-2 tokenizer (default: trains a 2-layer model
# for 60 steps on Debian's licence texts into $W/run). W: work folder.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
PY=${PY:-python3}
W=${W:-$(mktemp -d)}
wafer="$root/${BUILD:-build}/wafer"
mkdir -p "$W/corpus" "$W/tasks"
cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 /usr/share/common-licenses/MPL-2.0 \
    > "$W/corpus/licenses.txt"
if [ -z "${MODEL:-}" ]; then
  "$wafer" tokenize --model gpt2 --out "$W/data" "$W/corpus" >/dev/null 2>&1
  "$wafer" train --model cerebras-gpt-111m --n-layer 2 --n-embd 128 --n-head 4 --n-positions 256 \
      --data "$W/data" --out "$W/run" --steps 60 --batch 8 --seq 128 --lr 3e-3 --tokenizer "$root/data/gpt2" -q
  MODEL="$W/run/ckpt-00000060"
fi
port=$(( 20000 + RANDOM % 20000 ))
"$wafer" serve --model "$MODEL" --port "$port" --parallel 4 --name m 2>"$W/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done
"$PY" "$root/bench/serve/openai_check.py" "$port"
"$PY" "$root/bench/serve/lm_eval_tasks.py" "$W/corpus/licenses.txt" "$W/tasks"
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1
"$PY" -m lm_eval --model local-completions --tasks wafer_mc,wafer_gen --include_path "$W/tasks" \
    --model_args "base_url=http://127.0.0.1:$port/v1/completions,model=m,tokenizer=$MODEL,max_length=256,num_concurrent=4" \
    --output_path "$W/out_local" --log_samples 2>/dev/null | tail -n 6
"$PY" -m lm_eval --model hf --tasks wafer_mc,wafer_gen --include_path "$W/tasks" \
    --model_args "pretrained=$MODEL,dtype=float32" --device cpu --batch_size 8 \
    --output_path "$W/out_hf" --log_samples 2>/dev/null | tail -n 6
"$PY" "$root/bench/serve/lm_eval_compare.py" "$W/out_local" "$W/out_hf"
