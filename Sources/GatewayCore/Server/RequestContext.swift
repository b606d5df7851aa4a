/// One HTTP request's state between MHD callbacks, kept behind MHD's `*con_cls`: created by the URI
/// log callback, released by the completion callback (which also writes the access-log line). Lives
/// on its loop's thread only.
final class RequestContext {
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
    /// The answer, when it came before the handler could suspend the connection.
    var early: HTTPResponse?
    /// The connection, while suspended waiting for the database.
    var suspended: OpaquePointer?

    init(target: String) { self.target = target }

    var path: Substring { target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "" }

    var query: Substring {
        guard let mark = target.firstIndex(of: "?") else { return "" }
        return target[target.index(after: mark)...]
    }
}
