import Foundation

// MARK: - Run summary

extension ReportPage {
    static func summarySection(_ s: SummaryModel) -> SummaryView {
        let kpis = headlineFigures(s)
        let rows = runRows(s)
        let table = rows.isEmpty ? nil : Table(rows: rows)
        var reachedChart: Figure?
        if let customers = s.customers, let reached = s.customersWithOffers, customers > 0 {
            let without = max(0, customers - reached)
            let bars = [Chart.Bar(label: "with offers", value: reached, text: Fmt.count(reached) + " (" + Fmt.percent(reached / customers) + ")"),
                        Chart.Bar(label: "without offers", value: without,
                                  text: Fmt.count(without) + " (" + Fmt.percent(without / customers) + ")", color: Palette.slack)]
            let svg = Chart.hbars(bars, width: 560, color: Palette.primary, axisTitle: "Customers", label: "Customers reached")
            reachedChart = Figure(caption: "Customers reached", svg: svg)
        }
        let none = table == nil && reachedChart == nil && kpis.isEmpty
        return SummaryView(kpis: kpis, showKPIs: !kpis.isEmpty, showRow: table != nil || reachedChart != nil, runTable: table,
                           reached: reachedChart, emptyNote: none ? "The summary has none of the usual run fields." : nil)
    }

    /// The cards at the top: customers, reach, offers, value, cost, responses, exclusions and the gap.
    static func headlineFigures(_ s: SummaryModel) -> [KPI] {
        var cards: [KPI] = []
        let customers = s.customers, reached = s.customersWithOffers, offers = s.offersMade, ev = s.totalExpectedValue
        if let customers { cards.append(KPI(name: "Customers", value: Fmt.count(customers), sub: nil)) }
        if let reached {
            let share = customers.flatMap { $0 > 0 ? Fmt.percent(reached / $0) + " of customers" : nil }
            cards.append(KPI(name: "Customers with offers", value: Fmt.count(reached), sub: share))
        }
        if let offers {
            let per = reached.flatMap { $0 > 0 ? Fmt.fixed(offers / $0, 2) + " per customer reached" : nil }
            cards.append(KPI(name: "Offers made", value: Fmt.count(offers), sub: per))
        }
        if let ev {
            let per = offers.flatMap { $0 > 0 ? Fmt.fixed(ev / $0, 2) + " per offer" : nil }
            cards.append(KPI(name: "Total expected value", value: Fmt.fixed(ev, 2), sub: per))
        }
        if let v = s.totalCost {
            let roi = ev.flatMap { v > 0 ? Fmt.fixed($0 / v, 1) + "× expected value / cost" : nil }
            cards.append(KPI(name: "Total cost", value: Fmt.fixed(v, 2), sub: roi))
        }
        if let v = s.expectedResponses {
            let rate = offers.flatMap { $0 > 0 ? Fmt.percent(v / $0, 2) + " expected response rate" : nil }
            cards.append(KPI(name: "Expected responses", value: Fmt.fixed(v, 2), sub: rate))
        }
        if let v = s.fatigueExclusions { cards.append(KPI(name: "Fatigue exclusions", value: Fmt.count(v), sub: nil)) }
        if let g = s.optimization?.gap { cards.append(KPI(name: "Optimality gap", value: Fmt.percent(g, 4), sub: "relative to the dual bound")) }
        return cards
    }

    /// The "Run" table: identity, shape and what was resumed or rescored.
    static func runRows(_ s: SummaryModel) -> [Row] {
        var rows: [Row] = []
        func add(_ name: String, _ value: String?) { if let value { rows.append(Row(key: name, value: value)) } }
        add("Run id", s.runId)
        add("Started", s.started)
        add("nextbest", s.nextbestVersion)
        add("Campaign version", s.campaignVersion.map { Fmt.number($0) })
        add("Served responses in its history", s.servedResponsesThrough.map { $0 > 0 ? "up to #" + Fmt.number($0) : "none" })
        if let m = s.modelVersions, !m.entries.isEmpty {
            add("Model versions", m.entries.map { "\($0.key) v\(Fmt.number($0.value))" }.joined(separator: ", "))
        }
        add("Objective", s.objective)
        add("Store", s.store)
        add("Shards", s.shards.map { Fmt.number($0) })
        add("Workers", s.workers.map { Fmt.number($0) })
        add("Optimization rounds", s.optimization?.rounds.map { Fmt.number($0) })
        add("Gap", s.optimization?.gap.map { Fmt.percent($0, 4) + " (" + Fmt.fixed($0, 8) + ")" })
        add("Resumed", s.resumed.map { $0 ? "yes" : "no" })
        add("Rescored from", s.rescoredFrom.map { Fmt.value($0) })
        switch s.modelsRescored {
        case .array(let a)?: add("Models rescored", a.isEmpty ? nil : a.map { Fmt.value($0) }.joined(separator: ", "))
        case let m?: add("Models rescored", m.compactText)
        case nil: break
        }
        add("Customers changed", s.customersChanged.map { Fmt.value($0) })
        return rows
    }
}

