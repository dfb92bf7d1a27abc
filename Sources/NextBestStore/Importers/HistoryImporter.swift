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
                let offer = r.string(1), channel = r.string(2)
                guard !offer.isEmpty, offer.utf8.count < 256 else { throw fail("offer_id is empty or longer than 255 bytes") }
                guard !channel.isEmpty, channel.utf8.count < 256 else { throw fail("channel is empty or longer than 255 bytes") }
                let dateText = r.string(3)
                guard let day = CalendarDay(dateText) else { throw fail("date \(Quoted.text(dateText)) is not a valid date YYYY-MM-DD") }
                let outcomeText = r.string(4)
                guard let outcome = ContactOutcome(text: outcomeText) else {
                    throw fail("outcome \(Quoted.text(outcomeText)) is not one of accepted, rejected, ignored")
                }
                let key = ProfileCodec.key(id)
                guard try txn.get(store.profiles, key: key) != nil else { throw fail("customer_id \(id) has no profile in the store") }
                let value = HistoryCodec.encodeValue(ContactEvent(customerID: id, offerID: offer, channel: channel, day: day, outcome: outcome))
                if try txn.put(store.history, key: key, value: value, noDupData: true) { added += 1 } else { skipped += 1 }
            }
            guard sawHeader else { throw ImportError(file: file, line: nil, reason: "the file is empty") }
            if added > 0 { try store.markDataChanged(in: txn, profilesChanged: false) }
            return ImportReport(kind: "contacts", rows: added + skipped, added: added, replaced: 0, skipped: skipped)
        }
    }
}
