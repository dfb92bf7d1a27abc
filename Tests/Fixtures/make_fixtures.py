#!/usr/bin/env python3
"""Generate model-output fixtures for the nextbest Swift tests.

Writes into <this directory>/models/:
  profiles.csv                  300 fixture rows (customer_id,region,segment,<10 features>)
  xgb_small.json / deep / subset  XGBoost boosters (binary:logistic, JSON format)
  logit_all.json / logit_subset.json  LogisticRegression in our JSON format
  expected_<model>.csv          customer_id,propensity for every fixture row
  manifest.json                 versions and features used by each model

Deterministic: fixed numpy seeds, single-threaded XGBoost.
Requires: numpy, xgboost, scikit-learn.
Feature values are rounded to float32 (the Swift store holds Float32).
A missing feature is an empty CSV cell; XGBoost sees NaN (missing), the
logistic models see 0 (our rule: a missing feature counts as 0).
"""

import csv
import json
import os

import numpy as np
import sklearn
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "models")

FEATURES = [
    "age",
    "income",
    "balance",
    "tenure_months",
    "num_products",
    "card_spend",
    "savings_rate",
    "digital_logins",
    "mortgage_ltv",
    "credit_score",
]
REGIONS = ["north", "south", "east", "west"]
SEGMENTS = ["young", "family", "affluent", "senior"]

XGB_SUBSET = ["credit_score", "age", "balance", "income"]
LOGIT_SUBSET = ["savings_rate", "credit_score", "num_products"]

N_TRAIN = 3000
N_FIXTURE = 300
MISSING_RATE = 0.10


