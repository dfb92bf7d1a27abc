import Foundation
import Synchronization
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NextBestCore
@testable import NextBestStore
@testable import NextBestServe

/// `nextbest serve` (issue 26): lookups equal the run's nba.csv rows, responses are recorded once per
/// event id with the same checks as `import responses` and reach the next run's fatigue, tokens and roles
/// hold, the served run switches whole while lookups go on, and the HTTP server answers over a socket.
@Suite struct ServeTests {
    let cli = InspectExportTests()

    /// nba.csv rows by customer, as text after the customer id.
    func rowsByCustomer(_ out: String) throws -> [UInt64: [String]] {
        var rows: [UInt64: [String]] = [:]
        for line in try String(contentsOfFile: out + "/nba.csv", encoding: .utf8).split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", maxSplits: 1)
            rows[UInt64(f[0])!, default: []].append(String(f[1]))
        }
        return rows
    }

    /// A lookup's rows in nba.csv's form (`rank,offer,channel,propensity,expected_value`) and its run id.
    func lookup(_ router: ServeRouter, _ id: UInt64, token: String? = nil) throws -> (status: Int, run: String?, rows: [String]) {
        let r = router.handle(ServeRequest(method: "GET", uri: "/v1/customers/\(id)/nba", authorization: token.map { "Bearer \($0)" }))
        let object = try JSONSerialization.jsonObject(with: Data(r.body)) as! [String: Any]
        let list = (object["nba"] as? [[String: Any]]) ?? []
        // Numbers are compared as printed: JSONSerialization would round them, so take them from the body text.
        let text = String(decoding: r.body, as: UTF8.self)
        let printed = text.components(separatedBy: "\"propensity\":").dropFirst().map { part -> (String, String) in
            let p = part.prefix { $0 != "," }
            let v = part.components(separatedBy: "\"expected_value\":")[1].prefix { $0 != "}" }
            return (String(p), String(v))
        }
        let rows = list.enumerated().map { i, e in "\(e["rank"]!),\(e["offer_id"]!),\(e["channel"]!),\(printed[i].0),\(printed[i].1)" }
        return (r.status, object["run_id"] as? String, rows)
    }

    func post(_ router: ServeRouter, _ id: String, _ body: String, token: String? = nil) throws -> (status: Int, json: [String: Any]) {
        let r = router.handle(ServeRequest(method: "POST", uri: "/v1/customers/\(id)/responses", authorization: token.map { "Bearer \($0)" }, body: Array(body.utf8)))
        return (r.status, try JSONSerialization.jsonObject(with: Data(r.body)) as! [String: Any])
    }

    @Test func lookupsAreTheRunsRowsAndUnknownCustomersAre404() throws {
        let (store, out, run) = try cli.storeWithRun()
        let want = try rowsByCustomer(out)
        let router = ServeRouter(state: try ServingState(storePath: store), tokens: nil)
        for (id, rows) in want {
            let got = try lookup(router, id)
            #expect(got.status == 200 && got.run == run)
            #expect(got.rows == rows, "customer \(id)")
        }
        #expect(try lookup(router, 1).status == 404)
        #expect(router.handle(ServeRequest(method: "GET", uri: "/v1/customers/abc/nba")).status == 400)
        #expect(router.handle(ServeRequest(method: "GET", uri: "/v2/nothing")).status == 404)
        #expect(String(decoding: router.handle(ServeRequest(method: "GET", uri: "/healthz")).body, as: UTF8.self).contains(run))
        #expect(String(decoding: router.handle(ServeRequest(method: "GET", uri: "/metrics")).body, as: UTF8.self)
            .contains("nextbest_serve_requests_total{route=\"lookup\",status=\"200\"} \(want.count)"))
    }

    @Test func responsesAreRecordedOnceCheckedAndSeenByTheNextRunsFatigue() throws {
        let (store, out, run) = try cli.storeWithRun()
        let before = try rowsByCustomer(out)
        // A customer and its top offer, ignored twice (the campaign's fatigue: 2 ignored in 90 days).
        let (id, rows) = before.min { $0.key < $1.key }!
        let top = rows[0].split(separator: ",")
        let offer = String(top[1]), channel = String(top[2])
        do {
            let router = ServeRouter(state: try ServingState(storePath: store), tokens: nil)
            func body(_ date: String, _ event: String, outcome: String = "ignored") -> String {
                "{\"offer_id\":\"\(offer)\",\"channel\":\"\(channel)\",\"outcome\":\"\(outcome)\",\"date\":\"\(date)\",\"event_id\":\"\(event)\"}"
            }
            let first = try post(router, "\(id)", body("2026-11-20", "ev-1"))
            #expect(first.status == 201 && first.json["sequence"] as? Int == 1)
            let again = try post(router, "\(id)", body("2026-11-20", "ev-1"))
            #expect(again.status == 200 && again.json["recorded"] as? Bool == false && again.json["sequence"] as? Int == 1)
            #expect(try post(router, "\(id)", body("2026-11-19", "ev-1")).status == 409)
            let bad = try post(router, "\(id)", body("2026-11-21", "ev-2", outcome: "maybe"))
            #expect(bad.status == 400 && bad.json["field"] as? String == "outcome")
            #expect(try post(router, "\(id)", body("2026-13-01", "ev-3")).json["field"] as? String == "date")
            #expect(try post(router, "\(id)", "{\"offer_id\":\"\(offer)\"}").json["field"] as? String == "channel")
            #expect(try post(router, "\(id)", "not json").status == 400)
            #expect(try post(router, "1", body("2026-11-21", "ev-4")).status == 404)
            let second = try post(router, "\(id)", body("2026-11-21", "ev-5"))
            #expect(second.status == 201 && second.json["sequence"] as? Int == 2)
            #expect(try ResponseRecorder.lastSequence(store: router.state.store) == 2)
            // Served, by sequence number: the history, the fingerprint and the data stamp are as they were; the
            // customer's contacts show them first.
            #expect(try ResponseRecorder.pending(store: router.state.store).map(\.sequence) == [1, 2])
            #expect(try router.state.contacts(of: id).prefix(2).map(\.0) == ["2026-11-21", "2026-11-20"])
        }
        let stamp = try cli.nextbest(["fingerprint", "--store", store]).out
        #expect(!stamp.isEmpty)
        // So a rescore of the run served from still starts (a changed data stamp would refuse it).
        let re = try cli.nextbest(["rescore", "--store", store, "--from", run, "--models", "logit_all", "--out", ClusterFixtures.tempDir("re"), "--workers", "1", "--quiet"])
        #expect(re.status == 0, "\(re.err)")
        // The next run sees the two ignored contacts: that offer is no longer in the customer's list.
        let out2 = ClusterFixtures.tempDir("run2")
        let r = try cli.nextbest(["run", "--store", store, "--out", out2, "--workers", "1", "--no-warm-start"])
        #expect(r.status == 0, "\(r.err)")
        #expect(try cli.nextbest(["fingerprint", "--store", store]).out == stamp, "a run reads served responses where they are: the data stamp stays")
        #expect((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out2 + "/summary.json"))) as? [String: Any])?["served_responses_through"] as? Int == 2)
        // The first run and the rescore (bound 0) are kept: nothing is folded.
        let folded = try cli.nextbest(["import", "served", "--store", store]).out
        #expect(folded.contains("folded 0 served response(s)") && folded.contains("2 stay served"), "\(folded)")
        let after = try rowsByCustomer(out2)[id] ?? []
        #expect(!after.contains { $0.split(separator: ",")[1] == offer }, "\(after)")
        #expect(before[id]!.contains { $0.split(separator: ",")[1] == offer })
    }

    @Test func tokensAndRoles() throws {
        let (store, out, _) = try cli.storeWithRun()
        let id = try rowsByCustomer(out).keys.min()!
        let reader = String(repeating: "r", count: 20), recorder = String(repeating: "w", count: 20)
        let tokens = try AccessTokens(text: "# tokens\nread \(reader)\n\nrecord \(recorder)\n", path: "tokens")
        let router = ServeRouter(state: try ServingState(storePath: store), tokens: tokens)
        let body = "{\"offer_id\":\"x\",\"channel\":\"email\",\"outcome\":\"accepted\",\"date\":\"2026-11-20\",\"event_id\":\"t-1\"}"
        #expect(try lookup(router, id).status == 401)
        #expect(try lookup(router, id, token: "nope-nope-nope-nope").status == 401)
        #expect(try lookup(router, id, token: reader).status == 200)
        #expect(try lookup(router, id, token: recorder).status == 200)
        #expect(try post(router, "\(id)", body).status == 401)
        #expect(try post(router, "\(id)", body, token: reader).status == 403)
        #expect(try post(router, "\(id)", body, token: recorder).status == 201)
        #expect(throws: AccessTokens.Failure.badLine(path: "t", line: 2, reason: "expected a role (read or record) and a token")) {
            try AccessTokens(text: "read \(reader)\nadmin \(recorder)\n", path: "t")
        }
        #expect(throws: AccessTokens.Failure.self) { try AccessTokens(text: "read short\n", path: "t") }
    }

    @Test func theServedRunSwitchesWholeWhileLookupsGoOn() throws {
        let (store, out, runA) = try cli.storeWithRun()
        let rowsA = try rowsByCustomer(out)
        let state = try ServingState(storePath: store)
        let router = ServeRouter(state: state, tokens: nil)
        let ids = Array(rowsA.keys.sorted().prefix(40))
        // A second run with another campaign budget, so lists differ.
        let campaign = try String(contentsOfFile: ClusterFixtures.root + "/campaign_small.yaml", encoding: .utf8)
        let changed = ClusterFixtures.tempDir("c") + "/campaign.yaml"
        try campaign.replacingOccurrences(of: "max_offers: 2", with: "max_offers: 1").write(toFile: changed, atomically: true, encoding: .utf8)
        #expect(try cli.nextbest(["import", "campaign", changed, "--store", store]).status == 0)
        let outB = ClusterFixtures.tempDir("runB")
        let stop = Mutex(false)
        let seen = Mutex<[String: Int]>([:])
        let mixed = Mutex<[String]>([])
        let rowsB = Mutex<[UInt64: [String]]?>(nil)
        let group = DispatchGroup()
        // Threads of their own (the test runner keeps Dispatch's pool busy), each signalling once it has
        // looked up under run A, so run B starts while lookups are going on.
        let started = DispatchSemaphore(value: 0)
        for t in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                var i = t
                while !stop.withLock({ $0 }) || i < 2 * ids.count {
                    if i == t + 1 { started.signal() }
                    let id = ids[i % ids.count]; i += 1
                    guard let got = try? lookup(router, id), let run = got.run else { mixed.withLock { $0.append("no answer for \(id)") }; continue }
                    seen.withLock { $0[run, default: 0] += 1 }
                    if run == runA {
                        if got.rows != rowsA[id] ?? [] { mixed.withLock { $0.append("\(id) under \(run): \(got.rows)") } }
                    } else if let b = rowsB.withLock({ $0 }) {
                        if got.rows != b[id] ?? [] { mixed.withLock { $0.append("\(id) under \(run): \(got.rows)") } }
                    }
                }
            }.start()
        }
        #expect(started.wait(timeout: .now() + 60) == .success && started.wait(timeout: .now() + 60) == .success)
        let r = try cli.nextbest(["run", "--store", store, "--out", outB, "--workers", "1", "--no-warm-start", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        rowsB.withLock { $0 = try? rowsByCustomer(outB) }
        let switched = try #require(try state.refresh())
        stop.withLock { $0 = true }
        group.wait()
        #expect(mixed.withLock { $0 }.isEmpty, "\(mixed.withLock { $0 }.prefix(5))")
        let runB = RunRepository.name(switched.run)
        #expect(runB != runA)
        for id in ids { #expect(try lookup(router, id).run == runB && lookup(router, id).rows == (rowsB.withLock { $0 }![id] ?? [])) }
        #expect(rowsB.withLock { $0 }! != rowsA)
        #expect(seen.withLock { $0[runA] ?? 0 } > 0, "\(seen.withLock { $0 }), run A \(runA)")
    }

    @Test func theServerAnswersOverHTTPWithKeepAlive() throws {
        let (store, out, run) = try cli.storeWithRun()
        let id = try rowsByCustomer(out).keys.min()!
        let server = try ServeServer(host: "127.0.0.1", port: 0, threads: 1, router: ServeRouter(state: try ServingState(storePath: store), tokens: nil))
        defer { server.stop() }
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<(Int, String)>((0, ""))
        let task = URLSession.shared.dataTask(with: URL(string: "http://127.0.0.1:\(server.port)/v1/customers/\(id)/nba")!) { data, response, _ in
            result.withLock { $0 = ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data ?? Data(), as: UTF8.self)) }
            done.signal()
        }
        task.resume()
        #expect(done.wait(timeout: .now() + 10) == .success)
        let (status, body) = result.withLock { $0 }
        #expect(status == 200 && body.contains("\"run_id\":\"\(run)\""))
    }
}

