import Foundation
import Testing
import NextBestCore
@testable import NextBestStore
@testable import NextBestSynthetic

/// Every importer refuses bad input with file, line (or key) and reason, and leaves the store exactly
/// as it was.
@Suite struct ImporterRefusalTests {
    static let header = "customer_id,region,segment,age,income,balance,tenure_months,num_products,card_spend,savings_rate,digital_logins,mortgage_ltv,credit_score"

    func expectRefusal(_ store: Store, containing parts: [String], _ body: () throws -> Void) throws {
        let before = try Fixtures.digest(store)
        do {
            try body()
            Issue.record("expected a refusal containing \(parts)")
        } catch {
            let text = "\(error)"
            for p in parts { #expect(text.contains(p), "message '\(text)' lacks '\(p)'") }
        }
        #expect(try Fixtures.digest(store) == before, "store changed after a refused import")
    }

    @Test(arguments: [
        ("1,north,young,1,2,3,4,5,6,7,8,9,abc", ":2", "'abc' is not a finite number"),
        ("1,north,young,1,2,3,4,5,6,7,8,9,10\n1,north,young,1,2,3,4,5,6,7,8,9,10", ":3", "appears again (first at line 2)"),
        ("1,north,young,1,2,3", ":2", "has 6 fields"),
        ("-5,north,young,1,2,3,4,5,6,7,8,9,10", ":2", "not an unsigned 64-bit integer"),
        ("18446744073709551616,north,young,1,2,3,4,5,6,7,8,9,10", ":2", "not an unsigned 64-bit integer"),
        ("1,,young,1,2,3,4,5,6,7,8,9,10", ":2", "region is empty"),
        ("1,north,young,1,2,3,4,5,6,7,8,9,nan", ":2", "not a finite number"),
        ("1,north,young,1,2,3,4,5,6,7,8,9,1e999", ":2", "not a finite number"),
        ("1,north,young,\"1,2,3,4,5,6,7,8,9,10", ":2", "unterminated quoted field"),
    ])
    func badProfileRows(row: String, line: String, reason: String) throws {
        let store = try Fixtures.store()
        let f = Fixtures.file("p.csv", Self.header + "\n" + row + "\n")
        try expectRefusal(store, containing: ["p.csv" + line, reason]) { _ = try ProfileImporter.run(file: f, store: store) }
    }

    @Test func profileHeaderMustMatchStoreSchema() throws {
        let store = try Fixtures.store()
        let f = Fixtures.file("p.csv", "customer_id,region,segment,age,salary\n1,north,young,3,4\n")
        try expectRefusal(store, containing: ["p.csv:1", "expected 'income', found 'salary'"]) { _ = try ProfileImporter.run(file: f, store: store) }
        let g = Fixtures.file("q.csv", "id,region,segment,age\n1,north,young,3\n")
        try expectRefusal(store, containing: ["q.csv:1", "header must start with customer_id"]) { _ = try ProfileImporter.run(file: g, store: store) }
    }

    @Test func profileImportReplacesExistingAndKeepsMissingAsNaN() throws {
        let store = try Fixtures.store()
        let count = try store.env.read { try store.profileCount(in: $0) }
        let f = Fixtures.file("p.csv", Self.header + "\r\n474640,north,young,50,,\"3.5\",4,5,6,7,8,9,10\r\n999,\"new, region\",young,1,2,3,4,5,6,7,8,9,10\r\n")
        let r = try ProfileImporter.run(file: f, store: store)
        #expect(r.added == 1 && r.replaced == 1)
        try store.env.read { txn in
            #expect(try store.profileCount(in: txn) == count + 1)
            let v = try #require(try txn.get(store.profiles, key: ProfileCodec.key(474640)))
            let p = try v.withUnsafeBytes { try ProfileCodec.decodeProfile(id: 474640, $0, featureCount: 10) }
            #expect(p.features[0] == 50 && p.features[1].isNaN && p.features[2] == 3.5)
            #expect(try store.regions(in: txn).existingCode(for: "new, region") != nil)
        }
    }

    @Test(arguments: [
        ("474640,CARD1,email,2026-02-30,ignored", ":2", "not a valid date"),
        ("474640,CARD1,email,2026-11-01,opened", ":2", "'opened' is not one of accepted, rejected, ignored"),
        ("12345,CARD1,email,2026-11-01,ignored", ":2", "customer_id 12345 has no profile"),
        ("474640,,email,2026-11-01,ignored", ":2", "offer_id is empty"),
        ("474640,CARD1,email,2026-11-01", ":2", "has 4 fields"),
    ])
    func badHistoryRows(row: String, line: String, reason: String) throws {
        let store = try Fixtures.store()
        let f = Fixtures.file("h.csv", "customer_id,offer_id,channel,date,outcome\n" + row + "\n")
        try expectRefusal(store, containing: ["h.csv" + line, reason]) { _ = try HistoryImporter.run(file: f, store: store) }
    }

    @Test func historyImportIsIdempotent() throws {
        let store = try Fixtures.store()
        let f = Fixtures.file("h.csv", "customer_id,offer_id,channel,date,outcome\n474640,SAV1,email,2026-11-20,ignored\n474640,SAV1,sms,2026-11-20,accepted\n")
        let first = try HistoryImporter.run(file: f, store: store)
        #expect(first.added == 2)
        let after = try Fixtures.digest(store)
        let second = try HistoryImporter.run(file: f, store: store)
        #expect(second.added == 0 && second.skipped == 2)
        #expect(try Fixtures.digest(store) == after)
        let count = try store.env.read { try $0.count(store.history) }
        #expect(count == 6)
    }

    static let goodCampaign = """
    objective: expected_value
    offers:
      - id: CARD1
        product: credit_card_gold
        family: cards
        model: xgb_small
        value: 120.0
        channels:
          email: {min_propensity: 0.01, cost: 0.10}
    per_customer: {max_offers: 1, max_per_family: 1}
    constraints:
      budget: 100
      regions: {north: {min: 1, max: 50}}
    run_date: 2026-11-23
    """

    @Test(arguments: [
        ("model: xgb_small", "model: xgb_nope", "model 'xgb_nope', which is not in the store"),
        ("cost: 0.10}", "cost: -0.10}", "negative cost"),
        ("value: 120.0", "value: -1", "negative"),
        ("run_date: 2026-11-23", "run_date: 2026-11-31", "not a date"),
        ("objective: expected_value", "objective: profit", "'profit' is not one of"),
        ("max_offers: 1", "max_offers: 0", "whole number >= 1"),
        ("north: {min: 1, max: 50}", "north: {min: 60, max: 50}", "min 60 is greater than max 50"),
        ("north: {min: 1, max: 50}", "atlantis: {max: 50}", "no customer in the store has region 'atlantis'"),
        ("budget: 100", "budgett: 100", "unknown key 'budgett'"),
        ("email: {min_propensity: 0.01", "email: {min_propensity: 1.5", "not a probability"),
        ("    product: credit_card_gold", "    product: [credit_card_gold", "not valid YAML"),
        ("value: 120.0", "value_column: shoe_size", "column 'shoe_size', which is not a profile feature"),
    ])
    func badCampaigns(find: String, replace: String, reason: String) throws {
        let store = try Fixtures.store()
        let text = Self.goodCampaign.replacingOccurrences(of: find, with: replace)
        #expect(text != Self.goodCampaign)
        let f = Fixtures.file("c.yaml", text)
        try expectRefusal(store, containing: ["c.yaml", reason]) { _ = try CampaignImporter.run(file: f, store: store) }
    }

    /// Repair moves name constraint rows in 16 bits: a campaign with more caps than fit is refused at import.
    @Test func tooManyCapsAreRefused() throws {
        let store = try Fixtures.store()
        let regions = (0...Campaign.maxCaps).map { "\"r\($0)\":{\"max\":5}" }.joined(separator: ",")
        let json = """
        {"objective":"propensity","run_date":"2026-11-23","per_customer":{"max_offers":1},
         "offers":[{"id":"X","product":"p","family":"f","model":"logit_all","value":5,
                    "channels":{"sms":{"min_propensity":0.1,"cost":0.05}}}],
         "constraints":{"budget":10,"regions":{\(regions)}}}
        """
        let f = Fixtures.file("c.json", json)
        try expectRefusal(store, containing: ["c.json", "constraints", "65534 caps; at most 65533"]) { _ = try CampaignImporter.run(file: f, store: store) }
    }

    @Test func duplicateOfferIDIsRefusedWithLine() throws {
        let store = try Fixtures.store()
        let text = Self.goodCampaign.replacingOccurrences(of: "per_customer:", with: """
          - id: CARD1
            product: p
            family: f
            model: xgb_small
            value: 1
            channels: {email: {cost: 0}}
        per_customer:
        """)
        let f = Fixtures.file("c.yaml", text)
        try expectRefusal(store, containing: ["c.yaml:10", "duplicate offer id 'CARD1'"]) { _ = try CampaignImporter.run(file: f, store: store) }
    }

    @Test func jsonCampaignReadsLikeYAML() throws {
        let store = try Fixtures.store()
        let json = """
        {"objective":"propensity","run_date":"2026-11-23","per_customer":{"max_offers":1},
         "offers":[{"id":"X","product":"p","family":"f","model":"logit_all","value":5,
                    "channels":{"sms":{"min_propensity":0.1,"cost":0.05}}}],
         "constraints":{"budget":10,"channels":{"sms":{"max":100}}}}
        """
        let (_, c) = try CampaignImporter.run(file: Fixtures.file("c.json", json), store: store)
        #expect(c.objective == .propensity)
        #expect(c.perCustomer == .init(maxOffers: 1, maxPerFamily: 1))
        #expect(c.constraints.channels == [.init(name: "sms", bounds: .init(min: nil, max: 100))])
        #expect(c.offers[0].channels == [.init(channel: "sms", minPropensity: 0.1, cost: 0.05)])
        let store2 = try Fixtures.store()
        try expectRefusal(store2, containing: ["c.json", "not valid JSON"]) { _ = try CampaignImporter.run(file: Fixtures.file("c.json", "{\"offers\": ["), store: store2) }
    }
}

/// The generator's campaign text, read back by the real YAML parser (Yams), is the campaign it rendered.
@Suite struct GeneratedCampaignTests {
    @Test func generatedYAMLReadsBackThroughYams() throws {
        let g = PopulationGenerator(customers: 20_000, offers: 12, seed: 5)
        let c = g.campaign(estimatingFrom: 1_000)
        let text = CampaignDocument.yaml(c)
        let doc = try CampaignImporter.document(text: text, file: "generated.yaml")
        #expect(doc == CampaignDocument.document(c))
        #expect(try Campaign(document: doc) == c)
    }
}
