#!/usr/bin/env python3
"""The Spark baseline: the same scoring and a greedy allocation with Apache Spark in local mode.

    spark_baseline.py --store S --files F --out RESULT.json [--threads N] [--partitions P]
                      [--driver-memory auto] [--max-tiers 12] [--shuffle-partitions N]
                      [--reference SUMMARY.json]

Scoring: the driver cuts the customer keys into P ranges; `mapInPandas` over a DataFrame of those ranges
has every task read its range from the LMDB store (python-lmdb), score it (numpy for the logistic models,
XGBoost inplace_predict with nthread=1 for the trees: Spark's local[N] runs N tasks at once) and apply the
fatigue and channel rules (common.py, the same code as the Python baseline), returning the candidates.
Allocation, in Spark SQL: tiers of (1) per-customer window functions (best channel per offer,
max_per_family, max_offers among the remaining room), (2) per-cap running counts and a running budget
sum over the tentative set in objective order, accepting what is inside every prefix; then the accepted
offers (one join on the customer), full caps and spent budget shrink the live candidates, which are
checkpointed with the accepted rows (so the tier's shuffle files can go), and the next tier runs, until a tier
accepts nothing (or --max-tiers per phase). Every max holds by construction; min constraints get their own first
tiers (only that group's candidates, up to the min) and are reported if still unmet.

Exit status: 0 done, 2 usage / input error, 3 Spark could not be installed or started (the message on
stderr starts with "spark: did not install:" or "spark: did not start:").
"""

import argparse
import gc
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)

EXIT_NO_SPARK = 3


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--files", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="local[N] (default: the cores)")
    ap.add_argument("--partitions", type=int, default=0,
                    help="customer ranges scored as Spark tasks (default: max(2 x threads, customers / 50,000))")
    ap.add_argument("--shuffle-partitions", type=int, default=0,
                    help="spark.sql.shuffle.partitions (default: the scoring partitions)")
    ap.add_argument("--driver-memory", default="auto",
                    help="the JVM's heap (default auto: half the machine's memory, 2g..16g)")
    ap.add_argument("--max-tiers", type=int, default=12, help="tiers per phase (each min, then the main one)")
    ap.add_argument("--reference", help="nextbest summary.json of the same store: adds objective ratio etc.")
    return ap.parse_args(argv)


class ScratchMeter:
    """Bytes on disk under Spark's scratch directory (spark.local.dir: shuffle files, spills, blocks),
    sampled every 2 s by a background thread; `peak` is the largest sample."""

    def __init__(self, path):
        self.path, self.peak, self._stop = path, 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def now(self):
        total = 0
        for root, _, files in os.walk(self.path):
            for f in files:
                try:
                    total += os.lstat(os.path.join(root, f)).st_blocks * 512
                except OSError:
                    pass  # deleted while walking
        self.peak = max(self.peak, total)
        return total

    def _loop(self):
        while not self._stop.wait(2.0):
            self.now()

    def stop(self):
        self._stop.set()


def no_spark(stage, reason):
    print(f"spark: did not {stage}: {reason}", file=sys.stderr)
    sys.exit(EXIT_NO_SPARK)


