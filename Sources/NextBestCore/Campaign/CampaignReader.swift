extension Campaign {
    /// Reads and validates a campaign from a parsed YAML/JSON document.
    ///
    /// Checks everything that can be checked without the store: the schema, unique offer ids,
    /// non-negative costs and values, propensities in [0, 1], min <= max. Unknown keys are refused so a
    /// typo never silently drops a rule. Every number is checked against what a run can do (see
    /// `Campaign.maxOffers` and the other limits): a campaign that imports can run.
    public init(document: ConfigValue) throws(CampaignError) {
        let top = try CampaignReader.map(document, "$", allowed: Campaign.topLevelKeys)
        let objective = try CampaignReader.objective(top)
        let (offers, offersValue) = try CampaignReader.offers(top, document: document)
        let perCustomer = try CampaignReader.perCustomer(top, offerCount: offers.count)
        let fatigue = try CampaignReader.fatigue(top)
        let constraints = try CampaignReader.constraints(top)
        let runDate = try CampaignReader.runDate(top, document: document)

        self.init(objective: objective, offers: offers, perCustomer: perCustomer, fatigue: fatigue,
                  constraints: constraints, runDate: runDate)
        let products = Set(offers.map(\.product))
        for c in constraints.products where !products.contains(c.name) {
            throw CampaignError(path: "constraints.products.\(c.name)", line: nil, reason: "no offer has product '\(c.name)'")
        }
        let channels = Set(channelNames)
        for c in constraints.channels where !channels.contains(c.name) {
            throw CampaignError(path: "constraints.channels.\(c.name)", line: nil, reason: "no offer uses channel '\(c.name)'")
        }
        // Candidates name channels in 8 bits (UInt8.max is kept free).
        guard channels.count <= Campaign.maxChannels else {
            throw CampaignError(path: "offers", line: offersValue.line, reason: "\(channels.count) distinct channels; at most \(Campaign.maxChannels)")
        }
    }
}

/// The parts of a campaign document, read in the order `Campaign.init(document:)` checks them.
extension CampaignReader {
    /// The `objective` key (expected value when absent).
    fileprivate static func objective(_ top: [String: ConfigValue]) throws(CampaignError) -> Campaign.Objective {
        guard let o = top["objective"] else { return .expectedValue }
        let s = try string(o, "objective")
        guard let obj = Campaign.Objective(rawValue: s) else {
            throw CampaignError(path: "objective", line: o.line, reason: "\(Quoted.text(s)) is not one of expected_value, propensity")
        }
        return obj
    }

    /// The `offers` list, each checked and with unique ids, and the list's value (for its line).
    fileprivate static func offers(_ top: [String: ConfigValue], document: ConfigValue) throws(CampaignError) -> ([Campaign.Offer], ConfigValue) {
        guard let offersValue = top["offers"] else { throw CampaignError(path: "offers", line: document.line, reason: "missing: a campaign needs at least one offer") }
        guard case .array(let offerItems, _) = offersValue, !offerItems.isEmpty else {
            throw CampaignError(path: "offers", line: offersValue.line, reason: "expected a non-empty list of offers")
        }
        // Candidates name offers in 16 bits (UInt16.max is kept free): refused here, not by every run.
        guard offerItems.count <= Campaign.maxOffers else {
            throw CampaignError(path: "offers", line: offersValue.line, reason: "\(offerItems.count) offers; at most \(Campaign.maxOffers)")
        }
        var offers: [Campaign.Offer] = []
        var seen: [String: Int] = [:]
        for (i, item) in offerItems.enumerated() { offers.append(try offer(item, at: i, seen: &seen)) }
        return (offers, offersValue)
    }

