"""Shared code of the bench baselines: read a nextbest store and its model/campaign files, score,
apply the eligibility rules, allocate greedily, and summarise like nextbest's summary.json.

Only numpy, lmdb, PyYAML and xgboost are needed (xgboost only when a campaign has tree models).
Nothing here imports nextbest code: the store is read by the documented layout (README "The store").

Layout reminders:
  profiles  key: customer id, 8 bytes big-endian
            value: u8 version=1, u8 flags, u16 region, u16 segment, u16 n, f32 x n (little-endian)
  history   (dupsort) key: customer id; value: i32 day (big-endian, sign bit flipped), u8 outcome
            (1 accepted, 2 rejected, 3 ignored), u8 len, offer id, u8 len, channel
  meta      schema / regions / segments: JSON lists
"""

import datetime
import json
import os
import platform
import struct
import time

import numpy as np

try:
    import lmdb
except ImportError:  # pragma: no cover
    raise SystemExit("the baselines need python-lmdb: pip install lmdb")
try:
    import yaml
except ImportError:  # pragma: no cover
    raise SystemExit("the baselines need PyYAML: pip install pyyaml")

OUTCOME_IGNORED = 3
MICRO = 1_000_000  # money is counted in micro-units (integers), as nextbest does
KINDS = [("products", "product"), ("regions", "region"), ("segments", "segment"), ("channels", "channel")]


class Timer:
    """Wall-clock stage timer (time.perf_counter)."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.stages = {}

    def add(self, name, seconds):
        self.stages[name] = round(self.stages.get(name, 0.0) + seconds, 4)

    def section(self, name):
        timer = self

        class _S:
            def __enter__(self):
                self.t = time.perf_counter()
                return self

            def __exit__(self, *exc):
                timer.add(name, time.perf_counter() - self.t)
                return False

        return _S()

    def total(self):
        return round(time.perf_counter() - self.t0, 4)


# ----------------------------------------------------------------------------------------------
# Store
# ----------------------------------------------------------------------------------------------

def open_store(store):
    if not os.path.isdir(store):
        raise SystemExit(f"no store at {store}")
    env = lmdb.open(store, readonly=True, lock=False, max_dbs=16, subdir=True)
    dbs = {}
    for name in ("profiles", "history", "meta"):
        try:
            dbs[name] = env.open_db(name.encode(), create=False, dupsort=(name == "history"))
        except lmdb.NotFoundError:
            if name == "history":
                dbs[name] = None
            else:
                raise SystemExit(f"{store}: no '{name}' database: not a nextbest store?")
    return env, dbs


def read_meta(env, dbs):
    with env.begin() as txn:
        fmt = txn.get(b"format", db=dbs["meta"])
        if fmt is not None and fmt.decode() != "nextbest-store-1":
            raise SystemExit(f"unknown store format {fmt!r}")
        schema = json.loads(txn.get(b"schema", db=dbs["meta"]))
        regions = json.loads(txn.get(b"regions", db=dbs["meta"]))
        segments = json.loads(txn.get(b"segments", db=dbs["meta"]))
        count = txn.stat(dbs["profiles"])["entries"]
    return {"schema": schema, "regions": regions, "segments": segments, "customers": count}


def _key(cid):
    return struct.pack(">Q", cid)


def _range_items(txn, lo, hi):
    """(key, value) pairs of the cursor's database with lo <= customer id < hi (None = open), in key order."""
    cur = txn.cursor()
    if not (cur.set_range(_key(lo)) if lo is not None else cur.first()):
        return
    hik = _key(hi) if hi is not None else None
    for k, v in cur.iternext(keys=True, values=True):
        if hik is not None and k >= hik:
            return
        yield k, v


def versions():
    """Python's and the libraries' versions, for the result (xgboost None where it is not installed)."""
    v = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        import xgboost
        v["xgboost"] = xgboost.__version__
    except ImportError:
        v["xgboost"] = None
    v["lmdb"] = getattr(lmdb, "__version__", None)
    return v


def result_header(baseline, script, argv, args):
    """The first fields of a baseline's RESULT.json: what ran, when, where, with which versions, on what."""
    import sys
    return {
        "baseline": baseline,
        "command": " ".join([os.path.basename(sys.executable), os.path.relpath(script)] + argv),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "cpu": cpu_model()},
        "versions": versions(),
        "threads": args.threads,
        "store": os.path.abspath(args.store),
        "files": os.path.abspath(args.files),
    }


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo), for the result's machine block."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def load_profiles(env, dbs, nfeat, lo=None, hi=None, limit=None):
    """Profiles with lo <= customer id < hi (None = open), at most `limit` of them, in id order.

    Returns (ids uint64[n], region uint16[n], segment uint16[n], X float32[n, nfeat]). The records are
    fixed size when every record has n == nfeat (always, for a store written by nextbest), so all values
    are joined into one buffer and viewed with a structured dtype: no per-feature Python work.
    """
    keys, vals = [], []
    with env.begin(db=dbs["profiles"]) as txn:
        for k, v in _range_items(txn, lo, hi):
            keys.append(k)
            vals.append(v)
            if limit is not None and len(keys) >= limit:
                break
    n = len(keys)
    ids = np.frombuffer(b"".join(keys), dtype=">u8").astype(np.uint64) if n else np.zeros(0, np.uint64)
    recsize = 8 + 4 * nfeat
    if n and all(len(v) == recsize for v in vals):
        dt = np.dtype([("version", "u1"), ("flags", "u1"), ("region", "<u2"), ("segment", "<u2"),
                       ("n", "<u2"), ("x", "<f4", (nfeat,))])
        rec = np.frombuffer(b"".join(vals), dtype=dt)
        if (rec["version"] != 1).any() or (rec["n"] != nfeat).any():
            raise SystemExit("profiles: a record has version != 1 or a feature count != schema")
        X = np.ascontiguousarray(rec["x"])  # one copy: aligned, C-contiguous float32
        return ids, rec["region"].copy(), rec["segment"].copy(), X
    # General path (records of other sizes): decode one by one; absent trailing features are missing.
    region = np.zeros(n, np.uint16)
    segment = np.zeros(n, np.uint16)
    X = np.full((n, nfeat), np.nan, np.float32)
    for i, v in enumerate(vals):
        version, _flags, r, s, cnt = struct.unpack_from("<BBHHH", v)
        if version != 1 or len(v) != 8 + 4 * cnt:
            raise SystemExit(f"profiles: corrupt record for customer {int(ids[i])}")
        region[i], segment[i] = r, s
        m = min(cnt, nfeat)
        X[i, :m] = np.frombuffer(v, dtype="<f4", count=m, offset=8)
    return ids, region, segment, X


