import Foundation
import Testing
@testable import GatewayCore

/// Token verification as PostgREST does it: codes, messages, skew, algorithms.
@Suite struct JWTTests {
    let secret = "reallyreallyreallyreallyverysafe-and-long"
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    var nowSeconds: Int { Int(now.timeIntervalSince1970) }

    func authenticator(audience: String? = nil, roleClaim: String = ".role", anon: String? = "web_anon") throws -> JWTAuthenticator {
        JWTAuthenticator(keys: try JWKSet(secret: Array(secret.utf8), isBase64: false), audience: audience,
                         roleClaim: try RoleClaimPath(roleClaim), anonRole: anon)
    }

    func bearer(_ claims: [String: Any], secret: String? = nil) -> String {
        "Bearer " + JWTSigner.sign(claims: claims, secret: secret ?? self.secret)
    }

    @Test func validTokenRunsAsItsRoleWithItsClaims() throws {
        let auth = try authenticator().authenticate(authorization: bearer(["role": "app_user", "sub": "42"]), now: now)
        #expect(auth.role == "app_user")
        #expect(auth.isAuthenticated)
        let claims = try JSONSerialization.jsonObject(with: Data(auth.claims.utf8)) as! [String: Any]
        #expect(claims["sub"] as? String == "42")
        #expect(claims["role"] as? String == "app_user")
    }

    @Test func noTokenIsTheAnonymousRole() throws {
        let auth = try authenticator().authenticate(authorization: nil, now: now)
        #expect(auth == Authentication(role: "web_anon", claims: #"{"role":"web_anon"}"#, isAuthenticated: false))
        #expect(throws: JWTError.tokenRequired) { try authenticator(anon: nil).authenticate(authorization: nil, now: now) }
        #expect(JWTError.tokenRequired.wwwAuthenticate == "Bearer")
        #expect(JWTError.tokenRequired.message == "Anonymous access is disabled")
    }

    @Test func tokenWithoutRoleFallsBackToAnonAndClaimsGetTheRole() throws {
        let auth = try authenticator().authenticate(authorization: bearer(["sub": "7"]), now: now)
        #expect(auth.role == "web_anon")
        #expect(auth.claims == #"{"role":"web_anon","sub":"7"}"#)
    }

    /// PostgREST 13/14 answer these without details (test/spec/Feature/Auth/AuthSpec.hs: "details":null).
    @Test func timeClaimsAreCheckedWithThirtySecondsOfSkew() throws {
        let a = try authenticator()
        #expect(throws: JWTError.claims("JWT expired")) {
            try a.authenticate(authorization: bearer(["role": "app_user", "exp": nowSeconds - 31]), now: now)
        }
        _ = try a.authenticate(authorization: bearer(["role": "app_user", "exp": nowSeconds - 29]), now: now)
        #expect(throws: JWTError.claims("JWT not yet valid")) {
            try a.authenticate(authorization: bearer(["role": "app_user", "nbf": nowSeconds + 31]), now: now)
        }
        #expect(throws: JWTError.claims("JWT issued at future")) {
            try a.authenticate(authorization: bearer(["role": "app_user", "iat": nowSeconds + 31]), now: now)
        }
        _ = try a.authenticate(authorization: bearer(["role": "app_user", "iat": nowSeconds + 29, "nbf": nowSeconds + 29]), now: now)
        #expect(throws: JWTError.claims("The JWT 'exp' claim must be a number")) {
            try a.authenticate(authorization: bearer(["role": "app_user", "exp": "soon"]), now: now)
        }
    }

    /// PostgREST 13/14 (jose-jwt): a signature no key verifies is "No suitable key or wrong key type" with
    /// details "None of the keys was able to decode the JWT" (test/io/test_auth.py, test_jwt_errors); a
    /// plain secret is an HS256-only key, so HS512 finds no suitable key.
    @Test func wrongKeyTamperedPayloadAndAlgNoneAreRefused() throws {
        let a = try authenticator()
        #expect(throws: JWTError.noKeyVerified) {
            try a.authenticate(authorization: bearer(["role": "app_user"], secret: "another-secret-another-secret-another"), now: now)
        }
        let token = JWTSigner.sign(claims: ["role": "web_anon"], secret: secret).split(separator: ".")
        let forged = JWTSigner.encode(Data(#"{"role":"operator"}"#.utf8))
        #expect(throws: JWTError.noKeyVerified) {
            try a.authenticate(authorization: "Bearer \(token[0]).\(forged).\(token[2])", now: now)
        }
        let none = JWTSigner.encode(Data(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + forged + "."
        #expect(throws: JWTError.unsecured) { try a.authenticate(authorization: "Bearer \(none)", now: now) }
        let hs512 = JWTSigner.sign(claims: ["role": "app_user"], secret: secret, header: ["alg": "HS512", "typ": "JWT"])
        #expect(throws: JWTError.noSuitableKey) { try a.authenticate(authorization: "Bearer \(hs512)", now: now) }
    }

    @Test func malformedTokensGivePostgRESTsDecodeErrors() throws {
        let a = try authenticator()
        #expect(throws: JWTError.parts(2)) { try a.authenticate(authorization: "Bearer aaa.bbb", now: now) }
        #expect(throws: JWTError.parts(4)) { try a.authenticate(authorization: "Bearer a.b.c.d", now: now) }
        #expect(throws: JWTError.emptyToken) { try a.authenticate(authorization: "Bearer ", now: now) }
        #expect(throws: JWTError.emptyToken) { try a.authenticate(authorization: "Basic dXNlcjpwYXNz", now: now) }
        #expect(throws: JWTError.badCrypto) { try a.authenticate(authorization: "Bearer !!!.???.###", now: now) }
        #expect(JWTError.parts(2).message == "Expected 3 parts in JWT; got 2")
        #expect(JWTError.parts(2).code == "PGRST301")
        #expect(JWTError.parts(2).wwwAuthenticate == #"Bearer error="invalid_token", error_description="Expected 3 parts in JWT; got 2""#)
        #expect(throws: JWTError.secretMissing) {
            try JWTAuthenticator(keys: nil, audience: nil, anonRole: "web_anon").authenticate(authorization: bearer([:]), now: now)
        }
    }

    @Test func audienceIsCheckedOnlyWhenConfigured() throws {
        let token = bearer(["role": "app_user", "aud": "billing"])
        _ = try authenticator().authenticate(authorization: token, now: now)
        _ = try authenticator(audience: "billing").authenticate(authorization: bearer(["role": "app_user", "aud": ["x", "billing"]]), now: now)
        #expect(throws: JWTError.claims("JWT not in audience")) { try authenticator(audience: "platform").authenticate(authorization: token, now: now) }
        #expect(throws: JWTError.claims("The JWT 'aud' claim must be a string or an array of strings")) {
            try authenticator(audience: "platform").authenticate(authorization: bearer(["aud": 5]), now: now)
        }
    }

    @Test func roleClaimKeyFollowsAPath() throws {
        let a = try authenticator(roleClaim: #"."https://platform.local/claims".roles[1]"#)
        let auth = try a.authenticate(authorization: bearer(["https://platform.local/claims": ["roles": ["x", "worker"]]]), now: now)
        #expect(auth.role == "worker")
        #expect(throws: (any Error).self) { try RoleClaimPath("role") }
        #expect(throws: (any Error).self) { try RoleClaimPath(".roles[x]") }
    }
}
