#!/usr/bin/env bash
# bench/sparse/run.sh — what unstructured weight sparsity buys on this CPU
# (issue 13), side by side in one run, same batch and threads:
#   1. per block-matrix kind (qkv, attn_proj, fc, fc_proj) of one layer:
#      dense forward+backward vs the sparse kernels (forward, input gradient,
#      SDDMM weight gradient), at each sparsity;
#   2. end to end: training tokens/s of a full step, dense (sparsity 0) and
#      sparse alternating in one process so both see the same load (the plan
#      times sparse vs dense per matrix once at start and keeps the faster:
#      printed);
#   3. decode tokens/s of a 90%-sparse (magnitude-pruned) model vs the same
#      weights on the dense kernels (DECODE_SPARSITY, DECODE_TOKENS).
# Env: BUILD (default build), THREADS (default nproc), MODELS (default "111m"),
# SEQ (1024), BATCH (1), STEPS (timed steps, best reported; 2),
# SPARSITIES ("0 0.5 0.75 0.9"). The numbers are wall-clock on whatever else
# the machine runs: on a shared machine, say so when quoting them.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
threads="${THREADS:-$(nproc)}"
# On a shared machine a spinning OpenMP thread waits for a descheduled partner at every barrier
# (decode of 111M fell from 15.6 to 1.1 tokens/s with load 13 on 2 cores); passive waiting sleeps.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
bin="$build/bench/sparse/bench_sparse"
[ -x "$bin" ] || { echo "bench/sparse: $bin not built (cmake --build $build --target bench_sparse)"; exit 1; }
echo "bench/sparse: load average $(cut -d' ' -f1-3 /proc/loadavg), $threads threads"
for model in ${MODELS:-111m}; do
  for S in ${SPARSITIES:-0 0.5 0.75 0.9}; do
    [ "$S" = 0 ] || "$bin" layers "$model" "${SEQ:-1024}" "${BATCH:-1}" "$S" "$threads"
  done
  for S in ${SPARSITIES:-0 0.5 0.75 0.9}; do
    [ "$S" = 0 ] || "$bin" train "$model" "${SEQ:-1024}" "${BATCH:-1}" "$S" "$threads" "${STEPS:-2}" auto
  done
done
# decode tokens/s of the magnitude-pruned model, dense kernels on the zeros vs the sparse hook
for model in ${MODELS:-111m}; do
  "$bin" decode "$model" "${DECODE_SPARSITY:-0.9}" "$threads" "${DECODE_TOKENS:-64}"
done
echo "bench/sparse: load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
