#!/usr/bin/env bash
# bench/fabric/run.sh — simulator speed in ns per active PE-cycle on SUMMA
# (busy), allreduce (wavelets) and a mostly idle full fabric, vs MuchiSim.
# Each row on 1 and 2 simulator threads.
# Env: BUILD (build folder, default build), BIG=1 adds GEMV 16384^2 on
# 750x994 (about 30 s), QUICK=1 shrinks the workloads, REPS=N keeps the
# fastest of N runs per row (default 1), THREADS="1 2" the thread counts,
# FFT="32 64 128 256 512" adds the 3-D FFT (examples/fft.c) at those n on
# FFT_THREADS threads (default 2; default FFT "64", QUICK=1 "32"; n = 256
# takes about an hour here, 512 about 16x that), BASE=0 skips the three
# base workloads (FFT rows only), FFT_CHECKPOINT=DIR saves each FFT's state in
# DIR (every 15 minutes, on Ctrl-C) and resumes from it on the next invocation:
# n = 512 spans sessions.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/bench/fabric/bench_fabric"
[ -x "$bin" ] || { echo "bench/fabric: $bin not built (cmake --build $build --target bench_fabric)"; exit 1; }
args=()
[ "${BIG:-0}" = 1 ] && args+=(--big)
[ "${QUICK:-0}" = 1 ] && args+=(--quick)
[ "${BASE:-1}" = 0 ] && args+=(--no-base)
fft_default="64"
[ "${QUICK:-0}" = 1 ] && fft_default="32"
[ -n "${FFT_CHECKPOINT:-}" ] && { mkdir -p "$FFT_CHECKPOINT" && args+=(--fft-checkpoint "$FFT_CHECKPOINT"); }
args+=(--reps "${REPS:-1}" --threads "${THREADS:-1 2}" --fft "${FFT:-$fft_default}" --fft-threads "${FFT_THREADS:-2}")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" "${args[@]}"
