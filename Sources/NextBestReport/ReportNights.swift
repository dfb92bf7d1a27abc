import Foundation

// MARK: - Since last night and the trend over the kept nights

extension ReportPage {
    /// "Since last night": top-offer churn, headline figures of both runs, the offer and product mix change
    /// and the largest PSI (when the summary has it). nil when the summary has no `since_last_night` field.
    static func sinceSection(_ s: SummaryModel) -> SinceView? {
        guard s.hasSinceLastNight else { return nil }
        guard let c = s.sinceLastNight else {
            return SinceView(table: nil, tables: [], notes: ["No earlier finished run is kept in the store: there is nothing to compare with yet."])
        }
        var rows: [Row] = []
        func add(_ name: String, _ value: String?) { if let value { rows.append(Row(key: name, value: value)) } }
        add("Last night's run", c.runA.map { ($0.runId ?? "?") + ($0.started.map { " (started " + $0 + ")" } ?? "") })
        if let t = c.topOffer, let changed = t.changed, let customers = t.customers {
            var text = Fmt.count(changed) + " of " + Fmt.count(customers) + " customers with a list"
            if let share = t.share { text += " (" + Fmt.percent(share, 2) + ")" }
            if let g = t.gained, let l = t.lost { text += "; " + Fmt.count(g) + " new, " + Fmt.count(l) + " without a list now" }
            add("Top offer changed", text)
        }
        func pair(_ p: SummaryModel.Pair?, _ d: Int) -> String? {
            guard let p, let a = p.a, let b = p.b else { return nil }
            return Fmt.fixed(a, d) + " → " + Fmt.fixed(b, d) + (p.delta.map { " (" + signed($0, d) + ")" } ?? "")
        }
        add("Offers made", pair(c.offersMade, 0))
        add("Objective", pair(c.objective, 2))
        if let a = c.gap?.a, let b = c.gap?.b { add("Gap", Fmt.percent(a, 4) + " → " + Fmt.percent(b, 4)) }
        var tables: [DataTable] = []
        for (title, changes) in [("Offer mix: offers made per offer", c.byOffer), ("Offers made per product", c.byProduct),
                                 ("Offers made per channel", c.byChannel)] {
            guard let changes, !changes.isEmpty else { continue }
            tables.append(changeTable(title, changes))
        }
        var notes = c.notes ?? []
        if let shifts = c.psi?.offers?.filter({ $0.psi != nil }), !shifts.isEmpty {
            let top = shifts.sorted { ($0.psi ?? 0) > ($1.psi ?? 0) }.prefix(10)
            tables.append(DataTable(title: "Largest propensity shifts (PSI over last night's deciles)",
                                    header: cells(["Offer", "Model", "PSI", "Reading"], numeric: [2]),
                                    rows: top.map { x in
                                        let p = x.psi ?? 0
                                        return GridRow(rowClass: p > 0.25 ? "binding" : nil,
                                                       cells: cells([x.offerId ?? "?", x.model ?? "?", Fmt.fixed(p, 4),
                                                                     p > 0.25 ? "large shift" : p > 0.1 ? "moderate shift" : "stable"], numeric: [2]))
                                    }))
        } else {
            notes.append("The propensity shift (PSI) per offer is not worked out during the run (it reads every customer's propensities of both runs again): “nextbest runs compare previous latest --store DIR” prints it.")
        }
        return SinceView(table: rows.isEmpty ? nil : Table(rows: rows), tables: tables, notes: notes)
    }

