import Foundation
import Testing
@testable import NextBestCore

/// Scoring, eligibility, fatigue, per-customer limits and ranking on a hand-built plan.
@Suite struct ScoringTests {
    /// A logistic model whose propensity is sigmoid(x[feature]) so tests can dial propensities in.
    static func passthrough(_ id: String, feature: String) throws -> PropensityModel {
        PropensityModel(id: id, version: 1, kind: .logistic(try LogisticModel(features: [feature], coefficients: [1], intercept: 0)))
    }

    static func logit(_ p: Double) -> Float { Float(log(p / (1 - p))) }

    static func makePlan(objective: Campaign.Objective = .expectedValue, maxOffers: Int = 2, maxPerFamily: Int = 1,
                         fatigue: Campaign.Fatigue? = .init(maxIgnored: 2, windowDays: 30)) throws -> ScoringPlan {
        let schema = try FeatureSchema(names: ["fa", "fb", "fc", "val"])
        let offers: [Campaign.Offer] = [
            .init(id: "A", product: "pa", family: "f1", model: "ma", value: .fixed(100),
                  channels: [.init(channel: "email", minPropensity: 0.05, cost: 1), .init(channel: "mail", minPropensity: 0.2, cost: 5)]),
            .init(id: "B", product: "pb", family: "f1", model: "mb", value: .fixed(100),
                  channels: [.init(channel: "email", minPropensity: 0.05, cost: 1)]),
            .init(id: "C", product: "pc", family: "f2", model: "mc", value: .column("val"),
                  channels: [.init(channel: "email", minPropensity: 0.0, cost: 0.5)]),
        ]
        let campaign = Campaign(objective: objective, offers: offers, perCustomer: .init(maxOffers: maxOffers, maxPerFamily: maxPerFamily),
                                fatigue: fatigue, constraints: .init(), runDate: CalendarDay("2026-11-23")!)
        let models = ["ma": try passthrough("ma", feature: "fa"), "mb": try passthrough("mb", feature: "fb"), "mc": try passthrough("mc", feature: "fc")]
        return try ScoringPlan(campaign: campaign, schema: schema, models: models)
    }

    func score(_ plan: ScoringPlan, _ x: [Float], contacts: [(Int, String, ContactOutcome)] = []) -> (CustomerScorer, [Candidate]) {
        var s = CustomerScorer(plan: plan)
        s.begin()
        for (offer, day, outcome) in contacts { s.recordContact(offer: offer, day: CalendarDay(day)!.daysSinceEpoch, outcome: outcome) }
        x.withUnsafeBufferPointer { s.score($0) }
        var chosen = ContiguousArray<Int32>()
        s.selectUnconstrained(into: &chosen)
        var table = CandidateTable(plan: plan)
        table.append(customerID: 1, region: 0, segment: 0, candidates: s.candidates, values: s.values)
        NBARanking.rank(&chosen, in: table, customer: 0)
        return (s, chosen.map { s.candidates[Int($0)] })
    }

    @Test func channelThresholdsAndExpectedValue() throws {
        let plan = try Self.makePlan()
        let (s, _) = score(plan, [Self.logit(0.1), Self.logit(0.01), Self.logit(0.5), 10])
        // A at 0.1: email only (mail needs 0.2). B at 0.01: below 0.05 everywhere. C: email, value from column.
        let pairs = s.candidates.map { "\(plan.offers[Int($0.offer)].id)/\(plan.channels[Int($0.channel)])" }
        #expect(pairs == ["A/email", "C/email"])
        let a = s.candidates[0]
        #expect(abs(s.expectedValue(a) - (0.1 * 100 - 1)) < 1e-5)
        let c = s.candidates[1]
        #expect(abs(s.expectedValue(c) - (0.5 * 10 - 0.5)) < 1e-5)
        // Derived, not stored: the scorer's arithmetic exactly (Float propensity × value − the pair's cost),
        // and the same through a shard's table, which keeps the customer's value once.
        #expect(s.expectedValue(c) == Double(c.propensity) * 10 - 0.5)
        #expect(MemoryLayout<Candidate>.stride == 8)
        var table = CandidateTable(plan: plan)
        table.append(customerID: 7, region: 0, segment: 0, candidates: s.candidates, values: s.values)
        table.append(customerID: 8, region: 0, segment: 0, candidates: s.candidates, values: ContiguousArray(repeating: 20, count: s.values.count))
        #expect(table.expectedValue(1, customer: 0) == s.expectedValue(c))
        #expect(table.expectedValue(3, customer: 1) == Double(c.propensity) * 20 - 0.5)
        #expect(table.expectedValue(2, customer: 1) == s.expectedValue(a))
        // A missing value feature counts as 0.
        let (m, _) = score(plan, [Self.logit(0.1), Self.logit(0.01), Self.logit(0.5), .nan])
        #expect(m.expectedValue(m.candidates[1]) == -0.5)
    }

