import Foundation
import NextBestCore
import NextBestStore

/// Scores one shard of customers from the store: reads profiles and history in id order (a merge of two
/// cursors, and a third over the responses served up to the run's bound, `ServedWalk`), evaluates the models
/// a block of customers at a time, applies eligibility and fatigue, and keeps each customer's candidates for
/// the optimizer. One instance per thread.
public struct ShardScorer {
    public let store: Store
    public let plan: ScoringPlan
    /// The last served response (`ResponseRecorder` sequence number) the run reads: its plan's `servedThrough`.
    public let servedThrough: UInt64
    private var scorer: CustomerScorer
    /// The size of the last shard this scorer built, the guess for the next one's buffers.
    public var lastShape: Shape? = nil

    /// A shard's size: its customers and candidates.
    public struct Shape: Sendable {
        public var customers: Int
        public var candidates: Int
        public init(customers: Int, candidates: Int) { self.customers = customers; self.candidates = candidates }
    }

    public init(store: Store, plan: ScoringPlan, servedThrough: UInt64) {
        self.store = store
        self.plan = plan
        self.servedThrough = servedThrough
        scorer = CustomerScorer(plan: plan)
    }

    /// Customers scored together: models are evaluated tree-major over a block (see `BoundModel`). 64
    /// keeps a block's two row copies (2 × 64 × 40 features × 4 bytes = 20 KB at the standard workload) in
    /// the L1 cache while every tree walks them: 1.90 → 2.00–2.04 M rows·models/s/core against 128.
    public static let blockSize = 64

    /// Propensities kept from an earlier run, used instead of evaluating the models that did not change.
    public struct Reuse: Sendable {
        /// Per plan model: its column in `stored`, or -1 to evaluate it.
        public var source: [Int]
        /// Customers × `stride` propensities, customers in id order.
        public var stored: [Float]
        public var stride: Int
        public init(source: [Int], stored: [Float], stride: Int) { self.source = source; self.stored = stored; self.stride = stride }
        /// The plan models evaluated (not held here), in plan order.
        public var evaluated: [Int] { source.indices.filter { source[$0] < 0 } }
    }

    /// Why stored propensities cannot be used for a shard.
    public struct ReuseMismatch: Error, CustomStringConvertible {
        public var customers: Int
        public var stored: Int
        public var description: String { "the kept propensities cover \(stored) customers of this shard, which has at least \(customers): the profiles changed since that run" }
    }

