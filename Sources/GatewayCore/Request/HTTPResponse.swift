/// What the server writes back: status, headers in order, body bytes, or a body produced over time.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// When set, the body is this stream's (sent chunked as it is written) and `body` is ignored.
    public var stream: ResponseStream?

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], stream: ResponseStream? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.stream = stream
    }
}
