import Foundation

/// The environment of the worker processes nextbest starts itself (`nextbest run`'s local workers): this
/// process's, with glibc's malloc asked to back its memory with transparent huge pages
/// (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`) unless that tunable is set already (an operator's choice, `=0`
/// included, is kept).
///
/// A worker fills gigabytes of fresh memory per job (tables, propensities, entries); with 4 KiB pages every
/// page's first write faults and is zeroed on its own, which on a 10 M rescore on standing workers took more
/// of the scoring stage than the rebuild's own work (docs/operations.md, "Memory"). The tunable only takes effect
/// when a process starts, so it is set here for the children; workers started by an operator get it from
/// their unit or pod (cluster/systemd/worker.env, cluster/k8s/worker-deployment.yaml, cluster/launch).
public enum WorkerEnvironment {
    /// The glibc tunable that asks malloc for huge pages.
    public static let hugePages = "glibc.malloc.hugetlb=1"

    /// `base` with `hugePages` added to `GLIBC_TUNABLES` (colon-separated) when it names no
    /// `glibc.malloc.hugetlb` yet.
    public static func withHugePages(_ base: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var env = base
        let current = env["GLIBC_TUNABLES"] ?? ""
        if !current.contains("glibc.malloc.hugetlb") { env["GLIBC_TUNABLES"] = current.isEmpty ? hugePages : current + ":" + hugePages }
        return env
    }
}
