"""Command line of bench/run."""

import argparse
import os
import shlex
import sys

from . import common, env, procs

USAGE = """bench/run WORKLOAD [--workers N] [--scaling] [--baselines python_inmemory,python,spark|none] [--work DIR]
                 [--results FILE] [--no-append] [--out DIR] [--nextbest BIN]
bench/run loadtest [--workers 8,16,32,48] [--shard-size 500] [--work DIR] [--results FILE] [--no-append] [--out DIR]
                   [--nextbest BIN]
bench/run serve [--customers 10000000] [--store DIR] [--seconds 15] [--rate 2000] [--work DIR]"""


def parse(argv):
    wls = common.load_workloads()
    names = sorted(wls["workloads"], key=lambda n: (wls["workloads"][n]["customers"], wls["workloads"][n].get("offers", 32),
                                                    wls["workloads"][n].get("seed", 42)))
    aliases = {a: n for n in names for a in wls["workloads"][n].get("aliases", [])}
    p = argparse.ArgumentParser(
        prog="bench/run", usage=USAGE,
        description="Benchmarks nextbest on a generated bank: end-to-end runs with N local worker processes "
                    "(and, with --scaling, 0..N), per-process peak RSS and CPU, stage timings, shard latency, "
                    "kernels and baselines; or a load test of one coordinator with many 1-thread workers. "
                    "Writes bench/results/<date>-<workload>-<commit>/ (results.json, SVG plots) and appends a "
                    "section to bench/RESULTS.md.",
        epilog="workloads (bench/workloads.json, <customers>-s<seed>-o<offers>): "
               + ", ".join(f"{n} = {wls['workloads'][n]['customers']:,} customers, seed {wls['workloads'][n].get('seed', 42)}, "
                           f"{wls['workloads'][n].get('offers', 32)} offers" for n in names)
               + "; aliases: " + ", ".join(f"{a} = {n}" for a, n in aliases.items()) + "; loadtest")
    p.add_argument("workload", choices=names + list(aliases) + ["loadtest"], metavar="WORKLOAD",
                   help="what to run: a workload of bench/workloads.json, an alias, or loadtest")
    p.add_argument("--workers", default=None,
                   help="worker processes of the runs (default 2); for loadtest a list, default "
                        + ",".join(str(k) for k in wls["loadtest"]["workers"]))
    p.add_argument("--scaling", action="store_true", help="also run with 0 (one process), 1, ..., N-1 workers")
    p.add_argument("--baselines", default=None,
                   help="a comma-separated list of python_inmemory, python, spark; or none (default: the "
                        "workload's list in workloads.json; python and python_inmemory only if numpy, xgboost, "
                        "lmdb and yaml import)")
    p.add_argument("--shard-size", type=int, default=None,
                   help=f"loadtest: customers per shard (default {wls['loadtest']['shard_size']})")
    p.add_argument("--work", default=os.path.join(env.BENCH, "work"),
                   help="where stores and run outputs go (default bench/work; reused between invocations)")
    p.add_argument("--results", default=None, help="the markdown file to append to (default bench/RESULTS.md)")
    p.add_argument("--no-append", action="store_true", help="do not append to the results file")
    p.add_argument("--nextbest", default=None, metavar="BIN",
                   help="the nextbest executable to benchmark (default: $NEXTBEST, else nextbest on PATH, else the "
                        "release build; see cluster/nextbest-bin)")
    p.add_argument("--out", default=None,
                   help="results directory (default bench/results/<YYYY-MM-DD>-<workload>-<shortcommit>[-n])")
    a = p.parse_args(argv)
    a.work = os.path.abspath(a.work)
    if a.nextbest is not None:
        a.nextbest = os.path.abspath(a.nextbest)
        if not (os.path.isfile(a.nextbest) and os.access(a.nextbest, os.X_OK)):
            p.error(f"--nextbest {a.nextbest}: not an executable file")
    if a.results:
        a.results = os.path.abspath(a.results)
    if a.out:
        a.out = os.path.abspath(a.out)
    if a.workload == "loadtest":
        raw = a.workers or ",".join(str(k) for k in wls["loadtest"]["workers"])
        try:
            a.workers = [int(x) for x in raw.split(",") if x.strip()]
        except ValueError:
            p.error(f"--workers for loadtest is a comma-separated list of counts, not {raw!r}")
        if not a.workers or any(k < 1 for k in a.workers):
            p.error("--workers for loadtest: counts of at least 1")
        a.shard_size = a.shard_size or wls["loadtest"]["shard_size"]
        if a.scaling:
            p.error("--scaling is for workloads, not loadtest")
    else:
        try:
            a.workers = int(a.workers) if a.workers is not None else 2
        except ValueError:
            p.error(f"--workers N takes one count for a workload, not {a.workers!r}")
        if a.workers < 0:
            p.error("--workers must be at least 0")
        if a.shard_size is not None:
            p.error("--shard-size is for loadtest (runs use nextbest's default)")
    a.config = wls
    # Under CI (CI=true) nothing is written into the tree unless asked: no RESULTS.md section, and the
    # results directory goes under WORK (git-ignored).
    a.results_base = os.path.join(env.BENCH, "results")
    if os.environ.get("CI", "").lower() == "true":
        if a.results is None:
            a.no_append = True
        a.results_base = os.path.join(a.work, "results")
    return a


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        # `nextbest serve` under wrk: its own script, options passed on (bench/serve.sh --help).
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serve.sh")
        os.execv("/bin/bash", ["bash", script] + argv[1:])
    args = parse(argv)
    args.command_line = " ".join(["bench/run"] + [shlex.quote(x) for x in argv])
    procs.install_handlers()
    os.makedirs(args.work, exist_ok=True)
    binary, info = env.snapshot_binary(args.nextbest or env.locate_binary(), args.work)
    env.log(f"nextbest: {info.get('source')}" + (f" (snapshot {binary})" if info.get("snapshot") else ""))
    if args.workload == "loadtest":
        from . import loadtest
        return loadtest.main(args, binary, info)
    from . import workload
    name, wl = common.resolve_workload(args.config, args.workload)
    if name != args.workload:
        env.log(f"workload {args.workload} = {name}")
    return workload.main(args, name, wl, binary, info)
