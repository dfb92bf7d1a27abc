import ArgumentParser
import Foundation
import NextBestStore

/// `nextbest worker-copy --store DIR --to DIR`: what a worker host needs of a store (no kept runs), compact;
/// `cluster/ship-store` ships it.
struct WorkerCopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker-copy",
        abstract: "Copy what workers read of a store (profiles, history, models, campaign; not the kept runs) into a new directory, compacted.")
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "The new store directory (must not hold a store).") var to: String

    func run() throws {
        try reportingErrors {
            let t = Date()
            let source = try Store(path: storeOptions.store, readOnly: true, mustExist: true)
            let r = try WorkerCopy.copy(from: source, to: to)
            func mib(_ b: Int64) -> String { String(format: "%.1f MiB", Double(b) / 1048576) }
            let counts = r.entries.map { "\($0.count) \($0.name)" }.joined(separator: ", ")
            print("copied \(counts) into \(to): \(mib(r.copyBytes)) (the store's file: \(mib(r.sourceBytes)); left out \(r.runEntriesLeftOut) records of kept runs) in \(elapsed(t))")
        }
    }
}
