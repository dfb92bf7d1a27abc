"""Process-tree monitor: polls /proc every ~100 ms for a set of root processes and all their descendants.

For every process seen it keeps, from its last sample, the peak resident set (VmHWM, from
/proc/PID/status) and the CPU seconds (utime + stime, from /proc/PID/stat). A process that exits between
two samples loses at most one interval (~100 ms) of CPU time; VmHWM is a high-water mark, so only growth
in the last interval can be missed.
"""

import os
import threading
import time

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None


def _stat(pid):
    """(ppid, starttime, cpu_seconds, state, reaped_children_cpu_seconds) from /proc/PID/stat, or None."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    s = raw.decode("latin-1")
    # The command name is in parentheses and may contain spaces or parentheses: split after the last ')'.
    rest = s[s.rfind(")") + 2:].split()
    # rest[0] is field 3 (state); field n is rest[n - 3].
    try:
        state = rest[0]
        ppid = int(rest[1])
        utime, stime = int(rest[11]), int(rest[12])
        cutime, cstime = int(rest[13]), int(rest[14])
        start = int(rest[19])
    except (IndexError, ValueError):
        return None
    return ppid, start, (utime + stime) / _TICK, state, (cutime + cstime) / _TICK


def _hwm_kb(pid):
    raw = _read(f"/proc/{pid}/status")
    if raw is None:
        return None
    for line in raw.decode("latin-1").splitlines():
        if line.startswith("VmHWM:"):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def _cmdline(pid):
    raw = _read(f"/proc/{pid}/cmdline")
    if not raw:
        return []
    return [a.decode("utf-8", "replace") for a in raw.rstrip(b"\0").split(b"\0")]


def _all_parents():
    """pid -> ppid for every process on the machine."""
    out = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st is not None:
            out[int(name)] = st[0]
    return out


class ProcessSample:
    __slots__ = ("pid", "start", "cmdline", "role", "peak_rss_kb", "cpu_seconds", "children_cpu_seconds",
                 "first_seen", "last_seen", "final")

    def __init__(self, pid, start, cmdline, role, now):
        self.pid, self.start, self.cmdline, self.role = pid, start, cmdline, role
        self.peak_rss_kb = 0
        self.cpu_seconds = 0.0
        self.children_cpu_seconds = 0.0
        self.final = False  # sampled as a zombie: its CPU counters are exact
        self.first_seen = self.last_seen = now

    def as_dict(self, t0):
        return {
            "pid": self.pid,
            "role": self.role,
            "cmdline": self.cmdline,
            "peak_rss_kb": self.peak_rss_kb,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "reaped_children_cpu_seconds": round(self.children_cpu_seconds, 3),
            "cpu_exact": self.final,
            "seen_from_s": round(self.first_seen - t0, 3),
            "seen_until_s": round(self.last_seen - t0, 3),
        }


def default_role(pid, cmdline, roots):
    """coordinator for `nextbest run|coordinator`, worker for `nextbest worker`, else the program name."""
    args = [os.path.basename(a) for a in cmdline[:3]]
    if "worker" in cmdline[1:3]:
        return "worker"
    if "run" in cmdline[1:3] or "coordinator" in cmdline[1:3]:
        return "coordinator"
    if pid in roots:
        return "root"
    return args[0] if args else "?"


class TreeMonitor:
    """Samples the roots added with add_root() and every descendant of them until stop()."""

    def __init__(self, interval=0.1, role=default_role):
        self.interval = interval
        self.role = role
        self.roots = set()
        self.procs = {}  # (pid, starttime) -> ProcessSample
        self.samples = 0
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="procmon", daemon=True)

    def add_root(self, pid):
        with self._lock:
            self.roots.add(pid)
        self.sample()

    def add_roots(self, pids):
        with self._lock:
            self.roots.update(pids)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self):
        while not self._stop.is_set():
            started = time.monotonic()
            self.sample()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def sample(self):
        with self._lock:
            roots = set(self.roots)
        parents = _all_parents()
        children = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = set(), [r for r in roots if r in parents]
        while todo:
            pid = todo.pop()
            if pid in tree:
                continue
            tree.add(pid)
            todo.extend(children.get(pid, ()))
        now = time.monotonic()
        with self._lock:
            self.samples += 1
            for pid in tree:
                st = _stat(pid)
                if st is None:
                    continue
                _, start, cpu, state, ccpu = st
                if state == "Z":  # a zombie's counters are final but its status has no VmHWM any more
                    key = (pid, start)
                    if key in self.procs:
                        p = self.procs[key]
                        p.cpu_seconds = max(p.cpu_seconds, cpu)
                        p.children_cpu_seconds = max(p.children_cpu_seconds, ccpu)
                        p.final = True
                        p.last_seen = now
                    continue
                key = (pid, start)
                p = self.procs.get(key)
                if p is None:
                    cmd = _cmdline(pid)
                    if not cmd:
                        continue
                    p = ProcessSample(pid, start, cmd, self.role(pid, cmd, roots), now)
                    self.procs[key] = p
                hwm = _hwm_kb(pid)
                if hwm is not None:
                    p.peak_rss_kb = max(p.peak_rss_kb, hwm)
                p.cpu_seconds = max(p.cpu_seconds, cpu)
                p.children_cpu_seconds = max(p.children_cpu_seconds, ccpu)
                p.last_seen = now

    def result(self):
        with self._lock:
            procs = sorted(self.procs.values(), key=lambda p: (p.first_seen, p.pid))
            return [p.as_dict(self.t0) for p in procs]


def summarize(processes):
    """Coordinator vs worker CPU and peak RSS from TreeMonitor.result().

    Workers' CPU is the sum of their last samples, unless the coordinator (the `run` process, which reaps
    its workers) was sampled as a zombie: then its reaped-children counters are the workers' exact total."""
    coord = [p for p in processes if p["role"] == "coordinator"]
    workers = [p for p in processes if p["role"] == "worker"]
    others = [p for p in processes if p["role"] not in ("coordinator", "worker")]
    c_cpu = sum(p["cpu_seconds"] for p in coord)
    w_cpu = sum(p["cpu_seconds"] for p in workers)
    source = "sampled every 100 ms"
    reaped = sum(p.get("reaped_children_cpu_seconds", 0.0) for p in coord if p.get("cpu_exact"))
    if workers and coord and all(p.get("cpu_exact") for p in coord) and reaped >= w_cpu:
        w_cpu, source = reaped, "exact: reaped by the coordinator"
    o_cpu = sum(p["cpu_seconds"] for p in others)
    total = c_cpu + w_cpu + o_cpu
    return {
        "coordinator_cpu_seconds": round(c_cpu, 3),
        "coordinator_cpu_exact": bool(coord) and all(p.get("cpu_exact") for p in coord),
        "workers_cpu_seconds": round(w_cpu, 3),
        "workers_cpu_source": source,
        "other_cpu_seconds": round(o_cpu, 3),
        "total_cpu_seconds": round(total, 3),
        "coordinator_cpu_share": round(c_cpu / total, 4) if total > 0 else None,
        "coordinator_peak_rss_kb": max((p["peak_rss_kb"] for p in coord), default=None),
        "worker_peak_rss_kb": [p["peak_rss_kb"] for p in workers],
        "largest_peak_rss_kb": max((p["peak_rss_kb"] for p in processes), default=None),
        "processes_seen": len(processes),
    }
