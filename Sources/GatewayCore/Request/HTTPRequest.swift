/// An HTTP request as the server hands it to the pipeline: already fully read, no I/O left.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query string, percent-decoding not applied (`/rpc/add_widget`).
    public var path: String
    /// The raw query string without `?`; empty when there is none.
    public var query: String
    /// Header names lower-cased; repeated headers joined with ", ".
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}
