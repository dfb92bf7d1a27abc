"""bench/run loadtest: one `nextbest coordinator` and K `nextbest worker --threads 1 --once` processes on
the small store with small shards, for each K: wall time, messages/s, coordinator CPU, output identical
to the one-process run."""

import os
import shutil
import time

from . import common, env, latency, procmon, procs, svg, workload
from .common import fmt_gib, fmt_s

RUN_TIMEOUT = 1800  # seconds for one K, after which its processes are stopped and the K counts as failed


def _wait_watching_joins(coord, clog, k, t0, deadline):
    """Waits for the coordinator to exit (not reaping it) while reading its log for the line that says K
    workers are connected ("... joined ...; K connected"): returns (finished, seconds from start until
    all K had joined, or None)."""
    joined_at = None
    pos, buf = 0, b""
    while True:
        if joined_at is None:
            try:
                with open(clog, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                pos += len(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for ln in lines:
                    if ln.rstrip().endswith(f" {k} connected".encode()):
                        joined_at = round(time.monotonic() - t0, 3)
            except OSError:
                pass
        if procs.wait_zombie(coord, deadline=time.monotonic()):
            return True, joined_at
        if time.monotonic() > deadline:
            return False, joined_at
        time.sleep(0.05)


def run_k(binary, store, base, k, shard_size, wait_timeout, max_offers, cache):
    out = os.path.join(base, f"k{k}")
    logs = os.path.join(base, f"k{k}-logs")
    for d in (out, logs):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(logs)
    for attempt in range(2):
        port = common.free_port()
        endpoint = f"tcp://127.0.0.1:{port}"
        coord_cmd = [binary, "coordinator", "--bind", endpoint, "--store", store, "--out", out,
                     "--min-workers", str(k), "--shard-size", str(shard_size), "--no-warm-start",
                     "--wait-timeout", str(wait_timeout)]
        worker_cmd = [binary, "worker", "--connect", endpoint, "--store", store, "--threads", "1", "--once", "--quiet"]
        env.log(f"loadtest K={k}: coordinator on {endpoint}, {k} workers, shard size {shard_size}")
        mon = procmon.TreeMonitor(interval=0.1)
        clog = os.path.join(logs, "coordinator.log")
        t0 = time.monotonic()
        with open(clog, "wb") as f:
            coord = procs.spawn(coord_cmd, stdout=f, stderr=procs.subprocess.STDOUT)
        mon.add_root(coord.pid)
        workers = []
        for i in range(k):
            with open(os.path.join(logs, f"worker-{i + 1:02d}.log"), "wb") as f:
                w = procs.spawn(worker_cmd + ["--id", f"lt{k}-w{i + 1:02d}"], stdout=f, stderr=procs.subprocess.STDOUT)
            workers.append(w)
        mon.add_roots(w.pid for w in workers)
        mon.start()
        finished, joined_at = _wait_watching_joins(coord, clog, k, t0, t0 + RUN_TIMEOUT)
        wall = time.monotonic() - t0
        mon.sample()
        if finished:
            c_status, c_cpu, c_rss = procs.reap_rusage(coord)
        else:
            procs.stop(coord)
            c_status, c_cpu, c_rss = None, None, None
        # The workers (--once) leave after the job; give them a little while, then stop them.
        w_exact = {}
        deadline = time.monotonic() + 30
        for w in workers:
            if procs.wait_zombie(w, deadline=deadline):
                st, cpu, rss = procs.reap_rusage(w)
                w_exact[w.pid] = (st, cpu, rss)
            else:
                procs.stop(w)
                w_exact[w.pid] = (w.returncode, None, None)
        mon.stop()
        log_tail = procs.tail(clog, 5)
        if c_status not in (0, None) and wall < 10 and any("in use" in ln.lower() for ln in log_tail) and attempt == 0:
            env.log(f"  port {port} was taken: again with another port")
            continue
        break
    processes = mon.result()
    for p in processes:
        if p["pid"] == coord.pid and c_cpu is not None:
            p.update(cpu_seconds=round(c_cpu, 3), cpu_exact=True, peak_rss_kb=max(p["peak_rss_kb"], c_rss or 0))
        elif p["pid"] in w_exact and w_exact[p["pid"]][1] is not None:
            st, cpu, rss = w_exact[p["pid"]]
            p.update(cpu_seconds=round(cpu, 3), cpu_exact=True, peak_rss_kb=max(p["peak_rss_kb"], rss or 0), status=st)
    rec = {"workers": k, "endpoint": endpoint, "shard_size": shard_size, "status": c_status,
           "timed_out": not finished, "wall_seconds": round(wall, 3), "all_joined_after_seconds": joined_at, "out": out, "logs": logs,
           "coordinator_command": " ".join(["nextbest"] + coord_cmd[1:]),
           "worker_command": " ".join(["nextbest"] + worker_cmd[1:]) + " --id NAME",
           "worker_exit_statuses": sorted({str(v[0]) for v in w_exact.values()}),
           "processes": processes}
    rec.update(procmon.summarize(processes))
    rec["ok"] = c_status == 0
    if not rec["ok"]:
        rec["error"] = ("timed out" if not finished else f"coordinator exit status {c_status}") + ": " + " | ".join(log_tail)
        env.log(f"  FAILED: {rec['error']}")
        return rec
    s = common.read_summary(out)
    if s is None:
        rec.update(ok=False, error="no readable summary.json")
        return rec
    t = s.get("timings_seconds") or {}
    rec["timings_seconds"] = t
    rec["stages"] = common.stages(t)
    rec["optimization"] = {kk: (s.get("optimization") or {}).get(kk) for kk in ("rounds", "gap", "objective", "dual_bound")}
    rec["messages"] = m = s.get("messages") or {}
    rec["shards"] = s.get("shards")
    rec["customers"] = s.get("customers")
    rec["summary_workers"] = s.get("workers")
    rec["recovery"] = s.get("recovery")
    rec["shard_latency"] = latency.normalize(s.get("shard_latency"))
    msgs = (m.get("received") or 0) + (m.get("sent") or 0)
    active = (t.get("total") or 0) - (t.get("wait_for_workers") or 0)
    rec["messages_total"] = msgs
    rec["active_seconds"] = round(active, 3)
    rec["messages_per_s"] = round(msgs / active, 1) if active > 0 else None
    rec["messages_per_s_wall"] = round(msgs / wall, 1) if wall > 0 else None
    cc = rec["coordinator_cpu_seconds"]
    rec["coordinator_cpu_of_wall"] = round(cc / wall, 4) if wall > 0 else None
    rec["coordinator_cpu_of_active"] = round(cc / active, 4) if active > 0 else None
    rec["nba"] = common.check_output(out, s, max_offers, cache)
    if not rec["nba"]["valid"]:
        rec.update(ok=False, error="invalid nba.csv: " + "; ".join(rec["nba"]["errors"][:3]))
    env.log(f"  wall {wall:.1f} s (waiting for workers {t.get('wait_for_workers')} s), {msgs} messages, "
            f"{rec['messages_per_s'] or 0:,.0f} messages/s, coordinator CPU {cc:.1f} s = "
            f"{100 * (rec['coordinator_cpu_of_active'] or 0):.0f} % of a core while active, "
            f"nba.csv {(rec['nba'].get('sha256') or '?')[:16]}")
    return rec


def analyse(runs, ref_sha):
    done = [r for r in runs if r.get("ok")]
    a = {"largest_completed": max((r["workers"] for r in done), default=None),
         "failed": [r["workers"] for r in runs if not r.get("ok")]}
    if not done:
        return a
    peak = max(done, key=lambda r: r.get("messages_per_s") or 0)
    a["peak_messages_per_s"] = {"workers": peak["workers"], "messages_per_s": peak.get("messages_per_s")}
    sat = None
    for prev, cur in zip(done, done[1:]):
        if (cur.get("messages_per_s") or 0) < 1.1 * (prev.get("messages_per_s") or 0):
            sat = {"workers": cur["workers"], "from": prev.get("messages_per_s"), "to": cur.get("messages_per_s")}
            break
    a["messages_per_s_stops_rising_at"] = sat
    hot = next((r for r in done if (r.get("coordinator_cpu_of_active") or 0) >= 0.9), None)
    a["coordinator_cpu_saturated_at"] = hot["workers"] if hot else None
    a["coordinator_cpu_max_of_active"] = max((r.get("coordinator_cpu_of_active") or 0) for r in done)
    a["identical_to_one_process"] = all((r.get("nba") or {}).get("sha256") == ref_sha for r in done) and ref_sha is not None
    return a


def plots(res, rdir):
    files = {}
    done = [r for r in res["runs"] if r.get("ok")]
    if not done:
        return files
    path = os.path.join(rdir, "loadtest-messages.svg")
    with open(path, "w") as f:
        f.write(svg.line_chart("loadtest: coordinator messages / s against workers", "worker processes (1 thread each)",
                               "messages / s (received + sent)",
                               [("per active second", [(r["workers"], r.get("messages_per_s")) for r in done]),
                                ("per wall second", [(r["workers"], r.get("messages_per_s_wall")) for r in done])],
                               note=f"shard size {res['shard_size']}, {done[0].get('shards')} shards; active = "
                                    "summary total less the wait for workers"))
    files["messages per s"] = path
    path = os.path.join(rdir, "loadtest-coordinator-cpu.svg")
    with open(path, "w") as f:
        f.write(svg.line_chart("loadtest: coordinator CPU against workers", "worker processes (1 thread each)",
                               "% of one core",
                               [("while active", [(r["workers"], 100 * (r.get("coordinator_cpu_of_active") or 0)) for r in done]),
                                ("over wall time", [(r["workers"], 100 * (r.get("coordinator_cpu_of_wall") or 0)) for r in done])],
                               note=f"{res['machine']['cores']} cores shared by the coordinator and every worker"))
    files["coordinator CPU"] = path
    stage_names = common.CHART_STAGES
    path = os.path.join(rdir, "loadtest-stages.svg")
    with open(path, "w") as f:
        f.write(svg.stacked_bars("loadtest: stage times per worker count (bar = wall time)", "worker processes", "seconds",
                                 [str(r["workers"]) for r in done], [common.STAGE_LABELS[s] for s in stage_names],
                                 [common.chart_row(r) for r in done]))
    files["stages"] = path
    for r in done:
        if r.get("shard_latency") and r["shard_latency"].get("histogram"):
            path = os.path.join(rdir, f"shard-latency-k{r['workers']}.svg")
            with open(path, "w") as f:
                f.write(latency.plot(r["shard_latency"], f"loadtest, {r['workers']} workers: shard assignment to scored reply"))
            files[f"shard latency K={r['workers']}"] = path
    return files


def markdown(res, results_file):
    lines = [f"## bench/run loadtest — {res['date']}", ""]
    lines.append(f"Machine: {env.machine_line(res['machine'])}.  ")
    lines.append(f"Command: `{res['command']}`  ")
    c = res["commit"]
    lines.append(f"Commit: {c['short']}" + (f" ({c['subject']})" if c.get("subject") else "")
                 + (" + uncommitted changes in Sources" if c.get("sources_uncommitted") else "") + "  ")
    b = res["binary"]
    if b.get("sha256"):
        lines.append(f"Binary: sha256 {b['sha256'][:12]}, built {b.get('mtime')}  ")
    ref = res["reference"]
    lines.append(f"Store: `{res['store_workload']}` ({res['customers']:,} customers), shard size {res['shard_size']}; one "
                 f"`nextbest coordinator --min-workers K --shard-size {res['shard_size']} --no-warm-start` and K × "
                 "`nextbest worker --threads 1 --once` on 127.0.0.1; reference: `nextbest run --workers 0` "
                 f"({fmt_s(ref.get('wall_seconds'))} s, nba.csv {((ref.get('nba') or {}).get('sha256') or '?')[:16]}); "
                 f"results: [{os.path.basename(res['results_dir'])}]({common.relpath_from(results_file, res['results_dir'])}/results.json)")
    lines.append("")
    lines.append("| workers | wall s | all joined after s | score | rounds | repair | merge+write | total (summary) | "
                 "messages (recv + sent) | messages/s | coordinator CPU s | coordinator % of a core (active / wall) | "
                 "workers CPU s | coordinator peak RSS | largest worker RSS | rounds, gap | nba.csv = one process |")
    lines.append("|---" * 17 + "|")
    ref_sha = (ref.get("nba") or {}).get("sha256")
    for r in res["runs"]:
        if not r.get("stages"):
            lines.append(f"| {r['workers']} | FAILED: {r.get('error', '?')} |" + " |" * 15)
            continue
        s, m, o = r["stages"], r.get("messages") or {}, r.get("optimization") or {}
        mw = s.get("merge"), s.get("write")
        lines.append("| " + " | ".join([
            str(r["workers"]), fmt_s(r["wall_seconds"]), fmt_s(r.get("all_joined_after_seconds")), fmt_s(s.get("score")),
            fmt_s(s.get("rounds")),
            fmt_s(s.get("repair")), fmt_s(workload._sum(*mw)), fmt_s(s.get("total")),
            f"{r.get('messages_total'):,} ({m.get('received')} + {m.get('sent')})",
            f"{r.get('messages_per_s') or 0:,.0f}",
            fmt_s(r.get("coordinator_cpu_seconds")),
            f"{100 * (r.get('coordinator_cpu_of_active') or 0):.0f} % / {100 * (r.get('coordinator_cpu_of_wall') or 0):.0f} %",
            fmt_s(r.get("workers_cpu_seconds")),
            fmt_gib(r.get("coordinator_peak_rss_kb")), fmt_gib(max(r.get("worker_peak_rss_kb") or [0]) or None),
            f"{o.get('rounds')}, {100 * (o.get('gap') or 0):.4f} %",
            ("yes" if (r.get("nba") or {}).get("sha256") == ref_sha else "**NO**")
            + ("" if (r.get("nba") or {}).get("valid") else " (INVALID)"),
        ]) + " |")
    lines.append("")
    lines.append("wall = coordinator start to exit; all joined after = when the coordinator logged K connected (the start-up "
                 "of K worker processes on the shared cores); messages/s = "
                 "(received + sent) / (summary total − wait_for_workers); coordinator CPU exact (wait4).")
    lines.append("")
    a = res["analysis"]
    lines.append(f"- Largest K completed: {a.get('largest_completed')}"
                 + (f"; failed: {', '.join(map(str, a['failed']))}" if a.get("failed") else "; none failed") + ".")
    if a.get("peak_messages_per_s"):
        p = a["peak_messages_per_s"]
        sat = a.get("messages_per_s_stops_rising_at")
        lines.append(f"- Messages/s peak at K={p['workers']} ({p['messages_per_s']:,.0f}/s); "
                     + (f"it stops rising (< +10 %) at K={sat['workers']} ({sat['from']:,.0f} → {sat['to']:,.0f})."
                        if sat else "it rises (≥ +10 %) at every step measured."))
        hot = a.get("coordinator_cpu_saturated_at")
        lines.append("- Coordinator CPU: " + (f"≥ 90 % of one core while active from K={hot} (the coordinator is the bottleneck)."
                                              if hot else f"below 90 % of one core at every K (at most "
                                              f"{100 * a['coordinator_cpu_max_of_active']:.0f} % while active), so it is "
                                              "not the bottleneck here; on this machine the workers share "
                                              f"{res['machine']['cores']} cores with it."))
        lines.append(f"- nba.csv identical to the one-process run for every K that completed: "
                     f"**{'yes' if a.get('identical_to_one_process') else 'NO'}**.")
    lat = [r for r in res["runs"] if r.get("ok")]
    if any(r.get("shard_latency") for r in lat):
        lines.append("")
        lines.append("| workers | shards | mean ms | p50 | p90 | p99 | p99.9 | max |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in lat:
            lt = r.get("shard_latency") or {}
            lines.append("| " + " | ".join([str(r["workers"]), str(lt.get("count", "–"))] +
                                          [("–" if lt.get(k) is None else f"{lt[k]:.1f}") for k in
                                           ("mean", "p50", "p90", "p99", "p999", "max")]) + " |")
    else:
        lines.append("- shard latency: not reported by this build")
    lines.append("")
    return common.end_section(lines, res, results_file)


def main(args, binary, bin_info):
    lt = args.config["loadtest"]
    wl_name, wl = common.resolve_workload(args.config, lt["store_workload"])
    base = os.path.join(args.work, "loadtest")
    os.makedirs(base, exist_ok=True)
    res = {"harness": "bench/run", "kind": "loadtest", "date": time.strftime("%Y-%m-%d"),
           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": args.command_line,
           "machine": env.machine(), "commit": env.git_commit(), "binary": bin_info, "failures": [],
           "store_workload": wl_name, "customers": wl["customers"], "shard_size": args.shard_size,
           "worker_counts": args.workers}
    store, files, gen = common.ensure_store(binary, wl_name, wl, args.work)
    res["generate"], res["store"] = gen, store
    res["pruned_runs"] = common.prune_runs(binary, store)
    cache = {}
    env.log("reference: the one-process run")
    ref = workload.one_run(binary, store, base, 0, wl.get("max_offers"), cache)
    res["reference"] = ref
    if not ref.get("ok"):
        res["failures"].append(f"one-process reference run: {ref.get('error')}")
    ref_sha = (ref.get("nba") or {}).get("sha256") if ref.get("ok") else None
    runs = []
    for k in args.workers:
        rec = run_k(binary, store, base, k, args.shard_size, lt.get("wait_timeout_seconds", 180), wl.get("max_offers"), cache)
        runs.append(rec)
        if not rec.get("ok"):
            res["failures"].append(f"K={k}: {rec.get('error')}")
        elif ref_sha and rec["nba"].get("sha256") != ref_sha:
            res["failures"].append(f"K={k}: nba.csv {rec['nba'].get('sha256', '?')[:16]} differs from the one-process "
                                   f"run's {ref_sha[:16]}")
        common.prune_runs(binary, store)  # every cluster run keeps its lists in the store
    res["runs"] = runs
    res["analysis"] = analyse(runs, ref_sha)
    rdir = args.out or common.results_dir(args.results_base, res["date"], "loadtest", res["commit"]["short"])
    os.makedirs(rdir, exist_ok=True)
    res["results_dir"] = rdir
    res["plots"] = plots(res, rdir)
    return common.finish(res, runs, rdir, args, markdown, prefix="k")
