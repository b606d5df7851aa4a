import Crypto

/// A request's `Idempotency-Key` and the hash of what its answer is rendered from. The database keeps
/// the first answer per caller and key (`sql/gateway.sql`); a retry with the same key must be the same
/// request, which the hash tells: method, path and query, body, and the headers that change the call or
/// its rendering (`Accept`, `Prefer`, `Range`, `Content-Type`, the profiles, and `X-A4C-User-Id`, in
/// which nginx's compatibility routes pass the path's user to the SQL). Not `Authorization`: a retry may carry a
/// renewed token, the caller is compared separately (role and `sub`); nor headers a proxy or client
/// library changes between attempts (`X-Forwarded-For`, tracing, `User-Agent`).
public struct IdempotencyKey: Sendable, Equatable {
    /// The header's value as sent.
    public let key: String
    /// SHA-256 of the request's parts, as hex.
    public let requestHash: String

    /// The headers in the hash, by lower-cased name.
    static let hashedHeaders = ["accept", "prefer", "range", "content-type", "accept-profile", "content-profile", "x-a4c-user-id"]
    /// At most this many characters: room for a UUID or a client's own composite key, not for a payload.
    static let maxLength = 255

    /// The request's key, nil without the header; 400 when it is empty, too long, or holds anything but
    /// visible ASCII (a header sent twice arrives joined by ", " and is refused too).
    public init?(request: HTTPRequest) throws {
        guard let value = request.headers["idempotency-key"] else { return nil }
        guard (1...Self.maxLength).contains(value.utf8.count), value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError.requestError(status: 400, code: "IK400", message: "Invalid Idempotency-Key header",
                                        details: "An Idempotency-Key is 1 to \(Self.maxLength) visible ASCII characters, sent once.",
                                        hint: "Send one key per request, e.g. a random UUID, and the same key on each retry.")
        }
        key = value
        requestHash = Self.hash(request)
    }

    /// Each part length-prefixed, so that no two different requests give the same bytes to hash.
    static func hash(_ request: HTTPRequest) -> String {
        var hasher = SHA256()
        func part(_ bytes: some Collection<UInt8>) {
            hasher.update(data: Array(String(bytes.count).utf8) + [UInt8(ascii: ":")])
            hasher.update(data: Array(bytes))
        }
        part(request.method.utf8)
        part(request.path.utf8)
        part(request.query.utf8)
        for name in hashedHeaders {
            if let value = request.headers[name] { part([1] + Array(value.utf8)) } else { part([0]) }
        }
        part(request.body)
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: hasher.finalize().flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }, as: UTF8.self)
    }
}
