#!/usr/bin/env bash
# bench/stream/run.sh — weight streaming vs resident training tokens/s
# (bench_stream: resident, stream with the RAM store, stream with a disk store
# in STORE_DIR) and the disk's sequential bandwidth measured by dd (direct
# I/O, 1 GiB) for comparison with the store's achieved bandwidth.
# Env: BUILD (default build), MODEL (cerebras-gpt-111m), B (8; BxK: K micro-
# batches of B per step, e.g. 2x4 for 590M), T (1024), STEPS (timed steps, 2),
# THREADS (nproc), STORE_DIR (/tmp/wf_bench_store), DISK_ONLY (1: only the disk
# store; models whose resident step does not fit, the disk-bound case).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/bench/stream/bench_stream"
[ -x "$bin" ] || { echo "bench/stream: $bin not built (cmake --build $build --target bench_stream)"; exit 1; }
store="${STORE_DIR:-/tmp/wf_bench_store}"
mkdir -p "$store"
echo "bench/stream: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load average $(cut -d' ' -f1-3 /proc/loadavg)"
dd if=/dev/zero of="$store/dd.tmp" bs=64M count=16 oflag=direct conv=fsync 2>&1 | tail -1 | sed 's/^/dd write: /'
dd if="$store/dd.tmp" of=/dev/null bs=64M iflag=direct 2>&1 | tail -1 | sed 's/^/dd read:  /'
rm -f "$store/dd.tmp"
"$bin" "${MODEL:-cerebras-gpt-111m}" "${B:-8}" "${T:-1024}" "${STEPS:-2}" "${THREADS:-$(nproc)}" "$store" \
    ${DISK_ONLY:+disk-only}
rm -rf "$store"