def plan_ranges(env, dbs, parts):
    """Cuts the customer ids into `parts` contiguous key ranges [lo, hi) of about equal size."""
    with env.begin(db=dbs["profiles"]) as txn:
        n = txn.stat(dbs["profiles"])["entries"]
        if n == 0:
            return []
        parts = max(1, min(parts, n))
        step = n / parts
        cuts = {int(round(i * step)) for i in range(1, parts)}
        bounds = []
        cur = txn.cursor()
        for i, k in enumerate(cur.iternext(keys=True, values=False)):
            if i in cuts:
                bounds.append(struct.unpack(">Q", k)[0])
    edges = [None] + bounds + [None]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def ignored_counts(env, dbs, ids, offer_index, day_from, day_to, lo=None, hi=None):
    """Ignored contacts per (customer row, offer) with day_from <= day <= day_to, for the customers
    `ids` (sorted; rows of the profile matrix). Returns an int32 matrix [len(ids), len(offer_index)]."""
    counts = np.zeros((len(ids), len(offer_index)), np.int32)
    if dbs["history"] is None or len(ids) == 0:
        return counts
    cids, offs = [], []
    enc_from = (day_from & 0xFFFFFFFF) ^ 0x80000000
    enc_to = (day_to & 0xFFFFFFFF) ^ 0x80000000
    unpack = struct.unpack_from
    with env.begin(db=dbs["history"]) as txn:
        for k, v in _range_items(txn, lo, hi):
            if v[4] != OUTCOME_IGNORED:
                continue
            d = unpack(">I", v, 0)[0]
            if d < enc_from or d > enc_to:
                continue
            o = offer_index.get(v[6:6 + v[5]])
            if o is None:
                continue
            cids.append(k)
            offs.append(o)
    if cids:
        c = np.frombuffer(b"".join(cids), dtype=">u8").astype(np.uint64)
        row = np.searchsorted(ids, c)
        good = (row < len(ids))
        good[good] = ids[row[good]] == c[good]
        np.add.at(counts, (row[good], np.asarray(offs, np.int64)[good]), 1)
    return counts


# ----------------------------------------------------------------------------------------------
# Campaign and models (the --files directory written by `nextbest generate --files`)
# ----------------------------------------------------------------------------------------------

def _epoch_day(v):
    if isinstance(v, datetime.datetime):
        v = v.date()
    if isinstance(v, str):
        v = datetime.date.fromisoformat(v)
    return (v - datetime.date(1970, 1, 1)).days


def load_campaign(files):
    path = None
    for name in ("campaign.yaml", "campaign.yml", "campaign.json"):
        if os.path.exists(os.path.join(files, name)):
            path = os.path.join(files, name)
            break
    if path is None:
        raise SystemExit(f"no campaign.yaml in {files}")
    with open(path) as f:
        c = yaml.safe_load(f)
    offers = []
    for o in sorted(c["offers"], key=lambda o: o["id"]):  # nextbest: offers in id order (tie-breaks)
        chans = sorted(o["channels"].items())  # channel rules sorted by channel name
        offers.append({
            "id": o["id"], "product": o["product"], "family": o["family"], "model": o["model"],
            "value": float(o["value"]) if "value" in o else None,
            "value_column": o.get("value_column"),
            "channels": [(ch, float(r["min_propensity"]), float(r.get("cost", 0.0))) for ch, r in chans],
        })
    pc = c.get("per_customer") or {}
    max_offers = int(pc.get("max_offers", 3))
    max_per_family = int(pc.get("max_per_family", max_offers if "max_offers" in pc else 1))
    fat = c.get("fatigue")
    cons = c.get("constraints") or {}
    camp = {
        "path": path,
        "objective": c.get("objective", "expected_value"),
        "offers": offers,
        "max_offers": max_offers,
        "max_per_family": max_per_family,
        "fatigue": {"max_ignored": int(fat["max_ignored"]), "window_days": int(fat["window_days"])} if fat else None,
        "run_day": _epoch_day(c["run_date"]),
        "budget": float(cons["budget"]) if cons.get("budget") is not None else None,
    }
    for key, _ in KINDS:
        camp[key] = {name: {"min": (b or {}).get("min"), "max": (b or {}).get("max")}
                     for name, b in sorted((cons.get(key) or {}).items())}
    camp["products_list"] = sorted({o["product"] for o in offers})
    camp["families_list"] = sorted({o["family"] for o in offers})
    camp["channels_list"] = sorted({ch for o in offers for ch, _, _ in o["channels"]})
    camp["models_list"] = sorted({o["model"] for o in offers})
    return camp


