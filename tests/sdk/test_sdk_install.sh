#!/usr/bin/env bash
# test_sdk_install.sh BUILD_DIR [EXTRA_CFLAGS] — `cmake --install` the SDK into
# a temporary prefix, then build a small program against it the way a user
# would (pkg-config wafer-sdk, --static), run it and check what it prints.
# Fails when the .pc file, a public header or a library is not installed.
set -euo pipefail
build=${1:?usage: test_sdk_install.sh BUILD_DIR [EXTRA_CFLAGS]}
extra=${2:-}   # e.g. the sanitizer flags the libraries were built with
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wf_sdk_install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_sdk_install: FAILED: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 \
    || { cat "$tmp/install.log" >&2; fail "cmake --install"; }
p=$tmp/prefix
[ -f "$p/lib/pkgconfig/wafer-sdk.pc" ] || fail "no lib/pkgconfig/wafer-sdk.pc"
for h in sdk/sdk.h sdk/host.h sdk/layout.h sdk/diag.h fabric/fabric.h fabric/kernel.h base/base.h; do
    [ -f "$p/include/wafer/$h" ] || fail "header $h not installed"
done
for l in wf_sdk wf_fabric wf_base; do
    [ -f "$p/lib/lib$l.a" ] || fail "lib$l.a not installed"
done
if ls "$p"/include/wafer/*/*_int.h >/dev/null 2>&1; then fail "an internal *_int.h header was installed"; fi

cat >"$tmp/hello.c" <<'C'
#include <sdk/sdk.h>
#include <sdk/diag.h>
#include <stdio.h>

enum { S_A, S_B };
static const wf_symbol_decl syms[] = {{"A", 16}, {"B", 16}};
static void run(wf_pe *pe, uint32_t d) {
    (void)d;
    float *a = wf_sym(pe, S_A), *b = wf_sym(pe, S_B);
    wf_dsd da = wf_dsd_mem1d(pe, a, 4, 1, 4), db = wf_dsd_mem1d(pe, b, 4, 1, 4);
    wf_fadds(pe, da, da, db, WF_SYNC);
}
static const wf_export_decl ex[] = {{"run", run}};
static const wf_kernel k = {"add", syms, 2, NULL, 0, ex, 1, NULL};

int main(void) {
    wf_err e = {0};
    wf_fabric *f = NULL;
    if (wf_fabric_new(4, 3, NULL, NULL, &f, &e) != WF_OK) { fprintf(stderr, "%s\n", e.msg); return 1; }
    printf("fabric %dx%d\n", wf_fabric_w(f), wf_fabric_h(f));
    wf_fabric_free(f);

    wf_layout *l = NULL;
    wf_host *h = NULL;
    float a[4] = {1, 2, 3, 4}, b[4] = {10, 20, 30, 40}, out[4] = {0};
    wf_memcpy m = {"A", 0, 1, 0, 1, 1, 4, 0, 4, WF_ROW_MAJOR};
    if (wf_layout_new(2, 1, &l, &e) || wf_layout_code(l, 1, 0, 1, 1, &k, NULL, &e) ||
        wf_host_new(l, NULL, &h, &e) || wf_host_h2d(h, &m, a, &e)) goto bad;
    m.symbol = "B";
    if (wf_host_h2d(h, &m, b, &e) || wf_host_launch(h, "run", &e)) goto bad;
    m.symbol = "A";
    if (wf_host_d2h(h, &m, out, &e)) goto bad;
    printf("sum %g %g %g %g\n", out[0], out[1], out[2], out[3]);
    wf_host_free(h);
    wf_layout_free(l);
    return 0;
bad:
    fprintf(stderr, "%s: %s\n", wf_status_name(e.code), e.msg);
    wf_host_free(h);
    wf_layout_free(l);
    return 1;
}
C

flags=$(PKG_CONFIG_PATH="$p/lib/pkgconfig" pkg-config --cflags --libs --static wafer-sdk) \
    || fail "pkg-config wafer-sdk"
# shellcheck disable=SC2086
${CC:-cc} -std=c17 -Wall -Wextra -Werror $extra -o "$tmp/hello" "$tmp/hello.c" $flags \
    || fail "compiling against the installed SDK (flags: $flags)"
got=$("$tmp/hello") || fail "the program exited $?"
want=$'fabric 4x3\nsum 11 22 33 44'
[ "$got" = "$want" ] || fail "output: got '$got', want '$want'"
echo "test_sdk_install: OK ($flags)"