// MARK: - Optimization convergence and constraints

extension ReportPage {
    static func convergenceSection(_ s: SummaryModel) -> ConvergenceView? {
        guard let opt = s.optimization else { return nil }
        let history = opt.history ?? []
        var figures: [Figure] = []
        if !history.isEmpty {
            let xs = history.enumerated().map { $0.element.round ?? Double($0.offset + 1) }
            var series = [Chart.Series(name: "Dual bound", color: Palette.primary, values: history.map { $0.dual ?? .nan }),
                          Chart.Series(name: "Relaxed primal objective", color: Palette.accent, values: history.map { $0.relaxedPrimal ?? .nan })]
            if let final = opt.objective {
                series.append(Chart.Series(name: "Final objective (after repair)", color: Palette.good, values: [final], dash: "6 4",
                                           markers: false, level: true))
            }
            let main = Chart.lines(xs: xs, series: series, width: 680, height: 340, xTitle: "Round", yTitle: "Objective value",
                                   label: "Dual bound and relaxed primal objective per round")
            let viol = history.map { $0.maxViolation ?? .nan }
            let vchart = Chart.lines(xs: xs, series: [Chart.Series(name: "Max violation", color: Palette.binding, values: viol)],
                                     width: 440, height: 340, xTitle: "Round", yTitle: "Max violation (log scale)", logY: true,
                                     label: "Maximum constraint violation per round")
            figures = [Figure(caption: "Dual bound and relaxed primal objective per round", svg: main),
                       Figure(caption: "Maximum constraint violation per round", svg: vchart,
                              footnote: viol.contains { $0 <= 0 } ? "Hollow markers: a violation of 0, drawn on the axis floor." : nil)]
        }
        // The presolve's passes on samples, scaled to the population (× the sample's modulus) so they read
        // against the passes over everybody.
        let levels = (opt.presolve?.levels ?? []).filter { !($0.history ?? []).isEmpty }
        if !levels.isEmpty {
            var xs: [Double] = [], dual: [Double] = [], primal: [Double] = []
            for l in levels {
                let m = l.sampleModulus ?? 1
                for h in l.history ?? [] {
                    xs.append(Double(xs.count + 1))
                    dual.append((h.dual ?? .nan) * m); primal.append((h.relaxedPrimal ?? .nan) * m)
                }
            }
            let moduli = levels.compactMap(\.sampleModulus).map { "1 in " + Fmt.count($0) }.joined(separator: ", then ")
            let chart = Chart.lines(xs: xs, series: [Chart.Series(name: "Dual bound (sample × modulus)", color: Palette.primary, values: dual),
                                                     Chart.Series(name: "Relaxed primal (sample × modulus)", color: Palette.accent, values: primal)],
                                    width: 680, height: 300, xTitle: "Presolve pass", yTitle: "Objective value (scaled)",
                                    label: "Presolve passes on samples of the customers")
            figures.append(Figure(caption: "Presolve passes on samples (\(moduli) customers), before the passes over everybody", svg: chart))
        }
        var rows: [Row] = []
        func add(_ name: String, _ v: Double?, _ f: (Double) -> String) { if let v { rows.append(Row(key: name, value: f(v))) } }
        add("Final objective", opt.objective) { Fmt.fixed($0, 2) }
        add("Dual bound", opt.dualBound) { Fmt.fixed($0, 2) }
        add("Gap", opt.gap) { Fmt.percent($0, 4) }
        add("Relaxed objective", opt.relaxedObjective) { Fmt.fixed($0, 2) }
        add("Rounds", opt.rounds) { Fmt.count($0) }
        add("Round time", opt.roundSeconds) { Fmt.seconds($0) }
        add("Repair time", opt.repairSeconds) { Fmt.seconds($0) }
        if let p = opt.presolve, let m = p.sampleModulus, let n = p.rounds, let sec = p.seconds {
            rows.append(Row(key: "Presolve", value: "\(Fmt.count(n)) rounds on 1 customer in \(Fmt.count(m)), \(Fmt.seconds(sec))"))
        }
        rows += opt.otherFields.entries.map { Row(key: Fmt.label($0.key), value: Fmt.value($0.value, decimals: 4)) }
        return ConvergenceView(figures: figures, showFigures: !figures.isEmpty,
                               noHistory: history.isEmpty ? "No per-round history in this summary." : nil,
                               stats: rows.isEmpty ? nil : Table(rows: rows))
    }

