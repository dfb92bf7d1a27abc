#!/usr/bin/env python3
"""Independent HiGHS reference solver for the nextbest offer assignment.

Used to check the Lagrangian optimizer: it solves the exact LP relaxation (and,
optionally, the integer program) of the assignment problem and reports the
optimum plus how much of each global constraint the LP solution uses.

Usage:
    lp_optimum.py CANDIDATES.csv CONSTRAINTS.json OUT.json
                  [--mip] [--time-limit SECONDS] [--threads N]
                  [--solver choose|simplex|ipm|pdlp] [--block N]
                  [--mip-presolve choose|on|off] [--mip-rel-gap G]
                  [--verbose]
    lp_optimum.py --selftest
    lp_optimum.py --generate CUSTOMERS OUT_DIR [--seed N]
        (writes a synthetic candidates.csv + constraints.json; for benchmarks,
         put OUT_DIR outside the repository)

Candidates CSV header (exact):
    customer_id,region,segment,offer_id,product,family,channel,cost,objective

Model: x[c,o,ch] in [0,1] (LP) / {0,1} (MIP), one per CSV row; maximize
sum objective*x subject to
    per (customer, offer):   sum_ch x <= 1
    per customer:            sum x <= max_offers
    per (customer, family):  sum x <= max_per_family
    sum cost*x <= budget                      (if budget is not null)
    min <= count(x with product/region/segment/channel = k) <= max
Exit code is 0 for any solver outcome (infeasible included); the status is
reported in the JSON. Only highspy and numpy are required.

Implementation notes:
  * The sparse matrix is built column-wise with numpy (no per-row Python
    expressions). Redundant per-customer rows are omitted (e.g. a customer
    with <= max_offers distinct offers), and so are candidates with
    objective <= 0 unless they count towards a positive minimum.
  * The global rows (budget, product/region/segment/channel counts) touch
    almost every column; dense rows make HiGHS' dual simplex ~5-7x slower,
    so they are disaggregated over blocks of --block customers with
    auxiliary columns, and LP presolve (which would undo this) is off.
  * --mip: the LP vertex has few fractional customers; those are
    re-optimised exactly by a small MIP with the others fixed ("lp_repair").
    If that is within --mip-rel-gap of the LP bound it is reported as
    optimal within the gap; otherwise HiGHS branch and bound runs on the
    full model, warm-started, under a hard wall-clock --time-limit.
    mip_gap = (bound - mip_optimum) / |mip_optimum| with bound = min(LP
    optimum, HiGHS dual bound).
"""

import argparse
import csv
import itertools
import json
import os
import random
import sys
import tempfile
import time

import numpy as np

try:
    import highspy
except ImportError:  # pragma: no cover
    sys.exit("lp_optimum.py needs highspy: pip install highspy numpy")

HEADER = ["customer_id", "region", "segment", "offer_id", "product",
          "family", "channel", "cost", "objective"]
CATEGORIES = [("products", "product"), ("regions", "region"),
              ("segments", "segment"), ("channels", "channel")]
INF = float("inf")


# --------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------

class Candidates:
    """Column-oriented candidate table with integer-coded labels."""

    def __init__(self, path):
        maps = {k: {} for k in ("customer", "region", "segment", "offer",
                                "product", "family", "channel")}
        codes = {k: [] for k in maps}
        cost, obj = [], []
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or [h.strip() for h in header] != HEADER:
                raise SystemExit("bad header in %s: expected %s, got %s"
                                 % (path, ",".join(HEADER), header))
            mc, mr, ms, mo, mp, mf, mch = (maps[k] for k in (
                "customer", "region", "segment", "offer", "product", "family",
                "channel"))
            cc, cr, cs, co, cp, cf, cch = (codes[k] for k in (
                "customer", "region", "segment", "offer", "product", "family",
                "channel"))
            for lineno, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != 9:
                    raise SystemExit("%s:%d: expected 9 fields, got %d"
                                     % (path, lineno, len(row)))
                c, r, s, o, p, fam, ch, cst, ob = row
                cc.append(mc.setdefault(c, len(mc)))
                cr.append(mr.setdefault(r, len(mr)))
                cs.append(ms.setdefault(s, len(ms)))
                co.append(mo.setdefault(o, len(mo)))
                cp.append(mp.setdefault(p, len(mp)))
                cf.append(mf.setdefault(fam, len(mf)))
                cch.append(mch.setdefault(ch, len(mch)))
                cost.append(float(cst))
                obj.append(float(ob))
        self.maps = maps
        self.code = {k: np.asarray(v, dtype=np.int64)
                     for k, v in codes.items()}
        self.cost = np.asarray(cost, dtype=np.float64)
        self.obj = np.asarray(obj, dtype=np.float64)
        self.n = len(self.obj)
        if self.n and self.cost.min() < 0:
            raise SystemExit("negative cost in candidates")


