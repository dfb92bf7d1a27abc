#!/usr/bin/env bash
# Rescoring speed: a base run of a generated bank, then one model re-imported with another intercept, then a
# full run (which starts from the base run's remembered prices) and `nextbest rescore` of the base run with
# that model (which starts from the same prices); both must write the same nba.csv. With --repeats R the
# full run and the rescore alternate R times (each from the same base run and prices); every nba.csv must
# be the first's. With --standing, each repeat also rescores on --workers standing workers (`nextbest worker`
# without --once, started once) through `nextbest coordinator --rescore-from`, which must write the same nba.csv.
#   bench/rescore.sh [--customers 1000000] [--seed 42] [--workers 2] [--repeats 1] [--shift 0.5] [--standing] [--work DIR]
# NEXTBEST=BIN picks the executable (cluster/nextbest-bin).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
customers=1000000 seed=42 workers=2 repeats=1 shift=0.5 standing=0 work="$here/work/rescore"
while [ $# -gt 0 ]; do
  case "$1" in
    --customers) customers="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --shift) shift="$2"; shift 2 ;;
    --standing) standing=1; shift ;;
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
report() { python3 "$here/tools/run_line.py" "$1/summary.json" "$2"; }
# A run's id from its summary; its files are deleted after each repeat (about 1.6 GB per run at 10 M).
run_id() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['run_id'])" "$1/summary.json"; }
drop_run() { local id; id=$(run_id "$1") && [ -n "$id" ] && rm -rf "$w/s/runs/$id"; }
pids=()
if [ "$standing" = 1 ]; then
  # The workers read a copy of the store, as on other hosts: the loop below puts the base data.mdb back in
  # place before each full run, which must not happen under a store a worker has open.
  mkdir -p "$w/ws" && cp "$w/s/data.mdb" "$w/ws/data.mdb"
  port=$((20000 + RANDOM % 20000))
  for k in $(seq 1 "$workers"); do GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}" "$bin" worker --connect "tcp://127.0.0.1:$port" --store "$w/ws" --threads 1 --quiet --id "standing-$k" & pids+=($!); done
  trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT
fi
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
  if [ "$standing" = 1 ]; then
    t "standing rescore $r" "$bin" coordinator --bind "tcp://127.0.0.1:$port" --store "$w/s" --out "$w/st$r" --min-workers "$workers" \
      --wait-timeout 120 --rescore-from "$base" --models "$id" --keep-runs 0 --quiet
    report "$w/st$r" "standing rescore $r"
    cmp "$w/full1/nba.csv" "$w/st$r/nba.csv" && echo "nba.csv of the standing workers identical"
    drop_run "$w/st$r"
  fi
  for o in "$w/full$r" "$w/re$r"; do drop_run "$o"; done
done
du -sh "$w/s/data.mdb"
