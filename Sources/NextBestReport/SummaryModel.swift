import Foundation

/// `summary.json` as the report reads it: the one model the page is drawn from, decoded by `JSONDecoder`
/// (`SummaryModel.decode`). Every field may be missing; a known field that is null or of another type is
/// left out (the report shows what it can), and top-level fields it does not know are kept in `otherFields`.
public struct SummaryModel: Decodable, Sendable {
    public var objective: String?
    public var customers: Double?
    public var customersWithOffers: Double?
    public var offersMade: Double?
    public var totalExpectedValue: Double?
    public var totalCost: Double?
    public var expectedResponses: Double?
    public var fatigueExclusions: Double?
    /// Offers made per category, in the order the run wrote them.
    public var byProduct, byRegion, bySegment, byChannel, byOffer: OrderedObject<Double>?
    public var propensityByOffer: Propensity?
    public var runId: String?
    /// When the run started, the nextbest that ran it, the campaign's version and each model's version.
    public var started: String?
    public var nextbestVersion: String?
    public var campaignVersion: Double?
    public var modelVersions: OrderedObject<Double>?
    /// The last response served by `nextbest serve` that the run's contact history holds.
    public var servedResponsesThrough: Double?
    public var store: String?
    /// A simulation's figures against the run it started from (`nextbest simulate`).
    public var comparedWithBase: BaseComparison?
    public var shards: Double?
    public var workers: Double?
    public var resumed: Bool?
    public var rescoredFrom: JSONValue?
    public var modelsRescored: JSONValue?
    public var customersChanged: JSONValue?
    public var optimization: Optimization?
    public var messages: OrderedObject<JSONValue>?
    public var shardLatency: ShardLatency?
    public var recovery: OrderedObject<JSONValue>?
    /// Seconds per stage; "total" is the whole run.
    public var timingsSeconds: OrderedObject<Double>?
    /// The comparison with the previous kept run (`since_last_night`; null when there is none) and whether
    /// the field is there at all.
    public var sinceLastNight: Comparison?
    public var hasSinceLastNight: Bool
    /// Every kept night's headline figures, oldest first.
    public var trend: [Night]?
    /// Top-level fields not named above, in document order.
    public var otherFields: OrderedObject<JSONValue>

    enum CodingKeys: String, CodingKey, CaseIterable {
        case objective, customers, store, shards, workers, resumed, optimization, messages, recovery
        case customersWithOffers = "customers_with_offers", offersMade = "offers_made"
        case totalExpectedValue = "total_expected_value", totalCost = "total_cost"
        case expectedResponses = "expected_responses", fatigueExclusions = "fatigue_exclusions"
        case byProduct = "by_product", byRegion = "by_region", bySegment = "by_segment", byChannel = "by_channel", byOffer = "by_offer"
        case propensityByOffer = "propensity_by_offer", runId = "run_id", rescoredFrom = "rescored_from"
        case modelsRescored = "models_rescored", customersChanged = "customers_changed"
        case shardLatency = "shard_latency", timingsSeconds = "timings_seconds"
        case sinceLastNight = "since_last_night", trend
        case started, nextbestVersion = "nextbest_version", campaignVersion = "campaign_version", modelVersions = "model_versions"
        case comparedWithBase = "compared_with_base", servedResponsesThrough = "served_responses_through"
    }