def load_constraints(path):
    with open(path) as f:
        cons = json.load(f)
    out = {"max_offers": cons.get("max_offers"),
           "max_per_family": cons.get("max_per_family"),
           "budget": cons.get("budget")}
    for key, _ in CATEGORIES:
        bounds = {}
        for name, b in (cons.get(key) or {}).items():
            b = b or {}
            lo = b.get("min")
            hi = b.get("max")
            bounds[name] = (float(lo) if lo is not None else None,
                            float(hi) if hi is not None else None)
        out[key] = bounds
    return out


# --------------------------------------------------------------------------
# Model construction (vectorised; no per-row Python expressions)
# --------------------------------------------------------------------------

def _group(keys):
    """Dense ids for keys; returns (inverse, counts)."""
    _, inv, cnt = np.unique(keys, return_inverse=True, return_counts=True)
    return inv.reshape(-1), cnt


def build_lp(cand, cons, block=64):
    """Returns (HighsLp, kept_column_indices, info).

    The first len(kept) model columns are the candidates x; when block > 0
    the global rows (budget and counts), which touch almost every column, are
    disaggregated to keep the simplex pivot rows sparse: customers are split
    into blocks of `block` customers, and for every global row r and block g
    an auxiliary column s[r,g] >= 0 with row  sum_{j in g} a_rj x_j - s[r,g]
    = 0  is added, while the global row itself becomes  lo <= sum_g s[r,g]
    <= hi.  This is an exact reformulation (s is determined by x); with one
    dense row HiGHS' dual simplex is otherwise ~10x slower at 50k customers.
    """
    n = cand.n
    # A column with objective <= 0 can only be useful if it counts towards a
    # positive minimum (all other rows are <= rows with nonnegative
    # coefficients), so the others are dropped up front.
    useful = cand.obj > 0
    for key, field in CATEGORIES:
        mins = [name for name, (lo, _) in cons[key].items()
                if lo is not None and lo > 0]
        ids = [cand.maps[field][nm] for nm in mins if nm in cand.maps[field]]
        if ids:
            useful |= np.isin(cand.code[field], ids)
    keep = np.flatnonzero(useful)
    m = len(keep)
    cust = cand.code["customer"][keep]
    off = cand.code["offer"][keep]
    fam = cand.code["family"][keep]
    n_off = max(len(cand.maps["offer"]), 1)
    n_fam = max(len(cand.maps["family"]), 1)
    n_cust_all = len(cand.maps["customer"])

    blocks = []        # per-column row index (-1 = absent), in row order
    values = []        # per-column coefficient for each block
    row_lo, row_hi = [], []
    n_rows = 0

    def add_block(col_row, lo, hi, val=None):
        nonlocal n_rows
        k = len(lo)
        blocks.append(np.where(col_row >= 0, col_row + n_rows, -1))
        values.append(np.ones(m) if val is None else val)
        row_lo.append(np.asarray(lo, dtype=np.float64))
        row_hi.append(np.asarray(hi, dtype=np.float64))
        n_rows += k
        return k

    info = {"model_x_cols": m}
    # (customer, offer): sum over channels <= 1; only needed if >1 channel.
    pair_id, pair_cnt = _group(cust * n_off + off)
    need = pair_cnt > 1
    remap = np.cumsum(need) - 1
    k = int(need.sum())
    add_block(np.where(need[pair_id], remap[pair_id], -1), np.full(k, -INF),
              np.ones(k))
    info["customer_offer_rows"] = k

    # Distinct offers per customer / per (customer, family), via pair groups.
    first_of_pair = np.zeros(len(pair_cnt), dtype=np.int64)
    first_of_pair[pair_id] = np.arange(m)
    pair_cust = cust[first_of_pair]
    pair_cf = pair_cust * n_fam + fam[first_of_pair]

    mo = cons["max_offers"]
    if mo is not None:
        distinct = np.bincount(pair_cust, minlength=n_cust_all)
        need = distinct > mo
        remap = np.cumsum(need) - 1
        k = int(need.sum())
        add_block(np.where(need[cust], remap[cust], -1), np.full(k, -INF),
                  np.full(k, float(mo)))
        info["customer_rows"] = k

    mpf = cons["max_per_family"]
    if mpf is not None:
        cf = cust * n_fam + fam
        ukeys, cf_inv = np.unique(cf, return_inverse=True)
        cf_inv = cf_inv.reshape(-1)
        distinct = np.bincount(np.searchsorted(ukeys, pair_cf),
                               minlength=len(ukeys))
        need = distinct > mpf
        remap = np.cumsum(need) - 1
        k = int(need.sum())
        add_block(np.where(need[cf_inv], remap[cf_inv], -1), np.full(k, -INF),
                  np.full(k, float(mpf)))
        info["customer_family_rows"] = k

    # Global rows: per column at most one row per kind (budget, 4 categories).
    g_rows, g_vals, g_lo, g_hi, g_names = [], [], [], [], []
    if cons["budget"] is not None:
        c = cand.cost[keep]
        g_rows.append(np.where(c > 0, 0, -1))
        g_vals.append(c)
        g_lo.append(-INF)
        g_hi.append(float(cons["budget"]))
        g_names.append(("budget", None))
    for key, field in CATEGORIES:
        bounds = cons[key]
        if not bounds:
            continue
        base = len(g_lo)
        label_to_row = np.full(len(cand.maps[field]) + 1, -1, dtype=np.int64)
        for i, (name, (lo, hi)) in enumerate(bounds.items()):
            lid = cand.maps[field].get(name)
            if lid is not None:
                label_to_row[lid] = base + i
            g_lo.append(lo if lo is not None else -INF)
            g_hi.append(hi if hi is not None else INF)
            g_names.append((key, name))
        g_rows.append(label_to_row[cand.code[field][keep]])
        g_vals.append(np.ones(m))
    n_glob = len(g_lo)

    n_blk = 0
    if n_glob and block and block > 0:
        n_blk = (n_cust_all + block - 1) // block
        blk = cust // block
        # definition rows (r, g) -> index r * n_blk + g
        for gr, gv in zip(g_rows, g_vals):
            blocks.append(np.where(gr >= 0, gr * n_blk + blk + n_rows, -1))
            values.append(gv)
        def_start = n_rows
        n_def = n_glob * n_blk
        row_lo.append(np.zeros(n_def))
        row_hi.append(np.zeros(n_def))
        n_rows += n_def
        glob_start = n_rows
        row_lo.append(np.asarray(g_lo, dtype=np.float64))
        row_hi.append(np.asarray(g_hi, dtype=np.float64))
        n_rows += n_glob
    elif n_glob:
        for gr, gv in zip(g_rows, g_vals):
            add_block(gr, [], [], gv)  # rows are appended below in one go
        glob_start = n_rows
        row_lo.append(np.asarray(g_lo, dtype=np.float64))
        row_hi.append(np.asarray(g_hi, dtype=np.float64))
        n_rows += n_glob
    info["global_rows"] = {("%s:%s" % nm if nm[1] is not None else nm[0]):
                           glob_start + i for i, nm in enumerate(g_names)}

    # Assemble CSC: blocks are in increasing row order, so flattening the
    # (columns x blocks) table row-major gives sorted row indices per column.
    if blocks:
        rows = np.stack(blocks, axis=1)
        vals = np.stack(values, axis=1)
        mask = rows >= 0
        index = rows[mask]
        value = vals[mask].astype(np.float64)
        counts = mask.sum(axis=1)
        del rows, vals, mask
    else:
        index = np.zeros(0, dtype=np.int64)
        value = np.zeros(0)
        counts = np.zeros(m, dtype=np.int64)
    n_aux = n_glob * n_blk
    if n_aux:
        # s[r,g]: -1 in its definition row, +1 in global row r
        r_of = np.repeat(np.arange(n_glob), n_blk)
        aux_idx = np.empty(2 * n_aux, dtype=np.int64)
        aux_idx[0::2] = def_start + np.arange(n_aux)
        aux_idx[1::2] = glob_start + r_of
        aux_val = np.empty(2 * n_aux)
        aux_val[0::2] = -1.0
        aux_val[1::2] = 1.0
        index = np.concatenate([index, aux_idx])
        value = np.concatenate([value, aux_val])
        counts = np.concatenate([counts, np.full(n_aux, 2, dtype=np.int64)])
    n_col = m + n_aux
    start = np.zeros(n_col + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    if start[-1] > np.iinfo(np.int32).max:
        raise SystemExit("model too large for 32-bit HiGHS indices")

    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_rows
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.concatenate([cand.obj[keep], np.zeros(n_aux)])
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.concatenate([np.ones(m), np.full(n_aux, INF)])
    lp.row_lower_ = (np.concatenate(row_lo) if row_lo else np.zeros(0))
    lp.row_upper_ = (np.concatenate(row_hi) if row_hi else np.zeros(0))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = n_rows
    lp.a_matrix_.start_ = start.astype(np.int32)
    lp.a_matrix_.index_ = index.astype(np.int32)
    lp.a_matrix_.value_ = value
    info["model_cols"] = n_col
    info["model_rows"] = n_rows
    info["nonzeros"] = int(len(index))
    info["global_blocks"] = n_blk
    info["_def_start"] = def_start if n_aux else None
    return lp, keep, info


# --------------------------------------------------------------------------
# Solve
# --------------------------------------------------------------------------

def constraint_use(cand, cons, keep, x):
    """Usage of the global constraints by the solution x (on kept columns)."""
    use = {"budget": float(np.dot(cand.cost[keep], x))}
    for key, field in CATEGORIES:
        codes = cand.code[field][keep]
        counts = np.bincount(codes, weights=x, minlength=len(cand.maps[field]))
        use[key] = {}
        for name in cons[key]:
            lid = cand.maps[field].get(name)
            use[key][name] = float(counts[lid]) if lid is not None else 0.0
    return use


def _full_solution(lp, info, x):
    """HighsSolution with x plus the implied auxiliary column values."""
    col = np.zeros(lp.num_col_)
    col[:len(x)] = x
    ds = info["_def_start"]
    if ds is not None:
        a = lp.a_matrix_
        start = np.asarray(a.start_, dtype=np.int64)
        nnz_x = start[len(x)]
        idx = np.asarray(a.index_, dtype=np.int64)[:nnz_x]
        val = (np.asarray(a.value_)[:nnz_x]
               * np.repeat(x, np.diff(start[:len(x) + 1])))
        act = np.bincount(idx, weights=val, minlength=lp.num_row_)
        n_aux = lp.num_col_ - len(x)
        col[len(x):] = act[ds:ds + n_aux]
    sol = highspy.HighsSolution()
    sol.col_value = col
    sol.value_valid = True
    return sol


def _rows_ok(lp, sol, tol=1e-6):
    """True if sol satisfies the bounds of every row of lp."""
    a = lp.a_matrix_
    start = np.asarray(a.start_, dtype=np.int64)
    col = np.asarray(sol.col_value)
    weights = np.asarray(a.value_) * np.repeat(col, np.diff(start))
    act = np.bincount(np.asarray(a.index_, dtype=np.int64), weights=weights,
                      minlength=lp.num_row_)
    lo = np.asarray(lp.row_lower_)
    hi = np.asarray(lp.row_upper_)
    scale = 1.0 + np.abs(act)
    return bool(np.all(act >= lo - tol * scale)
                and np.all(act <= hi + tol * scale))


def _subset(cand, rows):
    """Candidates restricted to the given row indices (same label maps)."""
    sub = Candidates.__new__(Candidates)
    sub.maps = cand.maps
    sub.code = {k: v[rows] for k, v in cand.code.items()}
    sub.cost = cand.cost[rows]
    sub.obj = cand.obj[rows]
    sub.n = len(rows)
    return sub


def _repair_mip(cand, cons, keep, lp_x, time_limit):
    """Feasible integer solution near the LP vertex, or None.

    Customers whose LP solution is integral keep it; the (few) customers with
    fractional values are re-optimised exactly by a small MIP over the
    capacity the fixed part leaves. Returns x over the kept columns.
    """
    frac = np.abs(lp_x - np.round(lp_x)) > 1e-7
    fixed = np.round(lp_x)
    if frac.any():
        free_cust = np.unique(cand.code["customer"][keep[frac]])
        free = np.isin(cand.code["customer"][keep], free_cust)
        fixed[free] = 0.0
        use = constraint_use(cand, cons, keep, fixed)
        sub_cons = dict(cons)
        if cons["budget"] is not None:
            sub_cons["budget"] = cons["budget"] - use["budget"]
        for key, _ in CATEGORIES:
            sub_cons[key] = {
                nm: (None if lo is None else lo - use[key][nm],
                     None if hi is None else hi - use[key][nm])
                for nm, (lo, hi) in cons[key].items()}
        rows = keep[free]
        sub = _subset(cand, rows)
        slp, skeep, _ = build_lp(sub, sub_cons, block=0)
        sh = highspy.Highs()
        sh.setOptionValue("output_flag", False)
        sh.setOptionValue("time_limit", float(time_limit))
        slp.integrality_ = [highspy.HighsVarType.kInteger] * slp.num_col_
        sh.passModel(slp)
        sh.run()
        if sh.getInfo().primal_solution_status != 2:
            return None
        sx = np.round(np.asarray(sh.getSolution().col_value)[:len(skeep)])
        fixed[np.searchsorted(keep, rows[skeep])] = sx
    return fixed


def _solve_mip(h, lp, info, cand, cons, keep, lp_x, res, time_limit,
               mip_presolve, mip_rel_gap, verbose):
    """Fills the mip_* fields of res; returns the best x (kept columns)."""
    t0 = time.time()
    nx = len(keep)
    best_x, best_obj, bound = None, None, INF
    if lp_x is not None:
        bound = res["lp_optimum"]
        x = _repair_mip(cand, cons, keep, lp_x, time_limit)
        if x is not None and _rows_ok(lp, _full_solution(lp, info, x)):
            best_x, best_obj = x, float(np.dot(cand.obj[keep], x))

    def gap(obj, bnd):
        return max(0.0, bnd - obj) / max(abs(obj), 1e-9)

    res["mip_source"] = "lp_repair" if best_x is not None else None
    if best_x is not None and gap(best_obj, bound) <= mip_rel_gap:
        status = "Optimal" if gap(best_obj, bound) <= 1e-9 else \
            "Optimal (within mip_rel_gap of the LP bound)"
    else:
        # Full branch and bound, warm-started from the repaired solution.
        # HiGHS 1.16 can mis-value a start given by setSolution (seen with
        # negative objective coefficients: the start reported ~20 % above its
        # c.x, so the search stopped at once with "Optimal"). The objective is
        # therefore always recomputed as c.x, and if HiGHS' own value
        # disagrees the search is run again without the start.
        repaired = (best_x, best_obj)
        for warm in ([True, False] if best_x is not None else [False]):
            h.clearSolver()
            h.changeColsIntegrality(nx, np.arange(nx, dtype=np.int32),
                                    np.ones(nx, dtype=np.uint8))
            h.setOptionValue("solver", "choose")
            h.setOptionValue("presolve", mip_presolve)
            h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
            remaining = max(1.0, time_limit - (time.time() - t0))
            h.setOptionValue("time_limit", remaining)
            if warm:
                h.setSolution(_full_solution(lp, info, repaired[0]))
            # HiGHS does not always check its time limit during a long root
            # LP, so the limit is also enforced from here (solver thread is a
            # daemon).
            h.HandleUserInterrupt = True
            h.startSolve()
            done, _ = h.wait(remaining + max(10.0, 0.1 * remaining))
            if not done:
                h.cancelSolve()
                done, _ = h.wait(10.0)
            if not done:
                res["_abandoned_solver"] = True
                status = "Time limit reached (HiGHS MIP abandoned)"
                break
            inf = h.getInfo()
            status = h.modelStatusToString(h.getModelStatus())
            x = None
            if inf.primal_solution_status == 2:
                x = np.round(np.asarray(h.getSolution().col_value)[:nx])
                obj = float(np.dot(cand.obj[keep], x))
                reported = float(inf.objective_function_value)
                if abs(reported - obj) > 1e-6 * max(1.0, abs(obj)):
                    res["mip_highs_objective_mismatch"] = {
                        "warm_start": warm, "reported": reported, "c_x": obj}
                    if warm:
                        continue  # distrust this search; run it cold
                    status += " (HiGHS objective != c.x: not used)"
                    break
                if not _rows_ok(lp, _full_solution(lp, info, x)):
                    x = None
            if inf.mip_dual_bound == inf.mip_dual_bound:  # not NaN
                bound = min(bound, float(inf.mip_dual_bound))
            if x is not None and (best_obj is None or obj > best_obj + 1e-9):
                best_obj, best_x = obj, x
                res["mip_source"] = "highs"
            if (status != "Optimal" and best_x is not None
                    and gap(best_obj, bound) <= mip_rel_gap):
                status = "Optimal (within mip_rel_gap of the LP bound)"
            break
    res["mip_status"] = status
    if best_x is not None:
        res["mip_optimum"] = best_obj
        res["mip_bound"] = bound if bound < INF else None
        res["mip_gap"] = gap(best_obj, bound) if bound < INF else None
    return best_x


def solve(cand, cons, mip=False, time_limit=120.0, threads=0, solver="choose",
          crossover="on", verbose=False, options=None, block=64,
          presolve=None, mip_presolve="choose", mip_rel_gap=1e-4):
    """Solves the LP relaxation (and the MIP if mip=True).

    presolve=None means "off" when global rows are disaggregated (HiGHS
    presolve would substitute the auxiliary columns back and recreate the
    dense rows) and "choose" otherwise.
    """
    t0 = time.time()
    lp, keep, info = build_lp(cand, cons, block=block)
    nx = len(keep)
    t_build = time.time() - t0

    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(verbose))
    if threads:
        h.setOptionValue("threads", int(threads))
    h.setOptionValue("solver", solver)
    h.setOptionValue("run_crossover", crossover)
    if presolve is None:
        presolve = "off" if info["global_blocks"] else "choose"
    h.setOptionValue("presolve", presolve)
    for key, val in (options or {}).items():
        h.setOptionValue(key, val)
    h.passModel(lp)

    t1 = time.time()
    h.run()
    t_lp = time.time() - t1
    st = h.getModelStatus()
    if st == highspy.HighsModelStatus.kModelEmpty:
        # No columns (e.g. no candidate with a positive objective): x = 0 is
        # the only point; HiGHS does not check the row bounds in that case.
        lo = np.asarray(lp.row_lower_)
        hi = np.asarray(lp.row_upper_)
        ok = bool(np.all(lo <= 1e-9) and np.all(hi >= -1e-9))
        st = (highspy.HighsModelStatus.kOptimal if ok
              else highspy.HighsModelStatus.kInfeasible)
    res = {
        "lp_optimum": None,
        "lp_status": h.modelStatusToString(st),
        "mip_optimum": None, "mip_status": None, "mip_gap": None,
        "rows": int(cand.n),
        "customers": len(cand.maps["customer"]),
        "highs_version": h.version(),
        "constraint_use_lp": None,
    }
    lp_x = None
    if st == highspy.HighsModelStatus.kOptimal:
        if nx:
            res["lp_optimum"] = float(h.getInfo().objective_function_value)
            lp_x = np.asarray(h.getSolution().col_value,
                              dtype=np.float64)[:nx]
        else:
            res["lp_optimum"] = 0.0
            lp_x = np.zeros(0)
        res["constraint_use_lp"] = constraint_use(cand, cons, keep, lp_x)

    mip_x = None
    t_mip = None
    if mip:
        t2 = time.time()
        if st == highspy.HighsModelStatus.kInfeasible:
            res["mip_status"] = h.modelStatusToString(st)
        else:
            mip_x = _solve_mip(h, lp, info, cand, cons, keep, lp_x, res,
                               time_limit, mip_presolve, mip_rel_gap, verbose)
            if mip_x is not None:
                res["constraint_use_mip"] = constraint_use(cand, cons, keep,
                                                           mip_x)
        t_mip = time.time() - t2

    info.pop("_def_start", None)
    res["model"] = info
    res["timing_seconds"] = {"build": round(t_build, 3), "lp": round(t_lp, 3),
                             "mip": None if t_mip is None else round(t_mip, 3)}
    return res, keep, lp_x, mip_x


