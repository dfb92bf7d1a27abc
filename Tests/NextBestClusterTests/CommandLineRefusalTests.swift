import Foundation
import Testing
import NextBestCore
import NextBestStore
@testable import NextBestCluster

/// Bad options and unusable output places are refused before any work, in words (issue 21, items 14,
/// 15 and 16), by the `nextbest` binary itself.
@Suite struct CommandLineRefusalTests {
    /// Runs `nextbest args`; returns the exit status, standard error and the seconds it took.
    func nextbest(_ args: [String]) throws -> (status: Int32, stderr: String, seconds: Double) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        let t = Date()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text, Date().timeIntervalSince(t))
    }

    // item 16
    @Test(arguments: [
        (["run", "--shard-size", "0"], "--shard-size must be between 10 and"),
        (["run", "--workers=-1"], "--workers must be between 0 and"),
        (["run", "--workers", "1000"], "at most four local workers per core"),
        (["run", "--gap-tolerance", "nan"], "--gap-tolerance must be a number between 0.0 and 1.0, not nan"),
        (["run", "--threads", "0"], "--threads must be between 1 and"),
        (["run", "--max-rounds=-3"], "--max-rounds must be between 0 and"),
        (["run", "--metrics-port", "70000"], "--metrics-port must be between 0 and 65535"),
        (["run", "--metrics-address", "[::1]:99999"], "the port must be a number between 0 and 65535"),
        (["run", "--metrics-address", "[::1"], "'[' without a closing ']'"),
        (["run", "--metrics-address", "127.0.0.1:9464", "--metrics-port", "9465"], "disagree"),
        (["rescore", "--from", "0000000000000001", "--workers", "0"], "--workers must be between 1 and"),
        (["coordinator", "--bind", "tcp://127.0.0.1:0", "--heartbeat", "0"], "--heartbeat must be a number between 0.01"),
        (["coordinator", "--bind", "tcp://127.0.0.1:0", "--wait-timeout", "inf"], "--wait-timeout must be a number"),
        (["coordinator", "--bind", "tcp://127.0.0.1:0", "--min-workers", "0"], "--min-workers must be between 1 and"),
        (["coordinator", "--bind", "tcp://127.0.0.1:0", "--models", "m1"], "--models names the changed models of a rescore: give --rescore-from too"),
        (["coordinator", "--bind", "tcp://127.0.0.1:0", "--rescore-from", "0000000000000001", "--resume", "0000000000000002"], "--rescore-from starts a new run"),
        (["coordinator", "--bind", "tcp://127.0.0.1:0", "--rescore-from", "0000000000000001", "--no-warm-start"], "--no-warm-start is not for a rescore"),
        (["coordinator", "--bind", "tcp://127.0.0.1:0", "--rescore-from", "0000000000000001", "--served-through", "3"], "--served-through is not for a rescore"),
        (["coordinator", "--bind", "tcp://127.0.0.1:0", "--shard-size=-5"], "--shard-size must be between 10 and"),
        (["coordinator", "--bind", "tcp://127.0.0.1:0", "--max-rounds=-1"], "--max-rounds must be between 0 and"),
        (["rescore", "--from", "0000000000000001", "--gap-tolerance", "2"], "--gap-tolerance must be a number between 0.0 and 1.0"),
        // The instance is written from shards held in this process; the workers' are not exported.
        (["run", "--workers", "2", "--export-candidates", "/nonexistent-nextbest-export"], "--export-candidates writes the shards held in this process: add --workers 0"),
    ])
    func outOfRangeOptionsAreUsageErrors(args: [String], message: String) throws {
        let dir = ClusterFixtures.tempDir("opts")
        let r = try nextbest(args + ["--store", dir + "/store", "--out", dir + "/out"])
        #expect(r.status == 64, "exit \(r.status): \(r.stderr)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out") && !FileManager.default.fileExists(atPath: dir + "/store"))
    }

    /// `run`, `coordinator` and `rescore` take the optimizer's options from one option group, with the
    /// defaults of `OptimizerSettings.standard`.
    @Test func theOptimizerOptionsHaveOneSetOfDefaults() throws {
        let d = OptimizerSettings.standard
        func help(_ command: String) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
            p.arguments = [command, "--help"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            // Help text wraps: compare with the white space folded.
            return text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        let rounds = ["--max-rounds <max-rounds> Most price rounds of the optimizer. (default: \(d.maxRounds))",
                      "fraction. (default: \(d.gapTolerance))"]
        for command in ["run", "coordinator"] {
            let text = try help(command)
            for expected in rounds + ["--shard-size <shard-size> Customers per shard. (default: \(d.shardSize))",
                                      "(0: never). (default: \(d.presolveCustomers))"] {
                #expect(text.contains(expected), "\(command) --help: \(expected)")
            }
        }
        let rescore = try help("rescore")
        for expected in rounds { #expect(rescore.contains(expected), "rescore --help: \(expected)") }
        #expect(!rescore.contains("--shard-size"))
    }

    @Test func otherCommandsCheckTheirOptions() throws {
        let dir = ClusterFixtures.tempDir("opts")
        for (args, message) in [(["worker", "--connect", "tcp://127.0.0.1:1", "--threads", "0"], "--threads must be between 1"),
                                (["worker", "--connect", "tcp://127.0.0.1:1", "--coordinator-timeout", "nan"], "--coordinator-timeout must be a number"),
                                (["runs", "prune", "--keep=-1"], "--keep must be between 0 and"),
                                (["generate", "--features", "70000"], "--features must be between 12 and 4096")] {
            let r = try nextbest(args + ["--store", dir + "/store"])
            #expect(r.status == 64 && r.stderr.contains(message), "\(args): exit \(r.status): \(r.stderr)")
        }
    }

    // item 15
    @Test func unusableOutIsRefusedBeforeAnyWork() throws {
        let (_, path) = try ClusterFixtures.store()
        let file = ClusterFixtures.tempDir("o") + "/a-file"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        for workers in ["0", "1"] {
            let r = try nextbest(["run", "--store", path, "--out", file, "--workers", workers, "--no-warm-start", "--quiet"])
            #expect(r.status == 74 && r.stderr.contains("--out \(file): is a file, not a directory"), "\(r.stderr)")
            #expect(!r.stderr.contains("scor") && r.seconds < 5, "\(r.seconds) s: \(r.stderr)")
        }
        // A directory that cannot be created (procfs refuses every new file): worded, not NSCocoaErrorDomain.
        let r = try nextbest(["run", "--store", path, "--out", "/proc/nextbest-out/x", "--workers", "0", "--quiet"])
        #expect(r.status == 74 && r.stderr.contains("--out /proc/nextbest-out/x: cannot create the directory:"), "\(r.stderr)")
        #expect(!r.stderr.contains("NSCocoaErrorDomain") && !r.stderr.contains("Code="), "\(r.stderr)")
        let s = try nextbest(["score", "--store", path, "--model", "logit_all", "--out", ClusterFixtures.tempDir("o")])
        #expect(s.status == 74 && s.stderr.contains("is a directory, not a file"), "\(s.stderr)")
    }

    @Test func fileErrorsAreWorded() throws {
        let dir = ClusterFixtures.tempDir("w")
        try "x".write(toFile: dir + "/f", atomically: true, encoding: .utf8)
        do { try AtomicFile.write("y", to: dir + "/f/g/out.csv"); Issue.record("expected a refusal") } catch {
            #expect("\(error)" == "cannot write \(dir)/f/g/out.csv: cannot create its directory: \(dir)/f is a file, not a directory", "\(error)")
        }
        #expect(throws: OutputPlace.Unusable.self) { try OutputPlace.prepareDirectory(dir + "/f", option: "--out") }
    }

    // item 14: temporary files of a killed run are removed by the next one.
    @Test func staleTemporaryFilesAreRemovedByTheNextRun() throws {
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let out = ClusterFixtures.tempDir("stale")
        let stale = out + "/.nba.csv.tmp-\(dead.processIdentifier)"
        let live = out + "/.nba.csv.tmp-\(getpid())"
        for p in [stale, live] { FileManager.default.createFile(atPath: p, contents: Data()) }
        #expect(try OutputPlace.prepareDirectory(out, option: "--out") == [".nba.csv.tmp-\(dead.processIdentifier)"])
        #expect(!FileManager.default.fileExists(atPath: stale) && FileManager.default.fileExists(atPath: live))
    }
}

/// `run` stopped by a signal leaves nothing in the temporary directory (issue 21, item 14).
@Suite struct RunSignalTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func signalRemovesThePrivateDirectory(sig: Int32) throws {
        let (_, path) = try ClusterFixtures.store()
        // A short TMPDIR of its own (the socket path must fit in 108 bytes).
        let tmp = "/tmp/nbt-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        try FileManager.default.createDirectory(atPath: tmp + "/nextbest-\(dead.processIdentifier)-7", withIntermediateDirectories: false)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        p.arguments = ["run", "--store", path, "--out", ClusterFixtures.tempDir("sig"), "--workers", "1", "--no-warm-start", "--shard-size", "10"]
        p.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmp]) { _, b in b }
        p.standardOutput = FileHandle.nullDevice
        let log = tmp + "-stderr"
        FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        // A child inherits the spawning thread's signal mask: with the signal blocked here (test runners
        // may block it), it would stay pending in `run` instead of acting as it does under systemd.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, sig)
        var before = sigset_t()
        pthread_sigmask(SIG_UNBLOCK, &set, &before)
        defer { pthread_sigmask(SIG_SETMASK, &before, nil) }
        try p.run()
        // Once the workers are started (the private directory holds the socket), before they are done.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("started 1 local worker") { usleep(1_000) }
        let during = try FileManager.default.contentsOfDirectory(atPath: tmp)
        #expect(during.contains { $0.hasPrefix("nextbest-\(p.processIdentifier)-") }, "\(during)")
        kill(p.processIdentifier, sig)
        p.waitUntilExit()
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect((p.terminationReason == .uncaughtSignal && p.terminationStatus == sig) || (p.terminationReason == .exit && p.terminationStatus == 128 + sig),
                "\(p.terminationReason) \(p.terminationStatus): \(stderr)")
        #expect(!stderr.contains("finished") && !stderr.contains("wrote "), "the run ended before the signal: \(stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: tmp)
        #expect(left == [], "left: \(left)")
    }
}