    /// Calls `body(customerID, region, segment, scorer)` after scoring each customer of the shard, in
    /// customer-id order. With `rules` false the history is not read and the rules are not applied: the
    /// scorer holds only the customer's propensities (`CustomerScorer.setPropensities`).
    ///
    /// `keep`, when given, receives each block's propensities (customers × plan models) before its
    /// customers are scored. (A non-optional closure: an optional one escapes, and the variables it
    /// captured were then checked for exclusive access at run time on every block.)
    ///
    /// `keepFeatures`, when `keepingFeatures`, receives each block's decoded features (customers × the
    /// schema's features).
    public mutating func forEachCustomer(lower: UInt64, upper: UInt64?, reuse: Reuse? = nil, keeping: Bool = false, rules: Bool = true,
                                         keep: (UnsafeBufferPointer<Float>) -> Void = { _ in },
                                         keepingFeatures: Bool = false, keepFeatures: (UnsafeBufferPointer<Float>) -> Void = { _ in },
                                         _ body: (UInt64, UInt16, UInt16, inout CustomerScorer) throws -> Void) throws {
        // A local copy: read through `self` inside the scan's closure, the plan (a struct of arrays) was
        // copied, with a retain of each of its arrays, for every customer.
        let plan = self.plan
        let featureCount = plan.schema.count
        let models = plan.models
        let modelCount = models.count
        let blockSize = Self.blockSize
        // The block transposed once for every tree model the AVX-512 kernel evaluates (not for the models
        // whose propensities a rescore reuses).
        let kernel = TreeKernel.selected
        let transpose = models.indices.contains { m in models[m].uses(kernel) && kernel == .avx512 && (reuse.map { $0.source[m] < 0 } ?? true) }
        let first = self.scorer
        let servedThrough = self.servedThrough
        // Everything the loop changes is declared inside the transaction's closure and the profiles are
        // walked with a cursor, not a closure: variables captured by `flush` and used in a nested closure
        // were boxed, and every access to them was checked for exclusivity at run time.
        scorer = try store.env.read { txn -> CustomerScorer in
            var b = BlockBuffers(featureCount: featureCount, modelCount: modelCount)
            var events: [Event] = []
            var filled = 0
            var done = 0
            var scorer = first

            func flush() throws {
                guard filled > 0 else { return }
                try Self.scoreFilled(&b, count: filled, done: done, models: models, featureCount: featureCount, reuse: reuse, transpose: transpose,
                                     kernel: kernel, keeping: keeping, keep: keep, keepingFeatures: keepingFeatures, keepFeatures: keepFeatures,
                                     rules: rules, events: events, scorer: &scorer, body)
                done += filled
                filled = 0
                events.removeAll(keepingCapacity: true)
            }

            // Decoded codes are checked against the dictionaries: a code outside them would drop the
            // customer's offers from every by-region or by-segment total.
            let regionCount = try store.regions(in: txn).count, segmentCount = try store.segments(in: txn).count
            let hist = try txn.cursor(store.history)
            defer { hist.close() }
            var h = try withUnsafeBytes(of: lower.bigEndian) { try hist.seek(atLeast: $0) }
            var served = try ServedWalk(store: store, txn: txn, from: lower, through: servedThrough)
            defer { served.close() }
            let upperKey = upper.map { ProfileCodec.key($0) }
            let profiles = try txn.cursor(store.profiles)
            defer { profiles.close() }
            var entry = try ProfileCodec.key(lower).withUnsafeBytes { try profiles.seek(atLeast: $0) }
            while let (k, v) = entry {
                if let upperKey, !k.lexicographicallyPrecedes(upperKey) { break }
                guard let id = ProfileCodec.customerID(key: k) else {
                    throw StoreError.corrupt(database: "profiles", key: "\(Array(k))", reason: "key is not 8 bytes")
                }
                let header = try Self.decodeProfile(v, customer: id, into: &b.features, row: filled * featureCount, featureCount: featureCount,
                                                    regionCount: regionCount, segmentCount: segmentCount)
                b.ids[filled] = id
                b.regions[filled] = header.region
                b.segments[filled] = header.segment
                b.eventStart[filled] = events.count
                if rules { h = try Self.collectHistory(customer: id, from: h, hist, served: &served, plan: plan, into: &events) }
                filled += 1
                b.eventStart[filled] = events.count
                if filled == blockSize { try flush() }
                entry = try profiles.next()
            }
            try flush()
            return scorer
        }
    }

    /// The propensities of `models` (customers × models, in that order) over a held table's customers and kept
    /// features (`CandidateTable.features`) instead of the store, a block at a time as the store's walk
    /// evaluates them, so they are the same bits.
    private func evaluateKept(_ held: CandidateTable, features: ContiguousArray<Float>, models: [BoundModel]) throws -> ContiguousArray<Float> {
        let featureCount = plan.schema.count, count = models.count, blockSize = Self.blockSize
        let kernel = TreeKernel.selected
        let transpose = models.contains { $0.uses(kernel) && kernel == .avx512 }
        var b = BlockBuffers(featureCount: featureCount, modelCount: count)
        let n = held.customerCount
        var out = ContiguousArray<Float>()
        out.reserveCapacity(n * count)
        if count == 0 { return out }
        for done in stride(from: 0, to: n, by: blockSize) {
            let filled = min(blockSize, n - done)
            features.withUnsafeBufferPointer { f in
                b.features.withUnsafeMutableBufferPointer { x in
                    _ = x.update(fromContentsOf: f[(done * featureCount)..<((done + filled) * featureCount)])
                }
            }
            for i in 0..<filled { b.ids[i] = held.customerIDs[done + i] }
            try Self.evaluate(models, block: b.features, count: filled, done: done, featureCount: featureCount, reuse: nil, ids: b.ids,
                              transpose: transpose, kernel: kernel, columns: &b.columns, props: &b.props, margins: &b.margins)
            b.props.withUnsafeBufferPointer { out.append(contentsOf: $0[0..<(filled * count)]) }
        }
        return out
    }