def f32(a):
    """Round to float32 and back to float64 (values exactly representable as Float32)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def draw(rng, n):
    """Draw n synthetic customers. Returns (region, segment, X float64 with NaN, label)."""
    region = rng.integers(0, len(REGIONS), n)
    segment = rng.integers(0, len(SEGMENTS), n)

    age = np.clip(rng.normal(45, 14, n), 18, 90)
    age = np.where(segment == 0, np.clip(age - 15, 18, 90), age)
    age = np.where(segment == 3, np.clip(age + 18, 18, 95), age)
    income = np.exp(rng.normal(10.8, 0.5, n))  # ~ 49k median
    income = np.where(segment == 2, income * 2.5, income)
    balance = np.maximum(0.0, rng.normal(0.15, 0.2, n) * income + rng.normal(2000, 3000, n))
    tenure = np.floor(rng.uniform(0, 360, n))
    num_products = np.clip(rng.poisson(2.0, n) + 1, 1, 8).astype(np.float64)
    card_spend = np.exp(rng.normal(6.5, 0.8, n))  # ~ 665 median per month
    savings_rate = np.clip(rng.beta(2, 8, n), 0, 1)
    logins = rng.poisson(12, n).astype(np.float64)
    logins = np.where(segment == 3, np.floor(logins / 3), logins)
    ltv = np.clip(rng.uniform(0.2, 1.05, n), 0, 1.2)
    ltv = np.where(rng.random(n) < 0.4, 0.0, ltv)  # no mortgage
    credit = np.clip(rng.normal(690, 70, n), 300, 850).round()

    X = np.column_stack(
        [age, income, balance, tenure, num_products, card_spend,
         savings_rate, logins, ltv, credit]
    )
    X = f32(X)

    # Label from the (complete) features plus noise, with some nonlinearity.
    z = (
        -1.0
        + 0.9 * (credit - 690) / 70
        + 0.6 * np.log(income / 50000)
        - 0.02 * (age - 45)
        + 0.25 * (num_products - 3)
        + 3.0 * (savings_rate - 0.2)
        + 0.04 * (logins - 12)
        + 0.8 * (ltv > 0.8)
        + 0.3 * (segment == 2)
        - 0.2 * (region == 1)
        + 0.5 * np.sin(tenure / 40.0)
        + rng.normal(0, 0.7, n)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float64)

    # ~10% of feature cells missing (after the label is drawn).
    miss = rng.random(X.shape) < MISSING_RATE
    X[miss] = np.nan
    return region, segment, X, y


def customer_ids(rng, n):
    """Unique unsigned ids, unsorted; a mix of small, > 2^40 and > 2^53 (< 2^63)."""
    ids = set()
    out = []
    while len(out) < n:
        k = len(out) % 3
        if k == 0:
            v = int(rng.integers(1, 1_000_000))
        elif k == 1:
            v = int(rng.integers(2**40, 2**48))
        else:
            v = int(rng.integers(2**53, 2**63 - 1))
        if v not in ids:
            ids.add(v)
            out.append(v)
    return out


def cell(v):
    return "" if np.isnan(v) else repr(float(np.float32(v)))


def write_expected(name, ids, probs):
    with open(os.path.join(OUT, f"expected_{name}.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["customer_id", "propensity"])
        for cid, p in zip(ids, probs):
            w.writerow([cid, repr(float(p))])


def cols(X, names):
    return X[:, [FEATURES.index(n) for n in names]]


def train_xgb(X, y, names, params, rounds):
    dtrain = xgb.DMatrix(cols(X, names), label=y, missing=np.nan, feature_names=names)
    p = {"objective": "binary:logistic", "seed": 0, "nthread": 1, "tree_method": "hist"}
    p.update(params)
    return xgb.train(p, dtrain, num_boost_round=rounds)


def predict_xgb(booster, X, names):
    d = xgb.DMatrix(cols(X, names), missing=np.nan, feature_names=names)
    return booster.predict(d)


def main():
    os.makedirs(OUT, exist_ok=True)

    _, _, Xtr, ytr = draw(np.random.default_rng(20240601), N_TRAIN)
    reg, seg, Xfx, _ = draw(np.random.default_rng(777), N_FIXTURE)
    ids = customer_ids(np.random.default_rng(4242), N_FIXTURE)

    # Edge rows: row 0 fully missing, row 1 fully present.
    Xfx[0, :] = np.nan
    row1 = draw(np.random.default_rng(1), 50)[2]
    Xfx[1, :] = row1[np.all(~np.isnan(row1), axis=1)][0]

    # ---- XGBoost --------------------------------------------------------
    xgb_specs = {
        "xgb_small": (FEATURES, {"max_depth": 3}, 10),
        "xgb_deep": (FEATURES, {"max_depth": 6, "eta": 0.1, "base_score": 0.2}, 100),
        "xgb_subset": (XGB_SUBSET, {"max_depth": 4, "eta": 0.3}, 20),
    }
    boosters = {}
    for name, (names, params, rounds) in xgb_specs.items():
        boosters[name] = train_xgb(Xtr, ytr, names, params, rounds)

    # Rows 2..9: boundary rows for xgb_small. For a chosen split node, every
    # split on the path from the root is hit EXACTLY: x == threshold where the
    # path goes right (ties go right: "left iff x < threshold"), and x = the
    # next float32 below the threshold where it goes left. Prefer thresholds
    # whose shortest decimal in the JSON is not the exact float32 value, so a
    # Float64 comparison against the parsed text gives a different answer.
    small = json.loads(boosters["xgb_small"].save_raw("json"))
    trees = small["learner"]["gradient_booster"]["model"]["trees"]
    r = 2
    for t in trees:
        if r >= 10:
            break
        parent = {c: i for i, c in enumerate(t["left_children"]) if c != -1}
        parent.update({c: i for i, c in enumerate(t["right_children"]) if c != -1})
        for node in range(len(t["left_children"])):
            if r >= 10:
                break
            thr = t["split_conditions"][node]
            if t["left_children"][node] == -1 or float(np.float32(thr)) == thr:
                continue
            # path: list of (node, go_left) from the root to `node`, then `node` goes right
            path, n = [(node, False)], node
            while n in parent:
                p = parent[n]
                path.append((p, t["left_children"][p] == n))
                n = p
            feats = [t["split_indices"][p] for p, _ in path]
            if len(set(feats)) != len(feats):
                continue
            for p, left in path:
                c = np.float32(t["split_conditions"][p])
                v = np.nextafter(c, np.float32(-np.inf)) if left else c
                Xfx[r, t["split_indices"][p]] = float(v)
            r += 1

    with open(os.path.join(OUT, "profiles.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["customer_id", "region", "segment"] + FEATURES)
        for i in range(N_FIXTURE):
            w.writerow([ids[i], REGIONS[reg[i]], SEGMENTS[seg[i]]] + [cell(v) for v in Xfx[i]])

    manifest = {
        "generator": "make_fixtures.py",
        "xgboost_version": xgb.__version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "profiles": "profiles.csv",
        "rows": N_FIXTURE,
        "features": FEATURES,
        "missing_cells": int(np.isnan(Xfx).sum()),
        "missing_rule": {"xgboost": "NaN (default_left branch)", "logit": "0"},
        "models": {},
    }

    for name, booster in boosters.items():
        names = xgb_specs[name][0]
        booster.save_model(os.path.join(OUT, f"{name}.json"))
        probs = predict_xgb(booster, Xfx, names)
        write_expected(name, ids, probs)
        cfg = json.loads(booster.save_config())
        manifest["models"][name] = {
            "type": "xgboost",
            "file": f"{name}.json",
            "expected": f"expected_{name}.csv",
            "features": names,
            "num_trees": booster.num_boosted_rounds(),
            "params": xgb_specs[name][1],
            "base_score": cfg["learner"]["learner_model_param"]["base_score"],
        }

    # ---- Logistic regression (raw features, missing -> 0) ---------------
    Xtr0 = np.nan_to_num(Xtr, nan=0.0)
    Xfx0 = np.nan_to_num(Xfx, nan=0.0)
    logit_specs = {"logit_all": FEATURES, "logit_subset": LOGIT_SUBSET}
    for name, names in logit_specs.items():
        # newton-cholesky is second order, so it converges on unscaled features.
        m = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=1000, tol=1e-10)
        m.fit(cols(Xtr0, names), ytr)
        assert m.n_iter_[0] < m.max_iter, f"{name} did not converge"
        model = {
            "features": list(names),
            "coefficients": [float(c) for c in m.coef_[0]],
            "intercept": float(m.intercept_[0]),
        }
        with open(os.path.join(OUT, f"{name}.json"), "w") as fh:
            json.dump(model, fh, indent=1)
            fh.write("\n")
        probs = m.predict_proba(cols(Xfx0, names))[:, 1]
        write_expected(name, ids, probs)
        manifest["models"][name] = {
            "type": "logistic_regression",
            "file": f"{name}.json",
            "expected": f"expected_{name}.csv",
            "features": list(names),
            "missing_as": 0.0,
            "C": 1.0,
            "solver": "newton-cholesky",
        }

    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
