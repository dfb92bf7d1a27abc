#!/usr/bin/env python3
"""Check generated model files against the real XGBoost.

Usage:
    bench/tools/check_generated_models.sh        (generates a small bank with the CLI, then runs this)
    python3 bench/tools/check_generated_models.py DIR [--tolerance 1e-5]

The directory holds:
  models.csv       id,format,file for every generated model
  <id>.json        the model files (xgboost-json or logistic-json)
  profiles.csv     customer_id,region,segment,<features>; an empty cell is a missing value
  predictions.csv  customer_id,<one column per model id>: nextbest's propensities

XGBoost models are loaded with xgboost.Booster(model_file=...) and predicted on the
profiles (missing = NaN). Logistic models are evaluated with numpy by their definition
(p = 1 / (1 + exp(-(intercept + sum coef * x))), a missing value counting as 0).
Prints the max abs difference per model and overall; exits 1 if any exceeds the tolerance.
"""

import argparse
import csv
import json
import math
import os
import sys

import numpy as np
import xgboost as xgb


def read_profiles(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    features = header[3:]
    ids = [r[0] for r in rows[1:]]
    X = np.array(
        [[float(c) if c != "" else np.nan for c in r[3:]] for r in rows[1:]],
        dtype=np.float32,
    )
    return ids, features, X


def read_predictions(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    ids = [r[0] for r in rows[1:]]
    cols = {name: np.array([float(r[k]) for r in rows[1:]]) for k, name in enumerate(header) if k > 0}
    return ids, cols


def predict_xgboost(path, features, X):
    booster = xgb.Booster(model_file=path)
    names = booster.feature_names
    if not names:
        raise SystemExit(f"{path}: model has no feature_names")
    cols = [features.index(n) for n in names]
    d = xgb.DMatrix(X[:, cols], missing=np.nan, feature_names=names)
    return booster.predict(d).astype(np.float64), booster.num_boosted_rounds()


def predict_logistic(path, features, X):
    with open(path) as fh:
        m = json.load(fh)
    cols = [features.index(n) for n in m["features"]]
    Xm = np.nan_to_num(X[:, cols].astype(np.float64), nan=0.0)
    z = m["intercept"] + Xm @ np.array(m["coefficients"], dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-z))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="directory written by the Swift export test")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    args = ap.parse_args()

    ids, features, X = read_profiles(os.path.join(args.dir, "profiles.csv"))
    pred_ids, ours = read_predictions(os.path.join(args.dir, "predictions.csv"))
    if ids != pred_ids:
        raise SystemExit("profiles.csv and predictions.csv list different customers")
    with open(os.path.join(args.dir, "models.csv"), newline="") as fh:
        models = list(csv.DictReader(fh))

    print(f"xgboost {xgb.__version__}; {len(ids)} profiles, {len(features)} features, "
          f"{int(np.isnan(X).sum())} missing cells, {len(models)} models")
    worst = {"xgboost-json": 0.0, "logistic-json": 0.0}
    failed = []
    for m in models:
        path = os.path.join(args.dir, m["file"])
        if m["format"] == "xgboost-json":
            theirs, trees = predict_xgboost(path, features, X)
            kind = f"xgboost {trees} trees"
        elif m["format"] == "logistic-json":
            theirs = predict_logistic(path, features, X)
            kind = "logistic"
        else:
            raise SystemExit(f"unknown format {m['format']} for {m['id']}")
        diff = float(np.max(np.abs(theirs - ours[m["id"]])))
        worst[m["format"]] = max(worst[m["format"]], diff)
        flag = "" if diff <= args.tolerance else "  <-- exceeds tolerance"
        print(f"{m['id']:>8}  {kind:<18} p in [{theirs.min():.5f}, {theirs.max():.5f}]  max |diff| {diff:.3e}{flag}")
        if not diff <= args.tolerance or math.isnan(diff):
            failed.append(m["id"])
    print(f"max abs difference: xgboost models {worst['xgboost-json']:.3e}, logistic models {worst['logistic-json']:.3e}")
    if failed:
        print(f"FAILED: {', '.join(failed)} differ by more than {args.tolerance}")
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
