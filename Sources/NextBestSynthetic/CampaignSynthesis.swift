import Foundation
import NextBestCore

/// What the campaign's offers would use, estimated on a sample of the population and scaled up to all
/// of it: without campaign-wide constraints, or under a budget alone. Arrays are aligned with the name
/// lists.
public struct UsageEstimate: Sendable, Equatable {
    /// Customers scored.
    public var sampled: Int
    /// Population size the counts are scaled to.
    public var population: Int
    /// The price per unit of cost the lists were chosen with (0 without a budget).
    public var budgetPrice: Double
    public var offersMade: Double
    public var cost: Double
    public var expectedValue: Double
    public var products: [String]
    public var productCounts: [Double]
    /// Aligned with the generator's `regions`.
    public var regionCounts: [Double]
    /// Aligned with the generator's `segments`.
    public var segmentCounts: [Double]
    public var channels: [String]
    public var channelCounts: [Double]
    public var channelCosts: [Double]
    /// Customers for whom fatigue removed at least one offer.
    public var fatiguedCustomers: Double
}

extension PopulationGenerator {
    /// The campaign without campaign-wide constraints: catalogue, per-customer limits (3 offers, or every
    /// offer when there are fewer, 1 per family), fatigue (`max_ignored` 2 or 3, by seed, within 90 days) and run date.
    public func baseCampaign() -> Campaign {
        var mix = SplitMix64(seed: seed ^ 0xFA71_6E00_0000_0001)
        let maxIgnored = 2 + Int(mix.next() % 2)
        return Campaign(objective: .expectedValue, offers: catalogue, perCustomer: .init(maxOffers: min(3, catalogue.count), maxPerFamily: 1),
                        fatigue: .init(maxIgnored: maxIgnored, windowDays: 90), constraints: Campaign.Constraints(), runDate: runDate)
    }

    /// Usage with the per-customer rules only (`CustomerScorer.selectUnconstrained`), estimated on
    /// `sample` customers spread evenly over the population (with their history).
    public func unconstrainedUsage(sample: Int = 2000) -> UsageEstimate {
        let s = SampledCandidates(self, sample: sample)
        return s.usage(s.zeroPrices)
    }

    /// Usage under a budget alone: every customer's list chosen by objective − price × cost, with the
    /// smallest price at which the sample's cost (scaled) is within `budget`.
    public func usage(sample: Int = 2000, budget: Double) -> UsageEstimate {
        let s = SampledCandidates(self, sample: sample)
        var prices = s.zeroPrices
        prices.budget = s.price(prices, target: budget, set: { $0.budget = $1 }, measure: { $0.cost })
        return s.usage(prices)
    }

    /// The campaign with caps of every kind, binding but feasible, set from `sample` customers spread
    /// over the population (scaled up to it).
    ///
    /// The caps are built from prices, as the optimizer sees them: each resource gets a price, every
    /// sampled customer's list maximizes objective minus priced use (the per-customer rule), and each cap
    /// is then set to (98% of) the use at the final prices. As every price is positive there, every cap
    /// binds, and the sample's lists show the caps can be met. The prices are found one after another,
    /// each by bisection:
    /// 1. channel `direct_mail`: its count down to 80% of its unconstrained count;
    /// 2. products: the three most-offered, each down to 70% of its count at that point;
    /// 3. region with most offers: down to 85% (a max); the next region gets a min at 50% of its count;
    /// 4. segment with most offers: down to 85% (a max);
    /// 5. budget: cost down to 66% of the unconstrained cost (or to 90% of the cost at that point if the
    ///    caps above already cut it below 67%).
    /// With the 98% margin the budget is about 65% of the unconstrained cost. Numbers are rounded down to
    /// three significant digits (whole numbers below 1000).
    public func campaign(estimatingFrom sample: Int = 2000) -> Campaign {
        var c = baseCampaign()
        let s = SampledCandidates(self, sample: sample)
        var prices = s.zeroPrices
        var u = s.usage(prices)
        let byCount = { (counts: [Double]) -> [Int] in
            counts.indices.sorted { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) }
        }
        let freeCost = u.cost
        let ch = u.channels.firstIndex(of: "direct_mail") ?? 0
        if !u.channels.isEmpty {
            prices.channel[ch] = s.price(prices, target: 0.8 * u.channelCounts[ch], set: { $0.channel[ch] = $1 }, measure: { $0.channelCounts[ch] })
            u = s.usage(prices)
        }
        let products = Array(byCount(u.productCounts).prefix(3))
        for p in products {
            prices.product[p] = s.price(prices, target: 0.7 * u.productCounts[p], set: { $0.product[p] = $1 }, measure: { $0.productCounts[p] })
            u = s.usage(prices)
        }
        let r = byCount(u.regionCounts)
        prices.region[r[0]] = s.price(prices, target: 0.85 * u.regionCounts[r[0]], set: { $0.region[r[0]] = $1 }, measure: { $0.regionCounts[r[0]] })
        u = s.usage(prices)
        let g = byCount(u.segmentCounts)
        prices.segment[g[0]] = s.price(prices, target: 0.85 * u.segmentCounts[g[0]], set: { $0.segment[g[0]] = $1 }, measure: { $0.segmentCounts[g[0]] })
        u = s.usage(prices)
        let budgetTarget = u.cost > 0.67 * freeCost ? 0.66 * freeCost : 0.9 * u.cost
        prices.budget = s.price(prices, target: budgetTarget, set: { $0.budget = $1 }, measure: { $0.cost })
        u = s.usage(prices)