# --------------------------------------------------------------------------
# Synthetic instances
# --------------------------------------------------------------------------

def generate(n_customers, out_dir, seed=1, offers=None, channels=None,
             regions=None, segments=None, offers_per_customer=(10, 14),
             constraints=None):
    """Writes candidates.csv and constraints.json; returns their paths."""
    rng = random.Random(seed)
    regions = regions or ["north", "south", "east", "west", "central"]
    segments = segments or ["young", "family", "affluent", "senior"]
    channels = channels or {"email": 0.05, "direct_mail": 1.2, "branch": 8.0}
    offers = offers or [  # (offer_id, product, family, base value)
        ("o_mfix", "mortgage_fixed", "mortgage", 60.0),
        ("o_mvar", "mortgage_variable", "mortgage", 50.0),
        ("o_cc_gold", "credit_card_gold", "cards", 18.0),
        ("o_cc_std", "credit_card_std", "cards", 10.0),
        ("o_pl", "personal_loan", "loans", 25.0),
        ("o_car", "car_loan", "loans", 22.0),
        ("o_sav", "savings_plus", "savings", 8.0),
        ("o_td", "term_deposit", "savings", 9.0),
        ("o_ins_h", "home_insurance", "insurance", 14.0),
        ("o_ins_l", "life_insurance", "insurance", 16.0),
        ("o_inv", "investment_fund", "wealth", 30.0),
        ("o_pens", "pension_plan", "wealth", 26.0),
    ]
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "candidates.csv")
    ch_names = list(channels)
    lo, hi = offers_per_customer
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for c in range(n_customers):
            cid = "C%07d" % c
            reg = rng.choice(regions)
            seg = rng.choice(segments)
            k = min(rng.randint(lo, hi), len(offers))
            for oid, prod, fam, val in rng.sample(offers, k):
                p = rng.betavariate(1.2, 12.0)
                n_ch = rng.randint(min(2, len(ch_names)), len(ch_names))
                chs = rng.sample(ch_names, n_ch)
                for ch in chs:
                    lift = {"email": 0.6, "direct_mail": 1.0}.get(ch, 1.8)
                    cost = channels[ch]
                    objective = p * lift * val - cost
                    w.writerow([cid, reg, seg, oid, prod, fam, ch,
                                "%.4f" % cost, "%.6f" % objective])
    if constraints is None:
        n = n_customers
        constraints = {
            "max_offers": 3, "max_per_family": 1, "budget": 2.0 * n,
            "products": {"mortgage_fixed": {"max": 0.1 * n},
                         "investment_fund": {"max": 0.08 * n}},
            "regions": {"north": {"min": 0.02 * n, "max": 0.4 * n}},
            "segments": {"young": {"max": 0.15 * n}},
            "channels": {"branch": {"max": 0.05 * n},
                         "direct_mail": {"max": 0.3 * n}},
        }
    cons_path = os.path.join(out_dir, "constraints.json")
    with open(cons_path, "w") as f:
        json.dump(constraints, f, indent=1)
    return csv_path, cons_path


