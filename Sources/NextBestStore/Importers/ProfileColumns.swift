import Foundation
import NextBestCore

/// How a profile import reads each feature column: numeric, categorical (text, dictionary-coded), or —
/// at a store's first import only — undecided: numeric until a non-numeric value turns it categorical.
///
/// An undecided column keeps the dictionary of its distinct texts and, for each imported row, the code
/// of its text, so that when it turns categorical the rows already written are recoded
/// (`ProfileImporter` patches them in the same transaction). Values are compared as strings: `1` and
/// `1.0` are two categories. An empty cell is missing (NaN) in either kind.
struct ProfileColumns {
    enum Kind {
        case numeric
        case categorical(CodeDictionary)
        /// The texts seen so far (nil once there are too many for a dictionary: the column stays
        /// numeric), and whether a non-numeric one was seen.
        case undecided(CodeDictionary?, turned: Bool)
    }

    private(set) var kinds: [Kind]
    let names: [String]
    /// The undecided columns' positions, and per imported row their codes (`UInt32.max` missing); a
    /// column's codes are dropped once it has too many values to turn categorical.
    private let watched: [Int]
    private var watchedCodes: [[UInt32]?]
    /// Per column, the code `value` gave the row's undecided cell (appended to `watchedCodes` after it).
    private var lastCode: [UInt32]

    /// The columns of `schema` (a later import: categorical as the store says, the rest numeric), or of a
    /// first import (`first`): those in `declared` categorical, the rest undecided.
    init(schema: FeatureSchema, first: Bool, declared: Set<String>) {
        names = schema.names
        let kinds: [Kind] = schema.names.indices.map { i in
            if let d = schema.categories[i] { return .categorical(d) }
            if first { return declared.contains(schema.names[i]) ? .categorical(CodeDictionary()) : .undecided(CodeDictionary(), turned: false) }
            return .numeric
        }
        self.kinds = kinds
        watched = kinds.indices.filter { if case .undecided = kinds[$0] { return true } else { return false } }
        watchedCodes = [[UInt32]?](repeating: [], count: watched.count)
        lastCode = [UInt32](repeating: UInt32.max, count: kinds.count)
    }

    /// Reads field `i + 3` of `r` into `features[i]` for every column.
    mutating func read(_ r: CSVReader.Record, into features: inout [Float], fail: (String) -> ImportError) throws {
        for i in 0..<features.count { features[i] = try value(r, column: i, fail: fail) }
        for (j, i) in watched.enumerated() where watchedCodes[j] != nil {
            guard case .undecided(_?, _) = kinds[i] else { watchedCodes[j] = nil; continue }
            watchedCodes[j]!.append(r.isEmpty(i + 3) ? UInt32.max : lastCode[i])
        }
    }

    private mutating func value(_ r: CSVReader.Record, column i: Int, fail: (String) -> ImportError) throws -> Float {
        let b = r.bytes(i + 3)
        if b.isEmpty { return .nan }
        switch kinds[i] {
        case .numeric:
            if let v = FieldParser.float(b) { return v }
            throw fail("column \(Quoted.text(names[i])) value \(Quoted.text(r.string(i + 3))) is not a finite number (the column is numeric in the store; a text column must be declared with --categorical, or hold text, at the store's first import)")
        case .categorical(var d):
            kinds[i] = .numeric // the dictionary is mutated in place, not copied
            defer { kinds[i] = .categorical(d) }
            return Float(try code(r.string(i + 3), in: &d, column: i, fail: fail))
        case .undecided(var d, var turned):
            kinds[i] = .numeric
            defer { kinds[i] = .undecided(d, turned: turned) }
            let numeric = FieldParser.float(b)
            if numeric != nil, d == nil { return numeric! } // too many values to turn: numeric for good
            let text = r.string(i + 3)
            if numeric == nil, let d = Double(text.trimmingCharacters(in: .whitespaces)), !d.isFinite {
                throw fail("column \(Quoted.text(names[i])) value \(Quoted.text(text)) is not a finite number")
            }
            if numeric == nil, d == nil {
                throw fail("column \(Quoted.text(names[i])) value \(Quoted.text(text)) is not a number, and the column has more than \(Int(UInt16.max)) distinct values before it, too many for a text column")
            }
            var c: UInt16 = 0
            if numeric != nil, let full = d, full.existingCode(for: text) == nil, full.count >= Int(UInt16.max) {
                d = nil // a numeric column with many values: it stays numeric
            } else if d != nil {
                c = try code(text, in: &d!, column: i, fail: fail)
            }
            if numeric == nil { turned = true }
            lastCode[i] = d == nil ? UInt32.max : UInt32(c)
            return turned ? Float(c) : numeric!
        }
    }

    /// The code of `text`, added to `d` when new; refused when too long or the dictionary is full.
    private func code(_ text: String, in d: inout CodeDictionary, column i: Int, fail: (String) -> ImportError) throws -> UInt16 {
        guard text.utf8.count <= Campaign.maxLabelBytes else {
            throw fail("column \(Quoted.text(names[i])) value \(Quoted.text(text)) is longer than \(Campaign.maxLabelBytes) bytes")
        }
        do { return try d.code(for: text, create: true) } catch {
            throw fail("column \(Quoted.text(names[i])) has more than \(Int(UInt16.max)) distinct values: too many for a text column")
        }
    }

    /// The schema the import leaves: categorical columns (declared, or undecided ones that turned) with
    /// their dictionaries.
    func schema() throws -> FeatureSchema {
        var c: [Int: CodeDictionary] = [:]
        for (i, k) in kinds.enumerated() {
            switch k {
            case .categorical(let d): c[i] = d
            case .undecided(let d?, turned: true): c[i] = d
            default: break
            }
        }
        return try FeatureSchema(names: names, categories: c)
    }

    /// For the columns that turned categorical: their positions and, per imported row, the codes.
    func turned() -> [(column: Int, codes: [UInt32])] {
        var out: [(Int, [UInt32])] = []
        for (j, i) in watched.enumerated() {
            guard case .undecided(_, turned: true) = kinds[i], let codes = watchedCodes[j] else { continue }
            out.append((i, codes))
        }
        return out
    }
}
