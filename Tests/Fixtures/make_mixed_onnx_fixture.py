#!/usr/bin/env python3
"""An ONNX model for the mixed-format campaign over the categorical fixtures (Tests/Fixtures/categorical/).

Writes categorical/onnx_numeric.onnx: scikit-learn SimpleImputer + GradientBoostingClassifier over the
numeric columns age, income and balance of categorical/profiles.csv (float32-rounded, as the store holds
them), exported with skl2onnx (one input per feature), and categorical/expected_onnx_numeric.csv: the
library's predict_proba[:, 1] and onnxruntime's, for every customer of profiles.csv and profiles_more.csv.
Deterministic (fixed seeds). Requires numpy, scikit-learn, skl2onnx, onnxruntime.
"""
import csv
import os

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "categorical")
NAMES = ["age", "income", "balance"]


def read(path):
    ids, rows = [], []
    with open(path) as fh:
        for r in csv.DictReader(fh):
            ids.append(r["customer_id"])
            rows.append([float(r[n]) if r[n] != "" else np.nan for n in NAMES])
    return ids, np.asarray(rows, dtype=np.float32)


def main():
    ids, X = read(os.path.join(DIR, "profiles.csv"))
    more_ids, more = read(os.path.join(DIR, "profiles_more.csv"))
    rng = np.random.default_rng(31)
    # A target that depends on all three columns, with noise; missing values stay missing.
    filled = np.nan_to_num(X.astype(np.float64), nan=0.0)
    score = 0.04 * (filled[:, 0] - 45) + 2e-5 * (filled[:, 1] - 40000) + 1e-4 * filled[:, 2] + rng.normal(0, 1, len(X))
    y = (score > 0).astype(int)
    model = make_pipeline(SimpleImputer(strategy="median"),
                          GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0)).fit(X, y)
    onx = to_onnx(model, initial_types=[(n, FloatTensorType([None, 1])) for n in NAMES],
                  target_opset={"": 17, "ai.onnx.ml": 3})
    path = os.path.join(DIR, "onnx_numeric.onnx")
    with open(path, "wb") as fh:
        fh.write(onx.SerializeToString())
    allX = np.vstack([X, more])
    lib = model.predict_proba(allX)[:, 1]
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outs = sess.run(None, {n: allX[:, [k]] for k, n in enumerate(NAMES)})
    probs = outs[1]
    rt = [p[1] for p in probs] if isinstance(probs[0], dict) else probs[:, 1]
    with open(os.path.join(DIR, "expected_onnx_numeric.csv"), "w") as fh:
        fh.write("customer_id,propensity,onnxruntime\n")
        for i, cid in enumerate(ids + more_ids):
            fh.write(f"{cid},{lib[i]:.9g},{float(rt[i]):.9g}\n")
    print("onnx_numeric: max |library - onnxruntime|", float(np.max(np.abs(lib - np.asarray(rt, dtype=np.float64)))))


if __name__ == "__main__":
    main()
