#!/usr/bin/env python3
"""Generate LightGBM model fixtures for the nextbest Swift tests.

Writes into <this directory>/lightgbm/:
  profiles.csv            the 300 customers of models/profiles.csv with their 10 features, two
                          integer-coded categorical columns (branch, channel) and edge rows
                          (thresholds hit from both sides as float32, zero and near-zero values,
                          negative / fractional / unseen categories)
  lgb_<name>.txt          LightGBM text models (Booster.save_model), objective binary or cross_entropy
  expected_lgb_<name>.csv customer_id,propensity from booster.predict on the float32-rounded inputs
  refused/*.txt           models nextbest must refuse (multiclass, linear trees, regression)
  manifest.json           versions, parameters and shape (trees, deepest tree, missing types) per model

The models are trained on rows resampled from models/profiles.csv (jittered, label from a fixed
formula), deterministic (fixed seeds, one thread, deterministic=True).
Requires: numpy, lightgbm. A missing feature is an empty CSV cell (NaN for LightGBM).
"""

import csv
import json
import os

import lightgbm as lgb
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "models", "profiles.csv")
OUT = os.path.join(HERE, "lightgbm")

NUMERIC = ["age", "income", "balance", "tenure_months", "num_products", "card_spend",
           "savings_rate", "digital_logins", "mortgage_ltv", "credit_score"]
CATEGORICAL = ["branch", "channel"]
FEATURES = NUMERIC + CATEGORICAL
INTEGER = {"tenure_months", "num_products", "digital_logins", "credit_score"}
N_TRAIN = 4000
BASE = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 0, "deterministic": True,
        "force_row_wise": True}

# name: (features, extra parameters, rounds)
SPECS = {
    "small": (NUMERIC, {"num_leaves": 8, "learning_rate": 0.1, "min_data_in_leaf": 20}, 20),
    "deep": (NUMERIC, {"num_leaves": 63, "max_depth": -1, "learning_rate": 0.1, "min_data_in_leaf": 2,
                       "min_sum_hessian_in_leaf": 1e-6, "min_gain_to_split": 0.0}, 40),
    "cat": (FEATURES, {"num_leaves": 15, "learning_rate": 0.1, "min_data_in_leaf": 10, "min_data_per_group": 10,
                       "cat_smooth": 5, "max_cat_to_onehot": 4, "cat_l2": 1.0}, 30),
    "zero": (NUMERIC, {"num_leaves": 15, "learning_rate": 0.1, "zero_as_missing": True}, 20),
    "nomissing": (NUMERIC, {"num_leaves": 15, "learning_rate": 0.1, "use_missing": False, "sigmoid": 0.7}, 20),
    "rf": (FEATURES, {"boosting": "rf", "num_leaves": 15, "bagging_fraction": 0.7, "bagging_freq": 1,
                      "feature_fraction": 0.8}, 15),
    "xent": (NUMERIC, {"objective": "cross_entropy", "num_leaves": 8, "learning_rate": 0.2}, 10),
}
REFUSED = {
    "multiclass": {"objective": "multiclass", "num_class": 3, "num_leaves": 4},
    "linear": {"linear_tree": True, "num_leaves": 4},
    "regression": {"objective": "regression", "num_leaves": 4},
}


