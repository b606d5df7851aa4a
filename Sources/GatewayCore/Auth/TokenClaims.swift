import Foundation

/// A verified token's claims, digested once (a cache hit reuses them): the claims SQL sees, the role,
/// and PostgREST's claim checks in its order (exp, nbf, iat, aud; the first failing one answers),
/// those that depend on the clock evaluated on every request.
struct TokenClaims: Sendable {
    enum Check: Sendable {
        case expiresAt(Int64), notBefore(Int64), issuedAt(Int64)
        case fails(JWTError)
    }

    static let allowedSkew: Int64 = 30

    let checks: [Check]
    /// The role to switch to (the role claim, else db-anon-role); nil: none, 401 PGRST302.
    let role: String?
    /// JSON object text for `request.jwt.claims`.
    let claims: String
    /// The last second the token is accepted (`exp` plus the skew), if it has a numeric `exp`.
    let lastValidSecond: Int64?

    /// Decodes the payload (a JSON object, else PGRST303 "Parsing claims failed") and digests it.
    init(payload: Data, audience: String?, roleClaim: RoleClaimPath, anonRole: String?) throws(JWTError) {
        guard let object = try? JSONSerialization.jsonObject(with: payload) as? [String: Any],
              let text = String(data: payload, encoding: .utf8)
        else { throw JWTError.claims("Parsing claims failed") }
        var checks: [Check] = []
        func time(_ name: String, _ check: (Int64) -> Check) {
            guard let value = object[name], !(value is NSNull) else { return }
            guard let number = value as? NSNumber, !(value is Bool) else {
                return checks.append(.fails(.claims("The JWT '\(name)' claim must be a number")))
            }
            // PostgREST reads a number that is not a whole Int64 (1.5e9 + 0.5, 1e30) as 0.
            checks.append(check(Int64(exactly: number.doubleValue) ?? 0))
        }
        time("exp", Check.expiresAt)
        time("nbf", Check.notBefore)
        time("iat", Check.issuedAt)
        if let failure = Self.audienceFailure(object["aud"], audience: audience) { checks.append(.fails(failure)) }
        self.checks = checks
        lastValidSecond = checks.lazy.compactMap { check -> Int64? in
            guard case .expiresAt(let exp) = check else { return nil }
            return exp > Int64.max - Self.allowedSkew ? .max : exp + Self.allowedSkew
        }.first
        role = Self.roleValue(roleClaim.value(in: object)) ?? anonRole
        claims = object[Self.roleKey(roleClaim)] == nil && roleClaim == .default && role != nil
            ? Self.addingRole(role!, to: object) : text
    }

    /// The checks at `now` (Unix seconds), with 30 s of clock skew as PostgREST allows.
    func validate(now: Int64) throws(JWTError) {
        for check in checks {
            switch check {
            case .expiresAt(let exp) where now - Self.allowedSkew > exp: throw JWTError.claims("JWT expired")
            case .notBefore(let nbf) where now + Self.allowedSkew < nbf: throw JWTError.claims("JWT not yet valid")
            case .issuedAt(let iat) where now + Self.allowedSkew < iat: throw JWTError.claims("JWT issued at future")
            case .fails(let error): throw error
            default: continue
            }
        }
    }

    /// `aud` when jwt-aud is set: a string or an array of strings (null or `[]`: any audience).
    private static func audienceFailure(_ aud: Any?, audience: String?) -> JWTError? {
        guard let aud, !(aud is NSNull) else { return nil }
        let values: [String]
        if let one = aud as? String { values = [one] }
        else if let many = aud as? [Any], many.allSatisfy({ $0 is String }) { values = many.compactMap { $0 as? String } }
        else { return .claims("The JWT 'aud' claim must be a string or an array of strings") }
        guard let audience, !values.isEmpty, !values.contains(audience) else { return nil }
        return .claims("JWT not in audience")
    }

    private static func roleValue(_ value: Any?) -> String? {
        switch value {
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
}
