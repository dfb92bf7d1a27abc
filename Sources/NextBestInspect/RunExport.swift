import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster

/// Re-exports a finished run from the lists its journal keeps (`results`: every merged shard's lists in
/// binary, rendered as `nba.csv` rows by `NBALists.render`, the renderer the workers wrote the run's
/// `nba.csv` with), for `nextbest export`, without scoring anything again.
///
/// - `csv`: `NBAFormat.header` then every shard's rows in shard order: byte-identical to the run's
///   `nba.csv`.
/// - `jsonl`: one compact JSON object per line **per customer** (customers without offers have no line,
///   as in `nba.csv`), in customer-id order:
///   `{"customer_id":42,"offers":[{"rank":1,"offer_id":"M1","channel":"email","propensity":0.123456,"expected_value":12.3456}]}`.
///   Numbers are the csv's text copied as is (no re-rounding); `customer_id` is a JSON number (an unsigned
///   64-bit integer: readers that hold numbers as doubles lose digits above 2^53).
public enum RunExport {
    /// The export formats.
    public enum Format: String, Sendable, CaseIterable {
        case csv, jsonl
    }

    /// Why a run cannot be exported.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The run's journal is not in state `done`.
        case notFinished(run: String, state: String)
        /// A shard's kept lists are missing (the journal lost them, or the run was pruned meanwhile).
        case missingShard(run: String, shard: Int, shards: Int)
        /// A kept row is not the six fields of `nba.csv`.
        case malformedRow(run: String, shard: Int, row: Int, reason: String)

