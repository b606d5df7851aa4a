import Crypto
import _CryptoExtras
import Foundation

/// A key that signs tokens with any algorithm the gateway verifies, and the public JWK that
/// verifies them: what an identity provider does, so the tests can be one (`gateway token` signs
/// HS256 with `JWTSigner.sign(claims:secret:)`).
// swift-crypto's private keys are immutable values not marked Sendable by this version.
enum JWTSigningKey: @unchecked Sendable {
    case hmac(SymmetricKey, alg: String)
    case rsa(_RSA.Signing.PrivateKey, alg: String)
    case p256(P256.Signing.PrivateKey)
    case p384(P384.Signing.PrivateKey)
    case p521(P521.Signing.PrivateKey)
    case ed25519(Curve25519.Signing.PrivateKey)

    /// A fresh key for `alg` (HS*, RS* with 2048 bits, ES256/384/512 on their curves, EdDSA as Ed25519).
    static func generate(_ alg: String) throws -> JWTSigningKey {
        switch alg {
        case "HS256", "HS384", "HS512": return .hmac(SymmetricKey(size: .bits256), alg: alg)
        case "RS256", "RS384", "RS512": return .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048), alg: alg)
        case "ES256": return .p256(P256.Signing.PrivateKey())
        case "ES384": return .p384(P384.Signing.PrivateKey())
        case "ES512": return .p521(P521.Signing.PrivateKey())
        case "EdDSA": return .ed25519(Curve25519.Signing.PrivateKey())
        default: throw JWKError("no signing key for \(alg)")
        }
    }

    var alg: String {
        switch self {
        case .hmac(_, let alg), .rsa(_, let alg): alg
        case .p256: "ES256"
        case .p384: "ES384"
        case .p521: "ES512"
        case .ed25519: "EdDSA"
        }
    }

    /// The JWS signature of `input` (ECDSA as JOSE's raw `r || s`).
    func sign(_ input: Data) throws -> Data {
        switch self {
        case .hmac(let key, _):
            switch alg {
            case "HS384": return Data(HMAC<SHA384>.authenticationCode(for: input, using: key))
            case "HS512": return Data(HMAC<SHA512>.authenticationCode(for: input, using: key))
            default: return Data(HMAC<SHA256>.authenticationCode(for: input, using: key))
            }
        case .rsa(let key, _):
            switch alg {
            case "RS384": return try key.signature(for: SHA384.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation
            case "RS512": return try key.signature(for: SHA512.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation
            default: return try key.signature(for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation
            }
        case .p256(let key): return try key.signature(for: input).rawRepresentation
        case .p384(let key): return try key.signature(for: input).rawRepresentation
        case .p521(let key): return try key.signature(for: input).rawRepresentation
        case .ed25519(let key): return try key.signature(for: input)
        }
    }

    /// The JWK that verifies this key's tokens (an HMAC key's secret itself), with `kid`, `use` and
    /// `alg` members when given.
    func jwk(kid: String? = nil, use: String? = "sig", alg: String? = nil) throws -> [String: Any] {
        var jwk: [String: Any]
        switch self {
        case .hmac(let key, _):
            jwk = ["kty": "oct", "k": key.withUnsafeBytes { Base64URL.encode(Data($0)) }]
        case .rsa(let key, _):
            let primitives = try key.publicKey.getKeyPrimitives()
            jwk = ["kty": "RSA", "n": Base64URL.encode(primitives.modulus), "e": Base64URL.encode(primitives.publicExponent)]
        case .p256(let key): jwk = Self.ec("P-256", key.publicKey.rawRepresentation)
        case .p384(let key): jwk = Self.ec("P-384", key.publicKey.rawRepresentation)
        case .p521(let key): jwk = Self.ec("P-521", key.publicKey.rawRepresentation)
        case .ed25519(let key):
            jwk = ["kty": "OKP", "crv": "Ed25519", "x": Base64URL.encode(key.publicKey.rawRepresentation)]
        }
        jwk["kid"] = kid
        jwk["use"] = use
        jwk["alg"] = alg
        return jwk
    }

    private static func ec(_ crv: String, _ point: Data) -> [String: Any] {
        ["kty": "EC", "crv": crv, "x": Base64URL.encode(point.prefix(point.count / 2)), "y": Base64URL.encode(point.suffix(point.count / 2))]
    }
}
