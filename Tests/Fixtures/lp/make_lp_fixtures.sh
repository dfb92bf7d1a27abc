#!/usr/bin/env bash
# Regenerates the LP optima the optimizer tests compare against: for each Tests/Fixtures/lp/*/campaign.yaml,
# builds the fixture store with the nextbest CLI, exports the run's optimization instance
# (--export-candidates) and solves its LP relaxation (and the integer program) with HiGHS via
# bench/tools/lp_optimum.py, writing highs.json beside the campaign. Needs: pip install highspy numpy.
set -euo pipefail
cd "$(dirname "$0")/../../.."
swift build --product nextbest
bin="$(swift build --show-bin-path)/nextbest"
fx=Tests/Fixtures
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$bin" import profiles "$fx/models/profiles.csv" --store "$tmp/store" >/dev/null
for m in xgb_small xgb_deep xgb_subset; do "$bin" import model "$fx/models/$m.json" --id "$m" --format xgboost-json --store "$tmp/store" >/dev/null; done
for m in logit_all logit_subset; do "$bin" import model "$fx/models/$m.json" --id "$m" --format logistic-json --store "$tmp/store" >/dev/null; done
"$bin" import history "$fx/history_small.csv" --store "$tmp/store" >/dev/null
for dir in "$fx"/lp/*/; do
  name="$(basename "$dir")"
  "$bin" import campaign "$dir/campaign.yaml" --store "$tmp/store" >/dev/null
  "$bin" run --store "$tmp/store" --out "$tmp/out-$name" --export-candidates "$tmp/lp-$name" --workers 0 --no-warm-start --quiet >/dev/null
  python3 bench/tools/lp_optimum.py "$tmp/lp-$name/candidates.csv" "$tmp/lp-$name/constraints.json" "$dir/highs.json" --mip
done

# Generated banks (Tests/Fixtures/lp-generated/*/generate.args holds the `nextbest generate` options).
for dir in "$fx"/lp-generated/*/; do
  name="$(basename "$dir")"
  # shellcheck disable=SC2046
  "$bin" generate $(cat "$dir/generate.args") --store "$tmp/gen-$name" >/dev/null 2>&1
  "$bin" run --store "$tmp/gen-$name" --out "$tmp/out-gen-$name" --export-candidates "$tmp/lp-gen-$name" --workers 0 --no-warm-start --quiet >/dev/null
  python3 bench/tools/lp_optimum.py "$tmp/lp-gen-$name/candidates.csv" "$tmp/lp-gen-$name/constraints.json" "$dir/highs.json"
done
