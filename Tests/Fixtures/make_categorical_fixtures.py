#!/usr/bin/env python3
"""Generate fixtures for categorical (text) profile columns and models that split on them.

Writes into <this directory>/categorical/:
  profiles.csv             300 customers: customer_id,region,segment, numeric age,income,balance and text
                           occupation (auto-detected: non-numeric), gold (yes/no) and branch (numeric-looking
                           codes "101", "205", …, imported with --categorical branch); empty cells are
                           missing, some values were never seen in training ("astronaut", branch "999")
  profiles_more.csv        40 more customers (a second import: adds the value "diver" to occupation)
  lgb_text.txt             LightGBM, trained on a pandas DataFrame with category columns (pandas_categorical)
  xgb_text.json/.ubj       XGBoost hist, enable_categorical, partition splits (max_cat_to_onehot=1)
  xgb_onehot.json          XGBoost hist, enable_categorical, one-hot splits (max_cat_to_onehot=16)
  logistic.json            a logistic model on the numeric columns (nextbest's logistic-json format)
  expected_<model>.csv     customer_id,propensity for the customers of profiles.csv then profiles_more.csv,
                           from the library's own predict on the float32-rounded inputs
  manifest.json            library versions and the models' parameters

Unseen values: LightGBM's predict on a DataFrame maps a category the model never saw to NaN (so its
prediction is the library's own). XGBoost 3.x refuses such a row; its expected value is XGBoost's
prediction with the category given as a code past the model's categories (its rule before re-coding: a
category outside a split's set goes left), computed by the library from codes.
Requires: numpy, pandas, lightgbm, xgboost. Deterministic (fixed seeds, one thread).
"""

import csv
import json
import os

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "categorical")
NUMERIC = ["age", "income", "balance"]
TEXT = ["occupation", "gold", "branch"]
FEATURES = NUMERIC + TEXT
OCCUPATIONS = ["clerk", "nurse", "pilot", "chef", "teacher", "engineer", "farmer"]
BRANCHES = ["101", "205", "330", "412", "57"]
N_TRAIN = 3000


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def draw(rng, n, unseen):
    """A DataFrame of n customers (object columns for the text, NaN missing)."""
    df = pd.DataFrame({
        "age": f32(np.round(rng.uniform(18, 80, n))),
        "income": f32(rng.lognormal(10.5, 0.5, n)),
        "balance": f32(rng.normal(5000, 3000, n)),
        "occupation": rng.choice(OCCUPATIONS + (["astronaut"] if unseen else []), n).astype(object),
        "gold": rng.choice(["yes", "no"], n).astype(object),
        "branch": rng.choice(BRANCHES + (["999"] if unseen else []), n).astype(object),
    })
    for c in FEATURES:
        df.loc[rng.random(n) < 0.06, c] = np.nan
    return df


def label(rng, df):
    occ = df["occupation"].fillna("")
    z = (-0.3 + 0.02 * (df["age"].fillna(45) - 45) + 0.6 * np.log(df["income"].fillna(36000) / 36000)
         + 1.2 * occ.isin(["nurse", "teacher"]) - 0.9 * occ.isin(["pilot"]) + 0.5 * (occ == "farmer")
         + 0.8 * (df["gold"] == "yes") - 0.5 * df["gold"].isna()
         + 0.7 * df["branch"].isin(["205", "57"]) - 0.4 * (df["branch"] == "412") + rng.normal(0, 0.4, len(df)))
    return (rng.random(len(df)) < 1 / (1 + np.exp(-z))).astype(np.float64)


def as_categories(df, categories=None):
    """The text columns as pandas category columns (the training categories when given)."""
    out = df.copy()
    for c in TEXT:
        if categories is None:
            out[c] = pd.Categorical(df[c])
        else:  # a value the model never saw is missing, as LightGBM's predict makes it
            out[c] = pd.Categorical(df[c].where(df[c].isin(categories[c])), categories=categories[c])
    return out


def xgb_codes(df, categories):
    """The inputs as XGBoost codes: a category's position among the model's, an unseen one past them."""
    X = df[NUMERIC].to_numpy(dtype=np.float64)
    cols = [X]
    for c in TEXT:
        known = {v: i for i, v in enumerate(categories[c])}
        cols.append(np.array([[np.nan if pd.isna(v) else known.get(v, len(known))] for v in df[c]]))
    return np.column_stack(cols)


