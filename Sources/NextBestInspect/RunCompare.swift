import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster

/// `nextbest runs compare RUN_A RUN_B`: two finished kept runs of a store set side by side
/// (`RunComparison`, shared with the nightly run's "since last night" report section), with the runs named
/// by id or as `latest` / `previous`, and the comparison as text for a terminal.
public enum RunCompare {
    /// A run reference that names no kept run.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The text is neither a run id (16 hex digits) nor `latest` / `previous`.
        case badReference(String)
        /// `latest` or `previous` with too few finished runs kept.
        case noSuchRun(reference: String, finished: Int, store: String)

        public var description: String {
            switch self {
            case .badReference(let t):
                return "'\(t)' is not a run: give a run id of 16 hex digits (see `nextbest runs list`), `latest` (the newest finished run) or `previous` (the one before it)"
            case let .noSuchRun(r, n, store):
                return "there is no '\(r)' run: \(store) keeps \(n) finished run\(n == 1 ? "" : "s") (see `nextbest runs list --store \(store)`)"
            }
        }
    }

    /// The run a reference names: a run id (16 hex digits), `latest` (the newest finished run) or `previous`
    /// (the finished run before it); `latest~N` is the Nth finished run before the newest.
    public static func resolve(_ reference: String, journal: RunRepository, store: String) throws -> UInt64 {
        let text = reference.lowercased()
        let back: Int?
        switch text {
        case "latest", "last": back = 0
        case "previous", "prev": back = 1
        default:
            if text.hasPrefix("latest~"), let n = Int(text.dropFirst(7)), n >= 0 { back = n } else { back = nil }
        }
        guard let back else {
            guard text.count == 16, let id = RunRepository.parse(text) else { throw Failure.badReference(reference) }
            return id
        }
        let done = try journal.entries().filter { $0.state == "done" }
        guard back < done.count else { throw Failure.noSuchRun(reference: reference, finished: done.count, store: store) }
        return done[done.count - 1 - back].plan.run
    }

    /// Compares runs `a` and `b` (references as `resolve` reads them) of the store at `storePath`.
    public static func compare(storePath: String, a: String, b: String, psi: Bool = true) throws -> RunComparison {
        let store = try Store(path: storePath, readOnly: true, mustExist: true)
        let journal = RunRepository(store: store)
        let ra = try resolve(a, journal: journal, store: storePath), rb = try resolve(b, journal: journal, store: storePath)
        return try RunComparison.compare(journal: journal, a: ra, b: rb, catalogue: try RunComparison.Catalogue(store: store), psi: psi)
    }
}

extension RunComparison {
    /// The comparison as text for a terminal: headline figures, top-offer churn, offers by category, the
    /// PSI per offer, then constraints side by side.
    public var text: String {
        func pad(_ t: String, _ n: Int) -> String { t.padding(toLength: max(n, t.count), withPad: " ", startingAt: 0) }
        func left(_ t: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - t.count)) + t }
        func num(_ v: Double?, _ d: Int) -> String { v.map { FixedDecimal.string($0, decimals: d) } ?? "-" }
        func signed(_ v: Int64) -> String { v > 0 ? "+\(v)" : "\(v)" }
        var s = ""
        for (label, side) in [("A", a), ("B", b)] {
            s += "run \(label): \(side.run)  started \(side.started)  customers \(side.customers)  with offers \(side.customersWithOffers)  offers \(side.offersMade)\n"
        }
        s += "\n" + pad("", 22) + left("A", 18) + left("B", 18) + left("change", 18) + "\n"
        let dObjective = a.objective.flatMap { x in b.objective.map { $0 - x } }
        s += pad("objective", 22) + left(num(a.objective, 2), 18) + left(num(b.objective, 2), 18) + left(num(dObjective, 2), 18) + "\n"
        s += pad("gap", 22) + left(a.gap.map { FixedDecimal.string($0 * 100, decimals: 4) + "%" } ?? "-", 18)
            + left(b.gap.map { FixedDecimal.string($0 * 100, decimals: 4) + "%" } ?? "-", 18) + "\n"
        s += pad("offers made", 22) + left("\(a.offersMade)", 18) + left("\(b.offersMade)", 18) + left(signed(b.offersMade - a.offersMade), 18) + "\n"
        s += pad("customers with offers", 22) + left("\(a.customersWithOffers)", 18) + left("\(b.customersWithOffers)", 18)
            + left(signed(b.customersWithOffers - a.customersWithOffers), 18) + "\n"
        let t = topOffer
        s += "\ntop offer (rank 1) changed for \(t.changed) of \(t.customers) customers with a list in either run ("
            + FixedDecimal.string(t.share * 100, decimals: 2) + "%); \(t.gained) have a list only in B, \(t.lost) only in A\n"
        for (title, counts) in [("product", byProduct), ("offer", byOffer), ("channel", byChannel), ("region", byRegion), ("segment", bySegment)] {
            s += "\n" + pad("offers by " + title, 30) + left("A", 12) + left("B", 12) + left("change", 12) + "\n"
            for c in counts { s += "  " + pad(c.name, 28) + left("\(c.a)", 12) + left("\(c.b)", 12) + left(signed(c.delta), 12) + "\n" }
        }
        if let shifts {
            s += "\npropensity shift per offer (PSI over run A's \(Self.psiBins) deciles; < 0.1 stable, 0.1-0.25 moderate, > 0.25 large)\n"
            for x in shifts {
                s += "  " + pad(x.offer, 28) + pad(x.model, 20) + left(x.psi.map { FixedDecimal.string($0, decimals: 6) } ?? "-", 12) + "\n"
            }
        }
        if !constraints.isEmpty {
            s += "\n" + pad("constraint", 40) + left("used A", 14) + left("used B", 14) + left("max A", 12) + left("max B", 12)
                + left("price A", 14) + left("price B", 14) + "\n"
            for c in constraints {
                let d = c.kind == "budget" ? 2 : 0
                s += "  " + pad(c.kind == c.name || c.kind.isEmpty ? c.name : c.kind + " " + c.name, 38) + left(num(c.usedA, d), 14) + left(num(c.usedB, d), 14)
                    + left(num(c.maxA, d), 12) + left(num(c.maxB, d), 12) + left(num(c.priceA, 6), 14) + left(num(c.priceB, 6), 14) + "\n"
            }
        }
        for n in notes { s += "\nnote: \(n)" }
        if !notes.isEmpty { s += "\n" }
        return s
    }
}
