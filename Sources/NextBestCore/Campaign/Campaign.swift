/// A campaign: the offer catalogue and every rule the run must respect.
///
/// Read from YAML or JSON (same schema) by `nextbest import campaign`; see README for the schema.
public struct Campaign: Sendable, Equatable, Codable {
    /// The most caps a campaign may set (products, regions, segments and channels together): repair moves
    /// name constraint rows in 16 bits (`Repair.MoveList`), the budget and "none" included.
    public static let maxCaps = 65_533
    /// The most offers a campaign may have: candidates name offers in 16 bits, `UInt16.max` kept free.
    public static let maxOffers = 65_534
    /// The most distinct channels: candidates name channels in 8 bits, `UInt8.max` kept free.
    public static let maxChannels = 254
    /// The longest name (offer id, product, family, model, channel, constraint name) in UTF-8 bytes, as
    /// history caps offer ids: names are written into every summary and report.
    public static let maxLabelBytes = 255
    /// The largest offer value or contact cost: runs count money in micro-units in 64 bits (totals up to
    /// 9.2 × 10^12), so a single amount is kept well below.
    public static let maxAmount = 1e9
    /// The largest budget (10^18 micro-units, inside 64 bits with room for the sums compared with it).
    public static let maxBudget = 1e12
    /// The largest min or max of a count constraint.
    public static let maxCount = 1_000_000_000_000
    /// The largest `fatigue.max_ignored` (contacts are counted in 32 bits).
    public static let maxIgnoredLimit = 1_000_000
    /// The longest fatigue window: 100 years.
    public static let maxWindowDays = 36_600
    /// The keys a campaign document may have at its top level.
    public static let topLevelKeys: Set<String> = ["objective", "offers", "per_customer", "fatigue", "constraints", "run_date", "name"]
    /// What the optimization maximizes.
    public enum Objective: String, Sendable, Codable, CaseIterable {
        case expectedValue = "expected_value"
        case propensity
    }

    /// Where an offer's value to the bank comes from.
    public enum Value: Sendable, Equatable, Codable {
        /// The same NPV for every customer.
        case fixed(Double)
        /// A per-customer value read from a profile feature.
        case column(String)
    }

    /// One channel an offer may go out on.
    public struct ChannelRule: Sendable, Equatable, Codable {
        public var channel: String
        /// Minimum propensity for the offer to be made on this channel.
        public var minPropensity: Double
        /// Cost of one contact on this channel.
        public var cost: Double
        public init(channel: String, minPropensity: Double, cost: Double) { self.channel = channel; self.minPropensity = minPropensity; self.cost = cost }
    }

    /// One offer of the catalogue.
    public struct Offer: Sendable, Equatable, Codable {
        public var id: String
        public var product: String
        public var family: String
        /// Id of the imported propensity model that scores this offer.
        public var model: String
        public var value: Value
        /// Channel rules, sorted by channel name.
        public var channels: [ChannelRule]
        public init(id: String, product: String, family: String, model: String, value: Value, channels: [ChannelRule]) {
            self.id = id; self.product = product; self.family = family; self.model = model; self.value = value
            self.channels = channels.sorted { $0.channel < $1.channel }
        }
    }

    /// Limits that apply to every customer's list.
    public struct PerCustomer: Sendable, Equatable, Codable {
        public var maxOffers: Int
        public var maxPerFamily: Int
        public init(maxOffers: Int, maxPerFamily: Int) { self.maxOffers = maxOffers; self.maxPerFamily = maxPerFamily }
    }

    /// Contact-fatigue rule: an offer ignored `maxIgnored` times within `windowDays` is not offered again.
    public struct Fatigue: Sendable, Equatable, Codable {
        public var maxIgnored: Int
        public var windowDays: Int
        public init(maxIgnored: Int, windowDays: Int) { self.maxIgnored = maxIgnored; self.windowDays = windowDays }
    }

    /// Min and max counts of offers made.
    public struct Bounds: Sendable, Equatable, Codable {
        public var min: Int?
        public var max: Int?
        public init(min: Int?, max: Int?) { self.min = min; self.max = max }
    }

    /// A named campaign-wide count constraint (product, region, segment or channel).
    public struct CountConstraint: Sendable, Equatable, Codable {
        public var name: String
        public var bounds: Bounds
        public init(name: String, bounds: Bounds) { self.name = name; self.bounds = bounds }
    }

    /// Campaign-wide constraints; each list is sorted by name.
    public struct Constraints: Sendable, Equatable, Codable {
        public var budget: Double?
        public var products: [CountConstraint]
        public var regions: [CountConstraint]
        public var segments: [CountConstraint]
        public var channels: [CountConstraint]

        public init(budget: Double? = nil, products: [CountConstraint] = [], regions: [CountConstraint] = [],
                    segments: [CountConstraint] = [], channels: [CountConstraint] = []) {
            self.budget = budget; self.products = products; self.regions = regions
            self.segments = segments; self.channels = channels
        }

        public var isEmpty: Bool {
            budget == nil && products.isEmpty && regions.isEmpty && segments.isEmpty && channels.isEmpty
        }
    }

    public var objective: Objective
    /// Offers sorted by id (the order ties are broken in).
    public var offers: [Offer]
    public var perCustomer: PerCustomer
    public var fatigue: Fatigue?
    public var constraints: Constraints
    /// The day fatigue windows count back from.
    public var runDate: CalendarDay

    public init(objective: Objective, offers: [Offer], perCustomer: PerCustomer, fatigue: Fatigue?,
                constraints: Constraints, runDate: CalendarDay) {
        self.objective = objective
        self.offers = offers.sorted { $0.id < $1.id }
        self.perCustomer = perCustomer
        self.fatigue = fatigue
        self.constraints = constraints
        self.runDate = runDate
    }

    /// Distinct model ids the offers use, sorted.
    public var modelIDs: [String] { Array(Set(offers.map(\.model))).sorted() }
    /// Distinct channels the offers use, sorted.
    public var channelNames: [String] { Array(Set(offers.flatMap { $0.channels.map(\.channel) })).sorted() }
    /// Distinct products, sorted.
    public var productNames: [String] { Array(Set(offers.map(\.product))).sorted() }
    /// Distinct families, sorted.
    public var familyNames: [String] { Array(Set(offers.map(\.family))).sorted() }
}

/// Why a campaign document was refused; `path` is the key path, `line` the source line when known.
public struct CampaignError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var line: Int?
    public var reason: String

    public init(path: String, line: Int?, reason: String) {
        self.path = path; self.line = line; self.reason = reason
    }

    public var description: String {
        if let line { return "line \(line), key \(path): \(reason)" }
        return "key \(path): \(reason)"
    }
}
