import Foundation
import NextBestCore

/// Records one customer's response as it happens (`nextbest serve`, `POST /v1/customers/{id}/responses`), checked
/// as `import responses` checks a row, in one write transaction with a record keyed by the client's event id, so
/// a retried request is recorded once; each response gets the next sequence number.
///
/// A recorded response is **served**: it stays in `meta` under its customer and sequence number and is never
/// moved into the contact history when a run starts. Every run records in its plan the last sequence number
/// given when it was planned (`RunRepository.Plan.servedThrough`), and everything that reads a customer's
/// contacts for that run (its shards, a `--resume`, a `rescore --from` it, `explain`) reads the history merged
/// with the served responses up to that number (`ServedWalk`, `merged`): a response served during a run never
/// changes the run, and recording one changes neither the store's fingerprint nor its data stamp.
///
/// `fold` (`nextbest import served`) moves into the history the served responses every kept run reads
/// already (sequence ≤ the smallest bound of the kept runs): no kept run's reading changes, so the data stamp
/// stays.
///
/// Keys in `meta`: `response_event/<event id>` → the sequence number (8 bytes, big-endian) and the contact as
/// `HistoryCodec` encodes it; `response_pending/<customer id><sequence>` (8 + 8 bytes, big-endian) → the
/// contact (a served response not folded yet); `response_sequence` → the last sequence number given;
/// `response_absorbed` → the last one folded into the history.
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

    /// The last sequence number folded into the history (0 before the first).
    public static func foldedThrough(store: Store) throws -> UInt64 {
        try store.env.read { txn in try txn.get(store.meta, key: absorbedKey).map(number) ?? 0 }
    }

    /// The served responses not folded into the history: (customer, sequence, contact value), by customer
    /// then sequence.
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

    /// A customer's contacts as the history would hold them with `served` added (a DUPSORT database keeps
    /// an identical value once): `history` (in the database's order) and `served` merged, sorted by their
    /// bytes, each distinct value once. `history` is returned as it is when `served` is empty.
    public static func merged(history: [[UInt8]], served: [[UInt8]]) -> [[UInt8]] {
        guard !served.isEmpty else { return history }
        let all = (history + served).sorted { $0.lexicographicallyPrecedes($1) }
        var out: [[UInt8]] = []
        out.reserveCapacity(all.count)
        for v in all where out.last != v { out.append(v) }
        return out
    }

    /// The contact values of `customer` a run bound to `through` reads (`merged`: its history and its served
    /// responses with sequence ≤ `through`), in the history's order (by date first).
    public static func contacts(store: Store, customer: UInt64, through: UInt64) throws -> [[UInt8]] {
        try store.env.read { txn in
            var history: [[UInt8]] = []
            let cursor = try txn.cursor(store.history)
            defer { cursor.close() }
            var entry = try ProfileCodec.key(customer).withUnsafeBytes { try cursor.seek(exactly: $0) }
            while let (_, v) = entry {
                history.append(Array(v))
                entry = try cursor.nextDuplicate()
            }
            var walk = try ServedWalk(store: store, txn: txn, from: customer, through: through)
            defer { walk.close() }
            var served: [[UInt8]] = []
            try walk.contacts(of: customer, into: &served)
            return merged(history: history, served: served)
        }
    }

    /// The bound `nextbest import served` folds up to: the smallest `servedThrough` of the runs kept in the
    /// journal (a plan without one counts as 0: nothing is folded while such a run is kept), or every
    /// response served when no run is kept. Runs kept in the journal format before run records cannot be
    /// resumed, rescored nor explained: they do not count.
    public static func foldBound(store: Store) throws -> UInt64 {
        let kept = try RunRepository(store: store).entries().filter { !$0.oldFormat }
        return try kept.map(\.plan.servedBound).min() ?? lastSequence(store: store)
    }

    /// `fold` up to `foldBound`: what no kept run's reading can tell from the history.
    public static func foldForKeptRuns(store: Store) throws -> Folded {
        try fold(store: store, through: try foldBound(store: store))
    }

    /// What `fold` moved into the history.
    public struct Folded: Sendable, Equatable {
        /// Responses moved, and those among them the history already held (an identical contact is kept once).
        public var responses = 0
        public var alreadyThere = 0
        /// Served responses left (sequence above the bound).
        public var remaining = 0
        /// The bound: responses with a sequence number up to it were folded.
        public var bound: UInt64 = 0
        /// The last sequence number folded so far (0 when none ever was).
        public var through: UInt64 = 0
    }

    /// Moves every served response with sequence ≤ `bound` into the contact history in one write
    /// transaction. The data stamp is not renewed: a run bound to at least `bound` reads these contacts
    /// the same before and after (`merged`), so call it with the smallest bound of the runs that may still
    /// be read (`nextbest import served` does). A store with nothing to fold is not written to.
    public static func fold(store: Store, through bound: UInt64) throws -> Folded {
        let waiting = try pending(store: store)
        let moving = waiting.filter { $0.sequence <= bound }
        guard !moving.isEmpty else {
            return Folded(remaining: waiting.count, bound: bound, through: try foldedThrough(store: store))
        }
        return try store.env.write { txn in
            var a = Folded(remaining: waiting.count - moving.count, bound: bound)
            for p in moving {
                let profile = ProfileCodec.key(p.customer)
                if try !txn.put(store.history, key: profile, value: p.contact, noDupData: true) { a.alreadyThere += 1 }
                _ = try txn.delete(store.meta, key: pendingPrefix + profile + bigEndian(p.sequence))
                a.responses += 1
                a.through = max(a.through, p.sequence)
            }
            a.through = max(a.through, try txn.get(store.meta, key: absorbedKey).map(number) ?? 0)
            _ = try txn.put(store.meta, key: absorbedKey, value: bigEndian(a.through))
            return a
        }
    }
}

