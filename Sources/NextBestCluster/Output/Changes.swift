import Foundation
import NextBestCore
import NextBestStore

/// `changes.csv` of a rescore: the customers whose list differs between two kept runs, with the old and
/// the new top offer (empty when the customer had no list), in customer-id order.
public enum Changes {
    public static let header = "customer_id,old_top_offer,new_top_offer\n"

    /// Each customer's lines (one per rank) from `nba.csv` rows.
    static func lists(_ csv: [UInt8]) -> [(UInt64, ArraySlice<UInt8>)] {
        var out: [(UInt64, ArraySlice<UInt8>)] = []
        var start = 0
        var i = 0
        var currentID: UInt64? = nil
        var listStart = 0
        while i < csv.count {
            var end = i
            while end < csv.count && csv[end] != UInt8(ascii: "\n") { end += 1 }
            var id: UInt64 = 0
            var k = i
            while k < end && csv[k] != UInt8(ascii: ",") { id = id &* 10 &+ UInt64(csv[k] &- 48); k += 1 }
            if id != currentID {
                if let c = currentID { out.append((c, csv[listStart..<i])) }
                currentID = id
                listStart = i
            }
            i = end + 1
            start = i
        }
        if let c = currentID { out.append((c, csv[listStart..<min(start, csv.count)])) }
        return out
    }

    /// The offer of a list's first line.
    static func top(_ list: ArraySlice<UInt8>?) -> String {
        guard let list else { return "" }
        let fields = list.prefix { $0 != UInt8(ascii: "\n") }.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        return fields.count > 2 ? String(decoding: fields[2], as: UTF8.self) : ""
    }

    /// Writes the file; returns the number of customers listed.
    public static func write(base: UInt64, new: UInt64, shards: Int, journal: RunRepository, to path: String) throws -> Int {
        let writer = try AtomicFileWriter(path: path)
        writer.append(Array(header.utf8))
        var changed = 0
        for s in 0..<shards {
            guard let old = try journal.mergedRows(base, shard: s), let now = try journal.mergedRows(new, shard: s) else {
                throw RunRepository.Failure.corrupt("the lists of shard \(s) are missing")
            }
            let a = lists(old.csv), b = lists(now.csv)
            var i = 0, j = 0
            var out: [UInt8] = []
            while i < a.count || j < b.count {
                let idA = i < a.count ? a[i].0 : .max, idB = j < b.count ? b[j].0 : .max
                let id = min(idA, idB)
                let la = idA == id ? a[i].1 : nil, lb = idB == id ? b[j].1 : nil
                if idA == id { i += 1 }
                if idB == id { j += 1 }
                if la.map(Array.init) != lb.map(Array.init) {
                    out += Array("\(id),\(top(la)),\(top(lb))\n".utf8)
                    changed += 1
                }
            }
            writer.append(out)
        }
        try writer.commit()
        return changed
    }
}
