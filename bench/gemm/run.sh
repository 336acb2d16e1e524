#!/usr/bin/env bash
# bench/gemm/run.sh — GFLOP/s of every GEMM path this CPU has (fp32 avx512 /
# avx2 / portable, bf16 amx / avx512bf16 / portable), at n = 1024 and 2048
# and the 111M training shapes, then the small-M (decode) products that place
# the skinny/blocked crossover. Medians; prints the CPU model and the paths.
# The fp32 peer: OpenBLAS (libopenblas.so.0) on seven shapes, alternating
# with wafer 30 ms apart, as ratios (skipped, with a line, when not installed).
# Env: BUILD (default build), THREADS (default nproc), REPS (default 5),
# CPU_CLOCK=1 times by process CPU time (a shared machine: counts only the
# cycles the benchmark got; use with THREADS=1).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/bench/gemm/bench_gemm"
[ -x "$bin" ] || { echo "bench/gemm: $bin not built (cmake --build $build --target bench_gemm)"; exit 1; }
echo "bench/gemm: load average $(cut -d' ' -f1-3 /proc/loadavg)"
args=(--threads "${THREADS:-$(nproc)}" --reps "${REPS:-5}")
[ "${CPU_CLOCK:-0}" = 1 ] && args+=(--cpu)
"$bin" "${args[@]}"