        let margin = 0.98
        var k = Campaign.Constraints()
        k.budget = Double(Self.roundDown(margin * u.cost))
        if !u.channels.isEmpty {
            k.channels = [.init(name: u.channels[ch], bounds: .init(min: nil, max: Self.roundDown(margin * u.channelCounts[ch])))]
        }
        k.products = products.map {
            .init(name: u.products[$0], bounds: .init(min: nil, max: Self.roundDown(margin * u.productCounts[$0])))
        }.sorted { $0.name < $1.name }
        var regionRules: [Campaign.CountConstraint] = [.init(name: regions[r[0]], bounds: .init(min: nil, max: Self.roundDown(margin * u.regionCounts[r[0]])))]
        if r.count > 1 { regionRules.append(.init(name: regions[r[1]], bounds: .init(min: Self.roundDown(0.5 * u.regionCounts[r[1]]), max: nil))) }
        k.regions = regionRules.sorted { $0.name < $1.name }
        k.segments = [.init(name: segments[g[0]], bounds: .init(min: nil, max: Self.roundDown(margin * u.segmentCounts[g[0]])))]
        c.constraints = k
        return c
    }

    /// The campaign file (YAML) of `campaign(estimatingFrom:)`: `Campaign(document:)` of the parsed text
    /// gives that campaign back.
    public func campaignYAML(estimatingFrom sample: Int = 2000) -> String {
        CampaignDocument.yaml(campaign(estimatingFrom: sample))
    }

    /// Rounds down to a whole number with at most three significant digits (whole below 1000).
    static func roundDown(_ x: Double) -> Int {
        guard x.isFinite, x > 0 else { return 0 }
        var v = Int(x.rounded(.down))
        var p = 1
        while v / p >= 1000 { p *= 10 }
        v = v / p * p
        return v
    }
}

/// The eligible candidates of a sample of customers, scored once, so usage can be evaluated at any
/// budget price. The choice per customer is `CustomerScorer.select(adjusted:)`'s rule.
struct SampledCandidates {
    let population: Int
    let sampled: Int
    let products: [String]
    let channels: [String]
    let regionCount: Int
    let segmentCount: Int
    let maxOffers: Int
    let maxPerFamily: Int32
    let familyCount: Int
    var start: [Int] = [0]
    var offer: [UInt16] = []
    var channel: [UInt8] = []
    var objective: [Double] = []
    var cost: [Double] = []
    var expectedValue: [Double] = []
    var family: [Int32] = []
    var product: [Int32] = []
    var region: [UInt16] = []
    var segment: [UInt16] = []
    var fatigued = 0

