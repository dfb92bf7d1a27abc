import Foundation
import NextBestCore

/// Seeded, reproducible mutation fuzzing shared by the fuzz tests of every target.
///
/// Iteration `i` of a run with seed `s` draws from its own `SplitMix64(seed: s, stream: i)`, so any one input
/// is rebuilt from the two numbers printed with a failure. CI runs a fixed count; `NEXTBEST_FUZZ_ITERATIONS`
/// (a multiplier of it when it ends in `x`, as in `50x`, else a count) and `NEXTBEST_FUZZ_SEED` change both
/// (`bench/fuzz.sh` uses them for longer release-build runs). With `NEXTBEST_FUZZ_SAVE` naming a directory,
/// each input is written there as `<name>.current` before it is tried, so after a trap that file holds it.
public struct Fuzz: Sendable {
    /// The run's name (shown in its summary line), seed and iteration count.
    public let name: String
    public let seed: UInt64
    public let iterations: Int
    /// Where the input being tried is kept, if anywhere.
    public let save: String?

    /// A run named `name`: `iterations` and `seed` unless the environment says otherwise.
    public init(_ name: String, iterations: Int, seed: UInt64, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.name = name
        self.seed = environment["NEXTBEST_FUZZ_SEED"].flatMap { UInt64($0) } ?? seed
        self.iterations = Self.count(environment["NEXTBEST_FUZZ_ITERATIONS"], default: iterations)
        self.save = environment["NEXTBEST_FUZZ_SAVE"].flatMap { $0.isEmpty ? nil : $0 + "/\(name).current" }
    }

    static func count(_ text: String?, default n: Int) -> Int {
        guard let text, !text.isEmpty else { return n }
        if text.hasSuffix("x"), let k = Int(text.dropLast()), k > 0 { return n * k }
        if let k = Int(text), k > 0 { return k }
        return n
    }

    /// What a run did with its inputs.
    public struct Outcome: Sendable, CustomStringConvertible {
        public var accepted = 0
        public var refused = 0
        public var seconds = 0.0
        /// The failure reasons seen, by how often (the first words of each message).
        public var reasons: [String: Int] = [:]
        public var description: String {
            "\(accepted + refused) inputs, \(accepted) accepted, \(refused) refused, \(reasons.count) kinds of refusal"
        }
    }

    /// Runs `body` on every iteration's input; `body` returns nil when the input was accepted, else the
    /// error's description (it must not throw or trap). Prints one summary line that `bench/fuzz.sh` reads.
    public func run(inputs make: (inout SplitMix64, Int) -> [UInt8], _ body: ([UInt8], Int) -> String?) -> Outcome {
        var outcome = Outcome()
        let start = Date()
        // One file overwritten in place (an atomic write per input made long runs slower than the parsers).
        let saved = save.map { open($0, O_WRONLY | O_CREAT | O_TRUNC, 0o644) } ?? -1
        defer { if saved >= 0 { close(saved) } }
        print("fuzz \(name): seed \(seed), \(iterations) iterations (NEXTBEST_FUZZ_SEED=\(seed) reproduces)")
        for i in 0..<iterations {
            var rng = SplitMix64(seed: seed, stream: UInt64(i))
            let input = make(&rng, i)
            if saved >= 0 {
                _ = ftruncate(saved, 0)
                _ = input.withUnsafeBytes { pwrite(saved, $0.baseAddress, $0.count, 0) }
            }
            if let reason = body(input, i) {
                outcome.refused += 1
                outcome.reasons[String(reason.prefix(40)), default: 0] += 1
            } else {
                outcome.accepted += 1
            }
        }
        outcome.seconds = Date().timeIntervalSince(start)
        print("fuzz \(name): seed \(seed), \(iterations) iterations, \(outcome.accepted) accepted, \(outcome.refused) refused, "
              + "\(outcome.reasons.count) distinct refusals, \(String(format: "%.1f", outcome.seconds)) s")
        return outcome
    }

    /// Where a failing input is reported: the name, seed and iteration that rebuild it.
    public func tag(_ i: Int) -> String { "fuzz \(name) seed \(seed) iteration \(i)" }
}

/// Mutations of valid inputs: bit flips, byte changes, cuts, truncation, splicing two inputs, repeated or
/// swapped lines, inserted tokens, deep nesting, huge numbers and strings, and YAML aliases.
public enum Mutator {
    /// Tokens that hurt text parsers.
    public static let tokens: [[UInt8]] = [",", "\n", "\r\n", "\"", "\"\"", "-1", "1e309", "-1e309", "NaN", "nan", "inf", "-0", "\u{0}", "é",
                                           "99999999999999999999999", "1e-400", "0x10", ":", "{", "}", "[", "]", "- ", "\t", "  ", "#", "null",
                                           "true", "2026-02-30", ",,,,", "&a", "*a", "!!binary", "? ", "<<: *a", "---", "...", "\\u0000", "\u{FEFF}"]
        .map { Array($0.utf8) }

