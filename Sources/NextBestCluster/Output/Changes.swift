import Foundation
import NextBestCore
import NextBestStore

/// `changes.csv` of a rescore: the customers whose list differs between two kept runs, with the old and
/// the new top offer (empty when the customer had no list), in customer-id order.
///
/// The kept lists (`NBALists`) are compared as they are, without rendering them: when both shards have the
/// same offer and channel tables (the rescore's usual case) a customer's list changed exactly when its row
/// bytes differ; otherwise rows are compared by offer id, channel name and printed numbers.
///
/// The same walk tallies the customers whose top offer changed (`RunComparison.TopOffer`), which is the
/// comparison's walk when the run rescored is also the previous run (the usual case): a customer with the
/// same list has the same top offer, and a changed one's top offers are the ones its line prints.
public enum Changes {
    public static let header = "customer_id,old_top_offer,new_top_offer\n"

    /// What `write` made: the customers listed, and the top offers' tally of the two runs (run A `base`).
    public struct Written: Sendable {
        public var changed: Int
        public var topOffer: RunComparison.TopOffer
    }

    /// Writes the file from run `base`'s kept lists and the new run's (`new`: shard `s`'s lists, as the merge
    /// hands them over). Shard by shard, in order, on the caller's thread (it runs beside the merge).
    /// `read`, when given, is handed each shard of `base` as it is read (for another reader of the same lists).
    public static func write(base: UInt64, shards: Int, journal: RunRepository, new: (Int) throws -> [UInt8], to path: String,
                             read: (Int, [UInt8], RunTotals) -> Void = { _, _, _ in }) throws -> Written {
        let writer = try AtomicFileWriter(path: path)
        writer.append(Array(header.utf8))
        var changed = 0
        var top = RunComparison.TopOffer()
        var out: [UInt8] = []
        for s in 0..<shards {
            let now = try new(s)
            guard let old = try journal.mergedRows(base, shard: s) else {
                throw RunRepository.Failure.corrupt("the lists of shard \(s) of run \(RunRepository.name(base)) are missing")
            }
            read(s, old.lists, old.totals)
            out.removeAll(keepingCapacity: true)
            do { changed += try compare(old.lists, now, into: &out, top: &top) }
            catch { throw RunRepository.Failure.corrupt("the lists of shard \(s) of run \(RunRepository.name(base)) or of the new run: \(error)") }
            writer.append(out)
        }
        try writer.commit()
        return Written(changed: changed, topOffer: top)
    }

    /// Appends a line per customer whose list differs between lists `a` and `b` (one shard); returns their count.
    /// Adds the shard's customers to `top` (`a` is run A's shard).
    static func compare(_ a: [UInt8], _ b: [UInt8], into out: inout [UInt8], top: inout RunComparison.TopOffer) throws(NBALists.Failure) -> Int {
        try a.withUnsafeBufferPointer { a throws(NBALists.Failure) in
            try b.withUnsafeBufferPointer { b throws(NBALists.Failure) in
                var ra = try NBALists.Reader(a), rb = try NBALists.Reader(b)
                let sameTables = Self.sameNames(ra, ra.offers, rb, rb.offers) && Self.sameNames(ra, ra.channels, rb, rb.channels)
                var changed = 0
                // With the same tables a customer's rows are compared as bytes: they need only be delimited
                // (`skipCustomer`; the top offers printed are read with checks).
                func step(_ r: inout NBALists.Reader) throws(NBALists.Failure) -> (id: UInt64, rows: Int, bytes: Range<Int>)? {
                    sameTables ? try r.skipCustomer() : try r.next()
                }
                var ca = try step(&ra), cb = try step(&rb)
                while ca != nil || cb != nil {
                    let id = min(ca?.id ?? .max, cb?.id ?? .max)
                    let la = ca?.id == id ? ca : nil, lb = cb?.id == id ? cb : nil
                    top.customers += 1
                    if la == nil { top.gained += 1 } else if lb == nil { top.lost += 1 }
                    let same: Bool
                    if let la, let lb {
                        if la.rows != lb.rows { same = false }
                        else if sameTables { same = Self.equal(a, la.bytes, b, lb.bytes) }
                        else { same = try Self.sameRows(&ra, la, &rb, lb) }
                    } else {
                        same = false
                    }
                    if !same {
                        // Bytes appended in place: a String per line cost ~1 µs, 2 s for the 2 M lines of a 10 M
                        // rescore.
                        out.appendDecimal(id)
                        out.append(UInt8(ascii: ","))
                        let oldTop = out.count
                        try Self.appendTop(&ra, la, to: &out)
                        let newTop = out.count + 1
                        out.append(UInt8(ascii: ","))
                        try Self.appendTop(&rb, lb, to: &out)
                        // Customers in one run only changed their top offer whatever is printed.
                        if la == nil || lb == nil || !out[oldTop..<(newTop - 1)].elementsEqual(out[newTop...]) { top.changed += 1 }
                        out.append(UInt8(ascii: "\n"))
                        changed += 1
                    }
                    if la != nil { ca = try step(&ra) }
                    if lb != nil { cb = try step(&rb) }
                }
                return changed
            }
        }
    }

    /// Appends the offer id of a customer's first row (nothing without a list); the reader is left after the
    /// customer.
    static func appendTop(_ r: inout NBALists.Reader, _ c: (id: UInt64, rows: Int, bytes: Range<Int>)?, to out: inout [UInt8]) throws(NBALists.Failure) {
        guard let c, c.rows > 0 else { return }
        r.seek(c.bytes.lowerBound)
        defer { r.seek(c.bytes.upperBound) }
        out.append(contentsOf: r.name(r.offers[try r.row().offer]))
    }

    /// Whether two tables hold the same names in the same order.
    static func sameNames(_ ra: NBALists.Reader, _ a: [Range<Int>], _ rb: NBALists.Reader, _ b: [Range<Int>]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { ra.name($0).elementsEqual(rb.name($1)) }
    }

    /// Whether two byte ranges hold the same bytes.
    static func equal(_ a: UnsafeBufferPointer<UInt8>, _ ra: Range<Int>, _ b: UnsafeBufferPointer<UInt8>, _ rb: Range<Int>) -> Bool {
        ra.count == rb.count && memcmp(a.baseAddress! + ra.lowerBound, b.baseAddress! + rb.lowerBound, ra.count) == 0
    }

    /// Whether two customers' rows (as many each) name the same offers and channels with the same numbers,
    /// when the two shards' tables differ.
    static func sameRows(_ ra: inout NBALists.Reader, _ la: (id: UInt64, rows: Int, bytes: Range<Int>),
                         _ rb: inout NBALists.Reader, _ lb: (id: UInt64, rows: Int, bytes: Range<Int>)) throws(NBALists.Failure) -> Bool {
        ra.seek(la.bytes.lowerBound); rb.seek(lb.bytes.lowerBound)
        defer { ra.seek(la.bytes.upperBound); rb.seek(lb.bytes.upperBound) }
        for _ in 0..<la.rows {
            let x = try ra.row(), y = try rb.row()
            guard x.propensity == y.propensity, x.value == y.value,
                  ra.name(ra.offers[x.offer]).elementsEqual(rb.name(rb.offers[y.offer])),
                  ra.name(ra.channels[x.channel]).elementsEqual(rb.name(rb.channels[y.channel])) else { return false }
        }
        return true
    }
}
