import Foundation
import Testing
@testable import NextBestWire

/// `ZAPHandler.stop` waits for the handler's thread to end (issue 22: no busy-wait, no early return).
@Suite struct ZAPHandlerTests {
    @Test func stopReturnsOnceTheSocketIsClosed() throws {
        let context = try ZMQContext()
        let zap = try ZAPHandler(context: context, allowed: []) { _ in }
        #expect(!zap.hasEnded)
        zap.stop()
        // The thread closed its socket before `stop` returned.
        #expect(zap.hasEnded)
        // libzmq releases an inproc endpoint in its own reaper thread after the close: the endpoint can be
        // bound again soon after (within 5 s here, a bound for a hang, not a speed).
        let again = try context.socket(.rep)
        var bound = false
        for _ in 0..<500 where !bound {
            if (try? again.bind("inproc://zeromq.zap.01")) != nil { bound = true } else { usleep(10_000) }
        }
        #expect(bound)
        again.close()
        // A second stop returns at once.
        zap.stop()
        #expect(zap.refusals == 0)
    }

    @Test func aSecondHandlerCannotBindWhileTheFirstServes() throws {
        let context = try ZMQContext()
        let zap = try ZAPHandler(context: context, allowed: []) { _ in }
        #expect(throws: ZMQError.self) { _ = try ZAPHandler(context: context, allowed: []) { _ in } }
        zap.stop()
    }
}
