import Foundation
import NextBestCore
import Testing
@testable import NextBestSynthetic

/// Tests of the synthetic-bank generator (`PopulationGenerator`, `XGBoostJSONWriter`, `CampaignDocument`).
///
/// Two opt-in tests write files or time the generator:
/// - `NEXTBEST_GEN_EXPORT=/some/dir` writes model files, profiles and our predictions for
///   `bench/tools/check_generated_models.py`, which compares them with the real XGBoost.
/// - `NEXTBEST_GEN_BENCH=1` times 1,000,000 profiles (run in release).
@Suite struct GeneratorTests {
    /// Small enough to keep debug-build tests quick; the models still have real depth.
    static let small = PopulationGenerator(customers: 20_000, offers: 12, seed: 7, trees: 20, depth: 4)

    @Test func sameSeedGivesIdenticalOutput() throws {
        let a = PopulationGenerator(customers: 5_000, offers: 10, seed: 42, trees: 10, depth: 3)
        let b = PopulationGenerator(customers: 5_000, offers: 10, seed: 42, trees: 10, depth: 3)
        for i in [0, 1, 2, 17, 999, 4_999] {
            #expect(a.profile(at: i) == b.profile(at: i))
            #expect(a.history(at: i) == b.history(at: i))
            #expect(a.customerID(at: i) == b.customerID(at: i))
        }
        let ma = a.models, mb = b.models
        #expect(ma.map(\.id) == mb.map(\.id))
        #expect(ma.map(\.fileText) == mb.map(\.fileText))
        #expect(a.campaignYAML(estimatingFrom: 500) == b.campaignYAML(estimatingFrom: 500))
        // Generation order does not matter: backwards gives the same profiles.
        let forward = (0..<200).map { a.profile(at: $0) }
        let backward = (0..<200).reversed().map { b.profile(at: $0) }.reversed()
        #expect(Array(forward) == Array(backward))
    }

    @Test func differentSeedGivesDifferentOutput() {
        let a = PopulationGenerator(customers: 1_000, offers: 10, seed: 1, trees: 10, depth: 3)
        let b = PopulationGenerator(customers: 1_000, offers: 10, seed: 2, trees: 10, depth: 3)
        let differing = (0..<100).filter { a.profile(at: $0).features.map(\.bitPattern) != b.profile(at: $0).features.map(\.bitPattern) }
        #expect(differing.count > 95)
        #expect(a.models.map(\.fileText) != b.models.map(\.fileText))
        let ha = (0..<500).map { a.history(at: $0) }, hb = (0..<500).map { b.history(at: $0) }
        #expect(ha != hb)
    }

