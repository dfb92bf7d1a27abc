import Foundation
import Testing
@testable import NextBestWire

/// The wire codec round-trips every message and never traps on bad input.
@Suite struct WireMessageTests {
    static let samples: [WireMessage] = [
        .hello(workerID: "host-a/4711", software: "nextbest 0.1", cores: 2, fingerprint: 0xDEAD_BEEF_0123_4567),
        .welcome(coordinatorID: "coord"),
        .refuse(reason: "store fingerprint differs: catalogue v3 ≠ v2"),
        .assign(run: 7, shard: 12, attempt: 1, lower: 100, upper: 5_000),
        .assign(run: 7, shard: 13, attempt: 2, lower: 5_000, upper: nil),
        .scored(run: 7, shard: 12, attempt: 1, customers: 50_000, candidates: 1_700_000),
        .prices(run: 7, round: 3, upper: [0, 1.5, -0.0, .greatestFiniteMagnitude], lower: [0.25, 0, 0, 0]),
        .aggregates(run: 7, shard: 12, attempt: 1, round: 3, use: [1, -2, Int64.max, 0], dualMicros: -5, primalMicros: 9, offers: 3, costMicros: 1_000_000),
        .heartbeat, .bye,
    ]

    @Test func roundTrip() throws {
        for m in Self.samples {
            let bytes = m.encode()
            #expect(Array(bytes.prefix(3)) == [0x4E, 0x42, 1])
            #expect(try WireMessage.decode(bytes) == m)
        }
    }

    @Test func everyTruncationIsAnError() {
        for m in Self.samples {
            let bytes = m.encode()
            for cut in 0..<bytes.count {
                #expect(throws: WireError.self) { try WireMessage.decode(Array(bytes.prefix(cut))) }
            }
            #expect(throws: WireError.self) { try WireMessage.decode(bytes + [0]) }
        }
    }

    @Test func wrongMagicVersionAndTypeAreNamed() {
        #expect(throws: WireError.notNextBest) { try WireMessage.decode([0x47, 0x45, 0x54, 0x20]) }
        #expect(throws: WireError.version(2)) { try WireMessage.decode([0x4E, 0x42, 2, 8]) }
        #expect(throws: WireError.unknownType(200)) { try WireMessage.decode([0x4E, 0x42, 1, 200]) }
        // A count larger than the frame is refused before anything is allocated.
        var huge: [UInt8] = [0x4E, 0x42, 1, 6]
        huge += [7, 0, 0, 0, 0, 0, 0, 0] + [3, 0, 0, 0] + [0xFF, 0xFF, 0xFF, 0x7F]
        #expect(throws: WireError.self) { try WireMessage.decode(huge) }
    }

    @Test func randomFramesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        var decoded = 0
        for i in 0..<20_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                // Mutate a valid message in a few places.
                bytes = Self.samples[i % Self.samples.count].encode()
                for _ in 0..<Int.random(in: 1...3, using: &rng) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            if (try? WireMessage.decode(bytes)) != nil { decoded += 1 }
        }
        #expect(decoded < 20_000)
    }
}

/// ROUTER/DEALER over loopback TCP with the wrapper: identities, multipart, timeouts.
@Suite struct ZeroMQLoopbackTests {
    @Test func dealerTalksToRouter() throws {
        let ctx = try ZMQContext()
        let router = try ctx.socket(.router)
        try router.setRouterMandatory(true)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let dealer = try ctx.socket(.dealer)
        try dealer.setIdentity(Array("worker-1".utf8))
        try dealer.setReceiveTimeout(5_000)
        try router.setReceiveTimeout(5_000)
        try dealer.connect(endpoint)
        let hello = WireMessage.hello(workerID: "worker-1", software: "test", cores: 2, fingerprint: 42)
        try dealer.send([hello.encode()])
        let frames = try #require(try router.receive())
        #expect(frames.count == 2)
        #expect(frames[0] == Array("worker-1".utf8))
        #expect(try WireMessage.decode(frames[1]) == hello)
        try router.send([frames[0], WireMessage.welcome(coordinatorID: "c").encode()])
        let reply = try #require(try dealer.receive())
        #expect(try WireMessage.decode(reply[0]) == .welcome(coordinatorID: "c"))
        // Nothing more to read: a receive times out with nil, and poll says so.
        try dealer.setReceiveTimeout(50)
        #expect(try dealer.receive() == nil)
        #expect(try dealer.poll(timeoutMs: 10) == false)
        // A ROUTER with mandatory routing refuses an unknown peer instead of dropping silently.
        #expect(throws: ZMQError.self) { try router.send([Array("nobody".utf8), WireMessage.bye.encode()]) }
    }

    @Test func curveKeysAreGeneratedAndDecoded() throws {
        let (pub, sec) = try CurveKeys.generate()
        #expect(pub.count == 40 && sec.count == 40)
        #expect(CurveKeys.decode(pub)?.count == 32)
        #expect(CurveKeys.decode("short") == nil)
    }
}
