import Foundation

/// Who is calling: the database role to switch to and the claims SQL sees as `request.jwt.claims`.
public struct Authentication: Sendable, Equatable {
    public var role: String
    /// JSON object text, always with `role`.
    public var claims: String
    /// True when a valid token was sent (42501 then answers 403 rather than 401).
    public var isAuthenticated: Bool
}

/// Verifies `Authorization: Bearer` tokens as PostgREST does: the token is parsed (`CompactJWS`), its
/// signature verified by a key of `jwt-secret` chosen by `kid`, `use` and `alg` (`JWKSet`; the
/// algorithm is never the client's choice alone), then `exp`/`nbf`/`iat` with 30 s of clock skew,
/// `aud` when configured, and the role from `jwt-role-claim-key` (`TokenClaims`). With the JWT cache
/// on, a token seen before skips parsing and verification; its claims are still checked each time.
public struct JWTAuthenticator: Sendable {
    /// PostgREST's JWT cache: `jwt-cache-max-entries` (0 turns it off) and `jwt-cache-max-lifetime`
    /// (seconds an entry may live; 0 turns the cache off; nil: until the token's `exp`).
    public struct CacheSettings: Sendable {
        public var maxEntries: Int
        public var maxLifetime: Int?
        public init(maxEntries: Int, maxLifetime: Int?) { self.maxEntries = maxEntries; self.maxLifetime = maxLifetime }
        public static let off = CacheSettings(maxEntries: 0, maxLifetime: nil)
    }

    let keys: JWKSet?
    let audience: String?
    let roleClaim: RoleClaimPath
    let anonRole: String?
    /// The anonymous caller's answer, built once (most requests carry no token).
    let anonymous: Authentication?
    let cache: SieveCache<TokenClaims>?
    let maxLifetime: Int64?
    let metrics: JWTCacheMetrics

    public init(keys: JWKSet?, audience: String?, roleClaim: RoleClaimPath = .default, anonRole: String?,
                cache settings: CacheSettings = .off, metrics: JWTCacheMetrics = JWTCacheMetrics()) {
        self.keys = keys
        self.audience = audience
        self.roleClaim = roleClaim
        self.anonRole = anonRole
        anonymous = anonRole.map { Authentication(role: $0, claims: TokenClaims.addingRole($0, to: [:]), isAuthenticated: false) }
        self.metrics = metrics
        maxLifetime = settings.maxLifetime.map(Int64.init)
        cache = settings.maxEntries > 0 && settings.maxLifetime != 0
            ? SieveCache(capacity: settings.maxEntries, evicted: { metrics.evicted() }) : nil
    }

    /// Authenticates a request from its `Authorization` header (nil when absent).
    public func authenticate(authorization: String?, now: Date = Date()) throws(JWTError) -> Authentication {
        guard let authorization else {
            guard let anonymous else { throw .tokenRequired }
            return anonymous
        }
        let token = Self.bearerToken(authorization)
        guard !token.isEmpty else { throw JWTError.emptyToken }
        guard let keys else { throw .secretMissing }
        let seconds = Int64(now.timeIntervalSince1970)
        let claims = try verified(token, keys: keys, now: seconds)
        try claims.validate(now: seconds)
        guard let role = claims.role else { throw .tokenRequired }
        return Authentication(role: role, claims: claims.claims, isAuthenticated: true)
    }

    /// The token after `Bearer ` (scheme case-insensitive); empty when the header holds no bearer token.
    static func bearerToken(_ header: String) -> Substring {
        let trimmed = header.drop { $0 == " " }
        guard trimmed.count >= 6, trimmed.prefix(6).lowercased() == "bearer" else { return "" }
        return trimmed.dropFirst(6).drop { $0 == " " }.prefix { $0 != " " }
    }

    /// The token's claims: from the cache, else parsed and verified, then cached until the earlier of
    /// its last valid second and `jwt-cache-max-lifetime` (failures are not cached, as in PostgREST).
    private func verified(_ token: Substring, keys: JWKSet, now: Int64) throws(JWTError) -> TokenClaims {
        guard let cache else { return try decode(token, keys: keys) }
        let key = String(token)
        let hit = cache.value(for: key, now: now)
        metrics.lookedUp(hit: hit != nil)
        if let hit { return hit }
        let claims = try decode(token, keys: keys)
        let untilExpired = claims.lastValidSecond.map { $0 == .max ? $0 : $0 + 1 } ?? .max
        let untilLifetime = maxLifetime.map { now.addingReportingOverflow($0).overflow ? .max : now + $0 } ?? .max
        cache.insert(claims, for: key, deadline: min(untilExpired, untilLifetime), now: now)
        return claims
    }

    private func decode(_ token: Substring, keys: JWKSet) throws(JWTError) -> TokenClaims {
        let jws = try CompactJWS(token)
        try keys.verify(jws)
        return try TokenClaims(payload: jws.payload, audience: audience, roleClaim: roleClaim, anonRole: anonRole)
    }
}
