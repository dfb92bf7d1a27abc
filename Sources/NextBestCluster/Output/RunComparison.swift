import Foundation
import Synchronization
import NextBestCore
import NextBestStore

/// Two finished kept runs side by side ("what changed since last night"), for `nextbest runs compare` and
/// for the `since_last_night` field of a run's `summary.json` (and so its report): offers given by product,
/// offer, channel, region and segment in both runs; the customers whose top offer (rank 1) changed; each
/// offer's propensity distribution shift as a population stability index (PSI); each constraint's use and
/// price; the objective and gap. `trend` lists every kept night's headline figures.
///
/// Everything streams shard by shard: the two runs' lists are walked together in customer-id order holding
/// one shard of each at a time (the runs' shards need not match), and the PSI needs only a histogram per
/// model and run, filled from one shard's propensity file at a time.
///
/// **PSI** (docs/operations.md): for an offer whose model scored every customer in both runs, run A's
/// propensities under that model are cut into 10 bins at A's deciles (bins that would repeat an edge, where
/// many customers share a value, merge, so there may be fewer); with `a_i` and `b_i` the share of A's and
/// B's customers in bin `i`, each raised to at least ε = 0.0001 so an empty bin stays finite,
/// `PSI = Σ_i (b_i − a_i) · ln(b_i / a_i)`. It is 0 for identical distributions; by the usual rule of thumb
/// below 0.1 is stable, 0.1–0.25 a moderate shift and above 0.25 a large one. The deciles are found on a
/// histogram of the float's top 16 bits (about 1/128 of a power of two wide), exact enough for the bins.
public struct RunComparison: Sendable {
    /// Why two runs cannot be compared.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The run has not finished (state other than `done`).
        case notFinished(run: String, state: String)
        /// A shard's kept lists are missing.
        case missingShard(run: String, shard: Int, shards: Int)
        /// A shard's kept lists cannot be read.
        case damagedLists(run: String, shard: Int, reason: String)

