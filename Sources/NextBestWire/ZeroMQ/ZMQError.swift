import CZeroMQ

/// A libzmq call failed: the operation, errno and libzmq's message.
public struct ZMQError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var code: Int32
    public var message: String

    /// The error of the last failed libzmq call on this thread.
    static func last(_ operation: String) -> ZMQError {
        let e = zmq_errno()
        return ZMQError(operation: operation, code: e, message: String(cString: zmq_strerror(e)))
    }

    public var description: String { "ZeroMQ \(operation) failed (errno \(code)): \(message)" }

    /// True when the call would have blocked or timed out.
    public var isTimeout: Bool { code == EAGAIN }
}
