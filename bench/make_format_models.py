#!/usr/bin/env python3
"""Bench inputs for bench/formats.py: customers and 500-tree, depth-10 models in each format.

Writes into bench/work/formats/ (git-ignored; the models are tens of MB):
  profiles.csv      customer_id,region,segment,f00..f19: N customers (default 200,000), Float32 values, 3 %
                    missing (empty cells)
  X.npy             the same features as a float32 array, rows in customer-id order (what the libraries get)
  lgb.txt           LightGBM: 500 trees, max_depth=10, num_leaves=1023, binary objective
  xgb.json          XGBoost: 500 trees, max_depth=10, binary:logistic (hist)
  lgb.onnx          the LightGBM model through onnxmltools.convert_lightgbm (one [N, 20] input)
  xgb.onnx          the XGBoost model through onnxmltools.convert_xgboost (one [N, 20] input)
  manifest.json     versions, sizes, training rows

Trained on 60,000 rows of the same distribution (fixed seeds; deterministic for a given library version).
Usage: make_format_models.py [--customers N] [--out DIR]
"""

import argparse
import json
import os
import time

import lightgbm as lgb
import numpy as np
import onnxmltools
import xgboost as xgb
from onnxmltools.convert.common.data_types import FloatTensorType

FEATURES = [f"f{i:02d}" for i in range(20)]
TREES, DEPTH = 500, 10


def rows(rng, n):
    X = rng.normal(0, 1, (n, len(FEATURES)))
    X[:, :5] = np.exp(X[:, :5])          # skewed, like balances
    X[:, 5:8] = np.round(np.abs(X[:, 5:8]) * 3)  # small counts
    X[rng.random(X.shape) < 0.03] = np.nan
    return X.astype(np.float32)


def labels(rng, X):
    v = np.nan_to_num(X.astype(np.float64), nan=0.0)
    z = (0.8 * np.log1p(v[:, 0]) - 0.5 * v[:, 1] + 0.3 * v[:, 5] * v[:, 9] + np.sin(2 * v[:, 10]) + 0.4 * (v[:, 12] > 0.5)
         - 0.2 * v[:, 15] ** 2 + rng.normal(0, 1, len(v)))
    return (z > 0).astype(np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "work", "formats"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(500)
    X = rows(rng, a.customers)
    np.save(os.path.join(a.out, "X.npy"), X)
    with open(os.path.join(a.out, "profiles.csv"), "w") as fh:
        fh.write("customer_id,region,segment," + ",".join(FEATURES) + "\n")
        for i, r in enumerate(X):
            fh.write(f"{i + 1},r{i % 4},s{i % 3}," + ",".join("" if np.isnan(v) else repr(float(v)) for v in r) + "\n")
    Xt = rows(rng, 60_000)
    yt = labels(rng, Xt)
    t = time.time()
    lg = lgb.LGBMClassifier(n_estimators=TREES, max_depth=DEPTH, num_leaves=1023, learning_rate=0.05, min_child_samples=5,
                            subsample=0.8, subsample_freq=1, random_state=0, verbose=-1, n_jobs=2).fit(Xt, yt)
    lg.booster_.save_model(os.path.join(a.out, "lgb.txt"))
    print(f"lightgbm trained in {time.time() - t:.0f} s")
    t = time.time()
    xg = xgb.XGBClassifier(n_estimators=TREES, max_depth=DEPTH, learning_rate=0.05, subsample=0.8, random_state=0,
                           n_jobs=2, tree_method="hist").fit(Xt, yt)
    xg.get_booster().save_model(os.path.join(a.out, "xgb.json"))
    print(f"xgboost trained in {time.time() - t:.0f} s")
    t = time.time()
    types = [("input", FloatTensorType([None, len(FEATURES)]))]
    for name, m in (("lgb", onnxmltools.convert_lightgbm(lg, initial_types=types, target_opset=15, zipmap=False)),
                    ("xgb", onnxmltools.convert_xgboost(xg, initial_types=types, target_opset=15))):
        with open(os.path.join(a.out, f"{name}.onnx"), "wb") as fh:
            fh.write(m.SerializeToString())
    print(f"converted to ONNX in {time.time() - t:.0f} s")
    manifest = {"customers": a.customers, "features": FEATURES, "trees": TREES, "max_depth": DEPTH, "training_rows": len(Xt),
                "versions": {"lightgbm": lgb.__version__, "xgboost": xgb.__version__, "onnxmltools": onnxmltools.__version__},
                "files": {f: os.path.getsize(os.path.join(a.out, f)) for f in sorted(os.listdir(a.out)) if f != "manifest.json"}}
    with open(os.path.join(a.out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    print(json.dumps(manifest["files"]))


if __name__ == "__main__":
    main()
