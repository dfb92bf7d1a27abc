import Foundation
import Testing
import NextBestCore
@testable import NextBestCluster

/// `Changes.compare`: changes.csv's lines for one shard, and the top offers' tally that stands in for the
/// comparison's own walk when a rescore compares the same two runs.
@Suite struct ChangesTests {
    /// A customer's rows: (offer index, channel index, propensity code, value code).
    typealias Rows = [(offer: Int, channel: Int, p: UInt64, v: UInt64)]

    /// Lists with tables `offers` and `channels`, customers in id order.
    static func lists(offers: [String], channels: [String], _ customers: [(id: UInt64, rows: Rows)]) -> [UInt8] {
        var out = NBALists.header(offers: offers.map { Array($0.utf8) }, channels: channels.map { Array($0.utf8) })
        var previous: UInt64 = 0
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: NBALists.maxCustomerBytes + 8 * NBALists.maxRowBytes) { buffer in
            for (id, rows) in customers {
                var p = buffer.baseAddress!
                NBALists.put(id - previous, &p); previous = id
                NBALists.put(UInt64(rows.count), &p)
                for r in rows { NBALists.put(UInt64(r.offer), &p); NBALists.put(UInt64(r.channel), &p); NBALists.put(r.p, &p); NBALists.put(r.v, &p) }
                out += UnsafeBufferPointer(start: buffer.baseAddress!, count: p - buffer.baseAddress!)
            }
        }
        return out
    }

    /// Two runs' customers: some in one run only, some with the same list, some with another list whose top
    /// offer is the same, some with another top offer.
    static func runs(seed: UInt64) -> (a: [(id: UInt64, rows: Rows)], b: [(id: UInt64, rows: Rows)]) {
        var rng = SplitMix64(seed: seed)
        func rows() -> Rows {
            (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                (Int.random(in: 0..<6, using: &rng), Int.random(in: 0..<3, using: &rng), UInt64.random(in: 0...1_000_000, using: &rng), UInt64.random(in: 0...1 << 40, using: &rng))
            }
        }
        var a: [(id: UInt64, rows: Rows)] = [], b: [(id: UInt64, rows: Rows)] = []
        for id in UInt64(1)...2_000 {
            let r = rows()
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: a.append((id, r))
            case 1: b.append((id, r))
            case 2, 3: a.append((id, r)); b.append((id, r))
            case 4: var s = r; s[s.count - 1].v &+= 1; a.append((id, r)); b.append((id, s))
            default: a.append((id, r)); b.append((id, rows()))
            }
        }
        return (a, b)
    }

    @Test(arguments: [false, true])
    func theLinesAndTheTopOfferTallyAreThoseOfTheRunsLists(permutedTables: Bool) throws {
        let offers = ["O0", "O1", "O22", "O333", "O4", "O5"], channels = ["email", "sms", "app"]
        for seed in UInt64(1)...4 {
            let (a, b) = Self.runs(seed: seed)
            let la = Self.lists(offers: offers, channels: channels, a)
            // Run B's tables in another order (a rescore after a campaign change): the same names, other indices.
            let order = permutedTables ? [3, 5, 0, 1, 4, 2] : Array(0..<6)
            let indexOf = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
            let lb = Self.lists(offers: order.map { offers[$0] }, channels: channels,
                                b.map { c in (c.id, c.rows.map { (indexOf[$0.offer]!, $0.channel, $0.p, $0.v) }) })
            var out: [UInt8] = [], top = RunComparison.TopOffer()
            let changed = try Changes.compare(la, lb, into: &out, top: &top)

            // Expected, from the customers as the test made them.
            let ra = Dictionary(uniqueKeysWithValues: a.map { ($0.id, $0.rows) }), rb = Dictionary(uniqueKeysWithValues: b.map { ($0.id, $0.rows) })
            func same(_ x: Rows?, _ y: Rows?) -> Bool {
                guard let x, let y else { return x == nil && y == nil }
                return x.count == y.count && zip(x, y).allSatisfy { $0.offer == $1.offer && $0.channel == $1.channel && $0.p == $1.p && $0.v == $1.v }
            }
            func name(_ r: Rows?) -> String { r.map { offers[$0[0].offer] } ?? "" }
            let ids = Set(ra.keys).union(rb.keys).sorted()
            let lines = ids.filter { !same(ra[$0], rb[$0]) }.map { "\($0),\(name(ra[$0])),\(name(rb[$0]))\n" }
            #expect(String(decoding: out, as: UTF8.self) == lines.joined())
            #expect(changed == lines.count)
            #expect(top.customers == Int64(ids.count))
            #expect(top.gained == Int64(ids.count { ra[$0] == nil }))
            #expect(top.lost == Int64(ids.count { rb[$0] == nil }))
            #expect(top.changed == Int64(ids.count { ra[$0] == nil || rb[$0] == nil || ra[$0]![0].offer != rb[$0]![0].offer }))
            // Some of each kind, so every branch counted something.
            #expect(top.gained > 0 && top.lost > 0 && top.changed > top.gained + top.lost && Int64(changed) > top.changed)
        }
    }
}