    /// Every plan model's propensities (customers × models): those `reuse` keeps, and the `evaluated` models'
    /// from `columns` (customers × evaluated). Kept columns in plan order (a held shard's) are copied at once.
    private static func everyPropensity(_ reuse: Reuse, columns: ContiguousArray<Float>, evaluated: [Int], customers: Int,
                                        modelCount: Int) -> ContiguousArray<Float> {
        let inPlanOrder = reuse.stride == modelCount && (0..<modelCount).allSatisfy { reuse.source[$0] == $0 || reuse.source[$0] < 0 }
        let total = customers * modelCount, e = evaluated.count, stride = reuse.stride
        return ContiguousArray(unsafeUninitializedCapacity: total) { out, written in
            reuse.stored.withUnsafeBufferPointer { stored in
            columns.withUnsafeBufferPointer { columns in
                if inPlanOrder, total > 0 {
                    out.baseAddress!.initialize(from: stored.baseAddress!, count: total)
                } else {
                    for m in 0..<modelCount where reuse.source[m] >= 0 {
                        let col = reuse.source[m]
                        for i in 0..<customers { out[i &* modelCount &+ m] = stored[i &* stride &+ col] }
                    }
                }
                for (k, m) in evaluated.enumerated() {
                    for i in 0..<customers { out[i &* modelCount &+ m] = columns[i &* e &+ k] }
                }
            }}
            written = total
        }
    }

    /// One block's buffers, made once per walk: the customers' features (row by row), propensities (customers ×
    /// models), margins, transposed features, ids, regions, segments and where each one's contacts start.
    private struct BlockBuffers {
        var features: [Float]
        var props: [Float]
        var margins: [Float]
        var columns: FeatureColumns
        var ids: [UInt64]
        var regions: [UInt16]
        var segments: [UInt16]
        var eventStart: [Int]

        init(featureCount: Int, modelCount: Int) {
            let n = ShardScorer.blockSize
            features = [Float](repeating: 0, count: n * featureCount)
            props = [Float](repeating: 0, count: n * max(modelCount, 1))
            margins = [Float](repeating: 0, count: n)
            columns = FeatureColumns(featureCount: featureCount)
            ids = [UInt64](repeating: 0, count: n)
            regions = [UInt16](repeating: 0, count: n)
            segments = [UInt16](repeating: 0, count: n)
            eventStart = [Int](repeating: 0, count: n + 1)
        }
    }

    /// The first `filled` customers of a block (from the shard's `done`-th customer on): their propensities evaluated,
    /// handed to `keep` (and their features to `keepFeatures`) as asked, then each one scored (`scoreBlock`).
    private static func scoreFilled(_ b: inout BlockBuffers, count filled: Int, done: Int, models: [BoundModel], featureCount: Int, reuse: Reuse?,
                                    transpose: Bool, kernel: TreeKernel, keeping: Bool, keep: (UnsafeBufferPointer<Float>) -> Void,
                                    keepingFeatures: Bool, keepFeatures: (UnsafeBufferPointer<Float>) -> Void, rules: Bool, events: [Event],
                                    scorer: inout CustomerScorer, _ body: (UInt64, UInt16, UInt16, inout CustomerScorer) throws -> Void) throws {
        let modelCount = models.count
        try evaluate(models, block: b.features, count: filled, done: done, featureCount: featureCount, reuse: reuse, ids: b.ids,
                     transpose: transpose, kernel: kernel, columns: &b.columns, props: &b.props, margins: &b.margins)
        if keeping { b.props.withUnsafeBufferPointer { keep(UnsafeBufferPointer(rebasing: $0[0..<(filled * modelCount)])) } }
        if keepingFeatures { b.features.withUnsafeBufferPointer { keepFeatures(UnsafeBufferPointer(rebasing: $0[0..<(filled * featureCount)])) } }
        try scoreBlock(count: filled, block: b.features, props: b.props, featureCount: featureCount, modelCount: modelCount, rules: rules,
                       ids: b.ids, regions: b.regions, segments: b.segments, eventStart: b.eventStart, events: events, scorer: &scorer, body)
    }

