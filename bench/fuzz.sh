#!/usr/bin/env bash
# The seeded fuzzers (issue 21) run longer than CI runs them, on a release build of the tests: the campaign
# reader (YAML, JSON), the model readers (XGBoost, logistic), the importers into a store, and the wire
# decoder. Prints a table (fuzzer, seed, iterations, accepted, refused, distinct refusals, seconds) and
# exits non-zero on a failed expectation or a crash; the input being tried at a crash is kept in --work.
#   bench/fuzz.sh [--iterations 40x|N] [--seed S] [--work DIR] [--debug] [--jobs J]
# --iterations: a multiple of CI's counts (40x, the default) or a count per fuzzer; --seed: one seed for
# every fuzzer instead of each one's own (CI's); --debug: the debug build (no release build of the tests);
# --jobs: swift build's -j (on a shared machine, 1).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
iterations=40x seed="" work="$here/work/fuzz" config=release jobs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --iterations) iterations="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --debug) config=debug; shift ;;
    --jobs) jobs=(-j "$2"); shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$work"
rm -f "$work"/*.current
cd "$repo"
if [ "$config" = release ]; then
  # @testable imports need -enable-testing in a release build.
  swift build "${jobs[@]}" -c release --build-tests -Xswiftc -enable-testing >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
else
  swift build "${jobs[@]}" --build-tests >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
fi
filter='ReaderFuzzTests|ImporterFuzzTests|WireMessageTests/fuzzedFramesDecodeOrAreRefused'
status=0
start=$(date +%s)
NEXTBEST_FUZZ_ITERATIONS="$iterations" NEXTBEST_FUZZ_SEED="$seed" NEXTBEST_FUZZ_SAVE="$work" \
  swift test -c "$config" --skip-build --filter "$filter" >"$work/test.log" 2>&1 || status=$?
end=$(date +%s)
echo "fuzz: $(uname -m), $(nproc) cores, $config build, iterations $iterations, seed ${seed:-per fuzzer (CI seeds)}, $(date -u +%Y-%m-%dT%H:%MZ)"
python3 - "$work/test.log" "$status" "$work" <<'PY'
import re, sys, os
log, status, work = open(sys.argv[1]).read(), int(sys.argv[2]), sys.argv[3]
rows = [r for r in re.findall(r"fuzz (\S+): seed (\d+), (\d+) iterations, (\d+) accepted, (\d+) refused, (\d+) distinct refusals, ([\d.]+) s", log) if r[0] != "repro"]
started = [s for s in re.findall(r"fuzz (\S+): seed (\d+), (\d+) iterations \(", log) if s[0] != "repro"]
print("| fuzzer | seed | iterations | accepted | refused | distinct refusals | seconds |")
print("|---|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print("| " + " | ".join(r) + " |")
done = {r[0] for r in rows}
unfinished = [s for s in started if s[0] not in done]
failures = len(re.findall(r"^✘ Test .* recorded an issue", log, re.M))
crashed = status != 0 and not re.search(r"✘ Test run with .* failed", log)
for name, seed, n in unfinished:
    saved = os.path.join(work, name + ".current")
    print(f"| {name} | {seed} | {n} | did not finish | | | |  (input being tried: {saved})")
total = sum(int(r[2]) for r in rows)
print(f"fuzz: {len(rows)} fuzzers, {total} inputs, {failures} failed expectations, {1 if crashed else 0} crash")
sys.exit(0 if status == 0 and not unfinished else 1)
PY
echo "fuzz: $((end - start)) s of tests; log in $work/test.log"
exit "$status"