    init(_ g: PopulationGenerator, sample: Int) {
        let plan: ScoringPlan
        do { plan = try ScoringPlan(campaign: g.baseCampaign(), schema: g.schema, models: g.propensityModels()) }
        catch { preconditionFailure("generated campaign does not compile: \(error)") }
        population = g.customers
        products = plan.products
        channels = plan.channels
        regionCount = g.regions.count
        segmentCount = g.segments.count
        maxOffers = plan.campaign.perCustomer.maxOffers
        maxPerFamily = Int32(plan.campaign.perCustomer.maxPerFamily)
        familyCount = plan.families.count
        var offerIndex: [String: Int] = [:]
        for (i, o) in plan.offers.enumerated() { offerIndex[o.id] = i }
        let n = min(max(sample, 0), g.customers)
        sampled = n
        var scorer = CustomerScorer(plan: plan)
        for k in 0..<n {
            let index = Int(UInt64(k) * UInt64(g.customers) / UInt64(n))
            let p = g.profile(at: index)
            scorer.begin()
            for e in g.history(at: index) {
                if let o = offerIndex[e.offerID] { scorer.recordContact(offer: o, day: e.day.daysSinceEpoch, outcome: e.outcome) }
            }
            p.features.withUnsafeBufferPointer { scorer.score($0) }
            if !scorer.fatiguedOffers.isEmpty { fatigued += 1 }
            for c in scorer.candidates {
                offer.append(c.offer)
                channel.append(c.channel)
                objective.append(scorer.objective(c))
                cost.append(plan.cost(of: c))
                expectedValue.append(scorer.expectedValue(c))
                family.append(Int32(plan.offers[Int(c.offer)].family))
                product.append(Int32(plan.offers[Int(c.offer)].product))
            }
            start.append(offer.count)
            region.append(p.region)
            segment.append(p.segment)
        }
    }

    /// Prices of resources: per unit of cost, per offer made on a channel, of a product, to a customer
    /// of a region or segment.
    struct Prices {
        var budget: Double
        var channel: [Double]
        var product: [Double]
        var region: [Double]
        var segment: [Double]
    }

    var zeroPrices: Prices {
        Prices(budget: 0, channel: Array(repeating: 0, count: channels.count), product: Array(repeating: 0, count: products.count),
               region: Array(repeating: 0, count: regionCount), segment: Array(repeating: 0, count: segmentCount))
    }

    /// The smallest price (by bisection) that brings `measure` of the usage to `target` or below, the
    /// other prices as in `prices`; 0 if it already is.
    func price(_ prices: Prices, target: Double, set: (inout Prices, Double) -> Void, measure: (UsageEstimate) -> Double) -> Double {
        func value(_ x: Double) -> Double { var p = prices; set(&p, x); return measure(usage(p)) }
        if value(0) <= target { return 0 }
        var hi = 1.0
        while value(hi) > target && hi < 1e9 { hi *= 4 }
        var lo = 0.0
        for _ in 0..<40 {
            let mid = (lo + hi) / 2
            if value(mid) > target { lo = mid } else { hi = mid }
        }
        return hi
    }

