import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster

/// What a store holds, for `nextbest inspect`: counts, the feature schema, the models, the campaign and
/// the store's size on disk and in LMDB pages. Gathered read-only (one read transaction for the contents,
/// one for the page statistics); rendered as text for people or as JSON (`JSONText`) for tools.
public struct StoreReport: Sendable {
    /// How many of each thing the store holds.
    public struct Counts: Sendable, Equatable {
        public var customers: Int
        public var contactHistory: Int
        public var offers: Int
        public var products: Int
        public var channels: Int
        public var regions: Int
        public var segments: Int
        public var models: Int
        public var keptRuns: Int
        /// Responses recorded by `nextbest serve` and not yet folded into the contact history (runs read them
        /// up to their plans' sequence numbers), and the last sequence number given (0 before the first).
        public var servedResponses: Int = 0
        public var servedSequence: UInt64 = 0
    }

    /// One stored propensity model and the campaign offers it scores.
    public struct Model: Sendable {
        public var id: String
        /// `logistic`, `trees` (XGBoost arithmetic) or `forest` (a `DecisionForest`: LightGBM arithmetic).
        public var kind: String
        public var version: Int
        public var features: Int
        /// Logistic models: the number of coefficients.
        public var coefficients: Int?
        /// Tree ensembles: the number of trees, the deepest tree (splits from root to leaf) and all nodes.
        public var trees: Int?
        public var maxDepth: Int?
        public var nodes: Int?
        /// Offer ids of the stored campaign that use this model, sorted.
        public var usedBy: [String]
    }

    /// The store's size: the data file and LMDB's page statistics.
    public struct Size: Sendable {
        /// `data.mdb`'s length and the bytes the file system allocated for it.
        public var dataFileBytes: Int
        public var dataFileAllocatedBytes: Int
        /// The kept runs' files beside the store (`runs/<run>/`, their propensities): how many, their bytes.
        public var runFiles = 0
        public var runFilesBytes = 0
        public var usage: LMDBEnvironment.Usage
    }

    public var path: String
    public var counts: Counts
    /// Profile feature columns in storage order (empty before the first profile import).
    public var features: [String]
    /// The categorical (text) feature columns and their values in code order.
    public var categorical: [String: [String]] = [:]
    public var regions: [String]
    public var segments: [String]
    public var models: [Model]
    /// The stored campaign and its version (nil before the first campaign import).
    public var campaign: Campaign?
    public var campaignVersion: Int?
    /// Kept runs by journal state (`done`, `scoring`, `merging`, …).
    public var runsByState: [(state: String, count: Int)]
    public var size: Size

    /// Reads the report from an open store (open it read-only: nothing is written).
    public static func gather(_ store: Store) throws -> StoreReport {
        let (counts0, schema, regions, segments, stored, campaign, version) = try store.env.read { txn in
            let schema = try store.schema(in: txn)
            let regions = try store.regions(in: txn), segments = try store.segments(in: txn)
            let campaign = try store.campaign(in: txn)
            let counts = Counts(customers: try store.profileCount(in: txn), contactHistory: try txn.count(store.history),
                                offers: campaign?.offers.count ?? 0, products: campaign?.productNames.count ?? 0,
                                channels: campaign?.channelNames.count ?? 0, regions: regions.names.count,
                                segments: segments.names.count, models: try txn.count(store.models), keptRuns: 0)
            return (counts, schema, regions, segments, try store.allModels(in: txn), campaign, try store.campaignVersion(in: txn))
        }
        var counts = counts0
        counts.servedResponses = try ResponseRecorder.pending(store: store).count
        counts.servedSequence = try ResponseRecorder.lastSequence(store: store)
        let entries = try RunRepository(store: store).entries()
        counts.keptRuns = entries.count
        var states: [String: Int] = [:]
        for e in entries { states[e.state, default: 0] += 1 }

        var usedBy: [String: [String]] = [:]
        for o in campaign?.offers ?? [] { usedBy[o.model, default: []].append(o.id) }
        let models = stored.keys.sorted().map { id -> Model in
            let m = stored[id]!
            var out = Model(id: id, kind: "", version: m.version, features: m.features.count, usedBy: (usedBy[id] ?? []).sorted())
            switch m.kind {
            case .logistic(let l):
                out.kind = "logistic"; out.coefficients = l.coefficients.count
            case .trees(let t):
                out.kind = "trees"; out.trees = t.treeCount; out.maxDepth = Self.maxDepth(t); out.nodes = t.nodes.count
            case .forest(let f):
                out.kind = "forest"; out.trees = f.treeCount; out.maxDepth = f.maxDepth; out.nodes = f.nodes.count
            }
            return out
        }

        var st = stat()
        let statOK = stat(store.dataFilePath, &st) == 0
        var size = Size(dataFileBytes: statOK ? Int(st.st_size) : 0, dataFileAllocatedBytes: statOK ? Int(st.st_blocks) * 512 : 0,
                        usage: try store.usage())
        (size.runFiles, size.runFilesBytes) = RunRepository(store: store).filesOnDisk()
        var report = StoreReport(path: store.env.path, counts: counts, features: schema?.names ?? [], regions: regions.names,
                                 segments: segments.names, models: models, campaign: campaign, campaignVersion: version,
                                 runsByState: states.sorted { $0.key < $1.key }.map { (state: $0.key, count: $0.value) }, size: size)
        report.categorical = schema?.categoriesByName ?? [:]
        return report
    }

