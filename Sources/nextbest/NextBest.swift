import ArgumentParser
import Foundation
import NextBestCluster
import NextBestStore

/// The `nextbest` command line: generate or import data into a store, score, and run the nightly job.
@main
struct NextBest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nextbest",
        abstract: "Decide the next best actions a bank offers each customer.",
        discussion: """
        Exit status (the same for every command; docs/exit-codes.md):
        \(ExitStatus.table)
        With --log-format json the error line is a JSON object with "level":"error", the message and "exit_code".
        """,
        version: NextBestVersion.software,
        subcommands: [Generate.self, Import.self, Score.self, Run.self, CoordinatorCommand.self, WorkerCommand.self, FingerprintCommand.self, WorkerCopyCommand.self, KeysCommand.self, RunsCommand.self, SimulateCommand.self, RescoreCommand.self, ServeCommand.self, InspectCommand.self, ExportCommand.self, ExplainCommand.self, BenchKernelsCommand.self]
    )

    static func main() {
        ProcessMemory.keepFreedMemory()
        main(nil)
    }
}

/// Options shared by commands that use a store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store directory (an LMDB environment).")
    var store: String
}

/// Prints a message to standard error.
func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Seconds since `start`, formatted.
func elapsed(_ start: Date) -> String { String(format: "%.2fs", Date().timeIntervalSince(start)) }

/// A run id as printed (16 hex digits), or a usage error naming the option.
func parseRunID(_ text: String, option: String) throws -> UInt64 {
    guard let id = RunRepository.parse(text) else { throw ValidationError("\(option) takes a run id of 16 hex digits, not '\(text)'") }
    return id
}
