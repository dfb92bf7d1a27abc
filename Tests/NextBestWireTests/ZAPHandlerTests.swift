import Foundation
import Testing
@testable import NextBestWire

/// `ZAPHandler.stop` waits for the handler's thread to end (issue 22: no busy-wait, no early return).
@Suite struct ZAPHandlerTests {
    @Test func stopReturnsOnceTheSocketIsClosed() throws {
        let context = try ZMQContext()
        let zap = try ZAPHandler(context: context, allowed: []) { _ in }
        zap.stop()
        // The thread closed its socket before `stop` returned: the ZAP endpoint can be bound again.
        let again = try context.socket(.rep)
        try again.bind("inproc://zeromq.zap.01")
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
