import Foundation
import Testing
@testable import GatewayCore

/// `Prefer: timeout=N` (seconds, decimals allowed): the call's statement timeout for that request
/// only, capped by `db-max-timeout`; a call cut off answers 504 with PostgreSQL's 57014 body within
/// N + 0.5 s, and the connection serves the next request at once. Without the preference nothing
/// changes (a statement timeout stays PostgREST's 500, GatewayTimeLimitsTests).
@Suite(.serialized)
struct GatewayDeadlineTests {
    /// Functions that take their time, in their own schema (idempotent, once per run).
    private static let fixtures: Result<Void, any Error> = Result {
        _ = try TestDatabase.connect().execute("""
            CREATE SCHEMA IF NOT EXISTS test_deadline;
            GRANT USAGE ON SCHEMA test_deadline TO web_anon;
            CREATE TABLE IF NOT EXISTS test_deadline.writes (tag text PRIMARY KEY);
            GRANT INSERT, SELECT ON test_deadline.writes TO web_anon;
            CREATE OR REPLACE FUNCTION test_deadline.nap(seconds double precision) RETURNS text
            LANGUAGE sql STABLE AS $$ SELECT pg_sleep(seconds)::text || 'slept' $$;
            CREATE OR REPLACE FUNCTION test_deadline.write_then_nap(tag text, seconds double precision) RETURNS text
            LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                INSERT INTO test_deadline.writes VALUES (tag);
                PERFORM pg_sleep(seconds);
                RETURN tag;
            END $$;
            CREATE OR REPLACE FUNCTION test_deadline.own_limit(seconds double precision) RETURNS text
            LANGUAGE sql STABLE SET statement_timeout = '1s' AS $$ SELECT pg_sleep(seconds)::text || 'slept' $$;
            CREATE OR REPLACE FUNCTION test_deadline.limit_now() RETURNS text
            LANGUAGE sql STABLE AS $$ SELECT current_setting('statement_timeout') $$;
            GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test_deadline TO web_anon;
            """)
    }

    /// One pool connection: the request after a timeout can only be served by the connection that
    /// timed out.
    private func gateway(_ settings: [String: String] = [:]) throws -> GatewayProcess {
        try Self.fixtures.get()
        let gateway = try GatewayProcess(settings: settings.merging(["db-schemas": "\"test_deadline\"", "db-pool": "1",
                                                                     "server-threads": "1"]) { $1 })
        try gateway.waitUntilReady()
        return gateway
    }

