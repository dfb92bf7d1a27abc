#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the CPU can run, read once from the operating system (Linux: the `flags` line of /proc/cpuinfo,
/// which lists AVX-512 only where the kernel also saves its registers).
public enum CPUFeatures {
    /// AVX-512 F, CD, BW, DQ and VL: what `NextBestKernels` is compiled for on x86-64.
    public static let hasAVX512: Bool = {
        #if arch(x86_64) && os(Linux)
        guard let file = fopen("/proc/cpuinfo", "r") else { return false }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>? = nil, capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            guard text.hasPrefix("flags") else { continue }
            let flags = Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
            return ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
        }
        return false
        #else
        return false
        #endif
    }()
}
