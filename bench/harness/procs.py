"""Child processes of the harness: each started in its own process group (session), remembered, and
stopped by its group id on exit, Ctrl-C or SIGTERM (SIGTERM first, SIGKILL 3 s later). Nothing else is
ever signalled."""

import atexit
import os
import signal
import subprocess
import sys
import time

from . import procmon

_live = []  # Popen objects started here and not yet reaped
_in_spawn = False  # a child is being created: a signal now is handled once it is registered
_pending_signal = None


def spawn(args, stdout=None, stderr=None, cwd=None, env=None):
    global _in_spawn
    _in_spawn = True
    try:
        p = subprocess.Popen(args, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=cwd, env=env,
                             start_new_session=True)
        _live.append(p)
    finally:
        _in_spawn = False
    if _pending_signal is not None:
        _terminate(_pending_signal)
    return p


def reap(p):
    if p in _live:
        _live.remove(p)


def stop(p, grace=3.0):
    """SIGTERM to P's process group (its own: start_new_session), SIGKILL to what is left after GRACE
    seconds (for example `run`'s worker processes), then reap P. The group is signalled only while P is
    not reaped yet, so its id cannot have been reused."""
    if p.returncode is None:
        _signal_group(p, signal.SIGTERM)
        wait_zombie(p, deadline=time.monotonic() + grace)
        _signal_group(p, signal.SIGKILL)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    reap(p)


def _signal_group(p, sig):
    try:
        os.killpg(p.pid, sig)  # p.pid is the group id: the child leads its own session
    except (ProcessLookupError, PermissionError):
        pass


def stop_all(grace=3.0):
    """SIGTERM to every group started here and not reaped, SIGKILL to what is left after GRACE seconds."""
    live = [p for p in _live if p.returncode is None]
    for p in live:
        _signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in live:
        wait_zombie(p, deadline=deadline)
    for p in live:
        _signal_group(p, signal.SIGKILL)
    for p in list(_live):
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        reap(p)


def _on_signal(signum, frame):
    global _pending_signal
    _pending_signal = signum
    if _in_spawn:
        return  # spawn() registers the child it is creating, then comes back to _terminate
    _terminate(signum)


def _terminate(signum):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.stderr.write(f"\nbench/run: signal {signum}, stopping {len(_live)} process(es)\n")
    stop_all()
    sys.exit(128 + signum)


def install_handlers():
    atexit.register(stop_all)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def wait_zombie(p, poll=0.02, deadline=None):
    """Waits until P has exited WITHOUT reaping it (waitid WNOWAIT), so that /proc/PID/stat still holds
    its final CPU counters. Returns False if DEADLINE (monotonic) passed first."""
    while True:
        try:
            r = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        if r is not None and r.si_pid == p.pid:
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(poll)


def reap_rusage(p):
    """Reaps P with wait4: (exit status, CPU seconds of P and the children it reaped, ru_maxrss KB)."""
    try:
        pid, st, ru = os.wait4(p.pid, 0)
    except ChildProcessError:
        p.wait()
        reap(p)
        return p.returncode, None, None
    p.returncode = os.waitstatus_to_exitcode(st)
    reap(p)
    return p.returncode, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def run_monitored(args, log_path, interval=0.1, timeout=None, stderr_path=None):
    """Runs ARGS with stdout (and stderr, unless STDERR_PATH) into LOG_PATH while a TreeMonitor samples it and its descendants.
    Returns dict(status, wall_seconds, processes, samples, timed_out, rusage_cpu_seconds, rusage_maxrss_kb)."""
    mon = procmon.TreeMonitor(interval=interval)
    errf = open(stderr_path, "wb") if stderr_path else None
    with open(log_path, "wb") as log:
        t0 = time.monotonic()
        try:
            p = spawn(args, stdout=log, stderr=errf if errf else subprocess.STDOUT)
        finally:
            if errf:
                errf.close()
        mon.add_root(p.pid)
        mon.start()
        finished = wait_zombie(p, deadline=(t0 + timeout) if timeout else None)
        wall = time.monotonic() - t0
        mon.stop()
        timed_out = not finished
        if finished:
            mon.sample()  # the root is a zombie now: its final CPU counters (and its reaped workers')
            # Whatever of its group outlived the root (should be nothing: `run` stops its workers); the
            # unreaped zombie keeps the group id ours.
            _signal_group(p, signal.SIGKILL)
            status, ru_cpu, ru_rss = reap_rusage(p)
        else:
            stop(p)
            status, ru_cpu, ru_rss = p.returncode, None, None
    out = {"status": status, "wall_seconds": round(wall, 3), "timed_out": timed_out,
           "processes": mon.result(), "samples": mon.samples}
    if ru_cpu is not None:
        # wait4's usage of the root covers the root and the children it reaped (its workers).
        out["rusage_cpu_seconds"] = round(ru_cpu, 3)
        out["rusage_maxrss_kb"] = ru_rss
    return out


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return lines[-n:]
    except OSError:
        return []
