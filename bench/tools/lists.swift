// Times the kept lists' codecs on a kept run's lists files (real lists, no store): rendering `nba.csv`
// rows (`NBALists.render`), walking every customer's rows (`Reader.next`, what changes.csv's and the
// comparison's readers do per customer), and comparing a run's lists with themselves (`Changes`'s test).
// Built with the library's own files, so it times the code in the tree (`-D SKIP` for the readers that skip
// rows, `NBALists.Reader.skipCustomer`; without it the bench builds against older trees too):
//
//     swiftc -O -parse-as-library -D SKIP bench/tools/lists.swift Sources/NextBestCore/Ranking/NBALists.swift \
//         Sources/NextBestCore/Support/FixedDecimal.swift -o /tmp/lists-bench && /tmp/lists-bench STORE/runs/RUN [SHARDS]
//
// Results: bench/RESULTS.md (2026-12-07, fifteenth session).
import Foundation

/// `NBAFormat`'s decimals (the rest of that file needs the whole library).
enum NBAFormat {
    static var propensityDecimals: Int { 6 }
    static var valueDecimals: Int { 4 }
}

@main
struct ListsBench {
    static func main() throws {
        let dir = CommandLine.arguments[1]
        let limit = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2])! : Int.max
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("lists-") }.sorted().prefix(limit)
        // A run file: a header whose size (u32) is at bytes 12..<16, then the payload (the lists).
        let shards: [[UInt8]] = names.map { name in
            let data = [UInt8](FileManager.default.contents(atPath: dir + "/" + name)!)
            let head = Int(data[12]) | Int(data[13]) << 8 | Int(data[14]) << 16 | Int(data[15]) << 24
            return Array(data[head...])
        }
        let bytes = shards.reduce(0) { $0 + $1.count }
        var customers = 0, rows = 0
        for s in shards { let c = try NBALists.count(s); customers += c.customers; rows += c.rows }
        print("\(shards.count) shards, \(customers) customers, \(rows) rows, \(bytes) bytes of lists")

        func time(_ name: String, per: Int, _ body: () throws -> Int) rethrows {
            var best = Double.infinity, check = 0
            for _ in 0..<5 {
                let t = Date()
                check = try body()
                best = min(best, Date().timeIntervalSince(t))
            }
            print(String(format: "%-34@ %8.3f s  %6.1f ns per customer  (%d)", name as NSString, best, best * 1e9 / Double(per), check))
        }
        try time("render", per: customers) { var n = 0; for s in shards { n += try NBALists.render(s).count }; return n }
        try time("walk (Reader.next)", per: customers) {
            var n = 0
            for s in shards { try s.withUnsafeBufferPointer { b in var r = try NBALists.Reader(b); while let c = try r.next() { n &+= c.rows } } }
            return n
        }
        #if SKIP
        try time("walk with tops (customer, row, skip)", per: customers) {
            var n = 0
            for s in shards {
                try s.withUnsafeBufferPointer { b in
                    var r = try NBALists.Reader(b)
                    while let c = try r.customer() {
                        if c.rows > 0 { n &+= try r.row().offer; try r.skipRows(c.rows - 1) }
                    }
                }
            }
            return n
        }
        try time("compare with itself (skip, memcmp)", per: customers) {
            var same = 0
            for s in shards {
                try s.withUnsafeBufferPointer { a in
                    let b = UnsafeBufferPointer(start: a.baseAddress!, count: a.count)
                    var ra = try NBALists.Reader(a), rb = try NBALists.Reader(b)
                    while let x = try ra.skipCustomer(), let y = try rb.skipCustomer() {
                        if x.id == y.id && x.bytes.count == y.bytes.count && memcmp(a.baseAddress! + x.bytes.lowerBound, b.baseAddress! + y.bytes.lowerBound, x.bytes.count) == 0 { same += 1 }
                    }
                }
            }
            return same
        }
        #endif
    }
}