def f32(a):
    """Round to float32 and back to float64 (values exactly representable as Float32)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def read_profiles():
    with open(SRC, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ids = [int(r["customer_id"]) for r in rows]
    meta = [(r["region"], r["segment"]) for r in rows]
    X = np.array([[float(r[f]) if r[f] != "" else np.nan for f in NUMERIC] for r in rows])
    return ids, meta, X


def categories(rng, n):
    branch = rng.integers(0, 12, n).astype(np.float64)
    channel = rng.integers(0, 3, n).astype(np.float64)
    branch[rng.random(n) < 0.05] = np.nan
    return np.column_stack([branch, channel])


def training_set(rng, X):
    """Rows resampled from the fixture profiles, jittered, with a label from a fixed formula."""
    rows = X[rng.integers(0, len(X), N_TRAIN)].copy()
    for j, name in enumerate(NUMERIC):
        col = rows[:, j]
        col *= 1 + rng.normal(0, 0.05, N_TRAIN)
        if name in INTEGER:
            col[:] = np.round(col)
    rows[rng.random(rows.shape) < 0.05] = np.nan
    rows[:, NUMERIC.index("mortgage_ltv")][rng.random(N_TRAIN) < 0.2] = 0.0
    cats = categories(rng, N_TRAIN)
    X = f32(np.column_stack([rows, cats]))
    v = {f: np.nan_to_num(X[:, i], nan=0.0) for i, f in enumerate(FEATURES)}
    z = (-0.5 + 0.01 * (v["credit_score"] - 650) + 0.4 * np.log1p(v["income"] / 50000) - 0.02 * (v["age"] - 45)
         + 0.3 * (v["num_products"] - 3) + 2.0 * (v["savings_rate"] - 0.2) + 0.8 * (v["mortgage_ltv"] > 0.8)
         + 0.6 * np.isin(v["branch"], [2, 5, 7]) - 0.6 * np.isin(v["branch"], [0, 9]) + 0.4 * (v["channel"] == 1)
         + 0.5 * np.sin(v["tenure_months"] / 40.0) + 0.5 * np.isnan(X[:, 1]) + rng.normal(0, 0.5, N_TRAIN))
    y = (rng.random(N_TRAIN) < 1 / (1 + np.exp(-z))).astype(np.float64)
    return X, y


def fixture_rows(rng, X):
    """The 300 fixture customers with categorical columns and edge values."""
    X = np.column_stack([X, categories(rng, len(X))])
    X[0, :] = np.nan
    b, c = FEATURES.index("branch"), FEATURES.index("channel")
    edges = [-1.0, -0.5, 0.7, 11.9, 12.0, 40.0, 1e6, -3.0, 2.0, 5.0]
    for k, v in enumerate(edges):
        X[10 + k, b] = v
        X[20 + k, c] = [-1.0, 0.5, 3.0, 2.0, np.nan, 1.0, -0.5, 7.0, 0.0, 1.9][k]
    # Zero and near-zero values (|v| <= 1e-35 is 0.0 for LightGBM).
    for k, v in enumerate([0.0, 1e-36, -1e-36, 1e-35, -1e-35, 2e-35, -0.0, 1e-38]):
        X[30 + k, [NUMERIC.index("balance"), NUMERIC.index("mortgage_ltv"), NUMERIC.index("savings_rate")]] = v
    return f32(X)


def below(t):
    """The largest float32 <= t (goes left at a `<= t` split)."""
    f = np.float32(t)
    return float(f if float(f) <= t else np.nextafter(f, np.float32(-np.inf)))


def above(t):
    """The smallest float32 > t (goes right)."""
    f = np.float32(t)
    return float(f if float(f) > t else np.nextafter(f, np.float32(np.inf)))


def boundary_rows(X, booster, names, first, last):
    """Rows first..last-1: for numerical splits of the model, every split on the path from the root hit
    from the nearest float32 on the side the path takes. The last split of each path has a threshold
    that rounds up to float32 and is passed on the right by that float (> t in double, == in float32), so a
    float32 comparison would send the row left where LightGBM sends it right."""
    r = first
    for tree in booster.dump_model()["tree_info"]:
        stack = [(tree["tree_structure"], [])]
        while stack and r < last:
            node, path = stack.pop()
            if "split_index" not in node or node["decision_type"] != "<=":
                continue
            feats = [n["split_feature"] for n, _ in path] + [node["split_feature"]]
            if len(set(feats)) == len(feats) and float(np.float32(node["threshold"])) > node["threshold"]:
                for n, left in path + [(node, False)]:
                    X[r, FEATURES.index(names[n["split_feature"]])] = below(n["threshold"]) if left else above(n["threshold"])
                r += 1
            stack.append((node["left_child"], path + [(node, True)]))
            stack.append((node["right_child"], path + [(node, False)]))
        if r >= last:
            break


def train(X, y, names, params, rounds):
    p = dict(BASE)
    p.update(params)
    cats = [names.index(c) for c in CATEGORICAL if c in names]
    d = lgb.Dataset(X[:, [FEATURES.index(n) for n in names]], label=y, feature_name=names,
                    categorical_feature=cats if cats else "auto", free_raw_data=False)
    return lgb.train(p, d, num_boost_round=rounds)


def depth(node):
    if "split_index" not in node:
        return 0
    return 1 + max(depth(node["left_child"]), depth(node["right_child"]))


def shape(booster):
    info = booster.dump_model()["tree_info"]
    kinds = set()
    def walk(n):
        if "split_index" in n:
            kinds.add((n["decision_type"], n["missing_type"], n["default_left"]))
            walk(n["left_child"]); walk(n["right_child"])
    for t in info:
        walk(t["tree_structure"])
    return {"trees": len(info), "max_depth": max(depth(t["tree_structure"]) for t in info),
            "split_kinds": sorted([list(k) for k in kinds])}


def cell(v):
    return "" if np.isnan(v) else repr(float(np.float32(v)))


def main():
    os.makedirs(os.path.join(OUT, "refused"), exist_ok=True)
    ids, meta, X0 = read_profiles()
    Xtr, ytr = training_set(np.random.default_rng(20261206), X0)
    Xfx = fixture_rows(np.random.default_rng(31337), X0)
    boosters = {name: train(Xtr, ytr, names, params, rounds) for name, (names, params, rounds) in SPECS.items()}
    boundary_rows(Xfx, boosters["small"], NUMERIC, 2, 10)
    boundary_rows(Xfx, boosters["deep"], NUMERIC, 40, 60)
    boundary_rows(Xfx, boosters["cat"], FEATURES, 60, 70)

    with open(os.path.join(OUT, "profiles.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["customer_id", "region", "segment"] + FEATURES)
        for i, cid in enumerate(ids):
            w.writerow([cid, meta[i][0], meta[i][1]] + [cell(v) for v in Xfx[i]])

    manifest = {"generator": "make_lightgbm_fixtures.py", "lightgbm_version": lgb.__version__,
                "numpy_version": np.__version__, "profiles": "profiles.csv", "rows": len(ids),
                "features": FEATURES, "categorical": CATEGORICAL, "models": {}}
    for name, booster in boosters.items():
        names = SPECS[name][0]
        booster.save_model(os.path.join(OUT, f"lgb_{name}.txt"))
        probs = booster.predict(Xfx[:, [FEATURES.index(n) for n in names]])
        with open(os.path.join(OUT, f"expected_lgb_{name}.csv"), "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["customer_id", "propensity"])
            for cid, p in zip(ids, probs):
                w.writerow([cid, repr(float(p))])
        manifest["models"][f"lgb_{name}"] = {"file": f"lgb_{name}.txt", "expected": f"expected_lgb_{name}.csv",
                                              "features": names, "params": SPECS[name][1],
                                              "rounds": SPECS[name][2], **shape(booster)}
    for name, params in REFUSED.items():
        booster = train(Xtr, np.floor(ytr * 2.99 * np.random.default_rng(5).random(N_TRAIN)) if name == "multiclass" else ytr,
                        NUMERIC, params, 2)
        booster.save_model(os.path.join(OUT, "refused", f"lgb_{name}.txt"))
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
