import Foundation
import NextBestCore
import Synchronization

/// A deterministic synthetic bank: customers with realistic profiles and contact history, an offer
/// catalogue with one propensity model per offer, and a campaign whose caps bind but can be met.
///
/// The same parameters always give byte-identical profiles, history, model files and campaign text.
/// Each customer is drawn from its own random stream (`SplitMix64(seed:stream:)`), so customers can be
/// generated in any order and from several threads; `profile(at:)` costs about a microsecond.
public struct PopulationGenerator: Sendable {
    public let customers: Int
    public let offers: Int
    public let seed: UInt64
    public let treeModelShare: Double
    public let trees: Int
    public let depth: Int
    public let runDate: CalendarDay

    /// Profile feature columns: about 40 realistic features (see `SyntheticFeatures.names`); NaN marks a
    /// missing value in a few percent of income, credit_score, property_value, card_utilization,
    /// employment_years, days_since_last_login and churn_score.
    public let schema: FeatureSchema
    /// Region names; a profile's `region` is an index into this list.
    public let regions: [String]
    /// Segment names; a profile's `segment` is an index into this list.
    public let segments: [String]
    /// The offer catalogue (ids `O01`…), without campaign-wide constraints.
    public let catalogue: [Campaign.Offer]

    let specs: [OfferCatalogue.Spec]
    private let extraFeatures: Int
    private let cache: ModelCache

    /// - Parameters:
    ///   - featureCount: number of profile features, at least 12; beyond the 40 realistic ones, `aux_NN`
    ///     noise columns are added.
    ///   - treeModelShare: share of offers scored by XGBoost tree models (the rest are logistic).
    ///   - trees, depth: trees per XGBoost model, each with exactly `depth` levels of splits.
    public init(customers: Int, offers: Int, seed: UInt64, featureCount: Int = 40, treeModelShare: Double = 0.5,
                trees: Int = 100, depth: Int = 6, runDate: CalendarDay = CalendarDay("2026-11-23")!) {
        precondition(customers >= 0, "customers must be >= 0")
        precondition(offers >= 1, "offers must be >= 1")
        precondition(featureCount >= SyntheticFeatures.minimumCount, "featureCount must be >= \(SyntheticFeatures.minimumCount)")
        precondition(trees >= 1, "trees must be >= 1")
        precondition((0...16).contains(depth), "depth must be in 0...16")
        self.customers = customers
        self.offers = offers
        self.seed = seed
        self.treeModelShare = treeModelShare
        self.trees = trees
        self.depth = depth
        self.runDate = runDate
        do { schema = try FeatureSchema(names: SyntheticFeatures.schemaNames(count: featureCount)) }
        catch { preconditionFailure("generated schema is invalid: \(error)") }
        regions = SyntheticFeatures.regions
        segments = SyntheticFeatures.segments
        extraFeatures = max(0, featureCount - SyntheticFeatures.baseCount)
        specs = OfferCatalogue.specs(count: offers, seed: seed, schema: schema)
        catalogue = specs.map {
            Campaign.Offer(id: $0.id, product: $0.product, family: $0.family, model: "m_" + $0.id, value: $0.value, channels: $0.channels)
        }
        cache = ModelCache()
    }

    // MARK: Customers

    /// The id of the customer at `index`: strictly increasing in `index`, not contiguous
    /// (`10_000_000 + 3·index + jitter`, jitter in 0...2).
    @inlinable
    public func customerID(at index: Int) -> UInt64 {
        10_000_000 + UInt64(index) &* 3 + Self.jitter(seed: seed, index: index)
    }

    @usableFromInline
    static func jitter(seed: UInt64, index: Int) -> UInt64 {
        var rng = SplitMix64(seed: seed ^ 0x1D1D_0000_C057_0001, stream: UInt64(index))
        return rng.next() % 3
    }

    /// The profile of the customer at `index`; region and segment are codes into `regions` and `segments`.
    public func profile(at index: Int) -> Profile {
        var rng = SplitMix64(seed: seed, stream: UInt64(index))
        let width = SyntheticFeatures.baseCount + extraFeatures
        var codes: (region: UInt16, segment: UInt16) = (0, 0)
        var features = [Float](unsafeUninitializedCapacity: width) { buf, count in
            codes = SyntheticFeatures.draw(into: buf.baseAddress!, extra: extraFeatures, rng: &rng)
            count = width
        }
        if schema.count < width { features.removeLast(width - schema.count) }
        return Profile(customerID: customerID(at: index), region: codes.region, segment: codes.segment, features: features)
    }