    /// Offer `i` of the list; `seen` holds the ids read so far and their places.
    private static func offer(_ item: ConfigValue, at i: Int, seen: inout [String: Int]) throws(CampaignError) -> Campaign.Offer {
        let p = "offers[\(i)]"
        let o = try map(item, p, allowed: ["id", "product", "family", "model", "value", "value_column", "channels", "name", "description"])
        let id = try label(required(o, "id", p, item), p + ".id")
        guard !id.contains(",") else { throw CampaignError(path: p + ".id", line: item.line, reason: "offer id must be non-empty and contain no comma") }
        if let prev = seen[id] { throw CampaignError(path: p + ".id", line: o["id"]?.line, reason: "duplicate offer id \(Quoted.text(id)) (first at offers[\(prev)])") }
        seen[id] = i
        let product = try label(required(o, "product", p, item), p + ".product")
        let family = try label(required(o, "family", p, item), p + ".family")
        let model = try label(required(o, "model", p, item), p + ".model")
        let value = try offerValue(o, item, p)
        let rules = try channelRules(required(o, "channels", p, item), p)
        return Campaign.Offer(id: id, product: product, family: family, model: model, value: value, channels: rules)
    }

    /// An offer's value: fixed (`value`) or read from a feature (`value_column`), exactly one of them.
    private static func offerValue(_ o: [String: ConfigValue], _ item: ConfigValue, _ p: String) throws(CampaignError) -> Campaign.Value {
        switch (o["value"], o["value_column"]) {
        case (let v?, nil):
            let d = try number(v, p + ".value")
            guard d >= 0 else { throw CampaignError(path: p + ".value", line: v.line, reason: "value \(d) is negative") }
            try amount(d, v, p + ".value", limit: Campaign.maxAmount)
            return .fixed(d)
        case (nil, let c?): return .column(try label(c, p + ".value_column"))
        case (.some, .some): throw CampaignError(path: p, line: item.line, reason: "give either value or value_column, not both")
        case (nil, nil): throw CampaignError(path: p + ".value", line: item.line, reason: "missing: give value (NPV) or value_column")
        }
    }

    /// An offer's `channels` mapping (at `p`), sorted by channel name.
    private static func channelRules(_ chValue: ConfigValue, _ p: String) throws(CampaignError) -> [Campaign.ChannelRule] {
        guard case .map(let chEntries, _) = chValue, !chEntries.isEmpty else {
            throw CampaignError(path: p + ".channels", line: chValue.line, reason: "expected a non-empty mapping of channel -> {min_propensity, cost}")
        }
        var rules: [Campaign.ChannelRule] = []
        for (name, rv) in chEntries {
            try checkLabel(name, p + ".channels", line: rv.line)
            let cp = p + ".channels." + name
            if rules.contains(where: { $0.channel == name }) { throw CampaignError(path: cp, line: rv.line, reason: "channel listed twice") }
            let r = try map(rv, cp, allowed: ["min_propensity", "cost"])
            let minP = try r["min_propensity"].map { v throws(CampaignError) in try number(v, cp + ".min_propensity") } ?? 0
            guard minP >= 0, minP <= 1 else { throw CampaignError(path: cp + ".min_propensity", line: r["min_propensity"]?.line, reason: "\(minP) is not a probability in [0, 1]") }
            let cost = try r["cost"].map { v throws(CampaignError) in try number(v, cp + ".cost") } ?? 0
            guard cost >= 0 else { throw CampaignError(path: cp + ".cost", line: r["cost"]?.line, reason: "negative cost \(cost)") }
            if let cv = r["cost"] { try amount(cost, cv, cp + ".cost", limit: Campaign.maxAmount) }
            rules.append(Campaign.ChannelRule(channel: name, minPropensity: minP, cost: cost))
        }
        rules.sort { $0.channel < $1.channel }
        return rules
    }

    /// The `per_customer` limits (3 offers, 1 per family when absent).
    fileprivate static func perCustomer(_ top: [String: ConfigValue], offerCount: Int) throws(CampaignError) -> Campaign.PerCustomer {
        var perCustomer = Campaign.PerCustomer(maxOffers: 3, maxPerFamily: 1)
        guard let pc = top["per_customer"] else { return perCustomer }
        let m = try map(pc, "per_customer", allowed: ["max_offers", "max_per_family"])
        // A run keeps max_offers slots per customer: more than the offers is never usable, and a
        // million asked a worker for hundreds of gigabytes.
        if let v = m["max_offers"] {
            perCustomer.maxOffers = try count(v, "per_customer.max_offers", minimum: 1, maximum: offerCount,
                                              why: "the campaign has \(offerCount) offer\(offerCount == 1 ? "" : "s")")
        }
        if let v = m["max_per_family"] {
            perCustomer.maxPerFamily = try count(v, "per_customer.max_per_family", minimum: 1, maximum: offerCount,
                                                 why: "the campaign has \(offerCount) offer\(offerCount == 1 ? "" : "s")")
        }
        else { perCustomer.maxPerFamily = perCustomer.maxOffers }
        return perCustomer
    }