def load_models(files, model_ids, schema, need_xgboost=True):
    """model id -> {"kind": "logistic", cols, coef, intercept} or {"kind": "trees", path, cols}."""
    col = {name: i for i, name in enumerate(schema)}
    models = {}
    for mid in model_ids:
        lp = os.path.join(files, mid + ".logit.json")
        xp = os.path.join(files, mid + ".xgb.json")
        if os.path.exists(lp):
            with open(lp) as f:
                m = json.load(f)
            missing = [n for n in m["features"] if n not in col]
            if missing:
                raise SystemExit(f"model {mid} names column '{missing[0]}', which the store lacks")
            models[mid] = {"kind": "logistic", "cols": np.array([col[n] for n in m["features"]], np.int64),
                           "coef": np.array(m["coefficients"], np.float64), "intercept": float(m["intercept"])}
        elif os.path.exists(xp):
            with open(xp) as f:
                names = json.load(f)["learner"]["feature_names"]
            missing = [n for n in names if n not in col]
            if missing:
                raise SystemExit(f"model {mid} names column '{missing[0]}', which the store lacks")
            cols = np.array([col[n] for n in names], np.int64)
            models[mid] = {"kind": "trees", "path": xp, "cols": cols,
                           "identity": len(cols) == len(schema) and bool((cols == np.arange(len(schema))).all())}
        else:
            raise SystemExit(f"no model file for {mid} in {files} ({mid}.logit.json or {mid}.xgb.json)")
    return models


def load_boosters(models, nthread):
    import xgboost as xgb
    for m in models.values():
        if m["kind"] == "trees":
            b = xgb.Booster(model_file=m["path"])
            b.set_param({"nthread": int(nthread)})
            m["booster"] = b
    return models


# ----------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------

def score_logistic(X, models, order):
    """Propensities of the logistic models in `order` (list of ids) as float32 columns [n, len(order)].

    All logistic models in one matrix product: the union of their columns, NaN counted as 0 (as the
    import format says), times a [columns, models] coefficient matrix, in float64; sigmoid; float32."""
    ids = [m for m in order if models[m]["kind"] == "logistic"]
    out = np.empty((X.shape[0], len(ids)), np.float32)
    if not ids:
        return ids, out
    ucols = np.unique(np.concatenate([models[m]["cols"] for m in ids]))
    pos = {c: i for i, c in enumerate(ucols)}
    W = np.zeros((len(ucols), len(ids)), np.float64)
    b = np.array([models[m]["intercept"] for m in ids], np.float64)
    for j, m in enumerate(ids):
        for c, w in zip(models[m]["cols"], models[m]["coef"]):
            W[pos[c], j] += w
    Xu = X[:, ucols].astype(np.float64)
    np.nan_to_num(Xu, copy=False, nan=0.0)
    Z = Xu @ W
    Z += b
    np.negative(Z, out=Z)
    np.exp(Z, out=Z)
    Z += 1.0
    np.reciprocal(Z, out=Z)
    out[:] = Z
    return ids, out


def score_trees(X, models, order):
    """Propensities of the tree models in `order` with XGBoost's own Booster.inplace_predict."""
    ids = [m for m in order if models[m]["kind"] == "trees"]
    out = np.empty((X.shape[0], len(ids)), np.float32)
    for j, m in enumerate(ids):
        mm = models[m]
        Xm = X if mm["identity"] else np.ascontiguousarray(X[:, mm["cols"]])
        out[:, j] = mm["booster"].inplace_predict(Xm, missing=np.nan, validate_features=False)
    return ids, out


def score_all(X, models, order, timer=None):
    """[n, len(order)] float32 propensities, one column per model id in `order`."""
    P = np.empty((X.shape[0], len(order)), np.float32)
    col = {m: i for i, m in enumerate(order)}
    t = time.perf_counter()
    lids, lp = score_logistic(X, models, order)
    t1 = time.perf_counter()
    tids, tp = score_trees(X, models, order)
    t2 = time.perf_counter()
    for j, m in enumerate(lids):
        P[:, col[m]] = lp[:, j]
    for j, m in enumerate(tids):
        P[:, col[m]] = tp[:, j]
    if timer is not None:
        timer.add("score_logistic", t1 - t)
        timer.add("score_trees", t2 - t1)
    return P


# ----------------------------------------------------------------------------------------------
# Eligibility: fatigue, channel rules, expected value
# ----------------------------------------------------------------------------------------------

def fatigue_window(camp):
    if camp["fatigue"] is None:
        return None
    end = camp["run_day"]
    return end - camp["fatigue"]["window_days"] + 1, end


