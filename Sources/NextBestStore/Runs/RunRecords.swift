import NextBestCore

extension RunRepository {
    /// What a run was planned as: its shards (customer id ranges), the store it ran on and the prices it
    /// started from. `Codable` only to list runs kept in the earlier JSON journal format.
    public struct Plan: Codable, Sendable, Equatable {
        public var run: UInt64
        public var fingerprint: UInt64
        public var shardSize: Int
        public var maxRounds: Int
        public var warmStart: Prices?
        /// The points of the warm start's mix (spread over the buckets in the second pass).
        public var warmMix: PriceMix? = nil
        /// Per shard: its first customer id, the id it ends before (nil: to the end) and its customers.
        public var lower: [UInt64]
        public var upper: [UInt64?]
        public var customers: [Int]
        public var started: String
        /// The campaign version and every model's version the run used.
        public var campaignVersion: Int? = nil
        public var modelVersions: [String: Int]? = nil
        /// The store's data stamp (profiles and contacts) when the run started.
        public var dataStamp: String? = nil
        /// The run this one rescored, if any.
        public var rescoredFrom: UInt64? = nil
        /// The last sequence number of the responses served by `nextbest serve` the run reads (every read of
        /// a customer's contacts for it merges the served ones up to it: `ResponseRecorder`); nil in plans
        /// written before served responses had sequence numbers, read as 0.
        public var servedThrough: UInt64? = nil

        public init(run: UInt64, fingerprint: UInt64, shardSize: Int, maxRounds: Int, warmStart: Prices?, warmMix: PriceMix? = nil,
                    lower: [UInt64], upper: [UInt64?], customers: [Int], started: String, campaignVersion: Int? = nil,
                    modelVersions: [String: Int]? = nil, dataStamp: String? = nil, rescoredFrom: UInt64? = nil,
                    servedThrough: UInt64? = nil) {
            self.run = run; self.fingerprint = fingerprint; self.shardSize = shardSize; self.maxRounds = maxRounds
            self.warmStart = warmStart; self.warmMix = warmMix; self.lower = lower; self.upper = upper; self.customers = customers
            self.started = started; self.campaignVersion = campaignVersion; self.modelVersions = modelVersions
            self.dataStamp = dataStamp; self.rescoredFrom = rescoredFrom; self.servedThrough = servedThrough
        }

        /// `servedThrough`, 0 when the plan has none.
        public var servedBound: UInt64 { servedThrough ?? 0 }

        /// The shard holding `customer`, if any (shards are sorted by id and do not overlap).
        public func shardIndex(of customer: UInt64) -> Int? {
            var lo = 0, hi = lower.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if lower[mid] <= customer { lo = mid + 1 } else { hi = mid }
            }
            let s = lo - 1
            guard s >= 0, upper[s].map({ customer < $0 }) ?? true else { return nil }
            return s
        }
    }

    /// What the optimization decided, enough to write the summary without the rounds.
    public struct Outcome: Codable, Sendable, Equatable {
        public var slot: Int
        public var prices: Prices
        public var objective: Double
        public var gap: Double
        public var rounds: Int
        /// The `optimization` section of summary.json as rendered.
        public var optimizationJSON: String
        /// The points the final mix used (a rescore starts from them as a warm run would).
        public var mix: PriceMix? = nil

        public init(slot: Int, prices: Prices, objective: Double, gap: Double, rounds: Int, optimizationJSON: String, mix: PriceMix? = nil) {
            self.slot = slot; self.prices = prices; self.objective = objective; self.gap = gap; self.rounds = rounds
            self.optimizationJSON = optimizationJSON; self.mix = mix
        }
    }

    /// A shard's recipe: its key range and the operations that rebuild its final selection (kept from the
    /// end of the optimization until the run is finished).
    public struct Recipe: Sendable, Equatable {
        public var lower: UInt64
        public var upper: UInt64?
        public var ops: [ShardOp]

        public init(lower: UInt64, upper: UInt64?, ops: [ShardOp]) { self.lower = lower; self.upper = upper; self.ops = ops }
    }
}

extension RunRepository.Plan: RunRecord {
    static let kind = RunRecordKind.plan