def write_profiles(path, ids, df, rng):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["customer_id", "region", "segment"] + FEATURES)
        for i, cid in enumerate(ids):
            row = df.iloc[i]
            cells = [("" if pd.isna(row[c]) else repr(float(np.float32(row[c])))) for c in NUMERIC]
            cells += [("" if pd.isna(row[c]) else row[c]) for c in TEXT]
            w.writerow([cid, rng.choice(["north", "south", "east"]), rng.choice(["mass", "affluent"])] + cells)


def write_expected(name, ids, p):
    with open(os.path.join(OUT, f"expected_{name}.csv"), "w") as fh:
        fh.write("customer_id,propensity\n")
        for cid, v in zip(ids, p):
            fh.write(f"{cid},{float(v):.9g}\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(24)
    train = draw(rng, N_TRAIN, unseen=False)
    y = label(rng, train)
    tcat = as_categories(train)
    cats = {c: list(tcat[c].cat.categories) for c in TEXT}

    lgb_params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 0, "deterministic": True,
                  "num_leaves": 15, "learning_rate": 0.1, "min_data_per_group": 20, "max_cat_to_onehot": 4,
                  "cat_smooth": 5, "force_row_wise": True}
    booster = lgb.train(lgb_params, lgb.Dataset(tcat, y), 30)
    booster.save_model(os.path.join(OUT, "lgb_text.txt"))

    dtrain = xgb.DMatrix(tcat, y, enable_categorical=True)
    xgb_models = {}
    for name, onehot, rounds in [("xgb_text", 1, 25), ("xgb_onehot", 16, 15)]:
        params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4, "eta": 0.2,
                  "max_cat_to_onehot": onehot, "nthread": 1, "seed": 0}
        bst = xgb.train(params, dtrain, rounds)
        bst.save_model(os.path.join(OUT, f"{name}.json"))
        xgb_models[name] = (bst, params)
    xgb_models["xgb_text"][0].save_model(os.path.join(OUT, "xgb_text.ubj"))

    coef = [0.015, 0.00001, -0.00004]
    with open(os.path.join(OUT, "logistic.json"), "w") as fh:
        json.dump({"features": NUMERIC, "coefficients": coef, "intercept": -0.4}, fh)

    first = draw(rng, 300, unseen=True)
    more = draw(rng, 40, unseen=True)
    more.loc[::5, "occupation"] = "diver"
    ids1 = [1000 + 7 * i for i in range(300)]
    ids2 = [5000 + 3 * i for i in range(40)]
    write_profiles(os.path.join(OUT, "profiles.csv"), ids1, first, rng)
    write_profiles(os.path.join(OUT, "profiles_more.csv"), ids2, more, rng)

    every = pd.concat([first, more], ignore_index=True)
    ids = ids1 + ids2
    write_expected("lgb_text", ids, booster.predict(as_categories(every, cats)))
    for name, (bst, _) in xgb_models.items():
        codes = xgb_codes(every, cats)
        d = xgb.DMatrix(codes, feature_names=FEATURES, feature_types=["float"] * 3 + ["c"] * 3, enable_categorical=True)
        p = bst.predict(d)
        seen = np.array([all(pd.isna(v) or v in cats[c] for c, v in zip(TEXT, every.loc[i, TEXT])) for i in range(len(every))])
        direct = bst.predict(xgb.DMatrix(as_categories(every[seen].reset_index(drop=True), cats), enable_categorical=True))
        assert np.max(np.abs(direct - p[seen])) < 1e-7, name
        write_expected(name, ids, p)
    x = every[NUMERIC].to_numpy(dtype=np.float64)
    z = -0.4 + np.nansum(np.where(np.isnan(x), 0.0, x) * np.array(coef), axis=1)
    write_expected("logistic", ids, 1 / (1 + np.exp(-z)))

    manifest = {"lightgbm": lgb.__version__, "xgboost": xgb.__version__, "pandas": pd.__version__,
                "numpy": np.__version__, "categories": cats,
                "lgb_text": lgb_params, **{k: v[1] for k, v in xgb_models.items()}}
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
