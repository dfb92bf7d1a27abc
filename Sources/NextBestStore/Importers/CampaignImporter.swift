import Foundation
import NextBestCore
import Yams

/// Imports a campaign (YAML or JSON, same schema), checking it against the store: every model imported,
/// value columns present, constrained regions and segments known.
public enum CampaignImporter {
    /// Parses a campaign file without touching any store.
    public static func parse(file: String) throws -> Campaign {
        let input = try InputFile(path: file)
        guard let text = String(validating: try input.readAll(), as: UTF8.self) else {
            throw ImportError(file: input.name, line: nil, reason: "cannot read file as UTF-8 text: not valid UTF-8")
        }
        let doc = try document(text: text, file: input.name, topLevelKeys: Campaign.topLevelKeys)
        do { return try Campaign(document: doc) }
        catch { throw ImportError(file: input.name, line: error.line, key: error.path, reason: error.reason) }
    }

    /// Parses YAML or JSON text into a `ConfigValue` tree (JSON is read as YAML, its superset, unless
    /// the file name ends in `.json`).
    ///
    /// YAML is first scanned without building anything (`YAMLLimits`): a document nested deeper than
    /// 512 levels is refused (as JSON is), then, when `topLevelKeys` is given, a root key outside it, then
    /// aliases that would expand the document by more than `YAMLLimits.maxAliasNodes` nodes. Only then is
    /// the document composed and expanded.
    public static func document(text: String, file: String, topLevelKeys: Set<String>? = nil) throws -> ConfigValue {
        if file.lowercased().hasSuffix(".json") || file.lowercased().hasSuffix(".json.gz") {
            do {
                let any = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
                return fromJSON(any)
            } catch {
                let ns = error as NSError
                throw ImportError(file: file, line: nil, reason: "not valid JSON: \(ns.userInfo[NSDebugDescriptionErrorKey] as? String ?? ns.localizedDescription)")
            }
        }
        let scan: YAMLLimits.Scan
        do { scan = try YAMLLimits.scan(text) }
        catch { throw ImportError(file: file, line: error.line, reason: "refused YAML: \(error.reason)") }
        if let allowed = topLevelKeys, let (k, line) = scan.topLevelKeys.first(where: { !allowed.contains($0.key) }) {
            let e = CampaignReader.unknownKey(k, in: "$", line: line, allowed: allowed)
            throw ImportError(file: file, line: e.line, key: e.path, reason: e.reason)
        }
        if let e = scan.expansion { throw ImportError(file: file, line: e.line, reason: "refused YAML: \(e.reason)") }
        let node: Node?
        do { node = try Yams.compose(yaml: text) }
        catch let e as YamlError {
            throw ImportError(file: file, line: yamlLine(e), reason: "not valid YAML: \(yamlMessage(e))")
        } catch { throw ImportError(file: file, line: nil, reason: "not valid YAML: \(Quoted.bare("\(error)", limit: 300))") }
        guard let node else { throw ImportError(file: file, line: nil, reason: "the file is empty") }
        return try fromYAML(node, file: file)
    }

    /// Yams' message without the source line it quotes (a 200 MB line would be echoed whole): the
    /// problem, its column and at most 64 characters of the text there.
    static func yamlMessage(_ e: YamlError) -> String {
        switch e {
        case .scanner(let context, let problem, let mark, let yaml), .parser(let context, let problem, let mark, let yaml),
             .composer(let context, let problem, let mark, let yaml):
            let what = Quoted.bare((context.map { "\($0.text) " } ?? "") + problem, limit: 200)
            var near = ""
            if mark.line >= 1, let line = yaml.split(separator: "\n", maxSplits: mark.line, omittingEmptySubsequences: false).dropFirst(mark.line - 1).first {
                let from = line.unicodeScalars.index(line.unicodeScalars.startIndex, offsetBy: max(0, mark.column - 1), limitedBy: line.unicodeScalars.endIndex) ?? line.unicodeScalars.endIndex
                near = ", near " + Quoted.text(Substring(line.unicodeScalars[from...]).prefix(64))
            }
            return "\(what) (column \(mark.column)\(near))"
        default:
            return Quoted.bare("\(e)", limit: 300)
        }
    }

