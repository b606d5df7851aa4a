import Foundation
import Testing
@testable import GatewayCore

/// Fixtures of the JWK/JWKS and JWT cache suites: schema `test_jwk` with `whoami()`, which tells the
/// role the call ran as and the token's `sub`. Applied once per test run, as superuser.
enum JWKFixtures {
    private static let applied: Result<Void, any Error> = Result {
        try TestDatabase.connect().execute("""
        DROP SCHEMA IF EXISTS test_jwk CASCADE;
        CREATE SCHEMA test_jwk;
        GRANT USAGE ON SCHEMA test_jwk TO web_anon, app_user;
        CREATE FUNCTION test_jwk.whoami() RETURNS json LANGUAGE sql STABLE
          AS $$ SELECT json_build_object('role', current_user, 'sub', current_setting('request.jwt.claims', true)::json->>'sub') $$;
        REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA test_jwk FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION test_jwk.whoami() TO web_anon, app_user;
        """)
    }

    /// A gateway serving `test_jwk` with `settings` (jwt-secret among them) and `environment`.
    static func gateway(_ settings: [String: String] = [:], environment: [String: String] = [:]) throws -> GatewayProcess {
        try applied.get()
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"test_jwk\""].merging(settings) { $1 }, environment: environment)
        try gateway.waitUntilReady()
        return gateway
    }

    /// A temporary file holding `bytes`, for `jwt-secret = "@path"`.
    static func file(_ bytes: Data) throws -> String {
        let path = NSTemporaryDirectory() + "jwt-secret-\(UUID().uuidString)"
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    static func claims(_ sub: String, expiresIn seconds: Int = 300) -> [String: Any] {
        ["role": "app_user", "sub": sub, "exp": Int(Date().timeIntervalSince1970) + seconds]
    }

    static func whoami(_ gateway: GatewayProcess, _ token: String) throws -> HTTPClient.Response {
        try gateway.send("GET", "/rpc/whoami", headers: [("Authorization", "Bearer " + token)])
    }

    /// The call ran as the token's role, with its claims.
    static func expectCaller(_ response: HTTPClient.Response, sub: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 200, "\(response.text)", sourceLocation: sourceLocation)
        let body = response.json as? [String: Any]
        #expect(body?["role"] as? String == "app_user", sourceLocation: sourceLocation)
        #expect(body?["sub"] as? String == sub, sourceLocation: sourceLocation)
    }

    /// PostgREST's 401 for a refused token: the code, the message, the details and `WWW-Authenticate`
    /// (src/PostgREST/Error.hs, `invalidTokenHeader`).
    static func expectRefused(_ response: HTTPClient.Response, code: String, message: String, details: String?,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 401, sourceLocation: sourceLocation)
        let body = response.json as? [String: Any]
        #expect(body?["code"] as? String == code, sourceLocation: sourceLocation)
        #expect(body?["message"] as? String == message, sourceLocation: sourceLocation)
        #expect(body?["details"] as? String == details, sourceLocation: sourceLocation)
        #expect(body?.keys.contains("details") == true, sourceLocation: sourceLocation)
        #expect(response.header("WWW-Authenticate") == "Bearer error=\"invalid_token\", error_description=\"\(message)\"",
                sourceLocation: sourceLocation)
    }
}

/// jwt-secret as an identity provider's JWKS (docs/references/auth.rst, "Asymmetric Keys" and "kid
/// verification"; test/spec/Feature/Auth/AsymmetricJwtSpec.hs): RSA, EC and Ed25519 keys told apart by
/// `kid`, read from a file; the errors of PostgREST 13/14 (src/PostgREST/Auth/Jwt.hs over jose-jwt,
/// test/io/test_auth.py `test_jwt_errors`).
@Suite(.serialized)
struct GatewayJWKTests {
    /// The provider's signing keys, by kid (RSA 2048, P-256, P-384, Ed25519), and an encryption key.
    static let signing: [(kid: String, key: JWTSigningKey)] = try! [
        ("rsa-2026-10", .generate("RS256")), ("rsa-2026-11", .generate("RS256")),
        ("ec-256", .generate("ES256")), ("ec-384", .generate("ES384")), ("ed-1", .generate("EdDSA")),
    ]

