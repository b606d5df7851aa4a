/// PostgREST's CORS, decided without I/O (src/library/PostgREST/Cors.hs: a wai-cors policy for every
/// request that has an `Origin` header; docs/references/api/cors.rst). Without `Origin`, or when the
/// origin is not allowed, or an OPTIONS request is not a valid preflight, the request is answered as
/// if CORS did not exist (`corsIgnoreFailures`). Otherwise an OPTIONS preflight is answered 200 at
/// once, on any path, and every other answer gets the allow-origin and expose headers.
struct CORSPolicy: Sendable {
    /// `server-cors-allowed-origins`; empty: any origin (`Access-Control-Allow-Origin: *`).
    let allowedOrigins: [String]

    /// What CORS does to one request.
    enum Decision {
        /// Not a CORS request (or one that failed the policy): answered as usual.
        case none
        /// A preflight: this is the whole answer.
        case preflight(HTTPResponse)
        /// An actual CORS request: these headers are added to its answer.
        case actual([(String, String)])
    }

    /// PostgREST's `corsMethods` and wai-cors' simple methods (`union`: HEAD comes last).
    static let methods = ["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "HEAD"]
    static let allowMethods = methods.joined(separator: ", ")
    /// wai-cors' simple request headers less Content-Type, always allowed.
    static let simpleHeaders = ["Accept", "Accept-Language", "Content-Language"]
    static let exposeHeaders = "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, "
        + "Transfer-Encoding, Range-Unit"
    /// Seconds a browser may cache a preflight's answer.
    static let maxAge = "86400"

    func decide(_ request: HTTPRequest) -> Decision {
        guard let origin = request.headers["origin"] else { return .none }
        var headers: [(String, String)]
        if allowedOrigins.isEmpty {
            headers = [("Access-Control-Allow-Origin", "*")]
        } else if allowedOrigins.contains(origin) {
            headers = [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]
        } else {
            return .none
        }
        guard request.method == "OPTIONS" else {
            headers.append(("Access-Control-Expose-Headers", Self.exposeHeaders))
            return .actual(headers)
        }
        guard let method = request.headers["access-control-request-method"], Self.methods.contains(method) else { return .none }
        headers.append(("Access-Control-Allow-Methods", Self.allowMethods))
        if let requested = request.headers["access-control-request-headers"] {
            guard let allowed = Self.allowHeaders(requested) else { return .none }
            headers.append(("Access-Control-Allow-Headers", allowed))
        }
        headers.append(("Access-Control-Max-Age", Self.maxAge))
        return .preflight(HTTPResponse(status: 200, headers: headers))
    }

    /// `Access-Control-Allow-Headers` for a preflight's `Access-Control-Request-Headers`: Authorization,
    /// the requested names (comma-split, trimmed), then the simple headers not named yet; nil when
    /// wai-cors refuses the list (a name it reads is not among those: a blank or separator inside a name).
    static func allowHeaders(_ requested: String) -> String? {
        let named = requested.isEmpty ? [] : requested.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"]) }
        var supported = ["Authorization"] + named
        supported += simpleHeaders.filter { simple in !supported.contains { $0.lowercased() == simple.lowercased() } }
        let lowered = Set(supported.map { $0.lowercased() })
        guard parsedNames(requested).allSatisfy({ lowered.contains($0.lowercased()) }) else { return nil }
        return supported.joined(separator: ", ")
    }

    /// The header names wai-cors reads from the list (its `httpHeaderNameListParser`: blanks, then
    /// names separated by commas, each name followed by blanks; it stops where that stops matching).
    static func parsedNames(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        let separators = Set("()<>@,;:\\\"/[]?={}".utf8)
        func isBlank(_ byte: UInt8) -> Bool { byte == 32 || (9...13).contains(byte) }
        func isNameByte(_ byte: UInt8) -> Bool { (33...126).contains(byte) && !separators.contains(byte) }
        var names: [String] = []
        var index = 0
        while index < bytes.count, isBlank(bytes[index]) { index += 1 }
        while true {
            let start = index
            while index < bytes.count, isNameByte(bytes[index]) { index += 1 }
            guard index > start else { break }
            names.append(String(decoding: bytes[start..<index], as: UTF8.self))
            while index < bytes.count, isBlank(bytes[index]) { index += 1 }
            guard index < bytes.count, bytes[index] == UInt8(ascii: ",") else { break }
            index += 1
        }
        return names
    }
}

extension HTTPResponse {
    /// The same response with `extra` headers appended.
    func adding(_ extra: [(String, String)]) -> HTTPResponse {
        var copy = self
        copy.headers += extra
        return copy
    }
}
