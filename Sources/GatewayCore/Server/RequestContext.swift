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

    /// The target before its first `?` and after it, found once, on the UTF-8 bytes: the access log,
    /// the metrics and the router each read the path, and splitting the String by Character on each
    /// read cost about 8,000 instructions per read (callgrind, get_widget), a tenth of the request.
    let path: Substring
    let query: Substring

    init(target: String) {
        self.target = target
        if let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            path = target[..<mark]
            query = target[target.utf8.index(after: mark)...]
        } else {
            path = target[...]
            query = ""
        }
    }
}