    /// A contact of the block's customers with a plan offer: (offer index, day, outcome).
    private typealias Event = (offer: Int32, day: Int32, outcome: ContactOutcome)

    /// Fills `props` (customers × models) for the first `filled` customers of `block`: each plan model
    /// evaluated over the block, or its column copied from `reuse` (customers `done ..< done + filled` of it).
    /// Refuses a NaN propensity (customer `ids[i]`).
    private static func evaluate(_ models: [BoundModel], block: [Float], count filled: Int, done: Int, featureCount: Int, reuse: Reuse?, ids: [UInt64],
                                 transpose: Bool, kernel: TreeKernel, columns: inout FeatureColumns,
                                 props: inout [Float], margins: inout [Float]) throws {
        let modelCount = models.count
        if let reuse, (done + filled) * reuse.stride > reuse.stored.count {
            throw ReuseMismatch(customers: done + filled, stored: reuse.stored.count / max(reuse.stride, 1))
        }
        if transpose { block.withUnsafeBufferPointer { columns.fill(rows: $0.baseAddress!, stride: featureCount, count: filled) } }
        let columns = columns
        // Models are read in place: `models[m]` copied the model, retaining each of its arrays, per block.
        models.withUnsafeBufferPointer { models in
        block.withUnsafeBufferPointer { x in
            props.withUnsafeMutableBufferPointer { out in
                margins.withUnsafeMutableBufferPointer { mg in
                    for m in 0..<modelCount {
                        if let reuse, reuse.source[m] >= 0 {
                            let col = reuse.source[m]
                            for i in 0..<filled { out[i * modelCount + m] = reuse.stored[(done + i) * reuse.stride + col] }
                            continue
                        }
                        models[m].propensities(block: x, stride: featureCount, count: filled, margins: mg,
                                               out: UnsafeMutableBufferPointer(rebasing: out[m...]), outStride: modelCount,
                                               columns: transpose ? columns : nil, kernel: kernel)
                    }
                }
            }
        }
        }
        // A non-finite margin (a damaged profile or model) gives NaN: refused, never written as a score.
        if let bad = props.withUnsafeBufferPointer({ p in (0..<(filled * modelCount)).first { p[$0].isNaN } }) {
            throw NonFinitePropensity(model: models[bad % modelCount].id, customer: ids[bad / modelCount])
        }
    }

    /// Scores the first `filled` customers of the block (their contacts, features and propensities) and
    /// calls `body` after each, in order; without `rules`, only sets each one's propensities.
    private static func scoreBlock(count filled: Int, block: [Float], props: [Float], featureCount: Int, modelCount: Int, rules: Bool,
                                   ids: [UInt64], regions: [UInt16], segments: [UInt16], eventStart: [Int], events: [Event],
                                   scorer: inout CustomerScorer, _ body: (UInt64, UInt16, UInt16, inout CustomerScorer) throws -> Void) throws {
        for i in 0..<filled {
            if !rules {
                props.withUnsafeBufferPointer { p in scorer.setPropensities(UnsafeBufferPointer(rebasing: p[(i * modelCount)..<((i + 1) * modelCount)])) }
                try body(ids[i], regions[i], segments[i], &scorer)
                continue
            }
            scorer.begin()
            for e in events[eventStart[i]..<eventStart[i + 1]] { scorer.recordContact(offer: Int(e.offer), day: e.day, outcome: e.outcome) }
            block.withUnsafeBufferPointer { x in
                props.withUnsafeBufferPointer { p in
                    scorer.score(UnsafeBufferPointer(rebasing: x[(i * featureCount)..<((i + 1) * featureCount)]),
                                 propensities: UnsafeBufferPointer(rebasing: p[(i * modelCount)..<((i + 1) * modelCount)]))
                }
            }
            try body(ids[i], regions[i], segments[i], &scorer)
        }
    }

