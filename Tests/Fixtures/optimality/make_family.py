#!/usr/bin/env python3
"""Builds the optimality fixture family: generated banks, campaign variants with
binding (or deliberately conflicting) constraints, and their exact optima by HiGHS.

For every case of CASES below:
  1. `nextbest generate` with the recorded options (generate.args) into a scratch store;
  2. a campaign variant of the generated campaign (same offers and models, so it
     imports): objective, values, channels, per-customer limits and fatigue as the
     case's shape says;
  3. that variant without campaign-wide constraints is imported and run with
     --export-candidates: the candidates (which do not depend on campaign-wide
     constraints) are what the constraints are designed on, with HiGHS, so that the
     intended rows bind in the LP optimum (or, for the infeasible cases, so that the
     intended rows conflict while any one of them can be dropped);
  4. the final campaign.yaml is imported and run with --export-candidates (if the run
     refuses before exporting, the constraint-free candidates are used with the
     campaign's real constraints.json); the exported candidates must be identical to
     the constraint-free ones;
  5. bench/tools/lp_optimum.py --mip solves the LP relaxation and the integer program;
  6. Tests/Fixtures/optimality/<case>/ gets generate.args, campaign.yaml and
     highs.json.

Only those three small files per case are kept; candidates.csv stays in the scratch
directory (--work, default bench/work/optimality-family, ignored by git).

highs.json fields (all cases): case, shape, description, customers, offers, rows
(candidate rows), candidates_sha256, feasible, lp_optimum, lp_status, mip_optimum,
mip_status, mip_gap, mip_bound, mip_rel_gap (what lp_optimum.py was asked for),
highs_version, constraint_use_lp, constraint_use_mip, notes.
Feasible cases add `binding` (every constraint key at its limit in the LP solution
of lp_optimum.py), `binding_mip` (the same for the MIP solution) and
`intended_binding` (the rows the case was designed to bind; each is checked to be
at its limit with a nonzero dual). Infeasible cases add `conflict` (the keys
designed to conflict), `shortfall` (HiGHS: the least total violation of just the
conflict rows over the LP relaxation, subject to the per-customer rules; each row's
violation in its own unit: offers, or money for the budget), `shortfall_by_key`,
`shortfall_integer` (the same with x integral) and `minimal_conflict` (dropping any
one conflict key makes the whole campaign LP-feasible).

Usage:
    make_family.py [--bin NEXTBEST] [--work DIR] [--only CASE[,CASE...]]
                   [--mip-time-limit SECONDS] [--list]

Needs: pip install highspy numpy pyyaml; a nextbest binary (default: the release
build, else the debug build, of this checkout).
"""

import argparse
import copy
import hashlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "Tests" / "Fixtures" / "optimality"
LP_TOOL = ROOT / "bench" / "tools" / "lp_optimum.py"
sys.path.insert(0, str(LP_TOOL.parent))
import lp_optimum as lpo  # noqa: E402  (the project's HiGHS model builder)

import highspy  # noqa: E402

KINDS = [("products", "product"), ("regions", "region"),
         ("segments", "segment"), ("channels", "channel")]
MIP_REL_GAP = 0.0
RUN_ARGS = ["--workers", "0", "--threads", "2", "--no-warm-start", "--quiet"]

# Channels the variants add (cost per contact, min propensity).
DEFAULT_RULES = {
    "email": {"min_propensity": 0.004, "cost": 0.1},
    "sms": {"min_propensity": 0.008, "cost": 0.25},
    "direct_mail": {"min_propensity": 0.02, "cost": 1.3},
    "branch": {"min_propensity": 0.03, "cost": 9.5},
}


class DesignError(RuntimeError):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Keys and campaign dictionaries
# --------------------------------------------------------------------------

def key_of(kind, name=None):
    return "constraints.budget" if kind == "budget" else \
        "constraints.%s.%s" % (kind, name)


def row_key(name):
    """The campaign key of lp_optimum.build_lp's global row name."""
    return key_of("budget") if name == "budget" else key_of(*name.split(":", 1))


def split_key(key):
    parts = key.split(".", 2)
    return ("budget", None) if parts[1] == "budget" else (parts[1], parts[2])


def constraint_keys(cons):
    keys = []
    if cons.get("budget") is not None:
        keys.append(key_of("budget"))
    for kind, _ in KINDS:
        keys += [key_of(kind, n) for n in sorted(cons.get(kind) or {})]
    return keys


def bounds_of(cons, key):
    kind, name = split_key(key)
    if kind == "budget":
        return None, cons.get("budget")
    b = (cons.get(kind) or {}).get(name) or {}
    return b.get("min"), b.get("max")


def set_bound(cons, key, side, value):
    kind, name = split_key(key)
    if kind == "budget":
        cons["budget"] = value
    else:
        cons.setdefault(kind, {}).setdefault(name, {})[side] = value


def drop_key(cons, key):
    cons = copy.deepcopy(cons)
    kind, name = split_key(key)
    if kind == "budget":
        cons.pop("budget", None)
    else:
        cons[kind].pop(name)
        if not cons[kind]:
            del cons[kind]
    return cons


def only_keys(cons, keys):
    out = {}
    for key in keys:
        lo, hi = bounds_of(cons, key)
        if lo is not None:
            set_bound(out, key, "min", lo)
        if hi is not None:
            set_bound(out, key, "max", hi)
    return out


def fmt_number(v):
    if isinstance(v, bool):
        raise TypeError("boolean in a campaign number")
    if isinstance(v, int):
        return str(v)
    text = repr(float(v))
    return text if "e" not in text else "%.10f" % v


