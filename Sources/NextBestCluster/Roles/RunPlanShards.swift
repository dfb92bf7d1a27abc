import NextBestStore

extension RunRepository.Plan {
    /// The plan's shards, as the coordinator hands them out.
    var shards: [ShardPlan.Shard] {
        lower.indices.map { ShardPlan.Shard(index: $0, lower: lower[$0], upper: upper[$0], customers: customers[$0]) }
    }
}
