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


def load_profiles(env, dbs, nfeat, lo=None, hi=None, limit=None):
    """Profiles with lo <= customer id < hi (None = open), at most `limit` of them, in id order.

    Returns (ids uint64[n], region uint16[n], segment uint16[n], X float32[n, nfeat]). The records are
    fixed size when every record has n == nfeat (always, for a store written by nextbest), so all values
    are joined into one buffer and viewed with a structured dtype: no per-feature Python work.
    """
    keys, vals = [], []
    with env.begin(db=dbs["profiles"]) as txn:
        cur = txn.cursor()
        ok = cur.set_range(_key(lo)) if lo is not None else cur.first()
        if ok:
            hik = _key(hi) if hi is not None else None
            for k, v in cur.iternext(keys=True, values=True):
                if hik is not None and k >= hik:
                    break
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
        cur = txn.cursor()
        ok = cur.set_range(_key(lo)) if lo is not None else cur.first()
        if ok:
            hik = _key(hi) if hi is not None else None
            for k, v in cur.iternext(keys=True, values=True):
                if hik is not None and k >= hik:
                    break
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
    C = {"row": rows, "offer": pair_offer[js], "channel": pair_chan[js]}
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

def _group_starts(keys_sorted):
    """For each position of a sorted key sequence, the position where its group starts."""
    n = len(keys_sorted)
    if n == 0:
        return np.zeros(0, np.int64)
    flag = np.empty(n, bool)
    flag[0] = True
    flag[1:] = keys_sorted[1:] != keys_sorted[:-1]
    return np.maximum.accumulate(np.where(flag, np.arange(n), 0))


class _GroupOrder:
    """Candidates (table positions 0..n-1, in (customer, offer, channel) order) sorted by a group key,
    ties by greedy position, and per sorted position where its group starts: gives each candidate's
    rank, in greedy order, among the masked candidates of its group with one gather, one cumsum and one
    scatter. The groups are inside one customer, so the permutation only moves candidates within a
    customer's block: the gathers stay cache-friendly at tens of millions of candidates."""

    def __init__(self, key, gpos):
        """key[j]: group key of candidate j (nearly ascending in table order); gpos[j]: its greedy
        position (unique)."""
        n = len(key)
        self.itype = np.int32 if n < 2 ** 31 - 1 else np.int64
        o = _local_order(key, gpos)
        self.order = o.astype(self.itype)
        self.key_sorted = key[o]
        self.start = _group_starts(self.key_sorted).astype(self.itype)

    def filter(self, keep, new_pos):
        """Drops the candidates not in `keep` (positions renumbered by new_pos), keeping the order."""
        k = keep[self.order]
        self.order = new_pos[self.order[k]].astype(self.itype)
        self.key_sorted = self.key_sorted[k]
        self.start = _group_starts(self.key_sorted).astype(self.itype)

    def rank(self, mask):
        ms = mask[self.order].astype(self.itype)
        cs = np.cumsum(ms, dtype=self.itype)
        cs -= ms
        r = np.empty(len(mask), self.itype)
        r[self.order] = cs - cs[self.start]
        return r


def _local_order(key, gpos):
    """np.lexsort((gpos, key)) for keys that are nearly ascending already (grouped by customer): sorts
    (key, gpos) packed in one int64 with numpy's stable sort, fast on such nearly sorted data (runs).
    Falls back to lexsort when the values do not fit in 62 bits."""
    n = len(key)
    if n == 0:
        return np.zeros(0, np.int64)
    kb = int(key.max()).bit_length()
    gb = int(gpos.max()).bit_length()
    if kb + gb <= 62:
        packed = key.astype(np.int64) << gb
        packed |= gpos
        o = np.argsort(packed, kind="stable")
        return o
    return np.lexsort((gpos, key))


