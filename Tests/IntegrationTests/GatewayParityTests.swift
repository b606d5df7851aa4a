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