        public var description: String {
            switch self {
            case let .notFinished(run, state):
                return "run \(run) is not finished (state '\(state)'): compare finished runs (`nextbest runs list` shows their state), or finish it with `nextbest run --resume \(run)`"
            case let .missingShard(run, shard, shards):
                return "run \(run): the kept lists of shard \(shard) (of \(shards)) are missing from the store; it cannot be compared (see `nextbest runs show \(run)`)"
            case let .damagedLists(run, shard, reason):
                return "run \(run): the kept lists of shard \(shard) are damaged (\(reason)); it cannot be compared"
            }
        }
    }

    /// The names the kept totals are counted under: the store's current campaign (offer → product and
    /// model, offers in campaign order as the run's totals count them) and its region and segment codes.
    public struct Catalogue: Sendable {
        public var offers: [String]
        public var productOf: [String: String]
        public var modelOf: [String: String]
        public var regions: [String]
        public var segments: [String]
        public var campaignVersion: Int?

        public init(campaign: Campaign?, campaignVersion: Int?, regions: [String], segments: [String]) {
            offers = campaign?.offers.map(\.id) ?? []
            productOf = Dictionary(campaign?.offers.map { ($0.id, $0.product) } ?? []) { a, _ in a }
            modelOf = Dictionary(campaign?.offers.map { ($0.id, $0.model) } ?? []) { a, _ in a }
            self.regions = regions; self.segments = segments; self.campaignVersion = campaignVersion
        }

        /// The catalogue of the store `store` as it is now.
        public init(store: Store) throws {
            let (campaign, version, regions, segments) = try store.env.read { txn in
                (try store.campaign(in: txn), try store.campaignVersion(in: txn), try store.regions(in: txn), try store.segments(in: txn))
            }
            self.init(campaign: campaign, campaignVersion: version, regions: regions.names, segments: segments.names)
        }
    }

    /// One run's identity and headline figures.
    public struct Side: Sendable {
        public var run: String
        public var started: String
        public var customers: Int64
        public var customersWithOffers: Int64
        public var offersMade: Int64
        public var objective: Double?
        public var gap: Double?
        public var campaignVersion: Int?
        public var modelVersions: [String: Int]
    }

    /// A category's offers in run A and run B.
    public struct Count: Sendable, Equatable {
        public var name: String
        public var a: Int64
        public var b: Int64
        public var delta: Int64 { b - a }
    }

    /// The customers whose top offer (the offer at rank 1; the channel is not compared) differs.
    public struct TopOffer: Sendable, Equatable {
        /// Customers with a list in either run.
        public var customers: Int64 = 0
        /// Customers whose rank-1 offer differs, those with a list in only one run included.
        public var changed: Int64 = 0
        /// Customers with a list in run B only, and in run A only.
        public var gained: Int64 = 0
        public var lost: Int64 = 0
        /// `changed` over `customers` (0 without customers).
        public var share: Double { customers > 0 ? Double(changed) / Double(customers) : 0 }
    }

    /// An offer's propensity distribution shift: its model's propensities over every customer of each run.
    public struct Shift: Sendable {
        public var offer: String
        public var model: String
        /// nil when the model's propensities are not kept for both runs.
        public var psi: Double?
        public var customersA: Int64
        public var customersB: Int64
    }

    /// A constraint's use and shadow price (dual) in both runs, as their summaries show them.
    public struct Constraint: Sendable {
        public var key: String
        public var kind: String
        public var name: String
        public var usedA, usedB, priceA, priceB, maxA, maxB: Double?
    }

    public var a: Side
    public var b: Side
    public var byProduct: [Count]
    public var byOffer: [Count]
    public var byChannel: [Count]
    public var byRegion: [Count]
    public var bySegment: [Count]
    public var topOffer: TopOffer
    /// Per offer; nil when the PSI was not computed (`psi: false`).
    public var shifts: [Shift]?
    public var constraints: [Constraint]
    /// What could not be compared, in words.
    public var notes: [String]

    /// The PSI's bins and the floor of a bin's share.
    public static let psiBins = 10
    public static let psiEpsilon = 1e-4

    /// Compares finished runs `a` (the earlier, the reference) and `b` of `journal`; with `psi`, reads both
    /// runs' propensity files for the PSI (the costly part: every customer's propensity under every model).
    ///
    /// With `running`, run `b` is the one being merged: its lists are not read from the store but taken
    /// from `running` shard by shard (it may wait for the merge), and `b` need not be finished. With
    /// `readA`, run `a`'s lists are taken from there shard by shard (read once by another reader).
    ///
    /// Without `topOffers` the customers are not walked, only the shards' tables and totals read, and
    /// `topOffer` is left empty for the caller, who tallied it elsewhere (a rescore's changes.csv walks the
    /// same two runs' customers: `Changes.Written.topOffer`).
    public static func compare(journal: RunRepository, a: UInt64, b: UInt64, catalogue: Catalogue, psi: Bool = true,
                               topOffers: Bool = true,
                               running: ((Int) throws -> (lists: [UInt8], totals: RunTotals))? = nil,
                               readA: ((Int) throws -> (lists: [UInt8], totals: RunTotals))? = nil) throws -> RunComparison {
        let planA = try finishedPlan(journal, a), planB = running == nil ? try finishedPlan(journal, b) : try journal.plan(b)
        let names = NameTable()
        func walk(_ plan: RunRepository.Plan, _ given: ((Int) throws -> (lists: [UInt8], totals: RunTotals))?) throws -> KeptListsWalk {
            try given.map { KeptListsWalk(plan: plan, names: names, customers: topOffers, source: $0) }
                ?? KeptListsWalk(journal: journal, plan: plan, names: names, customers: topOffers)
        }
        let wa = try walk(planA, readA), wb = try walk(planB, running)
        var top = TopOffer()
        // Both walks at a shard's end decode their next shards on two threads.
        func advance() throws {
            guard wa.needsShard && wb.needsShard else { return }
            let failure = Mutex<(any Error)?>(nil)
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                do { try (i == 0 ? wa : wb).loadNextShard() } catch { failure.withLock { $0 = $0 ?? error } }
            }
            if let e = failure.withLock({ $0 }) { throw e }
        }
        try advance()
        // Shard by shard, both runs in step (a run's shards are not held while the other's are read).
        while !topOffers && (wa.needsShard || wb.needsShard) {
            if wa.needsShard { try wa.loadNextShard() }
            if wb.needsShard { try wb.loadNextShard() }
        }
        var x = try wa.next(), y = try wb.next()
        while x != nil || y != nil {
            let id = min(x?.id ?? .max, y?.id ?? .max)
            let inA = x?.id == id, inB = y?.id == id
            top.customers += 1
            if !inA { top.gained += 1 } else if !inB { top.lost += 1 }
            if !inA || !inB || x!.top != y!.top { top.changed += 1 }
            try advance()
            if inA { x = try wa.next() }
            if inB { y = try wb.next() }
        }
        var notes: [String] = []
        func at(_ counts: [Int64], _ i: Int) -> Int64 { i < counts.count ? counts[i] : 0 }
        let offers = names.offers.indices.map { Count(name: names.offers[$0], a: at(wa.offerCounts, $0), b: at(wb.offerCounts, $0)) }
        var products: [String: (Int64, Int64)] = [:], productOrder: [String] = []
        for o in offers {
            let p = catalogue.productOf[o.name] ?? "(offer not in the current campaign)"
            if products[p] == nil { productOrder.append(p) }
            products[p, default: (0, 0)].0 += o.a
            products[p, default: (0, 0)].1 += o.b
        }
        if catalogue.campaignVersion != planA.campaignVersion || catalogue.campaignVersion != planB.campaignVersion {
            notes.append("the campaign changed since one of the runs: products are named by the current campaign's offers")
        }
        var shifts: [Shift]? = nil
        if psi {
            let ha = try ModelHistograms(journal: journal, plan: planA), hb = try ModelHistograms(journal: journal, plan: planB)
            for (run, h) in [(planA.run, ha), (planB.run, hb)] where !h.missingShards.isEmpty {
                notes.append("run \(RunRepository.name(run)) keeps no propensities for shard(s) \(h.missingShards.map(String.init).joined(separator: ", ")): no PSI")
            }
            let complete = ha.missingShards.isEmpty && hb.missingShards.isEmpty
            shifts = catalogue.offers.compactMap { offer in
                guard let model = catalogue.modelOf[offer] else { return nil }
                let fa = ha.bins[model], fb = hb.bins[model]
                return Shift(offer: offer, model: model, psi: complete ? fa.flatMap { fa in fb.flatMap { populationStability(fa, $0) } } : nil,
                             customersA: fa?.reduce(0, +) ?? 0, customersB: fb?.reduce(0, +) ?? 0)
            }
        }
        return RunComparison(
            a: try side(journal, planA, wa), b: try side(journal, planB, wb),
            byProduct: productOrder.map { Count(name: $0, a: products[$0]!.0, b: products[$0]!.1) },
            byOffer: offers,
            byChannel: names.channels.indices.map { Count(name: names.channels[$0], a: at(wa.channelCounts, $0), b: at(wb.channelCounts, $0)) },
            byRegion: codeCounts(catalogue.regions, wa.totals.byRegion, wb.totals.byRegion),
            bySegment: codeCounts(catalogue.segments, wa.totals.bySegment, wb.totals.bySegment),
            topOffer: top, shifts: shifts,
            constraints: try constraints(journal.outcome(planA.run), journal.outcome(planB.run)), notes: notes)
    }

    /// The plan of a finished run (`Failure.notFinished` otherwise).
    static func finishedPlan(_ journal: RunRepository, _ run: UInt64) throws -> RunRepository.Plan {
        let plan = try journal.plan(run)
        let state = try journal.state(run) ?? "unknown"
        guard state == "done" else { throw Failure.notFinished(run: RunRepository.name(run), state: state) }
        return plan
    }

    static func side(_ journal: RunRepository, _ plan: RunRepository.Plan, _ walk: KeptListsWalk) throws -> Side {
        let o = try journal.outcome(plan.run)
        return Side(run: RunRepository.name(plan.run), started: plan.started, customers: Int64(plan.customers.reduce(0, +)),
                    customersWithOffers: walk.totals.customersWithOffers, offersMade: walk.totals.offersMade,
                    objective: o?.objective, gap: o?.gap, campaignVersion: plan.campaignVersion, modelVersions: plan.modelVersions ?? [:])
    }

    /// Counts by code, named by `names` ("code N" beyond them).
    static func codeCounts(_ names: [String], _ a: [Int64], _ b: [Int64]) -> [Count] {
        (0..<max(names.count, a.count, b.count)).map { i in
            Count(name: i < names.count ? names[i] : "code \(i)", a: i < a.count ? a[i] : 0, b: i < b.count ? b[i] : 0)
        }
    }

    /// The constraints of both outcomes' `optimization` sections, paired by key (A's order, then B's own).
    static func constraints(_ a: RunRepository.Outcome?, _ b: RunRepository.Outcome?) -> [Constraint] {
        func rows(_ o: RunRepository.Outcome?) -> [[String: Any]] {
            guard let o, let top = try? JSONSerialization.jsonObject(with: Data(o.optimizationJSON.utf8)) as? [String: Any] else { return [] }
            return top["constraints"] as? [[String: Any]] ?? []
        }
        func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
        var out: [Constraint] = [], at: [String: Int] = [:]
        for (side, list) in [(0, rows(a)), (1, rows(b))] {
            for r in list {
                guard let key = r["key"] as? String else { continue }
                if at[key] == nil {
                    at[key] = out.count
                    out.append(Constraint(key: key, kind: r["kind"] as? String ?? "", name: r["name"] as? String ?? key))
                }
                let i = at[key]!
                if side == 0 { out[i].usedA = number(r["used"]); out[i].priceA = number(r["price"]); out[i].maxA = number(r["max"]) }
                else { out[i].usedB = number(r["used"]); out[i].priceB = number(r["price"]); out[i].maxB = number(r["max"]) }
            }
        }
        return out
    }

    // MARK: PSI

    /// Bins of the histogram the deciles are read from: a non-negative float's top 16 bits (up to 1.0).
    static let fineBins = Int(Float(1).bitPattern >> 16) + 1

    /// A propensity's fine bin (negative and NaN in bin 0, above 1 in the last).
    @inline(__always)
    static func fineBin(_ p: Float) -> Int { p > 0 ? min(Int(p.bitPattern >> 16), fineBins - 1) : 0 }

    /// The PSI of fine histogram `b` against `a` (see the type's doc); nil when either is empty.
    public static func populationStability(_ a: [Int64], _ b: [Int64], bins: Int = psiBins, epsilon: Double = psiEpsilon) -> Double? {
        let na = a.reduce(0, +), nb = b.reduce(0, +)
        guard na > 0, nb > 0, a.count == b.count else { return nil }
        // The last fine bin of each decile bin of A.
        var uppers: [Int] = [], seen: Int64 = 0, k = 1
        for (i, c) in a.enumerated() {
            seen += c
            while k < bins, seen * Int64(bins) >= Int64(k) * na {
                if uppers.last != i { uppers.append(i) }
                k += 1
            }
        }
        if uppers.last != a.count - 1 { uppers.append(a.count - 1) }
        var psi = 0.0, lower = 0
        for u in uppers {
            let pa = max(Double(a[lower...u].reduce(0, +)) / Double(na), epsilon)
            let pb = max(Double(b[lower...u].reduce(0, +)) / Double(nb), epsilon)
            psi += (pb - pa) * log(pb / pa)
            lower = u + 1
        }
        return psi
    }

    /// A run's kept propensities as one fine histogram per model, read one shard's file at a time.
    struct ModelHistograms {
        var bins: [String: [Int64]] = [:]
        var missingShards: [Int] = []

        init(journal: RunRepository, plan: RunRepository.Plan) throws {
            for s in plan.lower.indices {
                guard let kept = try journal.propensities(plan.run, shard: s) else { missingShards.append(s); continue }
                let m = kept.models.count
                guard m > 0 else { continue }
                for (j, model) in kept.models.enumerated() {
                    var h = bins[model] ?? [Int64](repeating: 0, count: RunComparison.fineBins)
                    h.withUnsafeMutableBufferPointer { h in
                        kept.values.withUnsafeBufferPointer { v in
                            var i = j
                            while i < v.count { h[RunComparison.fineBin(v[i])] += 1; i += m }
                        }
                    }
                    bins[model] = h
                }
            }
        }
    }

    // MARK: Trend

    /// One kept night's headline figures.
    public struct Night: Sendable {
        public var run: String
        public var started: String
        public var state: String
        public var objective: Double?
        public var gap: Double?
        public var customersWithOffers: Int64
        public var offersMade: Int64
        /// Offers made per offer (the current campaign's offers), when the run used the current campaign.
        public var byOffer: [(offer: String, count: Int64)]?
    }

    /// Every finished kept run, oldest first, from its kept totals (the lists are not read).
    public static func trend(journal: RunRepository, catalogue: Catalogue) throws -> [Night] {
        try journal.entries().filter { $0.state == "done" }.map { e in
            var t = RunTotals(offers: 0, products: 0, channels: 0, regions: 0, segments: 0)
            for s in e.plan.lower.indices {
                guard let kept = try journal.mergedTotals(e.plan.run, shard: s) else {
                    throw Failure.missingShard(run: RunRepository.name(e.plan.run), shard: s, shards: e.plan.lower.count)
                }
                t.merge(kept)
            }
            let sameCampaign = e.plan.campaignVersion == catalogue.campaignVersion && t.byOffer.count == catalogue.offers.count
            return Night(run: RunRepository.name(e.plan.run), started: e.plan.started, state: e.state, objective: e.outcome?.objective,
                         gap: e.outcome?.gap, customersWithOffers: t.customersWithOffers, offersMade: t.offersMade,
                         byOffer: sameCampaign ? zip(catalogue.offers, t.byOffer).map { ($0, $1) } : nil)
        }
    }

    /// The finished run kept before `run` (by start time), if any: "last night" for `run`, which need not be
    /// finished itself (a run being merged; a resumed run is not compared with a run started after it).
    public static func previous(to run: UInt64, journal: RunRepository) throws -> UInt64? {
        let all = try journal.entries()
        guard let i = all.firstIndex(where: { $0.plan.run == run }) else { return all.last { $0.state == "done" }?.plan.run }
        return all[..<i].last { $0.state == "done" }?.plan.run
    }
}

