#!/usr/bin/env bash
# Checks that the model files `nextbest generate` writes load in the real XGBoost and predict what
# nextbest predicts: generates a small bank with --export-csv, scores every model with `nextbest score`,
# then compares with bench/tools/check_generated_models.py. Needs: pip install xgboost numpy.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build --product nextbest >/dev/null
bin="$(swift build --show-bin-path)/nextbest"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$bin" generate --customers "${1:-2000}" --offers 32 --seed 2026 --store "$tmp/store" --files "$tmp/check" --export-csv >/dev/null
cd "$tmp/check"
echo "id,format,file" > models.csv
for f in *.xgb.json; do echo "${f%.xgb.json},xgboost-json,$f" >> models.csv; done
for f in *.logit.json; do echo "${f%.logit.json},logistic-json,$f" >> models.csv; done
for id in $(tail -n +2 models.csv | cut -d, -f1); do "$bin" score --store "$tmp/store" --model "$id" --out "score-$id.csv" >/dev/null; done
python3 - <<'PY'
import csv
ids = [r["id"] for r in csv.DictReader(open("models.csv"))]
cols = {i: {r["customer_id"]: r["propensity"] for r in csv.DictReader(open(f"score-{i}.csv"))} for i in ids}
customers = [r["customer_id"] for r in csv.DictReader(open("profiles.csv"))]
with open("predictions.csv", "w") as out:
    out.write("customer_id," + ",".join(ids) + "\n")
    for c in customers:
        out.write(c + "," + ",".join(cols[i][c] for i in ids) + "\n")
PY
cd - >/dev/null
python3 bench/tools/check_generated_models.py "$tmp/check"