/// A walk of the served responses (`ResponseRecorder`'s `response_pending/` keys in `meta`) in customer-id
/// order, alongside a walk of the profiles: one cursor moved forward only, no seek per customer. With no
/// bound (0) or no served response it reads nothing.
public struct ServedWalk {
    private let cursor: LMDBCursor?
    private var entry: LMDBCursor.Entry?
    /// The last sequence number read.
    public let bound: UInt64

    /// A walk from customer `lower` on, of the responses with sequence ≤ `bound`.
    public init(store: Store, txn: LMDBTransaction, from lower: UInt64, through bound: UInt64) throws {
        self.bound = bound
        guard bound > 0 else { cursor = nil; entry = nil; return }
        let c = try txn.cursor(store.meta)
        cursor = c
        entry = try (ResponseRecorder.pendingPrefix + ProfileCodec.key(lower)).withUnsafeBytes { try c.seek(atLeast: $0) }
        if let (k, _) = entry, !Self.served(k) { entry = nil }
    }

    public func close() { cursor?.close() }

    private static func served(_ k: UnsafeRawBufferPointer) -> Bool {
        let prefix = ResponseRecorder.pendingPrefix
        return k.count == prefix.count + 16 && k.prefix(prefix.count).elementsEqual(prefix)
    }

    /// Whether customer `id` may have served responses (the walk is at it or before it): false lets a
    /// caller skip work for the usual customer, who has none.
    public func mayHave(_ id: UInt64) -> Bool {
        guard let (k, _) = entry else { return false }
        return ResponseRecorder.number(k.dropFirst(ResponseRecorder.pendingPrefix.count)) <= id
    }

    /// Moves the walk past customer `id` (customers are asked for in increasing order), appending the
    /// contact values of its responses with sequence ≤ `bound` to `out`.
    public mutating func contacts(of id: UInt64, into out: inout [[UInt8]]) throws {
        guard let cursor else { return }
        let n = ResponseRecorder.pendingPrefix.count
        while let (k, v) = entry {
            let rest = k.dropFirst(n)
            let customer = ResponseRecorder.number(rest)
            if customer > id { return }
            if customer == id && ResponseRecorder.number(rest.dropFirst(8)) <= bound { out.append(Array(v)) }
            entry = try cursor.next()
            if let (k2, _) = entry, !Self.served(k2) { entry = nil }
        }
    }
}
