#!/usr/bin/env bash
# bench/swarm/run.sh — SwarmX scaling on this machine, side by side in one run:
#   1. 1 rank x 2 threads (--accum 2) against 2 ranks x 1 thread (same global
#      batch, same bits): tokens/s and the efficiency ratio, resident and
#      --mode stream (layers broadcast from rank 0's store while the previous
#      layer computes, gradient chains under the next layer's backward: the
#      log's "not hidden" is the part of the communication compute did not cover);
#   2. bench_mpi: MPI_Bcast and the rank-order gradient chain over loopback,
#      shared memory and TCP;
#   3. a scaling model fed by those measurements: step(N) = compute +
#      chain(4P bytes, pipelined over N-1 hops by block) + bcast(4P bytes,
#      binomial tree, ceil(log2 N) rounds), for N = 1..16 at this machine's
#      loopback bandwidth and at 100 Gb/s, against the measured 2-rank figure.
# Knobs: MODEL (cerebras-gpt-111m), SEQ (1024), BATCH (1), STEPS (3), DATA (made
# from the repo's docs when unset).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
B="$root/${BUILD:-build}"
MODEL=${MODEL:-cerebras-gpt-111m} SEQ=${SEQ:-1024} BATCH=${BATCH:-1} STEPS=${STEPS:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d /tmp/wf_bench_swarmXXXXXX)
trap 'rm -rf "$T"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(mpirun --version | head -1)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -z "${DATA:-}" ]; then
  cat "$root"/README.md "$root"/docs/*.md > "$T/text.txt"
  for _ in 1 2 3 4; do cat "$T/text.txt"; done > "$T/text4.txt"
  "$B/wafer" tokenize --model gpt2 --out "$T/data" "$T/text4.txt" > /dev/null 2>&1
  DATA="$T/data"
fi
A="train --model $MODEL --data $DATA --seq $SEQ --batch $BATCH --steps $STEPS --eval-windows 1"
step_s() { sed -n 's/^step [0-9]*\/[0-9]* .*| \([0-9.]*\) tok\/s.*/\1/p' "$1" | tail -n +2 | sort -n | tail -1; }
"$B/wafer" $A --accum 2 --threads 2 --out "$T/one" > "$T/one.log" 2>&1
mpirun --oversubscribe -np 2 "$B/wafer" $A --threads 1 --out "$T/two" > "$T/two.log" 2>&1
"$B/wafer" $A --threads 1 --out "$T/single" > "$T/single.log" 2>&1
one=$(step_s "$T/one.log") two=$(step_s "$T/two.log") single=$(step_s "$T/single.log")
same=$(cmp -s "$T/one/ckpt-$(printf %08d "$STEPS")/model.safetensors" "$T/two/ckpt-$(printf %08d "$STEPS")/model.safetensors" && echo yes || echo NO)
echo "training $MODEL, seq $SEQ, global batch 2 x $BATCH (best step after the first):"
echo "  1 rank x 2 threads (--accum 2): $one tok/s"
comm() { grep -o '2 ranks, comm [0-9.]* s ([0-9.]* s not hidden), [0-9.]* MB' "$1" | tail -1; }
echo "  2 ranks x 1 thread:             $two tok/s   ($(comm "$T/two.log"))"
echo "  1 rank x 1 thread (one system of the two): $single tok/s"
echo "  efficiency 2 ranks / 1 rank x 2 threads: $(awk -v a="$one" -v b="$two" 'BEGIN{printf "%.2f", b/a}'); same bits: $same"
echo "  scaling 2 ranks / (2 x one rank of 1 thread): $(awk -v a="$single" -v b="$two" 'BEGIN{printf "%.2f", b/(2*a)}')"
"$B/wafer" $A --mode stream --accum 2 --threads 2 --out "$T/s1" > "$T/s1.log" 2>&1
mpirun --oversubscribe -np 2 "$B/wafer" $A --mode stream --threads 1 --out "$T/s2" > "$T/s2.log" 2>&1
s1=$(step_s "$T/s1.log") s2=$(step_s "$T/s2.log")
ssame=$(cmp -s "$T/one/ckpt-$(printf %08d "$STEPS")/model.safetensors" "$T/s2/ckpt-$(printf %08d "$STEPS")/model.safetensors" && echo yes || echo NO)
echo "  --mode stream, 1 rank x 2 threads (--accum 2): $s1 tok/s"
echo "  --mode stream, 2 ranks x 1 thread:             $s2 tok/s   ($(comm "$T/s2.log"))"
echo "  stream efficiency 2 ranks / 1 rank: $(awk -v a="$s1" -v b="$s2" 'BEGIN{printf "%.2f", b/a}'); same bits as resident: $ssame"
mpirun --oversubscribe -np 2 "$B/bench/swarm/bench_mpi" 536870912 > "$T/shm.json"
mpirun --oversubscribe --mca btl tcp,self --mca btl_tcp_if_include lo -np 2 "$B/bench/swarm/bench_mpi" 536870912 > "$T/tcp.json"
echo "MPI over loopback (largest message):"
for f in shm tcp; do echo "  $f: $(tail -1 "$T/$f.json")"; done
P=$("$B/wafer" info "$MODEL" --json | sed -n 's/.*"parameters":[[:space:]]*\([0-9]*\).*/\1/p' | head -1)
L=$("$B/wafer" info "$MODEL" --json | sed -n 's/.*"n_layer":[[:space:]]*\([0-9]*\).*/\1/p' | head -1)
bw_c=$(tail -1 "$T/shm.json" | sed 's/.*"chain_Bps": \([0-9.e+]*\).*/\1/')
bw_b=$(tail -1 "$T/shm.json" | sed 's/.*"bcast_Bps": \([0-9.e+]*\).*/\1/')
awk -v one="$single" -v tokens=$((BATCH * SEQ)) -v P="$P" -v L="$L" -v bwc="$bw_c" -v bwb="$bw_b" -v two="$two" 'BEGIN {
  comp = tokens / one; bytes = 4 * P; blk = bytes / (L + 2);
  printf "scaling model: compute %.2f s per step per rank (from the 1-rank, 1-thread run), %.0f MB of gradients and weights\n", comp, bytes / 1e6;
  split("loopback 100Gb/s", name, " "); c[1] = bwc; b[1] = bwb; c[2] = 12.5e9; b[2] = 12.5e9;
  for (k = 1; k <= 2; k++) {
    printf "  %-9s (chain %.2f GB/s, bcast %.2f GB/s): efficiency", name[k], c[k] / 1e9, b[k] / 1e9;
    for (n = 1; n <= 16; n *= 2) {
      comm = n == 1 ? 0 : bytes / c[k] + (n - 1) * blk / c[k] + bytes / b[k] * int(log(n) / log(2) + 0.999);
      printf "  N=%d %.2f", n, comp / (comp + comm);
    }
    printf "\n";
  }
  comm2 = bytes / bwc + blk / bwc + bytes / bwb;
  printf "  predicted scaling at N=2 on this machine %.2f, measured %.2f (2 ranks against twice one rank of 1 thread)\n", comp / (comp + comm2), two / (2 * one);
}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
