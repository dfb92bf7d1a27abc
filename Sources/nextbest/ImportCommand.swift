import ArgumentParser
import Foundation
import NextBestCore
import NextBestStore

/// `nextbest import profiles|history|responses|model|campaign FILE --store DIR`, and `nextbest import served
/// --store DIR` (the responses `nextbest serve` recorded).
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import data into the store (each import is one transaction: all or nothing).",
        subcommands: [Profiles.self, History.self, Responses.self, Served.self, Model.self, CampaignFile.self]
    )

    struct Profiles: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import a profiles CSV: customer_id,region,segment,<feature>...")
        @Argument(help: "The CSV file (-: standard input; gzip data, such as FILE.csv.gz, is decompressed).") var file: String
        @Option(help: "Feature columns holding text (categories), a,b,c; at the store's first import (a column with any non-numeric value is categorical anyway).") var categorical: String?
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var logging: LogOptions
        func run() throws {
            let declared = (categorical ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if categorical != nil, declared.isEmpty || declared.contains(where: \.isEmpty) {
                throw ValidationError("--categorical: give column names separated by commas, none empty")
            }
            try reportingErrors(logging.logFormat) {
                let t = Date()
                let r = try Import.intoStore(storeOptions.store, guarding: "import profiles") { try ProfileImporter.run(file: file, store: $0, categorical: declared) }
                print("\(r) from \(file) in \(elapsed(t))")
            }
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import contact history: customer_id,offer_id,channel,date,outcome.")
        @Argument(help: "The CSV file (-: standard input; gzip data, such as FILE.csv.gz, is decompressed).") var file: String
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var logging: LogOptions
        func run() throws {
            try reportingErrors(logging.logFormat) {
                let t = Date()
                let r = try Import.intoStore(storeOptions.store, guarding: "import history") { try HistoryImporter.run(file: file, store: $0) }
                print("\(r) from \(file) in \(elapsed(t))")
            }
        }
    }

    /// The day's contacts and their outcomes, appended to the contact history (fatigue uses them in the
    /// next run). One transaction; importing the same file again adds nothing.
    struct Responses: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import the day's responses: customer_id,offer_id,channel,date,outcome (appended to the history; idempotent).")
        @Argument(help: "The CSV file (-: standard input; gzip data, such as FILE.csv.gz, is decompressed).") var file: String
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var logging: LogOptions
        func run() throws {
            try reportingErrors(logging.logFormat) {
                let t = Date()
                var r = try Import.intoStore(storeOptions.store, mustExist: true, guarding: "import responses") { try HistoryImporter.run(file: file, store: $0) }
                r.kind = "responses"
                print("\(r) from \(file) in \(elapsed(t))")
            }
        }
    }

    /// Folds into the contact history, in one transaction, the responses `nextbest serve` recorded that every
    /// kept run reads already (sequence number up to the smallest `servedThrough` of the kept runs), without a
    /// new data stamp: no kept run's reading changes, so `--resume`, `rescore --from` and `explain` still
    /// work. The others stay served (runs read them by sequence number; nothing is lost if this never runs).
    struct Served: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fold the responses recorded by `nextbest serve` that every kept run reads into the contact history (runs read them either way).")
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var logging: LogOptions
        func run() throws {
            try reportingErrors(logging.logFormat) {
                let t = Date()
                let a = try RunLock.ensureNoRun(storePath: storeOptions.store, what: "import served") {
                    try ResponseRecorder.foldForKeptRuns(store: try Store(path: storeOptions.store, mustExist: true))
                }
                print("folded \(a.responses) served response(s) into the contact history (\(a.alreadyThere) already there), those up to sequence number \(a.bound) that every kept run reads; \(a.remaining) stay served for the runs to come; in \(elapsed(t))")
            }
        }
    }

    struct Model: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import a propensity model (xgboost-json, xgboost-ubj, lightgbm or logistic-json; told from the content by default).")
        @Argument(help: "The model file (-: standard input; gzip data is decompressed).") var file: String
        @Option(help: "The model id offers refer to.") var id: String
        @Option(help: ArgumentHelp("auto (from the file's content), or one of: \(ModelFormat.allCases.map(\.rawValue).joined(separator: ", ")).")) var format: String = "auto"
        @Option(help: "The model's feature names in training order, a,b,c or @FILE (one a line): required when the model carries none, they replace its own.") var featureNames: String?
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var logging: LogOptions
        func validate() throws { _ = try ModelImportOptions.format(format) }
        func run() throws {
            try reportingErrors(logging.logFormat) {
                let fmt = try ModelImportOptions.format(format)
                let names = try ModelImportOptions.featureNames(featureNames)
                let (r, _) = try Import.intoStore(storeOptions.store) { try ModelImporter.run(file: file, id: id, format: fmt, featureNames: names, store: $0) }
                print("\(r) from \(file)")
            }
        }
    }

    struct CampaignFile: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "campaign", abstract: "Import a campaign (YAML or JSON).")
        @Argument(help: "The campaign file (-: standard input, read as YAML; gzip data is decompressed).") var file: String
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var logging: LogOptions
        func run() throws {
            try reportingErrors(logging.logFormat) {
                let (r, _) = try Import.intoStore(storeOptions.store) { try CampaignImporter.run(file: file, store: $0) }
                print("\(r) from \(file)")
            }
        }
    }

    /// Runs `body` with the store at `path` open for an import. When the import fails, what opening the
    /// store created is removed again (the store directory and any parents that did not exist): a refused
    /// file leaves no empty store behind.
    /// `guarding`: the import's name when it changes what a run reads shard by shard (profiles, contacts): it is
    /// refused while a run holds the store's `RunLock`.
    static func intoStore<T>(_ path: String, mustExist: Bool = false, guarding what: String? = nil, _ body: (Store) throws -> T) throws -> T {
        let created = outermostMissing(path)
        do {
            if let what { return try RunLock.ensureNoRun(storePath: path, what: what) { try body(try Store(path: path, mustExist: mustExist)) } }
            return try body(try Store(path: path, mustExist: mustExist))
        } catch {
            if let created { try? FileManager.default.removeItem(atPath: created) }
            throw error
        }
    }

    /// The outermost directory on the way to `path` that does not exist yet (what creating `path` with its
    /// parents creates), or nil when `path` exists.
    static func outermostMissing(_ path: String) -> String? {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        guard !FileManager.default.fileExists(atPath: url.path) else { return nil }
        while true {
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path || FileManager.default.fileExists(atPath: parent.path) { return url.path }
            url = parent
        }
    }
}
