#!/bin/sh
# coverage.sh BUILD_DIR — line/branch coverage of the checkpoint readers over the
# corpora that run.sh grew (BUILD_DIR/corpus-*), with clang source-based coverage.
# Prints llvm-cov's report for model/safetensors.c and model/torchbin.c.
set -eu
B=$(cd "${1:-build-fuzz}" && pwd)
O="$B/cov"
mkdir -p "$O"
CF="-O0 -g -fprofile-instr-generate -fcoverage-mapping -I. -D_GNU_SOURCE -std=c17"
cat > "$O/driver.c" <<'EOT'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *b = malloc(n ? (size_t)n : 1);
        if (fread(b, 1, (size_t)n, f) == (size_t)n) LLVMFuzzerTestOneInput(b, (size_t)n);
        fclose(f);
        free(b);
    }
    return 0;
}
EOT
for t in safetensors torchbin; do
  clang $CF "$O/driver.c" fuzz/fuzz_$t.c model/safetensors.c model/torchbin.c base/*.c \
    $(pkg-config --cflags --libs libcjson libzip) -lm -lpthread -o "$O/cov_$t"
  LLVM_PROFILE_FILE="$O/$t.profraw" "$O/cov_$t" "$B/corpus-$t"/* > /dev/null 2>&1 || true
  llvm-profdata merge -sparse "$O/$t.profraw" -o "$O/$t.profdata"
  echo "== corpus-$t ($(ls "$B/corpus-$t" | wc -l) inputs)"
  llvm-cov report "$O/cov_$t" -instr-profile="$O/$t.profdata" model/$t.c
done