// MARK: - Walking a run's lists

/// Offer ids and channel names met in either run's lists, each given one index for both runs (two walks
/// may load shards on two threads: the tables are under a lock).
final class NameTable: @unchecked Sendable {
    private var offerNames: [String] = []
    private var channelNames: [String] = []
    private var offerIndex: [String: Int] = [:]
    private var channelIndex: [String: Int] = [:]
    private let lock = NSLock()

    var offers: [String] { lock.withLock { offerNames } }
    var channels: [String] { lock.withLock { channelNames } }
    func offer(_ name: String) -> Int { lock.withLock { Self.index(name, &offerNames, &offerIndex) } }
    func channel(_ name: String) -> Int { lock.withLock { Self.index(name, &channelNames, &channelIndex) } }

    private static func index(_ name: String, _ names: inout [String], _ index: inout [String: Int]) -> Int {
        if let i = index[name] { return i }
        index[name] = names.count
        names.append(name)
        return names.count - 1
    }
}

/// A run's kept lists, customer by customer in id order across its shards. A shard is decoded whole when
/// the walk reaches it (ids and rank-1 offers into two arrays, in one tight loop), so one shard of each run
/// is in memory at a time; `compare` decodes the two runs' next shards on two threads. Counts every row's
/// offer and channel (by `NameTable` index) and sums the shards' totals.
///
/// The walk is used from one thread at a time (`compare` loads on two threads, each walk on its own): its
/// per-customer state is not checked for exclusive access at run time, which cost a third of the walk.
final class KeptListsWalk: @unchecked Sendable {
    let plan: RunRepository.Plan
    let names: NameTable
    /// Shard `s`'s lists and totals (nil: not kept).
    let source: (Int) throws -> (lists: [UInt8], totals: RunTotals)?
    /// Whether customers are decoded (`next()`), or only counted when the totals do not count them.
    let customers: Bool
    private(set) var offerCounts: [Int64] = []
    private(set) var channelCounts: [Int64] = []
    private(set) var totals = RunTotals(offers: 0, products: 0, channels: 0, regions: 0, segments: 0)
    @exclusivity(unchecked) private var shard = -1
    @exclusivity(unchecked) private var ids: [UInt64] = []
    /// Per customer its rank-1 offer (`NameTable` index), -1 for an empty list.
    @exclusivity(unchecked) private var tops: [Int32] = []
    @exclusivity(unchecked) private var position = 0

