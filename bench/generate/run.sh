#!/usr/bin/env bash
# bench/generate/run.sh — inference benchmark: wafer (bench_generate) and
# PyTorch + HF generate on the same cerebras-gpt-111m config, same threads,
# in one run. Env: BUILD (default build), THREADS (default: all cores),
# MALLOC=as-is (leave glibc's malloc settings alone; bench/malloc_keep.sh).
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
threads="${THREADS:-$(nproc)}"
. "$root/bench/malloc_keep.sh"
bin="$build/bench/generate/bench_generate"
if [ ! -x "$bin" ]; then
  echo "bench/generate: $bin not built (run 'make build' or set BUILD)" >&2
  exit 1
fi
torch_args=()
if py="$(python3 "$root/bench/generate/hf_generate.py" --threads "$threads" 2>/dev/null)"; then
  echo "pytorch: $py"
  td="$(printf '%s' "$py" | python3 -c 'import json,sys; print(json.load(sys.stdin)["decode_tok_s"])')"
  tp="$(printf '%s' "$py" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prefill_tok_s"])')"
  torch_args=(--torch-decode "$td" --torch-prefill "$tp")
else
  echo "pytorch: not available (python3 + torch + transformers), wafer figures only"
fi
# as the wafer CLI does (cli/main.c): short OpenMP spin unless the user chose
spin=()
[ -z "${OMP_WAIT_POLICY:-}${GOMP_SPINCOUNT:-}" ] && spin=(env GOMP_SPINCOUNT=10000)
"${spin[@]}" "$bin" --threads "$threads" "${torch_args[@]}"
