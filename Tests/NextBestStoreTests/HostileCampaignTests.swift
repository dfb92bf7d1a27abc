import Foundation
import Testing
import NextBestCore
@testable import NextBestStore

/// Campaign files written to hurt (issue 21): each is refused quickly, naming the file, the line or key
/// and the reason, and nothing is stored.
@Suite struct HostileCampaignTests {
    static let good = ImporterRefusalTests.goodCampaign

    /// Refuses `text` (as file `name`) through `parse` (no store, as `simulate --campaign` starts) and
    /// through an import (the store must stay byte-identical); the message contains every part; each
    /// refusal within `seconds`.
    func expectRefused(_ text: String, name: String = "c.yaml", containing parts: [String], seconds: Double = 2) throws {
        let f = Fixtures.file(name, text)
        let t = Date()
        do {
            _ = try CampaignImporter.parse(file: f)
            Issue.record("expected a refusal containing \(parts)")
        } catch {
            let message = "\(error)"
            for p in parts { #expect(message.contains(p), "message '\(message.prefix(500))' lacks '\(p)'") }
            #expect(message.utf8.count < 2_000, "message of \(message.utf8.count) bytes")
        }
        #expect(Date().timeIntervalSince(t) < seconds, "refusal took \(Date().timeIntervalSince(t)) s")
        let store = try Fixtures.store()
        let before = try Fixtures.digest(store)
        #expect(throws: ImportError.self) { _ = try CampaignImporter.run(file: f, store: store) }
        #expect(try Fixtures.digest(store) == before, "store changed after a refused import")
    }

    /// Nine levels of nine aliases: 9^9 ≈ 387 million nodes from a few hundred bytes.
    static func laughs(levels: Int = 9, indent: String = "  ") -> String {
        var s = "\(indent)- &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1..<levels {
            let refs = Array(repeating: "*l\(i - 1)", count: 9).joined(separator: ", ")
            s += "\(indent)- &l\(i) [\(refs)]\n"
        }
        return s
    }

    // MARK: item 1: alias expansion

    @Test func aliasBombUnderAKnownKeyIsRefusedBeforeExpanding() throws {
        let text = Self.good.replacingOccurrences(of: "objective: expected_value", with: "objective:\n" + Self.laughs())
        try expectRefused(text, containing: ["c.yaml:", "aliases expand the document by more than"])
    }

    @Test func aliasBombUnderAnUnknownKeyIsRefusedForTheKey() throws {
        let text = Self.good + "\nlol:\n" + Self.laughs() + "zzz: 1\n"
        try expectRefused(text, containing: ["c.yaml:", "unknown key 'lol'"])
    }

    @Test func aliasBombInsideAnOfferIsRefused() throws {
        let text = Self.good.replacingOccurrences(of: "    value: 120.0", with: "    value: 120.0\n    description:\n" + Self.laughs(indent: "      "))
        try expectRefused(text, containing: ["c.yaml:", "aliases expand"])
    }

    /// Ordinary anchors (one channel block shared by offers) still read.
    @Test func modestAliasesStillRead() throws {
        let text = """
        objective: propensity
        run_date: 2026-11-23
        offers:
          - id: A
            product: p
            family: f
            model: logit_all
            value: 1
            channels: &ch {email: {min_propensity: 0.1, cost: 0.1}, sms: {cost: 0.05}}
          - id: B
            product: q
            family: f
            model: logit_all
            value: 2
            channels: *ch
        """
        let c = try CampaignImporter.parse(file: Fixtures.file("c.yaml", text))
        #expect(c.offers.map(\.channels) == [c.offers[0].channels, c.offers[0].channels])
        #expect(c.offers[1].channels.map(\.channel) == ["email", "sms"])
    }

    @Test func aliasBudgetCountsExpandedNodesExactly() throws {
        let s = try YAMLLimits.scan("a: &x [1, 2, 3]\nb: [*x, *x]\n")
        // map, a, seq + 3, b, seq, two aliases of 4 nodes each.
        #expect(s.writtenNodes == 10 && s.expandedNodes == 16 && s.aliasNodes == 6)
        #expect(s.topLevelKeys.map(\.key) == ["a", "b"] && s.topLevelKeys.map(\.line) == [1, 2])
        #expect(s.expansion == nil)
        let bomb = try YAMLLimits.scan("x:\n" + Self.laughs(levels: 30))
        #expect(bomb.expansion != nil)
        #expect(bomb.expandedNodes > 1_000_000_000)
    }

    // MARK: item 2: nesting depth

    @Test(arguments: [5_000, 100_000])
    func deepNestingIsRefusedLikeJSON(depth: Int) throws {
        let nest = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let text = Self.good + "\nextra: \(nest)\n"
        try expectRefused(text, containing: ["c.yaml:", "nested more than 512 levels deep"])
        let known = Self.good.replacingOccurrences(of: "objective: expected_value", with: "objective: \(nest)")
        try expectRefused(known, containing: ["c.yaml:1", "nested more than 512 levels deep"])
        let blocks = Self.good.replacingOccurrences(of: "objective: expected_value",
                                                    with: "objective:\n" + (1...1_000).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " 1")
        try expectRefused(blocks, containing: ["c.yaml:", "nested more than 512 levels deep"])
    }

    /// At the limit the document is composed and read (no stack overflow on a test thread) and refused for
    /// what it says.
    @Test func nestingAtTheLimitIsReadAndRefusedForItsContent() throws {
        let depth = YAMLLimits.maxDepth - 1
        let nest = String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
        let text = Self.good.replacingOccurrences(of: "objective: expected_value", with: "objective: \(nest)")
        try expectRefused(text, containing: ["c.yaml:1", "objective", "expected a string"])
        let json = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        try expectRefused(json, name: "c.json", containing: ["c.json", "not valid JSON"])
    }
}
