/// What the server asks of the request path. The server reads the request, calls `respond`, and
/// either queues the returned response at once or, when `respond` returns nil, suspends the client
/// connection until `later` hands it a response builder (called on an HTTP thread after resume).
public protocol HTTPResponder: Sendable {
    /// `later` may be called on any thread, even before `respond` returns.
    func respond(to request: HTTPRequest, later: @escaping @Sendable (@escaping @Sendable () -> HTTPResponse) -> Void) -> HTTPResponse?
    /// The response for a failure the server detects itself (413, shutting down).
    func respond(to error: any Error) -> HTTPResponse
}