    /// The `fatigue` rule, if any.
    fileprivate static func fatigue(_ top: [String: ConfigValue]) throws(CampaignError) -> Campaign.Fatigue? {
        guard let f = top["fatigue"] else { return nil }
        let m = try map(f, "fatigue", allowed: ["max_ignored", "window_days"])
        let mi = try count(required(m, "max_ignored", "fatigue", f), "fatigue.max_ignored", minimum: 1,
                           maximum: Campaign.maxIgnoredLimit, why: "contacts are counted in 32 bits")
        let wd = try count(required(m, "window_days", "fatigue", f), "fatigue.window_days", minimum: 1,
                           maximum: Campaign.maxWindowDays, why: "100 years")
        return Campaign.Fatigue(maxIgnored: mi, windowDays: wd)
    }

    /// The `constraints`: the budget and the caps per product, region, segment and channel.
    fileprivate static func constraints(_ top: [String: ConfigValue]) throws(CampaignError) -> Campaign.Constraints {
        var constraints = Campaign.Constraints()
        guard let c = top["constraints"] else { return constraints }
        let m = try map(c, "constraints", allowed: ["budget", "products", "regions", "segments", "channels"])
        if let b = m["budget"] {
            let d = try number(b, "constraints.budget")
            guard d >= 0 else { throw CampaignError(path: "constraints.budget", line: b.line, reason: "negative budget \(d)") }
            try amount(d, b, "constraints.budget", limit: Campaign.maxBudget)
            constraints.budget = d
        }
        constraints.products = try counts(m["products"], "constraints.products")
        constraints.regions = try counts(m["regions"], "constraints.regions")
        constraints.segments = try counts(m["segments"], "constraints.segments")
        constraints.channels = try counts(m["channels"], "constraints.channels")
        let caps = constraints.products.count + constraints.regions.count + constraints.segments.count + constraints.channels.count
        // Repair moves name constraint rows in 16 bits (Repair.MoveList): room for 65,534 rows with the budget.
        guard caps <= Campaign.maxCaps else {
            throw CampaignError(path: "constraints", line: c.line, reason: "\(caps) caps; at most \(Campaign.maxCaps) (products, regions, segments and channels together)")
        }
        return constraints
    }

    /// The required `run_date`.
    fileprivate static func runDate(_ top: [String: ConfigValue], document: ConfigValue) throws(CampaignError) -> CalendarDay {
        guard let rd = top["run_date"] else { throw CampaignError(path: "run_date", line: document.line, reason: "missing: the day fatigue windows count back from (YYYY-MM-DD)") }
        let rdText = try string(rd, "run_date")
        guard let runDate = CalendarDay(rdText) else { throw CampaignError(path: "run_date", line: rd.line, reason: "\(Quoted.text(rdText)) is not a date YYYY-MM-DD") }
        return runDate
    }
}

/// Typed access to `ConfigValue` with campaign errors.
public enum CampaignReader {
    static func map(_ v: ConfigValue, _ path: String, allowed: Set<String>) throws(CampaignError) -> [String: ConfigValue] {
        guard case .map(let entries, _) = v else { throw CampaignError(path: path, line: v.line, reason: "expected a mapping, found \(v.kindName)") }
        var out: [String: ConfigValue] = [:]
        for (k, value) in entries {
            guard allowed.contains(k) else { throw unknownKey(k, in: path, line: value.line, allowed: allowed) }
            if out[k] != nil { throw CampaignError(path: path + "." + k, line: value.line, reason: "key given twice") }
            out[k] = value
        }
        return out
    }

    /// The refusal of key `key` under `path`, which allows only `allowed`.
    public static func unknownKey(_ key: String, in path: String, line: Int?, allowed: Set<String>) -> CampaignError {
        let shown = Quoted.bare(key)
        return CampaignError(path: path == "$" ? shown : path + "." + shown, line: line,
                             reason: "unknown key \(Quoted.text(key)) (expected one of: \(allowed.sorted().joined(separator: ", ")))")
    }