    static func constraintsSection(_ s: SummaryModel) -> ConstraintsView? {
        guard let cons = s.optimization?.constraints, !cons.isEmpty else { return nil }
        var bullets: [Chart.Bullet] = []
        var rows: [GridRow] = []
        let numeric: Set<Int> = [2, 3, 4, 5, 6]
        for k in cons {
            let kind = k.kind ?? "", name = k.name ?? k.key ?? "?"
            let used = k.used ?? 0, price = k.price ?? 0
            let d = kind == "budget" ? 2 : (used != used.rounded() ? 2 : 0)
            var text = Fmt.fixed(used, d)
            if let mx = k.max { text += " / " + Fmt.fixed(mx, d) + (mx > 0 ? " (" + Fmt.percent(used / mx) + ")" : "") }
            if let mn = k.min { text += " · min " + Fmt.fixed(mn, d) }
            let binding = price != 0
            bullets.append(Chart.Bullet(label: kind.isEmpty || kind == name ? name : "\(kind) · \(name)", used: used, min: k.min, max: k.max,
                                        binding: binding, text: text))
            let cells = [kind, name, Fmt.fixed(used, d), k.min.map { Fmt.fixed($0, d) } ?? "—", k.max.map { Fmt.fixed($0, d) } ?? "—",
                         k.max.flatMap { $0 > 0 ? Fmt.percent(used / $0) : nil } ?? "—", Fmt.fixed(price, 4), binding ? "binding" : "—"]
            rows.append(GridRow(rowClass: binding ? "binding" : nil,
                                cells: cells.enumerated().map { Cell(text: $1, numeric: numeric.contains($0)) }))
        }
        let header = ["Kind", "Name", "Used", "Min", "Max", "Use of max", "Shadow price", "Status"]
        let nb = bullets.filter(\.binding).count
        return ConstraintsView(
            chart: Figure(caption: "Use of each constraint on its own scale (tick = maximum, triangle = minimum)",
                          svg: Chart.bullets(bullets, width: 1100, label: "Constraint use against limits"), wide: true),
            header: header.enumerated().map { Cell(text: $1, numeric: numeric.contains($0)) }, rows: rows,
            bindingNote: "\(nb) of \(bullets.count) constraints are binding (non-zero shadow price): loosening them would raise the objective by about their price per unit.")
    }
}

// MARK: - Offers and propensity

extension ReportPage {
    static func offersSection(_ s: SummaryModel) -> OffersView? {
        let groups = [(s.byProduct, "By product"), (s.byOffer, "By offer"), (s.byRegion, "By region"),
                      (s.bySegment, "By segment"), (s.byChannel, "By channel")]
        var cards: [(Card, Int)] = []
        for case let (counts?, heading) in groups {
            guard !counts.isEmpty else {
                cards.append((Card(title: heading, emptyText: "No categories."), 0))
                continue
            }
            let total = counts.entries.map(\.value).reduce(0, +)
            let bars = counts.entries.map { e in
                Chart.Bar(label: e.key, value: e.value, text: Fmt.count(e.value) + (total > 0 ? " · " + Fmt.percent(e.value / total) : ""))
            }
            let big = counts.entries.count > 8
            let svg = Chart.hbars(bars, width: big ? 540 : 350, color: Palette.primary, axisTitle: "Offers made",
                                  label: "Offers made \(heading.lowercased())")
            cards.append((Card(title: heading, svg: svg), counts.entries.count))
        }
        guard !cards.isEmpty else { return nil }
        let big = cards.filter { $0.1 > 8 }.map(\.0), small = cards.filter { $0.1 <= 8 }.map(\.0)
        return OffersView(groups: [CardGroup(cls: "row2", cards: big), CardGroup(cls: "row3", cards: small)].filter { !$0.cards.isEmpty })
    }

