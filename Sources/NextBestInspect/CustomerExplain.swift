import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster

/// `nextbest explain`: one customer of a kept run, scored again from the store and set against the
/// run's final prices and its output. Says, for every (offer, channel) pair, the propensity, why it is
/// or is not eligible (channel minimum response rate, contact fatigue), its value after the prices in
/// force and why it was or was not chosen; and whether the choice at those prices is the run's list
/// (where it is not, the repair step changed the list to meet a cap).
public enum CustomerExplain {
    /// A customer that cannot be explained.
    public enum Failure: Error, CustomStringConvertible {
        case notOptimized(run: String, state: String)
        case unknownCustomer(UInt64, run: String)
        case noRows(run: String, shard: Int)
        public var description: String {
            switch self {
            case let .notOptimized(r, s):
                return "run \(r) has no final prices yet (state \(s)): finish it with `nextbest run --resume \(r)` or explain a finished run (`nextbest runs list`)"
            case let .unknownCustomer(id, r): return "customer \(id) is not in the store (nor in any shard of run \(r))"
            case let .noRows(r, s): return "the lists of shard \(s) of run \(r) are not kept (the run was pruned or not merged yet)"
            }
        }
    }

    /// One row of the run's nba.csv, as text.
    public struct OutputRow: Sendable, Equatable {
        public var rank: Int
        public var offer: String
        public var channel: String
        public var propensity: String
        public var expectedValue: String
    }

    /// The explanation with where it comes from.
    public struct Result: Sendable {
        public var run: String
        public var customer: UInt64
        public var shard: Int
        public var region: String
        public var segment: String
        public var explanation: CustomerExplanation
        /// The customer's rows in the run's nba.csv.
        public var output: [OutputRow]
        /// The store changed since the run (propensities are today's).
        public var storeChanged: Bool
        /// The choice at the final prices equals the run's list (as sets of (offer, channel)).
        public var choiceMatchesOutput: Bool
        /// Every output row's propensity and expected value, recomputed and formatted as nba.csv does,
        /// equals the row's text.
        public var valuesMatchOutput: Bool
    }

    /// Explains `customer` of `run` in the store at `storePath`.
    public static func explain(storePath: String, run: UInt64, customer: UInt64) throws -> Result {
        try explain(context: try RunContext(storePath: storePath), run: run, customer: customer)
    }

    /// Explains `customer` of `run` with the store and inputs of `context`.
    public static func explain(context: RunContext, run: UInt64, customer: UInt64) throws -> Result {
        let journal = RunRepository(store: context.store)
        let name = RunRepository.name(run)
        let plan = try journal.plan(run)
        guard let outcome = try journal.outcome(run) else { throw Failure.notOptimized(run: name, state: try journal.state(run) ?? "?") }
        guard let shard = plan.shardIndex(of: customer) else { throw Failure.unknownCustomer(customer, run: name) }
        // The contacts the run read: its history merged with the responses served up to its plan's bound.
        var scorer = ShardScorer(store: context.store, plan: context.plan, servedThrough: plan.servedBound)
        var found: (CustomerScorer, UInt16, UInt16)? = nil
        try scorer.forEachCustomer(lower: customer, upper: customer + 1) { id, region, segment, s in
            if id == customer { found = (s, region, segment) }
        }
        guard let (scored, region, segment) = found else { throw Failure.unknownCustomer(customer, run: name) }
        let features: [Float] = try context.store.env.read { txn in
            guard let v = try txn.get(context.store.profiles, key: ProfileCodec.key(customer)) else { throw Failure.unknownCustomer(customer, run: name) }
            return try v.withUnsafeBytes { try ProfileCodec.decodeProfile(id: customer, $0, featureCount: context.plan.schema.count).features }
        }
        let e = CustomerExplanation(scorer: scored, features: features, region: Int(region), segment: Int(segment),
                                    constraints: context.constraints, prices: outcome.prices)
        guard let rows = try journal.mergedCSV(run, shard: shard) else { throw Failure.noRows(run: name, shard: shard) }
        let output = Self.rows(of: customer, in: rows.csv)
        let chosen = Set(e.chosenAtPrices.map { "\($0.offer)/\($0.channel)" })
        let listed = Set(output.map { "\($0.offer)/\($0.channel)" })
        let valuesMatch = output.allSatisfy { row in
            guard let p = e.pairs.first(where: { $0.offer == row.offer && $0.channel == row.channel }), p.eligibility == .eligible else { return false }
            return FixedDecimal.string(Double(Float(p.propensity)), decimals: NBAFormat.propensityDecimals) == row.propensity
                && FixedDecimal.string(p.expectedValue, decimals: NBAFormat.valueDecimals) == row.expectedValue
        }
        return Result(run: name, customer: customer, shard: shard,
                      region: context.regions.names.indices.contains(Int(region)) ? context.regions.names[Int(region)] : "code \(region)",
                      segment: context.segments.names.indices.contains(Int(segment)) ? context.segments.names[Int(segment)] : "code \(segment)",
                      explanation: e, output: output, storeChanged: plan.fingerprint != context.fingerprint.digest,
                      choiceMatchesOutput: chosen == listed, valuesMatchOutput: valuesMatch)
    }

