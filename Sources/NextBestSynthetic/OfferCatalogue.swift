import NextBestCore

/// The synthetic bank's product catalogue: offer templates per family and the seeded offer list.
enum OfferCatalogue {
    /// One product the bank can offer, with what drives its take-up.
    struct Template {
        let product: String
        let family: String
        /// Typical response rate.
        let baseRate: Double
        /// Fixed NPV range (used when there is no value column, or the column is not in the schema).
        let valueLo: Double
        let valueHi: Double
        /// A per-customer NPV column, when the offer's value is customer-specific.
        let valueColumn: String?
        /// Linear drivers: feature and effect on the logit per standard deviation.
        let drivers: [(String, Double)]
        /// Age where take-up peaks (tree models only: a hump the trees learn on top of the drivers).
        let agePeak: Double?
    }

    static let families = ["mortgage", "cards", "savings", "investments", "insurance", "payments"]

    /// Templates grouped by family, in `families` order.
    static let byFamily: [[Template]] = [
        [   // mortgage
            Template(product: "mortgage_fixed", family: "mortgage", baseRate: 0.012, valueLo: 900, valueHi: 1500, valueColumn: "npv_mortgage",
                     drivers: [("income", 0.6), ("age", -0.4), ("mortgage_balance", -0.3), ("num_dependents", 0.3), ("credit_score", 0.3)], agePeak: 36),
            Template(product: "mortgage_remortgage", family: "mortgage", baseRate: 0.02, valueLo: 600, valueHi: 1200, valueColumn: nil,
                     drivers: [("mortgage_balance", 0.9), ("credit_score", 0.3), ("tenure_months", 0.2), ("income", 0.2)], agePeak: nil),
            Template(product: "mortgage_variable", family: "mortgage", baseRate: 0.008, valueLo: 700, valueHi: 1300, valueColumn: nil,
                     drivers: [("income", 0.5), ("age", -0.4), ("has_mortgage", -0.4), ("balance", 0.2)], agePeak: 33),
            Template(product: "home_equity_loan", family: "mortgage", baseRate: 0.01, valueLo: 300, valueHi: 600, valueColumn: nil,
                     drivers: [("property_value", 0.6), ("mortgage_balance", -0.3), ("age", 0.3), ("loan_balance", 0.2)], agePeak: nil),
            Template(product: "mortgage_first_time_buyer", family: "mortgage", baseRate: 0.01, valueLo: 800, valueHi: 1400, valueColumn: nil,
                     drivers: [("age", -0.7), ("income", 0.5), ("home_owner", -0.8), ("savings_balance", 0.4)], agePeak: 30),
        ],
        [   // cards
            Template(product: "credit_card_gold", family: "cards", baseRate: 0.025, valueLo: 150, valueHi: 300, valueColumn: "npv_card",
                     drivers: [("income", 0.6), ("card_spend", 0.5), ("credit_score", 0.4), ("has_credit_card", -0.3)], agePeak: nil),
            Template(product: "credit_card_classic", family: "cards", baseRate: 0.04, valueLo: 80, valueHi: 150, valueColumn: nil,
                     drivers: [("has_credit_card", -0.6), ("credit_score", 0.5), ("age", -0.2), ("card_spend", 0.2)], agePeak: nil),
            Template(product: "credit_card_platinum", family: "cards", baseRate: 0.01, valueLo: 300, valueHi: 500, valueColumn: nil,
                     drivers: [("income", 0.8), ("international_tx_90d", 0.4), ("credit_score", 0.5)], agePeak: nil),
            Template(product: "credit_card_cashback", family: "cards", baseRate: 0.035, valueLo: 100, valueHi: 200, valueColumn: nil,
                     drivers: [("card_spend", 0.7), ("card_utilization", -0.3), ("digital_logins_30d", 0.2)], agePeak: nil),
            Template(product: "balance_transfer", family: "cards", baseRate: 0.03, valueLo: 120, valueHi: 250, valueColumn: nil,
                     drivers: [("card_utilization", 0.8), ("loan_balance", 0.3), ("credit_score", 0.2)], agePeak: nil),
            Template(product: "credit_card_student", family: "cards", baseRate: 0.03, valueLo: 20, valueHi: 50, valueColumn: nil,
                     drivers: [("age", -1.0), ("income", -0.4), ("digital_logins_30d", 0.2)], agePeak: 21),
        ],
        [   // savings
            Template(product: "savings_easy_access", family: "savings", baseRate: 0.06, valueLo: 60, valueHi: 150, valueColumn: nil,
                     drivers: [("balance", 0.6), ("has_savings", -0.5), ("age", 0.2), ("salary_inflow", 0.2)], agePeak: nil),
            Template(product: "savings_fixed_term", family: "savings", baseRate: 0.03, valueLo: 150, valueHi: 300, valueColumn: nil,
                     drivers: [("savings_balance", 0.7), ("age", 0.4), ("income", 0.2)], agePeak: 62),
            Template(product: "savings_isa", family: "savings", baseRate: 0.04, valueLo: 100, valueHi: 220, valueColumn: nil,
                     drivers: [("savings_balance", 0.5), ("income", 0.3), ("has_investments", -0.2)], agePeak: nil),
            Template(product: "savings_kids", family: "savings", baseRate: 0.03, valueLo: 40, valueHi: 80, valueColumn: nil,
                     drivers: [("num_dependents", 0.9), ("age", -0.2), ("balance", 0.2)], agePeak: 38),
            Template(product: "savings_goal", family: "savings", baseRate: 0.05, valueLo: 30, valueHi: 70, valueColumn: nil,
                     drivers: [("digital_logins_30d", 0.5), ("age", -0.4), ("salary_inflow", 0.3)], agePeak: nil),
        ],
        [   // investments
            Template(product: "investment_fund", family: "investments", baseRate: 0.015, valueLo: 300, valueHi: 800, valueColumn: "npv_investment",
                     drivers: [("savings_balance", 0.6), ("investment_balance", 0.4), ("income", 0.4), ("age", 0.2)], agePeak: nil),
            Template(product: "robo_advisor", family: "investments", baseRate: 0.02, valueLo: 100, valueHi: 250, valueColumn: nil,
                     drivers: [("digital_logins_30d", 0.6), ("age", -0.4), ("savings_balance", 0.4)], agePeak: nil),
            Template(product: "pension_plan", family: "investments", baseRate: 0.015, valueLo: 400, valueHi: 900, valueColumn: nil,
                     drivers: [("income", 0.5), ("age", 0.3), ("employment_years", 0.3), ("salary_inflow", 0.2)], agePeak: 52),
            Template(product: "brokerage_account", family: "investments", baseRate: 0.01, valueLo: 150, valueHi: 350, valueColumn: nil,
                     drivers: [("investment_balance", 0.7), ("international_tx_90d", 0.2), ("income", 0.4)], agePeak: nil),
            Template(product: "wealth_advisory", family: "investments", baseRate: 0.006, valueLo: 900, valueHi: 1500, valueColumn: nil,
                     drivers: [("income", 0.9), ("investment_balance", 0.6), ("savings_balance", 0.5)], agePeak: nil),
            Template(product: "sustainable_fund", family: "investments", baseRate: 0.01, valueLo: 200, valueHi: 400, valueColumn: nil,
                     drivers: [("investment_balance", 0.3), ("age", -0.3), ("digital_logins_30d", 0.3), ("income", 0.3)], agePeak: nil),
        ],
        [   // insurance
            Template(product: "home_insurance", family: "insurance", baseRate: 0.03, valueLo: 80, valueHi: 180, valueColumn: nil,
                     drivers: [("home_owner", 0.8), ("property_value", 0.3), ("has_insurance", -0.4)], agePeak: nil),
            Template(product: "life_insurance", family: "insurance", baseRate: 0.02, valueLo: 200, valueHi: 450, valueColumn: nil,
                     drivers: [("num_dependents", 0.7), ("mortgage_balance", 0.4), ("age", 0.2)], agePeak: 42),
            Template(product: "travel_insurance", family: "insurance", baseRate: 0.04, valueLo: 25, valueHi: 60, valueColumn: nil,
                     drivers: [("international_tx_90d", 0.7), ("income", 0.3)], agePeak: nil),
            Template(product: "car_insurance", family: "insurance", baseRate: 0.02, valueLo: 60, valueHi: 140, valueColumn: nil,
                     drivers: [("income", 0.3), ("num_dependents", 0.3), ("age", 0.2)], agePeak: nil),
            Template(product: "payment_protection", family: "insurance", baseRate: 0.015, valueLo: 50, valueHi: 120, valueColumn: nil,
                     drivers: [("loan_balance", 0.6), ("card_utilization", 0.3), ("complaints_12m", -0.3)], agePeak: nil),
        ],
        [   // payments
            Template(product: "current_account_premium", family: "payments", baseRate: 0.03, valueLo: 150, valueHi: 300, valueColumn: nil,
                     drivers: [("income", 0.5), ("balance", 0.4), ("num_products", 0.3), ("age", 0.1)], agePeak: nil),
            Template(product: "overdraft_arranged", family: "payments", baseRate: 0.04, valueLo: 60, valueHi: 120, valueColumn: nil,
                     drivers: [("overdraft_days_90d", 0.7), ("balance", -0.4), ("age", -0.3)], agePeak: nil),
            Template(product: "mobile_wallet", family: "payments", baseRate: 0.08, valueLo: 20, valueHi: 40, valueColumn: nil,
                     drivers: [("digital_logins_30d", 0.7), ("mobile_app_user", 0.5), ("age", -0.5)], agePeak: nil),
            Template(product: "fx_account", family: "payments", baseRate: 0.02, valueLo: 80, valueHi: 200, valueColumn: nil,
                     drivers: [("international_tx_90d", 0.8), ("income", 0.3)], agePeak: nil),
            Template(product: "account_switch", family: "payments", baseRate: 0.05, valueLo: 40, valueHi: 90, valueColumn: nil,
                     drivers: [("direct_debits", 0.5), ("salary_inflow", -0.3), ("tenure_months", -0.3)], agePeak: nil),
        ],
    ]

