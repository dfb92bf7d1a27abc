extension Repair {
    /// One shard's repair moves, as the coordinator reads them: either an array (moves made in this
    /// process) or the fixed-size records of a MOVES message read in place (`init(records:…)`), so that
    /// millions of moves from the workers are merged and chosen without being copied into 112-byte
    /// values first (an improve pass at 10 M customers receives ~5.6 M moves, of which ~2 % are taken).
    /// The record leaves out what only the shard needs; it is 64 bytes where a `Move` is 96.
    ///
    /// The record is the move's wire form (docs/protocol.md, MOVES), 64 bytes, little-endian:
    /// `i32 customer, i32 remove, i32 add, u64 customer_id, f64 score, use remove_use, use add_use`, a use
    /// being `u16 budget, u16 product, u16 channel, u16 region, u16 segment, i64 cost_micros` (row indices;
    /// campaigns have at most `Campaign.maxCaps` caps, so they fit).
    public struct MoveList: Sendable, RandomAccessCollection, ExpressibleByArrayLiteral, Equatable {
        /// Bytes of one move's record.
        public static let recordSize = 64

        private let array: [Move]
        /// The records' bytes and where the first one starts (`nil`: the moves are `array`).
        private let records: [UInt8]?
        private let base: Int
        private let shard: Int32
        public let count: Int
        /// For a list cut at a limit in an improve pass: what the moves left out could do (empty otherwise).
        public let rest: [Remainder]

        /// Moves made in this process.
        public init(_ moves: [Move], rest: [Remainder] = []) {
            array = moves; records = nil; base = 0; shard = 0; count = moves.count; self.rest = rest
        }

        public init(arrayLiteral elements: Move...) { self.init(elements) }

        /// `count` records of `shard`'s moves starting at `base` in `bytes` (which must hold them all).
        public init(records bytes: [UInt8], at base: Int, count: Int, shard: Int32, rest: [Remainder] = []) {
            precondition(base >= 0 && count >= 0 && base + count * Self.recordSize <= bytes.count, "move records past the end of the buffer")
            array = []; records = bytes; self.base = base; self.shard = shard; self.count = count; self.rest = rest
        }

        public var startIndex: Int { 0 }
        public var endIndex: Int { count }

        public subscript(i: Int) -> Move {
            guard let records else { return array[i] }
            precondition(i >= 0 && i < count)
            return records.withUnsafeBytes { raw in
                let at = base + i * Self.recordSize
                @inline(__always) func i32(_ o: Int) -> Int32 { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: at + o, as: Int32.self)) }
                @inline(__always) func row(_ o: Int) -> Int32 { Int32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at + o, as: UInt16.self))) }
                @inline(__always) func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + o, as: UInt64.self)) }
                @inline(__always) func use(_ o: Int) -> Use {
                    Use(budget: row(o), product: row(o + 2), channel: row(o + 4), region: row(o + 6), segment: row(o + 8), cost: Int64(bitPattern: u64(o + 10)))
                }
                return Move(shard: shard, customer: i32(0), remove: i32(4), add: i32(8), customerID: u64(12), score: Double(bitPattern: u64(20)),
                            removeUse: use(28), addUse: use(46))
            }
        }

        /// The move's place in the global order (score, then customer id), without reading the rest.
        @inline(__always) public func key(_ i: Int) -> MoveKey {
            guard let records else { return (array[i].score, array[i].customerID) }
            return records.withUnsafeBytes { raw in
                let at = base + i * Self.recordSize
                return (Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 20, as: UInt64.self))),
                        UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 12, as: UInt64.self)))
            }
        }

        /// Appends `m`'s record to `out` (what `init(records:…)` reads). Row indices must fit in 16 bits.
        public static func appendRecord(_ m: Move, to out: inout [UInt8]) {
            @inline(__always) func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
            @inline(__always) func row(_ r: Int32) { put(UInt16(r)) }
            @inline(__always) func use(_ u: Use) { row(u.budget); row(u.product); row(u.channel); row(u.region); row(u.segment); put(u.cost) }
            put(m.customer); put(m.remove); put(m.add); put(m.customerID); put(m.score.bitPattern); use(m.removeUse); use(m.addUse)
        }

        public static func == (a: MoveList, b: MoveList) -> Bool {
            a.count == b.count && a.rest == b.rest && a.indices.allSatisfy { a[$0] == b[$0] }
        }
    }

    /// What the moves a shard left out of a cut improve list could do to the constraints: one entry per
    /// set of rows they touch (the removed and the added candidate's rows, the cost left out), with the
    /// least and greatest change of cost among those moves. The coordinator goes past the cut only while
    /// every entry is blocked: its count rows would break a limit, or every cost change it covers would
    /// break the budget. A move is refused exactly when it breaks some row, and moves of one entry differ
    /// only in cost, so "every entry blocked" means "every move left out would be refused now".
    public struct Remainder: Sendable, Equatable, Hashable {
        /// The rows of the removed and of the added candidate (cost 0; `Use.none` for an absent side).
        public var remove: Use
        public var add: Use
        /// Least and greatest `add.cost - remove.cost` of the moves it stands for.
        public var minCost: Int64
        public var maxCost: Int64
        public init(remove: Use, add: Use, minCost: Int64, maxCost: Int64) {
            self.remove = remove; self.add = add; self.minCost = minCost; self.maxCost = maxCost
        }

        /// The entries for `moves` of a shard whose constraint set has `rows` rows, in a fixed order (by
        /// rows, then costs), so equal inputs give equal summaries.
        public static func summary(of moves: ArraySlice<Move>, rows: Int) -> [Remainder] {
            let none = Use.none(rows: rows)
            var index: [Remainder: Int] = [:]
            var out: [Remainder] = []
            for m in moves {
                var r = m.remove >= 0 ? m.removeUse : none, a = m.add >= 0 ? m.addUse : none
                let cost = a.cost - r.cost
                r.cost = 0; a.cost = 0
                let key = Remainder(remove: r, add: a, minCost: 0, maxCost: 0)
                if let i = index[key] {
                    out[i].minCost = min(out[i].minCost, cost); out[i].maxCost = max(out[i].maxCost, cost)
                } else {
                    index[key] = out.count
                    out.append(Remainder(remove: r, add: a, minCost: cost, maxCost: cost))
                }
            }
            return out.sorted { a, b in a.sortKey.lexicographicallyPrecedes(b.sortKey) }
        }

        var sortKey: [Int64] {
            [remove.budget, remove.product, remove.channel, remove.region, remove.segment, add.budget, add.product, add.channel, add.region, add.segment]
                .map(Int64.init) + [minCost, maxCost]
        }

        /// Whether every move it stands for would be refused at `use` (one entry per row and one for none).
        func isBlocked(use: [Int64], limits: Limits, budgetRow: Int?) -> Bool {
            // The count rows are the same for all its moves.
            if !limits.keepsOthers(use: use, remove: remove, add: add, target: -1) { return true }
            guard let b = budgetRow, remove.budget == Int32(b) || add.budget == Int32(b) else { return false }
            // The budget: refused when a raise passes the max, or a cut leaves the min (0 passes).
            if minCost > 0 && minCost > limits.upper[b] &- use[b] { return true }
            if maxCost < 0 && limits.lower[b] != .min && maxCost < limits.lower[b] &- use[b] { return true }
            return false
        }
    }
}