    private static let timeoutBody = #"""
        {"code": "57014", "message": "canceling statement due to statement timeout", "details": null, "hint": null}
        """#

    private func timed(_ work: () throws -> HTTPClient.Response) rethrows -> (HTTPClient.Response, Double) {
        let started = Date()
        let response = try work()
        return (response, Date().timeIntervalSince(started))
    }

    @Test func aCallPastItsDeadlineAnswers504AndTheConnectionServesTheNextAtOnce() throws {
        let gateway = try gateway()
        let (response, seconds) = try timed { try gateway.send("GET", "/rpc/nap?seconds=5", headers: [("Prefer", "timeout=1")]) }
        #expect(response.status == 504, "\(response.text)")
        #expect(response.json == (try JSONSerialization.jsonObject(with: Data(Self.timeoutBody.utf8)) as? NSObject), "\(response.text)")
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        #expect(seconds >= 0.9 && seconds < 1.5, "answered after \(seconds) s")

        let (next, nextSeconds) = try timed { try gateway.send("GET", "/rpc/nap?seconds=0") }
        #expect(next.status == 200, "\(next.text)")
        #expect(nextSeconds < 0.5, "the next request waited \(nextSeconds) s")
    }

    @Test func decimalsAreMilliseconds() throws {
        let gateway = try gateway()
        let (response, seconds) = try timed { try gateway.send("GET", "/rpc/nap?seconds=3", headers: [("Prefer", "timeout=0.3")]) }
        #expect(response.status == 504, "\(response.text)")
        #expect(seconds >= 0.25 && seconds < 0.8, "answered after \(seconds) s")
        let limit = try gateway.send("GET", "/rpc/limit_now", headers: [("Prefer", "timeout=0.25")])
        #expect(limit.text == #""250ms""#)
        #expect(limit.header("Preference-Applied") == "timeout=0.25")
    }

    @Test func aCallWithinItsDeadlineAnswersAsUsualAndSaysSo() throws {
        let gateway = try gateway()
        let response = try gateway.send("GET", "/rpc/nap?seconds=0.1", headers: [("Prefer", "timeout=2")])
        #expect(response.status == 200, "\(response.text)")
        #expect(response.text == #""slept""#)
        #expect(response.header("Preference-Applied") == "timeout=2")
    }

    @Test func dbMaxTimeoutCapsTheDeadline() throws {
        let gateway = try gateway(["db-max-timeout": "1"])
        let (response, seconds) = try timed { try gateway.send("GET", "/rpc/nap?seconds=4", headers: [("Prefer", "timeout=30")]) }
        #expect(response.status == 504, "\(response.text)")
        #expect(seconds >= 0.9 && seconds < 1.5, "answered after \(seconds) s")
        let limit = try gateway.send("GET", "/rpc/limit_now", headers: [("Prefer", "timeout=30")])
        #expect(limit.text == #""1s""#)
        #expect(limit.header("Preference-Applied") == "timeout=1")
    }

    @Test func theDeadlineReplacesTheFunctionsOwnLimitForThatRequest() throws {
        let gateway = try gateway()
        // own_limit's SET statement_timeout = '1s' is hoisted onto its call: 1.5 s is cut off, ...
        let limited = try gateway.send("GET", "/rpc/own_limit?seconds=1.5")
        #expect(limited.status == 500, "\(limited.text)")
        // ... unless the client gives the call a deadline of its own (within db-max-timeout).
        let extended = try gateway.send("GET", "/rpc/own_limit?seconds=1.5", headers: [("Prefer", "timeout=3")])
        #expect(extended.status == 200, "\(extended.text)")
    }

    @Test func aWriteCutOffLeavesNothing() throws {
        let gateway = try gateway()
        let tag = "deadline-\(UUID().uuidString)"
        let response = try gateway.send("POST", "/rpc/write_then_nap", body: #"{"tag": "\#(tag)", "seconds": 3}"#,
                                        headers: [("Content-Type", "application/json"), ("Prefer", "timeout=0.5")])
        #expect(response.status == 504, "\(response.text)")
        let rows = try TestDatabase.connect().query("SELECT count(*) FROM test_deadline.writes WHERE tag = $1", [tag])
        #expect(rows.first?.first == "0")
    }

    @Test func timeoutIsValidUnderStrictHandlingAndAnUnreadableOneIsNot() throws {
        let gateway = try gateway()
        let strict = try gateway.send("GET", "/rpc/nap?seconds=0", headers: [("Prefer", "handling=strict, timeout=1")])
        #expect(strict.status == 200, "\(strict.text)")
        #expect(strict.header("Preference-Applied") == "handling=strict, timeout=1")
        for bad in ["timeout=abc", "timeout=0", "timeout=-1", "timeout=1e3", "timeout=.5", "timeout="] {
            let response = try gateway.send("GET", "/rpc/nap?seconds=0", headers: [("Prefer", "handling=strict, " + bad)])
            #expect(response.status == 400, "\(bad): \(response.text)")
            #expect(response.json == (try JSONSerialization.jsonObject(with: Data(#"""
                {"code": "PGRST122", "message": "Invalid preferences given with handling=strict",
                 "details": "Invalid preferences: \#(bad)", "hint": null}
                """#.utf8)) as? NSObject), "\(response.text)")
            // Lenient (the default): ignored, no deadline.
            let lenient = try gateway.send("GET", "/rpc/limit_now", headers: [("Prefer", bad)])
            #expect(lenient.status == 200)
            #expect(lenient.header("Preference-Applied") == nil)
        }
    }
}