    /// The JWKS document as a provider serves it at its jwks_uri, with members the gateway ignores.
    static let jwks: Data = {
        var keys: [[String: Any]] = signing.map { entry in
            var jwk = try! entry.key.jwk(kid: entry.kid, alg: entry.key.alg)
            jwk["x5t"] = "not-used"; jwk["key_ops"] = ["verify"]
            return jwk
        }
        keys.append(try! JWTSigningKey.generate("RS256").jwk(kid: "enc-1", use: "enc", alg: "RSA-OAEP-256"))
        return try! JSONSerialization.data(withJSONObject: ["keys": keys])
    }()

    let gateway: GatewayProcess

    init() throws {
        gateway = try JWKFixtures.gateway(["jwt-secret": "\"@\(try JWKFixtures.file(Self.jwks))\""])
    }

    func key(_ kid: String) -> JWTSigningKey { Self.signing.first { $0.kid == kid }!.key }

    @Test(arguments: ["rsa-2026-10", "rsa-2026-11", "ec-256", "ec-384", "ed-1"])
    func aTokenSignedByAnyProviderKeyIsAccepted(kid: String) throws {
        let token = try JWTSigner.sign(claims: JWKFixtures.claims("user-\(kid)"), key: key(kid), header: ["kid": kid])
        JWKFixtures.expectCaller(try JWKFixtures.whoami(gateway, token), sub: "user-\(kid)")
    }

    @Test func withoutAKidEveryKeyIsTried() throws {
        let token = try JWTSigner.sign(claims: JWKFixtures.claims("no-kid"), key: key("ec-384"))
        JWKFixtures.expectCaller(try JWKFixtures.whoami(gateway, token), sub: "no-kid")
    }

    @Test func aKidNoKeyHasIsRefused() throws {
        let token = try JWTSigner.sign(claims: JWKFixtures.claims("x"), key: key("rsa-2026-10"), header: ["kid": "rsa-2027-01"])
        JWKFixtures.expectRefused(try JWKFixtures.whoami(gateway, token), code: "PGRST301",
                                  message: "No suitable key or wrong key type", details: "No suitable key was found to decode the JWT")
    }

    @Test func theKidOfAnotherKeyIsRefused() throws {
        let token = try JWTSigner.sign(claims: JWKFixtures.claims("x"), key: key("rsa-2026-10"), header: ["kid": "rsa-2026-11"])
        JWKFixtures.expectRefused(try JWKFixtures.whoami(gateway, token), code: "PGRST301",
                                  message: "No suitable key or wrong key type", details: "None of the keys was able to decode the JWT")
    }

    /// A key's `alg` and type bind it: RS384 under an RS256 key, the encryption key, and an HS256 token
    /// made with a public key's text as its secret (algorithm confusion) find no suitable key.
    @Test func anAlgorithmTheKeyIsNotForIsRefused() throws {
        let rs384 = try JWTSigner.sign(claims: JWKFixtures.claims("x"), key: key("rsa-2026-10"), header: ["kid": "rsa-2026-10", "alg": "RS384"])
        let encryption = try JWTSigner.sign(claims: JWKFixtures.claims("x"), key: key("rsa-2026-10"), header: ["kid": "enc-1"])
        let confused = JWTSigner.sign(claims: JWKFixtures.claims("x"), secret: String(decoding: Self.jwks, as: UTF8.self),
                                      header: ["alg": "HS256", "kid": "rsa-2026-10"])
        for token in [rs384, encryption, confused] {
            JWKFixtures.expectRefused(try JWKFixtures.whoami(gateway, token), code: "PGRST301",
                                      message: "No suitable key or wrong key type", details: "No suitable key was found to decode the JWT")
        }
    }

    @Test func anExpiredTokenIs401PGRST303() throws {
        let token = try JWTSigner.sign(claims: JWKFixtures.claims("x", expiresIn: -60), key: key("ed-1"), header: ["kid": "ed-1"])
        JWKFixtures.expectRefused(try JWKFixtures.whoami(gateway, token), code: "PGRST303", message: "JWT expired", details: nil)
    }

