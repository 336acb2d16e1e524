# bench/malloc_keep.sh — sourced by the benchmarks that run a PyTorch peer.
# glibc malloc keeps freed memory, for both sides (MALLOC=as-is leaves the
# environment alone). PyTorch frees and re-allocates its activations every
# step; with glibc's defaults they go back to the kernel and each step
# page-faults them in again: on the 2026-12-04 Xeon VM its eager fp32
# training step took 5.3-5.5 s that way and 2.97 s with these settings
# (autocast 2.27 -> 1.36 s, HF prefill of 1024 tokens 1,005 -> 1,168 tok/s).
# wafer keeps its buffers, so it runs the same either way.
if [ "${MALLOC:-keep}" != as-is ]; then
  export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-100000000000}"
  export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-4294967296}"
  export MALLOC_TOP_PAD_="${MALLOC_TOP_PAD_:-1073741824}"
  echo "bench/$(basename "$(dirname "$0")"): glibc malloc keeps freed memory (MALLOC_TRIM_THRESHOLD_=$MALLOC_TRIM_THRESHOLD_ MALLOC_MMAP_THRESHOLD_=$MALLOC_MMAP_THRESHOLD_ MALLOC_TOP_PAD_=$MALLOC_TOP_PAD_; MALLOC=as-is to skip)"
fi
