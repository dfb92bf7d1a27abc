import CYaml

/// Limits a YAML document must respect before it is composed into a tree, checked on libyaml's event
/// stream (a loop, no recursion, nothing built):
///
/// - nesting depth at most `maxDepth`, as JSON is refused deeper than 512: composing (Yams recurses per
///   level) and reading a deeper document overflows the stack;
/// - aliases may add at most `maxAliasNodes` nodes to the written ones: `&a [*b, *b, …]` nine levels deep
///   ("billion laughs") is a few hundred bytes that expand to hundreds of millions of nodes.
///
/// The expanded size is counted exactly without expanding anything: each anchor's subtree size is kept,
/// and an alias counts as that many nodes.
public enum YAMLLimits {
    /// The deepest nesting of sequences and mappings accepted (JSONSerialization's limit).
    public static let maxDepth = 512
    /// The most nodes aliases may add to a document beyond the nodes written in it.
    public static let maxAliasNodes = 1_000_000

    /// What the scan found.
    public struct Scan: Sendable, Equatable {
        /// Nodes written in the text (scalars, sequences, mappings; aliases count 1).
        public var writtenNodes = 0
        /// Nodes of the document with every alias expanded (saturating at `Int.max / 4`).
        public var expandedNodes = 0
        /// The deepest nesting seen.
        public var depth = 0
        /// Nodes aliases add to the written ones (saturating).
        public var aliasNodes = 0
        /// The root mapping's keys (their first 1,024 bytes) and their lines, in document order.
        public var topLevelKeys: [(key: String, line: Int)] = []
        /// Set when aliases add more than the budget: the refusal to throw once the keys are checked.
        public var expansion: Violation? = nil

        public static func == (a: Scan, b: Scan) -> Bool {
            a.writtenNodes == b.writtenNodes && a.expandedNodes == b.expandedNodes && a.depth == b.depth && a.aliasNodes == b.aliasNodes
                && a.expansion == b.expansion
                && a.topLevelKeys.map(\.key) == b.topLevelKeys.map(\.key) && a.topLevelKeys.map(\.line) == b.topLevelKeys.map(\.line)
        }
    }

    /// Why a document was refused before being composed: a 1-based line and the reason.
    public struct Violation: Error, CustomStringConvertible, Equatable {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// Scans `text`, refusing (with the line of the node that broke it) a document nested deeper than
    /// `maxDepth`. A syntax error ends the scan early without an error: composing the text reports it,
    /// with its place. Aliases adding more than `maxAliasNodes` nodes set `expansion`, which the caller
    /// throws after checking the top-level keys (an unknown key is the better message).
    public static func scan(_ text: String, maxDepth: Int = maxDepth, maxAliasNodes: Int = maxAliasNodes) throws(Violation) -> Scan {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { return Scan() }
        bytes.append(0)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return Scan() }
        defer { yaml_parser_delete(&parser) }
        var state = ScanState(maxDepth: maxDepth, maxAliasNodes: maxAliasNodes)
        bytes.withUnsafeBufferPointer { buf in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count - 1)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return }
                defer { yaml_event_delete(&event) }
                guard state.read(event) else { return }
            }
        }
        if let violation = state.violation { throw violation }
        return state.result
    }
}

/// The scan's progress through libyaml's events.
private struct ScanState {
    let maxDepth: Int
    let maxAliasNodes: Int
    let cap = Int.max / 4
    var result = YAMLLimits.Scan()
    var violation: YAMLLimits.Violation? = nil
    /// Open collections: their expanded size so far and the anchor to record at their end.
    var open: [(size: Int, anchor: String?)] = []
    var sizes: [String: Int] = [:]
    /// In the root mapping: whether the next node at depth 1 is a key.
    var rootIsMap = false, expectKey = true

    init(maxDepth: Int, maxAliasNodes: Int) { self.maxDepth = maxDepth; self.maxAliasNodes = maxAliasNodes }

    /// Takes one event; false when the scan ends (the stream's end, a malformed stream, a violation).
    mutating func read(_ event: yaml_event_t) -> Bool {
        let line = Int(event.start_mark.line) + 1
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return false
        case YAML_SCALAR_EVENT:
            scalar(event, line: line)
        case YAML_ALIAS_EVENT:
            alias(event, line: line)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            return start(event, line: line)
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let done = open.popLast() else { return false }
            if let a = done.anchor { sizes[a] = done.size }
            add(done.size)
            completed(nil, line: line)
        case YAML_DOCUMENT_START_EVENT:
            // A stream of several documents is refused by the composer; count each as written.
            rootIsMap = false
        default:
            break
        }
        return true
    }

    /// A scalar: one node, and a key when it is one of the root mapping's.
    private mutating func scalar(_ event: yaml_event_t, line: Int) {
        result.writtenNodes += 1
        add(1)
        if let a = Self.anchorName(event.data.scalar.anchor) { sizes[a] = 1 }
        let key = rootIsMap && open.count == 1 && expectKey
            ? String(decoding: UnsafeBufferPointer(start: event.data.scalar.value, count: min(event.data.scalar.length, 1024)), as: UTF8.self) : nil
        completed(key, line: line)
    }

    /// An alias: counts as its anchor's nodes; past the budget, sets the (first) expansion refusal.
    private mutating func alias(_ event: yaml_event_t, line: Int) {
        result.writtenNodes += 1
        let name = Self.anchorName(event.data.alias.anchor) ?? ""
        let size = sizes[name] ?? 1
        add(size)
        result.aliasNodes = min(cap, result.aliasNodes + size - 1)
        if result.aliasNodes > maxAliasNodes, result.expansion == nil {
            result.expansion = YAMLLimits.Violation(line: line, reason: "aliases expand the document by more than \(maxAliasNodes) nodes (here alias *\(name.prefix(64)) adds \(size >= cap ? "more than \(cap)" : "\(size)") nodes): refused before expanding")
        }
        completed(nil, line: line)
    }

    /// A sequence or mapping opens; false (with `violation` set) when it is nested too deep.
    private mutating func start(_ event: yaml_event_t, line: Int) -> Bool {
        result.writtenNodes += 1
        let isMap = event.type == YAML_MAPPING_START_EVENT
        if open.isEmpty && isMap { rootIsMap = true; expectKey = true }
        let anchor = isMap ? Self.anchorName(event.data.mapping_start.anchor) : Self.anchorName(event.data.sequence_start.anchor)
        open.append((1, anchor))
        result.depth = max(result.depth, open.count)
        if open.count > maxDepth {
            violation = YAMLLimits.Violation(line: line, reason: "nested more than \(maxDepth) levels deep")
            return false
        }
        return true
    }

    /// An anchor's name, if the node has one.
    private static func anchorName(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        p.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    /// Adds `size` expanded nodes to the innermost open collection (or the document).
    private mutating func add(_ size: Int) {
        if open.isEmpty { result.expandedNodes = min(cap, result.expandedNodes + size) }
        else { open[open.count - 1].size = min(cap, open[open.count - 1].size + size) }
    }

    /// A complete node at the current depth (after `add`): tracks the root mapping's keys.
    private mutating func completed(_ key: String?, line: Int) {
        guard rootIsMap, open.count == 1 else { return }
        if expectKey, let key { result.topLevelKeys.append((key, line)) }
        expectKey.toggle()
    }
}
