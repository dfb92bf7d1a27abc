"""Small hand-written SVG charts (no plotting library): line chart, stacked bars, bar histogram."""

import math
from xml.sax.saxutils import escape

W, H = 720, 420
ML, MR, MT, MB = 78, 170, 48, 64  # margins; the legend goes in the right margin
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac"]


def nice_ticks(lo, hi, n=5):
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    span = hi - lo
    raw = span / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(ticks[-1] + step)
    return ticks


def fmt(v):
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e3:
        return f"{v / 1e3:g}k"
    if a == int(a):
        return str(int(v))
    return f"{v:.3g}"


class _Doc:
    def __init__(self, title, w=W, h=H):
        self.w, self.h = w, h
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'font-family="Helvetica, Arial, sans-serif" font-size="12">',
            f'<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>',
            f'<text x="{w / 2:.1f}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>',
        ]
        self.x0, self.x1 = ML, w - MR
        self.y0, self.y1 = h - MB, MT  # y0 = bottom of the plot area

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, anchor="middle", size=12, rotate=None, color="#222"):
        tr = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{color}"{tr}>'
                 f'{escape(str(s))}</text>')

    def y_axis(self, ticks, label, ymap):
        for t in ticks:
            y = ymap(t)
            self.add(f'<line x1="{self.x0}" y1="{y:.1f}" x2="{self.x1}" y2="{y:.1f}" stroke="#e4e4e4"/>')
            self.text(self.x0 - 6, y + 4, fmt(t), anchor="end")
        self.add(f'<line x1="{self.x0}" y1="{self.y0}" x2="{self.x0}" y2="{self.y1}" stroke="#444"/>')
        self.add(f'<line x1="{self.x0}" y1="{self.y0}" x2="{self.x1}" y2="{self.y0}" stroke="#444"/>')
        self.text(18, (self.y0 + self.y1) / 2, label, rotate=-90)

    def x_label(self, label):
        self.text((self.x0 + self.x1) / 2, self.h - 16, label)

    def legend(self, items):
        x, y = self.x1 + 16, self.y1 + 6
        for name, color in items:
            self.add(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{color}"/>')
            self.text(x + 18, y + 10, name, anchor="start")
            y += 20

    def note(self, s, width=28):
        """Small grey text in the right margin, wrapped, ending at the bottom of the plot area."""
        lines, cur = [], ""
        for word in str(s).split():
            if cur and len(cur) + 1 + len(word) > width:
                lines.append(cur)
                cur = word
            else:
                cur = f"{cur} {word}".strip()
        if cur:
            lines.append(cur)
        y = self.y0 - 12 * (len(lines) - 1)
        for ln in lines:
            self.text(self.x1 + 16, y, ln, anchor="start", size=10, color="#666")
            y += 12

    def done(self):
        return "\n".join(self.parts + ["</svg>", ""])


def line_chart(title, xlabel, ylabel, series, note=None):
    """series: [(name, [(x, y), ...])] with numeric x; points with y None are skipped."""
    pts = [(x, y) for _, s in series for x, y in s if y is not None]
    d = _Doc(title)
    if not pts:
        d.text(W / 2, H / 2, "no data")
        return d.done()
    xs = sorted({x for x, _ in pts})
    xlo, xhi = min(xs), max(xs)
    if xlo == xhi:
        xlo, xhi = xlo - 1, xhi + 1
    yt = nice_ticks(0, max(y for _, y in pts))
    xmap = lambda x: d.x0 + 20 + (x - xlo) / (xhi - xlo) * (d.x1 - d.x0 - 40)
    ymap = lambda y: d.y0 - (y - yt[0]) / (yt[-1] - yt[0]) * (d.y0 - d.y1)
    d.y_axis(yt, ylabel, ymap)
    for x in xs:
        d.add(f'<line x1="{xmap(x):.1f}" y1="{d.y0}" x2="{xmap(x):.1f}" y2="{d.y0 + 5}" stroke="#444"/>')
        d.text(xmap(x), d.y0 + 18, fmt(x))
    d.x_label(xlabel)
    legend = []
    for i, (name, s) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        s = [(x, y) for x, y in s if y is not None]
        if not s:
            continue
        path = " ".join(f"{'M' if j == 0 else 'L'}{xmap(x):.1f},{ymap(y):.1f}" for j, (x, y) in enumerate(s))
        d.add(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in s:
            d.add(f'<circle cx="{xmap(x):.1f}" cy="{ymap(y):.1f}" r="4" fill="{color}">'
                  f'<title>{escape(name)}: x={fmt(x)} y={y:.4g}</title></circle>')
            label = f"{y:.3g}" if y < 1000 else (f"{y:,.0f}" if y < 1e5 else (f"{y / 1000:.0f}k" if y < 1e6 else f"{y / 1e6:.2f}M"))
            d.text(xmap(x), ymap(y) + (16 if i % 2 else -8), label, size=10, color=color)
        legend.append((name, color))
    d.legend(legend)
    if note:
        d.note(note)
    return d.done()


def stacked_bars(title, xlabel, ylabel, categories, stages, values, note=None):
    """categories: bar labels; stages: stack names (bottom first); values[i][j]: stage j of bar i (None = 0)."""
    d = _Doc(title)
    totals = [sum(v or 0 for v in row) for row in values]
    if not categories or max(totals, default=0) <= 0:
        d.text(W / 2, H / 2, "no data")
        return d.done()
    yt = nice_ticks(0, max(totals))
    ymap = lambda y: d.y0 - (y - yt[0]) / (yt[-1] - yt[0]) * (d.y0 - d.y1)
    d.y_axis(yt, ylabel, ymap)
    slot = (d.x1 - d.x0) / len(categories)
    bw = min(80, slot * 0.6)
    for i, (cat, row) in enumerate(zip(categories, values)):
        cx = d.x0 + slot * (i + 0.5)
        acc = 0.0
        for j, v in enumerate(row):
            if not v:
                continue
            ya, yb = ymap(acc), ymap(acc + v)
            d.add(f'<rect x="{cx - bw / 2:.1f}" y="{yb:.1f}" width="{bw:.1f}" height="{max(0.0, ya - yb):.1f}" '
                  f'fill="{PALETTE[j % len(PALETTE)]}" stroke="white" stroke-width="0.5">'
                  f'<title>{escape(cat)} {escape(stages[j])}: {v:.3f} s</title></rect>')
            acc += v
        d.text(cx, ymap(acc) - 6, f"{acc:.3g}", size=10)
        d.text(cx, d.y0 + 18, cat)
    d.x_label(xlabel)
    d.legend([(s, PALETTE[j % len(PALETTE)]) for j, s in enumerate(stages)])
    if note:
        d.note(note)
    return d.done()


def histogram(title, xlabel, ylabel, buckets, marks=None, note=None):
    """buckets: [(label, count)] drawn left to right as equal-width bars; marks: [(name, position)] drawn
    as dashed vertical lines (percentiles), position in bucket widths from the left edge of the first."""
    d = _Doc(title)
    if not buckets or max(c for _, c in buckets) <= 0:
        d.text(W / 2, H / 2, "no data")
        return d.done()
    yt = nice_ticks(0, 1.08 * max(c for _, c in buckets))
    ymap = lambda y: d.y0 - (y - yt[0]) / (yt[-1] - yt[0]) * (d.y0 - d.y1)
    d.y_axis(yt, ylabel, ymap)
    n = len(buckets)
    slot = (d.x1 - d.x0) / n
    every = max(1, math.ceil(n / 16))
    for i, (label, c) in enumerate(buckets):
        x = d.x0 + slot * i
        if c:
            d.add(f'<rect x="{x + slot * 0.08:.1f}" y="{ymap(c):.1f}" width="{slot * 0.84:.1f}" '
                  f'height="{d.y0 - ymap(c):.1f}" fill="{PALETTE[0]}"><title>&lt;= {escape(str(label))}: {c}</title></rect>')
        if i % every == 0 or i == n - 1:
            d.text(x + slot / 2, d.y0 + 16, label, size=10, rotate=None)
    for k, (name, pos) in enumerate(marks or []):
        x = d.x0 + slot * min(max(pos, 0.0), n)
        color = PALETTE[(k + 1) % len(PALETTE)]
        d.add(f'<line x1="{x:.1f}" y1="{d.y0}" x2="{x:.1f}" y2="{d.y1}" stroke="{color}" stroke-dasharray="4 3"/>')
        right = pos > 0.7 * n  # labels near the right edge go to the left of their line
        d.text(x - 3 if right else x + 3, d.y1 + 12 + 12 * k, name, anchor="end" if right else "start", size=10, color=color)
    d.x_label(xlabel)
    if note:
        d.note(note)
    return d.done()