    /// The deepest tree of an ensemble: the most splits on a path from a root to a leaf.
    static func maxDepth(_ t: TreeEnsemble) -> Int {
        var deepest = 0
        var stack: [(node: Int, depth: Int)] = []
        for r in t.roots {
            stack.append((Int(r), 0))
            while let (i, d) = stack.popLast() {
                let n = t.nodes[i]
                if n.feature < 0 { deepest = max(deepest, d); continue }
                stack.append((Int(n.left), d + 1))
                stack.append((Int(n.left) + 1, d + 1))
            }
        }
        return deepest
    }

    /// One channel's rules across the campaign's offers: how many offers may use it, and the range of
    /// their minimum propensities (the minimum response rate) and costs.
    public struct ChannelSummary: Sendable {
        public var channel: String
        public var offers: Int
        public var minPropensity: ClosedRange<Double>
        public var cost: ClosedRange<Double>
    }

    /// Per channel of the campaign, sorted by name.
    public var channelSummaries: [ChannelSummary] {
        guard let campaign else { return [] }
        var by: [String: [Campaign.ChannelRule]] = [:]
        for o in campaign.offers { for r in o.channels { by[r.channel, default: []].append(r) } }
        return by.keys.sorted().map { ch in
            let rules = by[ch]!
            let p = rules.map(\.minPropensity), c = rules.map(\.cost)
            return ChannelSummary(channel: ch, offers: rules.count, minPropensity: p.min()!...p.max()!, cost: c.min()!...c.max()!)
        }
    }

    // MARK: JSON

    /// A double as JSON with the shortest text that reads back as the same value (null if not finite).
    static func number(_ d: Double) -> JSONText { d.isFinite ? .raw(d.description) : .null }
    static func int(_ i: Int) -> JSONText { .int(Int64(i)) }

    static func bounds(_ list: [Campaign.CountConstraint]) -> JSONText {
        .object(list.map { c in (c.name, .object([("min", c.bounds.min.map(int) ?? .null), ("max", c.bounds.max.map(int) ?? .null)])) })
    }

