#!/usr/bin/env python3
"""The in-memory Python baseline: scoring alone, what a data scientist would write with no I/O at all.

    python_inmemory.py --store S --files F --out RESULT.json [--threads N] [--repeats R]
                       [--nextbest BIN] [--check-models K] [--check-rows N] [--no-check] [--force]

Before any timing: reads every profile of the store into one float32 numpy matrix [customers x features]
(python-lmdb, chunks of 500,000 records, as python_baseline.py reads them), loads the models from F (the
--files directory of `nextbest generate`: m_XXX.logit.json, m_XXX.xgb.json loaded by xgboost.Booster with
nthread = --threads), builds the logistic coefficient matrix, allocates and touches the output matrix
[customers x models] and warms every model up on 1,000 rows.

Timed (time.perf_counter), and nothing else: the propensity of every (customer, model) pair.
  - logistic models: all at once, per block of 65,536 customers: the block with NaN -> 0 (the missing-as-0
    rule of nextbest's logistic format), times a dense float32 [features x logistic models] coefficient
    matrix (one BLAS sgemm with --threads threads; a matrix-vector product per model is the same
    arithmetic, slower), plus the intercepts, sigmoid, into the output matrix;
  - tree models: XGBoost's Booster.inplace_predict(X, missing=NaN) on the whole matrix, one call per
    model, nthread = --threads.
Reported: seconds (logistic, trees, sum), rows x models / s. With --repeats R the best of R per kind.

Then (not timed) the check: --check-models models (default 4: the first and last logistic and tree
models) are scored by `nextbest score --store S --model M` and every customer's propensity (or
--check-rows evenly spaced ones) must be within 1e-5 of this script's (nextbest prints 6 decimals).

Exit status: 0 done; 1 the check failed (RESULT.json is written all the same); 2 usage / input error;
3 did not run (numpy or xgboost missing, or the matrices would not fit in MemAvailable; --force tries).
"""

import argparse
import os
import sys


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--files", required=True, help="directory with campaign.yaml and m_*.xgb.json / m_*.logit.json")
    ap.add_argument("--out", required=True, help="RESULT.json to write")
    ap.add_argument("--threads", type=int, default=2, help="XGBoost nthread and BLAS threads (default 2)")
    ap.add_argument("--repeats", type=int, default=1, help="time the scoring R times, keep the best per kind (default 1)")
    ap.add_argument("--block-rows", type=int, default=65536, help="customers per logistic block (default 65536)")
    ap.add_argument("--nextbest", default=None,
                    help="nextbest binary for the check (default: $NEXTBEST, else .build/release/nextbest)")
    ap.add_argument("--check-models", type=int, default=4, help="models checked against `nextbest score` (default 4)")
    ap.add_argument("--check-rows", type=int, default=0,
                    help="customers compared per checked model, evenly spaced (default 0 = all)")
    ap.add_argument("--no-check", action="store_true", help="skip the check against `nextbest score`")
    ap.add_argument("--force", action="store_true", help="run even if the memory estimate exceeds MemAvailable")
    return ap.parse_args(argv)


ARGS = parse_args(sys.argv[1:])
# BLAS/OpenMP threads must be fixed before numpy is imported.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_v] = str(max(1, ARGS.threads))

import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

try:
    import numpy as np  # noqa: E402
    import xgboost as xgb  # noqa: E402
except ImportError as e:
    print(f"python_inmemory: did not run: {e} (pip install numpy xgboost lmdb pyyaml)", file=sys.stderr)
    sys.exit(3)

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import common  # noqa: E402  (store reader, campaign and model files; shared with python_baseline.py)
except SystemExit as e:  # python-lmdb or PyYAML missing
    print(f"python_inmemory: did not run: {e.code}", file=sys.stderr)
    sys.exit(3)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOLERANCE = 1e-5
LOAD_CHUNK = 500_000


def mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# ----------------------------------------------------------------------------------------------
# Loading (not timed)
# ----------------------------------------------------------------------------------------------