    /// Decodes customer `id`'s profile `v` into the block at `row`; refuses a damaged record or a region or
    /// segment code outside the dictionaries (it would drop the customer's offers from every such total).
    private static func decodeProfile(_ v: UnsafeRawBufferPointer, customer id: UInt64, into block: inout [Float], row: Int, featureCount: Int,
                                      regionCount: Int, segmentCount: Int) throws -> ProfileCodec.Header {
        let header = try block.withUnsafeMutableBufferPointer { f -> ProfileCodec.Header in
            switch ProfileCodec.decode(v, featureCount: featureCount, into: UnsafeMutableBufferPointer(rebasing: f[row..<(row + featureCount)])) {
            case .success(let hd): return hd
            case .failure(let e): throw StoreError.corrupt(database: "profiles", key: "customer \(id)", reason: e.description)
            }
        }
        guard Int(header.region) < regionCount, Int(header.segment) < segmentCount else {
            throw StoreError.corrupt(database: "profiles", key: "customer \(id)",
                                     reason: ProfileDecodeError.code(region: header.region, segment: header.segment, regions: regionCount, segments: segmentCount).description)
        }
        return header
    }

    /// Moves the history cursor (at `h`) and the walk of served responses past customer `id`, appending the
    /// customer's contacts with plan offers to `events`; returns the cursor's new entry (the first of a later
    /// customer, or nil at the end). A customer with served responses gets the history and them merged as
    /// the history would hold them had they been imported (`ResponseRecorder.merged`: an identical contact
    /// counts once, in the same order).
    private static func collectHistory(customer id: UInt64, from h: LMDBCursor.Entry?, _ hist: LMDBCursor, served: inout ServedWalk,
                                       plan: ScoringPlan, into events: inout [Event]) throws -> LMDBCursor.Entry? {
        if served.mayHave(id) { return try collectMerged(customer: id, from: h, hist, served: &served, plan: plan, into: &events) }
        // The usual customer, with no served response: the history alone, read in place.
        var h = h
        while let (hk, hv) = h, let hid = ProfileCodec.customerID(key: hk), hid <= id {
            if hid == id { try append(hv, customer: id, plan: plan, into: &events) }
            h = try hist.next()
        }
        return h
    }

    /// `collectHistory` for a customer the walk of served responses is at: the history and the served
    /// contacts up to the bound merged (`ResponseRecorder.merged`).
    private static func collectMerged(customer id: UInt64, from h: LMDBCursor.Entry?, _ hist: LMDBCursor, served: inout ServedWalk,
                                      plan: ScoringPlan, into events: inout [Event]) throws -> LMDBCursor.Entry? {
        var extra: [[UInt8]] = []
        try served.contacts(of: id, into: &extra)
        var h = h
        var stored: [[UInt8]] = []
        while let (hk, hv) = h, let hid = ProfileCodec.customerID(key: hk), hid <= id {
            if hid == id { stored.append(Array(hv)) }
            h = try hist.next()
        }
        for v in extra.isEmpty ? stored : ResponseRecorder.merged(history: stored, served: extra) {
            try v.withUnsafeBytes { try append($0, customer: id, plan: plan, into: &events) }
        }
        return h
    }

