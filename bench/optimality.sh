#!/usr/bin/env bash
# Optimality against HiGHS on generated campaigns with binding caps of every kind.
# For each size: generate a bank (seeded), run nextbest (release) exporting the optimization instance,
# solve its LP relaxation with HiGHS (bench/tools/lp_optimum.py) and print objective / LP optimum.
#   bench/optimality.sh [SIZES...]      (default: 10000 20000 50000)
# Needs: pip install highspy numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cluster/deps
swift build -c release --product nextbest >/dev/null
bin="$(swift build -c release --show-bin-path)/nextbest"
work="bench/work/optimality"; mkdir -p "$work"
sizes=("$@"); [ ${#sizes[@]} -eq 0 ] && sizes=(10000 20000 50000)
printf "| customers | offers | rounds | objective | dual bound | gap | HiGHS LP optimum | objective / LP | optimize s | LP s |\n|---|---|---|---|---|---|---|---|---|---|\n"
for n in "${sizes[@]}"; do
  d="$work/$n"; rm -rf "$d"
  "$bin" generate --customers "$n" --offers 16 --seed "$n" --store "$d/store" >/dev/null 2>&1
  "$bin" run --store "$d/store" --out "$d/out" --no-warm-start --export-candidates "$d/lp" --quiet >/dev/null 2>&1
  t0=$(date +%s%N)
  python3 bench/tools/lp_optimum.py "$d/lp/candidates.csv" "$d/lp/constraints.json" "$d/highs.json" >/dev/null 2>&1
  t1=$(date +%s%N)
  python3 - "$d/out/summary.json" "$d/highs.json" "$n" "$(( (t1 - t0) / 1000000 ))" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); h = json.load(open(sys.argv[2]))
o = s["optimization"]; lp = h["lp_optimum"]
print(f"| {sys.argv[3]} | {len(s['by_offer'])} | {o['rounds']} | {o['objective']:.2f} | {o['dual_bound']:.2f} | {100*o['gap']:.4f} % | "
      f"{lp:.2f} | {100*o['objective']/lp:.4f} % | {s['timings_seconds']['optimize']:.2f} | {int(sys.argv[4])/1000:.1f} |")
PY
done
