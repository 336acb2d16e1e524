#!/usr/bin/env bash
# Installs the Debian packages wafer needs, only those missing. Idempotent;
# called by `make demo` and `make test`, so a fresh Debian machine needs nothing else.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-dev libblis-dev libcjson-dev
      libpng-dev zlib1g-dev libzip-dev libopenmpi-dev openmpi-bin
      clang libclang-rt-14-dev manpages-ja groff-base libmicrohttpd-dev
      libfftw3-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
