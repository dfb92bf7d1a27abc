"""Pieces shared by the workload benchmark and the load test: the store, summary.json, stages, outputs."""

import json
import os
import re
import shutil
import subprocess
import time

from . import env, nbacheck, procs

# Stages as reported, from summary.json's timings_seconds.
STAGES = ["load", "wait", "score", "rounds", "repair", "merge", "write"]
STAGE_LABELS = {"load": "load (plan)", "wait": "wait for workers", "score": "score", "rounds": "rounds",
                "repair": "repair", "merge": "merge", "write": "write", "other": "other (in total)",
                "outside": "wall − total"}
CHART_STAGES = STAGES + ["other", "outside"]


def chart_row(run):
    """Stage seconds of RUN for the stacked chart, the wall time outside summary.json's total last."""
    s = run.get("stages") or {}
    row = [s.get(k) for k in STAGES + ["other"]]
    total = s.get("total")
    row.append(round(max(0.0, run["wall_seconds"] - total), 3) if total is not None else None)
    return row


def load_workloads():
    with open(os.path.join(env.BENCH, "workloads.json")) as f:
        return json.load(f)


def workload_names(config):
    """{name or alias: canonical name} of every workload in CONFIG (workloads.json)."""
    names = {}
    for name, wl in config["workloads"].items():
        names[name] = name
        for alias in wl.get("aliases", []):
            names[alias] = name
    return names


def resolve_workload(config, name):
    """(canonical name, workload dict with its name) for NAME, a workload's name or one of its aliases."""
    canonical = workload_names(config)[name]
    return canonical, config["workloads"][canonical]


def workload_key(wl):
    """What a store is generated from: customers, seed and offers (32, the generator's default, if absent)."""
    return {"customers": wl["customers"], "seed": wl.get("seed", 42), "offers": wl.get("offers", 32)}


def _marker_matches(marker, want):
    """True if the generation marker MARKER records WANT (a marker from before offers were recorded was
    written with the generator's default, 32)."""
    try:
        with open(marker) as f:
            had = json.load(f)
    except (OSError, ValueError):
        return None
    had.setdefault("offers", 32)
    return had if all(had.get(k) == v for k, v in want.items()) else False


def ensure_store(binary, wl_name, wl, work):
    """WORK/<wl_name>/{store,files}: generated once (a marker file says the generation completed),
    reused afterwards. A store generated under one of the workload's aliases (WORK/<alias>/, e.g. the
    older WORK/small/) with the same customers, seed and offers is reused where it is. Returns (store,
    files, info)."""
    want = workload_key(wl)
    for d in [wl_name] + list(wl.get("aliases", [])):
        b = os.path.join(work, d)
        had = _marker_matches(os.path.join(b, "generated.json"), want)
        if had and os.path.exists(os.path.join(b, "store", "data.mdb")):
            env.log(f"store {os.path.join(b, 'store')}: reused ({had['customers']:,} customers, seed {had['seed']}, "
                    f"{had['offers']} offers, generated {had.get('date')})")
            return os.path.join(b, "store"), os.path.join(b, "files"), {"reused": True, **had}
        if d == wl_name and had is False:
            env.log(f"store {os.path.join(b, 'store')} was generated with other parameters, want {want}: generating again")
    base = os.path.join(work, wl_name)
    store, files = os.path.join(base, "store"), os.path.join(base, "files")
    marker = os.path.join(base, "generated.json")
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(files, ignore_errors=True)
    try:
        os.remove(marker)
    except FileNotFoundError:
        pass
    os.makedirs(base, exist_ok=True)
    cmd = [binary, "generate", "--customers", str(want["customers"]), "--seed", str(want["seed"]),
           "--offers", str(want["offers"]), "--store", store, "--files", files]
    env.log(f"generating {want['customers']:,} customers x {want['offers']} offers, seed {want['seed']}: {' '.join(cmd[1:])}")
    logp = os.path.join(base, "generate.log")
    r = procs.run_monitored(cmd, logp)
    if r["status"] != 0:
        raise SystemExit(f"bench/run: generate failed (status {r['status']}); last lines of {logp}:\n"
                         + "\n".join(procs.tail(logp)))
    info = {**want, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": r["wall_seconds"],
            "peak_rss_kb": max((p["peak_rss_kb"] for p in r["processes"]), default=None),
            "command": " ".join(["nextbest"] + cmd[1:])}
    with open(marker, "w") as f:
        json.dump(info, f, indent=1)
    env.log(f"generated in {r['wall_seconds']:.1f} s")
    return store, files, {"reused": False, **info}


