import Foundation
import NextBestCore
import NextBestStore
import NextBestWire

extension Coordinator {
    /// What the scoring stage leaves: each shard's holder and the attempt it holds, and what it cost.
    struct ScoringOutcome {
        var owner: [[UInt8]]
        var attempt: [UInt32]
        var requeued: Int
        var duplicates: Int
        var latency: ShardLatency
        var customers: Int
        var candidates: UInt64
        /// Rescored shards sent to a worker holding their kept propensities (RESCORE with `base`), and those
        /// whose table it rebuilt from the one it held (SCORED's `rebuilt`).
        var fromHeld: Int
        var fromTables: Int
    }

    /// Scores the shards: hands them out as workers have free threads, and one more each (`ShardScheduler` decides
    /// which), drops a worker past its deadline or whose SCORED does not match what it was asked (its shards go
    /// back in the queue), and waits for another worker while no connected one has room for the shards left.
    ///
    /// A worker sends each shard's propensities (PROPS) just before its SCORED: the first valid copy for a
    /// shard goes to `keepProps` (which writes it with the run), later copies (stragglers) are dropped.
    func score(_ shards: [ShardPlan.Shard], run runID: UInt64, journal: RunRepository, rescore: (from: UInt64, models: Set<String>)?,
               served: UInt64, since tWait: Date, keepProps: (ArrivedProps) throws -> Void = { _ in }) throws -> ScoringOutcome {
        var plan = ShardScheduler(customers: shards.map(\.customers), candidatesPerCustomer: context.candidatesPerCustomer)
        var latency = ShardLatency()
        var assignedAt: [ShardScheduler.Copy: Date] = [:]
        var stalledSince: Date? = nil
        var propsKept = Set<Int>()
        // A rescore's shards in flight: the propensities kept from the run rescored, completed by the
        // models scored again when their PROPS arrive.
        var reused: [Int: Reused] = [:]
        var fromHeld = 0, fromTables = 0
        func status() -> String {
            "scoring: \(plan.done)/\(shards.count) shards, \(rate(plan.scoredCustomers.reduce(0, +), since: tWait)) customers/s, \(hub.peerCount) workers"
        }
        func send(_ s: Int, to p: Hub.Peer) throws {
            let attempt = plan.assign(s, to: p.routingID, at: hub.clock, times: hub.times)
            assignedAt[.init(peer: p.routingID, shard: s)] = Date()
            let holds = rescore.map { p.heldPropensities[$0.from]?.contains(UInt32(s)) == true } ?? false
            let (message, kept) = try assignment(shards[s], attempt: attempt, run: runID, journal: journal, rescore: rescore, served: served, heldByWorker: holds)
            if case .rescore(_, _, _, _, _, _, _, _, _, let base, _) = message, base != 0 { fromHeld += 1 }
            if let kept, !propsKept.contains(s) { reused[s] = kept }
            try hub.send(p.routingID, message)
            hub.reserveScoring(p.routingID, customers: shards[s].customers)
        }
        while !plan.complete {
            for p in hub.takeLost() { plan.lose(p.routingID) }
            let late = plan.expired(at: hub.clock)
            for (copy, allowed) in late { hub.expel(copy.peer, hub.times.missed(.scoring, replies: 1, allowed: allowed) + " (shard \(copy.shard))") }
            if !late.isEmpty { continue }
            // One shard more than the worker's threads: the next one waits on the worker, so a thread that
            // finishes a shard starts the next at once instead of waiting for this loop to hear of it and
            // answer (at 10 M a rescore's shards take 20 ms each, and the gaps left the workers idle a tenth
            // of the scoring stage). The one ahead is a queued shard, never a straggler's copy.
            //
            // A shard another connected worker holds (rank 2 in a rescore) costs this worker a full scoring, its
            // holder a rebuild of a tenth of that: it is taken only by a worker with nothing else to do, while
            // its holders have at least `stealAfter` such shards left (else they end sooner without help), or
            // when nothing is being scored at all.
            for p in hub.trusted where p.scoring <= p.threads {
                let rank = heldRank(for: p, rescore: rescore)
                guard let (s, straggler) = plan.pick(for: p.routingID, fits: p.fits, rank: rank),
                      Self.takes(ahead: p.scoring == p.threads, straggler: straggler, heldByAnother: rank(s) == 2, running: plan.running,
                                 heldByOthersLeft: { plan.queue.lazy.filter { rank($0) == 2 }.count }) else { continue }
                try send(s, to: p)
            }
            try waitForRoom(plan, since: &stalledSince)
            metrics.shards(pending: plan.queue.count, running: plan.running, done: plan.done)
            guard let (from, m) = try hub.pump(timeoutMs: 50) else { progress.update(status()); continue }
            if case let .props(r, shard, _, models, values) = m, r == runID {
                let s = Int(shard)
                // Only from a worker that was given the shard, and sized for it.
                guard s < shards.count, assignedAt[.init(peer: from, shard: s)] != nil else { continue }
                guard values.count <= shards[s].customers * models.count, models.isEmpty || values.count % models.count == 0 else {
                    hub.expel(from, "invalid PROPS: \(values.count) values for \(models.count) models over shard \(shard) of \(shards[s].customers) customers")
                    continue
                }
                guard !propsKept.contains(s) else { continue }
                let planIDs = context.plan.models.map(\.id)
                if models == planIDs {
                    try keepProps(.all(shard: s, models: models, values: values))
                } else if let base = reused[s], base.accepts(models, values: values, planIDs: planIDs) {
                    if let files = base.files {
                        try keepProps(.rescored(shard: s, models: models, values: values, base: files))
                    } else if let all = base.completed(with: models, values: values, planIDs: planIDs) {
                        try keepProps(.all(shard: s, models: planIDs, values: all))
                    }
                } else {
                    hub.expel(from, "invalid PROPS: models \(models.joined(separator: ", ")) for shard \(shard), which is not rescored from kept propensities")
                    continue
                }
                propsKept.insert(s)
                reused[s] = nil
                continue
            }
            guard case let .scored(r, shard, att, customers, candidates, rebuilt) = m, r == runID else { continue }
            switch plan.scored(shard: shard, attempt: att, customers: customers, candidates: candidates, from: from, at: hub.clock, times: &hub.times) {
            case .stale: continue
            case .invalid(let why): hub.expel(from, "invalid reply: \(why)")
            case .won(let others):
                let s = Int(shard)
                if rebuilt { fromTables += 1 }
                hub.holdScored(from)
                let seconds = assignedAt[.init(peer: from, shard: s)].map { Date().timeIntervalSince($0) }
                if let seconds { latency.record(seconds: seconds) }
                metrics.shards(pending: plan.queue.count, running: plan.running, done: plan.done)
                metrics.scored(customers: Int(customers), seconds: seconds ?? 0)
                onEvent?(.shardScored(done: plan.done, total: shards.count))
                Failpoint.hit("coordinator.scored", plan.done)
                // Other copies still being scored are not needed.
                for other in others {
                    try hub.send(other, .drop(run: runID, shard: UInt32(s)))
                    hub.releaseScoring(other, customers: shards[s].customers)
                }
                progress.update(status())
            }
        }
        return ScoringOutcome(owner: plan.owner.map { $0! }, attempt: plan.attempt, requeued: plan.requeued, duplicates: plan.duplicates,
                              latency: latency, customers: plan.scoredCustomers.reduce(0, +), candidates: plan.scoredCandidates.reduce(0, +),
                              fromHeld: fromHeld, fromTables: fromTables)
    }