def campaign_yaml(c, comment):
    """The campaign as YAML in the generator's layout (flow maps for rules)."""
    out = ["# " + line for line in comment]
    out.append("objective: %s" % c["objective"])
    out.append("offers:")
    for o in c["offers"]:
        out.append("  - id: %s" % o["id"])
        for k in ("product", "family", "model"):
            out.append("    %s: %s" % (k, o[k]))
        if "value_column" in o:
            out.append("    value_column: %s" % o["value_column"])
        else:
            out.append("    value: %s" % fmt_number(float(o["value"])))
        out.append("    channels:")
        for ch in sorted(o["channels"]):
            r = o["channels"][ch]
            out.append("      %s: {min_propensity: %s, cost: %s}" % (
                ch, fmt_number(float(r["min_propensity"])),
                fmt_number(float(r["cost"]))))
    pc = c["per_customer"]
    out.append("per_customer: {max_offers: %d, max_per_family: %d}"
               % (pc["max_offers"], pc["max_per_family"]))
    if c.get("fatigue"):
        f = c["fatigue"]
        out.append("fatigue: {max_ignored: %d, window_days: %d}"
                   % (f["max_ignored"], f["window_days"]))
    cons = c.get("constraints") or {}
    if cons:
        out.append("constraints:")
        if cons.get("budget") is not None:
            out.append("  budget: %s" % fmt_number(cons["budget"]))
        for kind, _ in KINDS:
            if cons.get(kind):
                out.append("  %s:" % kind)
                for name in sorted(cons[kind]):
                    b = cons[kind][name]
                    parts = ["%s: %d" % (s, b[s]) for s in ("min", "max")
                             if b.get(s) is not None]
                    out.append("    %s: {%s}" % (name, ", ".join(parts)))
    out.append("run_date: %s" % c["run_date"])
    return "\n".join(out) + "\n"


def read_campaign(path):
    with open(path) as f:
        c = yaml.safe_load(f)
    c["run_date"] = str(c["run_date"])
    for o in c["offers"]:
        o["channels"] = {ch: dict(r) for ch, r in o["channels"].items()}
    c.setdefault("per_customer", {"max_offers": 3, "max_per_family": 1})
    return c


def constraints_json(c):
    """constraints.json as `nextbest run --export-candidates` writes it."""
    cons = c.get("constraints") or {}
    pc = c["per_customer"]
    out = {"max_offers": pc["max_offers"],
           "max_per_family": pc["max_per_family"],
           "budget": cons.get("budget")}
    for kind, _ in KINDS:
        out[kind] = {n: {s: b[s] for s in ("min", "max") if b.get(s) is not None}
                     for n, b in sorted((cons.get(kind) or {}).items())}
    return out


# --------------------------------------------------------------------------
# The exported instance and HiGHS on it
# --------------------------------------------------------------------------

class Solution:
    def __init__(self, status, objective=None, use=None, duals=None, x=None):
        self.status = status
        self.objective = objective
        self.use = use or {}      # key -> use, for every label and the budget
        self.duals = duals or {}  # key -> HiGHS row dual (constrained keys)
        self.x = x

    @property
    def optimal(self):
        return self.status == "Optimal"


def at_limit(use, lo, hi, tol=1e-6):
    """'min', 'max' or None: which bound `use` sits on."""
    if hi is not None and use >= hi - tol * max(1.0, abs(hi)):
        return "max"
    if lo is not None and use <= lo + tol * max(1.0, abs(lo)):
        return "min"
    return None


class Instance:
    """Candidates of one exported run, and HiGHS models over them."""

    def __init__(self, csv_path, campaign):
        self.path = csv_path
        self.cand = lpo.Candidates(str(csv_path))
        self.campaign = campaign
        self.customers = len(self.cand.maps["customer"])
        self.free = None  # Solution without campaign-wide constraints

    def lp_constraints(self, cons):
        c = dict(self.campaign, constraints=cons)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(constraints_json(c), f)
            f.flush()
            return lpo.load_constraints(f.name)

    def labels(self, kind):
        field = dict(KINDS)[kind]
        return sorted(self.cand.maps[field])

    def usage(self, x):
        """Use of every label (and the cost) by x over all candidate rows."""
        use = {key_of("budget"): float(np.dot(self.cand.cost, x))}
        for kind, field in KINDS:
            counts = np.bincount(self.cand.code[field], weights=x,
                                 minlength=len(self.cand.maps[field]))
            for name, lid in self.cand.maps[field].items():
                use[key_of(kind, name)] = float(counts[lid])
        return use

    def lp(self, cons, objective=None):
        """Maximizes `objective` (default: the candidates') over the LP."""
        cand = self.cand
        if objective is not None:
            cand = lpo._subset(self.cand, np.arange(self.cand.n))
            cand.obj = np.asarray(objective, dtype=np.float64)
        lcons = self.lp_constraints(cons)
        lp, keep, info = lpo.build_lp(cand, lcons, block=64)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off" if info["global_blocks"] else "choose")
        h.passModel(lp)
        h.run()
        st = h.getModelStatus()
        if st == highspy.HighsModelStatus.kModelEmpty:
            # no columns: x = 0, feasible unless some min is positive
            positive_min = any(lo is not None and lo > 0
                               for kind, _ in KINDS
                               for lo, _ in lcons[kind].values())
            st = highspy.HighsModelStatus.kInfeasible if positive_min \
                else highspy.HighsModelStatus.kOptimal
        status = h.modelStatusToString(st)
        if st != highspy.HighsModelStatus.kOptimal:
            return Solution(status)
        x = np.zeros(self.cand.n)
        duals = {}
        if len(keep):
            sol = h.getSolution()
            x[keep] = np.asarray(sol.col_value)[:len(keep)]
            row_dual = np.asarray(sol.row_dual)
            for name, row in info["global_rows"].items():
                duals[row_key(name)] = float(row_dual[row])
        obj = float(np.dot(cand.obj, x))
        return Solution(status, obj, self.usage(x), duals, x)

    def unconstrained(self):
        if self.free is None:
            self.free = self.lp({})
        return self.free

    def capacity(self, key):
        """Most offers a label's customers can receive (per-customer rules only)."""
        kind, name = split_key(key)
        field = dict(KINDS)[kind]
        lid = self.cand.maps[field].get(name)
        if lid is None:
            return 0.0
        w = (self.cand.code[field] == lid).astype(np.float64)
        return self.lp({}, objective=w).objective

    def max_use(self, cons, key):
        """Most use of a label subject to `cons`."""
        kind, name = split_key(key)
        field = dict(KINDS)[kind]
        w = (self.cand.code[field] == self.cand.maps[field][name])
        s = self.lp(cons, objective=w.astype(np.float64))
        return s.objective if s.optimal else None

    def min_cost(self, cons):
        """Least cost meeting `cons` (whose mins matter; None if infeasible)."""
        s = self.lp(cons, objective=-self.cand.cost)
        return -s.objective if s.optimal else None

    def binds(self, sol, cons, key, need_dual=True):
        lo, hi = bounds_of(cons, key)
        side = at_limit(sol.use[key], lo, hi)
        if side is None:
            return False
        return not need_dual or abs(sol.duals.get(key, 0.0)) > 1e-7

    def min_violation(self, cons, keys, integer=False, time_limit=120.0):
        """Least total violation of the rows `keys` (each elastic) subject to
        the per-customer rules alone; returns (total, {key: violation}, status)."""
        sub = only_keys(cons, keys)
        lcons = self.lp_constraints(sub)
        zero = lpo._subset(self.cand, np.arange(self.cand.n))
        zero.obj = np.zeros(self.cand.n)
        lp, keep, info = lpo.build_lp(zero, lcons, block=0)
        lp.sense_ = highspy.ObjSense.kMinimize
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(time_limit))
        if integer:
            lp.integrality_ = [highspy.HighsVarType.kInteger] * lp.num_col_
        h.passModel(lp)
        elastic = []
        for name, row in info["global_rows"].items():
            key = row_key(name)
            lo, hi = bounds_of(sub, key)
            for side, coef in (("min", 1.0), ("max", -1.0)):
                if (lo if side == "min" else hi) is None:
                    continue
                h.addCol(1.0, 0.0, highspy.kHighsInf, 1,
                         np.array([row], dtype=np.int32),
                         np.array([coef]))
                elastic.append(key)
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        info_ = h.getInfo()
        if info_.primal_solution_status != 2:
            return None, {}, status
        # the total from the solution itself, not HiGHS' objective value (see
        # lp_optimum.py on a mis-valued MIP objective)
        e = np.asarray(h.getSolution().col_value)[lp.num_col_:]
        by_key = {}
        for k, v in zip(elastic, e):
            by_key[k] = by_key.get(k, 0.0) + float(v)
        return float(e.sum()), by_key, status