/// The branch page's routes without a browser (Tests/serve/check drives it in Chromium): Basic sign-in with
/// the token as the password, the lookup shown, the form's answer recorded and redirected back; and a
/// lookup with `?explain=1` carries `nextbest explain`'s JSON.
@Suite struct ServePageTests {
    let cli = InspectExportTests()

    @Test func thePageLooksUpRecordsAndExplains() throws {
        let (store, out, run) = try cli.storeWithRun()
        let first = try String(contentsOfFile: out + "/nba.csv", encoding: .utf8).split(separator: "\n")[1].split(separator: ",")
        let id = String(first[0]), offer = String(first[2]), channel = String(first[3])
        let reader = String(repeating: "r", count: 20), recorder = String(repeating: "w", count: 20)
        let router = ServeRouter(state: try ServingState(storePath: store), tokens: try AccessTokens(text: "read \(reader)\nrecord \(recorder)\n", path: "t"))
        func basic(_ token: String) -> String { "Basic " + Data("branch:\(token)".utf8).base64EncodedString() }
        let challenge = router.handle(ServeRequest(method: "GET", uri: "/?customer=\(id)"))
        #expect(challenge.status == 401 && challenge.headers.contains { $0.0 == "WWW-Authenticate" && $0.1.hasPrefix("Basic") })
        let page = router.handle(ServeRequest(method: "GET", uri: "/?customer=\(id)", authorization: basic(reader)))
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(page.status == 200 && html.contains("1. \(offer) <span class=\"muted\">by \(channel)</span>") && html.contains(run))
        #expect(!html.contains("<form class=\"record\""), "a read token sees no record form")
        let form = "offer_id=\(offer)&channel=\(channel)&outcome=accepted&event_id=ui-test-1"
        #expect(router.handle(ServeRequest(method: "POST", uri: "/ui/customers/\(id)/responses", authorization: basic(reader), body: Array(form.utf8))).status == 403)
        let posted = router.handle(ServeRequest(method: "POST", uri: "/ui/customers/\(id)/responses", authorization: basic(recorder), body: Array(form.utf8)))
        #expect(posted.status == 303 && posted.headers.contains { $0.0 == "Location" && $0.1.hasPrefix("/?customer=\(id)&recorded=") })
        let after = String(decoding: router.handle(ServeRequest(method: "GET", uri: "/?customer=\(id)", authorization: basic(recorder))).body, as: UTF8.self)
        #expect(after.contains("<span id=\"contacts\">") && after.contains("<td>\(offer)</td><td>\(channel)</td><td>accepted</td>"))
        #expect(String(decoding: router.handle(ServeRequest(method: "GET", uri: "/?customer=1", authorization: basic(reader))).body, as: UTF8.self).contains("is not known"))
        // ?explain=1: the lookup plus the explanation of `nextbest explain --json`.
        let explained = router.handle(ServeRequest(method: "GET", uri: "/v1/customers/\(id)/nba?explain=1", authorization: "Bearer \(reader)"))
        let object = try JSONSerialization.jsonObject(with: Data(explained.body)) as! [String: Any]
        let explain = try #require(object["explain"] as? [String: Any])
        #expect(explained.status == 200 && explain["run_id"] as? String == run && (explain["customer_id"] as? NSNumber)?.stringValue == id)
    }
}

