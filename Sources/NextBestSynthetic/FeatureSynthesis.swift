import Foundation
import NextBestCore

/// The synthetic bank's customer features: names in schema order and the per-customer draw.
///
/// Every value is drawn from a customer's own `SplitMix64` stream, so a customer's profile depends only on
/// the seed and its index. Values are rounded the way a warehouse holds them (whole currency units, whole
/// counts, scores with three decimals); a few columns have missing values (NaN).
enum SyntheticFeatures {
    /// The 40 base features, in schema order.
    static let names: [String] = [
        "age", "income", "balance", "tenure_months", "num_products", "card_spend", "savings_balance",
        "mortgage_balance", "credit_score", "digital_logins_30d", "branch_visits_90d", "investment_balance",
        "has_mortgage", "has_credit_card", "has_savings", "has_investments", "has_insurance",
        "num_dependents", "home_owner", "property_value", "loan_balance", "overdraft_days_90d",
        "salary_inflow", "card_utilization", "months_since_last_product", "mobile_app_user",
        "email_opt_in", "sms_opt_in", "call_center_contacts_90d", "complaints_12m",
        "international_tx_90d", "direct_debits", "tx_count_30d", "avg_tx_amount", "employment_years",
        "days_since_last_login", "churn_score", "npv_mortgage", "npv_card", "npv_investment",
    ]
    static let baseCount = 40
    /// The fewest features a generator may have (the core columns every offer's model leans on).
    static let minimumCount = 12

    /// Names of a schema with `count` features: the base list, cut or extended with `aux_NN` noise columns.
    static func schemaNames(count: Int) -> [String] {
        if count <= baseCount { return Array(names.prefix(count)) }
        return names + (baseCount..<count).map { "aux_\($0 + 1)" }
    }

    static let regions = ["north", "south", "east", "west", "central"]
    static let segments = ["young", "family", "affluent", "senior", "smb"]
    private static let regionCDF: [Double] = [0.22, 0.46, 0.64, 0.84, 1.0]
    private static let segmentCDF: [Double] = [0.25, 0.55, 0.70, 0.90, 1.0]

    // Per-segment parameters (young, family, affluent, senior, smb).
    private static let ageMean: [Double] = [27, 40, 50, 71, 45]
    private static let ageSD: [Double] = [4.5, 7, 10, 6, 10]
    private static let ageLo: [Double] = [18, 24, 26, 60, 21]
    private static let ageHi: [Double] = [38, 62, 85, 98, 78]
    private static let incomeMedian: [Double] = [26_000, 52_000, 135_000, 31_000, 78_000]
    private static let regionIncome: [Double] = [0.92, 0.97, 1.0, 1.03, 1.15]
    private static let pMortgage: [Double] = [0.07, 0.55, 0.42, 0.10, 0.30]
    private static let pCard: [Double] = [0.35, 0.55, 0.78, 0.30, 0.62]
    private static let pSavings: [Double] = [0.40, 0.52, 0.82, 0.62, 0.50]
    private static let pInvest: [Double] = [0.05, 0.12, 0.52, 0.22, 0.16]
    private static let pInsurance: [Double] = [0.12, 0.48, 0.50, 0.35, 0.42]
    private static let dependentsMean: [Double] = [0.08, 0.9, 0.9, 0.05, 0.8]
    private static let pOwnerNoMortgage: [Double] = [0.05, 0.12, 0.45, 0.72, 0.25]
    private static let pLoan: [Double] = [0.25, 0.18, 0.08, 0.06, 0.20]
    private static let pOverdraft: [Double] = [0.22, 0.15, 0.04, 0.05, 0.18]
    private static let creditShift: [Double] = [0, 10, 45, 20, 15]
    private static let loginsMean: [Double] = [22, 15, 12, 3.5, 19]
    private static let branchMean: [Double] = [0.4, 0.8, 1.0, 2.8, 1.5]
    private static let pApp: [Double] = [0.92, 0.78, 0.72, 0.28, 0.85]
    private static let callMean: [Double] = [0.4, 0.6, 0.5, 1.1, 0.9]
    private static let intlMean: [Double] = [3, 1.5, 6, 1, 8]
    private static let debitsMean: [Double] = [3, 7, 6, 4, 9]
    private static let txMean: [Double] = [45, 60, 55, 30, 80]

    /// Draws one customer into `f` (at least `baseCount` slots, then `extra` noise slots).
    /// Returns the region and segment codes.
    static func draw(into f: UnsafeMutablePointer<Float>, extra: Int, rng: inout SplitMix64) -> (region: UInt16, segment: UInt16) {
        let r = pick(regionCDF, rng.unit())
        let s = pick(segmentCDF, rng.unit())
        let h = drawHoldings(into: f, region: r, segment: s, rng: &rng)
        drawActivity(into: f, segment: s, holdings: h, rng: &rng)
        drawValues(into: f, holdings: h, rng: &rng)
        for k in 0..<extra { f[baseCount + k] = Float((rng.normal() * 1000).rounded() / 1000) }
        return (UInt16(r), UInt16(s))
    }