    /// Usage when every customer's list maximizes objective minus priced use under the per-customer limits.
    func usage(_ prices: Prices) -> UsageEstimate {
        var est = UsageEstimate(sampled: sampled, population: population, budgetPrice: prices.budget, offersMade: 0, cost: 0, expectedValue: 0,
                                products: products, productCounts: Array(repeating: 0, count: products.count),
                                regionCounts: Array(repeating: 0, count: regionCount),
                                segmentCounts: Array(repeating: 0, count: segmentCount),
                                channels: channels, channelCounts: Array(repeating: 0, count: channels.count),
                                channelCosts: Array(repeating: 0, count: channels.count), fatiguedCustomers: Double(fatigued))
        var order: [(index: Int, value: Double)] = []
        var familyUse = [Int32](repeating: 0, count: familyCount)
        let lambda = prices.budget
        for k in 0..<sampled {
            order.removeAll(keepingCapacity: true)
            let customerPrice = prices.region[Int(region[k])] + prices.segment[Int(segment[k])]
            @inline(__always) func adjusted(_ c: Int) -> Double {
                objective[c] - lambda * cost[c] - prices.channel[Int(channel[c])] - prices.product[Int(product[c])] - customerPrice
            }
            var i = start[k]
            let end = start[k + 1]
            while i < end {
                var best = i
                var bestValue = adjusted(i)
                var j = i + 1
                while j < end && offer[j] == offer[i] {
                    let v = adjusted(j)
                    if v > bestValue { best = j; bestValue = v }
                    j += 1
                }
                if bestValue > 0 { order.append((best, bestValue)) }
                i = j
            }
            order.sort { $0.value > $1.value || ($0.value == $1.value && $0.index < $1.index) }
            for f in 0..<familyCount { familyUse[f] = 0 }
            var made = 0
            for (c, _) in order {
                if made >= maxOffers { break }
                let f = Int(family[c])
                if familyUse[f] >= maxPerFamily { continue }
                familyUse[f] += 1
                made += 1
                est.offersMade += 1
                est.cost += cost[c]
                est.expectedValue += expectedValue[c]
                est.productCounts[Int(product[c])] += 1
                est.channelCounts[Int(channel[c])] += 1
                est.channelCosts[Int(channel[c])] += cost[c]
                est.regionCounts[Int(region[k])] += 1
                est.segmentCounts[Int(segment[k])] += 1
            }
        }
        guard sampled > 0 else { return est }
        let scale = Double(population) / Double(sampled)
        est.offersMade *= scale
        est.cost *= scale
        est.expectedValue *= scale
        est.fatiguedCustomers *= scale
        for i in est.productCounts.indices { est.productCounts[i] *= scale }
        for i in est.regionCounts.indices { est.regionCounts[i] *= scale }
        for i in est.segmentCounts.indices { est.segmentCounts[i] *= scale }
        for i in est.channelCounts.indices { est.channelCounts[i] *= scale; est.channelCosts[i] *= scale }
        return est
    }
}

/// Renders a `Campaign` as the campaign file schema (`ConfigValue` tree or YAML text).
public enum CampaignDocument {
    /// The document `Campaign(document:)` reads back as `c`.
    public static func document(_ c: Campaign) -> ConfigValue {
        var top: [(key: String, value: ConfigValue)] = []
        top.append(("objective", .string(c.objective.rawValue, line: nil)))
        var offers: [ConfigValue] = []
        for o in c.offers {
            var e: [(key: String, value: ConfigValue)] = [
                ("id", .string(o.id, line: nil)), ("product", .string(o.product, line: nil)),
                ("family", .string(o.family, line: nil)), ("model", .string(o.model, line: nil)),
            ]
            switch o.value {
            case .fixed(let v): e.append(("value", real(v)))
            case .column(let col): e.append(("value_column", .string(col, line: nil)))
            }
            e.append(("channels", .map(o.channels.map { r in
                (r.channel, .map([("min_propensity", real(r.minPropensity)), ("cost", real(r.cost))], line: nil))
            }, line: nil)))
            offers.append(.map(e, line: nil))
        }
        top.append(("offers", .array(offers, line: nil)))
        top.append(("per_customer", .map([("max_offers", integer(c.perCustomer.maxOffers)),
                                          ("max_per_family", integer(c.perCustomer.maxPerFamily))], line: nil)))
        if let f = c.fatigue {
            top.append(("fatigue", .map([("max_ignored", integer(f.maxIgnored)), ("window_days", integer(f.windowDays))], line: nil)))
        }
        let k = c.constraints
        if !k.isEmpty {
            var m: [(key: String, value: ConfigValue)] = []
            if let b = k.budget { m.append(("budget", b == b.rounded() && abs(b) < 1e15 ? integer(Int(b)) : real(b))) }
            for (name, list) in [("products", k.products), ("regions", k.regions), ("segments", k.segments), ("channels", k.channels)]
            where !list.isEmpty {
                m.append((name, .map(list.map { cc in
                    var b: [(key: String, value: ConfigValue)] = []
                    if let lo = cc.bounds.min { b.append(("min", integer(lo))) }
                    if let hi = cc.bounds.max { b.append(("max", integer(hi))) }
                    return (cc.name, .map(b, line: nil))
                }, line: nil)))
            }
            top.append(("constraints", .map(m, line: nil)))
        }
        top.append(("run_date", .string(c.runDate.description, line: nil)))
        return .map(top, line: nil)
    }

