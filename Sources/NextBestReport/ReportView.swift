import Foundation

// MARK: - What the template shows

/// The values the page's template draws: text already formatted, charts already drawn as SVG. Mustache reads
/// them by property name (through `Mirror`), so the names here are the names in `ReportTemplate`.
extension ReportPage {
    /// The whole page.
    struct View: Sendable {
        var title: String
        var subtitle: String
        var colors = Colors()
        /// The sections present, in page order; the navigation bar links to each.
        var sections: [Section]
    }

    /// One section of the page: its anchor, its heading and its content (exactly one of the views is set).
    struct Section: Sendable {
        var id: String
        var heading: String
        var summary: SummaryView? = nil
        var convergence: ConvergenceView? = nil
        var constraints: ConstraintsView? = nil
        var offers: OffersView? = nil
        var propensity: PropensityView? = nil
        var timings: TimingsView? = nil
        var since: SinceView? = nil
        var trend: TrendView? = nil
        var other: OtherView? = nil
    }

    /// The palette as the CSS uses it.
    struct Colors: Sendable {
        var ink = Palette.ink, muted = Palette.muted, line = Palette.grid, accent = Palette.primary, bind = Palette.binding
    }

    /// A name and its formatted value.
    struct Row: Sendable {
        var key: String
        var value: String
    }

    /// A two-column table of rows (the `table` partial).
    struct Table: Sendable {
        var cls = "kv"
        var rows: [Row]
    }

    /// A chart with its caption (the `figure` partial).
    struct Figure: Sendable {
        var caption: String
        var svg: String
        var wide = false
        var footnote: String? = nil
    }

    /// A card with a heading and a chart or, failing one, a note.
    struct Card: Sendable {
        var title: String
        var svg: String? = nil
        var emptyText: String? = nil
    }

    /// One headline figure of the run summary.
    struct KPI: Sendable {
        var name: String
        var value: String
        var sub: String?
    }

    /// "Run summary".
    struct SummaryView: Sendable {
        var kpis: [KPI]
        var showKPIs: Bool
        var showRow: Bool
        var runTable: Table?
        var reached: Figure?
        var emptyNote: String?
    }

    /// "Optimization convergence".
    struct ConvergenceView: Sendable {
        var figures: [Figure]
        var showFigures: Bool
        var noHistory: String?
        var stats: Table?
    }

    /// A cell of a data table.
    struct Cell: Sendable {
        var text: String
        var numeric: Bool
    }

    /// A row of a data table, with an optional CSS class.
    struct GridRow: Sendable {
        var rowClass: String?
        var cells: [Cell]
    }

    /// "Constraint use against limits".
    struct ConstraintsView: Sendable {
        var chart: Figure
        var header: [Cell]
        var rows: [GridRow]
        var bindingNote: String
    }

    /// A grid row of cards ("row2" or "row3").
    struct CardGroup: Sendable {
        var cls: String
        var cards: [Card]
    }

    /// "Offers made by category".
    struct OffersView: Sendable {
        var groups: [CardGroup]
    }

    /// "Propensity distribution per offer".
    struct PropensityView: Sendable {
        var chart: Figure?
        var notes: [String]
    }

    /// The stage-timings card.
    struct StagesCard: Sendable {
        var svg: String?
        var total: String?
        var empty: Bool
    }

    /// The shard-latency card.
    struct LatencyCard: Sendable {
        var svg: String?
        var cls = "kv"
        var rows: [Row]
    }

    /// A titled two-column table in a card.
    struct TitledTable: Sendable {
        var title: String
        var cls = "kv"
        var rows: [Row]
    }

    /// "Stage timings".
    struct TimingsView: Sendable {
        var stages: StagesCard?
        var latency: LatencyCard?
        var tables: [TitledTable]
        var showTables: Bool
    }

    /// A titled data table (the `grid` partial).
    struct DataTable: Sendable {
        var title: String
        var header: [Cell]
        var rows: [GridRow]
    }

    /// "Since last night": this run against the previous kept run.
    struct SinceView: Sendable {
        var table: Table?
        var tables: [DataTable]
        var notes: [String]
    }

    /// "Trend over the kept nights".
    struct TrendView: Sendable {
        var figures: [Figure]
        var showFigures: Bool
        var tables: [DataTable]
    }

    /// "Other fields": top-level fields no other section shows.
    struct OtherView: Sendable {
        var cls = "kv mono"
        var rows: [Row]
    }
}

// MARK: - The page from the summary

extension ReportPage {
    /// Everything the template needs for `summary`, titled `title`.
    static func view(_ s: SummaryModel, title: String) -> View {
        var other: OtherView?
        if !s.otherFields.isEmpty {
            other = OtherView(rows: s.otherFields.entries.map { e in
                var text = Fmt.value(e.value, decimals: 4)
                if text.count > 300 { text = String(text.prefix(299)) + "…" }
                return Row(key: e.key, value: text)
            })
        }
        let sections: [Section?] = [
            Section(id: "summary", heading: "Run summary", summary: summarySection(s)),
            baseComparison(s).map { Section(id: "base", heading: "Compared with the base run", other: $0) },
            sinceSection(s).map { Section(id: "since", heading: "Since last night", since: $0) },
            trendSection(s).map { Section(id: "trend", heading: "Trend over the kept nights", trend: $0) },
            convergenceSection(s).map { Section(id: "convergence", heading: "Optimization convergence", convergence: $0) },
            constraintsSection(s).map { Section(id: "constraints", heading: "Constraint use against limits", constraints: $0) },
            offersSection(s).map { Section(id: "offers", heading: "Offers made by category", offers: $0) },
            Section(id: "propensity", heading: "Propensity distribution per offer", propensity: propensitySection(s)),
            timingsSection(s).map { Section(id: "timings", heading: "Stage timings", timings: $0) },
            other.map { Section(id: "other", heading: "Other fields", other: $0) },
        ]
        return View(title: title, subtitle: subtitle(s), sections: sections.compactMap { $0 })
    }

    /// A simulation's figures against its base run: base → simulated (change), and the simulated limits.
    static func baseComparison(_ s: SummaryModel) -> OtherView? {
        guard let c = s.comparedWithBase, let figures = c.figures, !figures.isEmpty else { return nil }
        var rows = [Row(key: "Base run", value: c.baseRun ?? "?"), Row(key: "Simulated campaign", value: c.campaign ?? "?")]
        for f in figures {
            guard let name = f.name, let sim = f.simulated else { continue }
            var v = (f.base.map { Fmt.fixed($0, 2) + " → " } ?? "— → ") + Fmt.fixed(sim, 2)
            if let b = f.base { v += " (" + (sim - b >= 0 ? "+" : "") + Fmt.fixed(sim - b, 2) + ")" }
            if let l = f.limitsSimulated, !l.isEmpty, l != "-..-" { v += "  limits " + l }
            rows.append(Row(key: name, value: v))
        }
        return OtherView(rows: rows)
    }

    /// The line under the title: run id, objective, customers, workers.
    static func subtitle(_ s: SummaryModel) -> String {
        var parts = [s.runId.map { "Run " + $0 } ?? "One-process run"]
        if let t = s.started { parts.append("started " + t) }
        if let o = s.objective { parts.append("objective: " + o) }
        if let n = s.customers { parts.append(Fmt.count(n) + " customers") }
        if let w = s.workers { parts.append(Fmt.count(w) + (w == 1 ? " worker" : " workers")) }
        return parts.joined(separator: " · ")
    }
}