    static func propensitySection(_ s: SummaryModel) -> PropensityView {
        guard let p = s.propensityByOffer else {
            return PropensityView(notes: ["This summary has no propensity_by_offer field, so the propensity distribution cannot be shown."])
        }
        guard let offers = p.offers, !offers.isEmpty else { return PropensityView(notes: ["propensity_by_offer has no offers."]) }
        let edges = (p.binEdges ?? []).map { d -> String in
            if d == 0 || d == 1 { return Fmt.fixed(d, 0) }
            var s = Fmt.fixed(d, 6)
            while s.hasSuffix("0") { s.removeLast() }
            return s
        }
        let rows = offers.entries.map { ($0.key, $0.value) }
        let nb = rows.map(\.1.count).max() ?? 0
        let svg = Chart.heatmap(rows: rows, edges: edges.count == nb + 1 ? edges : (0...nb).map { "\($0)" }, width: 1100,
                                label: "Offers made per propensity bin, per offer")
        var notes: [String] = []
        if !edges.isEmpty, edges.count != nb + 1 { notes.append("bin_edges has \(edges.count) edges for \(nb) bins; columns are numbered instead.") }
        let all = rows.flatMap(\.1).reduce(0, +)
        notes.append("\(Fmt.count(all)) offers across \(rows.count) offers and \(nb) bins. Hover a cell for its exact range and count.")
        return PropensityView(chart: Figure(caption: "Offers made per propensity bin (rows: offers; columns: propensity bins)", svg: svg, wide: true),
                              notes: notes)
    }
}

// MARK: - Stage timings

extension ReportPage {
    static func timingsSection(_ s: SummaryModel) -> TimingsView? {
        guard s.timingsSeconds != nil || s.shardLatency != nil || s.messages != nil || s.recovery != nil else { return nil }
        let stagesCard = s.timingsSeconds.map { t -> StagesCard in
            let stages = t.entries.filter { $0.key != "total" }
            let svg = stages.isEmpty ? nil : Chart.hbars(stages.map { Chart.Bar(label: Fmt.label($0.key), value: $0.value, text: Fmt.seconds($0.value)) },
                                                         width: 540, color: Palette.primary, axisTitle: "Seconds", label: "Seconds per stage")
            let total = t["total"].map { Fmt.seconds($0) }
            return StagesCard(svg: svg, total: total, empty: svg == nil && total == nil)
        }
        let latencyCard = s.shardLatency.map { l -> LatencyCard in
            let unit = l.unit ?? "ms"
            let buckets = l.histogram ?? []
            let svg = buckets.isEmpty ? nil : Chart.hbars(buckets.map { b in
                let le = b.leMs ?? 0, n = b.count ?? 0
                return Chart.Bar(label: "≤ " + Fmt.fixed(le, le < 10 ? 3 : le < 1000 ? 1 : 0) + " " + unit, value: n, text: Fmt.count(n))
            }, width: 540, color: Palette.accent, axisTitle: "Shards", label: "Shard latency histogram")
            let stats: [(String, Double?)] = [("Mean", l.mean), ("p50", l.p50), ("p90", l.p90), ("p99", l.p99), ("p99.9", l.p999), ("Max", l.max)]
            let rows = (l.count.map { [Row(key: "Shards", value: Fmt.count($0))] } ?? [])
                + stats.compactMap { name, v in v.map { Row(key: name, value: Fmt.fixed($0, 3) + " " + unit) } }
            return LatencyCard(svg: svg, rows: rows)
        }
        let tables = [(s.messages, "Messages"), (s.recovery, "Recovery")].compactMap { o, title in
            o.map { TitledTable(title: title, rows: $0.entries.map { Row(key: Fmt.label($0.key), value: Fmt.value($0.value, decimals: 3)) }) }
        }
        return TimingsView(stages: stagesCard, latency: latencyCard, tables: tables, showTables: !tables.isEmpty)
    }
}