    /// Appends one stored contact of customer `id` to `events` if its offer is in the plan.
    @inline(__always)
    private static func append(_ v: UnsafeRawBufferPointer, customer id: UInt64, plan: ScoringPlan, into events: inout [Event]) throws {
        guard let ev = HistoryCodec.decode(v) else {
            throw StoreError.corrupt(database: "history", key: "customer \(id)", reason: "malformed contact record")
        }
        if let offer = plan.offerIndex(idBytes: ev.offerID) { events.append((Int32(offer), ev.day, ev.outcome)) }
    }

    /// Scores a shard and keeps every customer's eligible candidates in memory for the optimizer.
    /// `keepPropensities` keeps the propensities of the models evaluated (every plan model's, in plan order;
    /// with `reuse`, only those it does not hold: `Reuse.evaluated`, unless `keepEvery`) in the table,
    /// customers in id order; `keepFatigue` keeps each customer's fatigued offers (for `rebuildTable`).
    /// `shape` (default: the last shard's) sizes the buffers up front: shards are usually the same size,
    /// and growing a shard's arrays by doubling makes the kernel clear fresh pages and copies the arrays at
    /// each step. A guess too large costs only address space.
    public mutating func buildTable(lower: UInt64, upper: UInt64?, reuse: Reuse? = nil, keepPropensities: Bool = false, keepEvery: Bool = false,
                                    keepFatigue: Bool = false, shape: Shape? = nil) throws -> CandidateTable {
        try assemble(lower: lower, upper: upper, reuse: reuse, keepPropensities: keepPropensities, keepEvery: keepEvery, keepFatigue: keepFatigue,
                     shape: shape)
    }