# --------------------------------------------------------------------------
# Constraint design helpers
# --------------------------------------------------------------------------

def round_count(x):
    return int(math.floor(x + 1e-9))


def ranked(inst, sol, kind, min_use=1.0):
    """Labels of a kind by use in `sol`, largest first (ties by name)."""
    names = [n for n in inst.labels(kind) if sol.use[key_of(kind, n)] >= min_use]
    return sorted(names, key=lambda n: (-sol.use[key_of(kind, n)], n))


def squeezed(inst, sol, kind, exclude=()):
    """Labels of a kind by how much their use fell from the unconstrained one."""
    free = inst.unconstrained()
    out = []
    for n in inst.labels(kind):
        k = key_of(kind, n)
        if n in exclude or free.use[k] < 10:
            continue
        drop = (free.use[k] - sol.use[k]) / free.use[k]
        if free.use[k] - sol.use[k] >= 4:
            out.append((-drop, n))
    return [n for _, n in sorted(out)]


def cascade(inst, cons, steps):
    """Adds caps one after another, each set from the LP use under the caps
    before it. A step is (kind, pick, side, fraction):
      max: cap = fraction x current use;  min: min = current use + fraction x
      (unconstrained use - current use), for a label whose use the caps cut;
      budget: ("budget", None, "max", fraction).
    pick: a label name, "top"/"top2"/"top3" (most used), "squeezed" (most cut).
    Returns the keys set."""
    keys = []
    for kind, pick, side, frac in steps:
        sol = inst.lp(cons)
        if not sol.optimal:
            raise DesignError("cascade infeasible before %s %s" % (kind, pick))
        if kind == "budget":
            cons["budget"] = round_count(frac * sol.use[key_of("budget")])
            keys.append(key_of("budget"))
            continue
        taken = {split_key(k)[1] for k in keys if split_key(k)[0] == kind}
        if pick == "squeezed":
            names = squeezed(inst, sol, kind, exclude=taken)[:1]
        elif pick.startswith("top"):
            n = int(pick[3:] or 1)
            names = [x for x in ranked(inst, sol, kind) if x not in taken][:n]
        else:
            names = [pick]
        if not names:
            raise DesignError("no %s to pick for %s" % (kind, pick))
        for name in names:
            k = key_of(kind, name)
            u = sol.use[k]
            if side == "max":
                if u < 10:
                    raise DesignError("%s: use %g is too small to cap" % (k, u))
                set_bound(cons, k, "max", round_count(frac * u))
            else:
                ref = inst.unconstrained().use[k]
                set_bound(cons, k, "min", int(math.ceil(u + frac * (ref - u))))
            keys.append(k)
    return keys


def bind(inst, cons, intended, rounds=12):
    """Tightens intended rows until each is at its limit with a nonzero dual
    in the LP optimum. Returns the final LP solution."""
    for _ in range(rounds):
        sol = inst.lp(cons)
        if not sol.optimal:
            raise DesignError("design infeasible: %s" % sol.status)
        loose = [k for k in intended if not inst.binds(sol, cons, k)]
        if not loose:
            return sol
        for k in loose:
            lo, hi = bounds_of(cons, k)
            u = sol.use[k]
            if k == key_of("budget"):
                cons["budget"] = round_count(0.9 * min(u, hi))
            elif hi is not None:
                if hi <= 1:
                    raise DesignError("%s: max %d cannot be tightened" % (k, hi))
                set_bound(cons, k, "max", min(hi - 1, round_count(0.9 * u)))
            else:
                ref = inst.capacity(k)
                set_bound(cons, k, "min",
                          max(lo + 1, int(math.ceil(u + 0.25 * (ref - u)))))
        log("    tightened %s" % ", ".join(loose))
    raise DesignError("rows still loose after %d rounds: %s" % (rounds, loose))


# --------------------------------------------------------------------------
# Campaign variants (before any campaign-wide constraint)
# --------------------------------------------------------------------------

def set_channels(offer, names, keep_existing=True):
    """Gives the offer exactly these channels (existing rules kept)."""
    rules = {}
    for ch in names:
        if keep_existing and ch in offer["channels"]:
            rules[ch] = offer["channels"][ch]
        else:
            rules[ch] = dict(DEFAULT_RULES[ch])
    offer["channels"] = rules