def candidates(P, X, camp, schema, counts, model_order):
    """Every eligible (customer row, offer, channel) as column arrays, sorted by (row, offer, channel).

    counts: ignored contacts per (row, offer) in the fatigue window (or None). An offer ignored
    max_ignored times is excluded on every channel; an offer goes on a channel if its propensity is at
    least the channel's min_propensity (compared in float32, as nextbest does); value = the fixed value
    or the value column (missing = 0); EV = p * value - cost; objective = EV or p.

    One boolean matrix [customers, (offer, channel) pairs]; np.nonzero walks it row-major, which is
    already the (row, offer, channel) order: no sort."""
    n = P.shape[0]
    col = {name: i for i, name in enumerate(schema)}
    mcol = {m: i for i, m in enumerate(model_order)}
    chan_idx = {c: i for i, c in enumerate(camp["channels_list"])}
    maxi = camp["fatigue"]["max_ignored"] if camp["fatigue"] else None
    for o in camp["offers"]:
        if o["value_column"] is not None and o["value_column"] not in col:
            raise SystemExit(f"offer '{o['id']}' takes its value from column '{o['value_column']}', "
                             f"which is not a profile feature in the store")
    pairs = [(oi, o, ch, minp, cost) for oi, o in enumerate(camp["offers"]) for ch, minp, cost in o["channels"]]
    pair_offer = np.array([p[0] for p in pairs], np.int16)
    pair_chan = np.array([chan_idx[p[2]] for p in pairs], np.int8)
    pair_model = np.array([mcol[p[1]["model"]] for p in pairs], np.int64)
    pair_cost = np.array([p[4] for p in pairs], np.float64)
    pair_cost_micro = np.array([int(round(p[4] * MICRO)) for p in pairs], np.int64)
    pair_value = np.array([p[1]["value"] if p[1]["value_column"] is None else 0.0 for p in pairs], np.float64)
    pair_vcol = np.array([-1 if p[1]["value_column"] is None else col[p[1]["value_column"]] for p in pairs], np.int64)

    fatigued_total = 0
    fat = None
    if maxi is not None and counts is not None:
        fat = counts >= maxi
        fatigued_total = int(fat.sum())
    E = np.empty((n, len(pairs)), bool)
    for j, (oi, o, ch, minp, cost) in enumerate(pairs):
        np.greater_equal(P[:, pair_model[j]], np.float32(minp), out=E[:, j])
        if fat is not None:
            E[:, j] &= ~fat[:, oi]
    rows, js = np.nonzero(E)
    del E
    rows = rows.astype(np.int32)
    js = js.astype(np.int16)
    C = {"row": rows, "offer": pair_offer[js], "channel": pair_chan[js], "pair": js}
    C["p"] = P[rows, pair_model[js]]
    val = pair_value[js]
    vc = pair_vcol[js]
    m = np.flatnonzero(vc >= 0)
    if len(m):
        v = X[rows[m], vc[m]].astype(np.float64)
        v[np.isnan(v)] = 0.0
        val[m] = v
    C["ev"] = C["p"].astype(np.float64) * val - pair_cost[js]
    C["cost_micro"] = pair_cost_micro[js]
    C["obj"] = C["p"].astype(np.float64) if camp["objective"] == "propensity" else C["ev"]
    return C, fatigued_total


# ----------------------------------------------------------------------------------------------
# Greedy allocation
# ----------------------------------------------------------------------------------------------

def pair_info(camp):
    """Per (offer, channel) pair, in the order candidates() numbers them (offer id, then channel name):
    offer, channel, product, family codes and the cost in micro-units."""
    prod_idx = {p: i for i, p in enumerate(camp["products_list"])}
    fam_idx = {f: i for i, f in enumerate(camp["families_list"])}
    chan_idx = {c: i for i, c in enumerate(camp["channels_list"])}
    pairs = [(oi, o, ch, cost) for oi, o in enumerate(camp["offers"]) for ch, _minp, cost in o["channels"]]
    return {
        "offer": np.array([p[0] for p in pairs], np.int64),
        "channel": np.array([chan_idx[p[2]] for p in pairs], np.int64),
        "product": np.array([prod_idx[p[1]["product"]] for p in pairs], np.int64),
        "family": np.array([fam_idx[p[1]["family"]] for p in pairs], np.int64),
        "cost_micro": np.array([int(round(p[3] * MICRO)) for p in pairs], np.int64),
        "n": len(pairs), "noff": len(camp["offers"]), "nfam": len(fam_idx),
    }


def _group_starts(keys_sorted):
    """For each position of a sorted key sequence, the position where its group starts."""
    n = len(keys_sorted)
    if n == 0:
        return np.zeros(0, np.int64)
    flag = np.empty(n, bool)
    flag[0] = True
    flag[1:] = keys_sorted[1:] != keys_sorted[:-1]
    return np.maximum.accumulate(np.where(flag, np.arange(n), 0))


def _sort_score(obj, cost_micro, order_by):
    """The greedy's sort key (descending): the objective, or the objective per unit of cost."""
    if order_by == "ratio":  # objective per unit of cost (free candidates first)
        return np.where(cost_micro > 0, obj / np.maximum(cost_micro, 1), np.inf)
    return obj


def compact_candidates(C, row0, camp, order_by="objective", keep_nonpositive=False):
    """The allocation's compact layout of one block of customers' candidates (C from candidates(), rows
    local to the block, row0 = the block's first customer index).

    Candidates with objective <= 0 are dropped (the greedy never takes them) unless keep_nonpositive.
    The rest are stored per customer in greedy order: (customer, sort key descending, pair), where ties
    keep the table order (offer, channel), so that for the whole store "storage order restricted to equal
    keys" is the (customer, offer, channel) order, the greedy's tie-break. Per candidate: row int32,
    pair uint8, p float32, ev float64 (= the objective for expected_value), and two permutations local
    to the customer's block (uint8 offsets): the block sorted by (offer, greedy order) and by (family,
    greedy order), for the ranks within (customer, offer) and (customer, family). 19 bytes a candidate.
    Returns (dict of arrays, seconds of the sort, seconds of the group orders)."""
    pi = pair_info(camp)
    ptype = np.uint8 if pi["n"] <= 256 else np.uint16  # also bounds the candidates per customer
    t0 = time.perf_counter()
    sel = None if keep_nonpositive else np.flatnonzero(C["obj"] > 0)

    def take(a):
        return a if sel is None else a[sel]

    row = take(C["row"])
    pair = take(C["pair"])
    score = _sort_score(take(C["obj"]), pi["cost_micro"][pair], order_by)
    o = _order_within_rows(row, score)
    del score
    out = {"row": (row[o].astype(np.int64) + row0).astype(np.int32), "pair": pair[o].astype(ptype),
           "p": take(C["p"])[o], "ev": take(C["ev"])[o]}
    del o, row, pair
    t1 = time.perf_counter()
    r = out["row"].astype(np.int64)
    bs = _group_starts(r)
    for name, key, nkey in (("perm_co", pi["offer"], pi["noff"]), ("perm_cf", pi["family"], pi["nfam"])):
        o2 = np.argsort(r * nkey + key[out["pair"]], kind="stable")  # same customer block as position i
        o2 -= bs
        out[name] = o2.astype(ptype)
    t2 = time.perf_counter()
    return out, t1 - t0, t2 - t1


