#!/usr/bin/env bash
# Hostile input through the CLI (issue 21, items 1-8 and 15-19): each scenario runs the `nextbest` binary
# (cluster/nextbest-bin: $NEXTBEST, else on PATH, else the release build) on a file, store or option
# written to hurt, and checks that it is refused cleanly: a non-zero exit (not a signal), a message on
# standard error that says why (and stays short), the store's contents unchanged (every database but the
# run journal, which records a run that starts and then fails), and the process's peak RSS
# under the scenario's limit. Prints a markdown table and a last line with the counts; exits non-zero on
# any crash, changed store, unclear refusal or RSS over its limit. RSS limits: 100 MB for small inputs,
# 1 GB for the 12 MB campaign of 100,000 offers, 1.2 GB (6x the input) for the 200 MB values.
#   bench/hostile.sh [--work DIR]      (bench/faults.sh runs it after its cluster scenarios)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
work="$here/work/hostile"
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$("$repo/cluster/nextbest-bin")"
timer=/usr/bin/time
if [ ! -x "$timer" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq time >/dev/null
fi
rm -rf "$work"; mkdir -p "$work/in"
in="$work/in" fx="$repo/Tests/Fixtures"

# The store every scenario aims at: the fixtures, as Tests/run imports them.
store="$work/store"
{
  "$bin" import profiles "$fx/models/profiles.csv" --store "$store"
  for m in xgb_small xgb_deep xgb_subset; do "$bin" import model "$fx/models/$m.json" --id "$m" --format xgboost-json --store "$store"; done
  for m in logit_all logit_subset; do "$bin" import model "$fx/models/$m.json" --id "$m" --format logistic-json --store "$store"; done
  "$bin" import history "$fx/history_small.csv" --store "$store"
  "$bin" import campaign "$fx/campaign_small.yaml" --store "$store"
} >/dev/null
python3 "$here/tools/hostile_inputs.py" "$fx" "$in" "$store"
# Item 18: a coordinator key pair, an empty allow-list, one worker key, a secret readable by others.
keys="$in/keys"
mkdir -p "$keys/empty" "$keys/workers"
"$bin" keys generate --dir "$keys" --name c >/dev/null
"$bin" keys generate --dir "$keys/workers" --name w >/dev/null
cp "$keys/c.secret" "$keys/open.secret"; chmod 644 "$keys/open.secret"

# Item 3: a store whose directory and data.mdb the user may not write. Root may write anything, so as
# root the scenarios run as nobody (setpriv).
rostore="$in/readonly-store"
mkdir -p "$rostore"; cp "$store/data.mdb" "$rostore/"; chmod 444 "$rostore/data.mdb"; chmod 555 "$rostore"
mkdir -p "$in/readonly-dir"; chmod 555 "$in/readonly-dir"
asuser=()
if [ "$(id -u)" = 0 ]; then asuser=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi

# A base run for `simulate --from`.
"$bin" run --store "$store" --out "$work/base" --quiet >/dev/null
base=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['run_id'])" "$work/base/summary.json")

# The store's contents but its run journal (a run that starts and fails is recorded, by design).
digest() { python3 "$here/tools/store_digest.py" "$1"; }

