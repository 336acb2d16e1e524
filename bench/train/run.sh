#!/usr/bin/env bash
# bench/train/run.sh — training tokens/s of cerebras-gpt-111m, micro-batch 1,
# wafer fp32, wafer --bf16 (bench_train) vs PyTorch fp32 eager and PyTorch
# torch.autocast(bfloat16) (bench_torch.py), same threads. The wafer lines name
# the CPU and the ISA path (WAFER_ISA lowers it).
# Env: BUILD (build folder, default build), THREADS (default: nproc),
# SEQS (default "1024"), STEPS (timed steps, default 2; best is reported),
# MALLOC=as-is (leave glibc's malloc settings as the environment has them).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
threads="${THREADS:-$(nproc)}"
steps="${STEPS:-2}"
echo "bench/train: load average $(cut -d' ' -f1-3 /proc/loadavg)"
. "$here/../malloc_keep.sh"
bin="$build/bench/train/bench_train"
[ -x "$bin" ] || { echo "bench/train: $bin not built (cmake --build $build --target bench_train)"; exit 1; }
# The wafer CLI's OpenMP default (cli/main.c): a short spin, then sleep,
# unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT. The bench binaries
# get the same here; the PyTorch peer runs with the environment as given.
spin=()
[ -z "${OMP_WAIT_POLICY:-}${GOMP_SPINCOUNT:-}" ] && spin=(env GOMP_SPINCOUNT=10000)
echo "bench/train: wafer OpenMP wait: ${OMP_WAIT_POLICY:+OMP_WAIT_POLICY=$OMP_WAIT_POLICY }${GOMP_SPINCOUNT:-${spin[1]:-libgomp default}}"
for T in ${SEQS:-1024}; do
  "${spin[@]}" "$bin" cerebras-gpt-111m "$T" 1 "$steps" "$threads"
  "${spin[@]}" "$bin" cerebras-gpt-111m "$T" 1 "$steps" "$threads" --bf16 # bf16 operands, fp32 sums
  if python3 -c "import torch, transformers" 2>/dev/null; then
    python3 "$here/bench_torch.py" "$T" 1 "$steps" "$threads" sdpa
    # the peer of --bf16: torch.autocast(bfloat16) (oneDNN: AMX / AVX-512 BF16 where present)
    python3 "$here/bench_torch.py" "$T" 1 "$steps" "$threads" sdpa autocast
    # torch.compile where it works here (TORCH_COMPILE=0 skips it: compiling takes minutes)
    [ "${TORCH_COMPILE:-1}" = 1 ] && { timeout 900 python3 "$here/bench_torch.py" "$T" 1 "$steps" "$threads" sdpa compile 2>/dev/null \
      || echo "bench/train: torch.compile failed or timed out here"; }
  else
    echo "bench/train: torch/transformers not installed; PyTorch peer skipped"
  fi
done
# MEM10240=1: peak RSS of one training step at seq 10,240 on 111M (minutes on 2 cores).
if [ "${MEM10240:-0}" = 1 ]; then
  /usr/bin/time -v "$bin" cerebras-gpt-111m 10240 1 0 "$threads" 2> /tmp/wf_bench_mem.$$ \
    && grep -E 'Maximum resident|Elapsed' /tmp/wf_bench_mem.$$
  rm -f /tmp/wf_bench_mem.$$
fi
