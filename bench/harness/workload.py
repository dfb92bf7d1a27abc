"""bench/run WORKLOAD: runs, kernels, baselines, results directory, plots, RESULTS.md section."""

import json
import os
import shutil
import subprocess
import sys
import time

from . import common, env, latency, procmon, procs, svg
from .common import fmt_gib, fmt_s


# ----------------------------------------------------------------------------------------------- runs

def failure_reason(lines):
    """The line that says why a baseline stopped: the last error line that is not a stack frame (a JVM's
    "Caused by: java.io.IOException: No space left on device", Python's last exception line), else the last
    line that is not blank."""
    text = [l.strip() for l in lines if l.strip()]
    frames = ("at ", "...", "File ", "^", "~")
    for l in reversed(text):
        if l.startswith(frames):
            continue
        if any(k in l for k in ("Error", "Exception", "No space", "Killed", "error:")):
            return l[:300]
    return text[-1][:300] if text else "(no output)"


def one_run(binary, store, base, workers, max_offers, cache):
    out = os.path.join(base, f"out-w{workers}")
    shutil.rmtree(out, ignore_errors=True)
    logp = os.path.join(base, f"out-w{workers}.log")
    cmd = [binary, "run", "--store", store, "--out", out, "--workers", str(workers), "--no-warm-start", "--quiet"]
    env.log(f"run --workers {workers}")
    r = procs.run_monitored(cmd, logp)
    rec = {"workers": workers, "command": " ".join(["nextbest"] + cmd[1:]), "out": out, "log": logp,
           "status": r["status"], "wall_seconds": r["wall_seconds"], "processes": r["processes"],
           "monitor_samples": r["samples"], "rusage_cpu_seconds": r.get("rusage_cpu_seconds"),
           "rusage_maxrss_kb": r.get("rusage_maxrss_kb")}
    rec.update(procmon.summarize(r["processes"]))
    rec["ok"] = r["status"] == 0
    if not rec["ok"]:
        rec["error"] = f"exit status {r['status']}: " + " | ".join(procs.tail(logp, 5))
        env.log(f"  FAILED: {rec['error']}")
        return rec
    s = common.read_summary(out)
    if s is None:
        rec["ok"], rec["error"] = False, "no readable summary.json"
        return rec
    t = s.get("timings_seconds") or {}
    rec["timings_seconds"] = t
    rec["stages"] = common.stages(t)
    rec["optimization"] = {k: (s.get("optimization") or {}).get(k) for k in ("rounds", "gap", "objective", "dual_bound")}
    rec["messages"] = s.get("messages")
    rec["customers"] = s.get("customers")
    rec["shards"] = s.get("shards")
    rec["offers_made"] = s.get("offers_made")
    rec["total_cost"] = s.get("total_cost")
    rec["run_id"] = s.get("run_id")
    rec["caps_broken"] = common.caps_broken((s.get("optimization") or {}).get("constraints"))
    rec["constraints"] = (s.get("optimization") or {}).get("constraints")
    total = t.get("total")
    rec["customers_per_s"] = round(s["customers"] / total, 1) if total and s.get("customers") else None
    rec["customers_per_s_wall"] = round(s["customers"] / r["wall_seconds"], 1) if s.get("customers") else None
    rec["shard_latency"] = latency.normalize(s.get("shard_latency"))
    rec["nba"] = common.check_output(out, s, max_offers, cache)
    if not rec["nba"]["valid"]:
        rec["ok"] = False
        rec["error"] = "invalid nba.csv: " + "; ".join(rec["nba"]["errors"][:3])
    o = rec["optimization"]
    env.log(f"  wall {r['wall_seconds']:.1f} s, total {total} s, {rec['customers_per_s'] or 0:,.0f} customers/s, "
            f"rounds {o.get('rounds')}, gap {100 * (o.get('gap') or 0):.4f} %, coordinator CPU share "
            f"{100 * (rec['coordinator_cpu_share'] or 0):.1f} %, nba.csv {(rec['nba'].get('sha256') or '?')[:16]}"
            f"{'' if rec['nba']['valid'] else ' INVALID'}")
    env.log("  " + latency.line(rec["shard_latency"]))
    return rec


# -------------------------------------------------------------------------------------------- kernels