    static func yamlLine(_ e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    static func fromYAML(_ node: Node, file: String) throws -> ConfigValue {
        let line = node.mark?.line
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                if node.null != nil { return .null(line: line) }
                if let b = node.bool { return .bool(b, line: line) }
                if let i = node.int { return .number(Double(i), text: s.string, line: line) }
                if let d = node.float { return .number(d, text: s.string, line: line) }
            }
            return .string(s.string, line: line)
        case .mapping(let m):
            var entries: [(key: String, value: ConfigValue)] = []
            for (k, v) in m {
                guard let ks = k.string else { throw ImportError(file: file, line: k.mark?.line, reason: "mapping keys must be strings") }
                entries.append((ks, try fromYAML(v, file: file)))
            }
            return .map(entries, line: line)
        case .sequence(let seq):
            return .array(try seq.map { try fromYAML($0, file: file) }, line: line)
        }
    }

    static func fromJSON(_ any: Any) -> ConfigValue {
        switch any {
        case let s as String: return .string(s, line: nil)
        case let b as Bool where type(of: any) == Bool.self: return .bool(b, line: nil)
        case let n as NSNumber:
            if String(cString: n.objCType) == "c" { return .bool(n.boolValue, line: nil) }
            return .number(n.doubleValue, text: n.stringValue, line: nil)
        case let a as [Any]: return .array(a.map(fromJSON), line: nil)
        case let d as [String: Any]: return .map(d.keys.sorted().map { ($0, fromJSON(d[$0]!)) }, line: nil)
        default: return .null(line: nil)
        }
    }

    /// Checks a campaign against the store's models, schema and dictionaries; returns the problems.
    public static func problems(_ c: Campaign, store: Store, in txn: LMDBTransaction) throws -> [(key: String, reason: String)] {
        var out: [(String, String)] = []
        let schema = try store.schema(in: txn)
        for (i, o) in c.offers.enumerated() {
            if let m = try store.model(o.model, in: txn) {
                if let schema, let f = m.missingFeatures(in: schema).first { out.append(("offers[\(i)].model", "model '\(o.model)' uses column '\(f)', which the store lacks")) }
            } else {
                out.append(("offers[\(i)].model", "offer '\(o.id)' uses model '\(o.model)', which is not in the store (import it with `nextbest import model FILE --id \(o.model)`)"))
            }
            if case .column(let col) = o.value, schema?.index(of: col) == nil {
                out.append(("offers[\(i)].value_column", "offer '\(o.id)' takes its value from column '\(col)', which is not a profile feature"))
            }
            if case .column(let col) = o.value, let schema, let k = schema.index(of: col), schema.isCategorical(k) {
                out.append(("offers[\(i)].value_column", "offer '\(o.id)' takes its value from column '\(col)', which holds text (categories), not amounts"))
            }
        }
        let regions = try store.regions(in: txn), segments = try store.segments(in: txn)
        for r in c.constraints.regions where regions.existingCode(for: r.name) == nil {
            out.append(("constraints.regions.\(r.name)", "no customer in the store has region '\(r.name)'"))
        }
        for s in c.constraints.segments where segments.existingCode(for: s.name) == nil {
            out.append(("constraints.segments.\(s.name)", "no customer in the store has segment '\(s.name)'"))
        }
        return out
    }

    /// Reads and checks a campaign file against the store without importing it (for what-if runs).
    public static func check(file: String, store: Store) throws -> Campaign {
        let campaign = try parse(file: file)
        try store.env.read { txn in
            if let p = try problems(campaign, store: store, in: txn).first {
                throw ImportError(file: file, line: nil, key: "key \(p.key)", reason: p.reason)
            }
        }
        return campaign
    }

    public static func run(file: String, store: Store) throws -> (ImportReport, Campaign) {
        let campaign = try parse(file: file)
        return try store.env.write { txn in
            if let p = try problems(campaign, store: store, in: txn).first {
                throw ImportError(file: file, line: nil, key: "key \(p.key)", reason: p.reason)
            }
            let replaced = try store.campaign(in: txn) != nil
            try store.putJSON(campaign, store.offers, "campaign", in: txn)
            let version = (try txn.get(store.offers, key: Array("campaign_version".utf8)).flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0) + 1
            try txn.put(store.offers, key: Array("campaign_version".utf8), value: Array(String(version).utf8))
            return (ImportReport(kind: "campaign v\(version) with \(campaign.offers.count) offers", rows: 1, added: replaced ? 0 : 1, replaced: replaced ? 1 : 0, skipped: 0), campaign)
        }
    }
}