# --------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------

def _check_feasible(cand, cons, keep, x, tol=1e-6):
    """Pure-Python constraint check, independent of the sparse matrix."""
    full = np.zeros(cand.n)
    full[keep] = x
    if full.min() < -tol or full.max() > 1 + tol:
        return "bounds"
    sums = {}
    for i in range(cand.n):
        c = int(cand.code["customer"][i])
        o = int(cand.code["offer"][i])
        f = int(cand.code["family"][i])
        for key in (("co", c, o), ("c", c), ("cf", c, f)):
            sums[key] = sums.get(key, 0.0) + full[i]
    for key, v in sums.items():
        lim = {"co": 1, "c": cons["max_offers"],
               "cf": cons["max_per_family"]}[key[0]]
        if lim is not None and v > lim + tol:
            return "per-customer %s" % (key,)
    if cons["budget"] is not None:
        if float(np.dot(cand.cost, full)) > cons["budget"] * (1 + 1e-9) + tol:
            return "budget"
    for key, field in CATEGORIES:
        inv = {v: k for k, v in cand.maps[field].items()}
        for name, (lo, hi) in cons[key].items():
            s = sum(full[i] for i in range(cand.n)
                    if inv[int(cand.code[field][i])] == name)
            if (lo is not None and s < lo - tol) or \
               (hi is not None and s > hi + tol):
                return "%s %s = %g" % (key, name, s)
    return None