tried=0 clean=0 crashes=0 changed=0 unclear=0 overrss=0
rows=()
# scenario NAME ITEM RSS_LIMIT_MB EXPECTED_TEXT STORE -- COMMAND...: runs COMMAND under /usr/bin/time.
scenario() {
  local name="$1" item="$2" limit="$3" expect="$4" st="$5"; shift 6
  local before after status=0 signal="" rss secs t0 t1 err="$work/$name.err" verdict
  before="$(digest "$st")"
  t0=$(date +%s.%N)
  "$timer" -f "%M %x" -o "$work/$name.time" "$@" >/dev/null 2>"$err" </dev/null || status=$?
  t1=$(date +%s.%N)
  after="$(digest "$st")"
  secs=$(printf '%.2f' "$(echo "$t1 - $t0" | bc)")
  if grep -q "terminated by signal" "$work/$name.time"; then signal="$(grep -o 'signal [0-9]*' "$work/$name.time")"; fi
  rss=$(( $(tail -n1 "$work/$name.time" | cut -d' ' -f1) / 1024 ))
  local bytes msg
  bytes=$(wc -c <"$err")
  msg="$(grep -v '^\s*$' "$err" | grep -iE 'error|refus|must|cannot|invalid|not ' | head -n1 | sed "s|$work/||g" | cut -c1-120 | tr '|' '/')"
  [ -z "$msg" ] && msg="$(head -c 110 "$err" | tr '\n|' ' /')"
  tried=$((tried + 1))
  verdict="refused cleanly"
  if [ -n "$signal" ] || [ "$status" -ge 128 ]; then verdict="CRASH (${signal:-exit $status})"; crashes=$((crashes + 1))
  elif [ "$status" = 0 ]; then verdict="ACCEPTED"; unclear=$((unclear + 1))
  elif ! grep -qF -- "$expect" "$err" || [ "$bytes" -gt 4096 ]; then verdict="UNCLEAR (exit $status, $bytes bytes)"; unclear=$((unclear + 1))
  fi
  local same="yes"
  if [ "$before" != "$after" ]; then same="NO"; changed=$((changed + 1)); fi
  local rsscell="$rss / $limit"
  if [ "$rss" -gt "$limit" ]; then rsscell="**$rss / $limit**"; overrss=$((overrss + 1)); fi
  [ "$verdict" = "refused cleanly" ] && [ "$same" = yes ] && [ "$rss" -le "$limit" ] && clean=$((clean + 1))
  rows+=("| $item | $name | $status | $verdict | $same | $rsscell | $secs | $msg |")
}
out="$work/out"
S() { scenario "$@"; }
# Items 1, 2, 4-6: campaigns.
S alias-bomb 1 100 "aliases expand the document" "$store" -- "$bin" import campaign "$in/bomb.yaml" --store "$store"
S alias-bomb-unknown-key 1 100 "unknown key 'lol'" "$store" -- "$bin" import campaign "$in/bomb-key.yaml" --store "$store"
S deep-yaml-5000 2 100 "nested more than 512 levels deep" "$store" -- "$bin" import campaign "$in/deep5000.yaml" --store "$store"
S deep-yaml-100000 2 100 "nested more than 512 levels deep" "$store" -- "$bin" import campaign "$in/deep100000.yaml" --store "$store"
S deep-json-100000 2 100 "not valid JSON" "$store" -- "$bin" import campaign "$in/deep100000.json" --store "$store"
S max-offers-1e6 4 100 "max_offers" "$store" -- "$bin" import campaign "$in/max_offers.yaml" --store "$store"
S budget-1e30 5 100 "budget" "$store" -- "$bin" import campaign "$in/budget.yaml" --store "$store"
S offers-100000 6 1024 "offers" "$store" -- "$bin" import campaign "$in/offers100k.yaml" --store "$store"
S simulate-offers-100000 6 1024 "offers" "$store" -- "$bin" simulate --store "$store" --from "$base" --campaign "$in/offers100k.yaml" --out "$out-sim"
# Item 3: stores.
S random-data.mdb 3 100 "not an LMDB store" "$in/junkstore" -- "$bin" run --store "$in/junkstore" --out "$out-junk" --quiet
S store-path-impossible 3 100 "/proc/nextbest-store" "$store" -- "$bin" import campaign "$fx/campaign_small.yaml" --store /proc/nextbest-store
S store-not-writable 3 100 "Permission denied" "$rostore" -- "${asuser[@]}" "$bin" import campaign "$fx/campaign_small.yaml" --store "$rostore"
S low-ulimit-v 3 100 "address space" "$store" -- bash -c 'ulimit -v 400000; exec "$@"' _ "$bin" run --store "$store" --out "$out-ulimit" --quiet
# Items 7, 8: 200 MB values in a profile file.
S region-200MB 7 1200 "region" "$store" -- "$bin" import profiles "$in/region200MB.csv" --store "$store"
S number-200MB 8 1200 "income" "$store" -- "$bin" import profiles "$in/number200MB.csv" --store "$store"
S history-number-200MB 8 1200 "history200MB.csv" "$store" -- "$bin" import history "$in/history200MB.csv" --store "$store"
# Item 15: output places.
S out-is-a-file 15 100 "--out" "$store" -- "$bin" run --store "$store" --out "$in/afile" --quiet
S out-impossible 15 100 "--out" "$store" -- "$bin" run --store "$store" --out /proc/nextbest-out --quiet
S out-not-writable 15 100 "cannot create the directory: Permission denied" "$rostore" -- "${asuser[@]}" "$bin" run --store "$rostore" --out "$in/readonly-dir/out" --quiet
# Item 16: options.
S shard-size-0 16 100 "--shard-size must be between" "$store" -- "$bin" run --store "$store" --out "$out-o" --shard-size 0
S workers-minus-1 16 100 "--workers must be between" "$store" -- "$bin" run --store "$store" --out "$out-o" --workers=-1
S gap-tolerance-nan 16 100 "--gap-tolerance must be a number" "$store" -- "$bin" run --store "$store" --out "$out-o" --gap-tolerance nan
S workers-1000 16 100 "at most four local workers per core" "$store" -- "$bin" run --store "$store" --out "$out-o" --workers 1000
S metrics-address-bad 16 100 "--metrics-address" "$store" -- "$bin" run --store "$store" --out "$out-o" --metrics-address "[::1]:99999"
# Item 17: a stored profile whose region code is outside the store's dictionary.
S region-index-out-of-range 17 100 "region code 32767 is outside" "$in/damaged" -- "$bin" run --store "$in/damaged" --out "$out-damaged" --quiet
# Item 18: CURVE setups.
S curve-empty-allow-keys 18 100 "holds no *.pub file" "$store" -- "$bin" coordinator --bind tcp://127.0.0.1:0 --store "$store" --out "$out-c" --curve-secret "$keys/c.secret" --allow-keys "$keys/empty"
S curve-pub-as-secret 18 100 "public key file" "$store" -- "$bin" coordinator --bind tcp://127.0.0.1:0 --store "$store" --out "$out-c" --curve-secret "$keys/c.pub" --allow-keys "$keys/workers"
S curve-world-readable-secret 18 100 "readable by others" "$store" -- "$bin" worker --connect tcp://127.0.0.1:1 --store "$store" --curve-secret "$keys/open.secret" --coordinator-key "$keys/c.pub"
# Item 19: model coefficients.
S logistic-1e308 19 100 "overflow" "$store" -- "$bin" import model "$in/logit1e308.json" --id huge --format logistic-json --store "$store"
S logistic-nan 19 100 "logistic" "$store" -- "$bin" import model "$in/logitnan.json" --id nan --format logistic-json --store "$store"

echo "hostile input: $bin, $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| item | scenario | exit | outcome | store contents unchanged | peak RSS MB / limit | s | message (first line) |"
echo "|---|---|---:|---|---|---:|---:|---|"
printf '%s\n' "${rows[@]}"
echo
echo "hostile input: $tried scenarios, $clean refused cleanly, $crashes crashes, $changed stores changed, $unclear unclear or accepted, $overrss over their RSS limit"
[ "$crashes" = 0 ] && [ "$changed" = 0 ] && [ "$unclear" = 0 ] && [ "$overrss" = 0 ]
