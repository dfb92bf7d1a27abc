import Foundation
import NextBestCore

/// Imports contact history (`customer_id,offer_id,channel,date,outcome`) in one write transaction.
///
/// Every customer must already have a profile. An event identical to one already stored is skipped, so
/// importing the same file twice equals importing it once.
public enum HistoryImporter {
    public static let header = ["customer_id", "offer_id", "channel", "date", "outcome"]

    public static func run(file: String, store: Store) throws -> ImportReport {
        let csv = try CSVReader(path: file)
        let file = csv.name // `standard input` for `-`
        return try store.env.write { txn in
            var sawHeader = false
            var added = 0, skipped = 0
            try csv.forEachRecord { r in
                func fail(_ reason: String) -> ImportError { ImportError(file: file, line: r.line, reason: reason) }
                if !sawHeader {
                    let h = (0..<r.count).map { r.string($0).trimmingCharacters(in: .whitespaces) }
                    guard h == header else { throw fail("header must be \(header.joined(separator: ","))") }
                    sawHeader = true
                    return
                }
                guard r.count == 5 else { throw fail("has \(r.count) fields, expected 5") }
                guard let id = FieldParser.uint64(r.bytes(0)) else { throw fail("customer_id \(Quoted.text(r.string(0))) is not an unsigned 64-bit integer") }
                let event: ContactEvent
                switch Self.event(customer: id, offer: r.string(1), channel: r.string(2), date: r.string(3), outcome: r.string(4)) {
                case .success(let e): event = e
                case .failure(let refusal): throw fail(refusal.reason)
                }
                let key = ProfileCodec.key(id)
                guard try txn.get(store.profiles, key: key) != nil else { throw fail("customer_id \(id) has no profile in the store") }
                let value = HistoryCodec.encodeValue(event)
                if try txn.put(store.history, key: key, value: value, noDupData: true) { added += 1 } else { skipped += 1 }
            }
            guard sawHeader else { throw ImportError(file: file, line: nil, reason: "the file is empty") }
            if added > 0 { try store.markDataChanged(in: txn, profilesChanged: false) }
            return ImportReport(kind: "contacts", rows: added + skipped, added: added, replaced: 0, skipped: skipped)
        }
    }

    /// A field of a contact that is not valid: which and why.
    public struct FieldRefusal: Error, Sendable, Equatable {
        public var field: String
        public var reason: String
    }

    /// A contact's fields checked as an import checks them (offer and channel of 1 to 255 bytes, a
    /// YYYY-MM-DD date, an outcome of accepted, rejected or ignored); `nextbest serve` records responses
    /// through the same checks.
    public static func event(customer: UInt64, offer: String, channel: String, date: String, outcome: String) -> Result<ContactEvent, FieldRefusal> {
        guard !offer.isEmpty, offer.utf8.count < 256 else { return .failure(.init(field: "offer_id", reason: "offer_id is empty or longer than 255 bytes")) }
        guard !channel.isEmpty, channel.utf8.count < 256 else { return .failure(.init(field: "channel", reason: "channel is empty or longer than 255 bytes")) }
        guard let day = CalendarDay(date) else { return .failure(.init(field: "date", reason: "date \(Quoted.text(date)) is not a valid date YYYY-MM-DD")) }
        guard let result = ContactOutcome(text: outcome) else {
            return .failure(.init(field: "outcome", reason: "outcome \(Quoted.text(outcome)) is not one of accepted, rejected, ignored"))
        }
        return .success(ContactEvent(customerID: customer, offerID: offer, channel: channel, day: day, outcome: result))
    }
}
