#!/usr/bin/env python3
"""ONNX fixtures for the operators and split modes added after make_onnx_fixtures.py (issue 24).

Writes into <this directory>/onnx_ops/:
  onnx_norm_{l1,l2,max}.onnx    skl2onnx: [StandardScaler →] Normalizer(norm) → LogisticRegression over the
                                ten numeric columns of onnx/profiles.csv, one input per feature
  onnx_onehot_gb.onnx           skl2onnx: ColumnTransformer(OneHotEncoder on the text columns occupation and
                                gold, SimpleImputer on age, income, balance) → GradientBoostingClassifier, over
                                categorical/profiles.csv (string inputs; import with --categorical branch)
  onnx_lgb_cat.onnx             onnxmltools: LightGBM with num_products as a categorical feature (BRANCH_EQ
                                chains), one tensor input (import with --feature-names)
  onnx_xgb.onnx                 onnxmltools: convert_xgboost of an XGBClassifier with missing values, one
                                tensor input (import with --feature-names)
  refused/onehot_logreg.onnx    OneHotEncoder → LogisticRegression (refused, naming the OneHotEncoder)
  refused/norm_gb.onnx          Normalizer → GradientBoostingClassifier (refused, naming the Normalizer)
  expected_<model>.csv          customer_id,propensity,onnxruntime: the library's predict_proba[:, 1] on the
                                float32-rounded inputs, and onnxruntime's on the same inputs
  manifest.json                 versions, operators, split modes and library/onnxruntime differences

Linear models count a missing feature as 0 in nextbest: their expected values are the library's and
onnxruntime's on the rows with missing values set to 0 (onnxruntime gives NaN otherwise). A missing text
value is given to the library and onnxruntime as the empty string, a category neither saw in training
(handle_unknown="ignore": all one-hot columns 0), which is what nextbest does with an empty cell.
Deterministic (fixed seeds). Requires numpy, scikit-learn, skl2onnx, onnxruntime, onnxmltools, lightgbm,
xgboost, onnx.
"""

import csv
import json
import os

import lightgbm as lgb
import numpy as np
import onnx
import onnxmltools
import onnxruntime as ort
import pandas as pd
import skl2onnx
import sklearn
import xgboost as xgb
from onnxmltools.convert.common.data_types import FloatTensorType as MLFloatTensorType
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, OneHotEncoder, StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "onnx_ops")
NUMERIC = ["age", "income", "balance", "tenure_months", "num_products", "card_spend",
           "savings_rate", "digital_logins", "mortgage_ltv", "credit_score"]
CAT_NUMERIC = ["age", "income", "balance"]
CAT_TEXT = ["occupation", "gold"]
OPSET = {"": 17, "ai.onnx.ml": 3}


def read_numeric():
    with open(os.path.join(HERE, "onnx", "profiles.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    ids = [r["customer_id"] for r in rows]
    X = np.array([[float(r[f]) if r[f] != "" else np.nan for f in NUMERIC] for r in rows], dtype=np.float32)
    return ids, X


def read_categorical():
    ids, rows = [], []
    for name in ("profiles.csv", "profiles_more.csv"):
        with open(os.path.join(HERE, "categorical", name), newline="") as fh:
            for r in csv.DictReader(fh):
                ids.append(r["customer_id"])
                rows.append(r)
    df = pd.DataFrame({c: [r[c] for r in rows] for c in CAT_TEXT})
    for c in CAT_NUMERIC:
        df[c] = np.array([float(r[c]) if r[c] != "" else np.nan for r in rows], dtype=np.float32)
    return ids, df


def label(rng, X):
    v = np.nan_to_num(X.astype(np.float64), nan=0.0)
    z = (-0.5 + 0.01 * (v[:, 9] - 650) + 0.4 * np.log1p(np.abs(v[:, 1]) / 50000) - 0.02 * (v[:, 0] - 45)
         + 0.3 * (v[:, 4] - 3) + 2.0 * (v[:, 6] - 0.2) + 0.8 * (v[:, 8] > 0.8) + rng.normal(0, 0.5, len(v)))
    return (rng.random(len(v)) < 1 / (1 + np.exp(-z))).astype(np.int64)


def resample(rng, X, n, missing):
    rows = X[rng.integers(0, len(X), n)].astype(np.float64)
    rows = np.where(np.isnan(rows), np.nanmedian(X, axis=0), rows)
    rows *= 1 + rng.normal(0, 0.05, rows.shape)
    rows[:, 4] = np.round(rows[:, 4])  # num_products stays an integer category
    if missing:
        rows[rng.random(rows.shape) < 0.05] = np.nan
    return rows.astype(np.float32)


def proba(sess, feeds):
    for o, meta in zip(sess.run(None, feeds), sess.get_outputs()):
        if "prob" in meta.name:
            if isinstance(o, list):
                return np.array([d[1] for d in o], dtype=np.float64)
            return np.asarray(o, dtype=np.float64)[:, 1]
    raise RuntimeError("no probabilities output")


def describe(model):
    ops = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in model.graph.node})
    modes = set()
    for n in model.graph.node:
        for a in n.attribute:
            if a.name == "nodes_modes":
                modes.update(s.decode() for s in a.strings)
    return ops, sorted(modes - {"LEAF"})


