#!/usr/bin/env bash
# `nextbest serve` under load (issue 26): wrk against a store with a finished run.
#   bench/serve.sh [--customers 10000000] [--store DIR] [--seconds 15] [--rate 2000] [--work DIR]
# Measures, each for --seconds: the most lookups per second (32 connections, no wait); lookups alone and a
# 90/10 lookup/record mix at about --rate requests per second (rate/100 + 1 connections, each waiting a random
# 0-2x its share of the interval between requests, so arrivals are spread as a channel's are, not sent in
# bursts); then the same two while a
# nightly run is going (`nice -n 10 nextbest run`). Prints one JSON line per case. The mix records responses
# into the store's contact history: use a bench store (the default, generated under --work), not a bank's.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
customers=10000000 store="" seconds=15 rate=2000 work="$here/work/serve"
while [ $# -gt 0 ]; do
  case "$1" in
    --customers) customers="$2"; shift 2 ;;
    --store) store="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "bench/serve.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
bin="$("$here/../cluster/nextbest-bin")"
mkdir -p "$work"
if [ -z "$store" ]; then
  store="$work/store-$customers"
  [ -f "$store/data.mdb" ] || "$bin" generate --customers "$customers" --store "$store" >/dev/null
fi
run=$("$bin" runs list --store "$store" | awk '$3 == "done" {id=$1} END {print id}')
if [ -z "$run" ]; then
  "$bin" run --store "$store" --out "$work/night" --quiet >/dev/null
  run=$("$bin" runs list --store "$store" | awk '$3 == "done" {id=$1} END {print id}')
fi
# Known customers: every 97th row of the run's lists.
"$bin" export --store "$store" --run "$run" --format csv | awk -F, 'NR > 1 && NR % 97 == 0 && n < 200000 && $1 != last {print $1; last = $1; n++}' > "$work/ids.txt"
port=$((20000 + RANDOM % 20000))
"$bin" serve --store "$store" --bind "127.0.0.1:$port" > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; [ -n "${night:-}" ] && kill $night 2>/dev/null || true' EXIT
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2 * 1024}' /proc/$server/status; }
load() { # name connections rate record_share
  local line
  line=$(IDS="$work/ids.txt" CONNECTIONS="$2" RATE="$3" RECORD_SHARE="$4" wrk -t1 -c"$2" -d"${seconds}s" -s "$here/tools/serve_load.lua" "http://127.0.0.1:$port" | tail -n1)
  echo "{\"case\": \"$1\", \"customers\": $customers, \"run\": \"$run\", \"server_rss_bytes\": $(rss), ${line#\{}"
}
load "lookups, most per second" 32 0 0
paced=$((rate / 100 + 1))
load "lookups at $rate/s" $paced "$rate" 0
load "90/10 lookups/records at $rate/s" $paced "$rate" 0.1
nice -n 10 "$bin" run --store "$store" --out "$work/night" --quiet --keep-runs 2 >/dev/null 2>&1 &
night=$!
sleep 3
load "lookups at $rate/s, nightly run going" $paced "$rate" 0
load "90/10 lookups/records at $rate/s, nightly run going" $paced "$rate" 0.1
kill $night 2>/dev/null || true; wait $night 2>/dev/null || true; night=""