    /// The campaign as YAML text.
    public static func yaml(_ c: Campaign) -> String { yaml(document(c)) }

    /// A document as block YAML: mappings of scalars inline in flow style (`{min: 1, max: 2}`), every
    /// other mapping and list as blocks; strings quoted only where YAML would read them otherwise.
    public static func yaml(_ v: ConfigValue) -> String {
        var out = ""
        switch v {
        case .map(let entries, _):
            for (k, x) in entries { entry(k, x, indent: 0, firstPrefix: nil, into: &out) }
        default:
            out = scalarText(v) + "\n"
        }
        return out
    }

    private static func entry(_ key: String, _ v: ConfigValue, indent: Int, firstPrefix: String?, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        out += (firstPrefix ?? pad) + scalarString(key) + ":"
        switch v {
        case .map(let entries, _):
            if entries.allSatisfy({ isScalar($0.value) }) { out += " " + flow(v) + "\n"; return }
            out += "\n"
            for (k, x) in entries { entry(k, x, indent: indent + 2, firstPrefix: nil, into: &out) }
        case .array(let items, _):
            if items.allSatisfy(isScalar) { out += " " + flow(v) + "\n"; return }
            out += "\n"
            for item in items { listItem(item, indent: indent + 2, into: &out) }
        default:
            out += " " + scalarText(v) + "\n"
        }
    }

    private static func listItem(_ v: ConfigValue, indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        switch v {
        case .map(let entries, _) where !entries.isEmpty:
            for (i, (k, x)) in entries.enumerated() {
                entry(k, x, indent: indent + 2, firstPrefix: i == 0 ? pad + "- " : nil, into: &out)
            }
        default:
            out += pad + "- " + (isScalar(v) ? scalarText(v) : flow(v)) + "\n"
        }
    }

    private static func isScalar(_ v: ConfigValue) -> Bool {
        switch v {
        case .map, .array: return false
        default: return true
        }
    }

    private static func flow(_ v: ConfigValue) -> String {
        switch v {
        case .map(let entries, _): return "{" + entries.map { scalarString($0.key) + ": " + flow($0.value) }.joined(separator: ", ") + "}"
        case .array(let items, _): return "[" + items.map(flow).joined(separator: ", ") + "]"
        default: return scalarText(v)
        }
    }

    private static func scalarText(_ v: ConfigValue) -> String {
        switch v {
        case .string(let s, _): return scalarString(s)
        case .number(_, let text, _): return text
        case .bool(let b, _): return b ? "true" : "false"
        case .null: return "null"
        case .map, .array: return flow(v)
        }
    }

    private static let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"]

    /// A string as a YAML scalar: plain when it is an identifier-like word or a date, quoted otherwise.
    static func scalarString(_ s: String) -> String {
        let b = Array(s.utf8)
        func isWordByte(_ c: UInt8) -> Bool {
            (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 95 || c == 45 || c == 46
        }
        let isDate = b.count == 10 && CalendarDay(s) != nil
        if let f = b.first, (f >= 97 && f <= 122) || (f >= 65 && f <= 90) || f == 95, b.allSatisfy(isWordByte),
           !reserved.contains(s.lowercased()) { return s }
        if isDate { return s }
        var q = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": q += "\\\""
            case "\\": q += "\\\\"
            case "\n": q += "\\n"
            case "\t": q += "\\t"
            default:
                if ch.value < 0x20 { q += "\\x" + String(ch.value, radix: 16).leftPad(2) } else { q.unicodeScalars.append(ch) }
            }
        }
        return q + "\""
    }

    /// A real number, written so it reads back as the same Double and always as a YAML float (with a
    /// decimal point, never an exponent).
    static func real(_ d: Double) -> ConfigValue {
        var text = d.description
        if text.contains("e") || text.contains("E") || !d.isFinite {
            text = FixedDecimal.string(d, decimals: 10)
            while text.hasSuffix("0") && !text.hasSuffix(".0") { text.removeLast() }
        }
        return .number(d, text: text, line: nil)
    }

    static func integer(_ i: Int) -> ConfigValue { .number(Double(i), text: String(i), line: nil) }
}

private extension String {
    func leftPad(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