    func write(to w: inout RunRecordWriter) {
        w.integer(run); w.integer(fingerprint); w.int(shardSize); w.int(maxRounds)
        w.optional(warmStart) { $0.prices($1) }
        w.optional(warmMix) { $0.mix($1) }
        w.array(lower) { $0.integer($1) }
        w.array(upper) { w, u in w.optional(u) { $0.integer($1) } }
        w.array(customers) { $0.int($1) }
        w.string(started)
        w.optional(campaignVersion) { $0.int($1) }
        w.optional(modelVersions) { w, m in w.array(m.sorted { $0.key < $1.key }) { $0.string($1.key); $0.int($1.value) } }
        w.optional(dataStamp) { $0.string($1) }
        w.optional(rescoredFrom) { $0.integer($1) }
        w.optional(servedThrough) { $0.integer($1) }
    }

    init(from r: inout RunRecordReader) throws(RunRecordError) {
        run = try r.integer(); fingerprint = try r.integer(); shardSize = try r.int(); maxRounds = try r.int()
        warmStart = try r.optional { r throws(RunRecordError) in try r.prices() }
        warmMix = try r.optional { r throws(RunRecordError) in try r.mix() }
        lower = try r.array(width: 8) { r throws(RunRecordError) in try r.integer() }
        upper = try r.array(width: 1) { r throws(RunRecordError) in try r.optional { r throws(RunRecordError) in try r.integer() } }
        customers = try r.array(width: 8) { r throws(RunRecordError) in try r.int() }
        guard upper.count == lower.count, customers.count == lower.count else { throw .badValue("the shard lists") }
        started = try r.string()
        campaignVersion = try r.optional { r throws(RunRecordError) in try r.int() }
        modelVersions = try r.optional { r throws(RunRecordError) in
            Dictionary(try r.array(width: 12) { r throws(RunRecordError) in (try r.string(), try r.int()) }) { a, _ in a }
        }
        dataStamp = try r.optional { r throws(RunRecordError) in try r.string() }
        rescoredFrom = try r.optional { r throws(RunRecordError) in try r.integer() }
        // Written last, after issue 26: a plan recorded before has no such field.
        servedThrough = r.remaining > 0 ? try r.optional { r throws(RunRecordError) in try r.integer() } : nil
    }
}

extension RunRepository.Outcome: RunRecord {
    static let kind = RunRecordKind.outcome

    func write(to w: inout RunRecordWriter) {
        w.int(slot); w.prices(prices); w.double(objective); w.double(gap); w.int(rounds)
        w.string(optimizationJSON)
        w.optional(mix) { $0.mix($1) }
    }

    init(from r: inout RunRecordReader) throws(RunRecordError) {
        slot = try r.int(); prices = try r.prices(); objective = try r.double(); gap = try r.double(); rounds = try r.int()
        optimizationJSON = try r.string()
        mix = try r.optional { r throws(RunRecordError) in try r.mix() }
    }
}

extension RunRepository.Recipe: RunRecord {
    static let kind = RunRecordKind.recipe

    func write(to w: inout RunRecordWriter) {
        w.integer(lower)
        w.optional(upper) { $0.integer($1) }
        w.array(ops) { w, op in
            switch op {
            case .evaluate(let q): w.integer(UInt8(0)); w.request(q)
            case let .copy(from, to): w.integer(UInt8(1)); w.integer(from); w.integer(to)
            case let .apply(slot, changes):
                w.integer(UInt8(2)); w.integer(slot)
                w.array(changes) { $0.integer($1.customer); $0.integer($1.remove); $0.integer($1.add) }
            }
        }
    }

    init(from r: inout RunRecordReader) throws(RunRecordError) {
        lower = try r.integer()
        upper = try r.optional { r throws(RunRecordError) in try r.integer() }
        ops = try r.array(width: 3) { r throws(RunRecordError) -> ShardOp in
            switch try r.integer(UInt8.self) {
            case 0: return .evaluate(try r.request())
            case 1: return .copy(from: try r.integer(), to: try r.integer())
            case 2:
                let slot: UInt8 = try r.integer()
                return .apply(slot: slot, changes: try r.array(width: 12) { r throws(RunRecordError) in
                    Repair.Change(customer: try r.integer(), remove: try r.integer(), add: try r.integer())
                })
            case let k: throw .badValue("operation \(k)")
            }
        }
    }
}