    @Test func unsignedAndUnparsableTokensAreRefusedAsPostgRESTDoes() throws {
        JWKFixtures.expectRefused(try JWKFixtures.whoami(gateway, "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30.yOBhlOIqn56T-4NvyEXCjfi3UmyQZ-BzXtePMO2NgRI"),
                                  code: "PGRST301", message: "Wrong or unsupported encoding algorithm",
                                  details: "JWT is unsecured but expected 'alg' was not 'none'")
        JWKFixtures.expectRefused(try JWKFixtures.whoami(gateway, "quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah"),
                                  code: "PGRST301", message: "JWT cryptographic operation failed", details: nil)
    }
}

/// The other forms of jwt-secret: one JWK (here an HS512 `oct` key, in the environment), a plain
/// secret (HS256 only since PostgREST 13: Config.hs `parseSecret`), `jwt-secret-is-base64` and a binary
/// secret file (test/io/test_auth.py `test_read_secret_from_file`, test/io/secrets/binary.*).
@Suite(.serialized)
struct GatewayJWTSecretFormsTests {
    @Test func aSingleJWKFromTheEnvironment() throws {
        let key = try JWTSigningKey.generate("HS512")
        let jwk = String(decoding: try JSONSerialization.data(withJSONObject: try key.jwk()), as: UTF8.self)
        let gateway = try JWKFixtures.gateway(environment: ["PGRST_JWT_SECRET": jwk])
        let token = try JWTSigner.sign(claims: JWKFixtures.claims("hs512"), key: key)
        JWKFixtures.expectCaller(try JWKFixtures.whoami(gateway, token), sub: "hs512")
    }

    @Test func aPlainSecretAcceptsHS256Only() throws {
        let secret = "plain-secret-that-is-at-least-32-characters"
        let gateway = try JWKFixtures.gateway(["jwt-secret": "\"\(secret)\""])
        #expect(try JWKFixtures.whoami(gateway, JWTSigner.sign(claims: JWKFixtures.claims("hs256"), secret: secret)).status == 200)
        let hs384 = try JWTSigner.sign(claims: JWKFixtures.claims("hs384"), key: .hmac(.init(data: Data(secret.utf8)), alg: "HS384"))
        JWKFixtures.expectRefused(try JWKFixtures.whoami(gateway, hs384), code: "PGRST301",
                                  message: "No suitable key or wrong key type", details: "No suitable key was found to decode the JWT")
    }

    @Test func aBase64SecretIsDecodedFirst() throws {
        let secret = Data((0..<32).map { UInt8(($0 * 37 + 129) & 0xff) })
        let text = secret.base64EncodedString()
        let gateway = try JWKFixtures.gateway(environment: ["PGRST_JWT_SECRET": text, "PGRST_JWT_SECRET_IS_BASE64": "true"])
        let token = try JWTSigner.sign(claims: JWKFixtures.claims("b64"), key: .hmac(.init(data: secret), alg: "HS256"))
        JWKFixtures.expectCaller(try JWKFixtures.whoami(gateway, token), sub: "b64")
        // The base64 text itself is not the secret.
        JWKFixtures.expectRefused(try JWKFixtures.whoami(gateway, JWTSigner.sign(claims: JWKFixtures.claims("text"), secret: text)),
                                  code: "PGRST301", message: "No suitable key or wrong key type", details: "None of the keys was able to decode the JWT")
    }

    @Test func aBinarySecretFileWithItsTrailingNewlineDropped() throws {
        let secret = Data((0..<33).map { UInt8(($0 * 91 + 7) & 0xff) })
        let gateway = try JWKFixtures.gateway(["jwt-secret": "\"@\(try JWKFixtures.file(secret + Data("\n".utf8)))\""])
        let token = try JWTSigner.sign(claims: JWKFixtures.claims("binary"), key: .hmac(.init(data: secret), alg: "HS256"))
        JWKFixtures.expectCaller(try JWKFixtures.whoami(gateway, token), sub: "binary")
    }

