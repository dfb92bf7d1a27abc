"""Validity of an nba.csv, and its sha256 (computed on the same read)."""

import hashlib
import math

HEADER = "customer_id,rank,offer_id,channel,propensity,expected_value"


def check(path, max_offers=None, max_errors=10):
    """Returns {sha256, bytes, rows, customers, valid, errors[]}.

    Checked: the header exactly; every row has 6 fields, an unsigned integer customer id, an integer rank,
    non-empty offer and channel, a propensity in [0, 1] and a finite expected value; a customer's rows
    are contiguous with ranks 1, 2, ..., k (k <= MAX_OFFERS when given) and no offer twice; customer ids
    strictly ascending from one customer to the next."""
    h = hashlib.sha256()
    errors = []
    rows = customers = size = 0

    def err(lineno, msg):
        if len(errors) < max_errors:
            errors.append(f"line {lineno}: {msg}")

    try:
        f = open(path, "rb")
    except OSError as e:
        return {"valid": False, "errors": [f"cannot open {path}: {e}"], "sha256": None, "rows": 0,
                "customers": 0, "bytes": 0}
    with f:
        first = f.readline()
        h.update(first)
        size += len(first)
        if first.rstrip(b"\n").decode("utf-8", "replace") != HEADER:
            err(1, f"header is {first[:120]!r}, expected {HEADER!r}")
        prev_cust, expect_rank, offers = -1, 1, set()
        lineno = 1
        for line in f:
            lineno += 1
            h.update(line)
            size += len(line)
            if not line.endswith(b"\n"):
                err(lineno, "no newline at the end of the file")
            parts = line.rstrip(b"\n").split(b",")
            if len(parts) != 6:
                err(lineno, f"{len(parts)} fields, expected 6")
                continue
            rows += 1
            try:
                cust = int(parts[0])
                rank = int(parts[1])
                prop = float(parts[4])
                ev = float(parts[5])
            except ValueError:
                err(lineno, f"unparsable row {line[:120]!r}")
                continue
            if cust < 0 or cust >= 1 << 64 or not parts[0].isdigit():
                err(lineno, f"customer id {parts[0]!r} is not an unsigned 64-bit integer")
            if not parts[2] or not parts[3]:
                err(lineno, "empty offer or channel")
            if not (0.0 <= prop <= 1.0):
                err(lineno, f"propensity {prop} outside [0, 1]")
            if not math.isfinite(ev):
                err(lineno, f"expected value {ev} not finite")
            if cust != prev_cust:
                if cust < prev_cust:
                    err(lineno, f"customer {cust} after {prev_cust}: ids not ascending")
                customers += 1
                prev_cust, expect_rank, offers = cust, 1, set()
            if rank != expect_rank:
                err(lineno, f"customer {cust}: rank {rank}, expected {expect_rank}")
            expect_rank = rank + 1
            if max_offers is not None and rank > max_offers:
                err(lineno, f"customer {cust}: rank {rank} above max_offers {max_offers}")
            if parts[2] in offers:
                err(lineno, f"customer {cust}: offer {parts[2].decode()} twice")
            offers.add(parts[2])
    return {"sha256": h.hexdigest(), "bytes": size, "rows": rows, "customers": customers,
            "valid": not errors, "errors": errors}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
