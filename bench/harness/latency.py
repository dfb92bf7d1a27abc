"""summary.json's "shard_latency" (HdrHistogram of the time from a shard's assignment to its scored reply)."""

from . import svg

PCTS = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")]


def normalize(lat):
    """Returns the block with per-bucket counts (a cumulative histogram, Prometheus style, is turned
    into per-bucket counts) or None if absent."""
    if not isinstance(lat, dict):
        return None
    out = dict(lat)
    for alias in ("p99_9", "p99.9", "p9990"):
        if out.get("p999") is None and out.get(alias) is not None:
            out["p999"] = out[alias]
    hist = [b for b in lat.get("histogram") or [] if isinstance(b, dict) and "le_ms" in b]
    counts = [int(b.get("count", 0)) for b in hist]
    total = lat.get("count")
    cumulative = False
    if hist and total is not None and sum(counts) != total and counts[-1] == total \
            and all(a <= b for a, b in zip(counts, counts[1:])):
        cumulative = True
        counts = [c - (counts[i - 1] if i else 0) for i, c in enumerate(counts)]
    out["histogram"] = [{"le_ms": b["le_ms"], "count": c} for b, c in zip(hist, counts)]
    out["histogram_was_cumulative"] = cumulative
    return out


def line(lat):
    if not lat:
        return "shard latency: not reported by this build"
    unit = lat.get("unit", "ms")
    parts = [f"n={lat.get('count')}"]
    for key, label in [("mean", "mean")] + PCTS + [("max", "max")]:
        if lat.get(key) is not None:
            parts.append(f"{label} {lat[key]:.1f}")
    return f"shard latency ({unit}): " + ", ".join(parts)


def _label(v):
    return f"{v:.0f}" if v >= 10 else f"{v:.3g}"


def _position(v, les):
    """Where V falls on the bucket axis: bucket i covers (les[i-1], les[i]] (the first from 0), V placed
    by linear interpolation inside its bucket (log-linear when both bounds are positive)."""
    import math
    for i, hi in enumerate(les):
        if v <= hi:
            lo = les[i - 1] if i else 0.0
            if lo > 0 and hi > lo:
                frac = math.log(v / lo) / math.log(hi / lo) if v > 0 else 0.0
            else:
                frac = (v - lo) / (hi - lo) if hi > lo else 1.0
            return i + min(max(frac, 0.0), 1.0)
    return float(len(les))


def plot(lat, title):
    hist = lat["histogram"]
    nonzero = [i for i, b in enumerate(hist) if b["count"]]
    sel = hist[nonzero[0]:nonzero[-1] + 1] if nonzero else []  # empty buckets at both ends dropped
    buckets = [(_label(b["le_ms"]), b["count"]) for b in sel]
    les = [b["le_ms"] for b in sel]
    marks = []
    for key, label in PCTS:
        v = lat.get(key)
        if v is None or not les:
            continue
        marks.append((f"{label} {v:.0f} ms", _position(v, les)))
    return svg.histogram(title, "shard completion latency, ms (bucket upper bound)", "shards", buckets, marks,
                         note=f"n={lat.get('count')}, mean {lat.get('mean') or 0:.0f} ms")