def _order_within_rows(row, score):
    """np.lexsort((-score, row)) for rows ascending (table order) with few candidates per row, fast: one
    stable sort of int64 keys (row, the top bits of an order-preserving integer image of -score); rows in
    which two candidates share those top bits but differ below them (or are -0.0 and 0.0) are then put in
    lexsort's order, so the result is exactly lexsort's (ties keep the table order)."""
    n = len(row)
    if n == 0:
        return np.zeros(0, np.int64)
    r = row.astype(np.int64) - int(row[0])
    rbits = max(1, int(r[-1]).bit_length())
    sbits = 63 - rbits
    if sbits < 24:
        return np.lexsort((-score, row))
    b = np.ascontiguousarray(score, np.float64).view(np.int64).copy()
    m = b >> 63
    m &= 0x7FFFFFFFFFFFFFFF
    b ^= m  # signed integers in the order of the floats (-0.0 just below 0.0)
    del m
    np.invert(b, out=b)  # descending
    b ^= np.int64(-2 ** 63)  # as unsigned, in the same order
    b.view(np.uint64)[:] >>= np.uint64(64 - sbits)  # the top sbits bits
    key = r << sbits
    key |= b
    del b
    o = np.argsort(key, kind="stable")
    del key
    # Adjacent candidates of one row out of lexsort's order (equal truncated keys only): redo those rows.
    s, ro = score[o], r[o]
    bad = (ro[1:] == ro[:-1]) & ((s[1:] > s[:-1]) | ((s[1:] == s[:-1]) & (o[1:] < o[:-1])))
    if bad.any():
        rows_bad = np.unique(ro[1:][bad])
        sel = np.flatnonzero(np.isin(r, rows_bad))  # those rows' candidates, in table order
        fix = sel[np.lexsort((-score[sel], r[sel]))]
        pos = np.flatnonzero(np.isin(ro, rows_bad))  # their slots in o (each row's block)
        o[pos] = fix
    return o


def candidate_store(capacity, ptype=np.uint8):
    """Empty arrays for `capacity` candidates in the compact layout (np.empty: pages are only resident once
    written, so an upper bound such as customers x pairs costs nothing until it is filled)."""
    return {"row": np.empty(capacity, np.int32), "pair": np.empty(capacity, ptype),
            "p": np.empty(capacity, np.float32), "ev": np.empty(capacity, np.float64),
            "perm_co": np.empty(capacity, ptype), "perm_cf": np.empty(capacity, ptype)}


def objective_values(S, objective, idx=None):
    """The objective of the candidates idx (all if None) of a compact store."""
    if objective == "propensity":
        return (S["p"] if idx is None else S["p"][idx]).astype(np.float64)
    return S["ev"] if idx is None else S["ev"][idx]