def load_matrix(store):
    """Every profile into one float32 matrix [n, features] (C order, NaN = missing) and the ids, read in
    chunks so that the records' Python objects never all exist at once."""
    env, dbs = common.open_store(store)
    meta = common.read_meta(env, dbs)
    env.close()
    n, nfeat = meta["customers"], len(meta["schema"])
    X = np.empty((n, nfeat), np.float32)
    ids = np.empty(n, np.uint64)
    row, lo = 0, None
    while row < n:
        # Reopened per chunk: the pages LMDB reads through its memory map stay in the RSS while mapped.
        env, dbs = common.open_store(store)
        ids_c, _reg, _seg, Xc = common.load_profiles(env, dbs, nfeat, lo=lo, limit=LOAD_CHUNK)
        env.close()
        k = len(ids_c)
        if k == 0:
            break
        if row + k > n:
            raise SystemExit("the store has more profiles than its entry count: written during the run?")
        X[row:row + k] = Xc
        ids[row:row + k] = ids_c
        row += k
        lo = int(ids_c[-1]) + 1
    if row != n:
        raise SystemExit(f"read {row} profiles, the store counts {n}")
    return meta, ids, X


def prepare_models(files, schema, threads, X):
    """(logistic ids, W float32 [features, L], b float32 [L], tree ids, boosters, per-tree-model inputs).
    A tree model whose features are not the schema in order gets its own column-gathered copy of X here,
    before timing (none does on the generated stores)."""
    camp = common.load_campaign(files)
    order = camp["models_list"]
    models = common.load_models(files, order, schema)
    common.load_boosters(models, threads)
    lids = [m for m in order if models[m]["kind"] == "logistic"]
    tids = [m for m in order if models[m]["kind"] == "trees"]
    W = np.zeros((len(schema), len(lids)), np.float64)
    for j, m in enumerate(lids):
        for c, w in zip(models[m]["cols"], models[m]["coef"]):
            W[c, j] += w
    b = np.array([models[m]["intercept"] for m in lids], np.float64)
    inputs = {}
    gathered = 0
    for m in tids:
        if models[m]["identity"]:
            inputs[m] = X
        else:
            inputs[m] = np.ascontiguousarray(X[:, models[m]["cols"]])
            gathered += 1
    tree_info = {}
    if tids:
        bst = models[tids[0]]["booster"]
        tree_info = {"trees_per_model": int(bst.num_boosted_rounds()), "gathered_inputs": gathered}
        try:
            cfg = json.loads(bst.save_config())
            tree_info["predictor"] = cfg["learner"]["gradient_booster"]["gbtree_train_param"].get("predictor", "auto")
        except (KeyError, ValueError, TypeError):
            pass
    return camp, models, lids, W.astype(np.float32), b.astype(np.float32), tids, inputs, tree_info


# ----------------------------------------------------------------------------------------------
# Scoring (timed)
# ----------------------------------------------------------------------------------------------

def score_logistic(X, W, b, P, block):
    """P[:, :L] = sigmoid(nan_to_0(X) @ W + b), per block of customers (stays in cache)."""
    L = W.shape[1]
    if L == 0:
        return
    n = X.shape[0]
    Xb = np.empty((min(block, n), X.shape[1]), np.float32)
    Z = np.empty((min(block, n), L), np.float32)
    for a in range(0, n, block):
        e = min(n, a + block)
        k = e - a
        xb, z = Xb[:k], Z[:k]
        np.copyto(xb, X[a:e])
        np.nan_to_num(xb, copy=False, nan=0.0)  # a missing feature counts as 0
        np.matmul(xb, W, out=z)
        z += b
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1.0
        np.reciprocal(z, out=z)
        P[a:e, :L] = z


def score_trees(tids, boosters, inputs, P, first_col):
    for j, m in enumerate(tids):
        P[:, first_col + j] = boosters[m].inplace_predict(inputs[m], missing=np.nan, validate_features=False)


# ----------------------------------------------------------------------------------------------
# The check against `nextbest score` (not timed)
# ----------------------------------------------------------------------------------------------

def pick_check_models(lids, tids, k):
    """Up to K models: the first logistic, the first tree model, the last logistic, the last tree model."""
    picks = []
    for group, i in ((lids, 0), (tids, 0), (lids, -1), (tids, -1)):
        if group and group[i] not in picks:
            picks.append(group[i])
    return picks[:max(0, k)]


