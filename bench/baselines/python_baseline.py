#!/usr/bin/env python3
"""The Python baseline: what a data scientist would write with numpy and XGBoost, on a nextbest store.

    python_baseline.py --store S --files F --out RESULT.json [--threads N] [--chunk-customers C]
                       [--kernel-customers K] [--reference SUMMARY.json] [--order objective|ratio]
                       [--no-min-first] [--no-kernels] [--lp [--lp-max-customers N]] [--force]
    python_baseline.py --check --store S --files F [--nextbest BIN] [--threads N] [--check-customers K]

Reads the store with python-lmdb in chunks of --chunk-customers customers (default 500,000; each chunk's
profiles into one float32 matrix), the campaign and the model files from F (the --files directory of
`nextbest generate`), scores every model on the chunk (numpy for the logistic models, XGBoost's
Booster.inplace_predict for the tree ensembles), applies the fatigue and channel rules, and keeps only
the compact candidate arrays (common.compact_candidates: 19 bytes a candidate); then allocates with a
greedy that honours every per-customer limit, the budget and every max (see common.greedy_allocate);
min constraints are tried first and reported if still unmet. Stage timings are summed over the chunks.
Writes RESULT.json (see README.md in this directory for the fields).

--check: scores the first tree model and the first logistic model of the campaign with
`nextbest score` and asserts max |difference| < 1e-5 against this script's scoring, then checks that the
vectorised greedy chooses exactly what a plain Python loop of the same greedy chooses on the first K
customers (caps scaled to them); exit 1 if anything differs.

Exit status: 0 done, 1 check failed, 2 usage / input error, 3 did not run: the run would not fit in
MemAvailable (estimate from the customers x offers and the chunk size; --force to try anyway).
"""

