import Foundation

// MARK: - Charts (inline SVG)

extension ReportPage {
    /// Colours shared by the page's CSS and charts.
    enum Palette {
        static let ink = "#1f2933"
        static let muted = "#616e7c"
        static let grid = "#e4e7eb"
        static let axis = "#9aa5b1"
        static let primary = "#2b5c9e"
        static let accent = "#d9822b"
        static let good = "#2f855a"
        static let binding = "#c2410c"
        static let slack = "#9fb3c8"
        static let mark = "#1f2933"
    }

    /// Builders for the inline SVG charts. Sizes are in viewBox units; the CSS scales charts down (never up)
    /// to the width available. Text widths are estimated, since nothing is measured at render time.
    enum Chart {
        static let font = 12.0
        static let charW = 7.0 // estimated average glyph width at 12px

        static func textWidth(_ s: String, size: Double = font) -> Double { Double(s.count) * charW * size / font }

        /// Shortens `s` to at most `maxWidth` (estimated), ending in "…".
        static func fit(_ s: String, _ maxWidth: Double, size: Double = font) -> String {
            let maxChars = max(3, Int(maxWidth / (charW * size / font)))
            return s.count <= maxChars ? s : String(s.prefix(maxChars - 1)) + "…"
        }

        static func open(_ w: Double, _ h: Double, label: String, cls: String = "chart") -> String {
            "<svg class=\"\(cls)\" viewBox=\"0 0 \(Fmt.c(w)) \(Fmt.c(h))\" width=\"\(Fmt.c(w))\" height=\"\(Fmt.c(h))\" style=\"max-width:\(Fmt.c(w))px\" role=\"img\" aria-label=\"\(esc(label))\"><title>\(esc(label))</title>\n"
        }

        static func text(_ x: Double, _ y: Double, _ s: String, anchor: String = "start", size: Double = font, fill: String = Palette.ink, weight: String? = nil, extra: String = "") -> String {
            let w = weight.map { " font-weight=\"\($0)\"" } ?? ""
            return "<text x=\"\(Fmt.c(x))\" y=\"\(Fmt.c(y))\" text-anchor=\"\(anchor)\" font-size=\"\(Fmt.c(size))\" fill=\"\(fill)\"\(w)\(extra)>\(esc(s))</text>\n"
        }

        static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1, dash: String? = nil) -> String {
            let d = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
            return "<line x1=\"\(Fmt.c(x1))\" y1=\"\(Fmt.c(y1))\" x2=\"\(Fmt.c(x2))\" y2=\"\(Fmt.c(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(Fmt.c(width))\"\(d)/>\n"
        }

