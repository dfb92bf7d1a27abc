#!/usr/bin/env python3
"""Generate ONNX model fixtures for the nextbest Swift tests (issue 24, part C).

Writes into <this directory>/onnx/:
  profiles.csv              the 300 customers of models/profiles.csv, float32-rounded (empty cell = missing)
  onnx_<name>.onnx          models converted by skl2onnx / onnxmltools, or exported by CatBoost
  expected_onnx_<name>.csv  customer_id,propensity,onnxruntime: the library's own predict_proba[:, 1] on
                            the float32-rounded inputs, and onnxruntime's probability of class 1 on the
                            same inputs (the second reference)
  refused/*.onnx            models nextbest must refuse (an MLP: MatMul; a multiclass model; a truncated file)
  manifest.json             versions, inputs, operators and the library/onnxruntime difference per model

Models are trained on rows resampled from models/profiles.csv (jittered, label from a fixed formula),
deterministic (fixed seeds). Requires: numpy, scikit-learn, skl2onnx, onnxruntime, onnxmltools, lightgbm,
catboost, onnx.
"""

import csv
import json
import os

import catboost
import lightgbm as lgb
import numpy as np
import onnx
import onnxmltools
import onnxruntime as ort
import skl2onnx
import sklearn
from onnxmltools.convert.common.data_types import FloatTensorType as MLFloatTensorType
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "models", "profiles.csv")
OUT = os.path.join(HERE, "onnx")
NUMERIC = ["age", "income", "balance", "tenure_months", "num_products", "card_spend",
           "savings_rate", "digital_logins", "mortgage_ltv", "credit_score"]
N_TRAIN = 3000


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def read_profiles():
    with open(SRC, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ids = [int(r["customer_id"]) for r in rows]
    meta = [(r["region"], r["segment"]) for r in rows]
    X = np.array([[float(r[f]) if r[f] != "" else np.nan for f in NUMERIC] for r in rows])
    return ids, meta, f32(X)


def training_set(rng, X, missing):
    rows = X[rng.integers(0, len(X), N_TRAIN)].copy()
    rows = np.where(np.isnan(rows), np.nanmedian(X, axis=0), rows)
    rows *= 1 + rng.normal(0, 0.05, rows.shape)
    if missing:
        rows[rng.random(rows.shape) < 0.05] = np.nan
    X = f32(rows)
    v = {f: np.nan_to_num(X[:, i], nan=0.0) for i, f in enumerate(NUMERIC)}
    z = (-0.5 + 0.01 * (v["credit_score"] - 650) + 0.4 * np.log1p(np.abs(v["income"]) / 50000)
         - 0.02 * (v["age"] - 45) + 0.3 * (v["num_products"] - 3) + 2.0 * (v["savings_rate"] - 0.2)
         + 0.8 * (v["mortgage_ltv"] > 0.8) + 0.5 * np.sin(v["tenure_months"] / 40.0) + rng.normal(0, 0.5, N_TRAIN))
    y = (rng.random(N_TRAIN) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return X, y


def named_inputs(names):
    return [(n, FloatTensorType([None, 1])) for n in names]


def ort_proba(model, X, names, one_tensor):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = X.astype(np.float32)
    feeds = {sess.get_inputs()[0].name: x} if one_tensor else {n: x[:, [i]] for i, n in enumerate(names)}
    outs = sess.run(None, feeds)
    for o, meta in zip(outs, sess.get_outputs()):
        if "prob" in meta.name:
            if isinstance(o, list):
                return np.array([d[1] for d in o], dtype=np.float64)
            return np.asarray(o, dtype=np.float64)[:, 1]
    raise RuntimeError("no probabilities output")


def operators(model):
    return sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in model.graph.node})


