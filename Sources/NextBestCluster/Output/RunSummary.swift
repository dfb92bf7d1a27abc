import NextBestCore

/// Renders `summary.json`: customers, offers made per product, region, segment, channel and offer,
/// total expected value and cost, expected responses, and timings per stage.
public enum RunSummary {
    public static func render(plan: ScoringPlan, totals t: RunTotals, regions: CodeDictionary, segments: CodeDictionary,
                              extra: [(String, JSONText)], timings: [(String, Double)]) -> String {
        func counts(_ names: [String], _ values: [Int64]) -> JSONText {
            .object(names.enumerated().map { ($1, .int($0 < values.count ? values[$0] : 0)) })
        }
        var fields: [(String, JSONText)] = [
            ("objective", .string(plan.campaign.objective.rawValue)),
            ("customers", .int(t.customers)),
            ("customers_with_offers", .int(t.customersWithOffers)),
            ("offers_made", .int(t.offersMade)),
            ("total_expected_value", .fixed(Double(t.expectedValueMicros) / 1e6, decimals: 2)),
            ("total_cost", .fixed(Double(t.costMicros) / 1e6, decimals: 2)),
            ("expected_responses", .fixed(Double(t.propensityMicros) / 1e6, decimals: 2)),
            ("fatigue_exclusions", .int(t.fatigued)),
            ("by_product", counts(plan.products, t.byProduct)),
            ("by_region", counts(regions.names, t.byRegion)),
            ("by_segment", counts(segments.names, t.bySegment)),
            ("by_channel", counts(plan.channels, t.byChannel)),
            ("by_offer", counts(plan.offers.map(\.id), t.byOffer)),
            ("propensity_by_offer", .object([
                ("bin_edges", .array(RunTotals.propensityEdges.map { .fixed($0, decimals: 3) })),
                ("offers", .object(plan.offers.enumerated().map { i, o in
                    let n = RunTotals.binCount
                    let bins = i * n + n <= t.propensityBins.count ? Array(t.propensityBins[(i * n)..<(i * n + n)]) : Array(repeating: 0, count: n)
                    return (o.id, .array(bins.map { .int($0) }))
                })),
            ])),
        ]
        fields += extra
        fields.append(("timings_seconds", .object(timings.map { ($0.0, .fixed($0.1, decimals: 3)) })))
        return JSONText.object(fields).render()
    }
}

extension RunSummary {
    /// The passes of a column generation as `summary.json` lists them (the presolve's levels in their sample's units).
    static func history(_ rounds: [DualSolver.Round]) -> JSONText {
        .array(rounds.map { h in .object([("round", .int(Int64(h.round))), ("dual", .fixed(h.dual, decimals: 4)),
                                          ("relaxed_primal", .fixed(h.relaxedPrimal, decimals: 4)),
                                          ("feasible_objective", h.feasible.map { .fixed($0, decimals: 4) } ?? .null),
                                          ("max_violation", .fixed(h.maxViolation, decimals: 6)),
                                          ("points", .int(Int64(h.points))), ("buckets", .int(Int64(h.buckets))),
                                          ("seconds", .fixed(h.seconds, decimals: 3))]) })
    }

    /// The optimization report as it appears in `summary.json`.
    public static func optimization(_ r: Optimizer.Report) -> JSONText {
        .object([
            ("objective", .fixed(r.objective, decimals: 4)),
            ("dual_bound", .fixed(r.dualBound, decimals: 4)),
            ("gap", .fixed(r.gap, decimals: 8)),
            ("rounds", .int(Int64(r.rounds))),
            ("passes", .int(Int64(r.rounds))),
            ("relaxed_objective", .fixed(r.relaxedObjective, decimals: 4)),
            ("round_seconds", .fixed(r.roundSeconds, decimals: 3)),
            ("repair_seconds", .fixed(r.repairSeconds, decimals: 3)),
            ("settle", r.settle.map { st in .object([("pass_seconds", .fixed(st.passSeconds, decimals: 3)),
                                                     ("split_seconds", .fixed(st.splitSeconds, decimals: 3)),
                                                     ("split_customers", .int(Int64(st.splitCustomers))),
                                                     ("program_seconds", .fixed(st.programSeconds, decimals: 3)),
                                                     ("finish_seconds", .fixed(st.finishSeconds, decimals: 3))]) } ?? .null),
            ("presolve", r.presolve.map { p in .object([("sample_modulus", .int(Int64(p.modulus))), ("rounds", .int(Int64(p.rounds))),
                                                        ("seconds", .fixed(p.seconds, decimals: 3)),
                                                        ("levels", .array(p.levels.map { l in
                                                            .object([("sample_modulus", .int(Int64(l.modulus))), ("passes", .int(Int64(l.passes))),
                                                                     ("seconds", .fixed(l.seconds, decimals: 3)),
                                                                     ("history", history(l.history))]) }))]) } ?? .null),
            ("history", history(r.history)),
            ("constraints", .array(r.constraints.map { c in
                var f: [(String, JSONText)] = [("key", .string(c.row.key)), ("kind", .string(c.row.kind.rawValue)), ("name", .string(c.row.name))]
                let money = c.row.kind == .budget
                f.append(("used", .fixed(c.used, decimals: money ? 2 : 0)))
                f.append(("min", c.row.lower.map { .fixed(money ? Double($0) / 1e6 : Double($0), decimals: money ? 2 : 0) } ?? .null))
                f.append(("max", c.row.upper.map { .fixed(money ? Double($0) / 1e6 : Double($0), decimals: money ? 2 : 0) } ?? .null))
                f.append(("price", .fixed(c.price, decimals: 6)))
                return .object(f)
            })),
        ])
    }
}
