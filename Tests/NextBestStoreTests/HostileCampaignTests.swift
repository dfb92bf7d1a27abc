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

/// Numbers and names a run cannot handle are refused at import (issue 21, items 4 to 8), not by the run.
@Suite struct CampaignLimitTests {
    static let good = ImporterRefusalTests.goodCampaign

    func refused(_ find: String, _ replace: String, _ parts: [String]) throws {
        let text = Self.good.replacingOccurrences(of: find, with: replace)
        #expect(text != Self.good, "'\(find)' not in the campaign")
        try HostileCampaignTests().expectRefused(text, containing: ["c.yaml:"] + parts)
    }

    // item 4
    @Test func maxOffersAboveTheOfferCountIsRefused() throws {
        try refused("max_offers: 1, max_per_family: 1", "max_offers: 1000000", ["per_customer.max_offers", "1000000 is more than 1 (the campaign has 1 offer)"])
        try refused("max_offers: 1, max_per_family: 1", "max_offers: 2", ["per_customer.max_offers", "2 is more than 1 (the campaign has 1 offer)"])
        try refused("max_offers: 1, max_per_family: 1", "max_offers: 1, max_per_family: 3000000000", ["per_customer.max_per_family", "is more than 1"])
        let ok = try CampaignImporter.parse(file: Fixtures.file("c.yaml", Self.good.replacingOccurrences(of: "max_offers: 1, max_per_family: 1", with: "max_offers: 1")))
        #expect(ok.perCustomer == .init(maxOffers: 1, maxPerFamily: 1))
    }

    // item 5
    @Test(arguments: [
        ("budget: 100", "budget: 1e30", "constraints.budget", "is more than 1000000000000"),
        ("budget: 100", "budget: 9300000000000", "constraints.budget", "is more than 1000000000000"),
        ("value: 120.0", "value: 1e30", "offers[0].value", "is more than 1000000000"),
        ("cost: 0.10}", "cost: 1e300}", "offers[0].channels.email.cost", "is more than 1000000000"),
        ("north: {min: 1, max: 50}", "north: {max: 1e14}", "constraints.regions.north.max", "is more than 1000000000000"),
        ("max_offers: 1", "max_offers: 1e300", "per_customer.max_offers", "more than 1"),
    ])
    func moneyAndCountsAreBounded(find: String, replace: String, key: String, reason: String) throws {
        try refused(find, replace, [key, reason])
    }

    /// Fatigue numbers become 32-bit integers in the scorer: a larger one crashed every run.
    @Test func fatigueNumbersAreBounded() throws {
        try refused("per_customer:", "fatigue: {max_ignored: 2, window_days: 10000000000}\nper_customer:", ["fatigue.window_days", "10000000000 is more than 36600 (100 years)"])
        try refused("per_customer:", "fatigue: {max_ignored: 3000000000, window_days: 90}\nper_customer:", ["fatigue.max_ignored", "is more than 1000000"])
    }

    // item 6
    @Test func tooManyOffersAreRefusedBeforeReadingThem() throws {
        // The count is checked before any offer is read: these offers are not even mappings.
        let items = [ConfigValue](repeating: .null(line: nil), count: Campaign.maxOffers + 1)
        let doc = ConfigValue.map([("objective", .string("propensity", line: 1)), ("offers", .array(items, line: 2))], line: 1)
        #expect(throws: CampaignError(path: "offers", line: 2, reason: "65535 offers; at most 65534")) { try Campaign(document: doc) }
        let fewer = ConfigValue.map([("offers", .array(Array(items.dropFirst()), line: 2))], line: 1)
        #expect(throws: CampaignError(path: "offers[0]", line: nil, reason: "expected a mapping, found null")) { try Campaign(document: fewer) }
    }

    @Test func tooManyChannelsAreRefused() throws {
        let channels = (0...Campaign.maxChannels).map { "c\($0): {cost: 0}" }.joined(separator: ", ")
        try refused("channels:\n      email: {min_propensity: 0.01, cost: 0.10}", "channels: {\(channels)}", ["255 distinct channels; at most 254"])
    }

    // item 7
    @Test func longNamesAreRefused() throws {
        let long = String(repeating: "x", count: 256)
        try refused("product: credit_card_gold", "product: \(long)", ["offers[0].product", "is longer than 255 bytes"])
        try refused("id: CARD1", "id: \(long)", ["offers[0].id", "is longer than 255 bytes"])
        try refused("email: {min_propensity", "\(long): {min_propensity", ["offers[0].channels", "is longer than 255 bytes"])
        try refused("north: {min: 1", "\(long): {min: 1", ["constraints.regions", "is longer than 255 bytes"])
        let ok = String(repeating: "y", count: 255)
        let c = try CampaignImporter.parse(file: Fixtures.file("c.yaml", Self.good.replacingOccurrences(of: "family: cards", with: "family: \(ok)")))
        #expect(c.offers[0].family == ok)
    }

    @Test func longRegionsAndColumnsInProfilesAreRefused() throws {
        let store = try Fixtures.store()
        let rt = ImporterRefusalTests()
        let region = String(repeating: "r", count: 5_000_000)
        let f = Fixtures.file("p.csv", ImporterRefusalTests.header + "\n1,\(region),young,1,2,3,4,5,6,7,8,9,10\n")
        try rt.expectRefusal(store, containing: ["p.csv:2", "region 'rrrr", "(5000000 bytes) is longer than 255 bytes"]) { _ = try ProfileImporter.run(file: f, store: store) }
        let g = Fixtures.file("p.csv", ImporterRefusalTests.header + "\n1,north,\(String(repeating: "s", count: 256)),1,2,3,4,5,6,7,8,9,10\n")
        try rt.expectRefusal(store, containing: ["p.csv:2", "segment", "is longer than 255 bytes"]) { _ = try ProfileImporter.run(file: g, store: store) }
        let h = Fixtures.file("p.csv", ImporterRefusalTests.header.replacingOccurrences(of: "age", with: String(repeating: "a", count: 300)) + "\n1,north,young,1,2,3,4,5,6,7,8,9,10\n")
        try rt.expectRefusal(store, containing: ["p.csv:1", "header column 4 name", "is longer than 255 bytes"]) { _ = try ProfileImporter.run(file: h, store: store) }
    }

