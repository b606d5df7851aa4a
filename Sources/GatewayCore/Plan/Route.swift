/// Where a request goes: only `/rpc/<fn>` exists, with POST, GET, HEAD and OPTIONS.
struct Route: Sendable, Equatable {
    enum Method: String, Sendable {
        case get = "GET", head = "HEAD", post = "POST", options = "OPTIONS"
    }

    /// The function name, percent-decoded.
    var function: String
    var method: Method

    private static let prefix = Array("/rpc/".utf8)

    /// Throws `APIError.notFound` for any other path and PGRST101 for other methods.
    init(method: String, path: String) throws {
        let bytes = path.utf8
        guard bytes.starts(with: Self.prefix) else { throw APIError.notFound(path: path) }
        var name = bytes.dropFirst(Self.prefix.count)
        if name.last == UInt8(ascii: "/") { name = name.dropLast() }
        guard !name.isEmpty, !name.contains(UInt8(ascii: "/")) else { throw APIError.notFound(path: path) }
        function = QueryString.decode(Substring(path).utf8[name.startIndex..<name.endIndex], plusIsSpace: false)
        guard let known = Method(rawValue: method) else { throw APIError.methodNotAllowed(method: method) }
        self.method = known
    }

    /// GET and HEAD take their arguments from the query string and run read-only.
    var isQueryCall: Bool { method == .get || method == .head }
}
