import Foundation
import Testing
@testable import GatewayCore

/// jwt-secret as a JWK or JWKS, and which key verifies which token, as PostgREST (jose-jwt) decides:
/// docs/references/auth.rst ("kid verification"), jose-jwt's `Jose.Jwk.canDecodeJws` and `Jose.Jwt.decode`.
@Suite struct JWKSetTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func set(_ json: Any) throws -> JWKSet {
        try JWKSet(secret: Array(try JSONSerialization.data(withJSONObject: json)), isBase64: false)
    }

    func authenticate(_ token: String, with keys: JWKSet) throws -> Authentication {
        try JWTAuthenticator(keys: keys, audience: nil, anonRole: nil).authenticate(authorization: "Bearer " + token, now: now)
    }

    @Test(arguments: ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"])
    func everyAlgorithmVerifiesWithItsJWK(alg: String) throws {
        let key = try JWTSigningKey.generate(alg)
        let token = try JWTSigner.sign(claims: ["role": "app_user"], key: key)
        #expect(try authenticate(token, with: set(key.jwk())).role == "app_user")
        #expect(try authenticate(token, with: set(["keys": [key.jwk(alg: alg)]])).role == "app_user")
        // The same claims signed by another key of the same kind: suitable, but it does not verify.
        let other = try JWTSigningKey.generate(alg)
        #expect(throws: JWTError.noKeyVerified) { try authenticate(token, with: set(other.jwk())) }
    }

    /// An identity provider's JWKS: several signing keys told apart by kid, an encryption key, and
    /// members the gateway does not use (x5c, x5t, key_ops).
    @Test func kidChoosesTheKeyAndWithoutKidEveryKeyIsTried() throws {
        let first = try JWTSigningKey.generate("RS256"), second = try JWTSigningKey.generate("RS256")
        var extra = try second.jwk(kid: "2026-11", alg: "RS256")
        extra["x5c"] = ["MIIC"]; extra["x5t"] = "abc"; extra["key_ops"] = ["verify"]
        let keys = try set(["keys": [try first.jwk(kid: "2026-10", alg: "RS256"), extra,
                                     try JWTSigningKey.generate("RS256").jwk(kid: "enc-1", use: "enc", alg: "RSA-OAEP")]])
        #expect(keys.keys.count == 3)
        let signed = try JWTSigner.sign(claims: ["role": "a"], key: second, header: ["kid": "2026-11"])
        #expect(try authenticate(signed, with: keys).role == "a")
        // Without a kid the keys are tried one by one.
        #expect(try authenticate(try JWTSigner.sign(claims: ["role": "b"], key: second), with: keys).role == "b")
        // A kid no key has, or the kid of another key: refused without or after trying.
        #expect(throws: JWTError.noSuitableKey) { try authenticate(try JWTSigner.sign(claims: [:], key: second, header: ["kid": "2027"]), with: keys) }
        #expect(throws: JWTError.noKeyVerified) { try authenticate(try JWTSigner.sign(claims: [:], key: second, header: ["kid": "2026-10"]), with: keys) }
        // The encryption key is never used for a signature, even when the token names it.
        #expect(throws: JWTError.noSuitableKey) { try authenticate(try JWTSigner.sign(claims: [:], key: second, header: ["kid": "enc-1"]), with: keys) }
    }

    @Test func aKeyWithoutKidIsNotChosenByAKid() throws {
        let key = try JWTSigningKey.generate("ES256")
        #expect(throws: JWTError.noSuitableKey) {
            try authenticate(try JWTSigner.sign(claims: [:], key: key, header: ["kid": "k1"]), with: set(key.jwk()))
        }
    }

    @Test func algAndKeyTypeMismatchesFindNoSuitableKey() throws {
        let rsa = try JWTSigningKey.generate("RS256")
        // The key is for RS512 only.
        #expect(throws: JWTError.noSuitableKey) { try authenticate(try JWTSigner.sign(claims: [:], key: rsa), with: set(rsa.jwk(alg: "RS512"))) }
        // An HS256 token against an RSA key (the algorithm-confusion attack) and an ES256 token against an Ed25519 key.
        let hmac = JWTSigningKey.hmac(.init(data: Data("public-key-text-used-as-hmac-secret".utf8)), alg: "HS256")
        #expect(throws: JWTError.noSuitableKey) { try authenticate(try JWTSigner.sign(claims: [:], key: hmac), with: set(rsa.jwk())) }
        let ed = try JWTSigningKey.generate("EdDSA")
        #expect(throws: JWTError.noSuitableKey) { try authenticate(try JWTSigner.sign(claims: [:], key: JWTSigningKey.generate("ES256")), with: set(ed.jwk())) }
        // ES384 on a P-256 key is suitable (jose-jwt checks only the key type) but does not verify.
        let p256 = try JWTSigningKey.generate("ES256")
        #expect(throws: JWTError.noKeyVerified) {
            try authenticate(try JWTSigner.sign(claims: [:], key: p256, header: ["alg": "ES384"]), with: set(p256.jwk()))
        }
    }

    @Test func aPlainSecretIsAnHS256KeyOnly() throws {
        let secret = "reallyreallyreallyreallyverysafe"
        let keys = try JWKSet(secret: Array(secret.utf8), isBase64: false)
        let hs384 = JWTSigningKey.hmac(.init(data: Data(secret.utf8)), alg: "HS384")
        #expect(throws: JWTError.noSuitableKey) { try authenticate(try JWTSigner.sign(claims: [:], key: hs384), with: keys) }
        #expect(try authenticate(JWTSigner.sign(claims: ["role": "r"], secret: secret), with: keys).role == "r")
        #expect(throws: JWKError("must be at least 32 characters long")) { try JWKSet(secret: Array("short".utf8), isBase64: false) }
    }

    /// PostgREST's decodeSecret: base64 with `-`, `_`, `.` read as `+`, `/`, `=`, blanks trimmed.
    @Test func base64SecretsAreDecodedFirst() throws {
        let secret: [UInt8] = (0..<32).map { UInt8(($0 * 7 + 200) & 0xff) }
        let text = Data(secret).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let keys = try JWKSet(secret: Array((" " + text + "\n").utf8), isBase64: true)
        let key = JWTSigningKey.hmac(.init(data: secret), alg: "HS256")
        #expect(try authenticate(try JWTSigner.sign(claims: ["role": "b"], key: key), with: keys).role == "b")
        #expect(throws: JWKError("is not base64 (jwt-secret-is-base64 is true)")) { try JWKSet(secret: Array("%%%".utf8), isBase64: true) }
    }

    @Test func unsupportedKeysAreSkippedAndBrokenOnesRefused() throws {
        let rsa = try JWTSigningKey.generate("RS256")
        let keys = try set(["keys": [["kty": "unknown"], ["kty": "RSA", "alg": "PS256", "n": "AQAB", "e": "AQAB"],
                                     ["kty": "OKP", "crv": "Ed448", "x": "AAAA"], try rsa.jwk()]])
        #expect(keys.keys.count == 1)
        #expect(throws: JWKError("is not a valid JWKS: keys[0]: n is required for an RSA key")) { try set(["keys": [["kty": "RSA", "e": "AQAB"]]]) }
        #expect(throws: JWKError("is not a valid JWK: kty is required")) { try set(["n": "AQAB"]) }
        #expect(throws: JWKError("is not a valid JWK: crv must be a valid EC curve name")) { try set(["kty": "EC", "crv": "P-192", "x": "AA", "y": "AA"]) }
        #expect(throws: JWKError("is not a valid JWK: x and y are not a point on P-256")) {
            try set(["kty": "EC", "crv": "P-256", "x": Base64URL.encode(Data(count: 32)), "y": Base64URL.encode(Data(count: 32))])
        }
        #expect(throws: JWKError("is not a valid JWK: 'use' value must be either 'sig' or 'enc'")) { try set(["kty": "oct", "k": "AAAA", "use": "sign"]) }
        #expect(throws: JWKError("is not a valid JWK: k must be base64url without padding")) { try set(["kty": "oct", "k": "AA=="]) }
        #expect(throws: JWKError("is not a valid JWKS: keys must be an array")) { try set(["keys": "none"]) }
        var mismatched = try JWTSigningKey.generate("EdDSA").jwk()
        if case .ed25519(let other) = try JWTSigningKey.generate("EdDSA") { mismatched["d"] = Base64URL.encode(other.rawRepresentation) }
        #expect(throws: JWKError("is not a valid JWK: Public key x doesn't match private key d")) { try set(mismatched) }
    }

    /// jose-jwt's parser: a header or part that is not base64url JSON is "JWT cryptographic operation
    /// failed" (test/io/test_auth.py: "quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah"), as is an
    /// unknown algorithm; alg none is refused by name; an encrypted token finds no key.
    @Test func tokensAreParsedAsJoseJwtDoes() throws {
        let keys = try JWKSet(secret: Array("reallyreallyreallyreallyverysafe".utf8), isBase64: false)
        func header(_ json: String) -> String { Base64URL.encode(Data(json.utf8)) + ".e30.c2ln" }
        #expect(throws: JWTError.badCrypto) { try authenticate("quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah", with: keys) }
        #expect(throws: JWTError.badCrypto) { try authenticate(header(#"{"alg":"PS256"}"#), with: keys) }
        #expect(throws: JWTError.badCrypto) { try authenticate(header(#"{"alg":"HS256","kid":7}"#), with: keys) }
        #expect(throws: JWTError.badCrypto) { try authenticate(header(#"{"alg":"HS256"}"#) + "+", with: keys) }
        #expect(throws: JWTError.unsecured) { try authenticate("eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30.yOBhlOIqn56T-4NvyEXCjfi3UmyQZ-BzXtePMO2NgRI", with: keys) }
        #expect(JWTError.unsecured.details == "JWT is unsecured but expected 'alg' was not 'none'")
        #expect(throws: JWTError.noSuitableKey) { try authenticate(header(#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#), with: keys) }
        #expect(throws: JWTError.noKeyVerified) { try authenticate(header(#"{"alg":"HS256","typ":null,"kid":null}"#), with: keys) }
    }
}