def greedy_allocate(C, camp, meta, region, segment, ncust, order_by="objective", min_first=True):
    """Sequential greedy, computed without a per-candidate Python loop.

    Semantics: walk the candidates by objective descending (ties: customer row, offer, channel) and
    accept one when every limit still allows it: one channel per (customer, offer), max_per_family,
    max_offers, total cost <= budget, count <= max for each listed product/region/segment/channel;
    candidates with objective <= 0 are never taken. With min_first, a first phase per min constraint
    walks only that group's candidates until its min is reached (never breaking a max); mins that are
    still unmet are reported, not forced. order_by="ratio" walks by objective per unit of cost instead.

    How it is vectorised: given the state, the candidates each customer would take next if no global
    limit rejected anything more form the tentative set T (rank within (customer, offer), (customer,
    family), customer among the live candidates: three group orders, cumsums). Walking T in greedy
    order, the first "event" is the position where a global cap becomes full or the budget would be
    exceeded; everything in T before it is exactly what the sequential greedy accepts. Accept that
    prefix, drop what can never be taken any more (full caps, cost above the remaining budget, taken
    offers, full families and customers) and repeat. Events are bounded by the number of caps plus the
    distinct costs, so the loop runs a few dozen times at most, each O(live candidates) in numpy.
    The working arrays stay in table order (customer blocks); only T is sorted into greedy order.
    Returns (sorted indices into C of the chosen candidates, stats).
    """
    offers = camp["offers"]
    prod_idx = {p: i for i, p in enumerate(camp["products_list"])}
    fam_idx = {f: i for i, f in enumerate(camp["families_list"])}
    offer_prod = np.array([prod_idx[o["product"]] for o in offers], np.int64)
    offer_fam = np.array([fam_idx[o["family"]] for o in offers], np.int64)
    nfam = len(fam_idx)
    noff = len(offers)
    t_sort = time.perf_counter()

    idx0 = np.flatnonzero(C["obj"] > 0)  # table order: (row, offer, channel)
    n = len(idx0)
    itype = np.int32 if max(n, ncust * max(noff, nfam)) < 2 ** 31 - 1 else np.int64
    obj = C["obj"][idx0]
    if order_by == "ratio":  # objective per unit of cost (free candidates first)
        cst = C["cost_micro"][idx0]
        score = np.where(cst > 0, obj / np.maximum(cst, 1), np.inf)
    else:
        score = obj
    # Greedy position of every candidate; a stable sort keeps the table order as the tie-break.
    perm = np.argsort(-score, kind="stable")
    gpos = np.empty(n, itype)
    gpos[perm] = np.arange(n, dtype=itype)
    del perm, obj, score
    t_groups = time.perf_counter()

    A = {"orig": idx0.astype(itype), "row": C["row"][idx0].astype(itype), "gpos": gpos,
         "cost": C["cost_micro"][idx0]}
    off = C["offer"][idx0].astype(np.int16)
    fam = offer_fam[off].astype(np.int16)
    A["co"] = A["row"] * itype(noff) + off
    A["cf"] = A["row"] * itype(nfam) + fam
    if camp["products"]:
        A["products"] = offer_prod[off].astype(np.int16)
    if camp["regions"]:
        A["regions"] = region[A["row"]].astype(np.int16)
    if camp["segments"]:
        A["segments"] = segment[A["row"]].astype(np.int16)
    if camp["channels"]:
        A["channels"] = C["channel"][idx0].astype(np.int16)
    del off, fam
    groups = [_GroupOrder(A["co"], gpos), _GroupOrder(A["cf"], gpos), _GroupOrder(A["row"], gpos)]
    t_cols = time.perf_counter()

    names = {"products": camp["products_list"], "regions": meta["regions"], "segments": meta["segments"],
             "channels": camp["channels_list"]}
    caps = []
    for kind, _ in KINDS:
        for name, b in camp[kind].items():
            code = names[kind].index(name) if name in names[kind] else -1
            caps.append({"kind": kind, "name": name, "code": code, "min": b["min"], "max": b["max"], "used": 0})
    budget = int(round(camp["budget"] * MICRO)) if camp["budget"] is not None else None
    st = {"spent": 0}
    cust_count = np.zeros(ncust, np.int32)
    fam_count = np.zeros(ncust * nfam, np.int32)
    offer_taken = np.zeros(ncust * noff, bool)
    mo, mpf = camp["max_offers"], camp["max_per_family"]
    chosen = []
    stats = {"iterations": 0, "phases": [], "candidates": int(n), "compactions": 0}
    t_loop = time.perf_counter()
    stats["seconds"] = {"sort": round(t_groups - t_sort, 3), "group_orders": round(t_loop - t_groups, 3)}

    def member(cp, sel=None):
        codes = A[cp["kind"]] if sel is None else A[cp["kind"]][sel]
        return codes == cp["code"]

    def live_mask():
        d = offer_taken[A["co"]] | (fam_count[A["cf"]] >= mpf) | (cust_count[A["row"]] >= mo)
        for cp in caps:
            if cp["max"] is not None and cp["used"] >= cp["max"]:
                d |= member(cp)
        if budget is not None:
            d |= A["cost"] > (budget - st["spent"])
        return ~d

    def compact(keep):
        stats["compactions"] += 1
        new_pos = (np.cumsum(keep, dtype=np.int64) - 1)
        for g in groups:
            g.filter(keep, new_pos)
        for k in A:
            A[k] = A[k][keep]

    def run_phase(phase_cap):
        """Greedy over the live candidates (only phase_cap's members, if given) until none is left or,
        with phase_cap, until its count reaches its min."""
        iters = 0
        while True:
            live = live_mask()
            if live.sum() < 0.75 * len(live):  # dead candidates never come back: drop them
                compact(live)
                live = np.ones(len(A["row"]), bool)
            if phase_cap is not None:
                live &= member(phase_cap)
            if not live.any():
                break
            g_co, g_cf, g_c = groups
            a1 = live & (g_co.rank(live) == 0)
            a2 = a1 & (g_cf.rank(a1) < (mpf - fam_count[A["cf"]]))
            T = a2 & (g_c.rank(a2) < (mo - cust_count[A["row"]]))
            del a1, a2
            t = np.flatnonzero(T)
            if len(t) == 0:
                break
            t = t[np.argsort(A["gpos"][t])]  # T in greedy order (positions are unique)
            iters += 1
            stop = len(t)  # accept t[:stop]
            bounds = [(cp, cp["max"]) for cp in caps if cp["max"] is not None]
            if phase_cap is not None:
                bounds.append((phase_cap, phase_cap["min"]))
            for cp, limit in bounds:
                room = limit - cp["used"]
                if room <= 0:
                    continue
                hits = np.flatnonzero(member(cp, t))
                if len(hits) >= room:
                    stop = min(stop, int(hits[room - 1]) + 1)
            if budget is not None:
                cc = np.cumsum(A["cost"][t])
                stop = min(stop, int(np.searchsorted(cc, budget - st["spent"], side="right")))
            take = t[:stop]
            chosen.append(A["orig"][take])
            st["spent"] += int(A["cost"][take].sum())
            cust_count[:] += np.bincount(A["row"][take], minlength=ncust).astype(np.int32)
            fam_count[:] += np.bincount(A["cf"][take], minlength=ncust * nfam).astype(np.int32)
            offer_taken[A["co"][take]] = True
            for cp in caps:
                cp["used"] += int(member(cp, take).sum())
            if phase_cap is not None and phase_cap["used"] >= phase_cap["min"]:
                break
            if stop == len(t):
                # All of T accepted: every other live candidate is now excluded by a per-customer limit.
                break
        return iters

    if min_first:
        for cp in caps:
            if cp["min"] is not None and cp["min"] > 0 and cp["code"] >= 0:
                it = run_phase(cp)
                stats["phases"].append({"min": f"{cp['kind']}.{cp['name']}", "iterations": it, "used": cp["used"]})
                stats["iterations"] += it
    it = run_phase(None)
    stats["phases"].append({"main": True, "iterations": it})
    stats["iterations"] += it
    stats["seconds"]["walk"] = round(time.perf_counter() - t_loop, 3)
    out = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)
    return out, stats


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

def summarize(C, chosen, camp, region, segment, meta):
    """summary.json-like totals of the chosen candidates (indices into C; region/segment per row)."""
    sel = {k: C[k][chosen] for k in ("row", "offer", "channel", "cost_micro", "obj", "ev", "p")}
    sel["region"] = region[sel["row"]]
    sel["segment"] = segment[sel["row"]]
    return summarize_selection(sel, camp, meta)


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
