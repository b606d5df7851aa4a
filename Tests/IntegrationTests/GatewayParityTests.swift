import Foundation
import Testing
@testable import GatewayCore

/// Fixtures of the PostgREST-parity suites (issue 17): schema `test_parity1`, where `web_anon` may
/// execute some functions and `app_user` all of them. Applied once per test run, as superuser.
enum ParityFixtures {
    static let secret = "parity-secret-that-is-at-least-32-characters"

    private static let applied: Result<Void, any Error> = Result {
        try TestDatabase.connect().execute("""
        DROP SCHEMA IF EXISTS test_parity1 CASCADE;
        CREATE SCHEMA test_parity1;
        GRANT USAGE ON SCHEMA test_parity1 TO web_anon, app_user;
        CREATE FUNCTION test_parity1.app_setting(name text) RETURNS text LANGUAGE sql STABLE
          AS $$ SELECT current_setting('app.settings.' || name, true) $$;
        CREATE FUNCTION test_parity1.for_everyone() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
        CREATE FUNCTION test_parity1.for_users() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 2';
        REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA test_parity1 FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION test_parity1.app_setting(text), test_parity1.for_everyone() TO web_anon, app_user;
        GRANT EXECUTE ON FUNCTION test_parity1.for_users() TO app_user;
        """)
    }

    /// A gateway serving `test_parity1` (then `test_rpc`) with a JWT secret, plus `settings`.
    static func gateway(_ settings: [String: String] = [:], environment: [String: String] = [:]) throws -> GatewayProcess {
        try GatewayProcess.applyFixtures()
        try applied.get()
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"test_parity1, test_rpc\"", "jwt-secret": "\"\(secret)\""]
                                            .merging(settings) { $1 },
                                         environment: environment)
        try gateway.waitUntilReady()
        return gateway
    }

    /// `Authorization` for a JWT of `role`.
    static func token(role: String) -> (String, String) {
        ("Authorization", "Bearer " + JWTSigner.sign(claims: ["role": role, "exp": Int(Date().timeIntervalSince1970) + 300],
                                                     secret: secret))
    }
}

/// `app.settings.*` reach SQL: PostgREST sets each as a transaction-local setting of every request
/// (docs/references/configuration.rst, "app.settings.*"; src/library/PostgREST/Query/PreQuery.hs,
/// `appSettingsSql`), from the config file or `PGRST_APP_SETTINGS_<NAME>` (Config.hs, `parseAppSettings`).
@Suite(.serialized)
struct GatewayAppSettingsTests {
    let gateway: GatewayProcess

    init() throws {
        gateway = try ParityFixtures.gateway(
            ["app.settings.greeting": "\"hello from the file\"", "app.settings.overridden": "\"file\""],
            environment: ["PGRST_APP_SETTINGS_FROM_ENV": "hello from the environment", "PGRST_APP_SETTINGS_OVERRIDDEN": "environment"])
    }

    func setting(_ name: String, method: String = "GET") throws -> HTTPClient.Response {
        method == "GET" ? try gateway.send("GET", "/rpc/app_setting?name=\(name)")
            : try gateway.send("POST", "/rpc/app_setting", body: #"{"name":"\#(name)"}"#, headers: [("Content-Type", "application/json")])
    }

    @Test func aFileSettingIsReadableWithCurrentSetting() throws {
        let response = try setting("greeting")
        #expect(response.status == 200)
        #expect(response.text == #""hello from the file""#)
        #expect(try setting("greeting", method: "POST").text == #""hello from the file""#)
    }

    @Test func anEnvironmentSettingIsReadableByItsLowerCaseName() throws {
        #expect(try setting("from_env").text == #""hello from the environment""#)
    }

    @Test func theEnvironmentWinsOverTheFile() throws {
        #expect(try setting("overridden").text == #""environment""#)
    }

    @Test func anUnsetNameIsNull() throws {
        #expect(try setting("nothing_here").text == "null")
    }
}

/// `openapi-mode` (docs/references/configuration.rst, "openapi-mode"): under follow-privileges, the
/// default, the document at `/` lists only what the caller's role may use (src/library/PostgREST/
/// MainTx.hs, `OAFollowPriv`: the functions of `accessibleFuncs`, `has_function_privilege(p.oid,
/// 'execute')` in the caller's transaction); ignore-privileges lists every function of the schema;
/// disabled answers 404 PGRST126 (test/spec/Feature/OpenApi/DisabledOpenApiSpec.hs).
@Suite(.serialized)
struct GatewayOpenAPIModeTests {
    static let everyone: Set<String> = ["/rpc/app_setting", "/rpc/for_everyone"]
    static let all: Set<String> = everyone.union(["/rpc/for_users"])

    func paths(_ response: HTTPClient.Response) -> Set<String> {
        Set(((response.json as? [String: Any])?["paths"] as? [String: Any])?.keys.map { $0 } ?? [])
    }

    @Test func followPrivilegesListsWhatEachRoleMayExecute() throws {
        let gateway = try ParityFixtures.gateway()
        let anonymous = try gateway.send("GET", "/")
        #expect(anonymous.status == 200)
        #expect(anonymous.header("Content-Type") == "application/openapi+json; charset=utf-8")
        #expect(paths(anonymous) == Self.everyone)
        let user = try gateway.send("GET", "/", headers: [ParityFixtures.token(role: "app_user")])
        #expect(user.status == 200)
        #expect(paths(user) == Self.all)
        // Accept-Profile chooses the schema, as for the root in PostgREST (IgnorePrivOpenApiSpec.hs).
        let other = try gateway.send("GET", "/", headers: [("Accept-Profile", "test_rpc")])
        #expect(paths(other).contains("/rpc/add_them"))
        #expect(!paths(other).contains("/rpc/privileged"))
        let head = try gateway.send("HEAD", "/", headers: [ParityFixtures.token(role: "app_user")])
        #expect(head.status == 200)
        #expect(head.header("Content-Type") == "application/openapi+json; charset=utf-8")
        #expect(head.body.isEmpty)
    }

    @Test func followPrivilegesRefusesWhatEveryRequestRefuses() throws {
        let gateway = try ParityFixtures.gateway()
        let unknownSchema = try gateway.send("GET", "/", headers: [("Accept-Profile", "nope")])
        #expect(unknownSchema.status == 406)
        #expect((unknownSchema.json as? [String: Any])?["code"] as? String == "PGRST106")
        let badToken = try gateway.send("GET", "/", headers: [("Authorization", "Bearer x.y.z")])
        #expect(badToken.status == 401)
        #expect((badToken.json as? [String: Any])?["code"] as? String == "PGRST301")
    }

    @Test func ignorePrivilegesListsEveryFunction() throws {
        let gateway = try ParityFixtures.gateway(["openapi-mode": "\"ignore-privileges\""])
        let anonymous = try gateway.send("GET", "/")
        #expect(anonymous.status == 200)
        #expect(paths(anonymous) == Self.all)
    }

    @Test func disabledIs404PGRST126() throws {
        let gateway = try ParityFixtures.gateway(["openapi-mode": "\"disabled\""])
        let response = try gateway.send("GET", "/", headers: [("Accept", "application/openapi+json")])
        #expect(response.status == 404)
        #expect(response.text == #"{"code":"PGRST126","details":null,"hint":null,"message":"Root endpoint metadata is disabled"}"#)
        #expect(response.header("Content-Length") == "93")
    }
}
