import ArgumentParser
import Foundation
import NextBestStore
import NextBestCluster
import NextBestInspect

/// `nextbest export --store DIR --run RUN_ID --format csv|jsonl [--out FILE]`: a kept run's lists again,
/// from the store's journal, without running anything.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export",
        abstract: "Re-export a finished run's lists from the store (csv: the run's nba.csv byte for byte; jsonl: one line per customer).",
        discussion: """
        csv is the run's nba.csv exactly. jsonl has one JSON object per customer with offers, in customer-id \
        order: {"customer_id":N,"offers":[{"rank":1,"offer_id":"…","channel":"…","propensity":…,"expected_value":…},…]}, \
        numbers copied as the csv's text. Only finished runs (state done) can be exported; `nextbest runs list` \
        shows them. --out is written to a temporary file and renamed; without it the lists go to standard output.
        """)
    @OptionGroup var storeOptions: StoreOptions
    @Option(name: .customLong("run"), help: "The run (16 hex digits; see `nextbest runs list`).") var runID: String
    @Option(help: "csv or jsonl.") var format: String
    @Option(help: "The file to write (default: standard output).") var out: String?
    @Flag(help: "Log only errors.") var quiet = false
    @OptionGroup var logging: LogOptions

    func validate() throws {
        guard RunExport.Format(rawValue: format) != nil else {
            throw ValidationError("--format must be one of \(RunExport.Format.allCases.map(\.rawValue).joined(separator: ", ")), not '\(format)'")
        }
        _ = try parseRunID(runID, option: "--run")
    }

    func run() throws {
        try reportingErrors(logging.logFormat) {
            let id = try parseRunID(runID, option: "--run")
            if let out { try OutputPlace.prepareFile(out, option: "--out") }
            let fmt = RunExport.Format(rawValue: format)!
            let journal = RunRepository(store: try Store(path: storeOptions.store, readOnly: true, mustExist: true))
            if let out {
                let writer = try AtomicFileWriter(path: out)
                do {
                    let r = try RunExport.write(journal: journal, run: id, format: fmt) { writer.append($0) }
                    try writer.commit()
                    logging.logger(prefix: "nextbest: ", quiet: quiet)("exported run \(RunRepository.name(id)) as \(fmt.rawValue): \(r.rows) rows, \(r.customers) customers, \(r.shards) shards, \(r.bytes) bytes to \(out)")
                } catch {
                    writer.abort()
                    throw error
                }
            } else {
                let stdout = FileHandle.standardOutput
                try RunExport.write(journal: journal, run: id, format: fmt) { try stdout.write(contentsOf: Data($0)) }
            }
        }
    }
}