    @Test func perCustomerLimitsAndFamilies() throws {
        let plan = try Self.makePlan(maxOffers: 2, maxPerFamily: 1)
        // A (0.3) and B (0.4) share family f1: only the better, B, may be chosen; C fills the second slot.
        let (_, chosen) = score(plan, [Self.logit(0.3), Self.logit(0.4), Self.logit(0.5), 100])
        #expect(chosen.map { plan.offers[Int($0.offer)].id } == ["C", "B"])
        let one = try Self.makePlan(maxOffers: 1, maxPerFamily: 1)
        let (_, top) = score(one, [Self.logit(0.3), Self.logit(0.4), Self.logit(0.5), 100])
        #expect(top.map { one.offers[Int($0.offer)].id } == ["C"])
        let two = try Self.makePlan(maxOffers: 3, maxPerFamily: 2)
        let (_, all) = score(two, [Self.logit(0.3), Self.logit(0.4), Self.logit(0.5), 100])
        #expect(all.map { two.offers[Int($0.offer)].id } == ["C", "B", "A"])
    }

    @Test func bestChannelPerOfferAndNegativeValueDropped() throws {
        let plan = try Self.makePlan(maxOffers: 3, maxPerFamily: 3)
        // A at 0.3: email EV 29, mail EV 25 → email. C with value 0 has EV −0.5 → not offered.
        let (_, chosen) = score(plan, [Self.logit(0.3), Self.logit(0.01), Self.logit(0.5), 0])
        #expect(chosen.count == 1)
        #expect(plan.channels[Int(chosen[0].channel)] == "email")
    }

    @Test func propensityObjectiveRanksByPropensity() throws {
        let plan = try Self.makePlan(objective: .propensity, maxOffers: 3, maxPerFamily: 3)
        let (_, chosen) = score(plan, [Self.logit(0.3), Self.logit(0.4), Self.logit(0.2), 1000])
        #expect(chosen.map { plan.offers[Int($0.offer)].id } == ["B", "A", "C"])
    }

    @Test func tiesBreakByOfferID() throws {
        let plan = try Self.makePlan(objective: .propensity, maxOffers: 3, maxPerFamily: 3)
        let (_, chosen) = score(plan, [Self.logit(0.3), Self.logit(0.3), Self.logit(0.3), 1])
        #expect(chosen.map { plan.offers[Int($0.offer)].id } == ["A", "B", "C"])
    }

    @Test func fatigueRemovesOfferIgnoredTooOften() throws {
        let plan = try Self.makePlan(maxOffers: 3, maxPerFamily: 3)
        let x = [Self.logit(0.3), Self.logit(0.4), Self.logit(0.5), 100]
        // Two ignores of A within 30 days: A is replaced; B and C remain.
        let (s1, c1) = score(plan, x, contacts: [(0, "2026-11-20", .ignored), (0, "2026-11-01", .ignored)])
        #expect(c1.map { plan.offers[Int($0.offer)].id } == ["C", "B"])
        #expect(Array(s1.fatiguedOffers) == [0])
        // One ignore in the window and one older than the window: still offered.
        let (_, c2) = score(plan, x, contacts: [(0, "2026-11-20", .ignored), (0, "2026-10-01", .ignored)])
        #expect(c2.contains { $0.offer == 0 })
        // Rejections and acceptances are not ignores; future-dated contacts are outside the window.
        let (_, c3) = score(plan, x, contacts: [(0, "2026-11-20", .rejected), (0, "2026-11-21", .accepted), (0, "2026-12-01", .ignored)])
        #expect(c3.contains { $0.offer == 0 })
        // No fatigue rule: never excluded.
        let noRule = try Self.makePlan(maxOffers: 3, maxPerFamily: 3, fatigue: nil)
        let (_, c4) = score(noRule, x, contacts: [(0, "2026-11-20", .ignored), (0, "2026-11-21", .ignored), (0, "2026-11-22", .ignored)])
        #expect(c4.contains { $0.offer == 0 })
    }

    @Test func scorerResetsBetweenCustomers() throws {
        let plan = try Self.makePlan(maxOffers: 3, maxPerFamily: 3)
        var s = CustomerScorer(plan: plan)
        s.begin()
        s.recordContact(offer: 0, day: CalendarDay("2026-11-20")!.daysSinceEpoch, outcome: .ignored)
        s.recordContact(offer: 0, day: CalendarDay("2026-11-21")!.daysSinceEpoch, outcome: .ignored)
        let x: [Float] = [Self.logit(0.3), Self.logit(0.4), Self.logit(0.5), 100]
        x.withUnsafeBufferPointer { s.score($0) }
        #expect(s.fatiguedOffers.count == 1)
        s.begin()
        x.withUnsafeBufferPointer { s.score($0) }
        #expect(s.fatiguedOffers.isEmpty)
    }

    @Test func planRefusesUnknownModelAndColumn() throws {
        let schema = try FeatureSchema(names: ["fa"])
        let campaign = Campaign(objective: .expectedValue,
                                offers: [.init(id: "A", product: "p", family: "f", model: "nope", value: .fixed(1), channels: [.init(channel: "email", minPropensity: 0, cost: 0)])],
                                perCustomer: .init(maxOffers: 1, maxPerFamily: 1), fatigue: nil, constraints: .init(), runDate: CalendarDay("2026-01-01")!)
        #expect(throws: PlanError.self) { try ScoringPlan(campaign: campaign, schema: schema, models: [:]) }
        let m = try Self.passthrough("m", feature: "missing_col")
        #expect(m.missingFeatures(in: schema) == ["missing_col"])
        #expect(throws: ModelError.unknownFeature(model: "m", feature: "missing_col")) { try m.bound(to: schema) }
    }
}