def kernels(binary, store, customers):
    if not env.has_subcommand(binary, "bench-kernels"):
        env.log("kernels: `nextbest bench-kernels` not available in this build")
        return {"available": False, "note": "not available (no `nextbest bench-kernels` in this build)"}
    cmd = [binary, "bench-kernels", "--store", store, "--customers", str(customers), "--threads", "1"]
    env.log(f"kernels: {' '.join(['nextbest'] + cmd[1:])}")
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    res = {"available": True, "command": " ".join(["nextbest"] + cmd[1:]), "status": r.returncode}
    if r.returncode != 0:
        res["error"] = (r.stderr.strip().splitlines() or ["?"])[-1]
        env.log(f"  kernels failed: {res['error']}")
        return res
    obj = None
    for line in reversed(r.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                break
            except ValueError:
                pass
    if obj is None:
        res["error"] = "no JSON object in the output"
        return res
    res["result"] = obj
    for k in ("trees", "logistic"):
        if isinstance(obj.get(k), dict):
            env.log(f"  {k}: {obj[k].get('models')} models, {obj[k].get('seconds')} s, "
                    f"{obj[k].get('rows_models_per_s_per_core', 0):,.0f} rows x models / s / core")
    return res


# ------------------------------------------------------------------------------------------ baselines

BASELINE_KEYS = ["load", "score_logistic", "score_trees", "eligibility", "allocate", "total"]


def python_deps_importable():
    r = subprocess.run([sys.executable, "-c", "import numpy, xgboost, lmdb, yaml"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return r.returncode == 0


def choose_baselines(arg, wl):
    """(names to run, notes on the ones skipped). ARG: None (the workload's default), 'none', or a list."""
    skipped = {}
    if arg is None:
        names = list(wl.get("baselines", ["python"]))
        needs_deps = [n for n in names if n in ("python", "python_inmemory")]
        if needs_deps and not python_deps_importable():
            for n in needs_deps:
                names.remove(n)
                skipped[n] = "skipped by default: numpy, xgboost, lmdb or yaml not importable"
        return names, skipped
    if arg.strip().lower() in ("none", ""):
        return [], {}
    return [n.strip() for n in arg.split(",") if n.strip()], skipped


# Baseline name -> script in bench/baselines/ (a name not listed: <name>_baseline.py).
BASELINE_SCRIPTS = {"python": "python_baseline.py", "spark": "spark_baseline.py",
                    "python_inmemory": "python_inmemory.py"}
INMEMORY = "python_inmemory"


def baseline(name, store, files, base, threads, binary=None):
    script = os.path.join(env.BENCH, "baselines", BASELINE_SCRIPTS.get(name, f"{name}_baseline.py"))
    out_json = os.path.join(base, f"baseline-{name}.json")
    logp = os.path.join(base, f"baseline-{name}.log")
    errp = os.path.join(base, f"baseline-{name}.stderr")
    rec = {"name": name, "script": os.path.relpath(script, env.REPO)}
    if not os.path.exists(script):
        rec.update(ran=False, note=f"did not run: no {rec['script']}")
        env.log(f"baseline {name}: {rec['note']}")
        return rec
    try:
        os.remove(out_json)
    except FileNotFoundError:
        pass
    cmd = [sys.executable, script, "--store", store, "--files", files, "--out", out_json]
    if name in ("python", INMEMORY) and threads:
        cmd += ["--threads", str(threads)]
    if name == INMEMORY and binary:
        cmd += ["--nextbest", binary]  # its check: a sample of propensities against `nextbest score`
    rec["command"] = " ".join(["python3", rec["script"]] + cmd[2:])
    env.log(f"baseline {name}: {rec['command']}")
    r = procs.run_monitored(cmd, logp, stderr_path=errp)
    rec.update(status=r["status"], wall_seconds=r["wall_seconds"],
               peak_rss_kb=max((p["peak_rss_kb"] for p in r["processes"]), default=None),
               sum_peak_rss_kb=sum(p["peak_rss_kb"] for p in r["processes"]),
               processes=len(r["processes"]),
               # wait4 covers the script and the children it reaped; the samples also see the ones it did not
               # reap (Spark's JVM): the larger of the two.
               cpu_seconds=round(max(r.get("rusage_cpu_seconds") or 0.0, sum(p["cpu_seconds"] for p in r["processes"])), 3))
    last = failure_reason(procs.tail(errp, 400) or procs.tail(logp, 50))
    if name == INMEMORY and r["status"] == 1 and os.path.exists(out_json):
        # Scored, but its propensities differ from `nextbest score`: the figures are kept, marked.
        with open(out_json) as f:
            rec["result"] = json.load(f)
        rec.update(ran=True, check_failed=True)
    elif r["status"] == 3:
        rec.update(ran=False, note=f"did not run: {last}")
    elif r["status"] != 0:
        # What the baseline reported before failing ("spark: scored ... in 423.1 s") is kept with the reason.
        # The baselines print their progress on stdout (the .log), errors on stderr.
        progress = [l.strip() for l in procs.tail(logp, 400) + procs.tail(errp, 400) if l.startswith(f"{name}: ")]
        rec.update(ran=False, failed=True, progress=progress,
                   note=f"failed (exit status {r['status']}) after {r['wall_seconds']:.1f} s: {last}"
                        + (f"; before that: {'; '.join(progress)}" if progress else ""))
    else:
        try:
            with open(out_json) as f:
                rec["result"] = json.load(f)
            rec["ran"] = True
        except (OSError, ValueError) as e:
            rec.update(ran=False, failed=True, note=f"failed: exit 0 but no readable {out_json} ({e})")
    if rec.get("ran"):
        res = rec["result"]
        t = res.get("timings_seconds") or {}
        rec["scoring_seconds"] = _sum(t.get("score_logistic"), t.get("score_trees"), t.get("eligibility"))
        rec["scoring_from"] = "score_logistic + score_trees + eligibility"
        if rec["scoring_seconds"] is None and t.get("score") is not None:
            # A baseline that times scoring and the rules as one stage (the Spark tasks do both).
            rec["scoring_seconds"], rec["scoring_from"] = t["score"], "score (scoring and rules in one stage)"
        rec["total_seconds"] = t.get("total")
        rec["caps_broken"] = common.caps_broken(res.get("constraints"))
        if name == INMEMORY:
            chk = res.get("check") or {}
            env.log(f"  scoring alone {rec['scoring_seconds']} s ({res.get('rows_models_per_s') or 0:,.0f} rows x models / s); "
                    f"check against nextbest score: {_check_text(chk)}")
        else:
            env.log(f"  total {t.get('total')} s (scoring {rec['scoring_seconds']} s), objective {res.get('objective')}, "
                    f"caps broken {len(rec['caps_broken'])}")
    else:
        env.log(f"  {rec['note']}")
    return rec


def _sum(*vals):
    vals = [v for v in vals if v is not None]
    return round(sum(vals), 3) if vals else None


def _ratio(a, b, nd=3):
    if a is None or b is None or b == 0:
        return None
    return round(a / b, nd)


def compare(main, kern, bases):
    """Ratios of nextbest (the run with the requested worker count) to each baseline that ran."""
    out = {}
    if not main or not main.get("ok"):
        return out
    nb_wall = main["wall_seconds"]
    nb_obj = (main.get("optimization") or {}).get("objective")
    kres = (kern or {}).get("result") or {}
    nb_score = (main.get("stages") or {}).get("score")
    nb_total = (main.get("stages") or {}).get("total")
    for b in bases:
        if not b.get("ran"):
            continue
        res = b["result"]
        if b["name"] == INMEMORY:
            sc = b.get("scoring_seconds")
            out[b["name"]] = {
                "scoring_seconds": sc,
                "rows_models": res.get("rows_models"),
                "rows_models_per_s": res.get("rows_models_per_s"),
                "nextbest_end_to_end_over_inmemory": _ratio(nb_wall, sc),
                "nextbest_total_over_inmemory": _ratio(nb_total, sc),
                "nextbest_score_stage_over_inmemory": _ratio(nb_score, sc),
                "check_ok": (res.get("check") or {}).get("ok"),
            }
            continue
        bk = res.get("kernels") or {}
        out[b["name"]] = {
            "baseline_scoring_over_nextbest_end_to_end": _ratio(b.get("scoring_seconds"), nb_wall),
            "baseline_total_over_nextbest_end_to_end": _ratio(b.get("total_seconds"), nb_wall),
            "nextbest_objective_over_baseline": _ratio(nb_obj, res.get("objective"), 5),
            "nextbest_caps_broken": main.get("caps_broken"),
            "baseline_caps_broken": b.get("caps_broken"),
            "trees_kernel_nextbest_over_baseline_per_core":
                _ratio((kres.get("trees") or {}).get("rows_models_per_s_per_core"), bk.get("trees_rows_models_per_s_per_core")),
            "logistic_kernel_nextbest_over_baseline_per_core":
                _ratio((kres.get("logistic") or {}).get("rows_models_per_s_per_core"), bk.get("logistic_rows_models_per_s_per_core")),
        }
    return out


# ----------------------------------------------------------------------------------------------- plots

def plots(res, rdir):
    files = {}
    runs = [r for r in res["runs"] if r.get("ok")]
    if runs:
        pts = [(r["workers"], r.get("customers_per_s")) for r in runs]
        pts_wall = [(r["workers"], r.get("customers_per_s_wall")) for r in runs]
        path = os.path.join(rdir, "throughput.svg")
        with open(path, "w") as f:
            f.write(svg.line_chart(f"{res['workload']['name']}: throughput ({res['workload']['customers']:,} customers)",
                                   "worker processes (0 = one process)", "customers / s",
                                   [("by summary total", pts), ("by wall time", pts_wall)]))
        files["throughput"] = path
        stage_names = common.CHART_STAGES
        cats = [f"{r['workers']}" + (" (1 proc)" if r["workers"] == 0 else "") for r in runs]
        vals = [common.chart_row(r) for r in runs]
        path = os.path.join(rdir, "stages.svg")
        note = "one process: rounds = rounds + repair" if any(r["stages"]["rounds_and_repair_combined"] for r in runs) else None
        with open(path, "w") as f:
            f.write(svg.stacked_bars(f"{res['workload']['name']}: stage times per worker count (bar = wall time)", "worker processes",
                                     "seconds", cats, [common.STAGE_LABELS[s] for s in stage_names], vals, note=note))
        files["stages"] = path
    for r in runs:
        if r.get("shard_latency") and r["shard_latency"].get("histogram"):
            path = os.path.join(rdir, f"shard-latency-w{r['workers']}.svg")
            with open(path, "w") as f:
                f.write(latency.plot(r["shard_latency"], f"{res['workload']['name']}, {r['workers']} workers: "
                                     "shard assignment to scored reply"))
            files[f"shard_latency_w{r['workers']}"] = path
    return files


# -------------------------------------------------------------------------------------------- markdown

def _rss_cell(r):
    procs_ = r.get("processes") or []
    coord = [p for p in procs_ if p["role"] == "coordinator"]
    work = [p for p in procs_ if p["role"] == "worker"]
    parts = []
    if coord:
        parts.append("coordinator " + fmt_gib(max(p["peak_rss_kb"] for p in coord)))
    if work:
        parts.append("workers " + ", ".join(fmt_gib(p["peak_rss_kb"]) for p in work))
    return "; ".join(parts) or "–"


def markdown(res, results_file):
    wl = res["workload"]
    lines = [f"## bench/run {wl['name']} — {res['date']}", ""]
    lines.append(f"Machine: {env.machine_line(res['machine'])}.  ")
    lines.append(f"Command: `{res['command']}`  ")
    c = res["commit"]
    lines.append(f"Commit: {c['short']}" + (f" ({c['subject']})" if c.get("subject") else "")
                 + (" + uncommitted changes in Sources" if c.get("sources_uncommitted") else "") + "  ")
    b = res["binary"]
    lines.append(f"Binary: `{os.path.relpath(b['source'], env.REPO) if b['source'].startswith(env.REPO) else b['source']}`"
                 + (f", sha256 {b['sha256'][:12]}, built {b.get('mtime')}" if b.get("sha256") else "") + "  ")
    g = res["generate"]
    alias = f" (as `{res['invoked_as']}`)" if res.get("invoked_as") and res["invoked_as"] != wl["name"] else ""
    lines.append(f"Workload: `{wl['name']}`{alias}: {wl['customers']:,} customers, seed {wl.get('seed', 42)}, "
                 f"{wl.get('offers', 32)} offers, generator defaults otherwise; store "
                 + (f"reused (generated {g.get('date')})" if g.get("reused") else f"generated in {g.get('seconds')} s")
                 + f"; every run `--no-warm-start`; results: [{os.path.basename(res['results_dir'])}]"
                 f"({common.relpath_from(results_file, res['results_dir'])}/results.json)")
    lines.append("")
    lines.append("| workers | wall s | load | score | rounds | repair | merge | write | total | customers/s | rounds done | gap | "
                 "peak RSS per process | coordinator CPU share | wall vs 1 process | nba.csv sha256 |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in res["runs"]:
        if not r.get("ok") and not r.get("stages"):
            lines.append(f"| {r['workers']} | FAILED: {r.get('error', '?')} |" + " |" * 14)
            continue
        s = r["stages"]
        o = r.get("optimization") or {}
        rounds_cell = fmt_s(s.get("rounds")) + (" (with repair)" if s.get("rounds_and_repair_combined") else "")
        ov = r.get("wall_vs_one_process")
        lines.append("| " + " | ".join([
            f"{r['workers']}" + (" (one process)" if r["workers"] == 0 else ""),
            fmt_s(r["wall_seconds"]), fmt_s(s.get("load")), fmt_s(s.get("score")), rounds_cell,
            fmt_s(s.get("repair")), fmt_s(s.get("merge")), fmt_s(s.get("write"), 2), fmt_s(s.get("total")),
            f"{r['customers_per_s']:,.0f}" if r.get("customers_per_s") else "–",
            str(o.get("rounds")), f"{100 * o['gap']:.4f} %" if o.get("gap") is not None else "–",
            _rss_cell(r),
            f"{100 * r['coordinator_cpu_share']:.1f} %" if r.get("coordinator_cpu_share") is not None else "–",
            "–" if ov is None else f"{100 * ov:+.1f} %",
            ((r.get("nba") or {}).get("sha256") or "?")[:16] + ("" if (r.get("nba") or {}).get("valid") else " INVALID"),
        ]) + " |")
    lines.append("")
    ident = res["identical_outputs"]
    checked = (f"header, fields, ranks 1..k ≤ {wl.get('max_offers')}, ascending customer ids, rows = offers_made: "
               + ("valid" if all((r.get("nba") or {}).get("valid") for r in res["runs"]) else "**INVALID**"))
    if len(res["runs"]) > 1:
        lines.append(f"- nba.csv identical across worker counts: **{'yes' if ident else 'NO'}**; checked: {checked}.")
    else:
        lines.append(f"- nba.csv checked ({checked}); one worker count run, so no comparison (`--scaling` compares).")
    warms = [r.get("store_warm_seconds") for r in res["runs"]] + [b.get("store_warm_seconds") for b in res.get("baselines", [])]
    if any(w is not None for w in warms):
        lines.append("- Before each run and each baseline the store's data file was read once (page cache warm for every "
                     "contender): " + ", ".join("–" if w is None else f"{w:.1f} s" for w in warms) + ".")
    for r in res["runs"]:
        if not r.get("ok"):
            continue
        if r["workers"] == 0:
            lines.append(f"- one process: CPU {r['coordinator_cpu_seconds']:.1f} s; caps broken: "
                         f"{len(r.get('caps_broken') or [])}.")
        else:
            lines.append(f"- {r['workers']} worker{'s' if r['workers'] > 1 else ''}: CPU coordinator "
                         f"{r['coordinator_cpu_seconds']:.1f} s, workers {r['workers_cpu_seconds']:.1f} s "
                         f"({r.get('workers_cpu_source')}), coordinator share {100 * (r.get('coordinator_cpu_share') or 0):.1f} %; "
                         f"messages {_msgs(r.get('messages'))}; caps broken: {len(r.get('caps_broken') or [])}.")
    lines.append("")
    lines.append("Shard completion latency (assignment to scored reply, ms):")
    lines.append("")
    lat_runs = [r for r in res["runs"] if r.get("ok") and r.get("workers") != 0]
    if any(r.get("shard_latency") for r in lat_runs):
        lines.append("| workers | shards | mean | p50 | p90 | p99 | p99.9 | max |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in lat_runs:
            lt = r.get("shard_latency")
            if not lt:
                lines.append(f"| {r['workers']} | not reported |" + " |" * 6)
                continue
            lines.append("| " + " | ".join([str(r["workers"]), str(lt.get("count"))] +
                                          [("–" if lt.get(k) is None else f"{lt[k]:.1f}") for k in
                                           ("mean", "p50", "p90", "p99", "p999", "max")]) + " |")
    else:
        lines.append("shard latency: not reported by this build")
    lines.append("")
    k = res["kernels"]
    kres = k.get("result") or {}
    lines.append("Kernels (`nextbest bench-kernels`, one thread, customers held in memory): "
                 + (k.get("note") or k.get("error") or f"{kres.get('customers'):,} customers"))
    bases = res["baselines"]
    ran = [b for b in bases if b.get("ran") and b["name"] != INMEMORY]
    inmem = next((b for b in bases if b["name"] == INMEMORY), None)
    if kres:
        lines.append("")
        head = "| kernel | models | seconds | nextbest rows·models/s/core |" + "".join(f" {b['name']} rows·models/s/core | nextbest / {b['name']} |" for b in ran)
        lines.append(head)
        lines.append("|---" * (4 + 2 * len(ran)) + "|")
        for kind in ("trees", "logistic"):
            kk = kres.get(kind) or {}
            row = [kind, str(kk.get("models")), f"{kk.get('seconds')}", f"{kk.get('rows_models_per_s_per_core', 0):,.0f}"]
            for b in ran:
                bv = ((b["result"].get("kernels") or {}).get(f"{kind}_rows_models_per_s_per_core"))
                row.append("–" if bv is None else f"{bv:,.0f}")
                rv = (res["comparison"].get(b["name"]) or {}).get(f"{kind}_kernel_nextbest_over_baseline_per_core")
                row.append("–" if rv is None else f"{rv:.2f}×")
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    main = next((r for r in res["runs"] if r["workers"] == res["main_workers"]), None)
    lines.extend(scoring_table(res, main, inmem, next((b for b in bases if b["name"] == "python"), None)))
    lines.append("")
    lines.append(f"Baselines (same store, same invocation; nextbest = the {res['main_workers']}-worker run, wall time):")
    lines.append("")
    if not bases:
        lines.append("none run (`--baselines none`)" + (f"; {res['baselines_skipped']}" if res.get("baselines_skipped") else ""))
    for name, why in (res.get("baselines_skipped") or {}).items():
        lines.append(f"- {name}: {why}")
    for b in bases:
        if not b.get("ran"):
            lines.append(f"- {b['name']}: {b.get('note')}")
        elif b["name"] == INMEMORY:
            lines.append(f"- {b['name']}: scoring alone, in the table above.")
    if ran and main and main.get("ok"):
        lines.append("")
        lines.append("| | nextbest |" + "".join(f" {b['name']} |" for b in ran))
        lines.append("|---|---|" + "---|" * len(ran))
        o = main.get("optimization") or {}

        def row(label, nb, vals):
            lines.append(f"| {label} | {nb} |" + "".join(f" {v} |" for v in vals))
        bt = [b["result"].get("timings_seconds") or {} for b in ran]
        row("end to end / total, s", fmt_s(main["wall_seconds"]), [fmt_s(t.get("total")) for t in bt])
        row("load, s", fmt_s(main["stages"].get("load")), [fmt_s(t.get("load")) for t in bt])
        row("scoring (logistic + trees + eligibility), s", fmt_s(main["stages"].get("score")),
            [f"{fmt_s(b.get('scoring_seconds'))} ({fmt_s(t.get('score_logistic'))} + {fmt_s(t.get('score_trees'))} + {fmt_s(t.get('eligibility'))})"
             if b.get("scoring_from", "").startswith("score_logistic") else f"{fmt_s(b.get('scoring_seconds'))} (one `score` stage)"
             for b, t in zip(ran, bt)])
        row("allocation / optimization, s", fmt_s(_sum(main["stages"].get("rounds"), main["stages"].get("repair"))),
            [fmt_s(t.get("allocate")) for t in bt])
        row("objective", f"{o.get('objective'):,.0f}" if o.get("objective") is not None else "–",
            [f"{b['result'].get('objective'):,.0f}" if b["result"].get("objective") is not None else "–" for b in ran])
        row("offers made", f"{main.get('offers_made'):,}" if main.get("offers_made") is not None else "–",
            [f"{b['result'].get('offers_made'):,}" if b["result"].get("offers_made") is not None else "–" for b in ran])
        row("total cost", f"{main.get('total_cost'):,.2f}" if main.get("total_cost") is not None else "–",
            [f"{b['result'].get('total_cost'):,.2f}" if b["result"].get("total_cost") is not None else "–" for b in ran])
        row("caps broken", _caps(main.get("caps_broken")), [_caps(b.get("caps_broken")) for b in ran])
        row("peak RSS (largest process; processes)", f"{fmt_gib(main.get('largest_peak_rss_kb'))}; {main.get('processes_seen')}",
            [f"{fmt_gib(b.get('peak_rss_kb'))}; {b.get('processes')}" for b in ran])
        row("CPU seconds (all processes)", fmt_s(main.get("total_cpu_seconds")), [fmt_s(b.get("cpu_seconds")) for b in ran])
        lines.append("")
        for b in ran:
            c = res["comparison"].get(b["name"]) or {}
            lines.append(f"- vs {b['name']}: baseline scoring alone / nextbest end to end = "
                         f"{_x(c.get('baseline_scoring_over_nextbest_end_to_end'))}; baseline total / nextbest end to end = "
                         f"{_x(c.get('baseline_total_over_nextbest_end_to_end'))}; nextbest objective / baseline objective = "
                         f"{c.get('nextbest_objective_over_baseline')}; per-core kernels nextbest / baseline: trees "
                         f"{_x(c.get('trees_kernel_nextbest_over_baseline_per_core'))}, logistic "
                         f"{_x(c.get('logistic_kernel_nextbest_over_baseline_per_core'))}.")
    lines.append("")
    return common.end_section(lines, res, results_file, label=lambda name: name.replace("_", " "))


def _x(v):
    return "–" if v is None else f"{v:.2f}×"


def _check_text(chk):
    if not chk:
        return "not run"
    ms = chk.get("models") or []
    parts = []
    for m in ms:
        if "max_abs_diff" in m:
            parts.append(f"{m['model']} ({m['kind']}) {m['max_abs_diff']:.1e}")
        else:
            parts.append(f"{m['model']} ({m.get('kind')}) {m.get('error', '?')}")
    return (("ok" if chk.get("ok") else "FAILED") + f" (max |python − nextbest| < {chk.get('tolerance')}, "
            f"{chk.get('rows_per_model')} customers per model: " + ", ".join(parts) + ")")


def _rate(rows_models, seconds):
    if not rows_models or not seconds:
        return "–"
    return f"{rows_models / seconds:,.0f}"


def scoring_table(res, main, inmem, store_py):
    """Scoring side by side: nextbest end to end and its score stage against the in-memory Python scoring
    alone (numpy + XGBoost inplace_predict, loading not timed) and the store-reading Python baseline."""
    lines = ["Scoring side by side (same store, same invocation; rows·models = customers × models):", ""]
    if inmem is None:
        lines.append(f"- {INMEMORY}: not run (`--baselines` without it)")
        return lines
    if not inmem.get("ran"):
        lines.append(f"- {INMEMORY}: {inmem.get('note')}")
        return lines
    if not main or not main.get("ok"):
        lines.append(f"- the {res['main_workers']}-worker nextbest run failed: no comparison")
        return lines
    r = inmem["result"]
    t = r.get("timings_seconds") or {}
    rm = r.get("rows_models")
    sc = inmem.get("scoring_seconds")
    st = main.get("stages") or {}
    cols = [(f"nextbest end to end ({res['main_workers']} workers, wall)", main["wall_seconds"]),
            ("nextbest total (summary.json)", st.get("total")),
            ("nextbest score stage", st.get("score")),
            ("python in memory: scoring alone", sc)]
    py_ok = store_py is not None and store_py.get("ran")
    if py_ok:
        cols.append(("python store-reading: scoring stages", store_py.get("scoring_seconds")))
        cols.append(("python store-reading: total", store_py.get("total_seconds")))
    lines.append("| | " + " | ".join(c for c, _ in cols) + " |")
    lines.append("|---" * (len(cols) + 1) + "|")
    cells = [fmt_s(v, 2) if v is not None else "–" for _, v in cols]
    cells[3] = f"**{fmt_s(sc, 2)}** (logistic {fmt_s(t.get('score_logistic'), 2)} + trees {fmt_s(t.get('score_trees'), 2)})"
    if py_ok:
        pt = store_py["result"].get("timings_seconds") or {}
        cells[4] = (f"{fmt_s(store_py.get('scoring_seconds'), 2)} (logistic {fmt_s(pt.get('score_logistic'), 2)} + trees "
                    f"{fmt_s(pt.get('score_trees'), 2)} + eligibility {fmt_s(pt.get('eligibility'), 2)})")
    lines.append("| seconds | " + " | ".join(cells) + " |")
    lines.append("| rows·models/s | " + " | ".join(_rate(rm, v) for _, v in cols) + " |")
    nb_cols = (main["wall_seconds"], st.get("total"), st.get("score"))
    for label, nb in zip(("nextbest end to end / this", "nextbest total / this", "nextbest score stage / this"), nb_cols):
        lines.append(f"| {label} | " + " | ".join("–" if i < 3 else _x(_ratio(nb, v)) for i, (_, v) in enumerate(cols)) + " |")
    lines.append("")
    tr = r.get("trees") or {}
    lines.append(f"- python in memory (`bench/baselines/python_inmemory.py`): {r.get('customers'):,} customers × "
                 f"{(r.get('models') or {}).get('logistic')} logistic + {(r.get('models') or {}).get('trees')} tree models "
                 f"({tr.get('trees_per_model')} trees each) = {rm:,} rows·models; profiles held in a float32 matrix and models "
                 f"loaded before timing (not timed: profiles {fmt_s(t.get('not_timed_load_profiles'), 2)} s, models "
                 f"{fmt_s(t.get('not_timed_load_models'), 2)} s, warm-up {fmt_s(t.get('not_timed_prepare_and_warm_up'), 2)} s); "
                 f"logistic: {(r.get('method') or {}).get('logistic')}; trees: {(r.get('method') or {}).get('trees')}; "
                 f"best of {r.get('repeats')}; peak RSS {fmt_gib((r.get('peak_rss_mb') or 0) * 1024)}.")
    lines.append(f"- its check against `nextbest score`: {'**' if inmem.get('check_failed') else ''}{_check_text(r.get('check'))}"
                 f"{'**' if inmem.get('check_failed') else ''}.")
    lines.append(f"- the score stage is summary.json's `score` (in a cluster run: from the plan to the last shard's scores, "
                 f"all workers); end to end is the wall time of `nextbest run` (load, score, optimize, write).")
    return lines


def _caps(keys):
    if keys is None:
        return "–"
    if not keys:
        return "none"
    return f"{len(keys)}: " + ", ".join(str(k) for k in keys[:6]) + (" …" if len(keys) > 6 else "")


def _msgs(m):
    if not m:
        return "–"
    return f"{m.get('received')} received, {m.get('sent')} sent, {m.get('dropped')} dropped"


# ------------------------------------------------------------------------------------------------ main

def main(args, wl_name, wl, binary, bin_info):
    work = args.work
    base = os.path.join(work, wl_name)
    os.makedirs(base, exist_ok=True)
    res = {"harness": "bench/run", "kind": "workload", "date": time.strftime("%Y-%m-%d"),
           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": args.command_line,
           "invoked_as": args.workload,
           "workload": {"name": wl_name, **wl}, "machine": env.machine(), "commit": env.git_commit(),
           "binary": bin_info, "failures": []}
    store, files, gen = common.ensure_store(binary, wl_name, wl, work)
    res["generate"] = gen
    res["store"] = store
    res["pruned_runs"] = common.prune_runs(binary, store)
    n = args.workers
    counts = list(range(0, n + 1)) if args.scaling else [n]
    res["main_workers"] = n
    cache = {}
    runs = []
    for w in counts:
        warm = common.warm_store(store)
        rec = one_run(binary, store, base, w, wl.get("max_offers"), cache)
        rec["store_warm_seconds"] = warm
        runs.append(rec)
        common.prune_runs(binary, store)  # a cluster run keeps its lists in the store (~260 bytes per customer)
        if not rec["ok"]:
            res["failures"].append(f"workers {w}: {rec.get('error')}")
    one = next((r for r in runs if r["workers"] == 0 and r.get("ok")), None)
    for r in runs:
        r["wall_vs_one_process"] = (round(r["wall_seconds"] / one["wall_seconds"] - 1, 4)
                                    if one and r.get("ok") and r is not one else None)
    res["runs"] = runs
    shas = {(r.get("nba") or {}).get("sha256") for r in runs if r.get("ok")}
    res["identical_outputs"] = len(shas) == 1 and all(r.get("ok") for r in runs)
    if len(shas) > 1:
        res["failures"].append("nba.csv differs across worker counts: " +
                               ", ".join(f"{r['workers']}: {(r.get('nba') or {}).get('sha256', '?')[:16]}" for r in runs if r.get("ok")))
    res["kernels"] = kernels(binary, store, min(wl.get("kernel_customers", 200000), wl["customers"]))
    names, skipped = choose_baselines(args.baselines, wl)
    res["baselines_skipped"] = skipped
    for name, why in skipped.items():
        env.log(f"baseline {name}: {why}")
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    res["baselines"] = []
    for nm in names:
        warm = common.warm_store(store)
        res["baselines"].append(baseline(nm, store, files, base, threads, binary))
        res["baselines"][-1]["store_warm_seconds"] = warm
    main_run = next((r for r in runs if r["workers"] == n), None)
    res["comparison"] = compare(main_run, res["kernels"], res["baselines"])

    rdir = args.out or common.results_dir(args.results_base, res["date"], wl_name, res["commit"]["short"])
    os.makedirs(rdir, exist_ok=True)
    res["results_dir"] = rdir
    res["plots"] = plots(res, rdir)
    for b in res["baselines"]:
        if b.get("ran"):
            shutil.copy(os.path.join(base, f"baseline-{b['name']}.json"), os.path.join(rdir, f"baseline-{b['name']}.json"))
    return common.finish(res, runs, rdir, args, markdown, prefix="w")