    /// The fewest shards held by other workers left in the queue for an idle worker to score one of them.
    static let stealAfter = 16

    /// Whether a worker is sent the shard `ShardScheduler.pick` chose for it: `ahead` when all its threads are
    /// busy (the shard would wait on it), `straggler` for a copy of a shard being scored elsewhere,
    /// `heldByAnother` for a rescore's shard another connected worker holds, `running` the shards being scored.
    static func takes(ahead: Bool, straggler: Bool, heldByAnother: Bool, running: Int, heldByOthersLeft: () -> Int) -> Bool {
        if ahead && straggler { return false }
        if heldByAnother && running > 0 && (ahead || heldByOthersLeft() < stealAfter) { return false }
        return true
    }

    /// How `pick` ranks a rescore's shards for worker `p`: first those whose kept propensities `p` holds (sent
    /// without them), then those no connected worker holds, last those another worker holds (which it will
    /// likely take itself). Every shard ranks alike for a run that is not a rescore.
    func heldRank(for p: Hub.Peer, rescore: (from: UInt64, models: Set<String>)?) -> (Int) -> Int {
        guard let base = rescore?.from else { return { _ in 0 } }
        let mine = p.heldPropensities[base] ?? []
        let others = hub.trusted.filter { $0.routingID != p.routingID }.compactMap { $0.heldPropensities[base] }
        if mine.isEmpty && others.isEmpty { return { _ in 0 } }
        return { s in
            let shard = UInt32(s)
            return mine.contains(shard) ? 0 : others.contains(where: { $0.contains(shard) }) ? 2 : 1
        }
    }