def prune_runs(binary, store):
    """Drop the runs a previous benchmark kept in the store (each keeps ~260 bytes per customer), so that
    every invocation starts from the same store size."""
    r = subprocess.run([binary, "runs", "prune", "--keep", "0", "--store", store],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else f"status {r.returncode}"


def warm_store(store):
    """Reads the store's data file once, so that every contender (nextbest's runs and each baseline) starts
    with it in the page cache, whatever ran before (a baseline's scratch files can push it out). Returns
    the seconds it took (near 0 when it was cached already)."""
    t0 = time.perf_counter()
    buf = bytearray(16 << 20)
    try:
        with open(os.path.join(store, "data.mdb"), "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
    except OSError:
        return None
    return round(time.perf_counter() - t0, 3)


def read_summary(out_dir):
    try:
        with open(os.path.join(out_dir, "summary.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def stages(timings):
    """Stage seconds from timings_seconds. In one-process runs rounds and repair are one `optimize`
    figure: reported under rounds, with combined=True."""
    t = timings or {}
    s = {"load": t.get("plan"), "wait": t.get("wait_for_workers"), "score": t.get("score"),
         "rounds": t.get("rounds"), "repair": t.get("repair"), "write": t.get("write"), "total": t.get("total")}
    combined = False
    if s["rounds"] is None and s["repair"] is None and t.get("optimize") is not None:
        s["rounds"], combined = t["optimize"], True
    mw = t.get("merge_and_write")
    if mw is not None and t.get("write") is not None:
        s["merge"] = round(max(0.0, mw - t["write"]), 3)
    else:
        s["merge"] = mw
    known = sum(v for k, v in s.items() if k in STAGES and v is not None)
    s["other"] = round(max(0.0, s["total"] - known), 3) if s["total"] is not None else None
    s["rounds_and_repair_combined"] = combined
    return s


def caps_broken(constraints, eps=1e-6):
    """Keys of constraints whose use is above max or below min (summary.json's optimization.constraints
    or a baseline's constraints; a baseline's own `holds` is trusted when present)."""
    broken = []
    for c in constraints or []:
        if "holds" in c and c["holds"] is not None:
            if not c["holds"]:
                broken.append(c.get("key"))
            continue
        used, lo, hi = c.get("used"), c.get("min"), c.get("max")
        if used is None:
            continue
        if (hi is not None and used > hi + eps * max(1.0, abs(hi))) or (lo is not None and used < lo - eps * max(1.0, abs(lo))):
            broken.append(c.get("key"))
    return broken


def check_output(out_dir, summary, max_offers, cache):
    """nbacheck of OUT/nba.csv, plus its row and customer counts against summary.json. CACHE (sha ->
    result) avoids parsing identical files twice."""
    path = os.path.join(out_dir, "nba.csv")
    if not os.path.exists(path):
        return {"valid": False, "errors": ["no nba.csv"], "sha256": None}
    sha = nbacheck.sha256(path)
    if sha in cache:
        res = dict(cache[sha])
    else:
        res = nbacheck.check(path, max_offers=max_offers)
        cache[sha] = res
    res = dict(res, errors=list(res["errors"]))
    if summary:
        if summary.get("offers_made") is not None and summary["offers_made"] != res.get("rows"):
            res["errors"].append(f"{res.get('rows')} rows, summary.json says offers_made {summary['offers_made']}")
        cwo = summary.get("customers_with_offers")
        if cwo is not None and cwo != res.get("customers"):
            res["errors"].append(f"{res.get('customers')} customers in nba.csv, summary.json says customers_with_offers {cwo}")
        res["valid"] = not res["errors"]
    return res


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def results_dir(base, date, name, commit_short):
    """bench/results/<date>-<name>-<commit>/, with -2, -3, ... when that exists already."""
    d = os.path.join(base, f"{date}-{name}-{commit_short}")
    n = 2
    cand = d
    while os.path.exists(cand):
        cand = f"{d}-{n}"
        n += 1
    os.makedirs(cand)
    return cand


def gib(kb):
    return None if kb is None else kb / 1048576


def fmt_gib(kb):
    if kb is None:
        return "–"
    g = kb / 1048576
    return f"{g:.2f} GiB" if g >= 0.995 else f"{kb / 1024:.0f} MiB"


def fmt_s(v, nd=1):
    if v is None:
        return "–"
    if v < 0.95 and nd == 1:
        return f"{v:.2f}"
    return f"{v:.{nd}f}"


def append_section(results_file, text):
    """Appends TEXT (a markdown section) at the end of RESULTS_FILE, separated by one blank line."""
    existing = ""
    if os.path.exists(results_file):
        with open(results_file) as f:
            existing = f.read()
    with open(results_file, "a") as f:
        if existing and not existing.endswith("\n"):
            f.write("\n")
        if existing.strip():
            f.write("\n")
        f.write(text.rstrip("\n") + "\n")


def finish(res, runs, rdir, args, markdown, prefix):
    """The end of an invocation: each good run's summary.json copied as summary-<prefix><workers>.json,
    results.json and section.md written to RDIR, the section appended to the results file (unless
    --no-append) and printed. Returns the exit status: 1 if anything failed."""
    for r in runs:
        if r.get("ok"):
            shutil.copy(os.path.join(r["out"], "summary.json"), os.path.join(rdir, f"summary-{prefix}{r['workers']}.json"))
    res["ok"] = not res["failures"]
    res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with open(os.path.join(rdir, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    results_file = args.results or os.path.join(env.BENCH, "RESULTS.md")
    with open(os.path.join(rdir, "section.md"), "w") as f:
        f.write(markdown(res, os.path.join(rdir, "section.md")))
    md = markdown(res, results_file)
    if not args.no_append:
        append_section(results_file, md)
        env.log(f"appended a section to {results_file}")
    print(md)
    env.log(f"results: {rdir}")
    if res["failures"]:
        env.log("FAILED: " + "; ".join(res["failures"]))
        return 1
    return 0


def relpath_from(results_file, target):
    return os.path.relpath(target, os.path.dirname(os.path.abspath(results_file)))


def end_section(lines, res, results_file, label=lambda name: name):
    """The end of a markdown section: links to the plots (relative to RESULTS_FILE), any failures, and the
    text with runs of blank lines collapsed."""
    links = [f"[{label(name)}]({relpath_from(results_file, p)})" for name, p in res["plots"].items()]
    lines.append("Plots: " + (", ".join(links) if links else "none"))
    if res["failures"]:
        lines.append("")
        lines.append("**Failures:** " + "; ".join(res["failures"]))
    lines.append("")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
