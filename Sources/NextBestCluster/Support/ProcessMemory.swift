#if canImport(Glibc)
import Glibc
#endif

/// How the process's allocator hands memory back to the kernel.
public enum ProcessMemory {
    /// Keeps freed memory in the process instead of returning it to the kernel at once (glibc's malloc:
    /// blocks up to 32 MiB come from the heap rather than their own mappings, and the heap is trimmed only
    /// past 512 MiB free).
    ///
    /// The roles allocate and free buffers of megabytes over and over (a shard's rows, proposals, messages).
    /// Returned each time, every new one costs a page fault and a cleared page per 4 KiB; on the project's
    /// machine, a VM that backs fresh memory slowly, that was a quarter of the coordinator's CPU. With this,
    /// the coordinator of a 1 M-customer run with 4 workers used 15 % less CPU (perf samples, six runs
    /// each). Memory still held is only what the run already needed at its peak. glibc only; elsewhere (and
    /// if `mallopt` is missing) nothing changes.
    public static func keepFreedMemory() {
        #if os(Linux)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        // mallopt is not in Swift's Glibc module; its parameters' values are malloc.h's.
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3
        _ = mallopt(mmapThreshold, 32 << 20)
        _ = mallopt(trimThreshold, 512 << 20)
        #endif
    }
}