    /// The rows of `customer` in a shard's nba.csv rows (sorted by customer id).
    static func rows(of customer: UInt64, in csv: [UInt8]) -> [OutputRow] {
        let prefix = Array("\(customer),".utf8)
        var out: [OutputRow] = []
        var start = 0
        while start < csv.count {
            let end = csv[start...].firstIndex(of: UInt8(ascii: "\n")) ?? csv.count
            if end - start > prefix.count && csv[start..<(start + prefix.count)].elementsEqual(prefix) {
                let f = String(decoding: csv[start..<end], as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                if f.count == 6 { out.append(OutputRow(rank: Int(f[1]) ?? 0, offer: f[2], channel: f[3], propensity: f[4], expectedValue: f[5])) }
            } else if !out.isEmpty {
                break
            }
            start = end + 1
        }
        return out
    }
}

extension CustomerExplain.Result {
    /// The explanation as text for a terminal.
    public var text: String {
        let e = explanation
        var s = "customer \(customer), run \(run) (shard \(shard); region \(region), segment \(segment))\n"
        if storeChanged { s += "note: the store changed since this run; propensities below are computed from today's data\n" }
        s += "\nthe run's list (nba.csv):\n"
        if output.isEmpty { s += "  (no offers)\n" }
        for r in output { s += "  \(r.rank). \(r.offer) by \(r.channel): propensity \(r.propensity), expected value \(r.expectedValue)\n" }
        let chosen = e.chosenAtPrices.map { "\($0.offer) by \($0.channel)" }
        s += "\nchosen at the run's final prices: " + (chosen.isEmpty ? "nothing" : chosen.joined(separator: ", ")) + "\n"
        s += choiceMatchesOutput ? "  = the run's list\n" : "  ≠ the run's list: the repair step changed it so the campaign's caps hold\n"
        if !valuesMatchOutput { s += "  the recomputed propensities or expected values differ from nba.csv (models or profiles changed since the run)\n" }
        s += "\nprices in force (non-zero, on rows this customer's offers use):\n"
        if e.prices.isEmpty { s += "  none\n" }
        for p in e.prices { s += "  \(p.key): \(FixedDecimal.string(p.price, decimals: 6))\n" }
        s += "\nlimits: at most \(e.maxOffers) offers, \(e.maxPerFamily) per family\n\n"
        func pad(_ t: String, _ n: Int) -> String { t.padding(toLength: max(n, t.count), withPad: " ", startingAt: 0) }
        s += pad("offer", 6) + pad("channel", 13) + pad("propensity", 12) + pad("objective", 14) + pad("price", 12) + pad("after prices", 14) + "decision\n"
        for p in e.pairs {
            let decision: String
            switch p.eligibility {
            case .fatigued(let n, let limit, let days): decision = "not eligible: ignored \(n) times in the last \(days) days (limit \(limit))"
            case .belowThreshold(let m): decision = "not eligible: propensity below the channel's minimum response rate \(FixedDecimal.string(m, decimals: 4))"
            case .eligible: decision = p.chosenRank.map { "chosen at these prices (#\($0))" } ?? "not chosen: \(p.notChosen ?? "")"
            }
            s += pad(p.offer, 6) + pad(p.channel, 13) + pad(FixedDecimal.string(p.propensity, decimals: 6), 12)
                + pad(FixedDecimal.string(p.objective, decimals: 4), 14) + pad(FixedDecimal.string(p.priceCharge, decimals: 4), 12)
                + pad(FixedDecimal.string(p.adjusted, decimals: 4), 14) + decision + "\n"
        }
        return s
    }

    /// The explanation as JSON.
    public var json: String {
        let e = explanation
        func eligibility(_ x: CustomerExplanation.Eligibility) -> JSONText {
            switch x {
            case .eligible: return .object([("eligible", .bool(true))])
            case .belowThreshold(let m): return .object([("eligible", .bool(false)), ("reason", .string("threshold")), ("min_response_rate", .fixed(m, decimals: 6))])
            case let .fatigued(n, l, d): return .object([("eligible", .bool(false)), ("reason", .string("fatigue")), ("ignored", .int(Int64(n))),
                                                         ("limit", .int(Int64(l))), ("window_days", .int(Int64(d)))])
            }
        }
        return JSONText.object([
            ("run_id", .string(run)), ("customer_id", .int(Int64(customer))), ("shard", .int(Int64(shard))),
            ("region", .string(region)), ("segment", .string(segment)), ("store_changed", .bool(storeChanged)),
            ("output", .array(output.map { .object([("rank", .int(Int64($0.rank))), ("offer_id", .string($0.offer)), ("channel", .string($0.channel)),
                                                    ("propensity", .raw($0.propensity)), ("expected_value", .raw($0.expectedValue))]) })),
            ("chosen_at_final_prices", .array(e.chosenAtPrices.map { .object([("offer_id", .string($0.offer)), ("channel", .string($0.channel))]) })),
            ("choice_matches_output", .bool(choiceMatchesOutput)), ("values_match_output", .bool(valuesMatchOutput)),
            ("prices", .object(e.prices.map { ($0.key, .fixed($0.price, decimals: 9)) })),
            ("max_offers", .int(Int64(e.maxOffers))), ("max_per_family", .int(Int64(e.maxPerFamily))),
            ("pairs", .array(e.pairs.map { p in .object([
                ("offer_id", .string(p.offer)), ("product", .string(p.product)), ("family", .string(p.family)), ("channel", .string(p.channel)),
                ("propensity", .fixed(p.propensity, decimals: 9)), ("eligibility", eligibility(p.eligibility)),
                ("expected_value", .fixed(p.expectedValue, decimals: 6)), ("objective", .fixed(p.objective, decimals: 6)),
                ("cost", .fixed(p.cost, decimals: 4)), ("price_charge", .fixed(p.priceCharge, decimals: 6)), ("after_prices", .fixed(p.adjusted, decimals: 6)),
                ("chosen_rank", p.chosenRank.map { .int(Int64($0)) } ?? .null), ("not_chosen", p.notChosen.map { .string($0) } ?? .null),
            ]) })),
        ]).render()
    }
}
