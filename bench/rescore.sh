#!/usr/bin/env bash
# Rescoring speed: a base run of a generated bank, then one model re-imported with another intercept, then a
# full run (which starts from the base run's remembered prices) and `nextbest rescore` of the base run with
# that model (which starts from the same prices); both must write the same nba.csv.
#   bench/rescore.sh [--customers 1000000] [--workers 2] [--work DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
customers=1000000 workers=2 work="$here/work/rescore"
while [ $# -gt 0 ]; do
  case "$1" in
    --customers) customers="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$("$here/../cluster/nextbest-bin")"
w="$work/$customers"
rm -rf "$w" && mkdir -p "$w"
"$bin" generate --customers "$customers" --store "$w/s" --files "$w/f" >/dev/null 2>&1
t() { local name="$1"; shift; local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$name $(echo "$e - $s" | bc)"; }
t base "$bin" run --store "$w/s" --out "$w/base" --workers "$workers" --quiet
base=$("$bin" runs list --store "$w/s" | tail -n1 | cut -c1-16)
model=$(ls "$w/f" | grep logit | head -n1); id=${model%%.logit.json}
python3 - "$w/f/$model" "$w/changed.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["intercept"] += 0.5; json.dump(d, open(sys.argv[2], "w"))
PY
"$bin" import model "$w/changed.json" --id "$id" --format logistic-json --store "$w/s" >/dev/null
t full "$bin" run --store "$w/s" --out "$w/full" --workers "$workers" --quiet
t rescore "$bin" rescore --store "$w/s" --from "$base" --models "$id" --out "$w/re" --workers "$workers" --quiet
cmp "$w/full/nba.csv" "$w/re/nba.csv" && echo "nba.csv identical ($(($(wc -l < "$w/re/changes.csv") - 1)) customers in changes.csv)"
for r in base full re; do python3 -c "import json,sys; s=json.load(open('$w/$r/summary.json')); t=s['timings_seconds']; print('$r', 'score', t['score'], 'optimize', t['optimize'], 'rounds', s['optimization']['rounds'], 'total', t['total'])"; done
du -sh "$w/s/data.mdb"