    /// Reads a summary object; throws `DecodingError.typeMismatch` if the value is not an object.
    public init(from decoder: any Decoder) throws {
        let all = try OrderedObject<JSONValue>(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        objective = c.lenient(.objective); customers = c.lenient(.customers)
        customersWithOffers = c.lenient(.customersWithOffers); offersMade = c.lenient(.offersMade)
        totalExpectedValue = c.lenient(.totalExpectedValue); totalCost = c.lenient(.totalCost)
        expectedResponses = c.lenient(.expectedResponses); fatigueExclusions = c.lenient(.fatigueExclusions)
        byProduct = c.lenient(.byProduct); byRegion = c.lenient(.byRegion); bySegment = c.lenient(.bySegment)
        byChannel = c.lenient(.byChannel); byOffer = c.lenient(.byOffer)
        propensityByOffer = c.lenient(.propensityByOffer)
        runId = c.lenient(.runId); store = c.lenient(.store);
        started = c.lenient(.started); nextbestVersion = c.lenient(.nextbestVersion); comparedWithBase = c.lenient(.comparedWithBase)
        servedResponsesThrough = c.lenient(.servedResponsesThrough)
        campaignVersion = c.lenient(.campaignVersion); modelVersions = c.lenient(.modelVersions)
        shards = c.lenient(.shards); workers = c.lenient(.workers)
        resumed = c.lenient(.resumed); rescoredFrom = c.lenient(.rescoredFrom)
        modelsRescored = c.lenient(.modelsRescored); customersChanged = c.lenient(.customersChanged)
        optimization = c.lenient(.optimization); messages = c.lenient(.messages); shardLatency = c.lenient(.shardLatency)
        recovery = c.lenient(.recovery); timingsSeconds = c.lenient(.timingsSeconds)
        sinceLastNight = c.lenient(.sinceLastNight); hasSinceLastNight = c.contains(.sinceLastNight); trend = c.lenient(.trend)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        otherFields = all.filter { !known.contains($0.key) }
    }

    /// Decodes the text of `summary.json`. Throws `ReportPage.Failure` if it is not JSON or not an object.
    public static func decode(_ text: String) throws -> SummaryModel {
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        let decoder = JSONDecoder()
        decoder.userInfo[KeyOrder.userInfoKey] = KeyOrder(bytes)
        let data = Data(bytes)
        do {
            return try decoder.decode(SummaryModel.self, from: data)
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw ReportPage.Failure.notAnObject((try? decoder.decode(JSONValue.self, from: data))?.kindName ?? "something else")
        } catch let DecodingError.dataCorrupted(context) {
            let why = context.underlyingError.map { " (\($0))" } ?? ""
            throw ReportPage.Failure.invalidJSON(context.debugDescription + why)
        }
    }
}

extension SummaryModel {
    /// `compared_with_base`: a simulation's figures, the base run's and the simulated, with the simulated
    /// campaign's limits.
    public struct BaseComparison: Decodable, Sendable {
        public var baseRun, campaign: String?
        public var figures: [Figure]?
        enum CodingKeys: String, CodingKey { case campaign, figures, baseRun = "base_run" }

        /// One compared figure.
        public struct Figure: Decodable, Sendable {
            public var name: String?
            public var base, simulated: Double?
            public var limitsSimulated: String?
            enum CodingKeys: String, CodingKey { case name, base, simulated, limitsSimulated = "limits_simulated" }
        }
    }

    /// The optimization report: bounds, the per-round history and each constraint's use.
    public struct Optimization: Decodable, Sendable {
        public var objective, dualBound, gap, relaxedObjective, rounds, roundSeconds, repairSeconds: Double?
        public var presolve: Presolve?
        public var history: [Round]?
        public var constraints: [Constraint]?
        /// Scalar fields not named above ("passes", ...), in document order.
        public var otherFields: OrderedObject<JSONValue>

        enum CodingKeys: String, CodingKey, CaseIterable {
            case objective, gap, rounds, presolve, history, constraints
            case dualBound = "dual_bound", relaxedObjective = "relaxed_objective"
            case roundSeconds = "round_seconds", repairSeconds = "repair_seconds"
        }

        /// Reads the `optimization` object.
        public init(from decoder: any Decoder) throws {
            let all = try OrderedObject<JSONValue>(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            objective = c.lenient(.objective); dualBound = c.lenient(.dualBound); gap = c.lenient(.gap)
            relaxedObjective = c.lenient(.relaxedObjective); rounds = c.lenient(.rounds)
            roundSeconds = c.lenient(.roundSeconds); repairSeconds = c.lenient(.repairSeconds)
            presolve = c.lenient(.presolve); history = c.lenient(.history); constraints = c.lenient(.constraints)
            let known = Set(CodingKeys.allCases.map(\.rawValue))
            otherFields = all.filter { entry in
                guard !known.contains(entry.key) else { return false }
                switch entry.value { case .null, .array, .object: return false; default: return true }
            }
        }
    }

    /// The presolve on a sample of customers.
    public struct Presolve: Decodable, Sendable {
        public var sampleModulus, rounds, seconds: Double?
        /// Each sample level, smallest sample first, with its passes in the sample's units.
        public var levels: [Level]?
        enum CodingKeys: String, CodingKey { case rounds, seconds, levels, sampleModulus = "sample_modulus" }

        /// One sample level of the presolve.
        public struct Level: Decodable, Sendable {
            public var sampleModulus: Double?
            public var history: [Round]?
            enum CodingKeys: String, CodingKey { case history, sampleModulus = "sample_modulus" }
        }
    }