    /// The report as one JSON object.
    public var json: JSONText {
        let c = counts
        var fields: [(String, JSONText)] = [
            ("store", .string(path)),
            ("counts", .object([
                ("customers", Self.int(c.customers)), ("contact_history", Self.int(c.contactHistory)), ("offers", Self.int(c.offers)),
                ("products", Self.int(c.products)), ("channels", Self.int(c.channels)), ("regions", Self.int(c.regions)),
                ("segments", Self.int(c.segments)), ("models", Self.int(c.models)), ("kept_runs", Self.int(c.keptRuns)),
                ("served_responses", Self.int(c.servedResponses)), ("served_sequence", .int(Int64(c.servedSequence))),
            ])),
            ("features", .array(features.map { .string($0) })),
            ("categorical", .object(categorical.sorted { $0.key < $1.key }.map { ($0.key, .array($0.value.map { .string($0) })) })),
            ("regions", .array(regions.map { .string($0) })),
            ("segments", .array(segments.map { .string($0) })),
            ("models", .array(models.map { m in
                var f: [(String, JSONText)] = [("id", .string(m.id)), ("kind", .string(m.kind)), ("version", Self.int(m.version)),
                                               ("features", Self.int(m.features))]
                if let n = m.coefficients { f.append(("coefficients", Self.int(n))) }
                if let n = m.trees { f.append(("trees", Self.int(n))) }
                if let n = m.maxDepth { f.append(("max_depth", Self.int(n))) }
                if let n = m.nodes { f.append(("nodes", Self.int(n))) }
                f.append(("used_by", .array(m.usedBy.map { .string($0) })))
                return .object(f)
            })),
        ]
        if let k = campaign {
            let cs = k.constraints
            fields.append(("campaign", .object([
                ("version", campaignVersion.map(Self.int) ?? .null),
                ("objective", .string(k.objective.rawValue)),
                ("run_date", .string(String(describing: k.runDate))),
                ("budget", cs.budget.map(Self.number) ?? .null),
                ("per_customer", .object([("max_offers", Self.int(k.perCustomer.maxOffers)), ("max_per_family", Self.int(k.perCustomer.maxPerFamily))])),
                ("fatigue", k.fatigue.map { .object([("max_ignored", Self.int($0.maxIgnored)), ("window_days", Self.int($0.windowDays))]) } ?? .null),
                ("constraints", .object([("products", Self.bounds(cs.products)), ("regions", Self.bounds(cs.regions)),
                                         ("segments", Self.bounds(cs.segments)), ("channels", Self.bounds(cs.channels))])),
                ("channels", .array(channelSummaries.map { s in
                    .object([("channel", .string(s.channel)), ("offers", Self.int(s.offers)),
                             ("min_propensity", .object([("min", Self.number(s.minPropensity.lowerBound)), ("max", Self.number(s.minPropensity.upperBound))])),
                             ("cost", .object([("min", Self.number(s.cost.lowerBound)), ("max", Self.number(s.cost.upperBound))]))])
                })),
                ("offers", .array(k.offers.map { o in
                    let value: JSONText
                    switch o.value { case .fixed(let v): value = .object([("fixed", Self.number(v))]); case .column(let col): value = .object([("column", .string(col))]) }
                    return .object([("id", .string(o.id)), ("product", .string(o.product)), ("family", .string(o.family)), ("model", .string(o.model)),
                                    ("value", value),
                                    ("channels", .array(o.channels.map { r in
                                        .object([("channel", .string(r.channel)), ("min_propensity", Self.number(r.minPropensity)), ("cost", Self.number(r.cost))])
                                    }))])
                })),
            ])))
        } else {
            fields.append(("campaign", .null))
        }
        fields.append(("runs_by_state", .object(runsByState.map { ($0.state, Self.int($0.count)) })))
        let u = size.usage
        func tree(_ t: LMDBEnvironment.TreeStat) -> JSONText {
            .object([("entries", Self.int(t.entries)), ("depth", Self.int(t.depth)), ("branch_pages", Self.int(t.branchPages)),
                     ("leaf_pages", Self.int(t.leafPages)), ("overflow_pages", Self.int(t.overflowPages))])
        }
        fields.append(("size", .object([
            ("data_file_bytes", Self.int(size.dataFileBytes)), ("data_file_allocated_bytes", Self.int(size.dataFileAllocatedBytes)),
            ("run_files", Self.int(size.runFiles)), ("run_files_bytes", Self.int(size.runFilesBytes)),
            ("map_size", Self.int(u.mapSize)), ("page_size", Self.int(u.pageSize)), ("pages_used", Self.int(u.pagesUsed)),
            ("pages_free", Self.int(u.freePages)), ("last_transaction", Self.int(u.lastTransaction)),
            ("reader_slots", .object([("used", Self.int(u.readersUsed)), ("max", Self.int(u.maxReaders))])),
            ("databases", .object(u.databases.map { ($0.name, tree($0.stat)) })),
        ])))
        return .object(fields)
    }

    // MARK: Text

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i + 1 < units.count { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : FixedDecimal.string(v, decimals: 1) + " " + units[i]
    }

