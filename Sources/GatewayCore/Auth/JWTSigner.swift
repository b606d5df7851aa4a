import Crypto
import Foundation

/// Mints tokens for local use (`gateway token`, HS256) and for tests (any algorithm, `JWTSigningKey`).
public enum JWTSigner {
    /// A signed compact JWT with the given claims (JSON-serialisable values), header `{"alg":"HS256","typ":"JWT"}`.
    public static func sign(claims: [String: Any], secret: String, header: [String: Any] = ["alg": "HS256", "typ": "JWT"]) -> String {
        let head = encode(json(header)), body = encode(json(claims))
        let signature = HMAC<SHA256>.authenticationCode(for: Data("\(head).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "\(head).\(body).\(encode(Data(signature)))"
    }

    /// A token signed by `key` under its algorithm; `header` adds members such as `kid` (or overrides `alg`).
    static func sign(claims: [String: Any], key: JWTSigningKey, header: [String: Any] = [:]) throws -> String {
        let head = encode(json(["alg": key.alg, "typ": "JWT"].merging(header) { $1 })), body = encode(json(claims))
        return "\(head).\(body).\(encode(try key.sign(Data("\(head).\(body)".utf8))))"
    }

    static func json(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    /// base64url without padding (RFC 7515).
    public static func encode(_ data: Data) -> String { Base64URL.encode(data) }
}
