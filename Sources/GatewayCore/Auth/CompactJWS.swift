import Foundation

/// A token split and decoded the way PostgREST's jose-jwt parser does it, before any key is involved:
/// the header must be base64url JSON naming a known algorithm, and every part must be base64url;
/// anything else is PGRST301 "JWT cryptographic operation failed" (jose-jwt's `BadCrypto`).
struct CompactJWS {
    /// The JWS algorithms jose-jwt knows (`Jose.Jwa`), besides `none`.
    static let algorithms: Set<String> = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"]
    static let encryptionAlgorithms: Set<String> = ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "A128KW", "A192KW", "A256KW"]
    static let encryptions: Set<String> = ["A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512", "A128GCM", "A192GCM", "A256GCM"]

    let alg: String
    /// The header's `kid`: when present, only keys with this `kid` may verify the token.
    let kid: String?
    /// `header.payload` as sent: what the signature covers.
    let signingInput: Data
    let payload: Data
    let signature: Data

    init(_ token: Substring) throws(JWTError) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw JWTError.parts(parts.count) }
        guard let headerBytes = Base64URL.decode(parts[0]),
              let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any]
        else { throw JWTError.badCrypto }
        if header["alg"] as? String == "none" {
            guard Base64URL.decode(parts[1]) != nil else { throw JWTError.badCrypto }
            throw JWTError.unsecured
        }
        // An encrypted token (JWE): no key of a jwt-secret is meant for decryption.
        if header["enc"] != nil {
            let known = (header["alg"] as? String).map(Self.encryptionAlgorithms.contains) == true
                && (header["enc"] as? String).map(Self.encryptions.contains) == true
            throw known ? JWTError.noSuitableKey : JWTError.badCrypto
        }
        guard let alg = header["alg"] as? String, Self.algorithms.contains(alg),
              Self.isOptionalString(header["typ"]), Self.isOptionalString(header["cty"]), Self.isOptionalString(header["kid"]),
              let payload = Base64URL.decode(parts[1]), let signature = Base64URL.decode(parts[2])
        else { throw JWTError.badCrypto }
        self.alg = alg
        kid = header["kid"] as? String
        signingInput = Data(token[..<parts[1].endIndex].utf8)
        self.payload = payload
        self.signature = signature
    }

    /// Absent, null or a string (jose-jwt's header fields are `Maybe Text`).
    private static func isOptionalString(_ value: Any?) -> Bool {
        value == nil || value is NSNull || value is String
    }
}
