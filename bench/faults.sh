#!/usr/bin/env bash
# Fault injection on a cluster run: N randomised scenarios (workers and the coordinator killed with
# SIGKILL at random points through NEXTBEST_FAILPOINT, a worker stopped with SIGTERM, junk frames, a worker
# on another store), each on the same generated bank, each compared with a clean run: outcome, whether
# nba.csv is byte-identical, and customers lost or duplicated. Then the hostile-input table
# (bench/hostile.sh, issue 21): files, stores and options written to hurt, each refused cleanly, with
# crashes, changed stores and peak RSS counted.
#   bench/faults.sh [--customers 1000000] [--scenarios 8] [--seed 1] [--work DIR] [--hostile-only | --no-hostile]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
customers=1000000 scenarios=8 seed=1 work="$here/work/faults" hostile=yes cluster=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --customers) customers="$2"; shift 2 ;;
    --scenarios) scenarios="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --hostile-only) cluster=no; shift ;;
    --no-hostile) hostile=no; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$cluster" = no ]; then exec bash "$here/hostile.sh" --work "$work/hostile"; fi
bin="$("$here/../cluster/nextbest-bin")"
mkdir -p "$work"
store="$work/s$customers"
[ -f "$store/data.mdb" ] || "$bin" generate --customers "$customers" --store "$store" --files "$work/f$customers" >/dev/null
other="$work/other"
[ -f "$other/data.mdb" ] || "$bin" generate --customers 1000 --seed 7 --store "$other" --files "$work/fother" >/dev/null
shard=$(( customers / 40 > 1000 ? customers / 40 : 1000 ))
shards=$(( (customers + shard - 1) / shard ))
port=$(( 20000 + RANDOM % 20000 ))
endpoint="tcp://127.0.0.1:$port"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "clean run: $customers customers, shard size $shard ($shards shards), 3 workers x 1 thread" >&2
"$bin" run --store "$store" --out "$work/clean" --workers 3 --threads 1 --shard-size "$shard" --no-warm-start --quiet >/dev/null
clean="$work/clean/nba.csv"

start_workers() { # $1: failpoint for worker 1 ("" for none)
  pids=()
  for k in 1 2 3; do
    if [ "$k" = 1 ] && [ -n "$1" ]; then
      NEXTBEST_FAILPOINT="$1" "$bin" worker --connect "$endpoint" --store "$store" --threads 1 --id "w$k" --heartbeat 0.2 >"$work/w$k.log" 2>&1 &
    else
      "$bin" worker --connect "$endpoint" --store "$store" --threads 1 --id "w$k" --heartbeat 0.2 >"$work/w$k.log" 2>&1 &
    fi
    pids+=($!)
  done
}

coordinator() { # $1: out, $2: failpoint, rest: extra args
  local out="$1" fp="$2"; shift 2
  NEXTBEST_FAILPOINT="$fp" "$bin" coordinator --bind "$endpoint" --store "$store" --out "$out" --min-workers 3 --no-warm-start \
    --shard-size "$shard" --heartbeat 0.2 --dead-after 10 --wait-timeout 120 "$@" >/dev/null 2>>"$out.log"
}

