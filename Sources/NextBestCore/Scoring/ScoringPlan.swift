#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A campaign compiled against a store: offers as dense indices, models bound to feature positions,
/// value columns resolved. Built once per run and shared read-only by every scoring thread.
public struct ScoringPlan: Sendable {
    /// One offer, compiled.
    public struct PlannedOffer: Sendable {
        public let id: String
        public let idBytes: [UInt8]
        public let product: Int
        public let family: Int
        /// Index into `models`.
        public let model: Int
        /// Fixed value, used when `valueFeature` is nil.
        public let value: Double
        /// Feature position of a per-customer value.
        public let valueFeature: Int?
        /// Channel indices (into `channels`), ascending.
        public let channels: [Int]
        public let minPropensity: [Float]
        public let cost: [Double]
    }

    public let campaign: Campaign
    public let schema: FeatureSchema
    public let models: [BoundModel]
    /// Offers in id order; an offer's index is its rank in tie-breaks.
    public let offers: [PlannedOffer]
    public let channels: [String]
    public let products: [String]
    public let families: [String]
    /// Cost of each (offer, channel) pair, `offer * channels.count + channel` (0 where the offer lacks it).
    public let pairCost: [Double]
    /// Every offer's id bytes back to back (offer `i`'s are `offerIDStart[i]..<offerIDStart[i + 1]`), for
    /// `offerIndex(idBytes:)`: a history scan looks up every contact's offer, and walking `offers` there
    /// retained each offer's arrays.
    @usableFromInline let offerIDBytes: ContiguousArray<UInt8>
    @usableFromInline let offerIDStart: ContiguousArray<Int32>

    /// Compiles `campaign` for a store with `schema`, given every model the campaign names.
    public init(campaign: Campaign, schema: FeatureSchema, models: [String: PropensityModel]) throws(PlanError) {
        self.campaign = campaign
        self.schema = schema
        let modelIDs = campaign.modelIDs
        var bound: [BoundModel] = []
        for id in modelIDs {
            guard let m = models[id] else { throw .unknownModel(id) }
            do { bound.append(try m.bound(to: schema)) } catch { throw .model(error) }
        }
        self.models = bound
        let channels = campaign.channelNames, products = campaign.productNames, families = campaign.familyNames
        self.channels = channels
        self.products = products
        self.families = families
        guard campaign.offers.count < Int(UInt16.max), channels.count < Int(UInt8.max) else { throw .tooLarge }
        var planned: [PlannedOffer] = []
        for o in campaign.offers {
            var valueFeature: Int? = nil
            var value = 0.0
            switch o.value {
            case .fixed(let v): value = v
            case .column(let c):
                guard let i = schema.index(of: c) else { throw .unknownValueColumn(offer: o.id, column: c) }
                guard !schema.isCategorical(i) else { throw .textValueColumn(offer: o.id, column: c) }
                valueFeature = i
            }
            planned.append(PlannedOffer(
                id: o.id, idBytes: Array(o.id.utf8),
                product: products.firstIndex(of: o.product)!, family: families.firstIndex(of: o.family)!,
                model: modelIDs.firstIndex(of: o.model)!, value: value, valueFeature: valueFeature,
                channels: o.channels.map { channelNames(channels, $0.channel) },
                minPropensity: o.channels.map { Float($0.minPropensity) }, cost: o.channels.map(\.cost)))
        }
        offers = planned
        var pairCost = [Double](repeating: 0, count: planned.count * channels.count)
        for (oi, o) in planned.enumerated() { for (k, ch) in o.channels.enumerated() { pairCost[oi * channels.count + ch] = o.cost[k] } }
        self.pairCost = pairCost
        var idBytes = ContiguousArray<UInt8>(), idStart = ContiguousArray<Int32>([0])
        for o in planned { idBytes.append(contentsOf: o.idBytes); idStart.append(Int32(idBytes.count)) }
        offerIDBytes = idBytes
        offerIDStart = idStart
    }

    /// The cost of a candidate's channel for its offer.
    @inlinable
    public func cost(of c: Candidate) -> Double { pairCost[Int(c.offer) * channels.count + Int(c.channel)] }

    /// The offer index for raw id bytes (as stored in the history), or nil if the campaign lacks it.
    @inlinable
    public func offerIndex(idBytes: UnsafeRawBufferPointer) -> Int? {
        offerIDBytes.withUnsafeBytes { all in
            offerIDStart.withUnsafeBufferPointer { start in
                for i in 0..<(start.count - 1) {
                    let a = Int(start[i]), n = Int(start[i + 1]) - a
                    if n == idBytes.count, n == 0 || memcmp(all.baseAddress! + a, idBytes.baseAddress!, n) == 0 { return i }
                }
                return nil
            }
        }
    }
}

private func channelNames(_ all: [String], _ name: String) -> Int { all.firstIndex(of: name)! }

/// Why a campaign cannot be compiled against the store.
public enum PlanError: Error, CustomStringConvertible {
    case unknownModel(String)
    case unknownValueColumn(offer: String, column: String)
    /// The value column holds text (category codes), not amounts.
    case textValueColumn(offer: String, column: String)
    case model(ModelError)
    case tooLarge

    public var description: String {
        switch self {
        case .unknownModel(let m): return "the campaign uses model '\(m)', which is not in the store: import it with `nextbest import model FILE --id \(m)`"
        case .unknownValueColumn(let o, let c): return "offer '\(o)' takes its value from column '\(c)', which is not a profile feature in the store"
        case .textValueColumn(let o, let c): return "offer '\(o)' takes its value from column '\(c)', which holds text (categories), not amounts: name a numeric column or give a fixed value"
        case .model(let e): return e.description
        case .tooLarge: return "the campaign has too many offers (max 65534) or channels (max 254)"
        }
    }
}
