import Foundation
import Testing
import NextBestCore
import NextBestStore
import NextBestWire
@testable import NextBestCluster

/// A standing worker against a coordinator played by the test (a ROUTER socket): after a run is released it
/// announces the shards it holds in its next HELLO; a RESCORE naming them with the right models is scored
/// without columns sent and rebuilt from the held table; one naming them wrongly makes it drop the shard,
/// leave and say HELLO again without it, so that a real coordinator sends the columns next time.
@Suite struct HeldShardsWorkerTests {
    @Test func aStandingWorkerAnnouncesRebuildsAndLeavesWhenAskedForWhatItDoesNotHold() throws {
        let store = ClusterProcessTests.generated
        let models = try RunContext(storePath: store).plan.models.map(\.id)
        let ctx = try ZMQContext()
        let router = try ctx.socket(.router)
        try router.setLinger(0)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()
        let logs = ClusterFixtures.tempDir("held")
        let worker = try ClusterProcessTests().startWorker(connect: endpoint, store: store, once: false, logFile: logs + "/w.log")
        defer { worker.terminate(); worker.waitUntilExit(); router.close() }
        /// The next message from the worker that is not a heartbeat (and is `want`, when given).
        func next(_ what: String, where want: (WireMessage) -> Bool = { _ in true }) throws -> (id: [UInt8], message: WireMessage) {
            let end = Date().addingTimeInterval(30)
            while Date() < end {
                guard try router.poll(timeoutMs: 50), let f = try router.receive(), f.count == 2 else { continue }
                let m = try WireMessage.decode(f[1])
                if case .heartbeat = m { continue }
                if want(m) { return (f[0], m) }
            }
            throw ClusterError.runRefused("no \(what) from the worker")
        }
        func isHello(_ m: WireMessage) -> Bool { if case .hello = m { return true } else { return false } }
        func held(_ m: WireMessage) -> [HeldPropensities]? { if case let .hello(_, _, _, _, _, _, h) = m { return h } else { return nil } }

        // A run of one shard, released: the next HELLO announces it.
        var (id, hello) = try next("HELLO", where: isHello)
        #expect(held(hello) == [])
        try router.send([id, WireMessage.welcome(coordinatorID: "test").encode()])
        try router.send([id, WireMessage.assign(run: 7, shard: 0, attempt: 1, lower: 0, upper: nil, served: 0).encode()])
        let (_, scored) = try next("SCORED") { if case .scored = $0 { return true } else { return false } }
        guard case let .scored(_, _, _, customers, _, rebuiltFirst) = scored else { return }
        #expect(customers == 3_000 && !rebuiltFirst)
        try router.send([id, WireMessage.release(run: 7).encode()])
        try router.send([id, WireMessage.bye.encode()])
        (id, hello) = try next("HELLO after BYE", where: isHello)
        #expect(held(hello) == [HeldPropensities(run: 7, shards: [0])])
        try router.send([id, WireMessage.welcome(coordinatorID: "test").encode()])

        // Asked rightly: only the first model is scored again (PROPS), the table rebuilt from the held one.
        let source = (0..<models.count).map { Int64($0 == 0 ? -1 : $0) }
        try router.send([id, WireMessage.rescore(run: 9, shard: 0, attempt: 1, lower: 0, upper: nil, source: source, stride: UInt32(models.count),
                                                 stored: [], served: 0, base: 7, baseModels: models).encode()])
        let (_, props) = try next("PROPS") { if case .props = $0 { return true } else { return false } }
        guard case let .props(_, _, _, sent, values) = props else { return }
        #expect(sent == [models[0]] && values.count == 3_000)
        let (_, again) = try next("SCORED") { if case .scored = $0 { return true } else { return false } }
        guard case let .scored(run, _, _, n, candidates, rebuilt) = again else { return }
        #expect(run == 9 && n == 3_000 && rebuilt, "SCORED \(again)")
        guard case let .scored(_, _, _, _, before, _) = scored else { return }
        #expect(candidates == before, "the same model scored again gives the same candidates")

        // Asked with models it does not hold in that order: it drops the shard, leaves, and announces nothing.
        try router.send([id, WireMessage.rescore(run: 10, shard: 0, attempt: 1, lower: 0, upper: nil, source: source, stride: UInt32(models.count),
                                                 stored: [], served: 0, base: 9, baseModels: models.reversed()).encode()])
        let (_, bye) = try next("BYE") { if case .bye = $0 { return true } else { return isHello($0) } }
        #expect(bye == .bye)
        (id, hello) = try next("HELLO after leaving", where: isHello)
        #expect(held(hello) == [])
        let log = (try? String(contentsOfFile: logs + "/w.log", encoding: .utf8)) ?? ""
        #expect(log.contains("which it does not hold as described"), "worker log: \(log)")
    }
}