    /// A finished run's walk over its lists kept in `journal` (every shard must be kept).
    convenience init(journal: RunRepository, plan: RunRepository.Plan, names: NameTable, customers: Bool = true) throws {
        for s in plan.lower.indices where try !journal.hasMergedRows(plan.run, shard: s) {
            throw RunComparison.Failure.missingShard(run: RunRepository.name(plan.run), shard: s, shards: plan.lower.count)
        }
        let run = plan.run
        self.init(plan: plan, names: names, customers: customers, source: { try journal.mergedRows(run, shard: $0) })
    }

    /// A walk over lists handed by `source`. Without `customers` it yields no customer (`next()` is nil once
    /// every shard is loaded): only the counts and totals are made.
    init(plan: RunRepository.Plan, names: NameTable, customers: Bool = true, source: @escaping (Int) throws -> (lists: [UInt8], totals: RunTotals)?) {
        self.plan = plan; self.names = names; self.customers = customers; self.source = source
    }

    /// Whether `next()` would decode a shard first (the current one is used up and another follows).
    var needsShard: Bool { position >= ids.count && shard + 1 < plan.lower.count }

    /// Decodes the next shard (see `needsShard`).
    func loadNextShard() throws { try load(shard + 1) }

    /// The next customer with a list: its id and its rank-1 offer (nil for an empty list); nil at the end.
    func next() throws -> (id: UInt64, top: Int?)? {
        while position >= ids.count {
            guard shard + 1 < plan.lower.count else { return nil }
            try load(shard + 1)
        }
        defer { position += 1 }
        let t = tops[position]
        return (ids[position], t < 0 ? nil : Int(t))
    }

