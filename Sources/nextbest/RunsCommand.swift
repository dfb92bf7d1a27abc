import ArgumentParser
import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster
import NextBestInspect

/// `nextbest runs list|show|compare|prune --store DIR`: the runs kept in a store (cluster runs keep a journal:
/// plan, versions, round prices, outcome and every shard's lists).
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List, show, compare and prune the runs kept in a store.",
                                                    subcommands: [List.self, Show.self, Compare.self, Prune.self])

    static func open(_ path: String, writable: Bool = false) throws -> RunRepository {
        RunRepository(store: try Store(path: path, readOnly: !writable, mustExist: true))
    }

    /// One line per run, oldest first.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per kept run: id, start, state, customers, shards, rounds, objective, gap.")
        @OptionGroup var storeOptions: StoreOptions
        func run() throws {
            try reportingErrors {
                let entries = try RunsCommand.open(storeOptions.store).entries()
                print("run_id            started                  state       customers  shards  rounds  objective          gap")
                func pad(_ t: String, _ n: Int) -> String { t.padding(toLength: max(n, t.count), withPad: " ", startingAt: 0) }
                for e in entries {
                    let o = e.outcome
                    let rounds = o.map { String($0.rounds) } ?? "-"
                    let objective = o.map { FixedDecimal.string($0.objective, decimals: 2) } ?? "-"
                    let gap = o.map { FixedDecimal.string($0.gap * 100, decimals: 4) + "%" } ?? "-"
                    let customers = String(e.plan.customers.reduce(0, +))
                    var line = pad(RunRepository.name(e.plan.run), 17) + " " + pad(e.plan.started, 24) + " " + pad(e.state, 11) + " "
                    line += pad(customers, 10) + " " + pad(String(e.plan.lower.count), 7) + " " + pad(rounds, 7) + " " + pad(objective, 18) + " " + gap
                    print(line)
                }
                if entries.isEmpty { print("(no runs kept in \(storeOptions.store))") }
            }
        }
    }

    /// A run's plan, versions and outcome.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A run's plan, campaign and model versions, final prices and outcome (JSON).")
        @Argument(help: "The run id (16 hex digits).") var runID: String
        @OptionGroup var storeOptions: StoreOptions
        func run() throws {
            try reportingErrors {
                let id = try parseRunID(runID, option: "runs show")
                let j = try RunsCommand.open(storeOptions.store)
                let plan = try j.plan(id)
                var fields: [(String, JSONText)] = [
                    ("run_id", .string(RunRepository.name(id))), ("state", .string(try j.state(id) ?? "?")), ("started", .string(plan.started)),
                    ("customers", .int(Int64(plan.customers.reduce(0, +)))), ("shards", .int(Int64(plan.lower.count))),
                    ("shard_size", .int(Int64(plan.shardSize))), ("store_fingerprint", .string(String(plan.fingerprint, radix: 16))),
                    ("campaign_version", plan.campaignVersion.map { .int(Int64($0)) } ?? .null),
                    ("model_versions", .object((plan.modelVersions ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) })),
                    ("rounds_journaled", .int(Int64(try j.rounds(id).count))),
                ]
                if let o = try j.outcome(id) {
                    fields.append(("final_prices", .object([("upper", .array(o.prices.upper.map { .fixed($0, decimals: 9) })),
                                                            ("lower", .array(o.prices.lower.map { .fixed($0, decimals: 9) }))])))
                    fields.append(("optimization", .raw(o.optimizationJSON)))
                }
                print(JSONText.object(fields).render(), terminator: "")
            }
        }
    }

    /// Two finished runs side by side (`RunComparison`).
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two finished runs: offers by product, offer, channel, region and segment, customers whose top offer changed, each offer's propensity shift (PSI), constraint use and prices, objective and gap.",
            discussion: "Runs are named by id (16 hex digits, see `nextbest runs list`), `latest` (the newest finished run), `previous` (the one before it) or `latest~N`. Run A is the reference: changes are B - A and the PSI uses A's deciles (docs/operations.md).")
        @Argument(help: "The reference run (an id, `previous`, `latest` or `latest~N`).") var runA: String
        @Argument(help: "The run compared with it (an id, `latest`, ...).") var runB: String
        @OptionGroup var storeOptions: StoreOptions
        @Flag(help: "Print the comparison as JSON.") var json = false
        @Flag(help: "Leave out the PSI (it reads every customer's propensities of both runs).") var noPsi = false
        func run() throws {
            try reportingErrors {
                let c = try RunCompare.compare(storePath: storeOptions.store, a: runA, b: runB, psi: !noPsi)
                print(json ? c.json.render() : c.text, terminator: "")
            }
        }
    }

    /// Deletes old runs.
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete all but the newest --keep runs (journal, kept lists and their files beside the store), in one transaction per run.")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "How many of the newest runs to keep.") var keep: Int = 7
        @Flag(help: "Delete only the runs kept by an earlier nextbest in the journal format this version does not read (listed as old-format), whatever --keep says.")
        var oldFormat = false
        func validate() throws { try OptionChecks.check("--keep", keep, 0...1_000_000) }
        func run() throws {
            try reportingErrors {
                let j = try RunsCommand.open(storeOptions.store, writable: true)
                let p = oldFormat ? try j.pruneOldFormat() : try j.prune(keep: keep)
                print("pruned \(p.runs) run(s) (\(p.records) records); kept \(p.kept)")
            }
        }
    }
}

