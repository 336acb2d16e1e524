#!/bin/sh
# test_install.sh BUILD_DIR SOURCE_DIR — installs the SDK into a temp prefix
# (cmake --install) and builds tests/sdk/outside/kernel.c against it with
# pkg-config only, as a kernel author outside the repository would; runs it;
# then kernel_cxx.cpp from C++ when a C++ compiler is installed.
set -eu
build=$1; src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" --component Unspecified >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; echo "test_install: cmake --install failed"; exit 1; }
pc=$(find "$tmp/prefix" -name wafer-sdk.pc | head -n 1)
[ -n "$pc" ] || { echo "test_install: no wafer-sdk.pc installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs wafer-sdk)
cd "$src/tests/sdk/outside"
${CC:-cc} -Wall -Wextra -Werror kernel.c $flags -o "$tmp/kernel"
"$tmp/kernel"
# the same headers from C++ (extern "C"), when a C++ compiler is installed
cxx=${CXX:-c++}
if command -v "$cxx" >/dev/null 2>&1; then
    "$cxx" -std=c++17 -Wall -Wextra -Wpedantic -Werror kernel_cxx.cpp $flags -o "$tmp/kernel_cxx"
    "$tmp/kernel_cxx"
    echo "test_install: C ok, C++ ok"
else
    echo "test_install: C ok, C++ skipped (no $cxx)"
fi