    /// Ours: a JSON object that is no valid JWK or JWKS is refused at start, naming the key and the
    /// fault (PostgREST would take its text as an HMAC secret, and a JWKS's text is public).
    @Test func anInvalidJWKSIsRefusedAtStart() throws {
        let gateway = try GatewayProcess(settings: ["jwt-secret": #""{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\"}]}""#])
        gateway.process.waitUntilExit()
        #expect(gateway.process.terminationStatus != 0)
        #expect(gateway.log.contains("jwt-secret"))
        #expect(gateway.log.contains("keys[0]: n is required for an RSA key"), "\(gateway.log)")
    }
}

/// The JWT cache (docs/references/auth.rst "JWT Cache"; configuration.rst `jwt-cache-max-entries`,
/// PostgREST 14, and `jwt-cache-max-lifetime`, PostgREST 12/13), observed through PostgREST's metrics
/// on the admin port (docs/references/observability.rst, `pgrst_jwt_cache_*`): a cached token is not
/// parsed or verified again, an entry expires, and the answers stay right.
@Suite(.serialized)
struct GatewayJWTCacheTests {
    static let key = try! JWTSigningKey.generate("RS256")
    static let jwks = String(decoding: try! JSONSerialization.data(withJSONObject: ["keys": [try! key.jwk(kid: "k1")]]), as: UTF8.self)

    func gateway(_ settings: [String: String] = [:]) throws -> GatewayProcess {
        try JWKFixtures.gateway(settings, environment: ["PGRST_JWT_SECRET": Self.jwks])
    }

    func metric(_ gateway: GatewayProcess, _ name: String) throws -> Int? {
        let text = try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/metrics").text
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ")[1]) }
    }

    func token(_ sub: String) throws -> String {
        try JWTSigner.sign(claims: JWKFixtures.claims(sub), key: Self.key, header: ["kid": "k1"])
    }

    @Test func aCachedTokenIsNotVerifiedAgain() throws {
        let gateway = try gateway()   // jwt-cache-max-entries defaults to 1000, as in PostgREST 14
        let first = try token("cached")
        for _ in 0..<3 { JWKFixtures.expectCaller(try JWKFixtures.whoami(gateway, first), sub: "cached") }
        #expect(try metric(gateway, "pgrst_jwt_cache_requests_total") == 3)
        #expect(try metric(gateway, "pgrst_jwt_cache_hits_total") == 2)
        JWKFixtures.expectCaller(try JWKFixtures.whoami(gateway, try token("other")), sub: "other")
        #expect(try metric(gateway, "pgrst_jwt_cache_requests_total") == 4)
        #expect(try metric(gateway, "pgrst_jwt_cache_hits_total") == 2)
        // A refused token is never cached: every lookup misses.
        let forged = try JWTSigner.sign(claims: JWKFixtures.claims("x"), key: JWTSigningKey.generate("RS256"), header: ["kid": "k1"])
        for _ in 0..<2 { #expect(try JWKFixtures.whoami(gateway, forged).status == 401) }
        #expect(try metric(gateway, "pgrst_jwt_cache_hits_total") == 2)
    }

    @Test func anEntryExpiresAfterTheMaxLifetime() throws {
        let gateway = try gateway(["jwt-cache-max-lifetime": "2"])
        let token = try token("short-lived")
        for _ in 0..<2 { JWKFixtures.expectCaller(try JWKFixtures.whoami(gateway, token), sub: "short-lived") }
        #expect(try metric(gateway, "pgrst_jwt_cache_hits_total") == 1)
        Thread.sleep(forTimeInterval: 3.1)
        JWKFixtures.expectCaller(try JWKFixtures.whoami(gateway, token), sub: "short-lived")
        #expect(try metric(gateway, "pgrst_jwt_cache_requests_total") == 3)
        #expect(try metric(gateway, "pgrst_jwt_cache_hits_total") == 1)
        #expect(try metric(gateway, "pgrst_jwt_cache_evictions_total") == 1)
    }

    @Test(arguments: [["jwt-cache-max-entries": "0"], ["jwt-cache-max-lifetime": "0"]])
    func zeroTurnsTheCacheOff(settings: [String: String]) throws {
        let gateway = try gateway(settings)
        let token = try token("uncached")
        for _ in 0..<2 { JWKFixtures.expectCaller(try JWKFixtures.whoami(gateway, token), sub: "uncached") }
        #expect(try metric(gateway, "pgrst_jwt_cache_requests_total") == 0)
    }
}