def greedy_allocate(S, camp, meta, region, segment, ncust, order_by="objective", min_first=True,
                    slice_candidates=1 << 23):
    """Sequential greedy, computed without a per-candidate Python loop, on the compact store S (see
    compact_candidates; consumed: its arrays are compacted in place).

    Semantics: walk the candidates by objective descending (ties: customer row, offer, channel) and
    accept one when every limit still allows it: one channel per (customer, offer), max_per_family,
    max_offers, total cost <= budget, count <= max for each listed product/region/segment/channel;
    candidates with objective <= 0 are never taken. With min_first, a first phase per min constraint
    walks only that group's candidates until its min is reached (never breaking a max); mins that are
    still unmet are reported, not forced. order_by="ratio" walks by objective per unit of cost instead.

    How it is vectorised: given the state, the candidates each customer would take next if no global
    limit rejected anything more form the tentative set T (rank within (customer, offer), (customer,
    family), customer among the live candidates: cumsums over the customer blocks, in greedy order for
    the customer, through the stored block permutations for offer and family). Walking T in greedy
    order, the first "event" is the position where a global cap becomes full or the budget would be
    exceeded; everything in T before it is exactly what the sequential greedy accepts. Accept that
    prefix, drop what can never be taken any more (full caps, cost above the remaining budget, taken
    offers, full families and customers) and repeat. Events are bounded by the number of caps plus the
    distinct costs, so the loop runs a few dozen times at most, each O(live candidates) in numpy.
    Every per-candidate pass runs over slices of ~slice_candidates candidates cut at customer
    boundaries (every group lies inside one customer), so the temporaries stay small; only T (at most
    max_offers per customer) is sorted into the global greedy order, by its sort key with a stable sort
    (storage order breaks the ties as the table order does).
    Returns (selection: dict of row, pair, p, ev of the chosen in (row, pair) order, stats).
    """
    pi = pair_info(camp)
    noff, nfam = pi["noff"], pi["nfam"]
    p_off, p_fam, p_cost = pi["offer"], pi["family"], pi["cost_micro"]
    attr = {"products": pi["product"], "channels": pi["channel"]}  # per pair; regions/segments per customer
    cust_attr = {"regions": region, "segments": segment}
    objective = camp["objective"]
    names = {"products": camp["products_list"], "regions": meta["regions"], "segments": meta["segments"],
             "channels": camp["channels_list"]}
    caps = []
    for kind, _ in KINDS:
        for name, b in camp[kind].items():
            code = names[kind].index(name) if name in names[kind] else -1
            caps.append({"kind": kind, "name": name, "code": code, "min": b["min"], "max": b["max"], "used": 0})
    budget = int(round(camp["budget"] * MICRO)) if camp["budget"] is not None else None
    st = {"spent": 0, "coff": None, "slices": None}
    cust_count = np.zeros(ncust, np.int32)
    fam_count = np.zeros(ncust * nfam, np.int16)
    offer_taken = np.zeros(ncust * noff, bool)
    mo, mpf = camp["max_offers"], camp["max_per_family"]
    chosen = {k: [] for k in ("row", "pair", "p", "ev")}
    stats = {"iterations": 0, "phases": [], "candidates": 0, "compactions": 0}
    t_loop = time.perf_counter()

    def layout():
        """Customer block offsets and the slices (cut at block starts) of the current arrays."""
        n = len(S["row"])
        coff = np.zeros(ncust + 1, np.int64)
        np.cumsum(np.bincount(S["row"], minlength=ncust), out=coff[1:])
        st["coff"] = coff
        if n == 0:
            st["slices"] = []
            return
        cuts = coff[np.searchsorted(coff, np.arange(slice_candidates, n, slice_candidates))]
        b = np.unique(np.concatenate([[0], cuts, [n]]))
        st["slices"] = list(zip(b[:-1].tolist(), b[1:].tolist()))

    def compact(keep):
        """Drops the candidates not in keep, in place (slice by slice, writing at or before what is read:
        no second copy of the arrays); the block permutations are renumbered."""
        stats["compactions"] += 1
        w = 0
        for s, e in st["slices"]:
            k = keep[s:e]
            bs = st["coff"][S["row"][s:e]] - s
            ck = np.cumsum(k, dtype=np.int32)
            ck -= k
            newlocal = ck - ck[bs]  # rank of a kept candidate in its block among the kept
            new = {}
            for name in ("perm_co", "perm_cf"):
                g = bs + S[name][s:e]
                g = g[k[g]]
                new[name] = newlocal[g].astype(S[name].dtype)
            for name in ("row", "pair", "p", "ev"):
                new[name] = S[name][s:e][k]
            m = len(new["row"])
            for name, a in new.items():
                S[name][w:w + m] = a
            w += m
        for name in ("row", "pair", "p", "ev", "perm_co", "perm_cf"):
            S[name] = S[name][:w]
        layout()

    def member_codes(kind, idx):
        if kind in attr:
            return attr[kind][S["pair"][idx]]
        return cust_attr[kind][S["row"][idx]]

    def live_mask():
        """Candidates still possible, slice by slice."""
        pair_dead = np.zeros(pi["n"], bool)
        if budget is not None:
            pair_dead |= p_cost > (budget - st["spent"])
        cust_dead = {k: np.zeros(len(names[k]), bool) for k in cust_attr}
        for cp in caps:
            if cp["max"] is not None and cp["used"] >= cp["max"] and cp["code"] >= 0:
                if cp["kind"] in attr:
                    pair_dead |= attr[cp["kind"]] == cp["code"]
                else:
                    cust_dead[cp["kind"]][cp["code"]] = True
        live = np.empty(len(S["row"]), bool)
        for s, e in st["slices"]:
            r = S["row"][s:e].astype(np.int64)
            pr = S["pair"][s:e]
            d = pair_dead[pr]
            d |= offer_taken[r * noff + p_off[pr]]
            d |= fam_count[r * nfam + p_fam[pr]] >= mpf
            d |= cust_count[r] >= mo
            for kind, a in cust_attr.items():
                if cust_dead[kind].any():
                    d |= cust_dead[kind][a[r]]
            np.logical_not(d, out=live[s:e])
        return live

    def group_rank(m, perm, bs, r, key):
        """Rank of each candidate among the masked ones of its (customer, key) group in greedy order
        (meaningful where masked). perm: the slice's block permutation sorted by (key, greedy order)."""
        g = bs + perm
        mg = m[g]
        kg = key[g]
        n = len(g)
        flag = np.empty(n, bool)
        if n:
            flag[0] = True
            flag[1:] = (r[1:] != r[:-1]) | (kg[1:] != kg[:-1])
        cs = np.cumsum(mg, dtype=np.int32)
        cs -= mg  # masked before, in the slice; non-decreasing, so the running max picks the group start's
        base = np.where(flag, cs, 0)
        np.maximum.accumulate(base, out=base)
        cs -= base
        rank = np.empty(n, np.int32)
        rank[g] = cs
        return rank

    def tentative(live):
        """T: per customer, what it takes next if no global limit rejects anything (storage order)."""
        out = []
        for s, e in st["slices"]:
            m = live[s:e]
            if not m.any():
                continue
            r = S["row"][s:e]
            pr = S["pair"][s:e]
            bs = st["coff"][r] - s
            a1 = m & (group_rank(m, S["perm_co"][s:e], bs, r, p_off[pr]) == 0)
            fam_key = p_fam[pr]
            room_f = mpf - fam_count[r.astype(np.int64) * nfam + fam_key].astype(np.int32)
            a2 = a1 & (group_rank(a1, S["perm_cf"][s:e], bs, r, fam_key) < room_f)
            cs = np.cumsum(a2, dtype=np.int32)
            cs -= a2
            T = a2 & ((cs - cs[bs]) < (mo - cust_count[r]))
            out.append(np.flatnonzero(T) + s)
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def run_phase(phase_cap):
        """Greedy over the live candidates (only phase_cap's members, if given) until none is left or,
        with phase_cap, until its count reaches its min."""
        iters = 0
        while True:
            live = live_mask()
            if live.sum() < 0.75 * len(live):  # dead candidates never come back: drop them
                compact(live)
                live = np.ones(len(S["row"]), bool)
            if phase_cap is not None:  # only that group's candidates
                for s, e in st["slices"]:
                    live[s:e] &= member_codes(phase_cap["kind"], slice(s, e)) == phase_cap["code"]
            if not live.any():
                break
            t = tentative(live)
            del live
            if len(t) == 0:
                break
            key = _sort_score(objective_values(S, objective, t), p_cost[S["pair"][t]], order_by)
            t = t[np.argsort(-key, kind="stable")]  # greedy order (storage order breaks ties)
            del key
            iters += 1
            stop = len(t)  # accept t[:stop]
            bounds = [(cp, cp["max"]) for cp in caps if cp["max"] is not None]
            if phase_cap is not None:
                bounds.append((phase_cap, phase_cap["min"]))
            for cp, limit in bounds:
                room = limit - cp["used"]
                if room <= 0:
                    continue
                hits = np.flatnonzero(member_codes(cp["kind"], t) == cp["code"])
                if len(hits) >= room:
                    stop = min(stop, int(hits[room - 1]) + 1)
            if budget is not None:
                cc = np.cumsum(p_cost[S["pair"][t]])
                stop = min(stop, int(np.searchsorted(cc, budget - st["spent"], side="right")))
            take = t[:stop]
            for k in chosen:
                chosen[k].append(S[k][take])
            rt = S["row"][take].astype(np.int64)
            pt = S["pair"][take]
            st["spent"] += int(p_cost[pt].sum())
            np.add.at(cust_count, rt, 1)
            np.add.at(fam_count, rt * nfam + p_fam[pt], 1)
            offer_taken[rt * noff + p_off[pt]] = True
            for cp in caps:
                cp["used"] += int((member_codes(cp["kind"], take) == cp["code"]).sum())
            if phase_cap is not None and phase_cap["used"] >= phase_cap["min"]:
                break
            if stop == len(t):
                # All of T accepted: every other live candidate is now excluded by a per-customer limit.
                break
        return iters

    layout()
    positive = objective_values(S, objective) > 0
    stats["candidates"] = int(positive.sum())
    if stats["candidates"] < len(positive):
        compact(positive)
    del positive
    if min_first:
        for cp in caps:
            if cp["min"] is not None and cp["min"] > 0 and cp["code"] >= 0:
                it = run_phase(cp)
                stats["phases"].append({"min": f"{cp['kind']}.{cp['name']}", "iterations": it, "used": cp["used"]})
                stats["iterations"] += it
    it = run_phase(None)
    stats["phases"].append({"main": True, "iterations": it})
    stats["iterations"] += it
    stats["seconds"] = {"walk": round(time.perf_counter() - t_loop, 3)}
    sel = {k: (np.concatenate(v) if v else S[k][:0]) for k, v in chosen.items()}
    o = np.lexsort((sel["pair"], sel["row"]))  # table order (customer, offer, channel)
    sel = {k: v[o] for k, v in sel.items()}
    return sel, stats