/// `nextbest simulate --store DIR --from RUN_ID --campaign CHANGED.yaml --out DIR`: a what-if.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulate",
        abstract: "Optimize a kept run's population and scores under a changed campaign and compare, without writing to the store.")
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "The base run (16 hex digits; see `nextbest runs list`).") var from: String
    @Option(help: "The changed campaign (YAML or JSON), not imported.") var campaign: String
    @Option(help: "Where the simulated nba.csv, summary.json and comparison.json go.") var out: String
    @Option(help: "Threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @OptionGroup var logging: LogOptions

    func validate() throws { try OptionChecks.threads(threads) }

    func run() throws {
        try reportingErrors(logging.logFormat) {
            let id = try parseRunID(from, option: "--from")
            try OutputPlace.prepareDirectory(out, option: "--out")
            let r = try Simulation.run(storePath: storeOptions.store, from: id, campaignFile: campaign, outDir: out, threads: threads)
            print(SimulationTable.text(r.lines), terminator: "")
            print("wrote \(r.comparisonPath), \(r.run.nbaPath) and \(r.run.summaryPath); the store was not changed")
        }
    }
}

/// `nextbest rescore --store DIR --from RUN_ID --models ID... --out DIR`: after a model update.
struct RescoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rescore",
        abstract: "Rescore a kept run after models were re-imported: only their offers are scored again, the rest come from the run; the optimization starts from its prices. Writes nba.csv, summary.json and changes.csv.")
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "The run to rescore (16 hex digits; see `nextbest runs list`).") var from: String
    @Option(parsing: .upToNextOption, help: "The models that changed (any model whose version changed since the run is rescored too).") var models: [String] = []
    @Option(help: "The output directory.") var out: String
    @Option(help: "Local worker processes (default: the number of cores).") var workers: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Threads per worker (default: the cores shared out).") var threads: Int?
    @OptionGroup var rounds: RoundOptions
    @Option(help: "When a model changed since the run, find the prices on a fixed sample of at least this many customers first, from the run's, when there are twice as many (0: never; the same as `run`'s for the same output).")
    var presolveCustomers: Int = OptimizerSettings.standard.presolveCustomers
    @Option(help: "After the run, delete the kept runs beyond the newest N from the store (0 keeps every run).") var keepRuns: Int = Coordinator.Options.defaultKeepRuns
    @Flag(help: "Print only the output paths.") var quiet = false
    @OptionGroup var observability: ObservabilityOptions

    func validate() throws {
        try OptionChecks.localWorkers(workers, minimum: 1)
        try OptionChecks.threads(threads)
        try OptionChecks.presolveCustomers(presolveCustomers)
    }

    func run() throws {
        try reportingErrors(observability.logFormat) {
            let id = try parseRunID(from, option: "--from")
            try OutputPlace.prepareDirectory(out, option: "--out")
            let log = observability.logger(prefix: "nextbest: ", quiet: quiet)
            let metrics = RunMetrics()
            let server = try observability.serve(metrics.telemetry, run: metrics, log: log)
            defer { observability.finish(server) }
            var co = Coordinator.Options(bind: "tcp://127.0.0.1:*", storePath: storeOptions.store, outDir: out)
            co.settings = rounds.applied(to: co.settings)
            co.settings.presolveCustomers = presolveCustomers
            co.rescore = (id, models)
            co.keepRuns = max(0, keepRuns)
            co.liveProgress = !quiet && isatty(2) != 0 && observability.logFormat == .text
            co.metrics = metrics
            var lo = LocalCluster.Options(coordinator: co, workers: workers, threadsPerWorker: threads, executable: LocalCluster.currentExecutable)
            lo.logFormat = observability.logFormat
            let r = try LocalCluster.run(lo, logger: log)
            RunReport.print(r, quiet: quiet)
            print("changes: \(out)/changes.csv")
        }
    }
}