def main():
    args = parse_args(sys.argv[1:])
    if args.driver_memory == "auto":
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        args.driver_memory = f"{int(min(16, max(2, mem_gb // 2)))}g"
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    # Each Spark task is single-threaded (Spark runs --threads of them at once).
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        os.environ[v] = "1"
    # Everything stays on the loopback interface.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    import numpy as np
    import common

    try:
        import pandas as pd
        import pyarrow  # noqa: F401  (mapInPandas needs it)
        import pyspark
        from pyspark import StorageLevel
        from pyspark.sql import SparkSession, Window
        from pyspark.sql import functions as F
        from pyspark.sql import types as T
    except Exception as e:  # ImportError, or a broken install
        no_spark("install", f"{type(e).__name__}: {e} (needs: pip install pyspark pandas pyarrow)")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        no_spark("install", "no Java runtime (java not on PATH, JAVA_HOME unset); Spark needs Java 17+")

    timer = common.Timer()
    # --- the store, campaign and models, on the driver (small: keys, meta, model files) ------------
    with timer.section("plan"):
        env, dbs = common.open_store(args.store)
        meta = common.read_meta(env, dbs)
        camp = common.load_campaign(args.files)
        models = common.load_models(args.files, camp["models_list"], meta["schema"])
        parts = args.partitions or max(2 * args.threads, -(-meta["customers"] // 50000))
        ranges = common.plan_ranges(env, dbs, parts)
        env.close()
    shuffle_parts = args.shuffle_partitions or max(len(ranges), 2 * args.threads)

    # --- Spark ------------------------------------------------------------------------------------
    local_dir = tempfile.mkdtemp(prefix="spark-baseline-")
    scratch = ScratchMeter(local_dir)
    try:
        with timer.section("spark_start"):
            spark = (SparkSession.builder.master(f"local[{args.threads}]").appName("nextbest-baseline")
                     .config("spark.driver.memory", args.driver_memory)
                     .config("spark.driver.host", "127.0.0.1")
                     .config("spark.driver.bindAddress", "127.0.0.1")
                     .config("spark.log.level", "ERROR")
                     .config("spark.ui.enabled", "false")
                     .config("spark.ui.showConsoleProgress", "false")
                     .config("spark.local.dir", local_dir)
                     .config("spark.sql.shuffle.partitions", str(shuffle_parts))
                     .config("spark.sql.adaptive.enabled", "true")
                     .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                     .config("spark.sql.execution.arrow.maxRecordsPerBatch", "200000")
                     .config("spark.python.worker.reuse", "true")
                     # Checkpoints and cached blocks compressed (shuffles and spills already are), and old
                     # tiers' blocks and shuffle files cleaned up soon after they are dropped.
                     .config("spark.rdd.compress", "true")
                     # The accepted offers come back to the driver (26 M rows at 10 M customers: > 1 GiB).
                     .config("spark.driver.maxResultSize", "0")
                     .config("spark.cleaner.periodicGC.interval", "1min")
                     .getOrCreate())
            spark.sparkContext.setLogLevel("ERROR")
            spark.range(1).count()
    except SystemExit:
        raise
    except BaseException as e:
        scratch.stop()
        shutil.rmtree(local_dir, ignore_errors=True)
        no_spark("start", f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
    sc = spark.sparkContext
    sc.addPyFile(os.path.join(HERE, "common.py"))

    try:
        result = run(args, spark, sc, F, T, Window, StorageLevel, pd, np, common, timer, meta, camp, models,
                     ranges, shuffle_parts, scratch)
    finally:
        scratch.stop()
        spark.stop()
        shutil.rmtree(local_dir, ignore_errors=True)
    result["timings_seconds"]["total"] = round(time.perf_counter() - t_start, 4)
    result["loadavg_1m_start_end"] = [round(load_start[0], 2), round(os.getloadavg()[0], 2)]
    result["versions"]["pyspark"] = pyspark.__version__
    result["versions"]["pandas"] = pd.__version__
    # The JVM and the Python workers are other processes: the harness measures those.
    result["scratch_dir"] = local_dir
    result["peak_scratch_gb"] = round(scratch.peak / 1e9, 2)
    result["peak_rss_mb_driver_python"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    t = result["timings_seconds"]
    line = (f"spark baseline: {result['customers']} customers, objective {result['objective']:.2f}, "
            f"{result['offers_made']} offers, cost {result['total_cost']:.2f}, total {t['total']:.2f}s "
            f"(start {t['spark_start']:.2f}, score {t['score']:.2f}, allocate {t['allocate']:.2f}, "
            f"{result['allocation']['tiers']} tier{'s' if result['allocation']['tiers'] != 1 else ''})")
    common.write_result(result, args, line)
    return 0


def run(args, spark, sc, F, T, Window, StorageLevel, pd, np, common, timer, meta, camp, models, ranges,
        shuffle_parts, scratch):
    store, files = os.path.abspath(args.store), os.path.abspath(args.files)
    nfeat = len(meta["schema"])
    order = camp["models_list"]
    prod_idx = {p: i for i, p in enumerate(camp["products_list"])}
    fam_idx = {f: i for i, f in enumerate(camp["families_list"])}
    offer_prod = [prod_idx[o["product"]] for o in camp["offers"]]
    offer_fam = [fam_idx[o["family"]] for o in camp["offers"]]
    NCH = len(camp["channels_list"])  # oc = offer * NCH + channel: ascending oc = ascending (offer, channel)
    RS = 1 << 16                      # rs = region * RS + segment
    if len(meta["regions"]) >= RS or len(meta["segments"]) >= RS:
        raise SystemExit(f"{len(meta['regions'])} regions / {len(meta['segments'])} segments: more than {RS - 1}")

    acc = {k: sc.accumulator(0.0) for k in ("load", "score_logistic", "score_trees", "eligibility")}
    cnt = {k: sc.accumulator(0) for k in ("customers", "candidates", "fatigue_exclusions")}

    def score_ranges(batches):
        # Runs in the Python workers: one customer range per input row.
        import time as _t
        import numpy as _np
        import pandas as _pd
        import common as _c
        cache = _c.__dict__.setdefault("_SPARK_CACHE", {})
        if "env" not in cache:
            env, dbs = _c.open_store(store)
            cm = _c.load_campaign(files)
            ms = _c.load_models(files, cm["models_list"], _c.read_meta(env, dbs)["schema"])
            _c.load_boosters(ms, 1)
            cache.update(env=env, dbs=dbs, camp=cm, models=ms)
        env, dbs, cm, ms = cache["env"], cache["dbs"], cache["camp"], cache["models"]
        win = _c.fatigue_window(cm)
        oindex = {o["id"].encode(): i for i, o in enumerate(cm["offers"])}
        for pdf in batches:
            for lo, hi in zip(pdf["lo"].tolist(), pdf["hi"].tolist()):
                lo = None if lo < 0 else int(lo)
                hi = None if hi < 0 else int(hi)
                t0 = _t.perf_counter()
                ids, region, segment, X = _c.load_profiles(env, dbs, nfeat, lo=lo, hi=hi)
                counts = _c.ignored_counts(env, dbs, ids, oindex, win[0], win[1], lo=lo, hi=hi) if win else None
                t1 = _t.perf_counter()
                tm = _c.Timer()
                P = _c.score_all(X, ms, order, tm)
                t2 = _t.perf_counter()
                C, fatigued = _c.candidates(P, X, cm, meta["schema"], counts, order)
                keep = _np.flatnonzero(C["obj"] > 0)  # never chosen otherwise
                rows = C["row"][keep]
                off = C["offer"][keep].astype(_np.int32)
                # Narrow rows (every column is an 8-byte slot in Spark's rows, in shuffles, sorts and
                # checkpoints): region and segment packed in one column, offer and channel in another
                # (product and family follow from the offer).
                out = _pd.DataFrame({
                    "cust": ids[rows].astype(_np.int64),
                    "rs": (region[rows].astype(_np.int32) * RS + segment[rows].astype(_np.int32)),
                    "oc": off * NCH + C["channel"][keep].astype(_np.int32),
                    "p": C["p"][keep],
                    "ev": C["ev"][keep],
                    "cost": C["cost_micro"][keep],
                    "obj": C["obj"][keep],
                })
                t3 = _t.perf_counter()
                acc["load"].add(t1 - t0)
                acc["score_logistic"].add(tm.stages.get("score_logistic", 0.0))
                acc["score_trees"].add(tm.stages.get("score_trees", 0.0))
                acc["eligibility"].add(t3 - t2)
                cnt["customers"].add(len(ids))
                cnt["candidates"].add(len(C["row"]))
                cnt["fatigue_exclusions"].add(fatigued)
                yield out

    cand_schema = T.StructType([
        T.StructField("cust", T.LongType()), T.StructField("rs", T.IntegerType()),
        T.StructField("oc", T.IntegerType()), T.StructField("p", T.FloatType()),
        T.StructField("ev", T.DoubleType()), T.StructField("cost", T.LongType()),
        T.StructField("obj", T.DoubleType())])
    rdf = spark.createDataFrame(
        [(i, -1 if lo is None else int(lo), -1 if hi is None else int(hi)) for i, (lo, hi) in enumerate(ranges)],
        "part int, lo long, hi long").repartition(len(ranges), "part")

    with timer.section("score"):
        # Hash-partitioned by customer: the per-customer windows below then need no further shuffle.
        cands = (rdf.mapInPandas(score_ranges, cand_schema)
                 .repartition(shuffle_parts, "cust")
                 .persist(StorageLevel.MEMORY_AND_DISK))
        n_live = cands.count()
    print(f"spark: scored {len(ranges)} ranges, {n_live} candidates with a positive objective, "
          f"{timer.stages['score']:.1f} s", flush=True)

    # --- the greedy, in tiers ----------------------------------------------------------------------
    mo, mpf = camp["max_offers"], camp["max_per_family"]
    RM = mpf + 1  # rooms = customer's room * RM + room in the row's family
    names = {"products": camp["products_list"], "regions": meta["regions"], "segments": meta["segments"],
             "channels": camp["channels_list"]}
    arr = lambda xs: "array(" + ", ".join(str(int(v)) for v in xs) + ")"
    offer_sql = f"cast(oc div {NCH} as int)"
    # Each cap kind as an expression of the packed columns.
    kind_sql = {"products": f"element_at({arr(offer_prod)}, {offer_sql} + 1)",
                "regions": f"cast(rs div {RS} as int)", "segments": f"(rs % {RS})", "channels": f"(oc % {NCH})"}
    family_sql = f"element_at({arr(offer_fam)}, {offer_sql} + 1)"
    caps = []
    for kind, _ in common.KINDS:
        for name, b in camp[kind].items():
            code = names[kind].index(name) if name in names[kind] else -1
            caps.append({"kind": kind, "name": name, "code": code, "min": b["min"], "max": b["max"], "used": 0})
    budget = int(round(camp["budget"] * common.MICRO)) if camp["budget"] is not None else None
    spent = 0
    ordering = [F.desc("obj"), F.asc("cust"), F.asc("oc")]  # oc ascending = (offer, channel) ascending
    keep_cols = ["cust", "rs", "oc", "p", "ev", "cost", "obj"]

    live = cands.withColumn("rooms", F.lit(mo * RM + mpf))
    accepted_parts = []  # DataFrames of accepted rows, one per tier (persisted)
    tiers = []

    def tier(live, phase_cap):
        x = live if phase_cap is None else live.filter(F.expr(kind_sql[phase_cap["kind"]]) == phase_cap["code"])
        # The three per-customer windows need no shuffle: the rows are hash-partitioned by customer.
        x = (x.withColumn("_off", F.expr(offer_sql)).withColumn("_fam", F.expr(family_sql))
             .withColumn("_r1", F.row_number().over(Window.partitionBy("cust", "_off").orderBy(*ordering)))
             .filter("_r1 = 1"))
        x = (x.withColumn("_r2", F.row_number().over(Window.partitionBy("cust", "_fam").orderBy(*ordering)))
             .filter(f"_r2 <= rooms % {RM}"))
        x = (x.withColumn("_r3", F.row_number().over(Window.partitionBy("cust").orderBy(*ordering)))
             .filter(f"_r3 <= rooms div {RM}"))
        cond = F.lit(True)
        bounds = [(cp, cp["max"]) for cp in caps if cp["max"] is not None]
        if phase_cap is not None:
            bounds.append((phase_cap, phase_cap["min"]))
        by_kind = {}
        for cp, limit in bounds:
            by_kind.setdefault(cp["kind"], []).append((cp["code"], limit - cp["used"]))
        for kind, rooms in by_kind.items():
            c, rn = f"_c_{kind}", f"_k_{kind}"
            x = (x.withColumn(c, F.expr(kind_sql[kind]))
                 .withColumn(rn, F.row_number().over(Window.partitionBy(c).orderBy(*ordering))))
            for code, room in rooms:
                cond = cond & ((F.col(c) != code) | (F.col(rn) <= room))
        if budget is not None:
            wb = Window.orderBy(*ordering).rowsBetween(Window.unboundedPreceding, Window.currentRow)
            x = x.withColumn("_spent", F.sum("cost").over(wb))
            cond = cond & (F.col("_spent") <= budget - spent)
        return x.filter(cond).select(*keep_cols)

    def refresh(live, acc_df):
        """Live candidates after acc_df was accepted: its (customer, offer) pairs gone, rooms reduced,
        full caps and candidates costing more than the remaining budget dropped. One join, on the customer:
        both sides are hash-partitioned by it, so the live rows are not shuffled."""
        per_cust = acc_df.groupBy("cust").agg(F.collect_list(F.expr(offer_sql)).alias("_ao"))
        fam_of = lambda o: f"element_at({arr(offer_fam)}, {o} + 1)"
        x = (live.join(per_cust, "cust", "left")
             .filter(f"_ao is null or not array_contains(_ao, {offer_sql})")
             .withColumn("rooms", F.expr(
                 f"cast(case when _ao is null then rooms else "
                 f"((rooms div {RM}) - size(_ao)) * {RM} + (rooms % {RM}) "
                 f"- size(filter(_ao, o -> {fam_of('o')} = {family_sql})) end as int)"))
             .drop("_ao")
             .filter(f"rooms div {RM} > 0 and rooms % {RM} > 0"))
        for cp in caps:
            if cp["max"] is not None and cp["used"] >= cp["max"]:
                x = x.filter(F.expr(kind_sql[cp["kind"]]) != cp["code"])
        if budget is not None:
            x = x.filter(F.col("cost") <= budget - spent)
        return x

    def release():
        # Old tiers' checkpoints and shuffle files go when the JVM collects their (now unreferenced)
        # RDDs: without this, Spark's scratch grows with every tier.
        gc.collect()
        sc._jvm.System.gc()

    def phase(live, phase_cap):
        nonlocal spent
        done = 0
        while done < args.max_tiers:
            done += 1
            if phase_cap is not None and phase_cap["used"] >= phase_cap["min"]:
                break
            t0 = time.perf_counter()
            # Checkpointed, not just persisted: the tier's plan (and its shuffle files) can then go.
            a = tier(live, phase_cap).localCheckpoint(eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK)
            agg = a.groupBy().agg(F.count(F.lit(1)).alias("n"), F.sum("cost").alias("cost")).collect()[0]
            n_acc = int(agg["n"])
            info = {"tier": len(tiers) + 1, "phase": "main" if phase_cap is None else
                    f"min {phase_cap['kind']}.{phase_cap['name']}", "accepted": n_acc}
            if n_acc == 0:
                info["seconds"] = round(time.perf_counter() - t0, 3)
                tiers.append(info)
                break
            spent += int(agg["cost"])
            for kind in ("products", "regions", "segments", "channels"):
                kc = [cp for cp in caps if cp["kind"] == kind]
                if kc:
                    got = {r[0]: r[1] for r in a.groupBy(F.expr(kind_sql[kind])).count().collect()}
                    for cp in kc:
                        cp["used"] += int(got.get(cp["code"], 0))
            accepted_parts.append(a)
            new_live = refresh(live, a).localCheckpoint(eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK)
            info["live_after"] = new_live.count()
            live = new_live
            cands.unpersist()  # the scored candidates are in the first checkpoint now
            release()
            info["seconds"] = round(time.perf_counter() - t0, 3)
            info["scratch_gb"] = round(scratch.now() / 1e9, 2)
            tiers.append(info)
            print(f"spark: tier {info['tier']} ({info['phase']}): accepted {n_acc}, {info['live_after']} live "
                  f"candidates left, {info['seconds']:.1f} s, scratch {info['scratch_gb']} GB", flush=True)
            if info["live_after"] == 0:
                break
        return live

    with timer.section("allocate"):
        for cp in caps:
            if cp["min"] is not None and cp["min"] > 0 and cp["code"] >= 0:
                live = phase(live, cp)
        live = phase(live, None)

    with timer.section("collect"):
        if accepted_parts:
            allacc = accepted_parts[0]
            for a in accepted_parts[1:]:
                allacc = allacc.unionByName(a)
            sel_pdf = allacc.toPandas()
        else:
            sel_pdf = pd.DataFrame({c: [] for c in keep_cols})
        oc = sel_pdf["oc"].to_numpy(np.int64)
        rs = sel_pdf["rs"].to_numpy(np.int64)
        sel = {"row": sel_pdf["cust"].to_numpy(np.int64), "offer": oc // NCH, "channel": oc % NCH,
               "region": rs // RS, "segment": rs % RS, "cost_micro": sel_pdf["cost"].to_numpy(np.int64),
               "obj": sel_pdf["obj"].to_numpy(np.float64), "ev": sel_pdf["ev"].to_numpy(np.float64),
               "p": sel_pdf["p"].to_numpy(np.float64)}
        summary = common.summarize_selection(sel, camp, meta)

    t = timer.stages
    task = {k: round(v.value, 4) for k, v in acc.items()}
    # The score stage is one Spark job (read + score + rules inside the tasks); its wall time is split
    # over load / score_logistic / score_trees / eligibility in proportion to the tasks' own seconds.
    tsum = sum(task.values()) or 1.0
    share = {k: round(t.get("score", 0.0) * task[k] / tsum, 4) for k in task}
    timings = {
        "load": round(t.get("plan", 0.0) + t.get("spark_start", 0.0) + share["load"], 4),
        "score_logistic": share["score_logistic"],
        "score_trees": share["score_trees"],
        "eligibility": share["eligibility"],
        "allocate": round(t.get("allocate", 0.0) + t.get("collect", 0.0), 4),
        "plan": t.get("plan", 0.0),
        "spark_start": t.get("spark_start", 0.0),
        "score": t.get("score", 0.0),
        "allocate_tiers": t.get("allocate", 0.0),
        "collect": t.get("collect", 0.0),
        "split_note": "score_logistic/score_trees/eligibility and the load share of 'score' are the score "
                      "stage's wall time split by the tasks' summed seconds (task_seconds)",
    }
    result = {
        "baseline": "spark",
        "command": " ".join([os.path.basename(sys.executable), os.path.relpath(__file__)] + sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "cpu": common.cpu_model()},
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "xgboost": _version("xgboost"), "java": _java_version()},
        "threads": args.threads,
        "master": f"local[{args.threads}]",
        "partitions": len(ranges),
        "shuffle_partitions": shuffle_parts,
        "driver_memory": args.driver_memory,
        "store": store,
        "files": files,
        "customers": int(cnt["customers"].value),
        "features": nfeat,
        "offers": len(camp["offers"]),
        "models": {"logistic": sum(m["kind"] == "logistic" for m in models.values()),
                   "trees": sum(m["kind"] == "trees" for m in models.values())},
        "objective_kind": camp["objective"],
        "candidates": int(cnt["candidates"].value),
        "candidates_positive": int(n_live),
        "fatigue_exclusions": int(cnt["fatigue_exclusions"].value),
        "timings_seconds": timings,
        "task_seconds": task,
    }
    result.update(summary)
    result["allocation"] = {"method": "greedy-tiers (Spark SQL windows)", "order": "objective",
                            "min_first": True, "tiers": len(tiers), "tier_log": tiers,
                            "max_tiers": args.max_tiers}
    return result


def _version(mod):
    try:
        return __import__(mod).__version__
    except Exception:
        return None


def _java_version():
    import subprocess
    try:
        r = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        return (r.stderr or r.stdout).strip().splitlines()[0]
    except Exception:
        return None


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):  # an input error raised as SystemExit("reason")
            print(f"spark_baseline.py: {e.code}", file=sys.stderr)
            sys.exit(2)
        raise
