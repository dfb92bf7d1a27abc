#!/usr/bin/env bash
# Rescoring on standing workers that hold their shards: two standing workers (`nextbest worker` without
# --once) make a full run of a generated bank through `nextbest coordinator`; one model is re-imported with
# another intercept (the workers, refused for their old fingerprint, open the store again and rejoin, keeping
# what they hold); a full run on local workers starts from that run's prices; then the standing workers
# rescore the model from their run (its shards sent without propensities, the tables rebuilt for the changed
# model only), which must write the full run's nba.csv; then the model changes again and they rescore that
# rescore. Prints each job's timings and the shards taken from what the workers held.
#   bench/standing-rescore.sh [--customers 1000000] [--seed 42] [--shift 0.5] [--work DIR]
# NEXTBEST=BIN picks the executable (cluster/nextbest-bin).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
customers=1000000 seed=42 shift=0.5 work="$here/work/standing-rescore"
while [ $# -gt 0 ]; do
  case "$1" in
    --customers) customers="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --shift) shift="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$("$here/../cluster/nextbest-bin")"
w="$work/$customers-$seed"
rm -rf "$w" && mkdir -p "$w"
"$bin" generate --customers "$customers" --seed "$seed" --store "$w/s" --files "$w/f" --quiet >/dev/null 2>&1
port=$((20000 + RANDOM % 20000))
pids=()
for k in 1 2; do GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}" "$bin" worker --connect "tcp://127.0.0.1:$port" --store "$w/s" --threads 1 --quiet --id "standing-$k" & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT
report() { python3 "$here/tools/run_line.py" "$1/summary.json" "$2" "$3"; }
run_id() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['run_id'])" "$1/summary.json"; }
job() {
  local out="$w/$1" s e; shift
  s=$(date +%s.%N)
  "$bin" coordinator --bind "tcp://127.0.0.1:$port" --store "$w/s" --out "$out" --min-workers 2 --wait-timeout 120 --keep-runs 0 --quiet "$@" >/dev/null
  e=$(date +%s.%N)
  report "$out" "$(basename "$out")" "$(echo "$e - $s" | bc)"
}
model=$(ls "$w/f" | grep logit | head -n1); id=${model%%.logit.json}
cp "$w/f/$model" "$w/model.json"
change() {
  python3 - "$w/model.json" "$shift" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["intercept"] += float(sys.argv[2]); json.dump(d, open(sys.argv[1], "w"))
PY
  "$bin" import model "$w/model.json" --id "$id" --format logistic-json --store "$w/s" >/dev/null
}
job base
change
s=$(date +%s.%N)
"$bin" run --store "$w/s" --out "$w/full" --workers 2 --keep-runs 0 --quiet >/dev/null
e=$(date +%s.%N)
report "$w/full" "full (local workers, from the base run's prices)" "$(echo "$e - $s" | bc)"
job rescore1 --rescore-from "$(run_id "$w/base")" --models "$id"
cmp "$w/full/nba.csv" "$w/rescore1/nba.csv" && echo "nba.csv of the rescore on standing workers identical to the full run's"
change
job rescore2 --rescore-from "$(run_id "$w/rescore1")" --models "$id"
