#!/usr/bin/env bash
# Optimality of nextbest (release) against HiGHS on the fixture family Tests/Fixtures/optimality/*/
# (built by Tests/Fixtures/optimality/make_family.py: generate.args, campaign.yaml, highs.json).
#
# For every case: the bank is generated from generate.args (cached under the work directory), the case's
# campaign is imported, and `nextbest run --no-warm-start` runs it; one markdown row per case:
#   case | customers | rows (candidates) | binding rows (HiGHS LP) | passes/rounds | optimize s |
#   objective / HiGHS LP optimum | objective / HiGHS MIP optimum | reported gap | constraints held |
#   instance (the run's exported candidates are the fixture's: same sha256) |
#   infeasible cases: refused (non-zero exit) | error names every conflict key
# It reports and never fails because the optimizer is not (yet) good; it fails only if it cannot run.
#
#   bench/optimality.sh [--cases a,b,...] [--work DIR] [--run-args "--workers 2 ..."] [--no-build]
#                       [--seeds 3,7,42 [--customers 1000000] [--offers 32]]
#
# --seeds adds generated workloads (the generator's own campaign, binding caps of every kind), one per
# seed: passes/rounds, optimize seconds, objective, dual bound, gap and whether the constraints held.
# --run-args are passed to every `nextbest run` (default: --workers 0, one process, as the fixtures were
# exported); the instance check needs --export-candidates and is skipped when --workers is set above 0.
# Needs python3 (standard library only for the table).
set -uo pipefail
cd "$(dirname "$0")/.."

cases="" work="bench/work/optimality" run_args="--workers 0" build=1 seeds="" customers=1000000 offers=32
while [ $# -gt 0 ]; do
  case "$1" in
    --cases) cases="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --run-args) run_args="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --seeds) seeds="$2"; shift 2 ;;
    --customers) customers="$2"; shift 2 ;;
    --offers) offers="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then
  bash cluster/deps || exit 1
  swift build -c release -j 1 --product nextbest >/dev/null || { echo "release build failed" >&2; exit 1; }