def _per_customer_best(cand, cons):
    """Brute force and greedy per customer, ignoring global constraints."""
    best_ch = {}  # (c, o) -> best objective over channels
    fam_of = {}
    for i in range(cand.n):
        c = int(cand.code["customer"][i])
        o = int(cand.code["offer"][i])
        fam_of[o] = int(cand.code["family"][i])
        best_ch[(c, o)] = max(best_ch.get((c, o), -INF), float(cand.obj[i]))
    by_cust = {}
    for (c, o), v in best_ch.items():
        by_cust.setdefault(c, []).append((v, o))
    mo, mpf = cons["max_offers"], cons["max_per_family"]
    brute = greedy = 0.0
    for c, lst in by_cust.items():
        # brute force over all offer subsets
        b = 0.0
        for r in range(1, len(lst) + 1):
            if mo is not None and r > mo:
                break
            for sub in itertools.combinations(lst, r):
                fams = [fam_of[o] for _, o in sub]
                if mpf is not None and max(fams.count(f) for f in fams) > mpf:
                    continue
                b = max(b, sum(v for v, _ in sub))
        brute += b
        # greedy by value (optimal: laminar matroid)
        used, taken, g = {}, 0, 0.0
        for v, o in sorted(lst, reverse=True):
            if v <= 0 or (mo is not None and taken >= mo):
                break
            f = fam_of[o]
            if mpf is not None and used.get(f, 0) >= mpf:
                continue
            used[f] = used.get(f, 0) + 1
            taken += 1
            g += v
        greedy += g
    return brute, greedy


