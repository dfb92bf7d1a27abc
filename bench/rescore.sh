#!/usr/bin/env bash
# Rescoring speed: a base run of a generated bank, then one model re-imported with another intercept, then a
# full run (which starts from the base run's remembered prices) and `nextbest rescore` of the base run with
# that model (which starts from the same prices); both must write the same nba.csv. With --repeats R the
# full run and the rescore alternate R times (each from the same base run and prices); every nba.csv must
# be the first's.
#   bench/rescore.sh [--customers 1000000] [--seed 42] [--workers 2] [--repeats 1] [--shift 0.5] [--work DIR]
# NEXTBEST=BIN picks the executable (cluster/nextbest-bin).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
customers=1000000 seed=42 workers=2 repeats=1 shift=0.5 work="$here/work/rescore"
while [ $# -gt 0 ]; do
  case "$1" in
    --customers) customers="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --shift) shift="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$("$here/../cluster/nextbest-bin")"
w="$work/$customers-$seed"
rm -rf "$w" && mkdir -p "$w"
"$bin" generate --customers "$customers" --seed "$seed" --store "$w/s" --files "$w/f" --quiet >/dev/null 2>&1
t() { local name="$1"; shift; local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$name wall $(echo "$e - $s" | bc)"; }
t base "$bin" run --store "$w/s" --out "$w/base" --workers "$workers" --keep-runs 0 --quiet
base=$("$bin" runs list --store "$w/s" | tail -n1 | cut -c1-16)
model=$(ls "$w/f" | grep logit | head -n1); id=${model%%.logit.json}
python3 - "$w/f/$model" "$w/changed.json" "$shift" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["intercept"] += float(sys.argv[3]); json.dump(d, open(sys.argv[2], "w"))
PY
"$bin" import model "$w/changed.json" --id "$id" --format logistic-json --store "$w/s" >/dev/null
report() {
  python3 - "$1/summary.json" "$2" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); t = s['timings_seconds']; o = s['optimization']; p = o.get('presolve')
print(f"{sys.argv[2]}: total {t['total']:.2f} s (score {t['score']:.2f}, optimize {t['optimize']:.2f} in {o['rounds']} passes"
      + (f" after {p['rounds']} on samples" if p else "") + f", merge and write {t['merge_and_write']:.2f})")
PY
}
cp -r "$w/s/data.mdb" "$w/base.mdb"
for r in $(seq 1 "$repeats"); do
  # The same store for every full run: the one right after the import (a full run remembers its prices).
  cp "$w/base.mdb" "$w/s/data.mdb"
  t "full $r" "$bin" run --store "$w/s" --out "$w/full$r" --workers "$workers" --keep-runs 0 --quiet
  report "$w/full$r" "full $r"
  t "rescore $r" "$bin" rescore --store "$w/s" --from "$base" --models "$id" --out "$w/re$r" --workers "$workers" --keep-runs 0 --quiet
  report "$w/re$r" "rescore $r"
  cmp "$w/full1/nba.csv" "$w/full$r/nba.csv" && cmp "$w/full1/nba.csv" "$w/re$r/nba.csv" \
    && echo "nba.csv identical ($(($(wc -l < "$w/re$r/changes.csv") - 1)) customers in changes.csv)"
  for o in "$w/full$r" "$w/re$r"; do rm -rf "$w/s/runs/"$(python3 -c "import json; print(json.load(open('$o/summary.json'))['run_id'])"); done
done
du -sh "$w/s/data.mdb"