    /// A table of a category's offers last night and tonight, largest change first.
    static func changeTable(_ title: String, _ changes: [SummaryModel.Change]) -> DataTable {
        let sorted = changes.enumerated().sorted { x, y in
            let dx = abs(x.element.delta ?? 0), dy = abs(y.element.delta ?? 0)
            return dx != dy ? dx > dy : x.offset < y.offset
        }.map(\.element)
        let rows = sorted.map { c -> GridRow in
            let a = c.a ?? 0, b = c.b ?? 0, d = c.delta ?? (b - a)
            let rel = a > 0 ? Fmt.percent(d / a) : (b > 0 ? "new" : "—")
            return GridRow(rowClass: nil, cells: cells([c.name ?? "?", Fmt.count(a), Fmt.count(b), signed(d, 0), rel], numeric: [1, 2, 3, 4]))
        }
        return DataTable(title: title, header: cells(["Name", "Last night", "Tonight", "Change", "Change %"], numeric: [1, 2, 3, 4]), rows: rows)
    }

    /// "Trend over the kept nights": objective and offers made per night as charts, a table per night and,
    /// when the nights name them, offers made per offer per night. nil without a `trend` field.
    static func trendSection(_ s: SummaryModel) -> TrendView? {
        guard let nights = s.trend, !nights.isEmpty else { return nil }
        let xs = nights.indices.map { Double($0 + 1) }
        var figures: [Figure] = []
        let objective = nights.map { $0.objective ?? .nan }, offers = nights.map { $0.offersMade ?? .nan }
        if objective.contains(where: \.isFinite) {
            figures.append(Figure(caption: "Objective per night", svg: Chart.lines(xs: xs, series: [Chart.Series(name: "Objective", color: Palette.primary, values: objective)],
                                                                                  width: 540, height: 260, xTitle: "Night (oldest first)", yTitle: "Objective",
                                                                                  label: "Objective per kept night")))
        }
        if offers.contains(where: \.isFinite) {
            figures.append(Figure(caption: "Offers made per night", svg: Chart.lines(xs: xs, series: [Chart.Series(name: "Offers made", color: Palette.accent, values: offers)],
                                                                                     width: 540, height: 260, xTitle: "Night (oldest first)", yTitle: "Offers made",
                                                                                     label: "Offers made per kept night")))
        }
        let header = cells(["Night", "Run", "Started", "Objective", "Gap", "Customers with offers", "Offers made"], numeric: [0, 3, 4, 5, 6])
        let rows = nights.enumerated().map { i, n in
            GridRow(rowClass: nil, cells: cells(["\(i + 1)", n.runId ?? "?", n.started ?? "—", n.objective.map { Fmt.fixed($0, 2) } ?? "—",
                                                 n.gap.map { Fmt.percent($0, 4) } ?? "—", n.customersWithOffers.map { Fmt.count($0) } ?? "—",
                                                 n.offersMade.map { Fmt.count($0) } ?? "—"], numeric: [0, 3, 4, 5, 6]))
        }
        var tables = [DataTable(title: "Kept nights", header: header, rows: rows)]
        var offerNames: [String] = []
        for n in nights { for e in n.byOffer?.entries ?? [] where !offerNames.contains(e.key) { offerNames.append(e.key) } }
        if !offerNames.isEmpty {
            let numeric = Set(1...nights.count)
            tables.append(DataTable(title: "Offers made per offer per night (— : the night used another campaign version)",
                                    header: cells(["Offer"] + nights.indices.map { "Night \($0 + 1)" }, numeric: numeric),
                                    rows: offerNames.map { name in
                                        GridRow(rowClass: nil, cells: cells([name] + nights.map { n in n.byOffer.map { Fmt.count($0[name] ?? 0) } ?? "—" },
                                                                            numeric: numeric))
                                    }))
        }
        return TrendView(figures: figures, showFigures: !figures.isEmpty, tables: tables)
    }

    /// Cells of a row, those at `numeric` right-aligned.
    static func cells(_ texts: [String], numeric: Set<Int>) -> [Cell] {
        texts.enumerated().map { Cell(text: $1, numeric: numeric.contains($0)) }
    }

    /// A change with its sign ("+12", "−3").
    static func signed(_ x: Double, _ decimals: Int) -> String { (x > 0 ? "+" : "") + Fmt.fixed(x, decimals) }
}
