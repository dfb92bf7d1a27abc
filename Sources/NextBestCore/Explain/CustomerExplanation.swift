/// Why one customer got the offers they got: every (offer, channel) pair of the catalogue with its
/// propensity, whether it was eligible (channel minimum response rate, contact fatigue), its objective,
/// the prices in force on the rows it would use, its value after prices, and whether the customer's
/// sub-problem at those prices chose it. Built from a scored customer (`CustomerScorer` after `score`),
/// the run's final prices and the constraint rows; no I/O.
public struct CustomerExplanation: Sendable {
    /// Why a pair is or is not a candidate.
    public enum Eligibility: Sendable, Equatable {
        case eligible
        /// Propensity below the channel's minimum response rate.
        case belowThreshold(minimum: Double)
        /// The offer was ignored `ignored` times within the window (the limit is `limit`).
        case fatigued(ignored: Int, limit: Int, windowDays: Int)
    }

    /// One (offer, channel) pair.
    public struct Pair: Sendable {
        public var offer: String
        public var product: String
        public var family: String
        public var channel: String
        public var propensity: Double
        public var eligibility: Eligibility
        /// Expected value (propensity × value − cost) and the campaign's objective for the pair.
        public var expectedValue: Double
        public var objective: Double
        public var cost: Double
        /// Σ price × use over the rows the pair would use (budget, product, channel, region, segment).
        public var priceCharge: Double
        /// Objective minus the price charge: what the sub-problem maximizes.
        public var adjusted: Double
        /// Rank (1-based) in the list chosen at the final prices, if chosen.
        public var chosenRank: Int?
        /// Why it was not chosen at the final prices (nil when chosen or not eligible).
        public var notChosen: String?
    }

    /// A constraint row's price that applies to this customer.
    public struct Price: Sendable {
        public var key: String
        public var price: Double
    }

    public var pairs: [Pair]
    /// The non-zero prices of the rows this customer's pairs can use.
    public var prices: [Price]
    /// The list chosen at the final prices, as (offer, channel) in rank order.
    public var chosenAtPrices: [(offer: String, channel: String)]
    public var maxOffers: Int
    public var maxPerFamily: Int

    /// Explains the customer `scorer` holds (after `score`; `features` in store order), in region and
    /// segment code `region`/`segment`, at `prices` over `constraints`.
    public init(scorer: CustomerScorer, features: [Float], region: Int, segment: Int, constraints: ConstraintSet, prices: Prices) {
        let plan = scorer.plan
        let context = ExplanationContext(scorer: scorer, features: features, region: region, segment: segment,
                                         constraints: constraints, prices: prices)
        let chosenPairs = context.chosenPairs()
        chosenAtPrices = chosenPairs.map { (plan.offers[$0.0].id, plan.channels[$0.1]) }
        maxOffers = plan.campaign.perCustomer.maxOffers
        maxPerFamily = plan.campaign.perCustomer.maxPerFamily

        let fatigued = Set(scorer.fatiguedOffers.map(Int.init))
        // The lowest adjusted value among the chosen, and family counts, to say why others lost.
        var familyCount: [Int: Int] = [:]
        for (o, _) in chosenPairs { familyCount[plan.offers[o].family, default: 0] += 1 }
        var list: [Pair] = []
        for oi in plan.offers.indices {
            context.appendPairs(offer: oi, chosenPairs: chosenPairs, fatigued: fatigued, familyCount: familyCount,
                                maxOffers: maxOffers, maxPerFamily: maxPerFamily, to: &list)
        }
        pairs = list
        self.prices = context.usedPrices()
    }
}

/// What explaining one customer needs: the customer, the net price of every row and the rows its
/// region and segment use.
private struct ExplanationContext {
    let scorer: CustomerScorer
    let plan: ScoringPlan
    let features: [Float]
    let constraints: ConstraintSet
    /// Per constraint row, upper minus lower price; one more entry (zero) for "no row".
    let net: [Double]
    let none: Int
    let regionRow: Int
    let segmentRow: Int
    let budgetPrice: Double
    /// The price of the customer's region and segment rows, charged by every pair.
    let fixed: Double

    init(scorer: CustomerScorer, features: [Float], region: Int, segment: Int, constraints: ConstraintSet, prices: Prices) {
        self.scorer = scorer
        plan = scorer.plan
        self.features = features
        self.constraints = constraints
        var net = [Double](repeating: 0, count: constraints.count + 1)
        for k in 0..<min(prices.count, constraints.count) { net[k] = prices.upper[k] - prices.lower[k] }
        self.net = net
        let noRow = constraints.count
        none = noRow
        func row(_ r: Int32) -> Int { r >= 0 ? Int(r) : noRow }
        regionRow = region < constraints.regionRow.count ? row(constraints.regionRow[region]) : noRow
        segmentRow = segment < constraints.segmentRow.count ? row(constraints.segmentRow[segment]) : noRow
        budgetPrice = constraints.budgetRow >= 0 ? net[constraints.budgetRow] : 0
        fixed = net[regionRow] + net[segmentRow]
    }

    /// A constraint row, or `none` for a dimension without one.
    func row(_ r: Int32) -> Int { r >= 0 ? Int(r) : none }

