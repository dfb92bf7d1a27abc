#!/usr/bin/env bash
# End-to-end times of the cluster on this machine: for each population size, generate a store (reused if
# present), then run it in one process (--workers 0) and with each given number of local worker processes,
# and check that every nba.csv is byte-identical. Prints one line per run with the stage timings from
# summary.json and the peak RSS of the coordinator and of each worker.
#   bench/cluster.sh [--sizes "1000000 10000000"] [--workers "0 1 2"] [--work DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sizes="1000000" workers="0 1 2" work="$here/work/cluster"
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$("$here/../cluster/nextbest-bin")"
mkdir -p "$work"
for n in $sizes; do
  store="$work/s$n"
  if [ ! -f "$store/data.mdb" ]; then
    /usr/bin/time -f "generate $n: %e s, peak RSS %M KB" "$bin" generate --customers "$n" --store "$store" --files "$work/f$n" >/dev/null
  fi
  ref=""
  for w in $workers; do
    out="$work/o$n-w$w"
    rm -rf "$out"
    # Peak RSS of every process of the run: GNU time reports the largest of the process tree's members.
    log="$work/o$n-w$w.log"
    start=$(date +%s.%N)
    /usr/bin/time -v "$bin" run --store "$store" --out "$out" --workers "$w" --no-warm-start --quiet >"$log" 2>&1
    end=$(date +%s.%N)
    sha=$(sha256sum "$out/nba.csv" | cut -c1-16)
    [ -z "$ref" ] && ref="$sha"
    same=$([ "$sha" = "$ref" ] && echo identical || echo DIFFERENT)
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
    python3 - "$out/summary.json" "$n" "$w" "$start" "$end" "$rss" "$sha" "$same" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); n, w = sys.argv[2], sys.argv[3]
t = s["timings_seconds"]
keys = ["plan", "wait_for_workers", "score", "rounds", "repair", "optimize", "merge_and_write", "total"]
parts = ", ".join(f"{k} {t[k]:.1f}" for k in keys if k in t)
o = s.get("optimization", {})
print(f"{n} customers, workers {w}: wall {float(sys.argv[5]) - float(sys.argv[4]):.1f} s ({parts}); "
      f"rounds {o.get('rounds')}, gap {o.get('gap_percent', o.get('gap'))}; largest process RSS {int(sys.argv[6]) / 1048576:.2f} GiB; "
      f"nba.csv {sys.argv[7]} {sys.argv[8]}")
PY
  done
done