        static func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, tip: String? = nil, extra: String = "") -> String {
            let body = "x=\"\(Fmt.c(x))\" y=\"\(Fmt.c(y))\" width=\"\(Fmt.c(max(0, w)))\" height=\"\(Fmt.c(max(0, h)))\" fill=\"\(fill)\"\(extra)"
            if let tip { return "<rect \(body)><title>\(esc(tip))</title></rect>\n" }
            return "<rect \(body)/>\n"
        }

        /// "Nice" tick values covering [lo, hi] (about `count` of them) and their step.
        static func ticks(_ lo: Double, _ hi: Double, count: Int = 5, integer: Bool = false) -> (values: [Double], step: Double) {
            var lo = lo, hi = hi
            if !(hi > lo) { hi = lo + max(1, abs(lo) * 0.1) }
            let raw = (hi - lo) / Double(max(1, count))
            let mag = pow(10, floor(log10(raw)))
            let f = raw / mag
            var step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag
            if integer { step = Swift.max(1, step.rounded(.up)) }
            lo = floor(lo / step + 1e-9) * step
            hi = ceil(hi / step - 1e-9) * step
            var v: [Double] = []
            var k = 0
            while true {
                let t = lo + Double(k) * step
                if t > hi + step * 1e-6 || k > 100 { break }
                v.append(t)
                k += 1
            }
            return (v, step)
        }

        /// One bar of a horizontal bar chart.
        struct Bar {
            var label: String
            var value: Double
            var text: String
            var color: String? = nil
        }

        /// Horizontal bars, one row per item in the order given, value labels at the bar ends and a
        /// value axis underneath with `axisTitle`.
        static func hbars(_ items: [Bar], width: Double, color: String, axisTitle: String, label: String) -> String {
            let rowH = 22.0, barH = 14.0, top = 8.0, bottom = 44.0
            let longest = items.map { textWidth($0.label) }.max() ?? 0
            let labelW = min(longest, width * 0.38) + 12
            let valueW = (items.map { textWidth($0.text) }.max() ?? 0) + 14
            let x0 = labelW, x1 = max(x0 + 40, width - valueW - 8)
            let h = top + Double(items.count) * rowH + bottom
            let maxV = max(items.map(\.value).max() ?? 0, 0)
            let integral = items.allSatisfy { $0.value == $0.value.rounded() }
            let (tv, step) = ticks(0, maxV > 0 ? maxV : 1, count: max(2, Int((x1 - x0) / 90)), integer: integral)
            let top1 = tv.last ?? 1
            func x(_ v: Double) -> Double { x0 + (x1 - x0) * max(0, v) / top1 }
            var s = open(width, h, label: label)
            let plotBottom = top + Double(items.count) * rowH
            for t in tv {
                s += line(x(t), top, x(t), plotBottom, stroke: Palette.grid)
                s += text(x(t), plotBottom + 15, Fmt.compact(t, step: step, scale: top1), anchor: "middle", size: 11, fill: Palette.muted)
            }
            s += line(x0, top, x0, plotBottom, stroke: Palette.axis)
            for (k, it) in items.enumerated() {
                let y = top + Double(k) * rowH
                let w = it.value > 0 ? max(1, x(it.value) - x0) : 0
                s += text(x0 - 8, y + rowH / 2 + 4, fit(it.label, labelW - 12), anchor: "end")
                s += rect(x0, y + (rowH - barH) / 2, w, barH, fill: it.color ?? color, tip: "\(it.label): \(it.text)", extra: " rx=\"2\"")
                s += text(x0 + w + 6, y + rowH / 2 + 4, it.text, size: 11.5, fill: Palette.muted)
            }
            s += text((x0 + x1) / 2, h - 8, axisTitle, anchor: "middle", size: 12, fill: Palette.muted)
            return s + "</svg>\n"
        }

        /// One line of a line chart.
        struct Series {
            var name: String
            var color: String
            var values: [Double]
            var dash: String? = nil
            var markers = true
            /// Drawn as one horizontal line across the plot (the first value), as for a final result.
            var level = false
        }

        /// The legend of a line chart, left to right above the plot from `x`.
        static func legend(_ series: [Series], x: Double) -> String {
            var s = ""
            var lx = x
            for se in series {
                s += line(lx, 18, lx + 22, 18, stroke: se.color, width: 2.5, dash: se.dash)
                if se.markers { s += "<circle cx=\"\(Fmt.c(lx + 11))\" cy=\"18\" r=\"3\" fill=\"\(se.color)\"/>\n" }
                s += text(lx + 28, 22, se.name, size: 12)
                lx += 28 + textWidth(se.name) * 0.9 + 20
            }
            return s
        }

        /// A line chart's y scale over `all` values between the pixel rows `y0` (bottom) and `y1` (top): the
        /// mapping and the labelled ticks; on a log scale, values at or below zero map to the axis floor.
        static func yScale(_ all: [Double], logY: Bool, y0: Double, y1: Double) -> (py: (Double) -> Double, ticks: [(Double, String)]) {
            var yTicks: [(Double, String)] = []
            if logY {
                let pos = all.filter { $0 > 0 }
                let lo = floor(log10(pos.min() ?? 1e-6)), hi = ceil(log10(pos.max() ?? 1))
                let lo2 = min(lo, hi - 1)
                let floorV = pow(10, lo2)
                let py: (Double) -> Double = { v in
                    let l = log10(max(v, floorV))
                    return y0 - (y0 - y1) * (l - lo2) / (hi - lo2)
                }
                let every = max(1, Int(((hi - lo2) / 6).rounded(.up)))
                var e = Int(lo2)
                while Double(e) <= hi {
                    let v = pow(10, Double(e))
                    let lab = e >= 0 ? Fmt.fixed(v, 0) : e >= -4 ? Fmt.fixed(v, -e) : "1e\(e)"
                    yTicks.append((v, lab))
                    e += every
                }
                return (py, yTicks)
            }
            var lo = all.min() ?? 0, hi = all.max() ?? 1
            if hi - lo <= abs(hi) * 1e-9 { let d = Swift.max(1, abs(hi) * 0.05); lo -= d; hi += d }
            let pad = (hi - lo) * 0.04
            let (tv, step) = ticks(lo - pad, hi + pad, count: 5)
            let a = tv.first ?? 0, b = tv.last ?? 1
            let scale = max(abs(a), abs(b))
            return ({ v in y0 - (y0 - y1) * (v - a) / (b - a) }, tv.map { ($0, Fmt.compact($0, step: step, scale: scale)) })
        }

        /// A line chart over `xs` with a legend above the plot, labelled axes, and optionally a log-scale y axis
        /// (values at or below zero are drawn on the axis floor as hollow markers).
        static func lines(xs: [Double], series: [Series], width: Double, height: Double, xTitle: String, yTitle: String,
                          logY: Bool = false, label: String) -> String {
            let left = 74.0, right = 18.0, top = 40.0, bottom = 48.0
            let x0 = left, x1 = width - right, y0 = height - bottom, y1 = top
            let all = series.flatMap(\.values).filter(\.isFinite)
            var s = open(width, height, label: label) + legend(series, x: x0)
            let xmin = xs.min() ?? 0, xmax = xs.max() ?? 1
            let xspan = xmax > xmin ? xmax - xmin : 1
            func px(_ x: Double) -> Double { xs.count == 1 ? (x0 + x1) / 2 : x0 + (x1 - x0) * (x - xmin) / xspan }
            let (py, yTicks) = yScale(all, logY: logY, y0: y0, y1: y1)
            for (v, lab) in yTicks {
                s += line(x0, py(v), x1, py(v), stroke: Palette.grid)
                s += text(x0 - 8, py(v) + 4, lab, anchor: "end", size: 11, fill: Palette.muted)
            }
            // x ticks: integers, thinned to at most ~12 labels.
            let every = max(1, Int((Double(xs.count) / 12).rounded(.up)))
            let last = xs.count - 1
            for (k, x) in xs.enumerated() where k % every == 0 || (k == last && last % every >= (every + 1) / 2) {
                s += line(px(x), y0, px(x), y0 + 5, stroke: Palette.axis)
                s += text(px(x), y0 + 18, Fmt.fixed(x, x == x.rounded() ? 0 : 2), anchor: "middle", size: 11, fill: Palette.muted)
            }
            s += line(x0, y0, x1, y0, stroke: Palette.axis)
            s += line(x0, y1, x0, y0, stroke: Palette.axis)
            s += text((x0 + x1) / 2, height - 8, xTitle, anchor: "middle", fill: Palette.muted)
            s += text(16, (y0 + y1) / 2, yTitle, anchor: "middle", fill: Palette.muted,
                      extra: " transform=\"rotate(-90 16 \(Fmt.c((y0 + y1) / 2)))\"")
            for se in series {
                let pts = zip(xs, se.values).filter { $0.1.isFinite }
                guard !pts.isEmpty else { continue }
                if se.level {
                    s += line(x0, py(pts[0].1), x1, py(pts[0].1), stroke: se.color, width: 2, dash: se.dash)
                    continue
                }
                let path = pts.map { "\(Fmt.c(px($0.0))),\(Fmt.c(py($0.1)))" }.joined(separator: " ")
                let dash = se.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
                s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(se.color)\" stroke-width=\"2\" stroke-linejoin=\"round\"\(dash)/>\n"
                if se.markers {
                    for (x, v) in pts {
                        let hollow = logY && v <= 0
                        let fill = hollow ? "#ffffff" : se.color
                        let tip = "\(se.name), \(xTitle.lowercased()) \(Fmt.fixed(x, 0)): \(Fmt.fixed(v, logY ? 6 : 2))"
                        s += "<circle cx=\"\(Fmt.c(px(x)))\" cy=\"\(Fmt.c(py(v)))\" r=\"3.5\" fill=\"\(fill)\" stroke=\"\(se.color)\" stroke-width=\"1.5\"><title>\(esc(tip))</title></circle>\n"
                    }
                }
            }
            return s + "</svg>\n"
        }

        /// One constraint row of a bullet chart.
        struct Bullet {
            var label: String
            var used: Double
            var min: Double?
            var max: Double?
            var binding: Bool
            var text: String
        }

        /// Bullet bars, each row on its own scale: the bar is the amount used, a solid tick the maximum and
        /// a hollow triangle the minimum; binding rows are coloured.
        static func bullets(_ rows: [Bullet], width: Double, label: String) -> String {
            let rowH = 26.0, barH = 12.0, top = 34.0, bottom = 10.0
            let labelW = min((rows.map { textWidth($0.label) }.max() ?? 0), width * 0.34) + 12
            let textW = min((rows.map { textWidth($0.text, size: 11.5) }.max() ?? 0) + 16, width * 0.32)
            let x0 = labelW, x1 = width - textW
            let h = top + Double(rows.count) * rowH + bottom
            var s = open(width, h, label: label)
            // Legend
            var lx = x0
            func key(_ name: String, _ draw: String) {
                s += draw
                s += text(lx + 20, 18, name, size: 11.5, fill: Palette.muted)
                lx += 20 + textWidth(name, size: 11.5) + 22
            }
            key("used, binding (price ≠ 0)", rect(lx, 9, 14, 12, fill: Palette.binding, extra: " rx=\"2\""))
            key("used, not binding", rect(lx, 9, 14, 12, fill: Palette.slack, extra: " rx=\"2\""))
            key("maximum", line(lx + 7, 7, lx + 7, 23, stroke: Palette.mark, width: 2.5))
            key("minimum", "<path d=\"M\(Fmt.c(lx + 7)) 14 l-5 8 h10 z\" fill=\"#ffffff\" stroke=\"\(Palette.mark)\" stroke-width=\"1.5\"/>\n")
            for (k, r) in rows.enumerated() {
                let y = top + Double(k) * rowH
                let cy = y + rowH / 2
                let full = Swift.max(r.used, r.max ?? 0, r.min ?? 0) * 1.08
                let scale = full > 0 ? full : 1
                func x(_ v: Double) -> Double { x0 + (x1 - x0) * Swift.max(0, v) / scale }
                if k % 2 == 0 { s += rect(0, y, width, rowH, fill: "#f7f9fb") }
                s += text(x0 - 8, cy + 4, fit(r.label, labelW - 12), anchor: "end", fill: r.binding ? Palette.ink : Palette.muted,
                          weight: r.binding ? "600" : nil)
                s += rect(x0, cy - barH / 2, x1 - x0, barH, fill: "#eef1f4", extra: " rx=\"2\"")
                s += rect(x0, cy - barH / 2, r.used > 0 ? Swift.max(1, x(r.used) - x0) : 0, barH,
                          fill: r.binding ? Palette.binding : Palette.slack, tip: "\(r.label): \(r.text)", extra: " rx=\"2\"")
                if let m = r.max { s += line(x(m), cy - 10, x(m), cy + 10, stroke: Palette.mark, width: 2.5) }
                if let m = r.min {
                    s += "<path d=\"M\(Fmt.c(x(m))) \(Fmt.c(cy + 2)) l-5 8 h10 z\" fill=\"#ffffff\" stroke=\"\(Palette.mark)\" stroke-width=\"1.5\"><title>\(esc("minimum \(Fmt.fixed(m, 0))"))</title></path>\n"
                }
                s += text(x1 + 10, cy + 4, fit(r.text, textW - 14, size: 11.5), size: 11.5, fill: Palette.muted)
            }
            return s + "</svg>\n"
        }

        /// Sequential blue for `t` in [0, 1].
        static func blue(_ t: Double) -> String {
            let a = (236.0, 243.0, 250.0), b = (8.0, 48.0, 107.0)
            let u = Swift.min(1, Swift.max(0, t))
            func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * u).rounded()) }
            return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
        }

        /// A heatmap of offers (rows) by propensity bins (columns), shaded on a log scale, each cell with its
        /// count, a total per row at the right and a colour key underneath.
        static func heatmap(rows: [(String, [Double])], edges: [String], width: Double, label: String) -> String {
            let nb = rows.map(\.1.count).max() ?? 0
            let rowH = 20.0, top = 30.0
            let labelW = min((rows.map { textWidth($0.0) }.max() ?? 0), 200) + 14
            let totalW = 78.0
            let x0 = labelW, x1 = width - totalW
            let cw = (x1 - x0) / Double(Swift.max(1, nb))
            let gridBottom = top + Double(rows.count) * rowH
            let h = gridBottom + 82
            let maxC = rows.flatMap(\.1).max() ?? 0
            func t(_ c: Double) -> Double { maxC > 0 ? log1p(Swift.max(0, c)) / log1p(maxC) : 0 }
            var s = open(width, h, label: label)
            s += text(x1 + totalW - 4, top - 10, "total", anchor: "end", size: 11, fill: Palette.muted, weight: "600")
            s += text(x0 - 8, top - 10, "offer", anchor: "end", size: 11, fill: Palette.muted, weight: "600")
            for (r, row) in rows.enumerated() {
                let y = top + Double(r) * rowH
                s += text(x0 - 8, y + rowH / 2 + 4, fit(row.0, labelW - 14), anchor: "end", size: 11.5)
                for (k, c) in row.1.enumerated() {
                    let x = x0 + Double(k) * cw
                    let range = k + 1 < edges.count ? "\(edges[k])–\(edges[k + 1])" : "bin \(k + 1)"
                    let fill = c > 0 ? blue(0.08 + 0.92 * t(c)) : "#ffffff"
                    s += rect(x, y, cw, rowH, fill: fill, tip: "\(row.0), propensity \(range): \(Fmt.count(c))",
                              extra: " stroke=\"#ffffff\" stroke-width=\"1\"")
                    if c > 0, cw >= 26 {
                        let lab = Fmt.short(c)
                        if textWidth(lab, size: 9.5) <= cw - 4 {
                            s += text(x + cw / 2, y + rowH / 2 + 3.5, lab, anchor: "middle", size: 9.5,
                                      fill: t(c) > 0.45 ? "#ffffff" : Palette.ink)
                        }
                    }
                }
                s += text(x1 + totalW - 4, y + rowH / 2 + 4, Fmt.count(row.1.reduce(0, +)), anchor: "end", size: 11.5, fill: Palette.muted)
            }
            s += "<rect x=\"\(Fmt.c(x0))\" y=\"\(Fmt.c(top))\" width=\"\(Fmt.c(x1 - x0))\" height=\"\(Fmt.c(gridBottom - top))\" fill=\"none\" stroke=\"\(Palette.axis)\"/>\n"
            // Bin edges under the grid; every other one if they would collide.
            let edgeW = (edges.map { textWidth($0, size: 10) }.max() ?? 0) + 4
            let every = cw >= edgeW ? 1 : 2
            for (k, e) in edges.enumerated() where k <= nb {
                let x = x0 + Double(k) * cw
                s += line(x, gridBottom, x, gridBottom + 4, stroke: Palette.axis)
                if k % every == 0 || k == nb { s += text(x, gridBottom + 15, e, anchor: "middle", size: 10, fill: Palette.muted) }
            }
            s += text((x0 + x1) / 2, gridBottom + 34, "Propensity (bin edges)", anchor: "middle", fill: Palette.muted)
            // Colour key
            let ky = gridBottom + 50, kx = x0, kw = 220.0
            let steps = 22
            for k in 0..<steps {
                s += rect(kx + kw * Double(k) / Double(steps), ky, kw / Double(steps) + 0.5, 10, fill: blue(0.08 + 0.92 * Double(k) / Double(steps - 1)))
            }
            s += "<rect x=\"\(Fmt.c(kx))\" y=\"\(Fmt.c(ky))\" width=\"\(Fmt.c(kw))\" height=\"10\" fill=\"none\" stroke=\"\(Palette.axis)\"/>\n"
            s += text(kx, ky + 24, "1", size: 10, fill: Palette.muted)
            s += text(kx + kw, ky + 24, Fmt.count(maxC), anchor: "end", size: 10, fill: Palette.muted)
            s += text(kx + kw + 12, ky + 9, "offers per bin (log scale; white = none)", size: 11, fill: Palette.muted)
            return s + "</svg>\n"
        }
    }
}
