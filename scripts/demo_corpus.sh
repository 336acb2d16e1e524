#!/usr/bin/env bash
# demo_corpus.sh OUT_DIR — the demo's Japanese text corpus, offline: renders
# every Japanese man page of Debian's manpages-ja (/usr/share/man/ja, gzip'd
# troff) to plain UTF-8 text with groff (package groff-base), one
# OUT_DIR/<section>/<page>.txt per page. Lines are not justified or wrapped
# (-dAD=l, long line length), so a paragraph is one line; indentation and
# trailing blanks are stripped and runs of blank lines squeezed.
# Idempotent: does nothing when OUT_DIR.done exists.
set -euo pipefail
out=${1:-out/demo/corpus}
src=${WF_MAN_JA:-/usr/share/man/ja}
if [ -f "${out%/}.done" ]; then
  echo "corpus: $out already built ($(find "$out" -name '*.txt' | wc -l) pages), skipping"
  exit 0
fi
if [ ! -d "$src" ]; then
  echo "corpus: $src not found: install the manpages-ja package (scripts/setup.sh does); a minimized image may exclude /usr/share/man in /etc/dpkg/dpkg.cfg.d" >&2
  exit 1
fi
for tool in groff zcat; do
  command -v $tool >/dev/null || { echo "corpus: '$tool' not found (packages groff-base, gzip: scripts/setup.sh installs them)" >&2; exit 1; }
done
rm -rf "$out" "${out%/}.done"
mkdir -p "$out"
render() { # render SRC OUT_DIR: one page
  local f=$1 out=$2 sec name dst
  sec=$(basename "$(dirname "$f")")
  name=$(basename "$f" .gz)
  # A page that is only ".so other/page" is an alias of another page: skip.
  if zcat -f "$f" | grep -v '^\.\\"' | grep -v '^[[:space:]]*$' | head -1 | grep -q '^\.so '; then return 0; fi
  mkdir -p "$out/$sec"
  dst="$out/$sec/$name.txt"
  zcat -f "$f" | groff -k -Tutf8 -mandoc -dAD=l -rHY=0 -rLL=2000n -rcR=1 -P-c -P-b -P-u 2>/dev/null |
    sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e 's/  */ /g' | cat -s > "$dst.tmp" || true
  if [ -s "$dst.tmp" ]; then mv "$dst.tmp" "$dst"; else rm -f "$dst.tmp"; fi
}
export -f render
t0=$(date +%s)
n=$(find "$src" -type f -name '*.gz' | wc -l)
echo "corpus: rendering $n Japanese man pages from $src to $out (groff, $(nproc) jobs)"
find "$src" -type f -name '*.gz' -print0 | sort -z | xargs -0 -P "$(nproc)" -I{} bash -c 'render "$1" "$2"' _ {} "$out"
pages=$(find "$out" -name '*.txt' | wc -l)
bytes=$(du -sb "$out" | cut -f1)
touch "${out%/}.done"
echo "corpus: $pages pages, $((bytes / 1000000)) MB of text in $(( $(date +%s) - t0 )) s -> $out"