    /// One round of the optimization.
    public struct Round: Decodable, Sendable {
        public var round, dual, relaxedPrimal, maxViolation: Double?
        enum CodingKeys: String, CodingKey { case round, dual, relaxedPrimal = "relaxed_primal", maxViolation = "max_violation" }
    }

    /// One constraint: how much of it the plan uses, its limits and its shadow price.
    public struct Constraint: Decodable, Sendable {
        public var key, kind, name: String?
        public var used, min, max, price: Double?
    }

    /// Offers made per propensity bin, per offer.
    public struct Propensity: Decodable, Sendable {
        public var binEdges: [Double]?
        public var offers: OrderedObject<[Double]>?
        enum CodingKeys: String, CodingKey { case offers, binEdges = "bin_edges" }
    }

    /// How long shards took, with a histogram.
    public struct ShardLatency: Decodable, Sendable {
        public var unit: String?
        public var count, mean, p50, p90, p99, p999, max: Double?
        public var histogram: [Bucket]?

        /// Shards that took at most `leMs`.
        public struct Bucket: Decodable, Sendable {
            public var leMs, count: Double?
            enum CodingKeys: String, CodingKey { case count, leMs = "le_ms" }
        }
    }
}

extension SummaryModel {
    /// `since_last_night`: this run against the previous kept run (A: last night, B: this run).
    public struct Comparison: Decodable, Sendable {
        public var runA, runB: RunRef?
        public var objective, gap, offersMade: Pair?
        public var topOffer: TopOffer?
        public var byProduct, byOffer, byChannel, byRegion, bySegment: [Change]?
        public var psi: PSI?
        public var notes: [String]?

        enum CodingKeys: String, CodingKey {
            case objective, gap, psi, notes
            case runA = "run_a", runB = "run_b", offersMade = "offers_made", topOffer = "top_offer"
            case byProduct = "by_product", byOffer = "by_offer", byChannel = "by_channel", byRegion = "by_region", bySegment = "by_segment"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            runA = c.lenient(.runA); runB = c.lenient(.runB); objective = c.lenient(.objective); gap = c.lenient(.gap)
            offersMade = c.lenient(.offersMade); topOffer = c.lenient(.topOffer)
            byProduct = c.lenient(.byProduct); byOffer = c.lenient(.byOffer); byChannel = c.lenient(.byChannel)
            byRegion = c.lenient(.byRegion); bySegment = c.lenient(.bySegment); psi = c.lenient(.psi); notes = c.lenient(.notes)
        }
    }

    /// A compared run's identity.
    public struct RunRef: Decodable, Sendable {
        public var runId, started: String?
        enum CodingKeys: String, CodingKey { case started, runId = "run_id" }
    }

    /// A figure in both runs.
    public struct Pair: Decodable, Sendable {
        public var a, b, delta: Double?
    }

    /// The customers whose top offer changed.
    public struct TopOffer: Decodable, Sendable {
        public var customers, changed, share, gained, lost: Double?
    }

    /// A category's offers in both runs.
    public struct Change: Decodable, Sendable {
        public var name: String?
        public var a, b, delta: Double?
    }

    /// The propensity shift per offer.
    public struct PSI: Decodable, Sendable {
        public var bins: Double?
        public var offers: [Shift]?
    }

    /// One offer's PSI.
    public struct Shift: Decodable, Sendable {
        public var offerId, model: String?
        public var psi: Double?
        enum CodingKeys: String, CodingKey { case model, psi, offerId = "offer_id" }
    }

    /// One kept night in `trend`.
    public struct Night: Decodable, Sendable {
        public var runId, started: String?
        public var objective, gap, customersWithOffers, offersMade: Double?
        public var byOffer: OrderedObject<Double>?
        enum CodingKeys: String, CodingKey {
            case started, objective, gap
            case runId = "run_id", customersWithOffers = "customers_with_offers", offersMade = "offers_made", byOffer = "by_offer"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            runId = c.lenient(.runId); started = c.lenient(.started); objective = c.lenient(.objective); gap = c.lenient(.gap)
            customersWithOffers = c.lenient(.customersWithOffers); offersMade = c.lenient(.offersMade); byOffer = c.lenient(.byOffer)
        }
    }
}

extension KeyedDecodingContainer {
    /// The value at `key` if it is there and of type `T`; nil if it is missing, null or of another type.
    func lenient<T: Decodable>(_ key: Key) -> T? { (try? decodeIfPresent(T.self, forKey: key)) ?? nil }
}
