import Foundation
import Testing
import NextBestCore
@testable import NextBestStore
@testable import NextBestCluster
import NextBestSynthetic
import NextBestWire

/// Served responses read by sequence number (issue 26): each run's plan keeps the last sequence number given
/// when it was planned and reads the history merged with the responses served up to it; `--resume`,
/// `rescore --from` and `import served` never change what a kept run reads.
@Suite(.serialized) struct ServedSequenceTests {
    let cli = InspectExportTests()
    let h = ClusterProcessTests()

    /// Records `outcome` responses of `customer` to `offer` by `channel` on each of `dates`, then closes the store.
    func record(_ store: String, _ customer: UInt64, _ offer: String, _ channel: String, dates: [String], tag: String,
                outcome: String = "ignored") throws {
        let s = try Store(path: store, mustExist: true)
        for (i, d) in dates.enumerated() {
            let r = ResponseRecorder.Response(customer: customer, offer: offer, channel: channel, outcome: outcome, date: d, eventID: "\(tag)-\(i)")
            _ = try ResponseRecorder.record(r, store: s)
        }
    }

    /// nba.csv's rows by customer: (offer, channel) in rank order.
    func lists(_ csv: String) -> [UInt64: [(offer: String, channel: String)]] {
        var out: [UInt64: [(String, String)]] = [:]
        for line in csv.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",")
            out[UInt64(f[0])!, default: []].append((String(f[2]), String(f[3])))
        }
        return out
    }

    func nba(_ dir: String) throws -> String { try String(contentsOfFile: dir + "/nba.csv", encoding: .utf8) }

    func summary(_ dir: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
    }

    /// A run with one local worker over shards of 64 (as `storeWithRun`), its output directory.
    func run(_ store: String, extra: [String] = []) throws -> String {
        let out = ClusterFixtures.tempDir("srun")
        let r = try cli.nextbest(["run", "--store", store, "--out", out, "--workers", "1", "--shard-size", "64", "--no-warm-start", "--quiet"] + extra)
        #expect(r.status == 0, "\(r.err)")
        return out
    }

    func rescore(_ store: String, from run: String) throws -> String {
        let out = ClusterFixtures.tempDir("sre")
        let r = try cli.nextbest(["rescore", "--store", store, "--from", run, "--models", "logit_all", "--out", out, "--workers", "1", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        return out
    }

    func fingerprint(_ store: String) throws -> String { try cli.nextbest(["fingerprint", "--store", store]).out }

    /// Two customers with offers in `csv` and the top (offer, channel) of each.
    func twoCustomers(_ csv: String) throws -> [(id: UInt64, offer: String, channel: String)] {
        let l = lists(csv)
        let ids = l.keys.sorted()
        #expect(ids.count >= 2)
        return [ids[0], ids[ids.count / 2]].map { ($0, l[$0]![0].offer, l[$0]![0].channel) }
    }

    func has(_ csv: String, _ c: (id: UInt64, offer: String, channel: String)) -> Bool {
        lists(csv)[c.id]?.contains { $0.offer == c.offer } ?? false
    }

    @Test func aRunReadsTheResponsesServedBeforeItsPlanAndARescoreFromItIgnoresLaterOnes() throws {
        let (store, outA, runA) = try cli.storeWithRun()
        let nbaA = try nba(outA)
        let c = try twoCustomers(nbaA)
        // Fixture campaign: fatigue at 2 ignored within 90 days of 2026-11-23.
        try record(store, c[0].id, c[0].offer, c[0].channel, dates: ["2026-11-20", "2026-11-21"], tag: "a")
        let stamp = try fingerprint(store)
        let outB = try run(store)
        let runB = try #require(try summary(outB)["run_id"] as? String)
        #expect(try summary(outB)["served_responses_through"] as? Int == 2)
        let nbaB = try nba(outB)
        #expect(has(nbaA, c[0]) && !has(nbaB, c[0]), "run B's fatigue saw the two responses served before it")
        #expect(has(try nba(outB), c[1]))
        #expect(try fingerprint(store) == stamp, "a run does not move served responses into the history")
        let before = try rescore(store, from: runB)
        // Responses served after run B: a rescore from B still starts and reads what B read.
        try record(store, c[1].id, c[1].offer, c[1].channel, dates: ["2026-11-20", "2026-11-21"], tag: "b")
        let after = try rescore(store, from: runB)
        #expect(try nba(after) == nba(before))
        #expect(try summary(after)["served_responses_through"] as? Int == 2)
        #expect(has(try nba(after), c[1]))
        // explain of run B reads B's contacts: the offer of the second customer is still eligible.
        func fatigued(_ c: (id: UInt64, offer: String, channel: String)) throws -> Bool {
            let e = try cli.nextbest(["explain", "--store", store, "--run", runB, "--customer", "\(c.id)"])
            #expect(e.status == 0, "\(e.err)")
            return e.out.split(separator: "\n").contains { $0.split(separator: " ").first.map(String.init) == c.offer && $0.contains("not eligible: ignored") }
        }
        #expect(try !fatigued(c[1]) && fatigued(c[0]))
        // Run A (bound 0) is kept: `import served` folds nothing, and says so.
        let folded = try cli.nextbest(["import", "served", "--store", store])
        #expect(folded.status == 0 && folded.out.contains("folded 0 served response(s)") && folded.out.contains("4 stay served"), "\(folded.out)")
        // The next run reads all four.
        let outC = try run(store)
        let nbaC = try nba(outC)
        #expect(!has(nbaC, c[0]) && !has(nbaC, c[1]))
        #expect(try summary(outC)["served_responses_through"] as? Int == 4)
        _ = runA
    }

    @Test func importServedFoldsUpToTheSmallestKeptBoundAndKeepsTheStamp() throws {
        let (store, outA, _) = try cli.storeWithRun()
        let c = try twoCustomers(try nba(outA))
        try record(store, c[0].id, c[0].offer, c[0].channel, dates: ["2026-11-20", "2026-11-21"], tag: "a")
        // Run B keeps itself only: the smallest bound kept is B's, 2.
        let outB = try run(store, extra: ["--keep-runs", "1"])
        let runB = try #require(try summary(outB)["run_id"] as? String)
        try record(store, c[1].id, c[1].offer, c[1].channel, dates: ["2026-11-20", "2026-11-21"], tag: "b")
        let before = try rescore(store, from: runB)
        let stamp = try fingerprint(store)
        let contacts = try { () throws -> Int in
            let s = try Store(path: store, readOnly: true)
            return try ResponseRecorder.contacts(store: s, customer: c[0].id, through: 0).count
        }()
        let folded = try cli.nextbest(["import", "served", "--store", store])
        #expect(folded.status == 0 && folded.out.contains("folded 2 served response(s)") && folded.out.contains("2 stay served"), "\(folded.out)")
        #expect(try fingerprint(store) == stamp, "folding does not renew the data stamp")
        do {
            let s = try Store(path: store, readOnly: true)
            #expect(try ResponseRecorder.pending(store: s).map(\.sequence) == [3, 4])
            #expect(try ResponseRecorder.contacts(store: s, customer: c[0].id, through: 0).count == contacts + 2)
            #expect(try ResponseRecorder.foldedThrough(store: s) == 2)
        }
        // `nextbest inspect` counts the responses still served apart and the last sequence number given.
        let inspect = try cli.nextbest(["inspect", "--store", store, "--json"])
        let counts = (try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [String: Any])?["counts"] as? [String: Any]
        #expect(counts?["served_responses"] as? Int == 2 && counts?["served_sequence"] as? Int == 4, "\(inspect.out)")
        // Nothing a kept run reads changed: a rescore from B still starts and gives the same lists.
        let after = try rescore(store, from: runB)
        #expect(try nba(after) == nba(before))
        let nbaAfter = try nba(after)
        #expect(!has(nbaAfter, c[0]) && has(nbaAfter, c[1]))
    }

    @Test func anIdenticalContactInTheHistoryAndServedCountsOnce() throws {
        let (s1, outA, _) = try cli.storeWithRun()
        let s2 = try ClusterFixtures.store().1
        // A customer with no contact yet with its top offer.
        var pick: (id: UInt64, offer: String, channel: String)? = nil
        for (id, l) in lists(try nba(outA)).sorted(by: { $0.key < $1.key }) where try ignored(s1, id, l[0].offer) == 0 {
            pick = (id, l[0].offer, l[0].channel)
            break
        }
        let c = try #require(pick)
        // One ignored contact in the history of both stores (fatigue is at 2)…
        let file = ClusterFixtures.tempDir("hist") + "/history.csv"
        try "customer_id,offer_id,channel,date,outcome\n\(c.id),\(c.offer),\(c.channel),2026-11-20,ignored\n".write(toFile: file, atomically: true, encoding: .utf8)
        for s in [s1, s2] { #expect(try cli.nextbest(["import", "history", file, "--store", s]).status == 0) }
        // …and served twice more into the first, identical to it (two event ids).
        try record(s1, c.id, c.offer, c.channel, dates: ["2026-11-20"], tag: "same")
        try record(s1, c.id, c.offer, c.channel, dates: ["2026-11-20"], tag: "again")
        let one = try run(s1), two = try run(s2)
        #expect(try summary(one)["served_responses_through"] as? Int == 2)
        #expect(try nba(one) == nba(two), "counted once, as the history holds an identical contact once")
        #expect(has(try nba(one), c))
        // Serve's page shows the contact once too.
        do {
            let s = try Store(path: s1, readOnly: true)
            #expect(try ResponseRecorder.contacts(store: s, customer: c.id, through: .max).count
                    == ResponseRecorder.contacts(store: s, customer: c.id, through: 0).count)
        }
    }

    /// The contacts of `customer` with `offer` in the store's history.
    func ignored(_ store: String, _ customer: UInt64, _ offer: String) throws -> Int {
        let s = try Store(path: store, readOnly: true)
        return try ResponseRecorder.contacts(store: s, customer: customer, through: 0).filter { v in
            v.withUnsafeBytes { b in HistoryCodec.decode(b).map { String(decoding: $0.offerID, as: UTF8.self) == offer } ?? false }
        }.count
    }

    /// A store of 3,000 generated customers of its own (responses are recorded in it).
    func generatedStore() throws -> String {
        let dir = ClusterFixtures.tempDir("sgen")
        let gen = PopulationGenerator(customers: 3_000, offers: 12, seed: 11, trees: 10, depth: 3)
        _ = try BankWriter.write(gen, storePath: dir + "/store", filesDir: dir + "/files", threads: 2)
        return dir + "/store"
    }

    /// Three dates within the campaign's fatigue window (its limit is 2 or 3 ignored).
    func recentDates(_ store: String) throws -> [String] {
        let end = try Store(path: store, readOnly: true).scoringPlan().campaign.runDate.daysSinceEpoch
        return (1...3).map { CalendarDay(daysSinceEpoch: end - Int32($0)).description }
    }

    @Test(arguments: ["coordinator.scored:4", "coordinator.written:4"])
    func aResumedRunReadsTheResponsesOfItsPlanOnly(failpoint: String) throws {
        let store = try generatedStore()
        let dates = try recentDates(store)
        let c = try twoCustomers(try h.oneProcess(store))
        try record(store, c[0].id, c[0].offer, c[0].channel, dates: dates, tag: "a")
        // The uninterrupted run from the same start: it reads the three responses served before it.
        let reference = try h.oneProcess(store)
        #expect(!has(reference, c[0]) && has(reference, c[1]))
        let resume = CoordinatorResumeTests()
        let endpoint = try resume.freeEndpoint()
        let out = ClusterFixtures.tempDir("sres")
        let (first, firstErr) = try resume.coordinator(endpoint, store: store, out: out, extra: [], failpoint: failpoint)
        let workers = try (0..<2).map { _ in try h.startWorker(connect: endpoint, store: store, once: false, extra: ["--heartbeat", "0.1"]) }
        first.waitUntilExit()
        let said = String(decoding: firstErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(first.terminationReason == .uncaughtSignal, "the first coordinator was not killed: \(said)")
        let runID = try #require(said.split(separator: "\n").compactMap { line -> String? in
            guard let r = line.range(of: "coordinator: run ") else { return nil }
            return String(line[r.upperBound...].prefix(16))
        }.first)
        // Responses served while the run is down, then folded: the run kept has bound 3, so 1…3 are folded.
        try record(store, c[1].id, c[1].offer, c[1].channel, dates: dates, tag: "b")
        let stamp = try fingerprint(store)
        let folded = try cli.nextbest(["import", "served", "--store", store])
        #expect(folded.out.contains("folded 3 served response(s)") && folded.out.contains("3 stay served"), "\(folded.out) \(folded.err)")
        #expect(try fingerprint(store) == stamp)
        let (second, secondErr) = try resume.coordinator(endpoint, store: store, out: out, extra: ["--resume", runID], failpoint: nil)
        second.waitUntilExit()
        let said2 = String(decoding: secondErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        for w in workers { w.terminate(); w.waitUntilExit() }
        #expect(second.terminationStatus == 0, "resume failed: \(said2)")
        #expect(try nba(out) == reference, "the resumed run read the responses of its plan only")
        #expect(try summary(out)["served_responses_through"] as? Int == 3)
        // A new run reads the later ones too.
        #expect(!has(try h.oneProcess(store), c[1]))
    }

    @Test func aWorkerWhoseStoreLacksTheRunsResponsesIsRefused() throws {
        let (store, outA, _) = try cli.storeWithRun()
        let copy = ClusterFixtures.tempDir("scopy") + "/store"
        #expect(try cli.nextbest(["worker-copy", "--store", store, "--to", copy]).status == 0)
        let c = try twoCustomers(try nba(outA))[0]
        try record(store, c.id, c.offer, c.channel, dates: ["2026-11-20"], tag: "late")
        #expect(try fingerprint(store) == fingerprint(copy), "a served response does not change the fingerprint")
        let out = ClusterFixtures.tempDir("sref")
        let log = ClusterProcessTests.Lines()
        let (coordinator, wait) = try h.startCoordinator(store: store, out: out, shardSize: 64, log: log)
        let pipe = Pipe()
        let stale = try h.startWorker(connect: coordinator.endpoint, store: copy, stderr: pipe)
        stale.waitUntilExit()
        let said = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stale.terminationStatus != 0)
        #expect(said.contains(copy) && said.contains("up to sequence number 0, the run reads them up to 1") && said.contains("worker-copy"),
                "worker said: \(said)")
        #expect(said.contains("refused"))
        #expect(log.contains("refused worker"))
        let good = try h.startWorker(connect: coordinator.endpoint, store: store)
        let r = try wait()
        good.waitUntilExit()
        #expect(r.summary.contains("\"served_responses_through\": 1"))
        #expect(r.summary.contains("\"workers_refused\": 1"))
    }

    @Test func aCoordinatorBoundToTheShippedSequenceScoresWithTheCopies() throws {
        let (store, outA, _) = try cli.storeWithRun()
        let c = try twoCustomers(try nba(outA))
        try record(store, c[0].id, c[0].offer, c[0].channel, dates: ["2026-11-20", "2026-11-21"], tag: "a")
        let shipped = try cli.nextbest(["fingerprint", "--store", store, "--served-sequence"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(shipped == "2")
        let copy = ClusterFixtures.tempDir("scopy") + "/store"
        #expect(try cli.nextbest(["worker-copy", "--store", store, "--to", copy]).status == 0)
        // Served after the ship: the copies lack them.
        try record(store, c[1].id, c[1].offer, c[1].channel, dates: ["2026-11-20", "2026-11-21"], tag: "b")
        do {
            let (_, wait) = try h.startCoordinator(store: store, out: ClusterFixtures.tempDir("spast"), shardSize: 64) { $0.servedThrough = 5 }
            #expect { _ = try wait() } throws: { "\($0)".contains("--served-through 5 is past the last response served on this store (sequence number 4)") }
        }
        let out = ClusterFixtures.tempDir("sship")
        let (coordinator, wait) = try h.startCoordinator(store: store, out: out, shardSize: 64) { $0.servedThrough = 2 }
        let worker = try h.startWorker(connect: coordinator.endpoint, store: copy)
        let r = try wait()
        worker.waitUntilExit()
        #expect(worker.terminationStatus == 0)
        #expect(r.summary.contains("\"served_responses_through\": 2"))
        let lists = try nba(out)
        #expect(!has(lists, c[0]) && has(lists, c[1]))
    }

    /// A HELLO older than the responses a store shared with the coordinator holds is not refused at once: the
    /// worker's next HELLO counts them.
    @Test func aStaleHelloIsNotRefusedWhenTheNextOneHoldsTheResponses() throws {
        let (store, outA, _) = try cli.storeWithRun()
        let c = try twoCustomers(try nba(outA))[0]
        try record(store, c.id, c.offer, c.channel, dates: ["2026-11-20"], tag: "a")
        let fp = try RunContext(storePath: store).fingerprint.digest
        let (coordinator, wait) = try h.startCoordinator(store: store, out: ClusterFixtures.tempDir("sstale"), shardSize: 64)
        let ctx = try ZMQContext()
        let peer = try ctx.socket(.dealer)
        try peer.setLinger(0)
        try peer.connect(coordinator.endpoint)
        func answer(within ms: Int) throws -> WireMessage? {
            let end = Date().addingTimeInterval(Double(ms) / 1000)
            while Date() < end {
                guard try peer.poll(timeoutMs: 50), let f = try peer.receive()?.last else { continue }
                let m = try WireMessage.decode(f)
                if case .heartbeat = m { continue }
                return m
            }
            return nil
        }
        try peer.send([WireMessage.hello(workerID: "stale", software: "test", cores: 1, fingerprint: fp, served: 0).encode()])
        #expect(try answer(within: 500) == nil, "a first HELLO lacking responses is not answered")
        try peer.send([WireMessage.hello(workerID: "stale", software: "test", cores: 1, fingerprint: fp, served: 1).encode()])
        let m = try answer(within: 5_000)
        guard case .welcome = m else { Issue.record("no WELCOME: \(String(describing: m))"); return }
        try peer.send([WireMessage.bye.encode()])
        peer.close()
        let worker = try h.startWorker(connect: coordinator.endpoint, store: store)
        let r = try wait()
        worker.waitUntilExit()
        #expect(r.summary.contains("\"workers_refused\": 0"))
    }

    /// A worker welcomed before it is given a shard of a run reading responses its store lacks says BYE and
    /// stops, naming its store, its sequence number and the run's.
    @Test func aWorkerGivenAShardReadingResponsesItLacksLeaves() throws {
        let (store, _, _) = try cli.storeWithRun()
        let ctx = try ZMQContext()
        let router = try ctx.socket(.router)
        try router.setLinger(0)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()
        let pipe = Pipe()
        let worker = try h.startWorker(connect: endpoint, store: store, stderr: pipe)
        func next(_ what: String) throws -> (id: [UInt8], message: WireMessage) {
            let end = Date().addingTimeInterval(20)
            while Date() < end {
                guard try router.poll(timeoutMs: 50), let f = try router.receive(), f.count == 2 else { continue }
                let m = try WireMessage.decode(f[1])
                if case .heartbeat = m { continue }
                return (f[0], m)
            }
            throw ClusterError.runRefused("no \(what) from the worker")
        }
        let (id, hello) = try next("HELLO")
        guard case let .hello(_, _, _, _, _, served, _) = hello else { Issue.record("not a HELLO: \(hello)"); return }
        #expect(served == 0)
        try router.send([id, WireMessage.welcome(coordinatorID: "test").encode()])
        try router.send([id, WireMessage.assign(run: 7, shard: 0, attempt: 1, lower: 0, upper: nil, served: 5).encode()])
        let (_, bye) = try next("BYE")
        #expect(bye == .bye)
        worker.waitUntilExit()
        router.close()
        let said = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(worker.terminationStatus != 0)
        #expect(said.contains("store \(store) holds the responses served up to sequence number 0, the run reads them up to 5"), "worker said: \(said)")
    }
}
