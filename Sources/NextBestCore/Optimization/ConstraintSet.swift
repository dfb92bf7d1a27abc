/// The campaign-wide constraints compiled for the optimizer: one row per budget, product, region,
/// segment or channel constraint, with lookup tables from plan indices and profile codes to rows.
///
/// Resource use is exact: counts are integers and the budget is counted in micro-units of money, so
/// use combines identically however customers are split into shards.
public struct ConstraintSet: Sendable {
    /// What a row counts.
    public enum Kind: String, Sendable, Codable { case budget, product, region, segment, channel }

    /// One constraint row: `lower <= use <= upper` (bounds in the row's unit: offers, or micro-money).
    public struct Row: Sendable, Equatable {
        public var kind: Kind
        public var name: String
        public var lower: Int64?
        public var upper: Int64?
        /// The key the campaign file uses, e.g. `constraints.products.mortgage_fixed`.
        public var key: String {
            switch kind {
            case .budget: return "constraints.budget"
            case .product: return "constraints.products.\(name)"
            case .region: return "constraints.regions.\(name)"
            case .segment: return "constraints.segments.\(name)"
            case .channel: return "constraints.channels.\(name)"
            }
        }
    }

    public let rows: [Row]
    /// Row of the budget, or -1.
    public let budgetRow: Int
    /// Row per plan product index, or -1.
    public let productRow: [Int32]
    /// Row per plan channel index, or -1.
    public let channelRow: [Int32]
    /// Row per region code, or -1.
    public let regionRow: [Int32]
    /// Row per segment code, or -1.
    public let segmentRow: [Int32]

    /// Compiles the campaign's constraints against a plan and the store's dictionaries.
    public init(plan: ScoringPlan, regions: CodeDictionary, segments: CodeDictionary) {
        let c = plan.campaign.constraints
        var rows: [Row] = []
        var budgetRow = -1
        if let b = c.budget {
            budgetRow = rows.count
            rows.append(Row(kind: .budget, name: "budget", lower: nil, upper: RunTotals.micros(b)))
        }
        func table(_ list: [Campaign.CountConstraint], _ kind: Kind, size: Int, index: (String) -> Int?) -> [Int32] {
            var t = [Int32](repeating: -1, count: size)
            for cc in list {
                guard let i = index(cc.name), i < size else { continue }
                t[i] = Int32(rows.count)
                rows.append(Row(kind: kind, name: cc.name, lower: cc.bounds.min.map(Int64.init), upper: cc.bounds.max.map(Int64.init)))
            }
            return t
        }
        productRow = table(c.products, .product, size: plan.products.count) { plan.products.firstIndex(of: $0) }
        regionRow = table(c.regions, .region, size: regions.count) { regions.existingCode(for: $0).map(Int.init) }
        segmentRow = table(c.segments, .segment, size: segments.count) { segments.existingCode(for: $0).map(Int.init) }
        channelRow = table(c.channels, .channel, size: plan.channels.count) { plan.channels.firstIndex(of: $0) }
        precondition(rows.count <= Campaign.maxCaps + 1, "more than \(Campaign.maxCaps) caps (the campaign reader refuses them)")
        self.rows = rows
        self.budgetRow = budgetRow
    }

    public var count: Int { rows.count }
    public var isEmpty: Bool { rows.isEmpty }
}
