import Foundation
import NextBestStore
import Synchronization

/// Writes to the run journal on a thread of their own, in order, while the coordinator goes on receiving
/// and writing nba.csv: at 10 M customers the journal's kept lists and propensities (~2.5 GB before they
/// became binary lists and propensity files written directly, issue 23) took as long
/// as the rest of the merge. At most `depth` writes wait (each holds a shard's bytes); the first error is
/// kept and thrown by `finish()`, after which nothing more is written.
final class JournalQueue: Sendable {
    private let queue = DispatchQueue(label: "nextbest.journal")
    private let room: DispatchSemaphore
    private let group = DispatchGroup()
    private let failure = Mutex<Error?>(nil)

    init(depth: Int = 8) { room = DispatchSemaphore(value: max(1, depth)) }

    /// Queues one write; throws the error of an earlier one, if any.
    func add(_ write: @escaping @Sendable () throws -> Void) throws {
        if let e = failure.withLock({ $0 }) { throw e }
        room.wait()
        group.enter()
        queue.async { [self] in
            defer { room.signal(); group.leave() }
            guard failure.withLock({ $0 == nil }) else { return }
            do { try write() } catch { failure.withLock { if $0 == nil { $0 = error } } }
        }
    }

    /// Runs a read of the store on the queue, after the writes queued before it: while the queue is in use,
    /// every access to the store goes through it (a write that grows the map must not meet a reader on
    /// another thread).
    func read<T>(_ body: () throws -> T) throws -> T {
        if let e = failure.withLock({ $0 }) { throw e }
        return try queue.sync { try body() }
    }

    /// Waits for every queued write; throws the first error.
    func finish() throws {
        group.wait()
        if let e = failure.withLock({ $0 }) { throw e }
    }
}

/// The propensity files of a run's shards, written on a queue of their own as the workers' PROPS arrive
/// during scoring (files only, no LMDB: the coordinator's thread uses the store meanwhile). `finish` waits
/// for them and hands over what was written, for the records kept when the merge starts.
final class PropensityFiles: Sendable {
    private let queue = JournalQueue()
    private let written = Mutex<[RunRepository.WrittenPropensities]>([])

    /// Queues the writing of one shard's file (a rescore's: the models scored again, the base run's files
    /// linked for the others of `planModels`); throws the error of an earlier one, if any.
    func write(_ journal: RunRepository, run: UInt64, _ arrived: Coordinator.ArrivedProps, planModels: [String]) throws {
        try queue.add { [self] in
            let file: RunRepository.WrittenPropensities
            switch arrived {
            case let .all(shard, models, values):
                file = try journal.writePropensityFile(run, shard: shard, models: models, values: values)
            case let .rescored(shard, models, values, base):
                file = try journal.writePropensityParts(run, shard: shard, models: planModels, scored: models, values: values, base: base)
            }
            written.withLock { $0.append(file) }
        }
    }

    /// Waits for the queued files; returns those written since the last call, in shard order.
    func finish() throws -> [RunRepository.WrittenPropensities] {
        try queue.finish()
        return written.withLock { w in
            defer { w = [] }
            return w.sorted { $0.shard < $1.shard }
        }
    }
}