    static func grouped(_ n: Int) -> String {
        let s = String(n.magnitude)
        var out = ""
        for (i, ch) in s.enumerated() { if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }; out.append(ch) }
        return (n < 0 ? "-" : "") + out
    }

    static func pad(_ t: String, _ n: Int) -> String { t.padding(toLength: max(n, t.count), withPad: " ", startingAt: 0) }

    static func range(_ r: ClosedRange<Double>) -> String {
        r.lowerBound == r.upperBound ? r.lowerBound.description : "\(r.lowerBound.description)…\(r.upperBound.description)"
    }

    /// The report for people: sections of aligned lines.
    public var text: String {
        var out: [String] = ["store \(path)", ""]
        let c = counts
        out.append("counts")
        for (k, v) in [("customers (profiles)", c.customers), ("contact-history records", c.contactHistory), ("offers", c.offers),
                       ("products", c.products), ("channels", c.channels), ("regions", c.regions), ("segments", c.segments),
                       ("models", c.models), ("kept runs", c.keptRuns), ("served responses", c.servedResponses),
                       ("last served sequence", Int(c.servedSequence))] {
            out.append("  " + Self.pad(k, 26) + Self.grouped(v))
        }
        if !runsByState.isEmpty { out.append("  " + Self.pad("runs by state", 26) + runsByState.map { "\($0.state) \($0.count)" }.joined(separator: ", ")) }
        out.append("")
        out.append("features (\(features.count)): " + (features.isEmpty ? "(none: no profiles imported)" : features.joined(separator: ", ")))
        for (name, values) in categorical.sorted(by: { $0.key < $1.key }) {
            out.append("  categorical \(name) (\(values.count)): " + values.prefix(12).joined(separator: ", ") + (values.count > 12 ? ", …" : ""))
        }
        out.append("regions (\(regions.count)): " + regions.joined(separator: ", "))
        out.append("segments (\(segments.count)): " + segments.joined(separator: ", "))
        out.append("")
        out.append("models (\(models.count))")
        if models.isEmpty { out.append("  (none)") }
        for m in models {
            let shape = m.trees != nil
                ? "\(m.trees ?? 0) trees, depth ≤ \(m.maxDepth ?? 0), \(Self.grouped(m.nodes ?? 0)) nodes"
                : "\(m.coefficients ?? 0) coefficients"
            let used = m.usedBy.isEmpty ? "not used by the campaign" : "used by " + m.usedBy.joined(separator: ", ")
            out.append("  " + Self.pad(m.id, 14) + " " + Self.pad(m.kind, 8) + " v\(m.version)  \(m.features) features, \(shape); \(used)")
        }
        out.append("")
        if let k = campaign {
            out.append("campaign v\(campaignVersion.map(String.init) ?? "?"): objective \(k.objective.rawValue), run date \(k.runDate)")
            out.append("  budget          " + (k.constraints.budget.map { $0.description } ?? "none"))
            out.append("  per customer    at most \(k.perCustomer.maxOffers) offers, \(k.perCustomer.maxPerFamily) per family")
            out.append("  fatigue         " + (k.fatigue.map { "\($0.maxIgnored) ignored within \($0.windowDays) days" } ?? "none"))
            let cs = k.constraints
            for (kind, list) in [("products", cs.products), ("regions", cs.regions), ("segments", cs.segments), ("channels", cs.channels)] {
                let caps = list.map { x in "\(x.name) [\(x.bounds.min.map(String.init) ?? "-"), \(x.bounds.max.map(String.init) ?? "-")]" }
                out.append("  caps " + Self.pad(kind, 10) + " " + (caps.isEmpty ? "none" : caps.joined(separator: ", ")))
            }
            out.append("  channels        (offers, min propensity, cost)")
            for s in channelSummaries {
                out.append("    " + Self.pad(s.channel, 14) + " " + Self.pad("\(s.offers) offers", 11) + " min propensity " + Self.pad(Self.range(s.minPropensity), 16)
                           + " cost " + Self.range(s.cost))
            }
        } else {
            out.append("campaign: none imported")
        }
        out.append("")
        let u = size.usage
        out.append("size")
        out.append("  data file       \(Self.bytes(size.dataFileBytes)) (\(Self.grouped(size.dataFileBytes)) bytes; \(Self.bytes(size.dataFileAllocatedBytes)) allocated)")
        out.append("  run files       \(Self.bytes(size.runFilesBytes)) (\(Self.grouped(size.runFilesBytes)) bytes in \(size.runFiles) files beside the store, runs/)")
        out.append("  map size        \(Self.bytes(u.mapSize))")
        out.append("  pages           \(Self.grouped(u.pagesUsed)) of \(u.pageSize) bytes used (\(Self.bytes(u.pagesUsed * u.pageSize))), \(Self.grouped(u.freePages)) of them free for reuse")
        out.append("  transactions    \(u.lastTransaction) committed; reader slots \(u.readersUsed) of \(u.maxReaders)")
        out.append("  " + Self.pad("database", 10) + Self.pad("entries", 14) + Self.pad("pages", 12) + "depth")
        for d in u.databases {
            out.append("  " + Self.pad(d.name, 10) + Self.pad(Self.grouped(d.stat.entries), 14) + Self.pad(Self.grouped(d.stat.pages), 12) + String(d.stat.depth))
        }
        return out.joined(separator: "\n") + "\n"
    }
}