def main():
    os.makedirs(os.path.join(OUT, "refused"), exist_ok=True)
    ids, meta, X = read_profiles()
    rng = np.random.default_rng(24)
    Xm, ym = training_set(rng, X, missing=True)
    Xc, yc = training_set(rng, X, missing=False)
    names = NUMERIC
    models = {}

    # Gradient boosting behind a median imputer; one input per feature (skl2onnx adds a Concat).
    gb = make_pipeline(SimpleImputer(strategy="median"),
                       GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0)).fit(Xm, ym)
    models["gb"] = (gb, to_onnx(gb, initial_types=named_inputs(names), target_opset={"": 17, "ai.onnx.ml": 3}), False)
    # A random forest behind a constant imputer, one tensor input: its features are named on import with
    # --feature-names. (skl2onnx 1.20 does not carry sklearn's own missing-value routing of a forest
    # trained on NaN, so the forest is given imputed values.)
    rf = make_pipeline(SimpleImputer(strategy="constant", fill_value=-1.0),
                       RandomForestClassifier(n_estimators=12, max_depth=7, random_state=0)).fit(Xm, ym)
    models["rf"] = (rf, to_onnx(rf, initial_types=[("input", FloatTensorType([None, len(names)]))],
                                options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3}), True)
    # Imputer + standard scaler + gradient boosting: Imputer and Scaler in front of trees.
    gbs = make_pipeline(SimpleImputer(strategy="mean"), StandardScaler(),
                        GradientBoostingClassifier(n_estimators=25, max_depth=4, learning_rate=0.2,
                                                   random_state=1)).fit(Xm, ym)
    models["gb_scaled"] = (gbs, to_onnx(gbs, initial_types=named_inputs(names),
                                        target_opset={"": 17, "ai.onnx.ml": 3}), False)
    # Standard scaler + logistic regression (trained and scored on complete rows: see expected_*).
    lr = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(Xc, yc)
    models["logreg"] = (lr, to_onnx(lr, initial_types=named_inputs(names), target_opset={"": 17, "ai.onnx.ml": 3}), False)
    # LightGBM through onnxmltools.
    lg = lgb.LGBMClassifier(n_estimators=30, num_leaves=15, learning_rate=0.1, random_state=0, verbose=-1,
                            n_jobs=1, deterministic=True, force_row_wise=True).fit(Xm, ym)
    models["lgb"] = (lg, onnxmltools.convert_lightgbm(lg, initial_types=[("input", MLFloatTensorType([None, len(names)]))],
                                                      target_opset=15, zipmap=False), True)

    # CatBoost's own ONNX export: BRANCH_GT splits, weights for both classes, one tensor input "features".
    cb = catboost.CatBoostClassifier(iterations=30, depth=4, learning_rate=0.2, random_seed=0, verbose=False, allow_writing_files=False,
                                     thread_count=1).fit(Xm, ym)
    cb_path = os.path.join(OUT, "onnx_catboost.onnx")
    cb.save_model(cb_path, format="onnx")
    models["catboost"] = (cb, onnx.load(cb_path), True)

    manifest = {"generator": "make_onnx_fixtures.py", "versions": {
        "scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__, "onnxmltools": onnxmltools.__version__,
        "lightgbm": lgb.__version__, "catboost": catboost.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__},
        "profiles": "profiles.csv", "rows": len(ids), "features": names, "models": {}}
    write_profiles(ids, meta, X)
    for name, (est, model, one_tensor) in models.items():
        Xs = X if name != "logreg" else np.nan_to_num(X, nan=0.0)
        lib = est.predict_proba(Xs)[:, 1]
        rt = ort_proba(model, X, names, one_tensor)
        both = ~np.isnan(rt)
        path = f"onnx_{name}.onnx"
        with open(os.path.join(OUT, path), "wb") as fh:
            fh.write(model.SerializeToString())
        with open(os.path.join(OUT, f"expected_onnx_{name}.csv"), "w") as fh:
            fh.write("customer_id,propensity,onnxruntime\n")
            for i, p, r in zip(ids, lib, rt):
                fh.write(f"{i},{float(p)!r},{'' if np.isnan(r) else repr(float(r))}\n")
        manifest["models"][f"onnx_{name}"] = {
            "file": path, "expected": f"expected_onnx_{name}.csv", "library": type(est).__name__ if not hasattr(est, "steps") else [type(s).__name__ for _, s in est.steps],
            "one_tensor_input": one_tensor, "operators": operators(model),
            "max_abs_library_vs_onnxruntime": float(np.max(np.abs(lib[both] - rt[both]))),
            "rows_onnxruntime_nan": int((~both).sum())}
        print(name, manifest["models"][f"onnx_{name}"])
    manifest["note"] = ("expected_onnx_logreg.csv: the library's prediction with a missing feature as 0.0 (nextbest's "
                        "rule for linear models); onnxruntime gives NaN for those rows (left empty).")
    refused(X, Xm, ym, rng, names, manifest)
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


def refused(X, Xm, ym, rng, names, manifest):
    Xc = np.nan_to_num(Xm, nan=0.0)
    mlp = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0)).fit(Xc, ym)
    y3 = (ym + (Xc[:, 0] > 50)).astype(np.int64)
    multi = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(Xc, y3)
    out = {"mlp": to_onnx(mlp, initial_types=named_inputs(names), target_opset={"": 17, "ai.onnx.ml": 3}),
           "multiclass": to_onnx(multi, initial_types=[("input", FloatTensorType([None, len(names)]))], target_opset={"": 17, "ai.onnx.ml": 3})}
    for name, model in out.items():
        with open(os.path.join(OUT, "refused", f"{name}.onnx"), "wb") as fh:
            fh.write(model.SerializeToString())
    with open(os.path.join(OUT, "onnx_gb.onnx"), "rb") as fh:
        data = fh.read()
    with open(os.path.join(OUT, "refused", "truncated.onnx"), "wb") as fh:
        fh.write(data[: len(data) * 2 // 3])
    manifest["refused"] = {k: operators(v) for k, v in out.items()}
    manifest["refused"]["truncated"] = "the first two thirds of onnx_gb.onnx"


def write_profiles(ids, meta, X):
    with open(os.path.join(OUT, "profiles.csv"), "w") as fh:
        fh.write("customer_id,region,segment," + ",".join(NUMERIC) + "\n")
        for i, (r, s), row in zip(ids, meta, X):
            fh.write(f"{i},{r},{s}," + ",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


if __name__ == "__main__":
    main()
