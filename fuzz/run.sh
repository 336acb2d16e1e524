#!/bin/sh
# run.sh BUILD_DIR SECONDS [TARGETS] — runs each parser fuzzer (default: "safetensors
# torchbin tokenizer tokfiles shards optstate request sparsemask defects snapshot debug") for SECONDS, one after the
# other (one core, -jobs=1), seeded from fuzz/seeds/ (not its pending/ reproducers, which
# crash until their fix lands) and the model fixtures.
# Everything it writes stays in BUILD_DIR: corpus-<t>/ (grown corpus),
# crash-<t>-* (reproducers), fuzz-0.log (libFuzzer's job log), fuzz-<t>.log.
set -eu
ROOT=$(pwd)
B=$(cd "${1:-build-fuzz}" && pwd)
T=${2:-600}
for t in ${3:-safetensors torchbin tokenizer tokfiles shards optstate request sparsemask defects snapshot debug}; do
  C="$B/corpus-$t"
  mkdir -p "$C"
  [ -d fuzz/seeds/$t ] && find fuzz/seeds/$t -maxdepth 1 -type f -exec cp {} "$C/" \;
  DICT=""
  if [ "$t" = safetensors ]; then
    for f in tests/fixtures/models/*/model*.safetensors; do cp "$f" "$C/$(echo "$f" | tr / _)"; done
    DICT="-dict=$ROOT/fuzz/dict.safetensors"
  elif [ "$t" = tokenizer ]; then
    cp tests/fixtures/tokenizer/*.json "$C/" 2>/dev/null || true
  elif [ "$t" = torchbin ]; then
    for f in tests/fixtures/models/*/pytorch_model.bin; do cp "$f" "$C/$(echo "$f" | tr / _)"; done
  fi
  (cd "$B" && ./fuzz/fuzz_$t "$C" $DICT -max_total_time="$T" -jobs=1 -workers=1 -max_len=700000 \
     -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$B/crash-$t-" -print_final_stats=1 \
     > "$B/fuzz-$t.log" 2>&1 || true)
  [ -f "$B/fuzz-0.log" ] && mv "$B/fuzz-0.log" "$B/fuzz-$t-job.log"
  echo "== $t"; tail -n 20 "$B/fuzz-$t-job.log" 2>/dev/null || tail -n 20 "$B/fuzz-$t.log"
done