RANDOM=$seed
kinds=(worker-kill-scoring worker-kill-rounds coordinator-kill-scoring coordinator-kill-rounds coordinator-kill-merge worker-sigterm junk-frames wrong-store-worker)
printf '%-3s %-26s %-24s %-44s %-10s %-5s %-10s %s\n' "#" scenario "injected" outcome "seconds" same lost dup
for i in $(seq 1 "$scenarios"); do
  kind=${kinds[$(( (i - 1) % ${#kinds[@]} ))]}
  [ "$scenarios" -gt "${#kinds[@]}" ] && [ "$i" -gt "${#kinds[@]}" ] && kind=${kinds[$(( RANDOM % ${#kinds[@]} ))]}
  out="$work/run$i"; rm -rf "$out" "$out.log"; mkdir -p "$out"
  wfp="" cfp="" injected="-" outcome="" t0=$(date +%s.%N)
  case "$kind" in
    worker-kill-scoring) k=$(( 1 + RANDOM % (shards / 3 > 1 ? shards / 3 : 1) )); wfp="worker.scored:$k"; injected="kill -9 w1 after $k shards" ;;
    worker-kill-rounds) k=$(( 2 + RANDOM % 30 )); wfp="worker.round:$k"; injected="kill -9 w1 at round $k" ;;
    coordinator-kill-scoring) k=$(( 1 + RANDOM % shards )); cfp="coordinator.scored:$k"; injected="kill -9 coord. at shard $k" ;;
    coordinator-kill-rounds) k=$(( 2 + RANDOM % 30 )); cfp="coordinator.round:$k"; injected="kill -9 coord. at round $k" ;;
    coordinator-kill-merge) k=$(( 1 + RANDOM % shards )); cfp="coordinator.written:$k"; injected="kill -9 coord. merging $k" ;;
    *) ;;
  esac
  start_workers "$wfp"
  case "$kind" in
    worker-sigterm)
      d=$(( 5 + RANDOM % 40 )); injected="SIGTERM w1 after ${d}s"
      ( sleep "$d"; kill -TERM "${pids[0]}" 2>/dev/null || true ) &
      ;;
    junk-frames)
      injected="2000 random frames"
      python3 - "$endpoint" <<'PY' &
import os, random, sys, time
try:
    import zmq
except ImportError:
    sys.exit(0)
ctx = zmq.Context(); s = ctx.socket(zmq.DEALER); s.setsockopt(zmq.LINGER, 0); s.connect(sys.argv[1])
rng = random.Random(5)
for i in range(2000):
    n = rng.randrange(0, 80)
    frame = bytes(rng.randrange(256) for _ in range(n))
    if i % 3 == 0: frame = b"NB\x01" + bytes([rng.randrange(30)]) + frame
    s.send(frame, zmq.NOBLOCK) if i % 5 else s.send_multipart([frame, b"x"], zmq.NOBLOCK)
    time.sleep(0.005)
PY
      ;;
    wrong-store-worker)
      injected="worker on another store"
      "$bin" worker --connect "$endpoint" --store "$other" --threads 1 --id intruder >"$work/intruder.log" 2>&1 &
      pids+=($!)
      ;;
  esac
  status=0
  { coordinator "$out" "$cfp" || status=$?; } 2>/dev/null
  if [ -n "$cfp" ] && [ "$status" = 0 ]; then
    outcome="failpoint not reached, completed"
  elif [ -n "$cfp" ]; then
    runid=$(sed -n 's/.*coordinator: run \([0-9a-f]\{16\}\).*/\1/p' "$out.log" | head -n1)
    [ -z "$runid" ] && runid=$(grep -o 'run [0-9a-f]\{16\}' "$out.log" | head -n1 | cut -c5-)
    status2=0
    coordinator "$out" "" --resume "$runid" || status2=$?
    outcome="coordinator died ($status), resumed ($status2)"
    status=$status2
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  t1=$(date +%s.%N)
  if [ "$status" = 0 ] && [ -f "$out/nba.csv" ]; then
    [ -z "$outcome" ] && outcome="completed"
    rec=$(python3 -c "import json;r=json.load(open('$out/summary.json')).get('recovery',{});print(','.join(f'{k}={v}' for k,v in r.items() if v))")
    [ -n "$rec" ] && outcome="$outcome ($rec)"
    read -r same lost dup < <(python3 - "$clean" "$out/nba.csv" <<'PY'
import sys, hashlib, collections
def load(p):
    rows = collections.Counter(); ids = set()
    with open(p, 'rb') as f:
        next(f)
        for line in f:
            rows[line] += 1; ids.add(line.split(b',', 1)[0])
    return rows, ids
a, ida = load(sys.argv[1]); b, idb = load(sys.argv[2])
same = open(sys.argv[1], 'rb').read() == open(sys.argv[2], 'rb').read()
dup = sum(c - 1 for c in b.values() if c > 1)
print("yes" if same else "no", len(ida - idb), dup)
PY
)
  else
    outcome="${outcome:-failed} (exit $status: $(tail -n1 "$out.log" | cut -c1-60))"; same="-"; lost="-"; dup="-"
  fi
  printf '%-3s %-26s %-24s %-44s %-10.1f %-5s %-10s %s\n' "$i" "$kind" "$injected" "$outcome" "$(echo "$t1 - $t0" | bc)" "$same" "$lost" "$dup"
done
if [ "$hostile" = yes ]; then
  echo
  bash "$here/hostile.sh" --work "$work/hostile"
fi
