#!/usr/bin/env python3
"""Hostile-peer flood of issue 21 item 10: unauthenticated DEALERs each send one huge frame to a plain-TCP
coordinator before saying HELLO; prints the coordinator's peak resident memory (VmHWM) before and after.

Either starts `nextbest coordinator` itself on a free 127.0.0.1 port (--nextbest, --store) and stops it after,
or attacks a running one (--endpoint tcp://127.0.0.1:PORT --pid PID). Bounded: at most 16 peers, frames of at
most 2,048 MB, at most 120 s; traffic to 127.0.0.1 only. The frames share one buffer (sent zero-copy), so this
process holds one frame however many peers send it.

  bench/tools/frame_flood.py --nextbest .build/debug/nextbest --store STORE [--shard-size 50000]
  bench/tools/frame_flood.py --endpoint tcp://127.0.0.1:5555 --pid 1234
"""
import argparse, json, os, re, signal, socket, subprocess, sys, tempfile, threading, time

import zmq


def peak_kb(pid, field="VmHWM"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_coordinator(args):
    """Starts `nextbest coordinator` on 127.0.0.1; returns (process, endpoint, limit line, log lines)."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    out = tempfile.mkdtemp(prefix="frame-flood-")
    cmd = [args.nextbest, "coordinator", "--bind", endpoint, "--store", args.store, "--out", out,
           "--shard-size", str(args.shard_size), "--no-warm-start", "--wait-timeout", "600"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines, ready = [], threading.Event()

    def drain():
        for line in proc.stderr:
            lines.append(line.rstrip())
            if "listening on" in line:
                ready.set()
    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(120):
        proc.kill()
        sys.exit("the coordinator did not start listening within 120 s:\n" + "\n".join(lines[-20:]))
    listening = next(l for l in lines if "listening on" in l)
    return proc, endpoint, listening, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextbest", help="the nextbest executable (starts a coordinator)")
    ap.add_argument("--store", help="the store for the coordinator it starts")
    ap.add_argument("--shard-size", type=int, default=50_000)
    ap.add_argument("--endpoint", help="a running coordinator's endpoint (tcp://127.0.0.1:PORT)")
    ap.add_argument("--pid", type=int, help="that coordinator's process id")
    ap.add_argument("--peers", type=int, default=4)
    ap.add_argument("--mb", type=int, default=800, help="frame size in MB (10^6 bytes)")
    ap.add_argument("--seconds", type=float, default=20, help="how long to keep watching after sending")
    args = ap.parse_args()
    if not 1 <= args.peers <= 16 or not 1 <= args.mb <= 2048 or not 0 < args.seconds <= 120:
        sys.exit("bounded: 1-16 peers, 1-2048 MB frames, at most 120 s")

    proc = None
    listening = ""
    if args.nextbest:
        if not args.store:
            sys.exit("--nextbest needs --store")
        proc, endpoint, listening, _ = start_coordinator(args)
        pid = proc.pid
    elif args.endpoint and args.pid:
        endpoint, pid = args.endpoint, args.pid
    else:
        sys.exit("give --nextbest and --store, or --endpoint and --pid")
    if not re.fullmatch(r"tcp://127\.0\.0\.1:\d+", endpoint):
        sys.exit("traffic to 127.0.0.1 only: the endpoint must be tcp://127.0.0.1:PORT")

    try:
        time.sleep(1)
        before = peak_kb(pid)
        frame = bytearray(args.mb * 1_000_000)
        frame[:4] = b"NB\x05\x13"   # a ROWS header: not a HELLO
        ctx = zmq.Context()
        trackers, sockets = [], []
        t0 = time.time()
        for _ in range(args.peers):
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(endpoint)
            trackers.append(s.send(frame, copy=False, track=True))
            sockets.append(s)
        peak, alive = before, True
        while time.time() - t0 < args.seconds:
            try:
                peak = max(peak, peak_kb(pid))
            except (FileNotFoundError, RuntimeError):
                alive = False
                break
            time.sleep(0.2)
        sent = sum(1 for t in trackers if t.done)
        for s in sockets:
            s.close(0)
        ctx.term()
        after_rss = peak_kb(pid, "VmRSS") if alive else None
        result = {"endpoint": endpoint, "peers": args.peers, "frame_mb": args.mb, "frames_released_by_libzmq": sent,
                  "coordinator_alive": alive, "vmhwm_before_mib": round(before / 1024, 1), "vmhwm_after_mib": round(peak / 1024, 1),
                  "vmrss_after_mib": round(after_rss / 1024, 1) if after_rss else None, "seconds": args.seconds}
        if listening:
            m = re.search(r"frames up to (\d+) MiB", listening)
            result["frame_limit_mib"] = int(m.group(1)) if m else None
        print(json.dumps(result))
        print(f"coordinator peak RSS (VmHWM): {before / 1024:.1f} MiB before, {peak / 1024:.1f} MiB after "
              f"{args.peers} x {args.mb} MB frames" + ("" if alive else " (the coordinator died)"))
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
