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

    /// Keeps every freed block in the process for the next job: a standing worker's (`nextbest worker`
    /// without `--once`) tables of one job, about 0.9 KB per customer held, are freed at its RELEASE and
    /// taken again by the next job's. glibc's malloc is set to one arena, no block in its own mapping, and a
    /// trim only past 2 GiB free at the heap's top, so the freed memory is reused rather than handed back and
    /// faulted in again, cleared page by page (measured: each 10 M worker stayed at 3.7–4.4 GB between jobs). The worker then holds, between jobs, the memory of its largest job (bounded by
    /// `--max-customers`). Must run before the process starts threads. Returns false when `mallopt` is
    /// missing or refuses a setting (the process then keeps the defaults of `keepFreedMemory`).
    @discardableResult
    public static func holdBetweenJobs() -> Bool {
        #if os(Linux)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        // malloc.h: M_TRIM_THRESHOLD -1, M_MMAP_MAX -4, M_ARENA_MAX -8 (mallopt returns 1 on success).
        let arenas = mallopt(-8, 1), mappings = mallopt(-4, 0), trim = mallopt(-1, Int32.max)
        return arenas == 1 && mappings == 1 && trim == 1
        #else
        return false
        #endif
    }
}
