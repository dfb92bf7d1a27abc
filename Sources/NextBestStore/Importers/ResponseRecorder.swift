import Foundation
import NextBestCore

/// Records one customer's response as it happens (`nextbest serve`, `POST /v1/customers/{id}/responses`), checked
/// as `import responses` checks a row, in one write transaction with a record keyed by the client's event id, so
/// a retried request is recorded once; each response gets the next sequence number.
///
/// A recorded response waits, **pending**, until the next new run takes it into the contact history (`absorb`:
/// `nextbest run` does it as it starts, the nightly chain with `nextbest import served` among its imports). So a
/// response served during a run never changes that run, and the store's fingerprint and data stamp stay as they
/// were: `--resume`, `rescore --from` and workers joining a run see the history the run started with.
///
/// Keys in `meta`: `response_event/<event id>` → the sequence number (8 bytes, big-endian) and the contact as
/// `HistoryCodec` encodes it; `response_pending/<customer id><sequence>` (8 + 8 bytes, big-endian) → the
/// contact; `response_sequence` → the last sequence number given; `response_absorbed` → the last one taken
/// into the history.
public enum ResponseRecorder {
    /// One response as a channel sends it.
    public struct Response: Sendable, Equatable {
        public var customer: UInt64
        public var offer: String
        public var channel: String
        public var outcome: String
        public var date: String
        public var eventID: String

        public init(customer: UInt64, offer: String, channel: String, outcome: String, date: String, eventID: String) {
            self.customer = customer; self.offer = offer; self.channel = channel
            self.outcome = outcome; self.date = date; self.eventID = eventID
        }
    }

    /// What happened to a response.
    public enum Outcome: Sendable, Equatable {
        /// Recorded now, with this sequence number.
        case recorded(sequence: UInt64)
        /// The event id was recorded before with the same contact: nothing written.
        case duplicate(sequence: UInt64)
    }

    /// A response that is not recorded, and why.
    public enum Refusal: Error, CustomStringConvertible, Equatable {
        case field(String, String)
        case unknownCustomer(UInt64)
        case eventReused(String)
        public var description: String {
            switch self {
            case let .field(_, reason): return reason
            case .unknownCustomer(let id): return "customer \(id) has no profile in the store"
            case .eventReused(let id): return "event_id \(Quoted.text(id)) was recorded before with another contact; send a new event_id"
            }
        }
        /// The request field at fault, if one is.
        public var fieldName: String? {
            switch self {
            case .field(let f, _): return f
            case .unknownCustomer: return "customer_id"
            case .eventReused: return "event_id"
            }
        }
    }

    static let sequenceKey = Array("response_sequence".utf8)
    static let absorbedKey = Array("response_absorbed".utf8)
    static let pendingPrefix = Array("response_pending/".utf8)
    static func eventKey(_ id: String) -> [UInt8] { Array("response_event/".utf8) + Array(id.utf8) }
    static func bigEndian(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) } }
    static func number(_ b: some Collection<UInt8>) -> UInt64 { b.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }

    /// Checks and records `r` in one write transaction (nothing written when refused).
    public static func record(_ r: Response, store: Store) throws -> Outcome {
        guard !r.eventID.isEmpty, r.eventID.utf8.count <= 200 else { throw Refusal.field("event_id", "event_id must be 1 to 200 bytes") }
        let event: ContactEvent
        switch HistoryImporter.event(customer: r.customer, offer: r.offer, channel: r.channel, date: r.date, outcome: r.outcome) {
        case .success(let e): event = e
        case .failure(let f): throw Refusal.field(f.field, f.reason)
        }
        let value = HistoryCodec.encodeValue(event)
        return try store.env.write { txn in
            let key = eventKey(r.eventID)
            if let seen = try txn.get(store.meta, key: key) {
                guard seen.count == 8 + value.count, Array(seen[8...]) == value else { throw Refusal.eventReused(r.eventID) }
                return .duplicate(sequence: seen.prefix(8).reduce(0) { $0 << 8 | UInt64($1) })
            }
            let profile = ProfileCodec.key(r.customer)
            guard try txn.get(store.profiles, key: profile) != nil else { throw Refusal.unknownCustomer(r.customer) }
            let sequence = (try txn.get(store.meta, key: sequenceKey).map(number) ?? 0) + 1
            let seqBytes = bigEndian(sequence)
            _ = try txn.put(store.meta, key: pendingPrefix + profile + seqBytes, value: value)
            _ = try txn.put(store.meta, key: key, value: seqBytes + value)
            _ = try txn.put(store.meta, key: sequenceKey, value: seqBytes)
            return .recorded(sequence: sequence)
        }
    }

    /// The last sequence number given (0 before the first response).
    public static func lastSequence(store: Store) throws -> UInt64 {
        try store.env.read { txn in try txn.get(store.meta, key: sequenceKey).map(number) ?? 0 }
    }

    /// The last sequence number taken into the history (0 before the first): a run's history holds every
    /// served response up to it (`summary.json`'s `served_responses_through`).
    public static func absorbedThrough(store: Store) throws -> UInt64 {
        try store.env.read { txn in try txn.get(store.meta, key: absorbedKey).map(number) ?? 0 }
    }

    /// The responses recorded and not yet in the history: (customer, sequence, contact value), by customer.
    public static func pending(store: Store, customer: UInt64? = nil) throws -> [(customer: UInt64, sequence: UInt64, contact: [UInt8])] {
        let from = pendingPrefix + (customer.map { ProfileCodec.key($0) } ?? [])
        var to = from
        to[to.count - 1] &+= 1
        return try store.env.read { txn in
            var out: [(UInt64, UInt64, [UInt8])] = []
            try txn.scan(store.meta, from: from, to: to) { k, v in
                let rest = k.dropFirst(pendingPrefix.count)
                out.append((number(rest), number(rest.dropFirst(8)), Array(v)))
                return true
            }
            return out
        }
    }

    /// What `absorb` took into the history.
    public struct Absorbed: Sendable, Equatable {
        /// Responses taken, and those among them the history already held (an identical contact is kept once).
        public var responses = 0
        public var alreadyThere = 0
        /// The last sequence number taken so far (0 when none ever was).
        public var through: UInt64 = 0
    }

    /// Takes every pending response into the contact history in one write transaction (with a new data stamp
    /// when any was taken, as an import of contacts gives); a store with none pending is not written to.
    public static func absorb(store: Store) throws -> Absorbed {
        let waiting = try pending(store: store)
        guard !waiting.isEmpty else { return Absorbed(through: try absorbedThrough(store: store)) }
        return try store.env.write { txn in
            var a = Absorbed()
            for p in waiting {
                let profile = ProfileCodec.key(p.customer)
                if try !txn.put(store.history, key: profile, value: p.contact, noDupData: true) { a.alreadyThere += 1 }
                _ = try txn.delete(store.meta, key: pendingPrefix + profile + bigEndian(p.sequence))
                a.responses += 1
                a.through = max(a.through, p.sequence)
            }
            a.through = max(a.through, try txn.get(store.meta, key: absorbedKey).map(number) ?? 0)
            _ = try txn.put(store.meta, key: absorbedKey, value: bigEndian(a.through))
            try store.markDataChanged(in: txn, profilesChanged: false)
            return a
        }
    }
}
