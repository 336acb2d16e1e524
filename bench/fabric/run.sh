#!/usr/bin/env bash
# bench/fabric/run.sh — simulator speed in ns per active PE-cycle on SUMMA
# (busy), allreduce (wavelets) and a mostly idle full fabric, vs MuchiSim.
# Env: BUILD (build folder, default build), BIG=1 adds GEMV 16384^2 on
# 750x994 (about 30 s), QUICK=1 shrinks the workloads.
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
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" "${args[@]}"
