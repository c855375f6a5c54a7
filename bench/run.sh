#!/usr/bin/env bash
# Runs every benchmark on Deno, Bun and Node 24. Each benchmark prints its peer side by side in
# the same run (ratios, not absolute numbers, are what to compare across machines).
#
#   bash bench/run.sh            # every bench, then the server and latency benches (about 20 min)
#   bash bench/run.sh server [server_bench options]
#                                # only the server bench: ours on Deno/Bun/Node vs
#                                # node-media-server and nginx-rtmp, one load generator (Node 24)
#   bash bench/run.sh latency [browser_latency_bench options]
#                                # only the publish → browser-frame latency bench (chromium +
#                                # mpegts.js): ours on Deno/Bun/Node vs node-media-server (~4 min)
#   bash bench/run.sh hostile [hostile_rss_bench options]
#                                # only the hostile RSS bench (issue 13 §1 at full scale: 1,000
#                                # hostile connections beside an ffmpeg publish, ~2 min)
#
# The server, latency and hostile benches start the servers themselves and run once (under
# Node 24, as the load generator / publisher / attacker); see the top of bench/server_bench.ts,
# bench/browser_latency_bench.ts and bench/hostile_rss_bench.ts for their options.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
if [ "${1:-}" = "server" ]; then
  shift
  exec node bench/server_bench.ts "$@"
fi
if [ "${1:-}" = "latency" ]; then
  shift
  exec node bench/browser_latency_bench.ts "$@"
fi
if [ "${1:-}" = "hostile" ]; then
  shift
  exec node bench/hostile_rss_bench.ts "$@"
fi
status=0
for bench in bench/*_bench.ts; do
  [ "$bench" = "bench/server_bench.ts" ] && continue
  [ "$bench" = "bench/browser_latency_bench.ts" ] && continue
  [ "$bench" = "bench/hostile_rss_bench.ts" ] && continue
  for rt in deno bun node; do
    echo "== $bench on $rt"
    case $rt in
      deno) deno run -A "$bench" "$@" || status=1 ;;
      bun) bun "$bench" "$@" || status=1 ;;
      node) node "$bench" "$@" || status=1 ;;
    esac
  done
done
echo "== bench/server_bench.ts (load generator on node)"
node bench/server_bench.ts || status=1
echo "== bench/browser_latency_bench.ts (publisher on node)"
node bench/browser_latency_bench.ts || status=1
echo "== bench/hostile_rss_bench.ts (attackers on node)"
node bench/hostile_rss_bench.ts || status=1
exit $status