    /// One mutated copy of `seed` (`others` are spliced in).
    public static func mutate(_ seed: [UInt8], others: [[UInt8]] = [], rng: inout SplitMix64) -> [UInt8] {
        var b = seed
        for _ in 0..<(1 + rng.below(4)) {
            let n = b.count
            let at = n == 0 ? 0 : rng.below(n + 1)
            switch rng.below(12) {
            case 0 where n > 0: b[min(at, n - 1)] ^= 1 << UInt8(rng.below(8))
            case 1 where n > 0: b[min(at, n - 1)] = UInt8(truncatingIfNeeded: rng.next())
            case 2 where n > 0: b.removeSubrange(min(at, n - 1)..<min(n, at + 1 + rng.below(16)))
            case 3: b.insert(contentsOf: tokens[rng.below(tokens.count)], at: at)
            case 4: b = Array(b.prefix(at))
            case 5: b = splice(b, others.isEmpty ? seed : others[rng.below(others.count)], rng: &rng)
            case 6: b = lines(b, rng: &rng)
            case 7: b.insert(contentsOf: nesting(rng: &rng), at: at)
            case 8: b = hugeNumber(b, rng: &rng)
            case 9: b.insert(contentsOf: aliases(rng: &rng), at: at)
            case 10: b.insert(contentsOf: Array(repeating: UInt8(ascii: "a"), count: 1 << (8 + rng.below(10))), at: at)
            default: if n > 0 { b[min(at, n - 1)] = b[rng.below(n)] }
            }
        }
        return b
    }

    /// The start of `a` and the end of `b`, each cut at a random place.
    static func splice(_ a: [UInt8], _ b: [UInt8], rng: inout SplitMix64) -> [UInt8] {
        Array(a.prefix(rng.below(a.count + 1))) + Array(b.suffix(rng.below(b.count + 1)))
    }

    /// A line repeated or two lines swapped.
    static func lines(_ b: [UInt8], rng: inout SplitMix64) -> [UInt8] {
        var lines = b.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        guard lines.count > 1 else { return b }
        let i = rng.below(lines.count), j = rng.below(lines.count)
        if rng.below(2) == 0 { lines.insert(lines[i], at: j) } else { lines.swapAt(i, j) }
        return Array(lines.joined(separator: [UInt8(ascii: "\n")]))
    }

    /// Brackets or braces nested up to 20,000 deep, closed or not.
    static func nesting(rng: inout SplitMix64) -> [UInt8] {
        let depth = 1 << (4 + rng.below(11))
        let (open, close): ([UInt8], [UInt8]) = rng.below(2) == 0 ? (Array("[".utf8), Array("]".utf8)) : (Array("{\"a\":".utf8), Array("}".utf8))
        var out = [UInt8]()
        for _ in 0..<depth { out += open }
        if rng.below(2) == 0 { out += Array("1".utf8); for _ in 0..<depth { out += close } }
        return out
    }

    /// A run of digits replaced by an extreme number.
    static func hugeNumber(_ b: [UInt8], rng: inout SplitMix64) -> [UInt8] {
        let extremes = ["1e308", "-1e308", "1.7976931348623157e309", "4.9e-324", "1e-400", "18446744073709551616", "-9223372036854775809",
                        "1000000", "1e30", String(repeating: "9", count: 400), "0." + String(repeating: "0", count: 400) + "1"]
        let pick = Array(extremes[rng.below(extremes.count)].utf8)
        let digits = b.indices.filter { (48...57).contains(b[$0]) }
        guard !digits.isEmpty else { return b + pick }
        var start = digits[rng.below(digits.count)], end = start
        while start > 0 && (48...57).contains(b[start - 1]) || start > 0 && b[start - 1] == UInt8(ascii: ".") { start -= 1 }
        while end < b.count && ((48...57).contains(b[end]) || b[end] == UInt8(ascii: ".")) { end += 1 }
        var out = b
        out.replaceSubrange(start..<end, with: pick)
        return out
    }

    /// A YAML anchor and aliases, up to a few levels of the billion-laughs pattern.
    static func aliases(rng: inout SplitMix64) -> [UInt8] {
        let levels = 1 + rng.below(9)
        var s = "\nz0: &z0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1..<max(levels, 2) {
            s += "z\(i): &z\(i) [" + Array(repeating: "*z\(i - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        return Array(s.utf8)
    }
}
