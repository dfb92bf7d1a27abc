#!/usr/bin/env python3
"""Per-core speed of nextbest's evaluation of each model format next to the format's own library.

For each model of bench/work/formats/ (bench/make_format_models.py: 500 trees of depth 10, 20 features,
200,000 customers by default), on the same rows held in memory, one thread each:
  nextbest      `nextbest bench-kernels --store S --model ID --threads 1` (the block path the scoring loop
                runs, no store reads; fastest of --repeats)
  library       LightGBM `Booster.predict(X, num_threads=1)`; XGBoost `inplace_predict(X)` with nthread=1;
                onnxruntime `InferenceSession.run` with intra_op_num_threads=1 (fastest of --repeats)
and prints rows·models per second per core for each, their ratio, and the largest difference between the
two sets of propensities' sums (a sanity check that both evaluated the same model on the same rows; the
per-customer agreement is what the fixture tests check).

Usage: bench/formats.py [--bin PATH] [--customers N] [--repeats R] [--work DIR]
The release binary is built with `swift build -c release --product nextbest`. Times are not asserted
anywhere; record them in bench/RESULTS.md with the command and the date.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = [  # id, file, import format, library
    ("lgb", "lgb.txt", "lightgbm", "lightgbm"),
    ("xgb", "xgb.json", "xgboost-json", "xgboost"),
    ("lgb_onnx", "lgb.onnx", "onnx", "onnxruntime"),
    ("xgb_onnx", "xgb.onnx", "onnx", "onnxruntime"),
]


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def best_of(repeats, f):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def library(kind, path, X, repeats):
    if kind == "lightgbm":
        import lightgbm as lgb
        b = lgb.Booster(model_file=path)
        return best_of(repeats, lambda: b.predict(X, num_threads=1))
    if kind == "xgboost":
        import xgboost as xgb
        b = xgb.Booster(model_file=path)
        b.set_param({"nthread": 1})
        return best_of(repeats, lambda: b.inplace_predict(X))
    import onnxruntime as ort
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name

    def predict():
        outs = s.run(None, {name: X})
        for o_, meta in zip(outs, s.get_outputs()):
            if "prob" in meta.name:
                return np.asarray(o_)[:, 1]
        raise RuntimeError("no probabilities output")
    return best_of(repeats, predict)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", ".build", "release", "nextbest"))
    ap.add_argument("--work", default=os.path.join(HERE, "work", "formats"))
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.work, "manifest.json")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_format_models.py"), "--out", a.work,
                        "--customers", str(a.customers)], check=True)
    manifest = json.load(open(os.path.join(a.work, "manifest.json")))
    names = ",".join(manifest["features"])
    X = np.load(os.path.join(a.work, "X.npy"))[: a.customers]
    store = os.path.join(a.work, "store")
    if not os.path.exists(store):
        run([a.bin, "import", "profiles", os.path.join(a.work, "profiles.csv"), "--store", store])
        for mid, file, fmt, _ in MODELS:
            extra = ["--feature-names", names]  # trained on numpy arrays: Column_0…, f0…
            run([a.bin, "import", "model", os.path.join(a.work, file), "--id", mid, "--format", fmt, *extra, "--store", store])
    rows = []
    for mid, file, fmt, lib in MODELS:
        nb = json.loads(run([a.bin, "bench-kernels", "--store", store, "--model", mid, "--threads", "1",
                             "--customers", str(len(X)), "--repeats", str(a.repeats)]))
        seconds, p = library(lib, os.path.join(a.work, file), X, a.repeats)
        n = nb["customers"]
        ours = nb["result"]["rows_models_per_s_per_core"]
        theirs = len(X) / seconds
        rows.append((mid, fmt, lib, n, ours, theirs, abs(nb["result"]["checksum"] - float(np.sum(p, dtype=np.float64))) / n))
    print(f"{len(X)} customers x 1 model, 500 trees of depth <= 10, 20 features, one thread each "
          f"(nextbest: bench-kernels --model; kernel {nb['tree_kernel']})")
    print()
    print("| model | nextbest format | library | nextbest rows·models/s/core | library rows/s/core | nextbest ÷ library | mean abs diff of propensity sums |")
    print("|---|---|---|---:|---:|---:|---:|")
    for mid, fmt, lib, n, ours, theirs, diff in rows:
        print(f"| {mid} | `{fmt}` | {lib} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}× | {diff:.1e} |")


if __name__ == "__main__":
    main()