def typical_value(offer):
    return 500.0 if "value_column" in offer else float(offer["value"])


def apply_common(c, p):
    """Objective, per-customer limits and fatigue from the case parameters."""
    c.pop("constraints", None)
    c["objective"] = p.get("objective", c.get("objective", "expected_value"))
    if "max_offers" in p:
        c["per_customer"] = {"max_offers": p["max_offers"],
                             "max_per_family": p.get("max_per_family", 1)}
    fat = p.get("fatigue", "keep")
    if fat == "off":
        c.pop("fatigue", None)
    elif isinstance(fat, dict):
        c["fatigue"] = dict(fat)
    return c


def heavy_tailed_column(profiles_csv):
    """The numeric profile column with the largest sample skewness among those
    positive for at least 90 % of customers (a value column must be a value for
    most of them); with its statistics."""
    data = np.genfromtxt(profiles_csv, delimiter=",", names=True,
                         dtype=None, encoding="utf-8")
    best = None
    for name in data.dtype.names:
        if name in ("customer_id", "region", "segment"):
            continue
        v = np.asarray(data[name], dtype=np.float64)
        v = v[~np.isnan(v)]
        if len(np.unique(v)) <= 2 or (v > 0).mean() < 0.9:
            continue
        m, s = v.mean(), v.std()
        skew = float(((v - m) ** 3).mean() / s ** 3)
        if best is None or skew > best["skewness"]:
            best = {"column": name, "skewness": round(skew, 3),
                    "excess_kurtosis": round(float(((v - m) ** 4).mean()
                                                   / s ** 4 - 3), 3),
                    "median": float(np.median(v)), "p99": float(
                        np.percentile(v, 99)), "max": float(v.max()),
                    "positive_share": round(float((v > 0).mean()), 4)}
    return best


# --------------------------------------------------------------------------
# Shapes: variant(c, params, ctx) edits the campaign; design(inst, c, params,
# notes) returns (constraints, intended keys) for feasible shapes or
# (constraints, conflict keys) for infeasible ones.
# --------------------------------------------------------------------------

def variant_plain(c, p, ctx):
    return apply_common(c, p)


def variant_value_column(c, p, ctx):
    apply_common(c, p)
    stats = heavy_tailed_column(ctx["profiles_csv"]())
    ctx["notes"]["value_column"] = stats
    for o in c["offers"]:
        o.pop("value", None)
        o["value_column"] = stats["column"]
    return c


def variant_email_sms(c, p, ctx):
    """Every offer on email and SMS; with `only`, on nothing else."""
    apply_common(c, p)
    for o in c["offers"]:
        names = {"email", "sms"} | (set() if p.get("only") else set(o["channels"]))
        set_channels(o, sorted(names))
    return c


def variant_channel_ladder(c, p, ctx):
    """Channels of very different costs: email, SMS and direct mail on every
    offer, branch on the valuable ones (p["channels"] picks which)."""
    apply_common(c, p)
    wanted = p["channels"]
    for o in c["offers"]:
        names = [ch for ch in wanted if ch != "branch"]
        if "branch" in wanted and typical_value(o) >= 250:
            names.append("branch")
        set_channels(o, names)
    return c


def variant_email_main(c, p, ctx):
    """Email the only channel of every offer that has it (SMS-only offers
    move to email); direct-mail-only offers stay as they are."""
    apply_common(c, p)
    for o in c["offers"]:
        if "direct_mail" in o["channels"] and len(o["channels"]) == 1:
            continue
        set_channels(o, ["email"])
    return c


def variant_six_by_two(c, p, ctx):
    apply_common(c, p)
    for o in c["offers"]:
        set_channels(o, ["direct_mail", "email"])
    return c


def variant_negative_ev(c, p, ctx):
    """Marks offers whose every candidate gets a negative expected value (their
    channel costs raised above propensity x value) once candidates exist."""
    apply_common(c, p)
    fixed = [o for o in c["offers"] if "value" in o]
    ctx["negative_offers"] = [o["id"] for o in fixed[:p["negative_offers"]]]
    return c


def refine_negative_ev(c, p, ctx, inst):
    """Second pass of variant_negative_ev, from the first export's candidates."""
    cand = inst.cand
    out = []
    for oid in ctx["negative_offers"]:
        o = next(x for x in c["offers"] if x["id"] == oid)
        rows = cand.code["offer"] == cand.maps["offer"][oid]
        prop = (cand.obj[rows] + cand.cost[rows]) / float(o["value"])
        top = float(prop.max()) * float(o["value"])
        for ch, r in o["channels"].items():
            r["cost"] = math.ceil(top * 120.0 + 1) / 100.0  # > 1.2 x best p x v
        out.append({"offer": oid, "product": o["product"],
                    "best_propensity_x_value": round(top, 4),
                    "channel_cost": o["channels"][next(iter(o["channels"]))]["cost"]})
    ctx["notes"]["negative_ev_offers"] = out
    return c


def design_prop_seg_mins(inst, c, p, notes):
    free = inst.unconstrained()
    e, s = key_of("channels", "email"), key_of("channels", "sms")
    total = free.use[e] + free.use[s]
    cons = {"channels": {"email": {"max": round_count(p["email"] * total)},
                         "sms": {"max": round_count(p["sms"] * total)}}}
    keys = [e, s]
    for frac in (0.4, 0.2, 0.1):
        trial = copy.deepcopy(cons)
        sol = inst.lp(trial)
        mins = squeezed(inst, sol, "segments")[:2]
        if len(mins) < 2:
            raise DesignError("fewer than two segments lose offers to the caps")
        for n in mins:
            k = key_of("segments", n)
            u = sol.use[k]
            set_bound(trial, k, "min",
                      int(math.ceil(u + frac * (free.use[k] - u))))
        if inst.lp(trial).optimal:
            cons = trial
            keys += [key_of("segments", n) for n in mins]
            break
    else:
        raise DesignError("segment mins infeasible")
    return cons, keys


def design_budget(inst, c, p, notes):
    free = inst.unconstrained()
    spend = free.use[key_of("budget")]
    notes["unconstrained_spend"] = round(spend, 6)
    notes["budget_fraction"] = p["budget_fraction"]
    return {"budget": round_count(p["budget_fraction"] * spend)}, \
        [key_of("budget")]