def selftest():
    ok = True

    def check(cond, msg):
        nonlocal ok
        print(("  ok   " if cond else "  FAIL ") + msg)
        ok = ok and bool(cond)

    offers = [("A1", "mortgage_fixed", "famA", 40.0),
              ("A2", "mortgage_var", "famA", 30.0),
              ("B1", "card", "famB", 12.0),
              ("B2", "loan", "famB", 20.0),
              ("C1", "savings", "famC", 9.0)]
    channels = {"email": 0.1, "direct_mail": 1.5}
    n = 200
    cons_json = {"max_offers": 2, "max_per_family": 1, "budget": 150.0,
                 "products": {"mortgage_fixed": {"max": 15}},
                 "regions": {"north": {"min": 133}}}
    with tempfile.TemporaryDirectory() as d:
        csv_path, cons_path = generate(
            n, d, seed=42, offers=offers, channels=channels,
            regions=["north", "south", "east"], offers_per_customer=(3, 5),
            constraints=cons_json)
        cand = Candidates(csv_path)
        cons = load_constraints(cons_path)
        free_path = os.path.join(d, "free.json")
        with open(free_path, "w") as f:
            json.dump({"max_offers": 2, "max_per_family": 1}, f)
        cons_free = load_constraints(free_path)
        bad_path = os.path.join(d, "bad.json")
        with open(bad_path, "w") as f:
            json.dump(dict(cons_json, regions={"north": {"min": 10 ** 6}}), f)
        cons_bad = load_constraints(bad_path)

    print("selftest: %d candidates, %d customers"
          % (cand.n, len(cand.maps["customer"])))
    res, keep, lp_x, mip_x = solve(cand, cons, mip=True, time_limit=60,
                                   mip_rel_gap=0.0)
    print("  constrained: LP %s %.6f | MIP %s %s gap %s"
          % (res["lp_status"], res["lp_optimum"] or float("nan"),
             res["mip_status"], res["mip_optimum"], res["mip_gap"]))
    check(res["lp_status"] == "Optimal", "constrained LP optimal")
    check(res["mip_optimum"] is not None and res["mip_status"] == "Optimal",
          "constrained MIP solved to optimality by HiGHS (gap 0)")
    res_rep, _, _, rep_x = solve(cand, cons, mip=True, time_limit=60)
    check(rep_x is not None and res_rep["mip_source"] == "lp_repair"
          and res_rep["mip_optimum"] <= res["mip_optimum"] + 1e-6
          and res_rep["mip_gap"] <= 1e-4,
          "LP-repair incumbent %s <= MIP optimum, gap %s <= 1e-4"
          % (res_rep["mip_optimum"], res_rep["mip_gap"]))
    if rep_x is not None:
        err = _check_feasible(cand, cons, keep, rep_x)
        check(err is None, "LP-repair solution feasible (independent check)"
              "%s" % ("" if err is None else ": " + err))
    if res["lp_optimum"] is not None and res["mip_optimum"] is not None:
        check(res["lp_optimum"] >= res["mip_optimum"] - 1e-6, "LP >= MIP")
    if lp_x is not None:
        err = _check_feasible(cand, cons, keep, lp_x)
        check(err is None, "LP solution feasible (independent check)%s"
              % ("" if err is None else ": " + err))
        use = res["constraint_use_lp"]
        check(use["budget"] <= 150.0 + 1e-6
              and use["products"]["mortgage_fixed"] <= 15 + 1e-6
              and use["regions"]["north"] >= 133 - 1e-6,
              "constraint_use_lp within bounds %s" % json.dumps(use))
    if mip_x is not None:
        err = _check_feasible(cand, cons, keep, mip_x)
        check(err is None, "MIP solution feasible (independent check)%s"
              % ("" if err is None else ": " + err))
        check(np.all(np.minimum(np.abs(mip_x), np.abs(mip_x - 1)) < 1e-6),
              "MIP solution integral")

    for blk in (0, 7):
        r2, _, _, _ = solve(cand, cons, block=blk)
        check(r2["lp_optimum"] is not None
              and abs(r2["lp_optimum"] - res["lp_optimum"]) < 1e-6,
              "same LP optimum with global-row block size %d (%s)"
              % (blk, r2["lp_optimum"]))

    res_free, _, _, _ = solve(cand, cons_free, mip=True, time_limit=60)
    brute, greedy = _per_customer_best(cand, cons_free)
    print("  no global constraints: LP %.6f MIP %s greedy %.6f brute %.6f"
          % (res_free["lp_optimum"], res_free["mip_optimum"], greedy, brute))
    check(greedy >= res_free["lp_optimum"] - 1e-6, "greedy >= LP (free)")
    check(abs(greedy - res_free["lp_optimum"]) < 1e-6,
          "greedy == LP (free; per-customer rows are laminar => integral)")
    check(abs(brute - greedy) < 1e-6, "brute force == greedy")
    check(res_free["lp_optimum"] >= res["lp_optimum"] - 1e-6,
          "relaxing global constraints does not lower the LP")

    res_bad, _, _, _ = solve(cand, cons_bad, mip=True)
    print("  impossible region min: LP %s, MIP %s"
          % (res_bad["lp_status"], res_bad["mip_status"]))
    check("nfeasible" in res_bad["lp_status"]
          and res_bad["lp_optimum"] is None, "infeasible detected")
    print("selftest %s" % ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        description="HiGHS reference optimum for the nextbest offer "
                    "assignment (LP relaxation, optionally MIP).")
    ap.add_argument("candidates", nargs="?", help="candidates CSV")
    ap.add_argument("constraints", nargs="?", help="constraints JSON")
    ap.add_argument("output", nargs="?", help="output JSON path")
    ap.add_argument("--mip", action="store_true",
                    help="also solve the integer program")
    ap.add_argument("--time-limit", type=float, default=120.0,
                    help="MIP time limit in seconds (default 120)")
    ap.add_argument("--threads", type=int, default=0,
                    help="HiGHS threads (0 = HiGHS default)")
    ap.add_argument("--solver", default="choose",
                    choices=["choose", "simplex", "ipm", "pdlp"],
                    help="HiGHS LP solver (default: choose)")
    ap.add_argument("--block", type=int, default=64,
                    help="customers per block when disaggregating the global "
                         "rows (0 = plain dense rows; default 64)")
    ap.add_argument("--mip-presolve", default="choose",
                    choices=["choose", "on", "off"],
                    help="HiGHS presolve for the MIP solve (default choose)")
    ap.add_argument("--mip-rel-gap", type=float, default=1e-4,
                    help="relative MIP gap counted as optimal (default 1e-4,"
                         " the HiGHS default)")
    ap.add_argument("--verbose", action="store_true", help="HiGHS log")
    ap.add_argument("--selftest", action="store_true",
                    help="run the built-in self-test and exit")
    ap.add_argument("--generate", nargs=2, metavar=("CUSTOMERS", "OUT_DIR"),
                    help="write a synthetic instance and exit")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)

    if a.selftest:
        return selftest()
    if a.generate:
        paths = generate(int(a.generate[0]), a.generate[1], seed=a.seed)
        print("wrote %s %s" % paths)
        return 0
    if not (a.candidates and a.constraints and a.output):
        ap.error("CANDIDATES CONSTRAINTS OUTPUT are required")

    t0 = time.time()
    cand = Candidates(a.candidates)
    cons = load_constraints(a.constraints)
    t_read = time.time() - t0
    res, _, _, _ = solve(cand, cons, mip=a.mip, time_limit=a.time_limit,
                         threads=a.threads, solver=a.solver,
                         verbose=a.verbose, block=a.block,
                         mip_presolve=a.mip_presolve,
                         mip_rel_gap=a.mip_rel_gap)
    abandoned = res.pop("_abandoned_solver", False)
    res["timing_seconds"]["read"] = round(t_read, 3)
    res["timing_seconds"]["total"] = round(time.time() - t0, 3)
    with open(a.output, "w") as f:
        json.dump(res, f, indent=2)
    print("lp %s %s | mip %s %s gap %s | %d rows, %d customers | %.1fs"
          % (res["lp_status"], res["lp_optimum"], res["mip_status"],
             res["mip_optimum"], res["mip_gap"], res["rows"],
             res["customers"], res["timing_seconds"]["total"]))
    if abandoned:
        # a HiGHS thread that ignored the time limit is still running
        sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