    /// What a customer's holdings draw fixes that the later draws depend on.
    private struct Holdings {
        var age, income, propertyValue, tenure, savings, investment, loan, cardSpend: Double
        var hasMortgage, hasCard, hasSavings, hasInvest, hasInsurance, homeOwner: Bool
    }

    /// Draws age, income, products held, balances and credit (in this order of draws) and writes them to
    /// `f`, all but income and property value (their missing values are drawn last, in `drawValues`).
    private static func drawHoldings(into f: UnsafeMutablePointer<Float>, region r: Int, segment s: Int, rng: inout SplitMix64) -> Holdings {
        let age = clamp((ageMean[s] + ageSD[s] * rng.normal()).rounded(), ageLo[s], ageHi[s])
        let income = clamp((incomeMedian[s] * regionIncome[r] * exp(0.45 * rng.normal()) / 100).rounded() * 100, 6_000, 600_000)
        let hasMortgage = rng.unit() < pMortgage[s] * (age < 25 ? 0.3 : 1)
        let hasCard = rng.unit() < pCard[s]
        let hasSavings = rng.unit() < pSavings[s]
        let hasInvest = rng.unit() < pInvest[s]
        let hasInsurance = rng.unit() < pInsurance[s]
        let dependents = (s == 1 ? 1 : 0) + poisson(dependentsMean[s], &rng)
        let homeOwner = hasMortgage || rng.unit() < pOwnerNoMortgage[s]
        let propertyValue = homeOwner
            ? clamp((income * exp(log(4.2) + 0.35 * rng.normal()) / 1000).rounded() * 1000, 60_000, 3_000_000) : 0
        let ltv = clamp(0.9 - 0.012 * (age - 25) + 0.15 * rng.normal(), 0.05, 0.95)
        let mortgageBalance = hasMortgage ? (propertyValue * ltv).rounded() : 0
        let balance = (income * exp(-2.6 + 0.8 * rng.normal())).rounded()
        let tenure = max(1, (pow(rng.unit(), 0.7) * min(age - 17, 45) * 12).rounded(.down))
        let savingsShift = (s == 2 ? 0.6 : 0) + (s == 3 ? 0.8 : 0)
        let savings = hasSavings ? min(1_500_000, (income * exp(log(0.25) + savingsShift + 0.75 * rng.normal())).rounded()) : 0
        let investment = hasInvest ? min(3_000_000, (income * exp(log(0.6) + 0.8 * rng.normal())).rounded()) : 0
        let loan = rng.unit() < pLoan[s] ? (exp(log(7000) + 0.7 * rng.normal())).rounded() : 0
        let overdraftDays: Double = rng.unit() < pOverdraft[s] ? 1 + (60 * rng.unit() * rng.unit()).rounded(.down) : 0
        let salaryInflow = rng.unit() < (s == 3 ? 0.15 : 0.85) ? (income / 12 * clamp(0.72 + 0.06 * rng.normal(), 0.5, 0.95)).rounded() : 0
        let cardSpend = (income / 12 * exp(log(0.18) + 0.5 * rng.normal())).rounded()
        var cardUtil: Double = hasCard ? (clamp(pow(rng.unit(), 1.6) + 0.05 * rng.normal(), 0, 1) * 1000).rounded() / 1000 : 0
        if hasCard && rng.unit() < 0.04 { cardUtil = .nan }
        var creditScore = clamp((660 + 1.5 * (age - 40) + creditShift[s] - (overdraftDays > 0 ? 25 : 0) - (loan > 0 ? 10 : 0) + 55 * rng.normal()).rounded(), 300, 850)
        if rng.unit() < 0.03 { creditScore = .nan }

        f[0] = Float(age)
        f[2] = Float(balance)
        f[3] = Float(tenure)
        f[5] = Float(cardSpend)
        f[6] = Float(savings)
        f[7] = Float(mortgageBalance)
        f[8] = Float(creditScore)
        f[11] = Float(investment)
        f[12] = Float(b(hasMortgage))
        f[13] = Float(b(hasCard))
        f[14] = Float(b(hasSavings))
        f[15] = Float(b(hasInvest))
        f[16] = Float(b(hasInsurance))
        f[17] = Float(dependents)
        f[18] = Float(b(homeOwner))
        f[20] = Float(loan)
        f[21] = Float(overdraftDays)
        f[22] = Float(salaryInflow)
        f[23] = Float(cardUtil)
        return Holdings(age: age, income: income, propertyValue: propertyValue, tenure: tenure, savings: savings,
                        investment: investment, loan: loan, cardSpend: cardSpend,
                        hasMortgage: hasMortgage, hasCard: hasCard, hasSavings: hasSavings, hasInvest: hasInvest,
                        hasInsurance: hasInsurance, homeOwner: homeOwner)
    }