def design_negative_ev_mins(inst, c, p, notes):
    cons = {}
    keys = []
    for i, item in enumerate(notes["negative_ev_offers"]):
        k = key_of("products", item["product"])
        rows = inst.cand.code["product"] == inst.cand.maps["product"][
            item["product"]]
        if (inst.cand.obj[rows] >= 0).any():
            raise DesignError("%s has candidates with objective >= 0" % k)
        cap = inst.capacity(k)
        set_bound(cons, k, "min", round_count(p["min_fractions"][i] * cap))
        keys.append(k)
    with_mins = inst.lp(cons)
    cheapest = inst.min_cost(cons)
    spend = with_mins.use[key_of("budget")]
    cons["budget"] = round_count(cheapest + p["budget_between"]
                                 * (spend - cheapest))
    notes["mins_cheapest_cost"] = round(cheapest, 6)
    notes["spend_with_mins_no_budget"] = round(spend, 6)
    notes["negative_ev_check"] = ("every candidate of each min's product has "
                                  "objective < 0")
    return cons, keys + [key_of("budget")]


def design_product_caps(inst, c, p, notes):
    free = inst.unconstrained()
    lo, hi = p["fractions"]
    names = [n for n in inst.labels("products")
             if free.use[key_of("products", n)] >= p.get("min_use", 10)]
    cons, keys = {}, []
    for i, n in enumerate(names):
        frac = lo + (hi - lo) * ((i * 37) % 101) / 100.0
        k = key_of("products", n)
        set_bound(cons, k, "max", round_count(frac * free.use[k]))
        keys.append(k)
    if p.get("budget_fraction"):
        sol = inst.lp(cons)
        cons["budget"] = round_count(p["budget_fraction"]
                                     * sol.use[key_of("budget")])
        keys.append(key_of("budget"))
    return cons, keys


def design_cascade(inst, c, p, notes):
    cons = {}
    keys = cascade(inst, cons, p["steps"])
    return cons, keys


def design_stock(inst, c, p, notes):
    """The generator's own constraints, verbatim; intended: none (recorded)."""
    return copy.deepcopy(p["_generated"].get("constraints") or {}), []


def design_inf_segment_email_sms(inst, c, p, notes):
    free = inst.unconstrained()
    seg = ranked(inst, free, "segments")[0]
    ks = key_of("segments", seg)
    cap = inst.capacity(ks)
    e, s = key_of("channels", "email"), key_of("channels", "sms")
    emax, smax = round_count(0.3 * cap), round_count(0.15 * cap)
    smin = round_count(0.5 * (emax + smax) + 0.5 * cap)
    cons = {"budget": round_count(2.0 * free.use[key_of("budget")]),
            "segments": {seg: {"min": smin}},
            "channels": {"email": {"max": emax}, "sms": {"max": smax}}}
    notes["segment_capacity"] = round(cap, 6)
    return cons, [ks, e, s]


def design_inf_mins_over_budget(inst, c, p, notes):
    free = inst.unconstrained()
    regions = ranked(inst, free, "regions")[:2]
    cons, keys, alone = {}, [], []
    for n in regions:
        k = key_of("regions", n)
        set_bound(cons, k, "min", round_count(0.6 * inst.capacity(k)))
        keys.append(k)
        alone.append(inst.min_cost(only_keys(cons, [k])))
    both = inst.min_cost(cons)
    cons["budget"] = round_count(0.5 * (max(alone) + both))
    notes["cheapest_cost_each_min"] = [round(a, 6) for a in alone]
    notes["cheapest_cost_all_mins"] = round(both, 6)
    return cons, keys + [key_of("budget")]


def design_inf_product_min(inst, c, p, notes):
    free = inst.unconstrained()
    prod = ranked(inst, free, "products")[0]
    k = key_of("products", prod)
    cap = inst.capacity(k)
    notes["product_capacity"] = round(cap, 6)
    cons = {"products": {prod: {"min": round_count(cap) + max(
        1, round_count(0.05 * cap))}},
        "budget": round_count(1.5 * free.use[key_of("budget")])}
    return cons, [k]


def design_inf_region_channel(inst, c, p, notes):
    """The most-offered region gets a min between what its customers can
    receive at all and what they can receive under the channel's max."""
    free = inst.unconstrained()
    ch = p["channel"]
    kc = key_of("channels", ch)
    region = ranked(inst, free, "regions")[0]
    kr = key_of("regions", region)
    cap = inst.capacity(kr)
    without = inst.max_use({"channels": {ch: {"max": 0}}}, kr)
    if without > cap - 20:
        raise DesignError("%s's customers hardly need %s" % (kr, kc))
    cmax = round_count(0.5 * (cap - without))
    reach = inst.max_use({"channels": {ch: {"max": cmax}}}, kr)
    rmin = round_count(0.5 * (reach + cap))
    if not reach < rmin <= cap:
        raise DesignError("no room for a conflicting min")
    notes["region_capacity"] = round(cap, 6)
    notes["region_reach_without_channel"] = round(without, 6)
    notes["region_reach_under_channel_max"] = round(reach, 6)
    cons = {"regions": {region: {"min": rmin}},
            "channels": {ch: {"max": cmax}},
            "budget": round_count(1.5 * free.use[key_of("budget")])}
    return cons, [kr, kc]


SHAPES = {
    "prop_seg_mins": (variant_plain, design_prop_seg_mins),
    "value_column_budget": (variant_value_column, design_budget),
    "negative_ev_mins": (variant_negative_ev, design_negative_ev_mins),
    "product_caps": (variant_plain, design_product_caps),
    "channel_ladder": (variant_channel_ladder, design_cascade),
    "cascade": (variant_plain, design_cascade),
    "six_by_two": (variant_six_by_two, design_cascade),
    "stock": (variant_plain, design_stock),
    "inf_segment_email_sms": (variant_email_sms, design_inf_segment_email_sms),
    "inf_mins_over_budget": (variant_plain, design_inf_mins_over_budget),
    "inf_product_min": (variant_plain, design_inf_product_min),
    "inf_region_channel": (variant_email_main, design_inf_region_channel),
}
REFINE = {"negative_ev_mins": refine_negative_ev}

