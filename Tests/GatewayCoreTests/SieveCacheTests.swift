import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// The JWT cache: SIEVE eviction within its bound, entries gone at their deadline, and through the
/// authenticator: a cached token is not verified again (PostgREST 14, docs/references/auth.rst "JWT
/// Cache"), but its claims are checked on every request; the deadline is the earlier of the token's
/// exp (plus the skew) and jwt-cache-max-lifetime (PostgREST 12/13).
@Suite struct SieveCacheTests {
    @Test func staysWithinItsCapacityEvictingUnvisitedEntriesFirst() {
        let evictions = Counted()
        let cache = SieveCache<Int>(capacity: 3, evicted: { evictions.add() })
        for (index, key) in ["a", "b", "c"].enumerated() { cache.insert(index, for: key, deadline: 100, now: 0) }
        #expect(cache.value(for: "a", now: 1) == 0)      // a and c visited, b not
        #expect(cache.value(for: "c", now: 1) == 2)
        cache.insert(3, for: "d", deadline: 100, now: 1)   // the hand passes a (clearing it), evicts b
        #expect(cache.count == 3)
        #expect(cache.value(for: "b", now: 1) == nil)
        #expect(evictions.value == 1)
        cache.insert(4, for: "e", deadline: 100, now: 1)   // the hand goes on from c (clearing it), to d: evicted
        #expect(cache.value(for: "d", now: 1) == nil)
        #expect(cache.value(for: "a", now: 1) == 0)
        #expect(cache.value(for: "c", now: 1) == 2)
        #expect(cache.value(for: "e", now: 1) == 4)
        for index in 0..<1000 { cache.insert(index, for: "k\(index)", deadline: 100, now: 1) }
        #expect(cache.count == 3)
    }

    @Test func entriesAreGoneAtTheirDeadline() {
        let evictions = Counted()
        let cache = SieveCache<String>(capacity: 10, evicted: { evictions.add() })
        cache.insert("x", for: "t", deadline: 50, now: 0)
        #expect(cache.value(for: "t", now: 49) == "x")
        #expect(cache.value(for: "t", now: 50) == nil)
        #expect(cache.count == 0)
        #expect(evictions.value == 1)
        cache.insert("late", for: "u", deadline: 50, now: 50)   // already past: not stored
        #expect(cache.count == 0)
        #expect(SieveCache<String>(capacity: 0).count == 0)
    }

    @Test func isSafeUnderConcurrentUse() async {
        let cache = SieveCache<Int>(capacity: 64)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<2000 {
                        let key = "k\((index * 7 + task) % 200)"
                        if cache.value(for: key, now: 0) == nil { cache.insert(index, for: key, deadline: 10, now: 0) }
                    }
                }
            }
        }
        #expect(cache.count <= 64)
    }

    func authenticator(_ registry: GatewayMetrics, lifetime: Int? = nil, entries: Int = 10) throws -> JWTAuthenticator {
        JWTAuthenticator(keys: try JWKSet(secret: Array(JWTTests().secret.utf8), isBase64: false), audience: nil, anonRole: nil,
                         cache: .init(maxEntries: entries, maxLifetime: lifetime), metrics: JWTCacheMetrics(registry: registry.registry))
    }

    func metric(_ registry: GatewayMetrics, _ name: String) -> Int {
        let text = String(decoding: registry.exposition(), as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
    }

    @Test func aCachedTokenIsNotVerifiedAgainButItsClaimsAreChecked() throws {
        let registry = GatewayMetrics()
        let start = Date(timeIntervalSince1970: 1_800_000_000), seconds = 1_800_000_000
        let a = try authenticator(registry)
        let token = "Bearer " + JWTSigner.sign(claims: ["role": "app_user", "exp": seconds + 60], secret: JWTTests().secret)
        #expect(try a.authenticate(authorization: token, now: start).role == "app_user")
        #expect(try a.authenticate(authorization: token, now: start.addingTimeInterval(10)).role == "app_user")
        #expect(metric(registry, "pgrst_jwt_cache_requests_total") == 2)
        #expect(metric(registry, "pgrst_jwt_cache_hits_total") == 1)
        // Within the skew the entry still answers; past exp + 30 s it is gone, and the token expired.
        #expect(try a.authenticate(authorization: token, now: start.addingTimeInterval(90)).role == "app_user")
        #expect(metric(registry, "pgrst_jwt_cache_hits_total") == 2)
        #expect(throws: JWTError.claims("JWT expired")) { try a.authenticate(authorization: token, now: start.addingTimeInterval(91)) }
        #expect(metric(registry, "pgrst_jwt_cache_hits_total") == 2)
        #expect(metric(registry, "pgrst_jwt_cache_evictions_total") == 1)
        // A failed verification is not cached.
        let forged = "Bearer " + JWTSigner.sign(claims: ["role": "operator"], secret: String(JWTTests().secret.reversed()))
        for _ in 0..<2 { #expect(throws: JWTError.noKeyVerified) { try a.authenticate(authorization: forged, now: start) } }
        #expect(metric(registry, "pgrst_jwt_cache_hits_total") == 2)
    }

    @Test func theLifetimeBoundsEntriesOfTokensWithoutExp() throws {
        let registry = GatewayMetrics()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let a = try authenticator(registry, lifetime: 5)
        let token = "Bearer " + JWTSigner.sign(claims: ["role": "app_user"], secret: JWTTests().secret)
        for offset in [0.0, 4, 5, 6] { _ = try a.authenticate(authorization: token, now: start.addingTimeInterval(offset)) }
        // 0: miss, stored until 5; 4: hit; 5: gone, miss, stored until 10; 6: hit.
        #expect(metric(registry, "pgrst_jwt_cache_requests_total") == 4)
        #expect(metric(registry, "pgrst_jwt_cache_hits_total") == 2)
        // jwt-cache-max-lifetime = 0 or jwt-cache-max-entries = 0: no cache, no lookups.
        for off in [try authenticator(registry, lifetime: 0), try authenticator(registry, entries: 0)] {
            _ = try off.authenticate(authorization: token, now: start)
        }
        #expect(metric(registry, "pgrst_jwt_cache_requests_total") == 4)
    }
}

/// A thread-safe counter for the eviction callback.
final class Counted: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