    /// Draws channel use, contacts, transactions, employment and churn (after the holdings) and writes
    /// them to `f` with the product count.
    private static func drawActivity(into f: UnsafeMutablePointer<Float>, segment s: Int, holdings h: Holdings, rng: inout SplitMix64) {
        let logins = Double(poisson(loginsMean[s], &rng))
        let branch = Double(poisson(branchMean[s], &rng))
        let appUser = rng.unit() < pApp[s]
        let emailOpt = rng.unit() < 0.78
        let smsOpt = rng.unit() < 0.52
        let callCenter = Double(poisson(callMean[s], &rng))
        let complaints: Double = rng.unit() < 0.035 ? Double(1 + poisson(0.3, &rng)) : 0
        let intl = Double(poisson(intlMean[s], &rng))
        let debits = Double(poisson(debitsMean[s], &rng))
        let txCount = max(1, (txMean[s] + txMean[s].squareRoot() * rng.normal()).rounded())
        let avgTx = (h.cardSpend / txCount * 100).rounded() / 100
        let loanHeld: Double = h.loan > 0 ? 1 : 0
        let numProducts = 1 + b(h.hasMortgage) + b(h.hasCard) + b(h.hasSavings) + b(h.hasInvest) + b(h.hasInsurance) + loanHeld
        let monthsSinceLast = min(h.tenure, (-30 * log(1 - rng.unit())).rounded(.down))
        var employment = s == 3 ? 0 : max(0, (h.age - 22 - 8 * rng.unit()).rounded())
        if rng.unit() < 0.06 { employment = .nan }
        var daysSinceLogin = appUser
            ? min(365, (-log(1 - rng.unit()) * 30 / (logins + 1)).rounded(.down))
            : Double(30 + rng.below(336))
        if rng.unit() < 0.02 { daysSinceLogin = .nan }
        let churnZ = -2.2 + 0.9 * complaints - 0.004 * h.tenure + (numProducts <= 2 ? 0.3 : 0) + 0.01 * min(daysSinceLogin.isNaN ? 0 : daysSinceLogin, 120) + 0.4 * rng.normal()
        var churn = (1000 / (1 + exp(-churnZ))).rounded() / 1000
        if rng.unit() < 0.02 { churn = .nan }

        f[4] = Float(numProducts)
        f[9] = Float(logins)
        f[10] = Float(branch)
        f[24] = Float(monthsSinceLast)
        f[25] = Float(b(appUser))
        f[26] = Float(b(emailOpt))
        f[27] = Float(b(smsOpt))
        f[28] = Float(callCenter)
        f[29] = Float(complaints)
        f[30] = Float(intl)
        f[31] = Float(debits)
        f[32] = Float(txCount)
        f[33] = Float(avgTx)
        f[34] = Float(employment)
        f[35] = Float(daysSinceLogin)
        f[36] = Float(churn)
    }

    /// The offers' values (NPVs) from the holdings, then the missing income and property values (the
    /// last draws of the base features), written to `f`.
    private static func drawValues(into f: UnsafeMutablePointer<Float>, holdings h: Holdings, rng: inout SplitMix64) {
        let npvMortgage = clamp(0.012 * h.income + 0.003 * h.propertyValue, 250, 3000).rounded()
        let npvCard = clamp(30 + 0.12 * h.cardSpend + 0.0008 * h.income, 30, 600).rounded()
        let npvInvestment = clamp(60 + 0.008 * (h.savings + h.investment) + 0.002 * h.income, 60, 2500).rounded()
        var incomeOut = h.income
        if rng.unit() < 0.03 { incomeOut = .nan }
        var propertyOut = h.propertyValue
        if h.homeOwner && rng.unit() < 0.04 { propertyOut = .nan }

        f[1] = Float(incomeOut)
        f[19] = Float(propertyOut)
        f[37] = Float(npvMortgage)
        f[38] = Float(npvCard)
        f[39] = Float(npvInvestment)
    }

    @inline(__always) private static func b(_ x: Bool) -> Double { x ? 1 : 0 }

    @inline(__always) static func clamp(_ x: Double, _ lo: Double, _ hi: Double) -> Double { min(max(x, lo), hi) }

    @inline(__always) private static func pick(_ cdf: [Double], _ u: Double) -> Int {
        var i = 0
        while i < cdf.count - 1 && u >= cdf[i] { i += 1 }
        return i
    }

    /// A Poisson draw: inversion by multiplication for small means, a rounded normal for large ones.
    static func poisson(_ mean: Double, _ rng: inout SplitMix64) -> Int {
        if mean <= 0 { return 0 }
        if mean > 15 { return max(0, Int((mean + mean.squareRoot() * rng.normal()).rounded())) }
        let limit = exp(-mean)
        var k = 0
        var p = rng.unit()
        while p > limit { k += 1; p *= rng.unit() }
        return k
    }
}