# --------------------------------------------------------------------------
# The family
# --------------------------------------------------------------------------

CASCADE_GENERATOR_LIKE = [
    ("channels", "direct_mail", "max", 0.8),
    ("products", "top3", "max", 0.7),
    ("regions", "top", "max", 0.85),
    ("segments", "top", "max", 0.85),
    ("budget", None, "max", 0.75),
]

CASES = [
    # name, generate args, shape, parameters, description
    ("prop_seg_mins_email_sms", dict(customers=4000, offers=12, seed=101),
     "prop_seg_mins",
     dict(objective="propensity", fatigue="off", email=0.35, sms=0.15),
     "objective propensity; email and sms maxes and two segment mins bind"),
    ("vcol_heavy_budget25", dict(customers=6000, offers=10, seed=202),
     "value_column_budget", dict(budget_fraction=0.25),
     "every offer valued by the most skewed profile column; budget 25 % of "
     "the unconstrained spend"),
    ("vcol_heavy_budget10", dict(customers=3000, offers=8, seed=203),
     "value_column_budget", dict(budget_fraction=0.10),
     "heavy-tailed value column; budget 10 % of the unconstrained spend"),
    ("vcol_heavy_budget50", dict(customers=8000, offers=14, seed=204,
                                 trees=60, depth=5),
     "value_column_budget", dict(budget_fraction=0.50, fatigue="off"),
     "heavy-tailed value column; budget 50 % of the unconstrained spend; "
     "no fatigue"),
    ("negative_ev_mins_budget", dict(customers=5000, offers=12, seed=303),
     "negative_ev_mins",
     dict(negative_offers=2, min_fractions=[0.3, 0.2], budget_between=0.5),
     "product mins met only by offers whose every candidate has a negative "
     "expected value, and a binding budget"),
    ("product_caps_32", dict(customers=8000, offers=32, seed=404,
                             trees=40, depth=5),
     "product_caps",
     dict(fractions=(0.6, 0.8), fatigue="off", max_offers=8, max_per_family=4),
     "32 offers, each its own product, each capped at 60-80 % of its "
     "unconstrained use (max_offers 8, max_per_family 4, so every product "
     "is used)"),
    ("product_caps_24_budget", dict(customers=5000, offers=24, seed=405),
     "product_caps",
     dict(fractions=(0.6, 0.8), budget_fraction=0.85, max_offers=6,
          max_per_family=3),
     "24 offers, each its own product, capped at 60-80 % of unconstrained "
     "use, and a budget (max_offers 6, max_per_family 3)"),
    ("channel_ladder_4", dict(customers=6000, offers=16, seed=505),
     "channel_ladder",
     dict(channels=["email", "sms", "direct_mail", "branch"],
          steps=[("channels", "email", "max", 0.5),
                 ("channels", "sms", "max", 0.5),
                 ("channels", "direct_mail", "max", 0.25),
                 ("channels", "branch", "max", 0.6)]),
     "4 channels costing ~0.1 to 9.5 per contact; a max on each"),
    ("channel_ladder_3_budget", dict(customers=3000, offers=10, seed=506),
     "channel_ladder",
     dict(channels=["email", "sms", "direct_mail"],
          steps=[("channels", "email", "max", 0.5),
                 ("channels", "sms", "max", 0.7),
                 ("budget", None, "max", 0.8)]),
     "3 channels of very different costs; email and sms maxes and a budget"),
    ("max_offers_1", dict(customers=4000, offers=8, seed=601),
     "cascade",
     dict(max_offers=1, max_per_family=1,
          steps=[("products", "top2", "max", 0.7),
                 ("channels", "email", "max", 0.8),
                 ("budget", None, "max", 0.8)]),
     "max_offers 1; product, channel and budget caps"),
    ("max_offers_2_family_1", dict(customers=5000, offers=12, seed=602),
     "cascade",
     dict(max_offers=2, max_per_family=1,
          steps=[("regions", "top", "max", 0.85),
                 ("segments", "top", "max", 0.85),
                 ("products", "top", "max", 0.7),
                 ("budget", None, "max", 0.8)]),
     "max_offers 2, max_per_family 1; region, segment, product and budget caps"),
    ("max_offers_3_family_1", dict(customers=6000, offers=18, seed=603),
     "cascade",
     dict(max_offers=3, max_per_family=1,
          steps=[("products", "top2", "max", 0.7),
                 ("channels", "direct_mail", "max", 0.75),
                 ("budget", None, "max", 0.75),
                 ("regions", "top", "max", 0.9),
                 ("channels", "email", "max", 0.8),
                 ("regions", "squeezed", "min", 0.4)]),
     "max_offers 3, max_per_family 1; product, channel, region max and min, "
     "budget"),
    ("max_offers_4_family_2", dict(customers=4000, offers=20, seed=604),
     "cascade",
     dict(max_offers=4, max_per_family=2,
          steps=[("products", "top3", "max", 0.7),
                 ("segments", "top", "max", 0.85),
                 ("budget", None, "max", 0.8)]),
     "max_offers 4, max_per_family 2; product, segment and budget caps"),
    ("fatigue_tight", dict(customers=5000, offers=12, seed=701),
     "cascade",
     dict(fatigue={"max_ignored": 1, "window_days": 120},
          steps=CASCADE_GENERATOR_LIKE),
     "fatigue after 1 ignored contact in 120 days; generator-like caps"),
    ("six_by_two_all_kinds", dict(customers=3000, offers=6, seed=801),
     "six_by_two",
     dict(steps=[("channels", "email", "max", 0.6),
                 ("products", "top2", "max", 0.7),
                 ("regions", "top", "max", 0.85),
                 ("segments", "top", "max", 0.85),
                 ("regions", "squeezed", "min", 0.4),
                 ("segments", "squeezed", "min", 0.4),
                 ("budget", None, "max", 0.85)]),
     "6 offers x 2 channels (email, direct mail); 8 binding caps of every "
     "kind"),
    ("stock_20k", dict(customers=20000, offers=16, seed=901),
     "stock", dict(),
     "the generator's own campaign, verbatim (20,000 customers)"),
    ("small_2k_propensity", dict(customers=2000, offers=6, seed=902),
     "cascade",
     dict(objective="propensity", fatigue="off",
          steps=[("channels", "email", "max", 0.7),
                 ("regions", "top", "max", 0.8),
                 ("segments", "squeezed", "min", 0.5)]),
     "2,000 customers, propensity objective; channel, region max, segment "
     "min"),
    # Infeasible by design.
    ("inf_segment_email_sms", dict(customers=4000, offers=10, seed=1001),
     "inf_segment_email_sms", dict(only=True),
     "every offer on email and sms only; a segment min above the email and "
     "sms maxes together"),
    ("inf_mins_over_budget", dict(customers=3000, offers=8, seed=1002),
     "inf_mins_over_budget", dict(),
     "two region mins whose cheapest cost together exceeds the budget (each "
     "alone fits)"),
    ("inf_product_min_capacity", dict(customers=2000, offers=6, seed=1003),
     "inf_product_min", dict(),
     "a product min above the number of customers eligible for it"),
    ("inf_region_min_channel_max", dict(customers=5000, offers=12, seed=1004),
     "inf_region_channel", dict(channel="email"),
     "offers on email only (direct-mail-only offers kept); a region min above "
     "what its customers can get under the email max"),
]
INFEASIBLE_SHAPES = {"inf_segment_email_sms", "inf_mins_over_budget",
                     "inf_product_min", "inf_region_channel"}