/// Responses served while a run is going (issue 26): the run in progress does not see them (it reads the
/// served responses up to the sequence number of its plan, so its output equals a run without them), none is
/// lost, and the next run reads each once.
@Suite(.serialized) struct ServeDuringARunTests {
    let cli = InspectExportTests()
    let h = ClusterProcessTests()

    @Test func responsesPostedDuringARunReachTheNextRunOnly() throws {
        let (store, out, _) = try cli.storeWithRun()
        let rows = try String(contentsOfFile: out + "/nba.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        // The coordinator plans its run and waits for its two workers; the responses arrive meanwhile.
        let endpoint = try CoordinatorResumeTests().freeEndpoint()
        let during = ClusterFixtures.tempDir("during")
        let coordinator = Process()
        coordinator.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        coordinator.arguments = ["coordinator", "--bind", endpoint, "--store", store, "--out", during, "--min-workers", "2", "--no-warm-start",
                                 "--wait-timeout", "60", "--quiet"]
        try coordinator.run()
        Thread.sleep(forTimeInterval: 1)
        let firstRows = rows.filter { $0[1] == "1" }.prefix(20)
        do {
            let router = ServeRouter(state: try ServingState(storePath: store), tokens: nil)
            for (i, r) in firstRows.enumerated() {
                for (j, date) in ["2026-11-20", "2026-11-21"].enumerated() {
                    let body = "{\"offer_id\":\"\(r[2])\",\"channel\":\"\(r[3])\",\"outcome\":\"ignored\",\"date\":\"\(date)\",\"event_id\":\"during-\(i)-\(j)\"}"
                    #expect(router.handle(ServeRequest(method: "POST", uri: "/v1/customers/\(r[0])/responses", body: Array(body.utf8))).status == 201)
                }
            }
        }
        let workers = try (0..<2).map { _ in try h.startWorker(connect: endpoint, store: store) }
        coordinator.waitUntilExit()
        for w in workers { w.waitUntilExit() }
        #expect(coordinator.terminationStatus == 0)
        // The run in progress did not see them: its lists are the first run's (same store, same prices).
        #expect(try Data(contentsOf: URL(fileURLWithPath: during + "/nba.csv")) == Data(contentsOf: URL(fileURLWithPath: out + "/nba.csv")))
        #expect(try ResponseRecorder.pending(store: try Store(path: store, readOnly: true)).count == 2 * firstRows.count)
        // The next run reads every one, once, and each of those customers loses the offer they ignored twice.
        let next = ClusterFixtures.tempDir("next")
        let r = try cli.nextbest(["run", "--store", store, "--out", next, "--workers", "1", "--no-warm-start"])
        #expect(r.status == 0, "\(r.err)")
        let after = try String(contentsOfFile: next + "/nba.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        for row in firstRows {
            #expect(!after.contains { $0[0] == row[0] && $0[2] == row[2] }, "customer \(row[0]) still has \(row[2])")
        }
        // They stay served (no run moves them into the history); runs of bound 0 are kept, so none is folded.
        #expect(try ResponseRecorder.pending(store: try Store(path: store, readOnly: true)).count == 2 * firstRows.count)
        #expect(try cli.nextbest(["import", "served", "--store", store]).out.contains("folded 0 served response(s)"))
        // Each run's summary says up to which served response it reads.
        func through(_ dir: String) throws -> Int? {
            (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as? [String: Any])?["served_responses_through"] as? Int
        }
        #expect(try through(during) == 0 && through(next) == 2 * firstRows.count)
    }
}