    /// Σ price × use over the rows the pair (offer, channel) would use.
    func charge(_ offer: Int, _ channel: Int) -> Double {
        let o = plan.offers[offer]
        let k = o.channels.firstIndex(of: channel)!
        return budgetPrice * o.cost[k] + net[row(constraints.productRow[o.product])] + net[row(constraints.channelRow[channel])] + fixed
    }

    /// The sub-problem at these prices, exactly as a round solves it: the chosen (offer, channel) pairs in rank order.
    func chosenPairs() -> [(Int, Int)] {
        var solver = SubProblemSolver(plan: plan)
        var chosen = ContiguousArray<Int32>()
        let candidates = scorer.candidates
        _ = candidates.withUnsafeBufferPointer { all in
            solver.solve(all, adjusted: { c in scorer.objective(c) - charge(Int(c.offer), Int(c.channel)) }, into: &chosen)
        }
        return chosen.map { (Int(candidates[Int($0)].offer), Int(candidates[Int($0)].channel)) }
    }

    /// The offer's best eligible channel at these prices (the one the sub-problem would consider), as an
    /// index into its channels.
    func bestEligibleChannel(offer oi: Int, propensity p: Double, fatigued: Set<Int>) -> Int? {
        let o = plan.offers[oi]
        var bestK: Int? = nil
        var bestAdj = -Double.infinity
        for (k, ch) in o.channels.enumerated() where !fatigued.contains(oi) && Float(p) >= o.minPropensity[k] {
            let c = scorer.candidates.first { Int($0.offer) == oi && Int($0.channel) == ch }!
            let a = scorer.objective(c) - charge(oi, ch)
            if a > bestAdj { bestAdj = a; bestK = k }
        }
        return bestK
    }

    /// Whether channel `k` of offer `oi` is a candidate at propensity `p`, and if not why.
    func eligibility(offer oi: Int, channel k: Int, propensity p: Double, fatigued: Set<Int>) -> CustomerExplanation.Eligibility {
        let o = plan.offers[oi]
        if fatigued.contains(oi), let f = plan.campaign.fatigue {
            return .fatigued(ignored: scorer.ignoredContacts(offer: oi), limit: f.maxIgnored, windowDays: f.windowDays)
        } else if Float(p) < o.minPropensity[k] {
            return .belowThreshold(minimum: Double(o.minPropensity[k]))
        } else {
            return .eligible
        }
    }

    /// Appends one pair per channel of offer `oi` to `list`, each with its values, rank and why it lost.
    func appendPairs(offer oi: Int, chosenPairs: [(Int, Int)], fatigued: Set<Int>, familyCount: [Int: Int],
                     maxOffers: Int, maxPerFamily: Int, to list: inout [CustomerExplanation.Pair]) {
        let o = plan.offers[oi]
        let p = Double(scorer.modelPropensity[o.model])
        let bestChannel = chosenPairs.first { $0.0 == oi }?.1
        let bestK = bestEligibleChannel(offer: oi, propensity: p, fatigued: fatigued)
        let propensityObjective = plan.campaign.objective == .propensity
        for (k, ch) in o.channels.enumerated() {
            let eligibility = self.eligibility(offer: oi, channel: k, propensity: p, fatigued: fatigued)
            let value: Double = {
                guard let vf = o.valueFeature else { return o.value }
                let v = features[vf]
                return v.isNaN ? 0 : Double(v)
            }()
            let ev = p * value - o.cost[k]
            let objective = propensityObjective ? p : ev
            let ch0 = charge(oi, ch)
            var pair = CustomerExplanation.Pair(offer: o.id, product: plan.products[o.product], family: plan.families[o.family], channel: plan.channels[ch],
                                                propensity: p, eligibility: eligibility, expectedValue: ev, objective: objective, cost: o.cost[k],
                                                priceCharge: ch0, adjusted: objective - ch0, chosenRank: nil, notChosen: nil)
            if let r = chosenPairs.firstIndex(where: { $0.0 == oi && $0.1 == ch }) {
                pair.chosenRank = r + 1
            } else if eligibility == .eligible {
                if bestChannel != nil || (bestK != nil && bestK! != k) {
                    pair.notChosen = "another channel of this offer is worth more after prices"
                } else if pair.adjusted <= 0 {
                    pair.notChosen = "not worth it after prices (value after prices \(FixedDecimal.string(pair.adjusted, decimals: 4)) ≤ 0)"
                } else if familyCount[o.family, default: 0] >= maxPerFamily {
                    pair.notChosen = "family \(plan.families[o.family]) already has \(maxPerFamily) offer(s) worth more"
                } else {
                    pair.notChosen = "the \(maxOffers) offer(s) chosen are worth more after prices"
                }
            }
            list.append(pair)
        }
    }

    /// The non-zero prices of the rows this customer's pairs can use.
    func usedPrices() -> [CustomerExplanation.Price] {
        var used = Set<Int>()
        if constraints.budgetRow >= 0 { used.insert(constraints.budgetRow) }
        for o in plan.offers { used.insert(row(constraints.productRow[o.product])) }
        for c in plan.channels.indices { used.insert(row(constraints.channelRow[c])) }
        used.insert(regionRow); used.insert(segmentRow)
        used.remove(none)
        return used.sorted().compactMap { r in net[r] == 0 ? nil : CustomerExplanation.Price(key: constraints.rows[r].key, price: net[r]) }
    }
}