def generate_args(g):
    args = ["--customers", str(g["customers"]), "--offers", str(g["offers"]),
            "--seed", str(g["seed"])]
    for k in ("trees", "depth"):
        if k in g:
            args += ["--" + k, str(g[k])]
    return args


# --------------------------------------------------------------------------
# Running nextbest and lp_optimum.py
# --------------------------------------------------------------------------

class Runner:
    def __init__(self, binary, work):
        self.bin = binary
        self.work = work

    def nb(self, *args, check=True):
        p = subprocess.run([self.bin] + list(args), capture_output=True,
                           text=True)
        if check and p.returncode != 0:
            raise RuntimeError("nextbest %s failed (%d):\n%s" % (
                " ".join(args), p.returncode, p.stderr[-4000:]))
        return p

    def export(self, store, campaign, d):
        """Imports the campaign and runs with --export-candidates into the
        directory d; returns (lp dir, run process)."""
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        yml = d / "campaign.yaml"
        yml.write_text(campaign_yaml(campaign, ["scratch copy"]))
        self.nb("import", "campaign", str(yml), "--store", str(store))
        p = self.nb("run", "--store", str(store), "--out", str(d / "out"),
                    "--export-candidates", str(d / "lp"), *RUN_ARGS,
                    check=False)
        (d / "run.stderr").write_text(p.stderr)
        return d / "lp", p


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_case(runner, case, mip_time_limit):
    name, gen, shape, params, description = case
    t0 = time.time()
    work = runner.work / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    store = work / "store"
    args = generate_args(gen)
    log("%s: generate %s" % (name, " ".join(args)))
    runner.nb("generate", *args, "--store", str(store))
    generated = read_campaign(store / "generated" / "campaign.yaml")
    notes = {}

    def profiles_csv():
        files = work / "profiles"
        runner.nb("generate", *args, "--store", str(work / "store-csv"),
                  "--files", str(files), "--export-csv")
        return str(files / "profiles.csv")

    ctx = {"notes": notes, "profiles_csv": profiles_csv}
    params = dict(params, _generated=generated)
    variant, design = SHAPES[shape]
    campaign = variant(copy.deepcopy(generated), params, ctx)
    campaign.pop("constraints", None)

    lp_dir, _ = runner.export(store, campaign, work / "free")
    if not (lp_dir / "candidates.csv").exists():
        raise RuntimeError("%s: no candidates exported without constraints"
                           % name)
    inst = Instance(lp_dir / "candidates.csv", campaign)
    if shape in REFINE:
        campaign = REFINE[shape](campaign, params, ctx, inst)
        lp_dir, _ = runner.export(store, campaign, work / "free")
        inst = Instance(lp_dir / "candidates.csv", campaign)
    free = inst.unconstrained()
    log("%s: %d candidates, %d customers, unconstrained LP %.4f"
        % (name, inst.cand.n, inst.customers, free.objective))

    cons, keys = design(inst, campaign, params, notes)
    feasible = shape not in INFEASIBLE_SHAPES
    if feasible and keys:
        sol = bind(inst, cons, keys)
        log("%s: designed %d binding rows, LP %.4f"
            % (name, len(keys), sol.objective))
    campaign["constraints"] = cons

    # The final campaign, imported and exported as users would.
    comment = ["Optimality fixture %s (Tests/Fixtures/optimality/make_family.py)"
               % name, description,
               "Store: nextbest generate $(cat generate.args) --store STORE"]
    final_dir, _ = runner.export(store, campaign, work / "final")
    free_csv = inst.path
    if (final_dir / "candidates.csv").exists():
        if sha256(final_dir / "candidates.csv") != sha256(free_csv):
            raise RuntimeError("%s: candidates differ with and without the "
                               "campaign-wide constraints" % name)
        exported = "run"
    else:
        final_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(free_csv, final_dir / "candidates.csv")
        with open(final_dir / "constraints.json", "w") as f:
            json.dump(constraints_json(campaign), f, indent=2)
        exported = "constraint-free run + the campaign's constraints.json"
    with open(final_dir / "constraints.json") as f:
        exported_cons = json.load(f)
    mine = constraints_json(campaign)
    budgets = exported_cons.pop("budget"), mine.pop("budget")
    if exported_cons != mine or (budgets[0] is None) != (budgets[1] is None) \
            or abs((budgets[0] or 0) - (budgets[1] or 0)) > 1e-6:
        raise RuntimeError("%s: exported constraints.json differs from the "
                           "campaign" % name)

    # HiGHS on the exact instance.
    out_json = work / "lp_optimum.json"
    cmd = [sys.executable, str(LP_TOOL), str(final_dir / "candidates.csv"),
           str(final_dir / "constraints.json"), str(out_json), "--mip",
           "--mip-rel-gap", repr(MIP_REL_GAP), "--time-limit",
           str(mip_time_limit)]
    log("%s: lp_optimum.py --mip (time limit %ds)" % (name, mip_time_limit))
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("lp_optimum.py failed:\n" + p.stderr[-4000:])
    res = json.loads(out_json.read_text())
    log("%s: %s" % (name, p.stdout.strip().splitlines()[-1]))

    summary = None
    if (final_dir.parent / "out" / "summary.json").exists():
        summary = json.loads((final_dir.parent / "out" /
                              "summary.json").read_text())
    rec = {
        "case": name,
        "shape": shape,
        "description": description,
        "customers": res["customers"],
        "offers": len(campaign["offers"]),
        "rows": res["rows"],
        "candidates_sha256": sha256(final_dir / "candidates.csv"),
        "feasible": feasible,
        "lp_optimum": res["lp_optimum"],
        "lp_status": res["lp_status"],
        "mip_optimum": res["mip_optimum"],
        "mip_status": res["mip_status"],
        "mip_gap": res["mip_gap"],
        "mip_bound": res.get("mip_bound"),
        "mip_rel_gap": MIP_REL_GAP,
        "mip_time_limit": mip_time_limit,
        "highs_version": res["highs_version"],
    }
    all_keys = constraint_keys(cons)
    if feasible:
        if res["lp_status"] != "Optimal":
            raise RuntimeError("%s: designed feasible but HiGHS says %s"
                               % (name, res["lp_status"]))
        rec["binding"] = binding_keys(res["constraint_use_lp"], cons)
        rec["binding_mip"] = binding_keys(res.get("constraint_use_mip"), cons)
        rec["intended_binding"] = keys
        missing = [k for k in keys if k not in rec["binding"]]
        if missing:
            raise RuntimeError("%s: intended rows not at their limit in "
                               "lp_optimum.py's LP solution: %s"
                               % (name, missing))
    else:
        if "nfeasible" not in res["lp_status"]:
            raise RuntimeError("%s: designed infeasible but HiGHS says %s"
                               % (name, res["lp_status"]))
        total, by_key, st = inst.min_violation(cons, keys)
        itotal, _, ist = inst.min_violation(cons, keys, integer=True)
        if total is None or total <= 1e-6:
            raise RuntimeError("%s: the conflict rows can all hold (%s)"
                               % (name, st))
        minimal = all(inst.lp(drop_key(cons, k)).optimal for k in keys)
        if not minimal:
            raise RuntimeError("%s: dropping one conflict key does not make "
                               "the campaign feasible" % name)
        rec["conflict"] = keys
        rec["shortfall"] = round(total, 6)
        rec["shortfall_by_key"] = {k: round(v, 6) for k, v in by_key.items()
                                   if v > 1e-9}
        rec["shortfall_integer"] = None if itotal is None else round(itotal, 6)
        rec["shortfall_integer_status"] = ist
        rec["shortfall_model"] = (
            "minimum total violation of the conflict rows alone (each row's "
            "violation in its own unit: offers, or money for the budget), "
            "subject to the per-customer rules; LP relaxation (shortfall) and "
            "integral x (shortfall_integer)")
        rec["minimal_conflict"] = minimal
    rec["constraints"] = all_keys
    rec["constraint_use_lp"] = flat_use(res.get("constraint_use_lp"), cons)
    rec["constraint_use_mip"] = flat_use(res.get("constraint_use_mip"), cons)
    rec["unconstrained_lp_optimum"] = free.objective
    # offers fatigue removed, as the run counts them (null if it refused)
    rec["fatigue_exclusions"] = summary and summary.get("fatigue_exclusions")
    rec["fatigue"] = campaign.get("fatigue")
    rec["per_customer"] = campaign["per_customer"]
    rec["objective"] = campaign["objective"]
    rec["candidates_from"] = exported
    if "mip_highs_objective_mismatch" in res:
        notes["mip_highs_objective_mismatch"] = \
            res["mip_highs_objective_mismatch"]
    rec["notes"] = notes

    dest = FIXTURES / name
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "generate.args").write_text(" ".join(args) + "\n")
    (dest / "campaign.yaml").write_text(campaign_yaml(campaign, comment))
    with open(dest / "highs.json", "w") as f:
        json.dump(rec, f, indent=2)
        f.write("\n")
    log("%s: done in %.0fs" % (name, time.time() - t0))
    return rec


