#!/usr/bin/env bash
# bench/run.sh — the `make bench` entry: runs every bench/*/run.sh, in order.
# BUILD (default: build) names the CMake build folder holding the programs.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
status=0
for s in "$here"/*/run.sh; do
  [ -f "$s" ] || continue
  echo "### $(basename "$(dirname "$s")")"
  bash "$s" || status=1
done
exit $status
