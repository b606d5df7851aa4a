import Crypto
import Foundation

/// Who is calling: the database role to switch to and the claims SQL sees as `request.jwt.claims`.
public struct Authentication: Sendable, Equatable {
    public var role: String
    /// JSON object text, always with `role`.
    public var claims: String
    /// True when a valid token was sent (42501 then answers 403 rather than 401).
    public var isAuthenticated: Bool
}

/// Verifies `Authorization: Bearer` tokens as PostgREST does: HS256 only (the algorithm is never the
/// client's choice), signature compared in constant time by swift-crypto, then `exp`/`nbf`/`iat` with
/// 30 s of clock skew, `aud` when configured, and the role from `jwt-role-claim-key`.
public struct JWTAuthenticator: Sendable {
    public static let allowedSkew: Int64 = 30

    let secret: Data?
    let audience: String?
    let roleClaim: RoleClaimPath
    let anonRole: String?
    /// The anonymous caller's answer, built once (most requests carry no token).
    let anonymous: Authentication?

    public init(secret: String?, audience: String?, roleClaim: RoleClaimPath = .default, anonRole: String?) {
        self.secret = secret.map { Data($0.utf8) }
        self.audience = audience
        self.roleClaim = roleClaim
        self.anonRole = anonRole
        anonymous = anonRole.map { Authentication(role: $0, claims: Self.claimsJSON(role: $0), isAuthenticated: false) }
    }

    /// Authenticates a request from its `Authorization` header (nil when absent).
    public func authenticate(authorization: String?, now: Date = Date()) throws(JWTError) -> Authentication {
        guard let authorization else {
            guard let anonymous else { throw .tokenRequired }
            return anonymous
        }
        let token = Self.bearerToken(authorization)
        guard !token.isEmpty else { throw JWTError.emptyToken }
        guard let secret else { throw .secretMissing }
        let claims = try verify(token, key: SymmetricKey(data: secret))
        try validate(claims.object, now: Int64(now.timeIntervalSince1970))
        guard let role = roleValue(claims.object) ?? anonRole else { throw .tokenRequired }
        let text = claims.object[Self.roleKey(roleClaim)] == nil && roleClaim == .default
            ? Self.addingRole(role, to: claims.object) : claims.text
        return Authentication(role: role, claims: text, isAuthenticated: true)
    }

    /// The token after `Bearer ` (scheme case-insensitive); empty when the header holds no bearer token.
    static func bearerToken(_ header: String) -> Substring {
        let trimmed = header.drop { $0 == " " }
        guard trimmed.count >= 6, trimmed.prefix(6).lowercased() == "bearer" else { return "" }
        return trimmed.dropFirst(6).drop { $0 == " " }.prefix { $0 != " " }
    }

    /// Splits, checks the header's algorithm, then the HMAC-SHA256 signature over `header.payload`.
    private func verify(_ token: Substring, key: SymmetricKey) throws(JWTError) -> (object: [String: Any], text: String) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw JWTError.parts(parts.count) }
        guard let headerData = Self.base64URL(parts[0]),
              let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any]
        else { throw JWTError.badCrypto }
        let alg = header["alg"] as? String ?? "none"
        guard alg == "HS256" else { throw JWTError.badAlgorithm(alg) }
        guard let signature = Self.base64URL(parts[2]),
              HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Data(token[..<parts[1].endIndex].utf8), using: key)
        else { throw JWTError.badCrypto }
        guard let payload = Self.base64URL(parts[1]),
              let object = try? JSONSerialization.jsonObject(with: payload) as? [String: Any],
              let text = String(data: payload, encoding: .utf8)
        else { throw JWTError.claims("Parsing claims failed") }
        return (object, text)
    }

    /// exp/nbf/iat with 30 s skew, aud when jwt-aud is set; the details say by how many seconds.
    private func validate(_ claims: [String: Any], now: Int64) throws(JWTError) {
        func time(_ name: String) throws(JWTError) -> Int64? {
            guard let value = claims[name], !(value is NSNull) else { return nil }
            guard let number = value as? NSNumber, !(value is Bool) else {
                throw JWTError.claims("The JWT '\(name)' claim must be a number")
            }
            return number.int64Value
        }
        if let exp = try time("exp"), now - Self.allowedSkew > exp {
            throw JWTError.claims("JWT expired", details: "Invalid by \(now - exp) seconds")
        }
        if let nbf = try time("nbf"), now + Self.allowedSkew < nbf {
            throw JWTError.claims("JWT not yet valid", details: "Invalid by \(nbf - now) seconds")
        }
        if let iat = try time("iat"), now + Self.allowedSkew < iat {
            throw JWTError.claims("JWT issued at future", details: "Invalid by \(iat - now) seconds")
        }
        if let aud = claims["aud"], !(aud is NSNull) {
            let values: [String]
            if let one = aud as? String { values = [one] }
            else if let many = aud as? [Any], many.allSatisfy({ $0 is String }) { values = many as! [String] }
            else { throw JWTError.claims("The JWT 'aud' claim must be a string or an array of strings") }
            if let audience, !values.isEmpty, !values.contains(audience) { throw JWTError.claims("JWT not in audience") }
        }
    }

    private func roleValue(_ claims: [String: Any]) -> String? {
        switch roleClaim.value(in: claims) {
        case let text as String: return text
        case nil, is NSNull: return nil
        case let other?:
            return (try? JSONSerialization.data(withJSONObject: other, options: [.fragmentsAllowed]))
                .flatMap { String(data: $0, encoding: .utf8) }
        }
    }

    static func roleKey(_ path: RoleClaimPath) -> String {
        if case .key(let key)? = path.steps.first { return key }
        return "role"
    }

    static func addingRole(_ role: String, to claims: [String: Any]) -> String {
        var claims = claims
        claims["role"] = role
        let data = (try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func claimsJSON(role: String) -> String { addingRole(role, to: [:]) }

    static func base64URL<S: StringProtocol>(_ text: S) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !base64.contains("=") else { return nil }
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