def selection_columns(sel, camp, region, segment):
    """The summary's columns of a selection (row, pair, p, ev; e.g. greedy_allocate's)."""
    pi = pair_info(camp)
    pr = sel["pair"].astype(np.int64)
    row = sel["row"].astype(np.int64)
    obj = sel["p"].astype(np.float64) if camp["objective"] == "propensity" else sel["ev"]
    return {"row": row, "offer": pi["offer"][pr], "channel": pi["channel"][pr], "region": region[row],
            "segment": segment[row], "cost_micro": pi["cost_micro"][pr], "obj": obj, "ev": sel["ev"],
            "p": sel["p"]}


def greedy_reference(C, camp, meta, region, segment, ncust, min_first=True):
    """The same greedy as greedy_allocate as a plain Python loop over the candidates (slow: for checks on
    small instances). Returns the sorted chosen indices into C."""
    offers = camp["offers"]
    fam_of = [o["family"] for o in offers]
    prod_of = [o["product"] for o in offers]
    chans = camp["channels_list"]
    idx = np.flatnonzero(C["obj"] > 0)
    idx = idx[np.argsort(-C["obj"][idx], kind="stable")]
    names = {"products": None, "regions": meta["regions"], "segments": meta["segments"], "channels": None}
    caps = []
    for kind, _ in KINDS:
        for name, b in camp[kind].items():
            caps.append({"kind": kind, "name": name, "min": b["min"], "max": b["max"], "used": 0})

    def keys(i):
        r = int(C["row"][i])
        o = int(C["offer"][i])
        return {"products": prod_of[o], "regions": names["regions"][region[r]],
                "segments": names["segments"][segment[r]], "channels": chans[int(C["channel"][i])]}

    budget = int(round(camp["budget"] * MICRO)) if camp["budget"] is not None else None
    spent = 0
    cust = {}
    fam = {}
    taken = set()
    chosen = []

    def try_take(i):
        nonlocal spent
        r, o = int(C["row"][i]), int(C["offer"][i])
        if (r, o) in taken or cust.get(r, 0) >= camp["max_offers"] or \
                fam.get((r, fam_of[o]), 0) >= camp["max_per_family"]:
            return False
        c = int(C["cost_micro"][i])
        if budget is not None and spent + c > budget:
            return False
        k = keys(i)
        for cp in caps:
            if cp["max"] is not None and k[cp["kind"]] == cp["name"] and cp["used"] >= cp["max"]:
                return False
        taken.add((r, o))
        cust[r] = cust.get(r, 0) + 1
        fam[(r, fam_of[o])] = fam.get((r, fam_of[o]), 0) + 1
        spent += c
        for cp in caps:
            if k[cp["kind"]] == cp["name"]:
                cp["used"] += 1
        chosen.append(int(i))
        return True

    if min_first:
        for mc in caps:
            if mc["min"] is None or mc["min"] <= 0:
                continue
            for i in idx:
                if mc["used"] >= mc["min"]:
                    break
                if keys(i)[mc["kind"]] == mc["name"]:
                    try_take(i)
    for i in idx:
        try_take(i)
    return np.array(sorted(chosen), np.int64)