        public var description: String {
            switch self {
            case let .notFinished(run, state):
                return "run \(run) is not finished (journal state '\(state)'): finish it with `nextbest run --resume \(run)` (or `nextbest coordinator … --resume \(run)`), then export it"
            case let .missingShard(run, shard, shards):
                return "run \(run): the kept lists of shard \(shard) (of \(shards)) are missing from the store's results; the run cannot be exported (see `nextbest runs show \(run)`)"
            case let .malformedRow(run, shard, row, reason):
                return "run \(run): kept row \(row) of shard \(shard) is malformed (\(reason)); the run journal is damaged"
            }
        }
    }

    /// What an export wrote.
    public struct Result: Sendable, Equatable {
        public var shards = 0
        /// Rows (offers) exported and distinct customers among them.
        public var rows = 0
        public var customers = 0
        public var bytes = 0
    }

    /// Streams run `run` of `journal` to `sink` in `format`, one shard at a time. Every shard's lists are
    /// checked to exist before the first byte is written, so a missing shard fails before any output.
    @discardableResult
    public static func write(journal: RunRepository, run: UInt64, format: Format, to sink: ([UInt8]) throws -> Void) throws -> Result {
        let name = RunRepository.name(run)
        let plan = try journal.plan(run)
        let state = try journal.state(run) ?? "unknown"
        guard state == "done" else { throw Failure.notFinished(run: name, state: state) }
        let shards = plan.lower.count
        for s in 0..<shards where try !journal.hasMergedRows(run, shard: s) {
            throw Failure.missingShard(run: name, shard: s, shards: shards)
        }
        var result = Result()
        result.shards = shards
        var json = JSONLines(run: name)
        func emit(_ bytes: [UInt8]) throws {
            guard !bytes.isEmpty else { return }
            result.bytes += bytes.count
            try sink(bytes)
        }
        if format == .csv { try emit(Array(NBAFormat.header.utf8)) }
        for s in 0..<shards {
            guard let kept = try journal.mergedCSV(run, shard: s) else { throw Failure.missingShard(run: name, shard: s, shards: shards) }
            switch format {
            case .csv:
                let (rows, customers) = try count(kept.csv, run: name, shard: s)
                result.rows += rows
                result.customers += customers
                try emit(kept.csv)
            case .jsonl:
                try emit(try json.add(kept.csv, shard: s))
            }
        }
        if format == .jsonl {
            try emit(json.finish())
            result.rows = json.rows
            result.customers = json.customers
        }
        return result
    }

    /// Rows and distinct customers of a shard's csv (customers' rows are contiguous).
    static func count(_ csv: [UInt8], run: String, shard: Int) throws -> (rows: Int, customers: Int) {
        var rows = 0, customers = 0
        var previous: ArraySlice<UInt8>? = nil
        var start = 0
        for i in csv.indices where csv[i] == UInt8(ascii: "\n") {
            rows += 1
            let line = csv[start..<i]
            guard let comma = line.firstIndex(of: UInt8(ascii: ",")) else {
                throw Failure.malformedRow(run: run, shard: shard, row: rows, reason: "no comma")
            }
            let id = line[line.startIndex..<comma]
            if previous.map({ !$0.elementsEqual(id) }) ?? true { customers += 1; previous = id }
            start = i + 1
        }
        if start != csv.count { throw Failure.malformedRow(run: run, shard: shard, row: rows + 1, reason: "no final newline") }
        return (rows, customers)
    }

    /// Turns `nba.csv` rows into JSON lines, one per customer, across shard boundaries.
    struct JSONLines {
        let run: String
        var rows = 0
        var customers = 0
        /// The customer whose line is open (its id text) and the line so far.
        var open: [UInt8]? = nil
        var line: [UInt8] = []

        init(run: String) { self.run = run }

        mutating func add(_ csv: [UInt8], shard: Int) throws -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(csv.count * 2)
            var start = 0
            var rowInShard = 0
            for i in csv.indices where csv[i] == UInt8(ascii: "\n") {
                rowInShard += 1
                let f = csv[start..<i].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
                start = i + 1
                func bad(_ reason: String) -> Failure { .malformedRow(run: run, shard: shard, row: rowInShard, reason: reason) }
                guard f.count == 6 else { throw bad("\(f.count) fields, not 6") }
                guard Self.isUnsigned(f[0]) else { throw bad("customer id is not an unsigned integer") }
                guard Self.isUnsigned(f[1]) else { throw bad("rank is not an unsigned integer") }
                guard Self.isDecimal(f[4]), Self.isDecimal(f[5]) else { throw bad("propensity or expected value is not a decimal number") }
                if let id = open, id.elementsEqual(f[0]) {
                    line.append(UInt8(ascii: ","))
                } else {
                    if open != nil { close(into: &out) }
                    open = Array(f[0])
                    customers += 1
                    line.appendString("{\"customer_id\":")
                    line.append(contentsOf: f[0])
                    line.appendString(",\"offers\":[")
                }
                rows += 1
                line.appendString("{\"rank\":"); line.append(contentsOf: f[1])
                line.appendString(",\"offer_id\":"); Self.quote(f[2], &line)
                line.appendString(",\"channel\":"); Self.quote(f[3], &line)
                line.appendString(",\"propensity\":"); line.append(contentsOf: f[4])
                line.appendString(",\"expected_value\":"); line.append(contentsOf: f[5])
                line.append(UInt8(ascii: "}"))
            }
            if start != csv.count { throw Failure.malformedRow(run: run, shard: shard, row: rowInShard + 1, reason: "no final newline") }
            return out
        }

        mutating func close(into out: inout [UInt8]) {
            line.appendString("]}\n")
            out.append(contentsOf: line)
            line.removeAll(keepingCapacity: true)
            open = nil
        }

        mutating func finish() -> [UInt8] {
            var out: [UInt8] = []
            if open != nil { close(into: &out) }
            return out
        }

        static func isUnsigned(_ s: ArraySlice<UInt8>) -> Bool {
            !s.isEmpty && s.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        }

        /// A JSON number as `FixedDecimal` writes it: `-?digits(.digits)?`.
        static func isDecimal(_ s: ArraySlice<UInt8>) -> Bool {
            var body = s
            if body.first == UInt8(ascii: "-") { body = body.dropFirst() }
            let parts = body.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
            return !parts.isEmpty && parts.count <= 2 && parts.allSatisfy(isUnsigned)
                && (parts[0].count == 1 || parts[0].first != UInt8(ascii: "0"))
        }

        static func quote(_ s: ArraySlice<UInt8>, _ out: inout [UInt8]) {
            out.append(UInt8(ascii: "\""))
            for b in s {
                switch b {
                case UInt8(ascii: "\""): out.appendString("\\\"")
                case UInt8(ascii: "\\"): out.appendString("\\\\")
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out.appendString("\\u00"); out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)])
                default: out.append(b)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
    }
}