    /// ASSIGN, or RESCORE with the kept propensities of the run rescored (returned too: the worker sends back
    /// only the models it scores again). A shard whose propensity file is missing or damaged is scored under
    /// every model (ASSIGN), with a line saying which file and why. A worker that holds the shard's kept
    /// propensities (`heldByWorker`) is sent none: the RESCORE names the run and the columns' models, and
    /// the files are only checked to be in place (their values are not read).
    func assignment(_ sh: ShardPlan.Shard, attempt: UInt32, run runID: UInt64, journal: RunRepository,
                    rescore: (from: UInt64, models: Set<String>)?, served: UInt64, heldByWorker: Bool = false) throws -> (WireMessage, Reused?) {
        if let (from, models) = rescore, heldByWorker, let files = try journal.propensitySource(from, shard: sh.index), !files.models.isEmpty,
           journal.missingFile(files, shard: sh.index) == nil {
            let source = context.plan.models.map { m -> Int64 in models.contains(m.id) ? -1 : Int64(files.models.firstIndex(of: m.id) ?? -1) }
            return (.rescore(run: runID, shard: UInt32(sh.index), attempt: attempt, lower: sh.lower, upper: sh.upper, source: source,
                             stride: UInt32(files.models.count), stored: [], served: served, base: from, baseModels: files.models),
                    Reused(source: source.map { Int($0) }, stride: files.models.count, customers: files.customers, values: nil, files: files))
        }
        if let (from, models) = rescore, let kept = try keptPropensities(journal, from: from, shard: sh.index) {
            let source = context.plan.models.map { m -> Int64 in models.contains(m.id) ? -1 : Int64(kept.models.firstIndex(of: m.id) ?? -1) }
            let stride = max(kept.models.count, 1)
            // The base run's files are linked into the new run's directory (nothing written twice); a base
            // whose propensities are kept in LMDB (version 1) is completed and written whole.
            let files = try journal.propensitySource(from, shard: sh.index)
            return (.rescore(run: runID, shard: UInt32(sh.index), attempt: attempt, lower: sh.lower, upper: sh.upper,
                             source: source, stride: UInt32(stride), stored: kept.values, served: served),
                    Reused(source: source.map { Int($0) }, stride: stride, customers: kept.values.count / stride,
                           values: files == nil ? kept.values : nil, files: files))
        }
        return (.assign(run: runID, shard: UInt32(sh.index), attempt: attempt, lower: sh.lower, upper: sh.upper, served: served), nil)
    }

    /// A shard's propensities as they arrive (PROPS), for the run's files: every plan model's, or a
    /// rescore's models scored again, the others being in the base run's files.
    enum ArrivedProps {
        case all(shard: Int, models: [String], values: [Float])
        case rescored(shard: Int, models: [String], values: [Float], base: RunRepository.PropensitySource)
    }

    /// A rescored shard's propensities kept from the run rescored, as sent with its RESCORE.
    struct Reused {
        /// Per plan model: its column in the kept values, or -1 when scored again.
        var source: [Int]
        var stride: Int
        var customers: Int
        /// The kept values, held only when the run's files cannot be linked (`files` nil).
        var values: [Float]?
        /// The run rescored's files of this shard.
        var files: RunRepository.PropensitySource?

        /// Whether `models` are exactly the models scored again, with a value per customer each.
        func accepts(_ models: [String], values scored: [Float], planIDs: [String]) -> Bool {
            let again = source.indices.filter { source[$0] < 0 }
            return models == again.map({ planIDs[$0] }) && stride > 0 && scored.count == customers * again.count
        }

        /// Every plan model's propensities (customers × `planIDs.count`, plan order): the kept columns and the
        /// `models` scored again (`values`, customers × `models.count`); nil when they are not `accepts`ed or
        /// the kept values are not held.
        func completed(with models: [String], values scored: [Float], planIDs: [String]) -> [Float]? {
            guard let values, accepts(models, values: scored, planIDs: planIDs) else { return nil }
            let again = source.indices.filter { source[$0] < 0 }
            let m = planIDs.count
            var out = [Float](repeating: 0, count: customers * m)
            // Per plan model, where its value is: a kept column, or (negative) the scored column − 1.
            var from = source
            for (k, j) in again.enumerated() { from[j] = -1 - k }
            let n = again.count
            out.withUnsafeMutableBufferPointer { o in
            values.withUnsafeBufferPointer { kept in
            scored.withUnsafeBufferPointer { s in
            from.withUnsafeBufferPointer { from in
                for c in 0..<customers {
                    let row = o.baseAddress! + c * m, k = kept.baseAddress! + c * stride, sc = s.baseAddress.map { $0 + c * n }
                    for j in 0..<m {
                        let f = from[j]
                        row[j] = f >= 0 ? k[f] : sc![-1 - f]
                    }
                }
            }}}}
            return out
        }
    }

    /// The kept propensities of a shard of the run rescored, or nil (logged) when its file cannot be used.
    func keptPropensities(_ journal: RunRepository, from: UInt64, shard: Int) throws -> (models: [String], values: [Float])? {
        do { return try journal.propensities(from, shard: shard) } catch RunRepository.Failure.propensityFile(let path, let reason) {
            progress.line("shard \(shard): the kept propensities \(path) cannot be used (\(reason)); every model of the shard is scored again")
            return nil
        }
    }

    /// Shards queued, none being scored: no worker has room for any of them. Waits for another worker, up to
    /// `--wait-timeout`.
    func waitForRoom(_ plan: ShardScheduler, since stalledSince: inout Date?) throws {
        guard plan.stalled, let smallest = plan.smallestQueued else { stalledSince = nil; return }
        if stalledSince == nil {
            stalledSince = Date()
            progress.line("no worker has room for a shard of \(smallest) customers (\(hub.ordered.map(\.room).joined(separator: ", "))); waiting for another worker")
        }
        if let limit = options.waitTimeout, Date().timeIntervalSince(stalledSince!) > limit {
            throw ClusterError.noRoom(waitedSeconds: Int(limit), shardCustomers: smallest, room: hub.ordered.map(\.room))
        }
    }
}
