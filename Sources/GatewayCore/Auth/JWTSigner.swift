import Crypto
import Foundation

/// Mints HS256 tokens for local use (`gateway token`) and for tests.
public enum JWTSigner {
    /// A signed compact JWT with the given claims (JSON-serialisable values), header `{"alg":"HS256","typ":"JWT"}`.
    public static func sign(claims: [String: Any], secret: String, header: [String: Any] = ["alg": "HS256", "typ": "JWT"]) -> String {
        let head = encode(json(header)), body = encode(json(claims))
        let signature = HMAC<SHA256>.authenticationCode(for: Data("\(head).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "\(head).\(body).\(encode(Data(signature)))"
    }

    static func json(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    /// base64url without padding (RFC 7515).
    public static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