# ----------------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------------

def summarize_selection(sel, camp, meta):
    """Totals of a selection given as column arrays: row (any customer key), offer, channel (codes as in
    the campaign lists), region, segment (store codes), cost_micro, obj, ev, p."""
    offers = camp["offers"]
    row = np.asarray(sel["row"]).astype(np.int64)
    off = np.asarray(sel["offer"]).astype(np.int64)
    chn = np.asarray(sel["channel"]).astype(np.int64)
    cost_micro = int(np.asarray(sel["cost_micro"]).sum())
    prod_of = np.array([camp["products_list"].index(o["product"]) for o in offers], np.int64)

    def counts(codes, names):
        b = np.bincount(codes, minlength=len(names)) if len(codes) else np.zeros(len(names), np.int64)
        return {name: int(b[i]) for i, name in enumerate(names)}

    by = {
        "by_product": counts(prod_of[off], camp["products_list"]),
        "by_region": counts(np.asarray(sel["region"]).astype(np.int64), meta["regions"]),
        "by_segment": counts(np.asarray(sel["segment"]).astype(np.int64), meta["segments"]),
        "by_channel": counts(chn, camp["channels_list"]),
        "by_offer": counts(off, [o["id"] for o in offers]),
    }
    cons = []
    if camp["budget"] is not None:
        used = cost_micro / MICRO
        cons.append({"key": "constraints.budget", "used": round(used, 6), "min": None, "max": camp["budget"],
                     "holds": cost_micro <= int(round(camp["budget"] * MICRO))})
    table = {"products": by["by_product"], "regions": by["by_region"], "segments": by["by_segment"],
             "channels": by["by_channel"]}
    for kind, _ in KINDS:
        for name, b in camp[kind].items():
            used = table[kind].get(name, 0)
            holds = (b["min"] is None or used >= b["min"]) and (b["max"] is None or used <= b["max"])
            cons.append({"key": f"constraints.{kind}.{name}", "used": used, "min": b["min"], "max": b["max"],
                         "holds": bool(holds)})
    # Per-customer limits, checked (they hold by construction).
    per_cust_ok = True
    if len(row):
        _, ridx = np.unique(row, return_inverse=True)
        ridx = ridx.reshape(-1).astype(np.int64)
        fam_of = np.array([camp["families_list"].index(o["family"]) for o in offers], np.int64)
        nf = len(camp["families_list"])
        pc = np.bincount(ridx)
        pf = np.bincount(ridx * nf + fam_of[off])
        po = np.bincount(ridx * len(offers) + off)
        per_cust_ok = bool(pc.max() <= camp["max_offers"] and pf.max() <= camp["max_per_family"] and po.max() <= 1)
    out = {
        "objective": round(float(np.asarray(sel["obj"], np.float64).sum()), 4),
        "offers_made": int(len(row)),
        "customers_with_offers": int(len(np.unique(row))),
        "total_expected_value": round(float(np.asarray(sel["ev"], np.float64).sum()), 4),
        "total_cost": round(cost_micro / MICRO, 6),
        "expected_responses": round(float(np.asarray(sel["p"], np.float64).sum()), 4),
    }
    out.update(by)
    out["constraints"] = cons
    out["per_customer_limits_hold"] = per_cust_ok
    out["all_max_hold"] = all(
        (c["max"] is None or c["used"] <= c["max"] + 1e-9) for c in cons) and per_cust_ok
    out["min_failed"] = [c["key"] for c in cons if c["min"] is not None and c["used"] < c["min"]]
    return out


def compare_with_reference(result, ref_path):
    """Objective ratio and constraint use next to nextbest's summary.json of the same store."""
    with open(ref_path) as f:
        ref = json.load(f)
    opt = ref.get("optimization", {})
    ref_obj = opt.get("objective", ref.get("total_expected_value"))
    ref_cons = {c["key"]: c for c in opt.get("constraints", [])}
    cmp = {
        "summary": os.path.abspath(ref_path),
        "nextbest_objective": ref_obj,
        "nextbest_dual_bound": opt.get("dual_bound"),
        "objective_ratio": round(result["objective"] / ref_obj, 6) if ref_obj else None,
        "nextbest_offers_made": ref.get("offers_made"),
        "nextbest_total_cost": ref.get("total_cost"),
        "nextbest_fatigue_exclusions": ref.get("fatigue_exclusions"),
        "nextbest_seconds": (ref.get("timings_seconds") or {}).get("total"),
        "constraints": [{"key": c["key"], "baseline_used": c["used"],
                         "nextbest_used": ref_cons.get(c["key"], {}).get("used"),
                         "min": c["min"], "max": c["max"]} for c in result["constraints"]],
    }
    if opt.get("dual_bound"):
        cmp["objective_over_dual_bound"] = round(result["objective"] / opt["dual_bound"], 6)
    return cmp


def write_result(result, args, line):
    """Adds the comparison with nextbest's summary.json (if --reference), writes `result` to --out
    atomically, and prints `line` completed with the objective ratio and any unmet min."""
    if args.reference:
        result["reference"] = compare_with_reference(result, args.reference)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(tmp, args.out)
    if "reference" in result:
        line += f"; objective / nextbest = {result['reference']['objective_ratio']}"
    if result["min_failed"]:
        line += f"; min not met: {', '.join(result['min_failed'])}"
    print(line)
