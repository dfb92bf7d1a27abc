import Foundation

/// Hands out indices to worker threads.
public final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    public init() {}
    public func claim(below n: Int) -> Int? { lock.withLock { guard value < n else { return nil }; defer { value += 1 }; return value } }
}

/// Result slots written by concurrent iterations, read in index order.
public final class Slots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T?]
    public init(count: Int) { items = Array(repeating: nil, count: count) }
    public func set(_ i: Int, _ v: T) { lock.withLock { items[i] = v } }
    public func values() -> [T] { lock.withLock { items.map { $0! } } }
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


