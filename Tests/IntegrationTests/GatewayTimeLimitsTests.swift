import Foundation
import Testing
@testable import GatewayCore

/// Time limits per role: the API roles' time limits (migration 0015) apply to requests through the gateway,
/// which logs in as authenticator and switches role per request, so PostgreSQL never applies them by
/// itself: a call waiting on a lock ends after the role's lock_timeout in a clear JSON error (55P03,
/// 500 as PostgREST answers it) instead of holding a pool connection for as long as the lock is held,
/// and a function's own statement_timeout applies to its call.
@Suite(.serialized)
struct GatewayTimeLimitsTests {
    /// Functions that show the transaction's settings, in their own schema (idempotent, once per run).
    private static let fixtures: Result<Void, any Error> = Result {
        _ = try TestDatabase.connect().execute("""
            CREATE SCHEMA IF NOT EXISTS test_limits;
            GRANT USAGE ON SCHEMA test_limits TO web_anon;
            CREATE OR REPLACE FUNCTION test_limits.limits() RETURNS json LANGUAGE sql STABLE AS $$
                SELECT json_build_object('role', current_user,
                    'statement_timeout', current_setting('statement_timeout'),
                    'lock_timeout', current_setting('lock_timeout'),
                    'idle_in_transaction_session_timeout', current_setting('idle_in_transaction_session_timeout'))
            $$;
            CREATE OR REPLACE FUNCTION test_limits.short_timeout(seconds double precision) RETURNS text
            LANGUAGE sql VOLATILE SET statement_timeout = '1s' AS $$ SELECT pg_sleep(seconds)::text || 'slept' $$;
            GRANT EXECUTE ON FUNCTION test_limits.limits(), test_limits.short_timeout(double precision) TO web_anon;
            """)
    }

    private func gateway(_ settings: [String: String] = [:]) throws -> GatewayProcess {
        try Self.fixtures.get()
        let gateway = try GatewayProcess(settings: settings.merging(["db-schemas": "\"api, test_limits\""]) { $1 })
        try gateway.waitUntilReady()
        return gateway
    }

    private static let json = [("Content-Type", "application/json")]

    @Test func aCallWaitingOnALockEndsAfterTheRolesLockTimeout() throws {
        let gateway = try gateway()
        let first = "tl-\(UUID().uuidString)", second = "tl-\(UUID().uuidString)"
        let admin = try TestDatabase.connect()
        _ = try admin.query("SELECT api.add_widget($1, 'lock', '{P}'), api.add_widget($2, 'lock', '{P}')", [first, second])
        defer { _ = try? admin.query("SELECT api.remove_widget($1), api.remove_widget($2)", [first, second]) }

        // Another session holds the first widget's row lock (a stuck client, a DBA's open transaction).
        let holder = try TestDatabase.connect()
        _ = try holder.execute("BEGIN")
        _ = try holder.query("SELECT 1 FROM widgets.widgets WHERE serial_number = $1 FOR UPDATE", [first])
        let body = #"{"widget1_sn": "\#(first)", "widget2_sn": "\#(second)", "port": "P"}"#
        let started = Date()
        let response = try HTTPClient.send(port: gateway.port, method: "POST", path: "/rpc/associate_widgets",
                                           body: Array(body.utf8), headers: Self.json, timeout: 15)
        let seconds = Date().timeIntervalSince(started)
        _ = try holder.execute("ROLLBACK")

        // web_anon's lock_timeout is 2 s; PostgREST answers 55P03 with 500 (its SQLSTATE table).
        #expect(response.status == 500, "\(response.status) \(response.text)")
        #expect(response.json == (try JSONSerialization.jsonObject(with: Data(#"""
            {"code": "55P03", "message": "canceling statement due to lock timeout", "details": null, "hint": null}
            """#.utf8)) as? NSObject), "\(response.text)")
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        #expect(seconds >= 1.8 && seconds < 4.5, "answered after \(seconds) s")

        // Nothing changed, and the connection that waited serves the next call.
        let again = try gateway.send("POST", "/rpc/associate_widgets", body: body, headers: Self.json)
        #expect(again.status == 204, "\(again.text)")
    }

    @Test func theImpersonatedRolesSettingsApplyToItsRequests() throws {
        let gateway = try gateway()
        let response = try gateway.send("GET", "/rpc/limits", headers: [("Accept-Profile", "test_limits")])
        #expect(response.status == 200, "\(response.text)")
        // web_anon's limits in this database, not the authenticator's (10 s, 5 s) it logged in with.
        #expect(response.json == (try JSONSerialization.jsonObject(with: Data(#"""
            {"role": "web_anon", "statement_timeout": "5s", "lock_timeout": "2s", "idle_in_transaction_session_timeout": "10s"}
            """#.utf8)) as? NSObject), "\(response.text)")
    }

    @Test func aFunctionsOwnStatementTimeoutAppliesToItsCall() throws {
        let gateway = try gateway()
        let started = Date()
        let response = try gateway.send("POST", "/rpc/short_timeout", body: #"{"seconds": 3}"#,
                                        headers: Self.json + [("Content-Profile", "test_limits")])
        let seconds = Date().timeIntervalSince(started)
        // 57014 is 500, as PostgREST answers it (docs/references/errors.rst, "HTTP
        // Status Codes": 57* -> 500 "operator intervention"; src/library/PostgREST/Error.hs,
        // mapSQLtoHTTP: only 57P01 is 503, other 57xxx 500; errors.rst's Proxy-Status example
        // shows 57014 as a 500 too).
        #expect(response.status == 500, "\(response.text)")
        #expect(response.json == (try JSONSerialization.jsonObject(with: Data(#"""
            {"code": "57014", "message": "canceling statement due to statement timeout", "details": null, "hint": null}
            """#.utf8)) as? NSObject), "\(response.text)")
        #expect(seconds >= 0.8 && seconds < 2.5, "answered after \(seconds) s")
    }

    @Test func hoistedSettingsAreConfigurable() throws {
        // PostgREST's `db-hoisted-tx-settings` (docs/references/configuration.rst): only the listed
        // settings of a function apply to its whole transaction. Without statement_timeout in the
        // list, the function's own '1s' does not cut off its call (the role's 5 s does not either).
        let gateway = try gateway(["db-hoisted-tx-settings": "\"plan_filter.statement_cost_limit\""])
        let response = try gateway.send("POST", "/rpc/short_timeout", body: #"{"seconds": 1.5}"#,
                                        headers: Self.json + [("Content-Profile", "test_limits")])
        #expect(response.status == 200, "\(response.text)")
        #expect(response.text == #""slept""#)
    }
}