    // item 8
    @Test func hugeBadValuesAreCutInMessages() throws {
        let big = String(repeating: "9", count: 2_000_000) + "x"
        let store = try Fixtures.store()
        let rt = ImporterRefusalTests()
        func short(sized: Bool = true, _ body: () throws -> Void) {
            do { try body(); Issue.record("expected a refusal") } catch {
                let m = "\(error)"
                #expect(m.utf8.count < 1_000, "message of \(m.utf8.count) bytes: \(m.prefix(300))")
                if sized { #expect(m.contains("(2000001 bytes)"), "\(m.prefix(300))") }
            }
        }
        let p = Fixtures.file("p.csv", ImporterRefusalTests.header + "\n1,north,young,1,2,3,4,5,6,7,8,9,\(big)\n")
        short { _ = try ProfileImporter.run(file: p, store: store) }
        let q = Fixtures.file("p.csv", ImporterRefusalTests.header + "\n\(big),north,young,1,2,3,4,5,6,7,8,9,1\n")
        short { _ = try ProfileImporter.run(file: q, store: store) }
        let h = Fixtures.file("h.csv", "customer_id,offer_id,channel,date,outcome\n474640,SAV1,email,\(big),ignored\n")
        short { _ = try HistoryImporter.run(file: h, store: store) }
        let h2 = Fixtures.file("h.csv", "customer_id,offer_id,channel,date,outcome\n474640,SAV1,email,2026-11-01,\(big)\n")
        short { _ = try HistoryImporter.run(file: h2, store: store) }
        for (find, replace) in [("objective: expected_value", "objective: \(big)"), ("run_date: 2026-11-23", "run_date: \(big)"),
                                ("budget: 100", "budget: 100\n  \(big): 1"), ("budget: 100", "budget: 100\n  \"\(big)\": 1")] {
            let c = Fixtures.file("c.yaml", Self.good.replacingOccurrences(of: find, with: replace))
            // A plain key over 1,024 characters is a YAML syntax error, its message cut too.
            short(sized: find != "budget: 100") { _ = try CampaignImporter.parse(file: c) }
        }
        // A syntax error on a 2 MB line: Yams quotes the whole line; the message keeps 64 characters of it.
        let y = Fixtures.file("c.yaml", Self.good.replacingOccurrences(of: "objective: expected_value", with: "objective: [\(big)"))
        do { _ = try CampaignImporter.parse(file: y); Issue.record("expected a refusal") } catch {
            let m = "\(error)"
            #expect(m.contains("not valid YAML") && m.utf8.count < 1_000, "message of \(m.utf8.count) bytes: \(m.prefix(300))")
        }
        #expect(Quoted.text("a\nb\u{1B}[31m") == #"'a\nb\u{1B}[31m'"#)
        #expect(Quoted.text(String(repeating: "é", count: 100)) == "'" + String(repeating: "é", count: 64) + "…' (200 bytes)")
    }
}

/// Models whose margin can overflow are refused at import (issue 21, item 19).
@Suite struct HostileModelTests {
    @Test func hugeLogisticCoefficientsAreRefused() throws {
        let store = try Fixtures.store()
        let rt = ImporterRefusalTests()
        let f = Fixtures.file("m.json", #"{"features":["age","income"],"coefficients":[1e308,-1e308],"intercept":0}"#)
        try rt.expectRefusal(store, containing: ["m.json", "so large", "margin can overflow"]) {
            _ = try ModelImporter.run(file: f, id: "huge", format: .logisticJSON, store: store)
        }
        let g = Fixtures.file("m.json", #"{"features":["age"],"coefficients":[1],"intercept":1e308}"#)
        _ = try ModelImporter.run(file: g, id: "big_intercept", format: .logisticJSON, store: store)
    }

    @Test func treeThresholdsAndLeavesBeyondFloat32AreRefused() throws {
        let store = try Fixtures.store()
        let rt = ImporterRefusalTests()
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.models + "/xgb_small.json"))
        for leaf in [false, true] {
            var root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            var learner = root["learner"] as! [String: Any], booster = learner["gradient_booster"] as! [String: Any]
            var model = booster["model"] as! [String: Any], trees = model["trees"] as! [[String: Any]]
            var conds = trees[0]["split_conditions"] as! [Double]
            // 1e39 is finite as a double and infinite as the 32-bit float the trees are evaluated in.
            let node = (trees[0]["left_children"] as! [Int]).firstIndex { leaf ? $0 == -1 : $0 != -1 }!
            conds[node] = 1e39
            trees[0]["split_conditions"] = conds
            model["trees"] = trees; booster["model"] = model; learner["gradient_booster"] = booster; root["learner"] = learner
            let f = Fixtures.file("t.json", String(decoding: try JSONSerialization.data(withJSONObject: root), as: UTF8.self))
            try rt.expectRefusal(store, containing: ["t.json", "trees[0]", leaf ? "has a non-finite value" : "non-finite split threshold"]) {
                _ = try ModelImporter.run(file: f, id: "t", format: .xgboostJSON, store: store)
            }
        }
    }
}