fi
bin="$(swift build -c release --show-bin-path)/nextbest"
[ -x "$bin" ] || { echo "no release binary at $bin" >&2; exit 1; }
mkdir -p "$work"
fx=Tests/Fixtures/optimality
export_check=1
[[ "$run_args" =~ --workers[\ =]*([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] && export_check=0

# A store per case, generated once from generate.args and reused while the args are the same.
store_for() {  # DIR ARGS...
  local d="$1"; shift
  if [ ! -f "$d/generate.args" ] || [ "$(cat "$d/generate.args")" != "$*" ]; then
    rm -rf "$d"; mkdir -p "$d"
    "$bin" generate "$@" --store "$d/store" >"$d/generate.log" 2>&1 || return 1
    echo "$*" >"$d/generate.args"
  fi
}

row() {  # CASE_DIR OUT_DIR EXIT_CODE ERR_FILE EXPORT_DIR
  python3 - "$@" <<'PY'
import hashlib, json, os, sys
case_dir, out, code, err_file, export = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
h = json.load(open(os.path.join(case_dir, "highs.json")))
name = os.path.basename(case_dir.rstrip("/"))
err = open(err_file).read() if os.path.exists(err_file) else ""
summary_path = os.path.join(out, "summary.json")
s = json.load(open(summary_path)) if code == 0 and os.path.exists(summary_path) else None

def pct(x):
    return "%.4f %%" % (100 * x)

def ratio(obj, ref):
    return pct(obj / ref) if obj is not None and ref else "—"

instance = "—"
csv = os.path.join(export, "candidates.csv")
if export and os.path.exists(csv):
    d = hashlib.sha256()
    with open(csv, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            d.update(chunk)
    instance = "same" if d.hexdigest() == h["candidates_sha256"] else "CHANGED"
binding = "—" if not h["feasible"] else str(len(h["binding"]))
cells = [name, str(h["customers"]), str(h["rows"]), binding]
if s is not None:
    o = s["optimization"]
    passes = o.get("passes")
    cells.append("%s/%s" % ("—" if passes is None else passes, o["rounds"]))
    cells.append("%.2f" % s["timings_seconds"]["optimize"])
    obj = o["objective"]
    cells.append(ratio(obj, h["lp_optimum"]))
    cells.append(ratio(obj, h["mip_optimum"]))
    cells.append(pct(o["gap"]))
    bad = []
    listed = {c["key"]: c for c in o["constraints"]}
    for c in o["constraints"]:
        tol = 0.005 if c["kind"] == "budget" else 0
        if (c["min"] is not None and c["used"] < c["min"] - tol) or \
           (c["max"] is not None and c["used"] > c["max"] + tol):
            bad.append(c["key"].replace("constraints.", ""))
    missing = [k for k in h["constraints"] if k not in listed]
    held = "yes" if not bad and not missing else \
        "NO: " + ", ".join(bad + ["%s not reported" % m for m in missing])
    cells.append(held)
else:
    cells += ["—", "—", "—", "—", "—", "run failed (exit %d)" % code if h["feasible"] else "—"]
cells.append(instance)
if h["feasible"]:
    cells += ["—", "—"]
else:
    cells.append("yes (exit %d)" % code if code != 0 else "NO")
    absent = [k for k in h["conflict"] if k not in err]
    cells.append("yes" if code != 0 and not absent else
                 ("NO, missing: " + ", ".join(absent)) if code != 0 else "—")
print("| " + " | ".join(cells) + " |")
if h["feasible"] and s is None:
    last = [l for l in err.strip().splitlines() if l.strip()][-3:]
    print("<!-- %s: %s -->" % (name, " / ".join(last)), file=sys.stderr)
PY
}

echo "| case | customers | rows | binding rows | passes/rounds | optimize s | objective / LP opt | objective / MIP opt | reported gap | constraints held | instance | refused | error names conflict |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for dir in "$fx"/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/highs.json" ] || continue
  if [ -n "$cases" ] && [[ ",$cases," != *",$name,"* ]]; then continue; fi
  d="$work/$name"
  # shellcheck disable=SC2046
  if ! store_for "$d/gen" $(cat "$dir/generate.args"); then
    echo "| $name | generate failed: see $d/gen/generate.log |"; continue
  fi
  rm -rf "$d/out" "$d/lp"
  if ! "$bin" import campaign "$dir/campaign.yaml" --store "$d/gen/store" >"$d/import.log" 2>&1; then
    echo "| $name | import failed: $(tail -1 "$d/import.log") |"; continue
  fi
  export_args=(); [ "$export_check" = 1 ] && export_args=(--export-candidates "$d/lp")
  # shellcheck disable=SC2086
  "$bin" run --store "$d/gen/store" --out "$d/out" --no-warm-start --quiet $run_args "${export_args[@]}" \
    >"$d/run.stdout" 2>"$d/run.stderr"
  code=$?
  row "$dir" "$d/out" "$code" "$d/run.stderr" "$( [ "$export_check" = 1 ] && echo "$d/lp" )"
done

if [ -n "$seeds" ]; then
  echo
  echo "| seed | customers | offers | passes/rounds | optimize s | objective | dual bound | gap | constraints held |"
  echo "|---|---|---|---|---|---|---|---|---|"
  IFS=',' read -r -a seed_list <<<"$seeds"
  for seed in "${seed_list[@]}"; do
    d="$work/seed-$seed-$customers-$offers"
    if ! store_for "$d/gen" --customers "$customers" --offers "$offers" --seed "$seed"; then
      echo "| $seed | generate failed: see $d/gen/generate.log |"; continue
    fi
    "$bin" import campaign "$d/gen/store/generated/campaign.yaml" --store "$d/gen/store" >/dev/null 2>&1
    rm -rf "$d/out"
    # shellcheck disable=SC2086
    "$bin" run --store "$d/gen/store" --out "$d/out" --no-warm-start --quiet $run_args >"$d/run.stdout" 2>"$d/run.stderr"
    code=$?
    python3 - "$d/out/summary.json" "$seed" "$customers" "$offers" "$code" <<'PY'
import json, os, sys
path, seed, n, k, code = sys.argv[1:6]
if code != "0" or not os.path.exists(path):
    print("| %s | %s | %s | run failed (exit %s) | | | | | |" % (seed, n, k, code)); sys.exit(0)
s = json.load(open(path)); o = s["optimization"]
bad = [c["key"] for c in o["constraints"]
       if (c["min"] is not None and c["used"] < c["min"] - (0.005 if c["kind"] == "budget" else 0))
       or (c["max"] is not None and c["used"] > c["max"] + (0.005 if c["kind"] == "budget" else 0))]
print("| %s | %s | %s | %s/%s | %.2f | %.2f | %.2f | %.4f %% | %s |" % (
    seed, s["customers"], len(s["by_offer"]), o.get("passes", "—"), o["rounds"],
    s["timings_seconds"]["optimize"], o["objective"], o["dual_bound"], 100 * o["gap"],
    "yes" if not bad else "NO: " + ", ".join(bad)))
PY
  done
fi
exit 0
