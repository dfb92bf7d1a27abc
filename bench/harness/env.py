"""The repository, the nextbest executable, the commit and the machine."""

import os
import platform
import shutil
import subprocess
import sys
import time

from . import nbacheck

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)


def log(msg):
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def locate_binary(wait_seconds=120):
    """cluster/nextbest-bin's answer ($NEXTBEST, else nextbest on PATH, else the release build, built only
    if missing). When the release build directory exists but the executable is missing, another engineer
    is probably relinking it: wait up to WAIT_SECONDS for it before letting nextbest-bin build."""
    release = os.path.join(REPO, ".build", "release")
    exe = os.path.join(release, "nextbest")
    if not os.environ.get("NEXTBEST") and not shutil.which("nextbest") and os.path.isdir(release):
        deadline = time.monotonic() + wait_seconds
        announced = False
        while not os.access(exe, os.X_OK) and time.monotonic() < deadline:
            if not announced:
                log(f"{exe} is missing (a relink in progress?): waiting up to {wait_seconds} s")
                announced = True
            time.sleep(2)
    for attempt in range(3):
        r = subprocess.run([os.path.join(REPO, "cluster", "nextbest-bin")], stdout=subprocess.PIPE, text=True)
        path = r.stdout.strip()
        if r.returncode == 0 and path and os.access(path, os.X_OK):
            return path
        time.sleep(5)
    raise SystemExit("bench/run: no nextbest executable (cluster/nextbest-bin failed)")


def snapshot_binary(path, work):
    """Copies an ELF executable to WORK/bin/nextbest-<sha12>, so that a rebuild during the benchmark
    cannot change or remove the binary under it (`run` starts its workers from /proc/self/exe, so they
    use the copy too; the runpath is absolute). Returns (path to use, info dict)."""
    info = {"source": path}
    try:
        with open(path, "rb") as f:
            elf = f.read(4) == b"\x7fELF"
        st = os.stat(path)
        info["mtime"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(st.st_mtime))
        info["bytes"] = st.st_size
        if not elf:
            info["snapshot"] = None
            return path, info
        sha = nbacheck.sha256(path)
        info["sha256"] = sha
        dest_dir = os.path.join(work, "bin")
        os.makedirs(dest_dir, exist_ok=True)
        dest = os.path.join(dest_dir, f"nextbest-{sha[:12]}")
        if not os.path.exists(dest):
            tmp = dest + f".tmp{os.getpid()}"
            shutil.copy2(path, tmp)
            os.chmod(tmp, 0o755)
            os.replace(tmp, dest)
            # Keep only the few newest snapshots.
            olds = sorted((os.path.join(dest_dir, n) for n in os.listdir(dest_dir) if n.startswith("nextbest-")
                           and ".tmp" not in n), key=os.path.getmtime)
            for o in olds[:-3]:
                if o != dest:
                    os.remove(o)
        info["snapshot"] = dest
        return dest, info
    except OSError as e:
        info["snapshot_error"] = str(e)
        return path, info


def has_subcommand(binary, name):
    r = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return any(line.strip().startswith(name + " ") or line.strip() == name for line in r.stdout.splitlines())


def git_commit():
    def git(*a):
        r = subprocess.run(["git", "-C", REPO, *a], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return r.stdout.strip() if r.returncode == 0 else None
    short = git("rev-parse", "--short", "HEAD") or "nocommit"
    dirty_sources = bool(git("status", "--porcelain", "--", "Sources"))
    return {"short": short, "full": git("rev-parse", "HEAD"), "subject": git("log", "-1", "--format=%s"),
            "sources_uncommitted": dirty_sources,
            "label": short + (" + uncommitted changes" if dirty_sources else "")}


def _first_line(path, prefix):
    """What follows PREFIX on the first line of PATH that starts with it, or None (also if PATH can't be read)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line[len(prefix):]
    except OSError:
        pass
    return None


def machine():
    cpu = _first_line("/proc/cpuinfo", "model name")
    cpu = cpu.split(":", 1)[1].strip() if cpu and ":" in cpu else None
    mem = _first_line("/proc/meminfo", "MemTotal:")
    mem_kb = int(mem.split()[0]) if mem else None
    osname = _first_line("/etc/os-release", "PRETTY_NAME=")
    osname = osname.strip().strip('"') if osname else None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": cpu or platform.processor() or "unknown",
        "cores": usable,
        "cores_online": os.cpu_count(),
        "ram_gib": round(mem_kb / 1048576, 1) if mem_kb else None,
        "kernel": platform.release(),
        "os": osname,
        "hostname": platform.node(),
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def machine_line(m):
    return (f"{m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os'] or 'Linux'} "
            f"(kernel {m['kernel']}); load average at start {m['loadavg_at_start'][0]:.2f}")
