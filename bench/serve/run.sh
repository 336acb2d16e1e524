#!/usr/bin/env bash
# bench/serve/run.sh — load on `wafer serve` over loopback: 1, 4, 16, 64
# concurrent streaming clients (bench_serve), then the same on llama.cpp's
# llama-server when one is installed (LLAMA_SERVER=path, GGUF=model.gguf; same
# --parallel). Knobs: MODEL (default the preset cerebras-gpt-111m, random
# weights), PARALLEL (16), REQUESTS per client (2), MAX_TOKENS (32),
# CLIENTS (1,4,16,64), THREADS (all cores). Bounded: CLIENTS x REQUESTS requests.
# Side by side on the same weights: MODEL=<HF folder>, and GGUF from llama.cpp's
# convert_hf_to_gguf.py <copy of the folder> --outtype f32 (its GPT-2 converter
# wants "n_ctx" in config.json: add it, = n_positions, in the copy).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
B="$root/${BUILD:-build}"
MODEL=${MODEL:-cerebras-gpt-111m}
PARALLEL=${PARALLEL:-16}
REQUESTS=${REQUESTS:-2}
MAX_TOKENS=${MAX_TOKENS:-32}
CLIENTS=${CLIENTS:-1,4,16,64}
port=$(( 20000 + RANDOM % 20000 ))
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
"$B/wafer" serve --model "$MODEL" --port "$port" --parallel "$PARALLEL" --max-queue 256 --ctx 512 \
    "${threads[@]}" 2>/tmp/wafer-serve-bench.log &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat /tmp/wafer-serve-bench.log; exit 1; }
  sleep 0.5
done
echo "wafer serve ($MODEL, --parallel $PARALLEL):"
"$B/bench/serve/bench_serve" --port "$port" --clients "$CLIENTS" --requests "$REQUESTS" --max-tokens "$MAX_TOKENS"
status=$?
kill $pid; wait $pid 2>/dev/null
if [ -n "${LLAMA_SERVER:-}" ] && [ -n "${GGUF:-}" ]; then
  port2=$((port + 1))
  "$LLAMA_SERVER" -m "$GGUF" --port "$port2" --host 127.0.0.1 -np "$PARALLEL" -c $((512 * PARALLEL)) \
      2>/tmp/llama-server-bench.log &
  lpid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port2/health" >/dev/null 2>&1 && break; sleep 0.5; done
  echo "llama-server ($GGUF, -np $PARALLEL):"
  "$B/bench/serve/bench_serve" --port "$port2" --clients "$CLIENTS" --requests "$REQUESTS" --max-tokens "$MAX_TOKENS"
  kill $lpid; wait $lpid 2>/dev/null
else
  echo "llama-server: skipped (set LLAMA_SERVER and GGUF to run it side by side)"
fi
exit $status
