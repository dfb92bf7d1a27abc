import Foundation
import NextBestCore

/// Records one customer's response as it happens (`nextbest serve`, `POST /v1/customers/{id}/responses`):
/// the contact goes into the history as `import responses` puts it there, in one write transaction with a
/// record keyed by the client's event id, so a retried request is recorded once.
///
/// Keys in `meta`: `response_event/<event id>` → the sequence number (8 bytes, big-endian) and the contact
/// as `HistoryCodec` encodes it; `response_sequence` → the last sequence number given.
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
    static func eventKey(_ id: String) -> [UInt8] { Array("response_event/".utf8) + Array(id.utf8) }

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
            let last = try txn.get(store.meta, key: sequenceKey).map { $0.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } } ?? 0
            let sequence = last + 1
            let seqBytes = (0..<8).map { UInt8(truncatingIfNeeded: sequence >> (56 - 8 * UInt64($0))) }
            _ = try txn.put(store.history, key: profile, value: value, noDupData: true)
            _ = try txn.put(store.meta, key: key, value: seqBytes + value)
            _ = try txn.put(store.meta, key: sequenceKey, value: seqBytes)
            try store.markDataChanged(in: txn, profilesChanged: false)
            return .recorded(sequence: sequence)
        }
    }

    /// The last sequence number given (0 before the first response).
    public static func lastSequence(store: Store) throws -> UInt64 {
        try store.env.read { txn in try txn.get(store.meta, key: sequenceKey).map { $0.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } } ?? 0 }
    }
}
