import Crypto
import _CryptoExtras
import Foundation

/// Why `jwt-secret` holds no usable key set; the message says which key and member.
public struct JWKError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension JWK {
    /// Every algorithm name jose-jwt knows (signatures and encryption). A key whose `alg` is not one
    /// of them, or whose `kty` is not RSA, EC, OKP or oct, is kept aside unused, as jose-jwt does.
    static let knownAlgorithms = CompactJWS.algorithms.union(CompactJWS.encryptionAlgorithms).union(["none"])

    /// One JWK (RFC 7517) from its JSON object: nil for a key jose-jwt keeps as unsupported (also an
    /// Ed448 key, which swift-crypto cannot verify); throws for a supported key with missing or
    /// malformed members, as jose-jwt refuses it. Private members (`d`...) may be present: only the
    /// public part is kept.
    static func parse(_ json: [String: Any]) throws(JWKError) -> JWK? {
        let members = Members(json: json)
        if let alg = json["alg"], !(alg is NSNull), !((alg as? String).map(knownAlgorithms.contains) ?? false) { return nil }
        if let kty = json["kty"], !(kty is NSNull), !["RSA", "EC", "OKP", "oct"].contains(kty as? String ?? "") { return nil }
        guard let kty = json["kty"] as? String else { throw JWKError("kty is required") }
        let kid = try members.text("kid"), use = try members.text("use"), alg = try members.text("alg")
        guard use == nil || use == "sig" || use == "enc" else { throw JWKError("'use' value must be either 'sig' or 'enc'") }
        for name in ["x5u", "x5t"] { _ = try members.text(name) }
        if let chain = json["x5c"], !(chain is NSNull), !(chain is [String]) { throw JWKError("x5c must be an array of strings") }
        let rsaPrivate = ["p", "q", "dp", "dq", "qi"]
        switch kty {
        case "RSA":
            guard let n = try members.bytes("n") else { throw JWKError("n is required for an RSA key") }
            guard let e = try members.bytes("e") else { throw JWKError("e is required for an RSA key") }
            try members.refuseCurve("an RSA key")
            if try members.bytes("d") == nil, try members.allPresent(rsaPrivate) {
                throw JWKError("RSA private parameters can't be set for a public key")
            }
            guard let key = try? _RSA.Signing.PublicKey(n: n, e: e) else { throw JWKError("n and e are not an RSA public key") }
            return JWK(material: .rsa(key), kid: kid, use: use, alg: alg)
        case "oct":
            guard let k = try members.bytes("k") else { throw JWKError("k is required for a symmetric key") }
            if try members.allPresent(["n", "e", "d"] + rsaPrivate) { throw JWKError("RSA parameters can't be set for a symmetric key") }
            try members.refuseCurve("a symmetric key")
            return JWK(material: .symmetric(SymmetricKey(data: k)), kid: kid, use: use, alg: alg)
        case "OKP":
            return try okp(members, kid: kid)
        default:
            return try ec(members, kid: kid, use: use, alg: alg)
        }
    }

    /// An Ed25519 key (`crv`, `x`, and `d` when private, which must match `x`); always `sig`/EdDSA,
    /// whatever its members say, as in jose-jwt.
    private static func okp(_ members: Members, kid: String?) throws(JWKError) -> JWK? {
        guard let crv = try members.text("crv") else { throw JWKError("crv is required for an OKP key") }
        guard let x = try members.bytes("x") else { throw JWKError("x is required for an OKP key") }
        if try members.allPresent(["n", "e", "p", "q", "dp", "dq", "qi"]) { throw JWKError("RSA parameters can't be set for an OKP key") }
        switch crv {
        case "Ed25519":
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x) else { throw JWKError("Invalid OKP key data") }
            if let d = try members.bytes("d") {
                guard let secret = try? Curve25519.Signing.PrivateKey(rawRepresentation: d) else { throw JWKError("Invalid OKP key data") }
                guard secret.publicKey.rawRepresentation == key.rawRepresentation else { throw JWKError("Public key x doesn't match private key d") }
            }
            return JWK(material: .ed25519(key), kid: kid, use: "sig", alg: "EdDSA")
        case "Ed448":
            return nil
        default:
            throw JWKError("Unknown or unsupported OKP type")
        }
    }

    /// An EC public key on P-256, P-384 or P-521 from its coordinates (`x`, `y`, big-endian).
    private static func ec(_ members: Members, kid: String?, use: String?, alg: String?) throws(JWKError) -> JWK {
        guard let crv = try members.text("crv") else { throw JWKError("crv is required for an elliptic curve key") }
        let size: Int
        switch crv {
        case "P-256": size = 32
        case "P-384": size = 48
        case "P-521": size = 66
        default: throw JWKError("crv must be a valid EC curve name")
        }
        guard let x = try members.bytes("x") else { throw JWKError("x is required for an EC key") }
        guard let y = try members.bytes("y") else { throw JWKError("y is required for an EC key") }
        if try members.allPresent(["n", "e", "p", "q", "dp", "dq", "qi"]) { throw JWKError("RSA parameters can't be set for an elliptic curve key") }
        // Coordinates are fixed-size; some encoders drop leading zero bytes.
        guard x.count <= size, y.count <= size else { throw JWKError("x and y are not a point on \(crv)") }
        let point = Data(count: size - x.count) + x + Data(count: size - y.count) + y
        let material: Material?
        switch size {
        case 32: material = (try? P256.Signing.PublicKey(rawRepresentation: point)).map(Material.p256)
        case 48: material = (try? P384.Signing.PublicKey(rawRepresentation: point)).map(Material.p384)
        default: material = (try? P521.Signing.PublicKey(rawRepresentation: point)).map(Material.p521)
        }
        guard let material else { throw JWKError("x and y are not a point on \(crv)") }
        return JWK(material: material, kid: kid, use: use, alg: alg)
    }

    /// Typed access to a JWK's members: absent or null is nil, a wrong type is an error naming the member.
    struct Members {
        let json: [String: Any]

        func text(_ name: String) throws(JWKError) -> String? {
            guard let value = json[name], !(value is NSNull) else { return nil }
            guard let text = value as? String else { throw JWKError("\(name) must be a string") }
            return text
        }

        func bytes(_ name: String) throws(JWKError) -> Data? {
            guard let text = try text(name) else { return nil }
            guard let data = Base64URL.decode(text) else { throw JWKError("\(name) must be base64url without padding") }
            return data
        }

        /// jose-jwt refuses a combination of members only when all of them are present.
        func allPresent(_ names: [String]) throws(JWKError) -> Bool {
            for name in names where try bytes(name) == nil { return false }
            return true
        }

        func refuseCurve(_ what: String) throws(JWKError) {
            if try text("crv") != nil { throw JWKError("Elliptic curve type can't be set for \(what)") }
            if try allPresent(["x", "y"]) { throw JWKError("Elliptic curve coordinates can't be set for \(what)") }
        }
    }
}
