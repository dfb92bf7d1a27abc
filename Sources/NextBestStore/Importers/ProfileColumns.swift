import Foundation
import NextBestCore

/// How a profile import reads each feature column: numeric, categorical (text, dictionary-coded), or —
/// at a store's first import only — undecided: numeric until a non-numeric value turns it categorical.
///
/// An undecided column costs nothing more than a numeric one while its values are numbers. When one
/// turns, its later cells are coded in a provisional dictionary, and `ProfileImporter` reads the file a
/// second time in the same transaction to code every cell of it in file order (`recode`), so the codes are
/// those of first appearance and numbers before the turn are kept as their text. Standard input cannot
/// be read twice: there a column turning is refused, naming `--categorical`. Values are compared as
/// strings: `1` and `1.0` are two categories. An empty cell is missing (NaN) in either kind.
struct ProfileColumns {
    enum Kind {
        case numeric
        case categorical(CodeDictionary)
        /// A first import's column not declared categorical, still all numbers.
        case undecided
    }

    private(set) var kinds: [Kind]
    let names: [String]
    /// Columns that turned categorical during this import (their codes so far are provisional).
    private(set) var turned: [Int] = []
    /// Whether the input can be read a second time (a regular file, plain or gzip).
    let rereadable: Bool

    /// The columns of `schema` (a later import: categorical as the store says, the rest numeric), or of a
    /// first import (`first`): those in `declared` categorical, the rest undecided.
    init(schema: FeatureSchema, first: Bool, declared: Set<String>, rereadable: Bool) {
        names = schema.names
        kinds = schema.names.indices.map { i in
            if let d = schema.categories[i] { return .categorical(d) }
            if first { return declared.contains(schema.names[i]) ? .categorical(CodeDictionary()) : .undecided }
            return .numeric
        }
        self.rereadable = rereadable
    }

    /// Reads field `i + 3` of `r` into `features[i]` for every column.
    mutating func read(_ r: CSVReader.Record, into features: inout [Float], fail: (String) -> ImportError) throws {
        for i in 0..<features.count { features[i] = try value(r, column: i, fail: fail) }
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
            return Float(try Self.code(r.string(i + 3), in: &d, column: names[i], fail: fail))
        case .undecided:
            if let v = FieldParser.float(b) { return v }
            let text = r.string(i + 3)
            if let x = Double(text.trimmingCharacters(in: .whitespaces)), !x.isFinite {
                throw fail("column \(Quoted.text(names[i])) value \(Quoted.text(text)) is not a finite number")
            }
            guard rereadable else {
                throw fail("column \(Quoted.text(names[i])) holds text (\(Quoted.text(text))) after numbers; standard input cannot be read a second time to code the numbers as text: import with --categorical \(names[i])")
            }
            var d = CodeDictionary()
            let c = try Self.code(text, in: &d, column: names[i], fail: fail)
            kinds[i] = .categorical(d)
            turned.append(i)
            return Float(c)
        }
    }

    /// The code of `text` in column `column`'s dictionary, added when new; refused when too long or the
    /// dictionary is full.
    static func code(_ text: String, in d: inout CodeDictionary, column: String, fail: (String) -> ImportError) throws -> UInt16 {
        guard text.utf8.count <= Campaign.maxLabelBytes else {
            throw fail("column \(Quoted.text(column)) value \(Quoted.text(text)) is longer than \(Campaign.maxLabelBytes) bytes")
        }
        do { return try d.code(for: text, create: true) } catch {
            throw fail("column \(Quoted.text(column)) has more than \(Int(UInt16.max)) distinct values: too many for a text column")
        }
    }

    /// The schema the import leaves: the categorical columns with their dictionaries, `recoded` in place
    /// of the provisional ones of the columns that turned.
    func schema(recoded: [Int: CodeDictionary] = [:]) throws -> FeatureSchema {
        var c: [Int: CodeDictionary] = [:]
        for (i, k) in kinds.enumerated() {
            if case .categorical(let d) = k { c[i] = recoded[i] ?? d }
        }
        return try FeatureSchema(names: names, categories: c)
    }

    /// Whether `path` names a regular file (after symbolic links), which can be read twice.
    static func isRegularFile(_ path: String) -> Bool {
        guard path != "-" else { return false }
        let resolved = (path as NSString).resolvingSymlinksInPath
        return (try? FileManager.default.attributesOfItem(atPath: resolved)[.type] as? FileAttributeType) == .typeRegular
    }
}
