"""An independent client of the nextbest wire protocol (docs/protocol.md), written from the document with
pyzmq: joins a running coordinator as a worker, checks WELCOME and an ASSIGN decode as documented, checks
that a wrong store fingerprint gets REFUSE with a reason, sends a malformed frame, and leaves with BYE
(the coordinator must give its shard to a real worker).

usage: wire_client.py ENDPOINT FINGERPRINT_HEX
"""
import struct
import sys
import time

import zmq

MAGIC = b"NB"
VERSION = 8


def string(s):
    b = s.encode()
    return struct.pack("<H", len(b)) + b


def hello(worker_id, fingerprint, served=0):
    # No held propensities: an empty list of (run, shards).
    return MAGIC + bytes([VERSION, 1]) + string(worker_id) + string("pyzmq-client 1") + struct.pack("<HQQQI", 1, fingerprint, 0, served, 0)


def receive(sock, want, timeout=20.0):
    """Frames until one of type `want` (heartbeats and others are skipped)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sock.poll(200):
            frame = sock.recv()
            assert frame[:2] == MAGIC and frame[2] == VERSION, f"not a version-{VERSION} nextbest frame: {frame[:8]!r}"
            if frame[3] == want:
                return frame[4:]
    raise SystemExit(f"no message of type {want} within {timeout} s")


def read_string(body, off):
    (n,) = struct.unpack_from("<H", body, off)
    return body[off + 2: off + 2 + n].decode(), off + 2 + n


def main():
    endpoint, fingerprint = sys.argv[1], int(sys.argv[2], 16)
    ctx = zmq.Context()

    # A worker whose store differs is refused, with a reason.
    bad = ctx.socket(zmq.DEALER)
    bad.setsockopt(zmq.LINGER, 0)
    bad.setsockopt(zmq.ROUTING_ID, b"py-bad")
    bad.connect(endpoint)
    bad.send(hello("py-bad", fingerprint ^ 1))
    reason, _ = read_string(receive(bad, 3), 0)
    assert "fingerprint" in reason, reason
    print(f"wrong fingerprint: REFUSE ({reason[:60]}...)")

    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 1000)
    sock.setsockopt(zmq.ROUTING_ID, b"py-worker")
    sock.connect(endpoint)
    sock.send(hello("py-worker", fingerprint))
    coordinator, _ = read_string(receive(sock, 2), 0)
    print(f"WELCOME from {coordinator}")
    body = receive(sock, 4)
    run, shard, attempt, lower = struct.unpack_from("<QIIQ", body, 0)
    flag = body[24]
    upper = struct.unpack_from("<Q", body, 25)[0] if flag == 1 else None
    off = 25 + (8 if flag == 1 else 0)
    assert len(body) == off + 8, "ASSIGN has trailing or missing bytes"
    (served,) = struct.unpack_from("<Q", body, off)
    assert upper is None or upper > lower
    print(f"ASSIGN run {run:016x} shard {shard} attempt {attempt} customers {lower}..{upper} served responses through {served}")
    # Garbage, then leave without scoring: the shard must go to another worker.
    sock.send(MAGIC + bytes([VERSION, 5, 0]))
    sock.send(b"not nextbest at all")
    sock.send(MAGIC + bytes([VERSION, 8]))
    sock.send(MAGIC + bytes([VERSION, 9]))
    print("sent a truncated SCORED, junk, HEARTBEAT and BYE")
    sock.close()
    bad.close()
    ctx.term()


if __name__ == "__main__":
    main()
