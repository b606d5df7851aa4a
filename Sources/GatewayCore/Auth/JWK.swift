import Crypto
import _CryptoExtras
import Foundation

/// One verification key of `jwt-secret`, as PostgREST's jose-jwt holds it: the public (or shared)
/// key material, and the members that decide which tokens it may verify (`kid`, `use`, `alg`).
struct JWK: Sendable {
    /// swift-crypto 3 does not mark its key types Sendable; these are immutable after parsing and only
    /// read to verify (BoringSSL's verification of a shared key is thread-safe), so loops may share them.
    enum Material: @unchecked Sendable {
        case symmetric(SymmetricKey)
        case rsa(_RSA.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case p521(P521.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    let material: Material
    let kid: String?
    /// `sig` or `enc`; an encryption key never verifies a signature.
    let use: String?
    /// The one algorithm the key is for, when it names one.
    let alg: String?

    /// jose-jwt's `canDecodeJws`: not an encryption key; when the token names a `kid`, the key has
    /// that `kid` (a key without one is then excluded; a token without a `kid` may use every key);
    /// the key's `alg`, if any, is the token's; and the key's type fits the algorithm (any EC curve
    /// for ES256/384/512, as there: a mismatched curve fails at the signature instead).
    func isSuitable(alg tokenAlg: String, kid tokenKid: String?) -> Bool {
        guard use != "enc" else { return false }
        if let tokenKid, tokenKid != kid { return false }
        if let alg, alg != tokenAlg { return false }
        switch material {
        case .symmetric: return tokenAlg.hasPrefix("HS")
        case .rsa: return tokenAlg.hasPrefix("RS")
        case .p256, .p384, .p521: return tokenAlg.hasPrefix("ES")
        case .ed25519: return tokenAlg == "EdDSA"
        }
    }

    /// Whether `signature` signs `input` with this key under `alg` (already found suitable). HMACs are
    /// compared in constant time by swift-crypto; RSA is PKCS #1 v1.5 (RS*), ECDSA takes JOSE's raw
    /// `r || s`; the hash is the algorithm's (SHA-256/384/512).
    func isValidSignature(_ signature: Data, for input: Data, alg: String) -> Bool {
        switch material {
        case .symmetric(let key):
            switch alg {
            case "HS256": return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: key)
            case "HS384": return HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: input, using: key)
            case "HS512": return HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: input, using: key)
            default: return false
            }
        case .rsa(let key):
            guard let digest = Self.digest(alg, input) else { return false }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: digest, padding: .insecurePKCS1v1_5)
        case .p256(let key):
            guard let digest = Self.digest(alg, input), let raw = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(raw, for: digest)
        case .p384(let key):
            guard let digest = Self.digest(alg, input), let raw = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(raw, for: digest)
        case .p521(let key):
            guard let digest = Self.digest(alg, input), let raw = try? P521.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(raw, for: digest)
        case .ed25519(let key):
            return alg == "EdDSA" && key.isValidSignature(signature, for: input)
        }
    }

    /// The hash an RS* or ES* algorithm signs.
    private static func digest(_ alg: String, _ input: Data) -> (any Digest)? {
        switch alg.suffix(3) {
        case "256": SHA256.hash(data: input)
        case "384": SHA384.hash(data: input)
        case "512": SHA512.hash(data: input)
        default: nil
        }
    }
}