def flat_use(use, cons):
    """lp_optimum.py's nested constraint use as {key: use}."""
    if not use:
        return None
    out = {}
    for key in constraint_keys(cons):
        kind, name = split_key(key)
        out[key] = use["budget"] if kind == "budget" else use[kind][name]
    return out


def binding_keys(use, cons):
    flat = flat_use(use, cons)
    if flat is None:
        return None
    return [k for k, u in flat.items()
            if at_limit(u, *bounds_of(cons, k)) is not None]


def default_binary():
    for cfg in ("release", "debug"):
        p = subprocess.run(["swift", "build", "-c", cfg, "--show-bin-path"],
                           cwd=ROOT, capture_output=True, text=True)
        path = Path(p.stdout.strip()) / "nextbest"
        if p.returncode == 0 and path.exists():
            return str(path)
    raise SystemExit("no nextbest binary: swift build -j 1 --product nextbest")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", help="nextbest binary")
    ap.add_argument("--work", default=str(ROOT / "bench" / "work" /
                                         "optimality-family"))
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--mip-time-limit", type=int, default=600)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args(argv)
    if a.list:
        for c in CASES:
            print("%-28s %6d customers %3d offers  %s" % (
                c[0], c[1]["customers"], c[1]["offers"], c[4]))
        return 0
    only = set(a.only.split(",")) if a.only else None
    cases = [c for c in CASES if only is None or c[0] in only]
    if only and len(cases) != len(only):
        raise SystemExit("unknown case in --only")
    runner = Runner(a.bin or default_binary(), Path(a.work))
    runner.work.mkdir(parents=True, exist_ok=True)
    failed = []
    for case in cases:
        try:
            build_case(runner, case, a.mip_time_limit)
        except (DesignError, RuntimeError) as e:
            log("%s: FAILED: %s" % (case[0], e))
            failed.append(case[0])
    if failed:
        log("failed: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