/// A merged shard's lists in binary (`NBALists`, from which its `nba.csv` rows are rendered) and their
/// exact totals. Version 1 kept the rows as CSV text: `RunRecordError.listsAsText`.
struct KeptRows: RunRecord {
    static let kind = RunRecordKind.rows
    var lists: [UInt8]
    var totals: RunTotals

    init(lists: [UInt8], totals: RunTotals) { self.lists = lists; self.totals = totals }

    func write(to w: inout RunRecordWriter) {
        w.raw(lists)
        Self.writeTotals(totals, to: &w)
    }

    /// The totals, after the lists (and in `ListsFileRecord`).
    static func writeTotals(_ t: RunTotals, to w: inout RunRecordWriter) {
        for v in [t.customers, t.customersWithOffers, t.offersMade] { w.integer(v) }
        for a in [t.byOffer, t.byProduct, t.byChannel, t.byRegion, t.bySegment] { w.int64s(a) }
        for v in [t.expectedValueMicros, t.costMicros, t.propensityMicros, t.fatigued] { w.integer(v) }
        w.int64s(t.propensityBins)
    }

    init(from r: inout RunRecordReader) throws(RunRecordError) {
        guard r.version >= 2 else { throw .listsAsText }
        lists = try r.raw()
        totals = try Self.totals(&r)
    }

    /// The totals after the lists.
    static func totals(_ r: inout RunRecordReader) throws(RunRecordError) -> RunTotals {
        var t = RunTotals(offers: 0, products: 0, channels: 0, regions: 0, segments: 0)
        t.customers = try r.integer(); t.customersWithOffers = try r.integer(); t.offersMade = try r.integer()
        t.byOffer = try r.int64s(); t.byProduct = try r.int64s(); t.byChannel = try r.int64s(); t.byRegion = try r.int64s(); t.bySegment = try r.int64s()
        t.expectedValueMicros = try r.integer(); t.costMicros = try r.integer(); t.propensityMicros = try r.integer(); t.fatigued = try r.integer()
        t.propensityBins = try r.int64s()
        return t
    }

    /// A `KeptRows` record read for its totals only: the lists are skipped, not copied (a trend over the
    /// kept nights reads every shard's totals of every run). Written, it is a record with no lists.
    struct Totals: RunRecord {
        static let kind = RunRecordKind.rows
        var totals: RunTotals

        func write(to w: inout RunRecordWriter) { KeptRows(lists: [], totals: totals).write(to: &w) }

        init(from r: inout RunRecordReader) throws(RunRecordError) {
            guard r.version >= 2 else { throw .listsAsText }
            _ = try r.take(try r.count(1))
            totals = try KeptRows.totals(&r)
        }
    }
}

/// Where a merged shard's lists file is kept (`ListsFile`, beside the store), how to check it (its byte count
/// and CRC-32), and the shard's exact totals. Written after the file is synced; version 4 writes it instead of
/// `KeptRows`.
struct ListsFileRecord: RunRecord, Equatable {
    static let kind = RunRecordKind.rowsFile
    var bytes: Int
    var crc: UInt32
    var totals: RunTotals

    init(bytes: Int, crc: UInt32, totals: RunTotals) { self.bytes = bytes; self.crc = crc; self.totals = totals }

    func write(to w: inout RunRecordWriter) {
        w.int(bytes); w.integer(crc)
        KeptRows.writeTotals(totals, to: &w)
    }

    init(from r: inout RunRecordReader) throws(RunRecordError) {
        bytes = try r.int(); crc = try r.integer()
        totals = try KeptRows.totals(&r)
    }
}

/// A shard's propensities under every plan model (customers in id order, `models.count` per customer), as
/// version 1 kept them in the store; version 2 writes `PropensityFileRecord` instead and still reads these.
struct KeptPropensities: RunRecord {
    static let kind = RunRecordKind.propensities
    var models: [String]
    var values: [Float]

    init(models: [String], values: [Float]) { self.models = models; self.values = values }

    func write(to w: inout RunRecordWriter) { w.array(models) { $0.string($1) }; w.floats(values) }