def read_score_csv(path, rows):
    """(ids uint64, propensities float64) of a `nextbest score` CSV; only the given rows if ROWS is not None."""
    with open(path) as f:
        header = f.readline().strip()
        if header != "customer_id,propensity":
            raise SystemExit(f"unexpected header in {path}: {header!r}")
        lines = f.read().splitlines()
    if rows is not None:
        lines = [lines[i] for i in rows if i < len(lines)]
    ids = np.empty(len(lines), np.uint64)
    p = np.empty(len(lines), np.float64)
    for i, line in enumerate(lines):
        a, c = line.split(",", 1)
        ids[i] = int(a)
        p[i] = float(c)
    return ids, p


def check(args, nb, ids, P, cols, kinds, picks):
    out = {"tolerance": TOLERANCE, "binary": nb, "models": [], "ok": True}
    n = len(ids)
    rows = None
    if args.check_rows and args.check_rows < n:
        rows = np.unique(np.linspace(0, n - 1, args.check_rows).round().astype(np.int64))
    with tempfile.TemporaryDirectory() as tmp:
        for m in picks:
            csv = os.path.join(tmp, m + ".csv")
            t = time.perf_counter()
            r = subprocess.run([nb, "score", "--store", args.store, "--model", m, "--out", csv],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                out["models"].append({"model": m, "kind": kinds[m], "error": (r.stderr.strip().splitlines() or ["?"])[-1]})
                out["ok"] = False
                continue
            nb_ids, nb_p = read_score_csv(csv, rows)
            ours_ids = ids if rows is None else ids[rows]
            ours = P[:, cols[m]] if rows is None else P[rows, cols[m]]
            rec = {"model": m, "kind": kinds[m], "rows": int(len(nb_p)), "seconds": round(time.perf_counter() - t, 2)}
            if len(nb_ids) != len(ours_ids) or not np.array_equal(nb_ids, ours_ids):
                rec["error"] = "customer ids differ from the store's order"
                out["ok"] = False
            else:
                d = float(np.max(np.abs(ours.astype(np.float64) - nb_p))) if len(nb_p) else 0.0
                rec["max_abs_diff"] = d
                rec["ok"] = d < TOLERANCE
                out["ok"] &= rec["ok"]
            out["models"].append(rec)
            print(f"python_inmemory: check {m} ({kinds[m]}): {rec.get('rows')} customers, "
                  + (f"max |python - nextbest| = {rec['max_abs_diff']:.3g}" if "max_abs_diff" in rec else rec.get("error", "?")))
    out["rows_per_model"] = "all" if rows is None else int(len(rows))
    return out


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------

def run(args):
    load_start = os.getloadavg()
    # Memory: X (features x 4 bytes) + P (models x 4) + one tree prediction (4) per customer, a chunk of
    # records while loading (~300 bytes each), ~0.6 GiB of libraries.
    env, dbs = common.open_store(args.store)
    meta0 = common.read_meta(env, dbs)
    env.close()
    camp0 = common.load_campaign(args.files)
    n0, f0, m0 = meta0["customers"], len(meta0["schema"]), len(camp0["models_list"])
    need = n0 * (4 * f0 + 4 * m0 + 4) + LOAD_CHUNK * 300 + int(0.6 * 2 ** 30)
    avail = mem_available()
    if avail is not None and need > 0.9 * avail and not args.force:
        print(f"python_inmemory: did not run: {n0:,} customers x {m0} models need about {need / 2**30:.1f} GiB, "
              f"MemAvailable is {avail / 2**30:.1f} GiB (--force to try anyway)", file=sys.stderr)
        return 3
    nb = None
    if not args.no_check:
        nb = args.nextbest or os.environ.get("NEXTBEST") or os.path.join(REPO, ".build", "release", "nextbest")
        if not os.access(nb, os.X_OK):
            print(f"python_inmemory: no nextbest binary at {nb} for the check (--nextbest BIN or --no-check)",
                  file=sys.stderr)
            return 2

    t0 = time.perf_counter()
    meta, ids, X = load_matrix(args.store)
    t_profiles = time.perf_counter() - t0
    t0 = time.perf_counter()
    camp, models, lids, W, b, tids, inputs, tree_info = prepare_models(args.files, meta["schema"], args.threads, X)
    boosters = {m: models[m]["booster"] for m in tids}
    t_models = time.perf_counter() - t0
    n, L, T = X.shape[0], len(lids), len(tids)
    M = L + T
    t0 = time.perf_counter()
    P = np.empty((n, M), np.float32)
    P.fill(0.0)  # touch every page before timing
    w = min(n, 1000)  # warm-up: first-call setup is not scoring
    Pw = np.empty((w, M), np.float32)
    score_logistic(X[:w], W, b, Pw, args.block_rows)
    score_trees(tids, boosters, {m: a[:w] for m, a in inputs.items()}, Pw, L)
    t_prep = time.perf_counter() - t0
    print(f"python_inmemory: loaded {n:,} customers x {X.shape[1]} features in {t_profiles:.2f} s, {L} logistic + "
          f"{T} tree models in {t_models:.2f} s (not timed)", flush=True)

    best_l = best_t = None
    runs = []
    for _ in range(max(1, args.repeats)):
        t = time.perf_counter()
        score_logistic(X, W, b, P, args.block_rows)
        t1 = time.perf_counter()
        score_trees(tids, boosters, inputs, P, L)
        t2 = time.perf_counter()
        runs.append({"score_logistic": round(t1 - t, 4), "score_trees": round(t2 - t1, 4)})
        best_l = t1 - t if best_l is None else min(best_l, t1 - t)
        best_t = t2 - t1 if best_t is None else min(best_t, t2 - t1)
    score_s = best_l + best_t

    def rate(rows_models, s):
        return round(rows_models / s, 1) if s > 0 and rows_models else None

    result = {
        **common.result_header("python_inmemory", __file__, sys.argv[1:], args),
        "customers": int(n),
        "features": int(X.shape[1]),
        "offers": len(camp["offers"]),
        "models": {"logistic": L, "trees": T},
        "trees": tree_info,
        "method": {"logistic": f"float32 sgemm per block of {args.block_rows} customers, NaN -> 0, sigmoid",
                   "trees": f"xgboost.Booster.inplace_predict(missing=NaN), nthread={args.threads}, one call per model"},
        "repeats": max(1, args.repeats),
        "repeat_timings": runs,
        "timings_seconds": {
            # Only the score_* stages are timed as the baseline; loading is reported, not counted.
            "score_logistic": round(best_l, 4),
            "score_trees": round(best_t, 4),
            "score": round(score_s, 4),
            "total": round(score_s, 4),
            "not_timed_load_profiles": round(t_profiles, 3),
            "not_timed_load_models": round(t_models, 3),
            "not_timed_prepare_and_warm_up": round(t_prep, 3),
        },
        "rows_models": int(n * M),
        "rows_models_per_s": rate(n * M, score_s),
        "logistic_rows_models_per_s": rate(n * L, best_l),
        "trees_rows_models_per_s": rate(n * T, best_t),
    }
    print(f"python_inmemory: scored {n:,} customers x {M} models in {score_s:.3f} s (logistic {best_l:.3f} s, "
          f"trees {best_t:.3f} s): {result['rows_models_per_s'] or 0:,.0f} rows x models / s", flush=True)
    status = 0
    if not args.no_check:
        cols = {m: j for j, m in enumerate(lids + tids)}
        kinds = {m: models[m]["kind"] for m in lids + tids}
        result["check"] = check(args, nb, ids, P, cols, kinds, pick_check_models(lids, tids, args.check_models))
        if not result["check"]["ok"]:
            print("python_inmemory: check FAILED: propensities differ from `nextbest score` by 1e-5 or more "
                  "(see RESULT.json check)", file=sys.stderr)
            status = 1
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["loadavg_1m_start_end"] = [round(load_start[0], 2), round(os.getloadavg()[0], 2)]
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(tmp, args.out)
    return status


if __name__ == "__main__":
    if ARGS.threads < 1 or ARGS.repeats < 1 or ARGS.block_rows < 1:
        print("python_inmemory.py: --threads, --repeats and --block-rows must be at least 1", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(run(ARGS))
    except SystemExit as e:
        if isinstance(e.code, str):  # an input error raised as SystemExit("reason")
            print(f"python_inmemory.py: {e.code}", file=sys.stderr)
            sys.exit(2)
        raise