import argparse
import os
import sys


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--files", required=True, help="directory with campaign.yaml and m_*.xgb.json / m_*.logit.json")
    ap.add_argument("--out", help="RESULT.json to write (required unless --check)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="threads for XGBoost and BLAS (default: the cores)")
    ap.add_argument("--kernel-customers", type=int, default=200000,
                    help="customers for the single-core kernel measurement (default 200000)")
    ap.add_argument("--no-kernels", action="store_true", help="skip the single-core kernel measurement")
    ap.add_argument("--reference", help="nextbest summary.json of the same store: adds objective ratio etc.")
    ap.add_argument("--order", choices=["objective", "ratio"], default="objective",
                    help="greedy order: objective descending (default) or objective per unit of cost")
    ap.add_argument("--no-min-first", action="store_true", help="skip the min-constraint phases of the greedy")
    ap.add_argument("--lp", action="store_true",
                    help="also solve the LP relaxation with HiGHS (bench/tools/lp_optimum.py); small stores only")
    ap.add_argument("--lp-max-customers", type=int, default=20000)
    ap.add_argument("--chunk-customers", type=int, default=500000,
                    help="customers loaded and scored at a time (default 500000)")
    ap.add_argument("--dump-chosen", help=argparse.SUPPRESS)  # npz of the chosen offers, for comparisons
    ap.add_argument("--force", action="store_true",
                    help="run even if the estimated memory exceeds MemAvailable (otherwise exit 3)")
    ap.add_argument("--check", action="store_true", help="compare scoring with `nextbest score` and exit")
    ap.add_argument("--check-customers", type=int, default=20000,
                    help="customers for --check's greedy-vs-plain-loop comparison (default 20000)")
    ap.add_argument("--nextbest", default=None, help="nextbest binary for --check (default: .build/release/nextbest)")
    ap.add_argument("--kernel-only", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


ARGS = parse_args(sys.argv[1:])
# BLAS/OpenMP threads must be fixed before numpy is imported.
_threads = "1" if ARGS.kernel_only else str(max(1, ARGS.threads))
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_v] = _threads

import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def load_all(args, timer, limit=None):
    with timer.section("load_profiles"):
        env, dbs = common.open_store(args.store)
        meta = common.read_meta(env, dbs)
        ids, region, segment, X = common.load_profiles(env, dbs, len(meta["schema"]), limit=limit)
        meta["customers_loaded"] = len(ids)
    with timer.section("load_models"):
        camp = common.load_campaign(args.files)
        models = common.load_models(args.files, camp["models_list"], meta["schema"])
        if any(m["kind"] == "trees" for m in models.values()):
            common.load_boosters(models, 1 if args.kernel_only else args.threads)
    return env, dbs, meta, ids, region, segment, X, camp, models


# ----------------------------------------------------------------------------------------------
# Single-core kernels (run in a subprocess with every thread count at 1)
# ----------------------------------------------------------------------------------------------

def kernel_only(args):
    timer = common.Timer()
    env, dbs, meta, ids, region, segment, X, camp, models = load_all(args, timer, limit=args.kernel_customers)
    order = camp["models_list"]
    tree_ids = [m for m in order if models[m]["kind"] == "trees"]
    logit_ids = [m for m in order if models[m]["kind"] == "logistic"]
    n = X.shape[0]
    out = {"customers": n, "tree_models": len(tree_ids), "logistic_models": len(logit_ids),
           "threads": 1}
    # Warm-up on a few rows (first-call setup is not the kernel).
    common.score_trees(X[:1000], models, order)
    common.score_logistic(X[:1000], models, order)
    if tree_ids:
        t = time.perf_counter()
        common.score_trees(X, models, order)
        dt = time.perf_counter() - t
        out["trees_seconds"] = round(dt, 4)
        out["trees_rows_models_per_s_per_core"] = round(n * len(tree_ids) / dt, 1)
        ntrees = 0
        for m in tree_ids:
            ntrees += int(models[m]["booster"].num_boosted_rounds())
        out["trees_per_model_avg"] = round(ntrees / len(tree_ids), 1)
        out["trees_rows_trees_per_s_per_core"] = round(n * ntrees / dt, 1)
    if logit_ids:
        best = None
        for _ in range(3):
            t = time.perf_counter()
            common.score_logistic(X, models, order)
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        out["logistic_seconds"] = round(best, 4)
        out["logistic_rows_models_per_s_per_core"] = round(n * len(logit_ids) / best, 1)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


def measure_kernels(args):
    cmd = [sys.executable, os.path.abspath(__file__), "--kernel-only", "--store", args.store,
           "--files", args.files, "--kernel-customers", str(args.kernel_customers), "--threads", "1"]
    env = dict(os.environ)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        env[v] = "1"
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout).strip()[-2000:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# --check: scoring equals `nextbest score`
# ----------------------------------------------------------------------------------------------

def check(args):
    nb = args.nextbest or os.path.join(REPO, ".build", "release", "nextbest")
    if not os.path.exists(nb):
        print(f"check: no nextbest binary at {nb} (give --nextbest)", file=sys.stderr)
        return 2
    timer = common.Timer()
    env, dbs, meta, ids, region, segment, X, camp, models = load_all(args, timer)
    order = camp["models_list"]
    P = common.score_all(X, models, order, timer)
    picks = []
    for kind in ("trees", "logistic"):
        ms = [m for m in order if models[m]["kind"] == kind]
        if ms:
            picks.append(ms[0])
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for m in picks:
            out = os.path.join(tmp, m + ".csv")
            r = subprocess.run([nb, "score", "--store", args.store, "--model", m, "--out", out],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"check: nextbest score failed for {m}: {r.stderr.strip()}", file=sys.stderr)
                return 2
            data = np.loadtxt(out, delimiter=",", skiprows=1, dtype=np.float64)
            nb_ids = data[:, 0].astype(np.uint64)
            # customer ids up to 2^53 survive float64; compare ids exactly via the text otherwise
            if len(nb_ids) != len(ids) or not np.array_equal(nb_ids, ids):
                with open(out) as f:
                    next(f)
                    nb_ids = np.array([int(line.split(",", 1)[0]) for line in f], np.uint64)
                if not np.array_equal(nb_ids, ids):
                    print(f"check: {m}: customer ids differ from the store's", file=sys.stderr)
                    failed = True
                    continue
            ours = P[:, order.index(m)].astype(np.float64)
            diff = np.abs(ours - data[:, 1])
            worst = float(diff.max()) if len(diff) else 0.0
            ok = worst < 1e-5
            failed |= not ok
            print(f"check: {m} ({models[m]['kind']}): {len(ids)} customers, max |python - nextbest| = "
                  f"{worst:.3g} ({'ok' if ok else 'FAIL'}; nextbest prints 6 decimals)")
    # The vectorised greedy against a plain loop, on the first --check-customers customers.
    k = min(len(ids), args.check_customers)
    win = common.fatigue_window(camp)
    offer_index = {o["id"].encode(): i for i, o in enumerate(camp["offers"])}
    sub_ids = ids[:k]
    counts = common.ignored_counts(env, dbs, sub_ids, offer_index, win[0], win[1]) if win else None
    C, _ = common.candidates(P[:k], X[:k], camp, meta["schema"], counts, order)
    reg, seg = region[:k], segment[:k]
    # Caps scaled to the subset so that they bind as they do on the whole store.
    scale = k / max(1, len(ids))
    sub = dict(camp)
    if camp["budget"] is not None:
        sub["budget"] = round(camp["budget"] * scale, 2)
    for kind, _ in common.KINDS:
        sub[kind] = {n: {"min": None if b["min"] is None else int(b["min"] * scale),
                         "max": None if b["max"] is None else int(b["max"] * scale)}
                     for n, b in camp[kind].items()}
    S, _, _ = common.compact_candidates(C, 0, sub)
    fast, _ = common.greedy_allocate(S, sub, meta, reg, seg, k, slice_candidates=1 << 16)  # several slices
    slow = common.greedy_reference(C, sub, meta, reg, seg, k)
    same = (np.array_equal(fast["row"], C["row"][slow]) and
            np.array_equal(fast["pair"].astype(np.int64), C["pair"][slow].astype(np.int64)))
    failed |= not same
    fast_obj = common.selection_columns(fast, sub, reg, seg)["obj"].sum()
    print(f"check: greedy (vectorised) vs plain loop on {k} customers, caps scaled by {scale:.4g}: "
          f"{len(fast['row'])} vs {len(slow)} chosen, objective {fast_obj:.4f} vs "
          f"{C['obj'][slow].sum():.4f} ({'identical' if same else 'DIFFERENT'})")
    return 1 if failed else 0


# ----------------------------------------------------------------------------------------------
# Optional LP (HiGHS) on small stores
# ----------------------------------------------------------------------------------------------

def solve_lp(args, C, camp, meta, region, segment, ids):
    if len(ids) > args.lp_max_customers:
        return {"skipped": f"{len(ids)} customers > --lp-max-customers {args.lp_max_customers}"}
    tool = os.path.join(REPO, "bench", "tools", "lp_optimum.py")
    offers = camp["offers"]
    with tempfile.TemporaryDirectory() as tmp:
        cand = os.path.join(tmp, "candidates.csv")
        with open(cand, "w") as f:
            f.write("customer_id,region,segment,offer_id,product,family,channel,cost,objective\n")
            for i in range(len(C["row"])):
                r = int(C["row"][i])
                o = offers[int(C["offer"][i])]
                f.write(f"{int(ids[r])},{meta['regions'][region[r]]},{meta['segments'][segment[r]]},{o['id']},"
                        f"{o['product']},{o['family']},{camp['channels_list'][int(C['channel'][i])]},"
                        f"{C['cost_micro'][i] / common.MICRO:.6f},{C['obj'][i]:.10g}\n")
        cons = {"max_offers": camp["max_offers"], "max_per_family": camp["max_per_family"],
                "budget": camp["budget"]}
        for kind, _ in common.KINDS:
            cons[kind] = camp[kind]
        cj = os.path.join(tmp, "constraints.json")
        with open(cj, "w") as f:
            json.dump(cons, f)
        out = os.path.join(tmp, "lp.json")
        t = time.perf_counter()
        r = subprocess.run([sys.executable, tool, cand, cj, out, "--threads", str(args.threads)],
                           capture_output=True, text=True)
        dt = time.perf_counter() - t
        if r.returncode != 0 or not os.path.exists(out):
            return {"error": (r.stderr or r.stdout).strip()[-2000:]}
        with open(out) as f:
            res = json.load(f)
    keep = {k: res.get(k) for k in ("lp_status", "lp_optimum", "highs_version", "timing_seconds")}
    keep["seconds_wall"] = round(dt, 3)
    return keep


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------

# Memory of a run (measured: see README): per candidate with a positive objective 19 bytes stored
# (common.compact_candidates: row int32, pair uint8, p float32, ev float64, two uint8 block permutations)
# + the greedy's mask and T arrays (~3 more); per customer ~80 bytes (ids, region, segment, the greedy's
# counters and block offsets); one chunk of customers in scoring (features, propensities, the eligibility
# matrix and candidates()'s columns, ~80 bytes per customer x offer); ~0.5 GiB of libraries. Candidates are
# not known before scoring: 1.07 per customer x offer on the generated stores (34.27 M at 1 M x 32), 1.25
# assumed.
BYTES_PER_CANDIDATE = 22
BYTES_PER_CUSTOMER = 80
BYTES_PER_CHUNK_CUSTOMER_OFFER = 80
CANDIDATES_PER_CUSTOMER_OFFER = 1.25


def memory_estimate(customers, offers, chunk):
    cands = customers * offers * CANDIDATES_PER_CUSTOMER_OFFER
    return int(cands * BYTES_PER_CANDIDATE + customers * BYTES_PER_CUSTOMER
               + min(chunk, customers) * offers * BYTES_PER_CHUNK_CUSTOMER_OFFER + 2 ** 29)


def memory_guard(args):
    """Refuses (exit 3, like a baseline that cannot run here) a store whose run would not fit in memory."""
    env, dbs = common.open_store(args.store)
    meta = common.read_meta(env, dbs)
    env.close()
    camp = common.load_campaign(args.files)
    n, noff = meta["customers"], len(camp["offers"])
    need = memory_estimate(n, noff, max(1, args.chunk_customers))
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is not None and need > 0.9 * avail and not args.force:
        print(f"python: did not run: {n:,} customers x {noff} offers need about {need / 2**30:.1f} GiB "
              f"(~{BYTES_PER_CANDIDATE} bytes per candidate kept for the greedy, scored in chunks of "
              f"{args.chunk_customers:,} customers), MemAvailable is {avail / 2**30:.1f} GiB "
              f"(--force to try anyway)", file=sys.stderr)
        sys.exit(3)
    return need


def score_in_chunks(args, timer, keep_nonpositive=False):
    """Loads, scores and filters the store in chunks of --chunk-customers customers; keeps only the
    compact candidate arrays (common.compact_candidates) and the per-customer columns."""
    with timer.section("load_profiles"):
        env, dbs = common.open_store(args.store)
        meta = common.read_meta(env, dbs)
        env.close()
    with timer.section("load_models"):
        camp = common.load_campaign(args.files)
        models = common.load_models(args.files, camp["models_list"], meta["schema"])
        if any(m["kind"] == "trees" for m in models.values()):
            common.load_boosters(models, args.threads)
    ncust, nfeat = meta["customers"], len(meta["schema"])
    if ncust >= 2 ** 31 - 1:
        raise SystemExit("more than 2^31 customers: not supported by the compact layout")
    npairs = sum(len(o["channels"]) for o in camp["offers"])
    ptype = np.uint8 if npairs <= 256 else np.uint16
    S = common.candidate_store(ncust * npairs, ptype)  # upper bound, resident only as it fills
    ids = np.empty(ncust, np.uint64)
    region = np.empty(ncust, np.uint16)
    segment = np.empty(ncust, np.uint16)
    win = common.fatigue_window(camp)
    offer_index = {o["id"].encode(): i for i, o in enumerate(camp["offers"])}
    order = camp["models_list"]
    info = {"candidates": 0, "fatigued": 0, "chunks": 0, "sort": 0.0, "group_orders": 0.0}
    row0, n, lo = 0, 0, None
    while row0 < ncust:
        # The store is opened per chunk: LMDB reads through a memory map, and the pages read stay in
        # the process's RSS while it is mapped (~4.3 GB for the 10 M store).
        with timer.section("load_profiles"):
            env, dbs = common.open_store(args.store)
            ids_c, reg_c, seg_c, X = common.load_profiles(env, dbs, nfeat, lo=lo, limit=args.chunk_customers)
        k = len(ids_c)
        if k == 0:
            env.close()
            break
        if row0 + k > ncust:
            raise SystemExit("the store has more profiles than its entry count: written during the run?")
        with timer.section("load_history"):
            counts = common.ignored_counts(env, dbs, ids_c, offer_index, win[0], win[1],
                                           lo=int(ids_c[0]), hi=int(ids_c[-1]) + 1) if win else None
            env.close()
        P = common.score_all(X, models, order, timer)
        with timer.section("eligibility"):
            C, fatigued = common.candidates(P, X, camp, meta["schema"], counts, order)
            del P, X, counts
            info["candidates"] += len(C["row"])
            info["fatigued"] += fatigued
        t = time.perf_counter()
        part, t_sort, t_groups = common.compact_candidates(C, row0, camp, args.order, keep_nonpositive)
        del C
        m = len(part["row"])
        for name, a in part.items():
            S[name][n:n + m] = a
        del part
        timer.add("allocate", time.perf_counter() - t)
        info["sort"] += t_sort
        info["group_orders"] += t_groups
        ids[row0:row0 + k] = ids_c
        region[row0:row0 + k] = reg_c
        segment[row0:row0 + k] = seg_c
        row0 += k
        n += m
        lo = int(ids_c[-1]) + 1
        info["chunks"] += 1
    S = {name: a[:n] for name, a in S.items()}
    meta["customers_loaded"] = row0
    return S, info, meta, camp, models, ids[:row0], region[:row0], segment[:row0]


def table_candidates(S, camp):
    """The compact store back in table order (customer, offer, channel) as candidates()'s columns."""
    o = np.lexsort((S["pair"], S["row"]))
    pi = common.pair_info(camp)
    pr = S["pair"][o].astype(np.int64)
    ev = S["ev"][o]
    p = S["p"][o]
    return {"row": S["row"][o], "offer": pi["offer"][pr], "channel": pi["channel"][pr], "pair": pr, "p": p,
            "ev": ev, "cost_micro": pi["cost_micro"][pr],
            "obj": p.astype(np.float64) if camp["objective"] == "propensity" else ev}


def run(args):
    load_start = os.getloadavg()
    memory_guard(args)
    timer = common.Timer()
    S, info, meta, camp, models, ids, region, segment = score_in_chunks(args, timer, keep_nonpositive=args.lp)
    ncust = len(ids)
    n_features = len(meta["schema"])
    C_lp = table_candidates(S, camp) if args.lp else None
    with timer.section("allocate"):
        sel, stats = common.greedy_allocate(S, camp, meta, region, segment, ncust,
                                            order_by=args.order, min_first=not args.no_min_first)
    del S
    stats["seconds"] = {"sort": round(info["sort"], 3), "group_orders": round(info["group_orders"], 3),
                        "walk": stats["seconds"]["walk"]}
    summary = common.summarize_selection(common.selection_columns(sel, camp, region, segment), camp, meta)
    if args.dump_chosen:
        np.savez(args.dump_chosen, ids=ids[sel["row"]], pair=sel["pair"], p=sel["p"], ev=sel["ev"])
    total = timer.total()
    t = timer.stages
    timings = {
        "load": round(t.get("load_profiles", 0) + t.get("load_models", 0) + t.get("load_history", 0), 4),
        "score_logistic": t.get("score_logistic", 0.0),
        "score_trees": t.get("score_trees", 0.0),
        "eligibility": t.get("eligibility", 0.0),
        "allocate": t.get("allocate", 0.0),
        "total": total,
        "load_profiles": t.get("load_profiles", 0.0),
        "load_history": t.get("load_history", 0.0),
        "load_models": t.get("load_models", 0.0),
    }
    result = {
        **common.result_header("python", __file__, sys.argv[1:], args),
        "customers": int(ncust),
        "features": n_features,
        "offers": len(camp["offers"]),
        "models": {"logistic": sum(m["kind"] == "logistic" for m in models.values()),
                   "trees": sum(m["kind"] == "trees" for m in models.values())},
        "objective_kind": camp["objective"],
        "candidates": int(info["candidates"]),
        "fatigue_exclusions": info["fatigued"],
        "timings_seconds": timings,
    }
    result.update(summary)
    result["allocation"] = {"method": "greedy", "order": args.order, "min_first": not args.no_min_first,
                            "iterations": stats["iterations"], "phases": stats["phases"],
                            "compactions": stats["compactions"], "seconds": stats["seconds"],
                            "chunks": info["chunks"], "chunk_customers": args.chunk_customers}
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # Other processes on the machine inflate every timing: the 1-minute load average before and after.
    result["loadavg_1m_start_end"] = [round(load_start[0], 2), round(os.getloadavg()[0], 2)]
    if args.lp:
        result["lp"] = solve_lp(args, C_lp, camp, meta, region, segment, ids)
        if result["lp"].get("lp_optimum"):
            result["lp"]["greedy_over_lp_optimum"] = round(result["objective"] / result["lp"]["lp_optimum"], 6)
    if not args.no_kernels:
        result["kernels"] = measure_kernels(args)
    line = (f"python baseline: {ncust} customers, objective {result['objective']:.2f}, "
            f"{result['offers_made']} offers, cost {result['total_cost']:.2f}, total {total:.2f}s "
            f"(load {timings['load']:.2f}, logistic {timings['score_logistic']:.2f}, "
            f"trees {timings['score_trees']:.2f}, eligibility {timings['eligibility']:.2f}, "
            f"allocate {timings['allocate']:.2f}; peak RSS {result['peak_rss_mb'] / 1024:.2f} GiB)")
    common.write_result(result, args, line)
    return 0


def main():
    args = ARGS
    if args.kernel_only:
        kernel_only(args)
        return 0
    if args.check:
        return check(args)
    if args.chunk_customers < 1:
        print("python_baseline.py: --chunk-customers must be at least 1", file=sys.stderr)
        return 2
    if not args.out:
        print("python_baseline.py: --out RESULT.json is required (or --check)", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):  # an input error raised as SystemExit("reason")
            print(f"python_baseline.py: {e.code}", file=sys.stderr)
            sys.exit(2)
        raise