    private func damaged(_ error: NBALists.Failure) -> RunComparison.Failure {
        .damagedLists(run: RunRepository.name(plan.run), shard: shard, reason: error.description)
    }

    /// Moves to shard `s` and decodes it: its customers' ids and rank-1 offers, its rows counted.
    private func load(_ s: Int) throws {
        shard = s
        ids.removeAll(keepingCapacity: true)
        tops.removeAll(keepingCapacity: true)
        position = 0
        guard let kept = try source(s) else {
            throw RunComparison.Failure.missingShard(run: RunRepository.name(plan.run), shard: s, shards: plan.lower.count)
        }
        totals.merge(kept.totals)
        do throws(NBALists.Failure) {
            try kept.lists.withUnsafeBufferPointer { b throws(NBALists.Failure) in
                var r = try NBALists.Reader(b)
                let offerMap = r.offers.map { names.offer(String(decoding: r.name($0), as: UTF8.self)) }
                let channelMap = r.channels.map { names.channel(String(decoding: r.name($0), as: UTF8.self)) }
                let n = max(offerMap.max() ?? -1, offerCounts.count - 1) + 1, m = max(channelMap.max() ?? -1, channelCounts.count - 1) + 1
                if offerCounts.count < n { offerCounts += Array(repeating: 0, count: n - offerCounts.count) }
                if channelCounts.count < m { channelCounts += Array(repeating: 0, count: m - channelCounts.count) }
                var byOffer = [Int64](repeating: 0, count: offerMap.count), byChannel = [Int64](repeating: 0, count: channelMap.count)
                // The shard's totals count its rows by offer and channel in its tables' order (`NBAWriter`) when
                // they are sized for those tables: then only each customer's first row is read and the others
                // skipped (`Reader.row` was a third of this walk's samples on a 10 M rescore). Otherwise every
                // row is counted here.
                let counted = kept.totals.byOffer.count == offerMap.count && kept.totals.byChannel.count == channelMap.count
                if counted { byOffer = kept.totals.byOffer; byChannel = kept.totals.byChannel }
                let listed = Int(max(0, min(kept.totals.customersWithOffers, Int64(b.count))))
                if customers { ids.reserveCapacity(listed); tops.reserveCapacity(listed) }
                // Without customers to decode, counted rows need no walk.
                while customers || !counted, let c = try r.customer() {
                    var top: Int32 = -1
                    if counted {
                        if c.rows > 0 { top = Int32(offerMap[try r.rowPlace().offer]); try r.skipRows(c.rows - 1) }
                    } else {
                        for k in 0..<c.rows {
                            let row = try r.rowPlace()
                            byOffer[row.offer] += 1
                            byChannel[row.channel] += 1
                            if k == 0 { top = Int32(offerMap[row.offer]) }
                        }
                    }
                    if customers { ids.append(c.id); tops.append(top) }
                }
                for (i, o) in offerMap.enumerated() { offerCounts[o] += byOffer[i] }
                for (i, ch) in channelMap.enumerated() { channelCounts[ch] += byChannel[i] }
            }
        } catch { throw damaged(error) }
    }
}

