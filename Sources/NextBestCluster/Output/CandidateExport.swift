import Foundation
import NextBestStore
import NextBestCore

/// Writes the optimization problem of a run as plain files, so an independent solver (HiGHS, via
/// `bench/tools/lp_optimum.py`) can compute the LP optimum of exactly the same instance:
/// `candidates.csv` (`customer_id,region,segment,offer_id,product,family,channel,cost,objective`) and
/// `constraints.json`.
public enum CandidateExport {
    public static func write(_ shards: [ShardOptimizer], regions: CodeDictionary, segments: CodeDictionary, to dir: String) throws {
        guard let first = shards.first else { return }
        let plan = first.plan
        var out: [UInt8] = Array("customer_id,region,segment,offer_id,product,family,channel,cost,objective\n".utf8)
        for s in shards {
            for i in 0..<s.table.customerCount {
                let prefix = "\(s.table.customerIDs[i]),\(regions.name(for: s.table.regions[i])),\(segments.name(for: s.table.segments[i])),"
                for ci in s.table.range(i) {
                    let c = s.table.candidates[ci]
                    let o = plan.offers[Int(c.offer)]
                    out.appendString(prefix + "\(o.id),\(plan.products[o.product]),\(plan.families[o.family]),\(plan.channels[Int(c.channel)]),")
                    FixedDecimal.append(plan.cost(of: c), decimals: 6, to: &out)
                    out.append(UInt8(ascii: ","))
                    FixedDecimal.append(s.table.objective(ci, customer: i), decimals: 6, to: &out)
                    out.append(UInt8(ascii: "\n"))
                }
            }
        }
        try AtomicFile.write([out], to: dir + "/candidates.csv")
        let c = plan.campaign.constraints
        func group(_ list: [Campaign.CountConstraint]) -> JSONText {
            .object(list.map { cc in (cc.name, .object([cc.bounds.min.map { ("min", JSONText.int(Int64($0))) }, cc.bounds.max.map { ("max", JSONText.int(Int64($0))) }].compactMap { $0 })) })
        }
        let json = JSONText.object([
            ("max_offers", .int(Int64(plan.campaign.perCustomer.maxOffers))),
            ("max_per_family", .int(Int64(plan.campaign.perCustomer.maxPerFamily))),
            ("budget", c.budget.map { .fixed($0, decimals: 6) } ?? .null),
            ("products", group(c.products)), ("regions", group(c.regions)),
            ("segments", group(c.segments)), ("channels", group(c.channels)),
        ])
        try AtomicFile.write(json.render(), to: dir + "/constraints.json")
    }
}