    static func required(_ m: [String: ConfigValue], _ key: String, _ path: String, _ parent: ConfigValue) throws(CampaignError) -> ConfigValue {
        guard let v = m[key] else { throw CampaignError(path: path + "." + key, line: parent.line, reason: "missing") }
        return v
    }

    /// A name (offer id, product, family, model, column): a non-empty string of at most
    /// `Campaign.maxLabelBytes` bytes, as history caps offer ids; names are written into every report.
    static func label(_ v: ConfigValue, _ path: String) throws(CampaignError) -> String {
        let s = try string(v, path)
        try checkLabel(s, path, line: v.line)
        return s
    }

    /// Refuses an empty name or one longer than `Campaign.maxLabelBytes` bytes found under `path`.
    static func checkLabel(_ s: String, _ path: String, line: Int?) throws(CampaignError) {
        guard !s.isEmpty else { throw CampaignError(path: path, line: line, reason: "empty name") }
        guard s.utf8.count <= Campaign.maxLabelBytes else {
            throw CampaignError(path: path, line: line, reason: "name \(Quoted.text(s)) is longer than \(Campaign.maxLabelBytes) bytes")
        }
    }

    /// Refuses an amount of money above `limit`: amounts are counted in micro-units in 64 bits.
    static func amount(_ d: Double, _ v: ConfigValue, _ path: String, limit: Double) throws(CampaignError) {
        guard d <= limit else {
            throw CampaignError(path: path, line: v.line, reason: "\(d) is more than \(Int64(limit)), the largest amount a run counts")
        }
    }

    static func string(_ v: ConfigValue, _ path: String) throws(CampaignError) -> String {
        switch v {
        case .string(let s, _): return s
        case .number(_, let text, _): return text
        default: throw CampaignError(path: path, line: v.line, reason: "expected a string, found \(v.kindName)")
        }
    }

    static func number(_ v: ConfigValue, _ path: String) throws(CampaignError) -> Double {
        guard case .number(let d, _, _) = v, d.isFinite else {
            throw CampaignError(path: path, line: v.line, reason: "expected a finite number, found \(v.kindName)")
        }
        return d
    }

    static func count(_ v: ConfigValue, _ path: String, minimum: Int, maximum: Int = Campaign.maxCount, why: String? = nil) throws(CampaignError) -> Int {
        let d = try number(v, path)
        guard d == d.rounded(), d >= Double(minimum) else {
            throw CampaignError(path: path, line: v.line, reason: "expected a whole number >= \(minimum), found \(d)")
        }
        guard d <= Double(maximum) else {
            throw CampaignError(path: path, line: v.line, reason: "\(d < 1e15 ? String(Int64(d)) : "\(d)") is more than \(maximum)\(why.map { " (\($0))" } ?? "")")
        }
        return Int(d)
    }

    static func counts(_ v: ConfigValue?, _ path: String) throws(CampaignError) -> [Campaign.CountConstraint] {
        guard let v else { return [] }
        guard case .map(let entries, _) = v else { throw CampaignError(path: path, line: v.line, reason: "expected a mapping name -> {min, max}") }
        var out: [Campaign.CountConstraint] = []
        var seen = Set<String>()
        for (name, bv) in entries {
            try checkLabel(name, path, line: bv.line)
            let p = path + "." + name
            if !seen.insert(name).inserted { throw CampaignError(path: p, line: bv.line, reason: "listed twice") }
            let m = try map(bv, p, allowed: ["min", "max"])
            let lo = try m["min"].map { x throws(CampaignError) in try count(x, p + ".min", minimum: 0) }
            let hi = try m["max"].map { x throws(CampaignError) in try count(x, p + ".max", minimum: 0) }
            guard lo != nil || hi != nil else { throw CampaignError(path: p, line: bv.line, reason: "give min, max or both") }
            if let lo, let hi, lo > hi { throw CampaignError(path: p, line: bv.line, reason: "min \(lo) is greater than max \(hi)") }
            out.append(.init(name: name, bounds: .init(min: lo, max: hi)))
        }
        return out.sorted { $0.name < $1.name }
    }
}
