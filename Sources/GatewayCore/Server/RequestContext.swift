import CMicroHTTPD
import Synchronization

/// One HTTP request's state between MHD callbacks, kept behind MHD's `*con_cls`: created by the URI
/// log callback, released by the completion callback (which also writes the access-log line).
final class RequestContext: @unchecked Sendable {
    enum Phase { case fresh, receiving, dispatched, answered }

    /// The request target as sent (path and query, not decoded).
    let target: String
    let started = monotonicNanoseconds()
    var phase = Phase.fresh
    var method = ""
    var body: [UInt8] = []
    /// Bytes of a body beyond the limit that were read and dropped (chunked uploads).
    var discarded = 0
    var tooLarge = false
    var status = 0
    private let handoff = Mutex<Handoff>(Handoff())

    private struct Handoff {
        var builder: (@Sendable () -> HTTPResponse)?
        /// The suspended MHD connection (as its address: pointers are not Sendable), 0 when none.
        var suspended = 0
    }

    init(target: String) { self.target = target }

    var path: Substring { target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "" }

    var query: Substring {
        guard let mark = target.firstIndex(of: "?") else { return "" }
        return target[target.index(after: mark)...]
    }

    /// From the pool's thread: stores the response builder and resumes the connection if the
    /// handler already suspended it (otherwise the handler finds the builder right away).
    func deliver(_ builder: @escaping @Sendable () -> HTTPResponse) {
        let suspended = handoff.withLock { state in
            state.builder = builder
            defer { state.suspended = 0 }
            return state.suspended
        }
        if let connection = OpaquePointer(bitPattern: suspended) { MHD_resume_connection(connection) }
    }

    /// From the handler: suspends the connection unless the answer is already here, in which case
    /// it returns the builder to use now.
    func suspendUnlessDelivered(_ connection: OpaquePointer) -> (@Sendable () -> HTTPResponse)? {
        let address = Int(bitPattern: connection)
        return handoff.withLock { state in
            if let builder = state.builder { state.builder = nil; return builder }
            MHD_suspend_connection(OpaquePointer(bitPattern: address))
            state.suspended = address
            return nil
        }
    }

    /// From the handler after resume: the delivered builder.
    func takeDelivered() -> (@Sendable () -> HTTPResponse)? {
        handoff.withLock { state in
            defer { state.builder = nil }
            return state.builder
        }
    }
}
