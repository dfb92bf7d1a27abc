#!/usr/bin/env python3
"""Generate the XGBoost UBJSON and objective fixtures for the nextbest Swift tests (issue 24).

Writes into <this directory>/models/ (beside make_fixtures.py's files, which it reads but never changes):
  xgb_ubj_binary.ubj     binary:logistic, UBJSON, feature names set, trained with missing values
  xgb_ubj_reg.ubj        reg:logistic (labels are probabilities), UBJSON
  xgb_ubj_logitraw.ubj   binary:logitraw, UBJSON (nextbest scores sigmoid(margin))
  xgb_ubj_noname.ubj     binary:logistic trained on a bare numpy array: no feature names in the file;
                         the manifest lists the names to pass with --feature-names (a subset, reordered)
  xgb_noname.json        the same model as JSON
  expected_<name>.csv    customer_id,propensity for every row of profiles.csv
  xgboost_manifest.json  versions, objectives, formats and features of each model
  profiles.csv.gz        profiles.csv gzip-compressed (for the streamed-input tests)

Expected values are XGBoost's own predictions on the profiles exactly as the store holds them (the CSV
values are float32-rounded; an empty cell is NaN). For binary:logitraw the expected propensity is
sigmoid(predict(output_margin=True)), computed in float64.

Deterministic: fixed numpy seed, single-threaded XGBoost. Requires numpy and xgboost.
Run: python3 Tests/Fixtures/make_xgboost_fixtures.py
"""

import csv
import gzip
import json
import os

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "models")
SEED = 24
N_TRAIN = 2000
MISSING_RATE = 0.1
NONAME_FEATURES = ["credit_score", "age", "balance", "income", "savings_rate"]


def read_profiles():
    """The fixture profiles: (ids, feature names, float32 matrix with NaN for empty cells)."""
    with open(os.path.join(OUT, "profiles.csv"), newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0][3:]
    ids = [r[0] for r in rows[1:]]
    x = np.array([[float(v) if v != "" else np.nan for v in r[3:]] for r in rows[1:]], dtype=np.float32)
    return ids, names, x


def training_set(rng, x):
    """Rows resampled from the fixture profiles with noise and fresh missing cells, and two targets:
    a 0/1 label and a probability (for reg:logistic)."""
    pick = rng.integers(0, len(x), N_TRAIN)
    t = x[pick].astype(np.float64)
    scale = np.nanstd(x.astype(np.float64), axis=0)
    t = t + rng.normal(0, 0.3, t.shape) * scale
    z = np.nan_to_num((t - np.nanmean(t, axis=0)) / np.where(scale > 0, scale, 1))
    logit = 0.9 * z[:, 0] - 0.7 * z[:, 2] + 0.5 * z[:, 9] + 0.4 * z[:, 4] * z[:, 1] - 0.3
    prob = 1 / (1 + np.exp(-logit))
    label = (rng.random(N_TRAIN) < prob).astype(np.float64)
    t[rng.random(t.shape) < MISSING_RATE] = np.nan
    return t.astype(np.float32), label, prob


def train(x, y, objective, names=None, trees=25, depth=4):
    d = xgb.DMatrix(x, label=y, feature_names=names, missing=np.nan, nthread=1)
    params = {"objective": objective, "max_depth": depth, "eta": 0.3, "nthread": 1, "seed": SEED,
              "min_child_weight": 1}
    return xgb.train(params, d, num_boost_round=trees)


def expected(booster, x, names, logitraw=False):
    d = xgb.DMatrix(x, feature_names=names, missing=np.nan, nthread=1)
    if logitraw:
        margin = booster.predict(d, output_margin=True).astype(np.float64)
        return 1 / (1 + np.exp(-margin))
    return booster.predict(d).astype(np.float64)


def write_expected(name, ids, values):
    with open(os.path.join(OUT, f"expected_{name}.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["customer_id", "propensity"])
        for i, v in zip(ids, values):
            w.writerow([i, repr(float(v))])


def main():
    rng = np.random.default_rng(SEED)
    ids, names, x = read_profiles()
    tx, label, prob = training_set(rng, x)
    manifest = {"generator": "make_xgboost_fixtures.py", "xgboost_version": xgb.__version__,
                "numpy_version": np.__version__, "profiles": "profiles.csv", "rows": len(ids), "models": {}}

    def record(name, booster, files, objective, features, feature_names_option, logitraw=False, cols=None):
        for path in files:
            booster.save_model(os.path.join(OUT, path))
        sub = x if cols is None else x[:, cols]
        write_expected(name, ids, expected(booster, sub, None if cols is not None else names, logitraw))
        manifest["models"][name] = {"files": files, "objective": objective, "features": features,
                                    "feature_names_option": feature_names_option,
                                    "expected": f"expected_{name}.csv"}

    record("xgb_ubj_binary", train(tx, label, "binary:logistic", names), ["xgb_ubj_binary.ubj"],
           "binary:logistic", names, None)
    record("xgb_ubj_reg", train(tx, prob, "reg:logistic", names), ["xgb_ubj_reg.ubj"],
           "reg:logistic", names, None)
    record("xgb_ubj_logitraw", train(tx, label, "binary:logitraw", names), ["xgb_ubj_logitraw.ubj"],
           "binary:logitraw", names, None, logitraw=True)
    cols = [names.index(n) for n in NONAME_FEATURES]
    record("xgb_ubj_noname", train(tx[:, cols], label, "binary:logistic", None, trees=15),
           ["xgb_ubj_noname.ubj", "xgb_noname.json"], "binary:logistic", NONAME_FEATURES,
           ",".join(NONAME_FEATURES), cols=cols)

    with open(os.path.join(OUT, "profiles.csv"), "rb") as f, gzip.GzipFile(
            os.path.join(OUT, "profiles.csv.gz"), "wb", compresslevel=9, mtime=0) as g:
        g.write(f.read())

    with open(os.path.join(OUT, "xgboost_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {len(manifest['models'])} models with XGBoost {xgb.__version__} to {OUT}")


if __name__ == "__main__":
    main()
