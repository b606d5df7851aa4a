import Crypto
import Foundation

/// The keys `jwt-secret` holds, read as PostgREST's `parseSecret` does: a JWKS (`{"keys": [...]}`),
/// one JWK (a JSON object), or else a plain secret, an HS256-only key of its bytes (at least 32).
public struct JWKSet: Sendable {
    let keys: [JWK]

    /// `secret`: the configured bytes (after `@file`); `isBase64`: `jwt-secret-is-base64`, the bytes
    /// are base64 text (`-`, `_` and `.` read as `+`, `/` and `=`, as PostgREST does) to decode first.
    /// Unlike PostgREST, a JSON object that is not a valid JWK or JWKS is refused rather than used as
    /// an HMAC secret: its text is often public (a JWKS of public keys), so tokens could be forged.
    public init(secret: [UInt8], isBase64: Bool) throws(JWKError) {
        var bytes = secret
        if isBase64 {
            let text = String(decoding: secret, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/").replacingOccurrences(of: ".", with: "=")
            let padded = text + String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
            guard let decoded = Data(base64Encoded: padded) else { throw JWKError("is not base64 (jwt-secret-is-base64 is true)") }
            bytes = Array(decoded)
        }
        if let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] {
            keys = try Self.keys(of: json)
        } else {
            guard bytes.count >= 32 else { throw JWKError("must be at least 32 characters long") }
            keys = [JWK(material: .symmetric(SymmetricKey(data: bytes)), kid: nil, use: "sig", alg: "HS256")]
        }
    }

    private static func keys(of json: [String: Any]) throws(JWKError) -> [JWK] {
        guard let set = json["keys"] else {
            do { return try JWK.parse(json).map { [$0] } ?? [] } catch { throw JWKError("is not a valid JWK: \(error)") }
        }
        guard let list = set as? [Any] else { throw JWKError("is not a valid JWKS: keys must be an array") }
        var keys: [JWK] = []
        for (index, item) in list.enumerated() {
            guard let object = item as? [String: Any] else { throw JWKError("is not a valid JWKS: keys[\(index)] is not an object") }
            do {
                if let key = try JWK.parse(object) { keys.append(key) }
            } catch {
                throw JWKError("is not a valid JWKS: keys[\(index)]: \(error)")
            }
        }
        return keys
    }

    /// jose-jwt's `decode`: the suitable keys (see `JWK.isSuitable`) are tried in order until one
    /// verifies the signature. None suitable and none verifying are PostgREST's two PGRST301 "No
    /// suitable key or wrong key type" answers, told apart by their details.
    func verify(_ token: CompactJWS) throws(JWTError) {
        var suitable = false
        for key in keys where key.isSuitable(alg: token.alg, kid: token.kid) {
            if key.isValidSignature(token.signature, for: token.signingInput, alg: token.alg) { return }
            suitable = true
        }
        throw suitable ? JWTError.noKeyVerified : JWTError.noSuitableKey
    }
}