    /// All templates, interleaved across families so any prefix of the catalogue covers every family.
    static let templates: [Template] = {
        var out: [Template] = []
        let longest = byFamily.map(\.count).max()!
        for k in 0..<longest {
            for fam in byFamily where k < fam.count { out.append(fam[k]) }
        }
        return out
    }()

    /// One generated offer: catalogue entry plus the seed-dependent choices.
    struct Spec: Sendable {
        let id: String
        let product: String
        let family: String
        let template: Int
        let value: Campaign.Value
        /// Channel rules sorted by channel name.
        let channels: [Campaign.ChannelRule]
    }

    static let channelNames = ["direct_mail", "email", "sms"]

    private static func mailRule(_ rng: inout SplitMix64) -> Campaign.ChannelRule {
        .init(channel: "direct_mail", minPropensity: Double(15 + rng.below(26)) / 1000, cost: Double(100 + rng.below(51)) / 100)
    }

    /// The offer list for `count` offers; ids `O01`, `O02`, … (zero-padded to the width of `count`).
    static func specs(count: Int, seed: UInt64, schema: FeatureSchema) -> [Spec] {
        let width = max(2, String(count).count)
        var out: [Spec] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            var rng = SplitMix64(seed: seed ^ 0x0FFE_4C47_A10C_0001, stream: UInt64(i))
            let t = i % templates.count
            let tpl = templates[t]
            let round = i / templates.count
            let product = round == 0 ? tpl.product : "\(tpl.product)_\(round + 1)"
            let digits = String(i + 1)
            let id = "O" + String(repeating: "0", count: max(0, width - digits.count)) + digits
            let fixed = (tpl.valueLo + (tpl.valueHi - tpl.valueLo) * rng.unit()) / 5
            let fixedValue = fixed.rounded() * 5
            let value: Campaign.Value
            if let col = tpl.valueColumn, round == 0, schema.index(of: col) != nil { value = .column(col) }
            else { value = .fixed(fixedValue) }
            // Channels: email for most offers, SMS for some, direct mail mostly for valuable products. The
            // cheapest eligible channel has the best expected value, so direct mail is used for offers
            // that go out on no cheaper channel: about half of the valuable ones.
            let typicalValue = (tpl.valueLo + tpl.valueHi) / 2
            var rules: [Campaign.ChannelRule] = []
            let useMail = rng.unit() < (typicalValue >= 300 ? 0.85 : 0.12)
            let useEmail = rng.unit() < (useMail ? 0.45 : 0.9)
            let useSMS = rng.unit() < (useMail ? 0.2 : 0.45)
            if useMail { rules.append(mailRule(&rng)) }
            if useEmail || rules.isEmpty && !useSMS {
                rules.append(.init(channel: "email", minPropensity: Double(2 + rng.below(7)) / 1000,
                                   cost: Double(5 + rng.below(11)) / 100))
            }
            if useSMS {
                rules.append(.init(channel: "sms", minPropensity: Double(5 + rng.below(11)) / 1000,
                                   cost: Double(15 + rng.below(21)) / 100))
            }
            out.append(Spec(id: id, product: product, family: tpl.family, template: t, value: value, channels: rules))
        }
        // Make sure some offer goes out by direct mail only (the first offer is always a mortgage).
        if !out.contains(where: { $0.channels.count == 1 && $0.channels[0].channel == "direct_mail" }), let first = out.first {
            var rng = SplitMix64(seed: seed ^ 0x0FFE_4C47_A10C_0002)
            out[0] = Spec(id: first.id, product: first.product, family: first.family, template: first.template,
                          value: first.value, channels: [mailRule(&rng)])
        }
        return out
    }
}