def write(name, model, ids, lib, rt, manifest, extra):
    with open(os.path.join(OUT, f"{name}.onnx"), "wb") as fh:
        fh.write(model.SerializeToString())
    with open(os.path.join(OUT, f"expected_{name}.csv"), "w") as fh:
        fh.write("customer_id,propensity,onnxruntime\n")
        for i, p, r in zip(ids, lib, rt):
            fh.write(f"{i},{float(p)!r},{float(r)!r}\n")
    ops, modes = describe(model)
    manifest["models"][name] = dict(extra, file=f"{name}.onnx", expected=f"expected_{name}.csv", operators=ops, modes=modes,
                                    max_abs_library_vs_onnxruntime=float(np.max(np.abs(lib - rt))))
    print(name, manifest["models"][name])


def main():
    os.makedirs(os.path.join(OUT, "refused"), exist_ok=True)
    manifest = {"generator": "make_onnx_ops_fixtures.py", "versions": {
        "scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__, "onnxmltools": onnxmltools.__version__,
        "lightgbm": lgb.__version__, "xgboost": xgb.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
        "numpy": np.__version__}, "models": {}}
    rng = np.random.default_rng(2412)
    ids, X = read_numeric()
    X0 = np.nan_to_num(X, nan=0.0)
    named = [(n, FloatTensorType([None, 1])) for n in NUMERIC]

    # Normalizer → LogisticRegression, each norm (L2 behind a StandardScaler).
    Xt = resample(rng, X, 3000, missing=False)
    yt = label(rng, Xt)
    for norm in ("l1", "l2", "max"):
        steps = ([StandardScaler()] if norm == "l2" else []) + [Normalizer(norm=norm), LogisticRegression(C=5.0, max_iter=5000)]
        est = make_pipeline(*steps).fit(Xt, yt)
        model = to_onnx(est, initial_types=named, target_opset=OPSET)
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        rt = proba(sess, {n: X0[:, [i]] for i, n in enumerate(NUMERIC)})
        write(f"onnx_norm_{norm}", model, ids, est.predict_proba(X0)[:, 1], rt, manifest,
              {"library": [type(s).__name__ for s in steps], "profiles": "onnx/profiles.csv", "missing": "as 0"})

    # LightGBM with a categorical feature through onnxmltools: BRANCH_EQ chains.
    Xm = resample(rng, X, 3000, missing=True)
    ym = label(rng, Xm)
    cat = lgb.LGBMClassifier(n_estimators=25, num_leaves=15, learning_rate=0.15, random_state=0, verbose=-1, n_jobs=1,
                             deterministic=True, force_row_wise=True, min_data_per_group=10, cat_smooth=1,
                             max_cat_to_onehot=2).fit(Xm, ym, categorical_feature=[4])
    model = onnxmltools.convert_lightgbm(cat, initial_types=[("input", MLFloatTensorType([None, len(NUMERIC)]))],
                                         target_opset=15, zipmap=False)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    write("onnx_lgb_cat", model, ids, cat.predict_proba(X)[:, 1], proba(sess, {"input": X}), manifest,
          {"library": "LGBMClassifier(categorical_feature=[num_products])", "profiles": "onnx/profiles.csv",
           "feature_names": NUMERIC})

    # XGBoost through onnxmltools.
    xg = xgb.XGBClassifier(n_estimators=30, max_depth=5, learning_rate=0.2, random_state=0, n_jobs=1,
                           tree_method="hist").fit(Xm, ym)
    model = onnxmltools.convert_xgboost(xg, initial_types=[("input", MLFloatTensorType([None, len(NUMERIC)]))],
                                        target_opset=15)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    write("onnx_xgb", model, ids, xg.predict_proba(X)[:, 1].astype(np.float64), proba(sess, {"input": X}), manifest,
          {"library": "XGBClassifier", "profiles": "onnx/profiles.csv", "feature_names": NUMERIC})

    # OneHotEncoder on text columns + imputed numeric columns → gradient boosting.
    cids, df = read_categorical()
    n = 2000
    pick = rng.integers(0, len(df), n)
    train = df.iloc[pick].reset_index(drop=True).copy()
    for c in CAT_TEXT:  # no empty category in training: an empty cell is an unknown category
        seen = sorted(set(df[c]) - {""})
        train[c] = [v if v != "" else seen[k % len(seen)] for k, v in enumerate(train[c])]
    for c in CAT_NUMERIC:
        train[c] = (train[c].astype(np.float64) * (1 + rng.normal(0, 0.05, n))).astype(np.float32)
    z = (0.04 * (np.nan_to_num(train["age"].to_numpy(np.float64), nan=45) - 45) + 1.2 * (train["gold"] == "yes")
         - 0.9 * train["occupation"].isin(["chef", "pilot"]) + 0.7 * (train["occupation"] == "nurse") + rng.normal(0, 0.6, n))
    y = (z > 0).astype(np.int64)
    ct = ColumnTransformer([("text", OneHotEncoder(handle_unknown="ignore"), CAT_TEXT),
                            ("num", SimpleImputer(strategy="median"), CAT_NUMERIC)])
    est = make_pipeline(ct, GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0)).fit(train, y)
    types = [(c, StringTensorType([None, 1])) for c in CAT_TEXT] + [(c, FloatTensorType([None, 1])) for c in CAT_NUMERIC]
    model = to_onnx(est, initial_types=types, target_opset=OPSET)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {c: df[[c]].to_numpy() for c in CAT_TEXT}
    feeds.update({c: df[[c]].to_numpy(np.float32) for c in CAT_NUMERIC})
    write("onnx_onehot_gb", model, cids, est.predict_proba(df)[:, 1], proba(sess, feeds), manifest,
          {"library": ["ColumnTransformer(OneHotEncoder, SimpleImputer)", "GradientBoostingClassifier"],
           "profiles": "categorical/profiles.csv + profiles_more.csv (import with --categorical branch)"})

    # Refused: one-hot columns in a linear model; a Normalizer in front of trees.
    tr = train.copy()
    for c in CAT_NUMERIC:
        tr[c] = tr[c].fillna(0)
    lr = make_pipeline(ColumnTransformer([("text", OneHotEncoder(handle_unknown="ignore"), CAT_TEXT),
                                          ("num", "passthrough", CAT_NUMERIC)]),
                       LogisticRegression(max_iter=2000)).fit(tr, y)
    gb = make_pipeline(Normalizer(), GradientBoostingClassifier(n_estimators=2, max_depth=2, random_state=0)).fit(Xt, yt)
    refused = {"onehot_logreg": to_onnx(lr, initial_types=types, target_opset=OPSET),
               "norm_gb": to_onnx(gb, initial_types=named, target_opset=OPSET)}
    for name, m in refused.items():
        with open(os.path.join(OUT, "refused", f"{name}.onnx"), "wb") as fh:
            fh.write(m.SerializeToString())
    manifest["refused"] = {k: describe(v)[0] for k, v in refused.items()}
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