    init(from r: inout RunRecordReader) throws(RunRecordError) {
        models = try r.array(width: 4) { r throws(RunRecordError) in try r.string() }
        values = try r.floats()
    }
}

/// Where a shard's propensities are kept (`PropensityFile`, beside the store) and how to check the file:
/// its plan models, customers, byte count and CRC-32 of its every byte. Written after the file is synced.
struct PropensityFileRecord: RunRecord, Equatable {
    static let kind = RunRecordKind.propensityFile
    var models: [String]
    var customers: Int
    var bytes: Int
    var crc: UInt32

    init(models: [String], customers: Int, bytes: Int, crc: UInt32) {
        self.models = models; self.customers = customers; self.bytes = bytes; self.crc = crc
    }

    func write(to w: inout RunRecordWriter) { w.array(models) { $0.string($1) }; w.int(customers); w.int(bytes); w.integer(crc) }

    init(from r: inout RunRecordReader) throws(RunRecordError) {
        models = try r.array(width: 4) { r throws(RunRecordError) in try r.string() }
        customers = try r.int(); bytes = try r.int(); crc = try r.integer()
    }
}

/// A shard's propensities kept as parts (version 5): a rescore writes only the models it scored again, in
/// its own file, and hard-links the files of the earlier runs that hold the others into its directory, so
/// nothing is written twice and deleting an earlier run leaves them readable. `models` are the shard's
/// models in plan order; each model's values come from the first part that holds it.
struct PropensityPartsRecord: RunRecord, Equatable {
    static let kind = RunRecordKind.propensityParts

    /// One file: the run that wrote it (named in its header) and its record.
    struct Part: Equatable {
        var run: UInt64
        var file: PropensityFileRecord
    }

    var models: [String]
    var customers: Int
    var parts: [Part]

    init(models: [String], customers: Int, parts: [Part]) { self.models = models; self.customers = customers; self.parts = parts }

    func write(to w: inout RunRecordWriter) {
        w.array(models) { $0.string($1) }
        w.int(customers)
        w.array(parts) { w, p in w.integer(p.run); p.file.write(to: &w) }
    }

    init(from r: inout RunRecordReader) throws(RunRecordError) {
        models = try r.array(width: 4) { r throws(RunRecordError) in try r.string() }
        customers = try r.int()
        parts = try r.array(width: 8 + 4 + 8 + 8 + 4) { r throws(RunRecordError) in
            Part(run: try r.integer(), file: try PropensityFileRecord(from: &r))
        }
        guard !parts.isEmpty, parts.allSatisfy({ $0.file.customers == customers }),
              models.allSatisfy({ m in parts.contains { $0.file.models.contains(m) } }) else {
            throw .badValue("a propensity parts record whose parts do not hold its models and customers")
        }
    }
}

/// A run's state (`scoring`, `optimizing`, `merging`, `done`).
struct StateRecord: RunRecord {
    static let kind = RunRecordKind.state
    var state: String

    init(_ state: String) { self.state = state }
    func write(to w: inout RunRecordWriter) { w.string(state) }
    init(from r: inout RunRecordReader) throws(RunRecordError) { state = try r.string() }
}

/// A round's prices are kept as they are.
extension Prices: RunRecord {
    static let kind = RunRecordKind.roundPrices

    func write(to w: inout RunRecordWriter) { w.prices(self) }
    init(from r: inout RunRecordReader) throws(RunRecordError) { self = try r.prices() }
}

extension PriceMemory.Warm: RunRecord {
    static let kind = RunRecordKind.warm

    func write(to w: inout RunRecordWriter) {
        w.prices(prices); w.optional(mix) { $0.mix($1) }
        w.optional(modelVersions) { w, m in w.array(m.sorted { $0.key < $1.key }) { $0.string($1.key); $0.int($1.value) } }
    }

    init(from r: inout RunRecordReader) throws(RunRecordError) {
        prices = try r.prices()
        mix = try r.optional { r throws(RunRecordError) in try r.mix() }
        // Written last from version 4 on: earlier records end after the mix.
        modelVersions = r.remaining > 0 ? try r.optional { r throws(RunRecordError) in
            Dictionary(try r.array(width: 12) { r throws(RunRecordError) in (try r.string(), try r.int()) }) { a, _ in a }
        } : nil
    }
}