    /// The contact history of the customer at `index`, sorted by day, offer, channel.
    ///
    /// About 15% of customers have 1 to 6 contacts in the 120 days before the run date, on offers of the
    /// catalogue and channels those offers use; outcomes are mostly `ignored`. About half of them were
    /// contacted 2 to 4 times with the same offer and mostly ignored it, which the campaign's fatigue rule
    /// (`max_ignored` 2 or 3 within 90 days) catches for some of them.
    public func history(at index: Int) -> [ContactEvent] {
        var rng = SplitMix64(seed: seed ^ 0x4157_0123_B00C_0001, stream: UInt64(index))
        guard rng.unit() < 0.15 else { return [] }
        let n = 1 + rng.below(6)
        let id = customerID(at: index)
        let end = runDate.daysSinceEpoch
        var events: [ContactEvent] = []
        events.reserveCapacity(n)
        func channel(_ o: Int) -> String { let ch = specs[o].channels; return ch[rng.below(ch.count)].channel }
        var remaining = n
        if n >= 2 && rng.unit() < 0.55 {
            let o = rng.below(specs.count)
            let k = min(n, 2 + rng.below(3))
            for _ in 0..<k {
                let day = CalendarDay(daysSinceEpoch: end - 1 - Int32(rng.below(100)))
                let outcome: ContactOutcome = rng.unit() < 0.9 ? .ignored : .rejected
                events.append(ContactEvent(customerID: id, offerID: specs[o].id, channel: channel(o), day: day, outcome: outcome))
            }
            remaining -= k
        }
        for _ in 0..<remaining {
            let o = rng.below(specs.count)
            let day = CalendarDay(daysSinceEpoch: end - 1 - Int32(rng.below(120)))
            let u = rng.unit()
            let outcome: ContactOutcome = u < 0.65 ? .ignored : (u < 0.87 ? .rejected : .accepted)
            events.append(ContactEvent(customerID: id, offerID: specs[o].id, channel: channel(o), day: day, outcome: outcome))
        }
        events.sort {
            ($0.day, $0.offerID, $0.channel, $0.outcome.rawValue) < ($1.day, $1.offerID, $1.channel, $1.outcome.rawValue)
        }
        return events
    }

    // MARK: Models

    /// One model file per offer, in offer order: id `m_<offer id>`, format, file text. A share
    /// `treeModelShare` of them are XGBoost JSON, the rest logistic JSON.
    public var models: [(id: String, format: ModelFormat, fileText: String)] {
        cache.files { synthesizedModels.map { ModelFile(id: $0.id, format: $0.format, fileText: $0.fileText) } }
            .map { ($0.id, $0.format, $0.fileText) }
    }

    /// The models as `ModelFormat.parse` reads them from the `models` files, keyed by id, built directly
    /// (without writing and parsing JSON).
    public func propensityModels() -> [String: PropensityModel] {
        var out: [String: PropensityModel] = [:]
        for m in synthesizedModels { out[m.id] = m.propensityModel() }
        return out
    }

    var synthesizedModels: [SynthesizedModel] {
        cache.get {
            ModelSynthesis.build(specs: specs, schema: schema, seed: seed, treeModelShare: treeModelShare, trees: trees, depth: depth)
        }
    }
}

struct ModelFile: Sendable {
    let id: String
    let format: ModelFormat
    let fileText: String
}

/// Models are costly to grow and write; a generator does each once, on first use, whichever thread asks.
/// Each is made under its own `Mutex`, so a second thread asking waits for the first one's.
final class ModelCache: Sendable {
    private let models = Mutex<[SynthesizedModel]?>(nil)
    private let texts = Mutex<[ModelFile]?>(nil)

    func get(_ make: () -> [SynthesizedModel]) -> [SynthesizedModel] {
        models.withLock { m in
            if let m { return m }
            let made = make()
            m = made
            return made
        }
    }

    func files(_ make: () -> [ModelFile]) -> [ModelFile] {
        texts.withLock { t in
            if let t { return t }
            let made = make()
            t = made
            return made
        }
    }
}
