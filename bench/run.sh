#!/usr/bin/env bash
# Runs every benchmark on Deno, Bun and Node 24. Each benchmark prints its peer side by side in
# the same run (ratios, not absolute numbers, are what to compare across machines).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
status=0
for bench in bench/*_bench.ts; do
  for rt in deno bun node; do
    echo "== $bench on $rt"
    case $rt in
      deno) deno run -A "$bench" "$@" || status=1 ;;
      bun) bun "$bench" "$@" || status=1 ;;
      node) node "$bench" "$@" || status=1 ;;
    esac
  done
done
exit $status
