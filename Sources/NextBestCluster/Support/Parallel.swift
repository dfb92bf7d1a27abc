import Foundation
import Synchronization

/// Hands out indices to worker threads.
public final class Counter: Sendable {
    private let value = Mutex(0)
    public init() {}
    /// The next index below `n`, or nil once they are all claimed.
    public func claim(below n: Int) -> Int? {
        value.withLock { v in
            guard v < n else { return nil }
            defer { v += 1 }
            return v
        }
    }
}

/// Result slots written by concurrent iterations, read in index order.
///
/// `@unchecked Sendable` because `T` need not be `Sendable` (a `Mutex` would want each value sent into it):
/// `items` is guarded by `lock`, each value is put in by the one iteration that made it and read back
/// after every iteration has ended.
public final class Slots<T>: @unchecked Sendable {
    private let lock = Mutex(())
    nonisolated(unsafe) private var items: [T?]
    public init(count: Int) { items = Array(repeating: nil, count: count) }
    public func set(_ i: Int, _ v: T) { lock.withLock { _ in items[i] = v } }
    public func values() -> [T] { lock.withLock { _ in items.map { $0! } } }
}

/// Maps an index range on several threads, keeping order.
public enum ParallelChunks {
    public static func map<T>(_ range: Range<Int>, threads: Int, _ f: @Sendable (Int) -> T) -> [T] {
        let n = range.count
        let parts = max(1, min(threads, n))
        let box = Slots<[T]>(count: parts)
        DispatchQueue.concurrentPerform(iterations: parts) { k in
            let lo = range.lowerBound + n * k / parts, hi = range.lowerBound + n * (k + 1) / parts
            box.set(k, (lo..<hi).map(f))
        }
        return box.values().flatMap { $0 }
    }
}