// MARK: - JSON

extension RunComparison {
    /// The comparison as `nextbest runs compare --json` prints it and `summary.json`'s `since_last_night` holds
    /// it (docs/operations.md).
    public var json: JSONText {
        func num(_ v: Double?, _ d: Int) -> JSONText { v.map { $0.isFinite ? .fixed($0, decimals: d) : .null } ?? .null }
        func side(_ s: Side) -> JSONText {
            .object([("run_id", .string(s.run)), ("started", .string(s.started)), ("customers", .int(s.customers)),
                     ("customers_with_offers", .int(s.customersWithOffers)), ("offers_made", .int(s.offersMade)),
                     ("objective", num(s.objective, 4)), ("gap", num(s.gap, 8)),
                     ("campaign_version", s.campaignVersion.map { .int(Int64($0)) } ?? .null),
                     ("model_versions", .object(s.modelVersions.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) }))])
        }
        func counts(_ c: [Count]) -> JSONText {
            .array(c.map { .object([("name", .string($0.name)), ("a", .int($0.a)), ("b", .int($0.b)), ("delta", .int($0.delta))]) })
        }
        let delta = a.objective.flatMap { x in b.objective.map { $0 - x } }
        return .object([
            ("run_a", side(a)), ("run_b", side(b)),
            ("objective", .object([("a", num(a.objective, 4)), ("b", num(b.objective, 4)), ("delta", num(delta, 4))])),
            ("gap", .object([("a", num(a.gap, 8)), ("b", num(b.gap, 8))])),
            ("offers_made", .object([("a", .int(a.offersMade)), ("b", .int(b.offersMade)), ("delta", .int(b.offersMade - a.offersMade))])),
            ("top_offer", .object([("customers", .int(topOffer.customers)), ("changed", .int(topOffer.changed)),
                                   ("share", .fixed(topOffer.share, decimals: 6)), ("gained", .int(topOffer.gained)), ("lost", .int(topOffer.lost))])),
            ("by_product", counts(byProduct)), ("by_offer", counts(byOffer)), ("by_channel", counts(byChannel)),
            ("by_region", counts(byRegion)), ("by_segment", counts(bySegment)),
            ("psi", shifts.map { s in .object([
                ("bins", .int(Int64(Self.psiBins))), ("epsilon", .fixed(Self.psiEpsilon, decimals: 4)),
                ("offers", .array(s.map { .object([("offer_id", .string($0.offer)), ("model", .string($0.model)), ("psi", num($0.psi, 6)),
                                                   ("customers_a", .int($0.customersA)), ("customers_b", .int($0.customersB))]) })),
            ]) } ?? .null),
            ("constraints", .array(constraints.map { c in .object([
                ("key", .string(c.key)), ("kind", .string(c.kind)), ("name", .string(c.name)),
                ("used_a", num(c.usedA, 2)), ("used_b", num(c.usedB, 2)), ("max_a", num(c.maxA, 2)), ("max_b", num(c.maxB, 2)),
                ("price_a", num(c.priceA, 6)), ("price_b", num(c.priceB, 6)),
            ]) })),
            ("notes", .array(notes.map { .string($0) })),
        ])
    }

    /// The kept nights as `summary.json`'s `trend` holds them, oldest first.
    public static func trendJSON(_ nights: [Night]) -> JSONText {
        .array(nights.map { n in .object([
            ("run_id", .string(n.run)), ("started", .string(n.started)),
            ("objective", n.objective.map { .fixed($0, decimals: 4) } ?? .null), ("gap", n.gap.map { .fixed($0, decimals: 8) } ?? .null),
            ("customers_with_offers", .int(n.customersWithOffers)), ("offers_made", .int(n.offersMade)),
            ("by_offer", n.byOffer.map { .object($0.map { ($0.offer, .int($0.count)) }) } ?? .null),
        ]) })
    }
}