    @Test func generatesTheSameFromSeveralThreads() {
        let g = PopulationGenerator(customers: 8_000, offers: 8, seed: 99, trees: 8, depth: 3)
        let chunks = 4, per = 2_000
        final class Box: @unchecked Sendable {
            let lock = NSLock()
            var profiles = [[Profile]](repeating: [], count: 4)
            var models = [Int](repeating: 0, count: 4)
        }
        let box = Box()
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let profiles = (0..<per).map { g.profile(at: c * per + $0) }
            let models = g.propensityModels().count
            box.lock.lock()
            box.profiles[c] = profiles
            box.models[c] = models
            box.lock.unlock()
        }
        #expect(box.profiles.flatMap { $0 } == (0..<(chunks * per)).map { g.profile(at: $0) })
        #expect(box.models == [8, 8, 8, 8])
    }

    @Test func customerIDsStrictlyIncreaseAndAreNotContiguous() {
        let g = Self.small
        var previous: UInt64? = nil
        var gaps = Set<UInt64>()
        for i in 0..<g.customers {
            let id = g.customerID(at: i)
            if let p = previous {
                #expect(id > p)
                gaps.insert(id - p)
            }
            if i % 997 == 0 { #expect(g.profile(at: i).customerID == id) }
            previous = id
        }
        #expect(gaps.count > 1)
        #expect(g.customerID(at: 0) >= 10_000_000)
    }

    @Test func profilesHaveTheSchemaAndSomeMissingValues() {
        let g = Self.small
        #expect(g.schema.count == 40)
        #expect(g.schema.names.prefix(11) == ["age", "income", "balance", "tenure_months", "num_products", "card_spend",
                                              "savings_balance", "mortgage_balance", "credit_score", "digital_logins_30d",
                                              "branch_visits_90d"])
        #expect(g.regions.count == 5 && g.segments.count == 5)
        let n = 10_000
        var missing = [Int](repeating: 0, count: g.schema.count)
        var regionSeen = Set<UInt16>(), segmentSeen = Set<UInt16>()
        var ages: [Float] = []
        for i in 0..<n {
            let p = g.profile(at: i)
            #expect(p.features.count == g.schema.count)
            #expect(Int(p.region) < g.regions.count && Int(p.segment) < g.segments.count)
            regionSeen.insert(p.region); segmentSeen.insert(p.segment)
            for (j, v) in p.features.enumerated() where v.isNaN { missing[j] += 1 }
            ages.append(p.features[0])
        }
        #expect(regionSeen.count == 5 && segmentSeen.count == 5)
        let share = Double(missing.reduce(0, +)) / Double(n * g.schema.count)
        #expect(share > 0.001 && share < 0.05, "overall missing share \(share)")
        let columnsWithMissing = missing.indices.filter { missing[$0] > 0 }
        #expect(columnsWithMissing.count >= 5)
        for j in columnsWithMissing {
            let s = Double(missing[j]) / Double(n)
            #expect(s < 0.08, "\(g.schema.names[j]) missing in \(s)")
        }
        #expect(missing[0] == 0)   // age is always known
        #expect(ages.allSatisfy { $0 >= 18 && $0 <= 98 })

        // Other feature counts: cut to a prefix, or extended with noise columns.
        let narrow = PopulationGenerator(customers: 10, offers: 4, seed: 7, featureCount: 12, trees: 2, depth: 2)
        #expect(narrow.schema.count == 12 && narrow.profile(at: 3).features.count == 12)
        #expect(narrow.profile(at: 3).features == Array(PopulationGenerator(customers: 10, offers: 4, seed: 7, trees: 2, depth: 2)
            .profile(at: 3).features.prefix(12)))
        let wide = PopulationGenerator(customers: 10, offers: 4, seed: 7, featureCount: 50, trees: 2, depth: 2)
        #expect(wide.schema.count == 50 && wide.profile(at: 3).features.count == 50)
        #expect(wide.schema.names.last == "aux_50")
    }

    @Test func historyIsPlausibleAndUsesTheCatalogue() {
        let g = Self.small
        let offerChannels = Dictionary(uniqueKeysWithValues: g.catalogue.map { ($0.id, Set($0.channels.map(\.channel))) })
        var withHistory = 0
        var outcomes: [ContactOutcome: Int] = [:]
        let n = 10_000
        for i in 0..<n {
            let h = g.history(at: i)
            if !h.isEmpty { withHistory += 1 }
            #expect(h.count <= 6)
            for (k, e) in h.enumerated() {
                #expect(e.customerID == g.customerID(at: i))
                #expect(offerChannels[e.offerID]?.contains(e.channel) == true)
                let age = g.runDate.daysSinceEpoch - e.day.daysSinceEpoch
                #expect(age >= 1 && age <= 120)
                if k > 0 { #expect(h[k - 1].day <= e.day) }
                outcomes[e.outcome, default: 0] += 1
            }
        }
        let share = Double(withHistory) / Double(n)
        #expect(share > 0.12 && share < 0.18, "share with history \(share)")
        #expect((outcomes[.ignored] ?? 0) > (outcomes[.rejected] ?? 0))
        #expect((outcomes[.rejected] ?? 0) > 0 && (outcomes[.accepted] ?? 0) > 0)
        // The fatigue rule removes offers for some customers.
        let usage = g.unconstrainedUsage(sample: 4_000)
        #expect(usage.fatiguedCustomers > 0)
    }

    @Test func catalogueIsRealistic() {
        let g = PopulationGenerator(customers: 1_000, offers: 32, seed: 11, trees: 5, depth: 2)
        #expect(g.catalogue.map(\.id) == (1...32).map { String(format: "O%02d", $0) })
        #expect(Set(g.catalogue.map(\.family)) == ["payments", "savings", "mortgage", "cards", "insurance", "investments"])
        #expect(Set(g.catalogue.map(\.product)).count == 32)
        var channelsSeen = Set<String>()
        var columnOffers = 0
        for o in g.catalogue {
            #expect(!o.channels.isEmpty)
            switch o.value {
            case .fixed(let v): #expect(v >= 20 && v <= 1500)
            case .column(let c): columnOffers += 1; #expect(g.schema.index(of: c) != nil)
            }
            for r in o.channels {
                channelsSeen.insert(r.channel)
                switch r.channel {
                case "email": #expect(r.cost >= 0.05 && r.cost <= 0.15)
                case "direct_mail": #expect(r.cost >= 1.0 && r.cost <= 1.5 && r.minPropensity >= 0.015)
                case "sms": #expect(r.cost > 0.1 && r.cost < 0.5)
                default: Issue.record("unexpected channel \(r.channel)")
                }
            }
        }
        #expect(channelsSeen == ["email", "sms", "direct_mail"])
        #expect(columnOffers >= 2)
        #expect(g.catalogue.contains { $0.channels.count < 3 })
    }

    @Test func modelsParseBindAndMatchTheDirectBuild() throws {
        let g = Self.small
        let files = g.models
        #expect(files.count == g.offers)
        #expect(files.map(\.id) == g.catalogue.map(\.model))
        let treeCount = files.filter { $0.format == .xgboostJSON }.count
        #expect(treeCount == g.offers / 2)
        let direct = g.propensityModels()
        for f in files {
            let kind = try f.format.parse(Data(f.fileText.utf8))
            let parsed = PropensityModel(id: f.id, version: 1, kind: kind)
            #expect(parsed == direct[f.id], "model \(f.id) parses differently from its direct build")
            _ = try parsed.bound(to: g.schema)
            if case .trees(let t) = kind {
                #expect(t.treeCount == g.trees)
                #expect(t.nodes.count == g.trees * ((1 << (g.depth + 1)) - 1))   // every tree has exactly `depth` levels
                #expect(t.features == g.schema.names)
            }
        }
    }

    @Test func propensitiesAreSensible() throws {
        let g = PopulationGenerator(customers: 100_000, offers: 32, seed: 3, trees: 30, depth: 6)
        let models = g.propensityModels()
        let bound = try g.catalogue.map { try models[$0.model]!.bound(to: g.schema) }
        let rows = (0..<2_000).map { g.profile(at: $0 * 50) }
        var all: [Float] = []
        for m in bound {
            var ps: [Float] = rows.map { r in r.features.withUnsafeBufferPointer { m.propensity($0) } }
            ps.sort()
            let median = ps[ps.count / 2]
            #expect(median > 0.002 && median < 0.2, "\(m.id) median propensity \(median)")
            #expect(ps[ps.count * 9 / 10] > ps[ps.count / 10], "\(m.id) does not depend on the features")
            all += ps
        }
        all.sort()
        let inRange = all.filter { $0 >= 0.005 && $0 <= 0.3 }.count
        #expect(Double(inRange) / Double(all.count) > 0.75)

        // Mortgage take-up depends on income: compare the top and bottom income quartiles.
        let mortgage = g.catalogue.first { $0.product == "mortgage_fixed" }!
        let m = try models[mortgage.model]!.bound(to: g.schema)
        let income = g.schema.index(of: "income")!
        let known = rows.filter { !$0.features[income].isNaN }.sorted { $0.features[income] < $1.features[income] }
        func meanP(_ rs: ArraySlice<Profile>) -> Double {
            rs.reduce(0.0) { $0 + Double($1.features.withUnsafeBufferPointer { m.propensity($0) }) } / Double(rs.count)
        }
        #expect(meanP(known.suffix(known.count / 4)) > 1.5 * meanP(known.prefix(known.count / 4)))
    }

    @Test func campaignHasEveryConstraintKindAndRoundTripsThroughYAML() throws {
        let g = Self.small
        let c = g.campaign(estimatingFrom: 2_000)
        #expect(c.offers.count == g.offers)
        #expect(c.objective == .expectedValue)
        #expect(c.perCustomer.maxOffers == 3 && c.perCustomer.maxPerFamily == 1)
        let f = try #require(c.fatigue)
        #expect((2...3).contains(f.maxIgnored) && f.windowDays == 90)
        let k = c.constraints
        #expect((k.budget ?? 0) > 0)
        #expect(k.products.count == 3 && k.regions.count == 2 && k.segments.count == 1 && k.channels.count == 1)
        #expect(k.channels.first?.name == "direct_mail")
        #expect(k.regions.contains { $0.bounds.min != nil } && k.regions.contains { $0.bounds.max != nil })

        // Caps bind: each is below the use without campaign-wide constraints, the budget at 55-75% of
        // the unconstrained cost, the region min below its count even under the budget alone.
        let free = g.unconstrainedUsage(sample: 2_000)
        #expect(k.budget! < 0.75 * free.cost && k.budget! > 0.55 * free.cost)
        let u = g.usage(sample: 2_000, budget: k.budget!)
        #expect(u.cost <= k.budget! && u.cost > 0.95 * k.budget! && u.budgetPrice > 0)
        let dm = u.channels.firstIndex(of: "direct_mail")!
        #expect(u.channelCounts[dm] < free.channelCounts[dm])
        for p in k.products { #expect(Double(p.bounds.max!) < free.productCounts[free.products.firstIndex(of: p.name)!]) }
        for r in k.regions {
            let i = g.regions.firstIndex(of: r.name)!
            if let hi = r.bounds.max { #expect(Double(hi) < free.regionCounts[i]) }
            if let lo = r.bounds.min { #expect(Double(lo) < 0.6 * u.regionCounts[i] && lo > 0) }
        }
        for s in k.segments { #expect(Double(s.bounds.max!) < free.segmentCounts[g.segments.firstIndex(of: s.name)!]) }
        for ch in k.channels { #expect(Double(ch.bounds.max!) < free.channelCounts[free.channels.firstIndex(of: ch.name)!]) }
        // The estimate's choice rule is the scorer's: at price 0 it gives selectUnconstrained's totals.
        #expect(free.offersMade > 0 && free.budgetPrice == 0)
        let base = g.baseCampaign()
        let plan = try ScoringPlan(campaign: base, schema: g.schema, models: g.propensityModels())
        var scorer = CustomerScorer(plan: plan)
        var chosen = ContiguousArray<Int32>()
        var made = 0.0, cost = 0.0
        for k in 0..<2_000 {
            let index = k * g.customers / 2_000
            scorer.begin()
            for e in g.history(at: index) {
                let o = plan.offers.firstIndex { $0.id == e.offerID }!
                scorer.recordContact(offer: o, day: e.day.daysSinceEpoch, outcome: e.outcome)
            }
            g.profile(at: index).features.withUnsafeBufferPointer { scorer.score($0) }
            scorer.selectUnconstrained(into: &chosen)
            made += Double(chosen.count)
            for c in chosen { cost += scorer.plan.cost(of: scorer.candidates[Int(c)]) }
        }
        let scale = Double(g.customers) / 2_000
        #expect(made * scale == free.offersMade)
        #expect(abs(cost * scale - free.cost) < 1e-6 * free.cost)

        // The campaign reads back from its document and from its YAML text.
        let doc = CampaignDocument.document(c)
        #expect(try Campaign(document: doc) == c)
        let text = g.campaignYAML(estimatingFrom: 2_000)
        #expect(text == CampaignDocument.yaml(c))
        // (Its reading through the real YAML parser is checked in NextBestStoreTests.)
        #expect(text.contains("run_date: 2026-11-23\n"))
        #expect(text.contains("  budget: "))
        // The models the campaign names are the generated ones, and the plan compiles.
        _ = try ScoringPlan(campaign: c, schema: g.schema, models: g.propensityModels())
    }

    @Test func xgboostNumbersAreWrittenAsXGBoostDoes() {
        #expect(XGBoostJSONWriter.number(688) == "6.88E2")
        #expect(XGBoostJSONWriter.number(0) == "0E0")
        #expect(XGBoostJSONWriter.number(1) == "1E0")
        #expect(XGBoostJSONWriter.number(0.2) == "2E-1")
        #expect(XGBoostJSONWriter.number(-3.015807e-8) == "-3.015807E-8")
        #expect(XGBoostJSONWriter.number(77922.15) == "7.792215E4")
        var rng = SplitMix64(seed: 5)
        for _ in 0..<20_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            guard f.isFinite else { continue }
            let text = XGBoostJSONWriter.number(f)
            #expect(Float(Double(text)!) == f, "\(f) written as \(text)")
        }
    }

    @Test func writerOutputReadsBack() throws {
        // A hand-made 3-node tree: x1 < 0.5 ? 0.1 : -0.2, missing goes left.
        let tree = XGBoostJSONWriter.Tree(leftChildren: [1, -1, -1], rightChildren: [2, -1, -1], splitIndices: [1, 0, 0],
                                          splitConditions: [0.5, 0.1, -0.2], defaultLeft: [true, false, false])
        let text = XGBoostJSONWriter.write(featureNames: ["a", "b"], baseScore: 0.2, trees: [tree])
        let kind = try ModelFormat.xgboostJSON.parse(Data(text.utf8))
        let model = PropensityModel(id: "t", version: 1, kind: kind)
        #expect(kind == .trees(try XGBoostJSONWriter.ensemble(featureNames: ["a", "b"], baseScore: 0.2, trees: [tree])))
        let b = try model.bound(to: FeatureSchema(names: ["a", "b"]))
        func p(_ x: [Float]) -> Float { x.withUnsafeBufferPointer { b.propensity($0) } }
        #expect(abs(p([0, 0.2]) - 0.21648069) < 1e-6)
        #expect(abs(p([0, 0.7]) - 0.16990589) < 1e-6)
        #expect(abs(p([0, .nan]) - 0.21648069) < 1e-6)
        #expect(text.contains("\"base_score\":\"2E-1\""))
    }
}