    /// Why a held table cannot be rebuilt for a shard.
    public struct HeldTableMismatch: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { "the held table does not fit the shard: \(reason)" }
    }

    /// Rebuilds `held` (this shard's table from an earlier run over the same profiles, contacts and campaign,
    /// made with `keepFatigue`) for new propensities of the models `reuse` evaluates: evaluates those models on
    /// the table's kept features (`CandidateTable.features`; on the profiles read again when it kept none for
    /// this range), takes the others from `reuse`, and makes again only the candidates of the offers that use
    /// them (`CandidateTable.rebuilt`). The table equals `buildTable`'s with the same `reuse`; a held table of
    /// other customers is refused (`HeldTableMismatch`).
    public mutating func rebuildTable(_ held: CandidateTable, lower: UInt64, upper: UInt64?, reuse: Reuse, keepPropensities: Bool = false,
                                      keepEvery: Bool = false) throws -> CandidateTable {
        guard let fatigue = held.fatigue else { throw HeldTableMismatch(reason: "it kept no fatigued offers") }
        guard fatigue.count == held.customerCount else {
            throw HeldTableMismatch(reason: "it kept the fatigued offers of \(fatigue.count) customers for its \(held.customerCount)")
        }
        let modelCount = plan.models.count
        let evaluated = reuse.evaluated
        let changed = CandidateTable.ChangedOffers(plan: plan, columns: Dictionary(uniqueKeysWithValues: evaluated.enumerated().map { ($1, $0) }))
        // Its kept features, when they were read from this shard's range for every customer: the profiles are
        // not read.
        let features = held.features.flatMap { f in
            f.lower == lower && f.upper == upper && f.values.count == held.customerCount * plan.schema.count ? f.values : nil
        }
        // The evaluated models' propensities (customers × evaluated, the columns `changed` names).
        let customers = held.customerCount
        guard reuse.stored.count >= customers * reuse.stride else {
            throw ReuseMismatch(customers: customers, stored: reuse.stored.count / max(reuse.stride, 1))
        }
        var columns = ContiguousArray<Float>()
        var decoded = ContiguousArray<Float>()
        if let features {
            columns = try evaluateKept(held, features: features, models: evaluated.map { plan.models[$0] })
        } else {
            columns.reserveCapacity(customers * evaluated.count)
            decoded.reserveCapacity(customers * plan.schema.count)
            func keep(_ block: UnsafeBufferPointer<Float>) {
                for c in 0..<(block.count / modelCount) { for m in evaluated { columns.append(block[c &* modelCount &+ m]) } }
            }
            var i = 0
            func check(_ id: UInt64, _ region: UInt16, _ segment: UInt16, _ scorer: inout CustomerScorer) throws {
                guard i < customers, held.customerIDs[i] == id else {
                    throw HeldTableMismatch(reason: "customer \(id) is not its customer \(i) (\(i < customers ? String(held.customerIDs[i]) : "none"))")
                }
                i += 1
            }
            try forEachCustomer(lower: lower, upper: upper, reuse: reuse, keeping: true, rules: false, keep: keep,
                                keepingFeatures: true, keepFeatures: { decoded.append(contentsOf: $0) }, check)
            guard i == customers else { throw HeldTableMismatch(reason: "\(i) customers, it has \(customers)") }
        }
        var table = columns.withUnsafeBufferPointer { held.rebuilt(changed, propensities: $0, stride: evaluated.count) }
        table.features = CandidateTable.KeptFeatures(lower: lower, upper: upper, values: features ?? decoded)
        if keepPropensities {
            table.propensities = keepEvery ? Self.everyPropensity(reuse, columns: columns, evaluated: evaluated, customers: customers, modelCount: modelCount)
                : columns
        }
        lastShape = Shape(customers: table.customerCount, candidates: table.candidates.count)
        return table
    }

    /// Walks the shard (`forEachCustomer`, applying the rules) and appends each customer to a new table.
    /// With `keepFatigue` the table also keeps each customer's fatigued offers and features
    /// (`CandidateTable.fatigue`, `CandidateTable.features`), what `rebuildTable` needs.
    private mutating func assemble(lower: UInt64, upper: UInt64?, reuse: Reuse?, keepPropensities: Bool, keepEvery: Bool, keepFatigue: Bool,
                                   shape: Shape?) throws -> CandidateTable {
        var table = CandidateTable(rule: scorer.rule, entries: OfferEntries(plan: plan))
        if keepFatigue { table.fatigue = FatigueLog() }
        var features = ContiguousArray<Float>()
        let keepingFeatures = keepFatigue
        var kept = ContiguousArray<Float>()
        let modelCount = plan.models.count
        let evaluated = keepEvery ? Array(0..<modelCount) : reuse?.evaluated ?? Array(0..<modelCount)
        if let guess = shape ?? lastShape {
            // A little over the last size, so that a slightly larger shard does not double its arrays.
            let customers = guess.customers + guess.customers / 16 + 64
            table.reserve(customers: customers, candidates: guess.candidates + guess.candidates / 16 + 1024)
            if keepPropensities { kept.reserveCapacity(customers * evaluated.count) }
            if keepingFeatures { features.reserveCapacity(customers * plan.schema.count) }
        }
        let all = evaluated.count == modelCount
        // Local functions, not closures in variables: those would box the variables they change and check
        // every access for exclusivity at run time.
        func keep(_ block: UnsafeBufferPointer<Float>) {
            if all { kept.append(contentsOf: block); return }
            for c in 0..<(block.count / modelCount) { for m in evaluated { kept.append(block[c * modelCount + m]) } }
        }
        func append(_ id: UInt64, _ region: UInt16, _ segment: UInt16, _ scorer: inout CustomerScorer) throws {
            table.fatigued += Int64(scorer.fatiguedOffers.count)
            if keepFatigue { table.fatigue!.append(scorer.fatiguedOffers) }
            table.append(customerID: id, region: region, segment: segment, candidates: scorer.candidates, values: scorer.values)
        }
        try forEachCustomer(lower: lower, upper: upper, reuse: reuse, keeping: keepPropensities && !evaluated.isEmpty, keep: keep,
                            keepingFeatures: keepingFeatures, keepFeatures: { features.append(contentsOf: $0) }, append)
        if keepingFeatures { table.features = CandidateTable.KeptFeatures(lower: lower, upper: upper, values: features) }
        if keepPropensities { table.propensities = kept }
        lastShape = Shape(customers: table.customerCount, candidates: table.candidates.count)
        return table
    }
}
