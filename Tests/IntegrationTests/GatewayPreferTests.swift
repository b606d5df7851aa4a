import Foundation
import Testing

/// PostgREST parity: the `Prefer` header on /rpc as PostgREST answers it, through the real gateway:
/// `handling`, `timezone`, `max-affected`, `tx` with `db-tx-end`, and `Preference-Applied`.
/// Sources: PostgREST's docs/references/api/preferences.rst, docs/references/configuration.rst
/// (db-tx-end), test/spec/Feature/Query/Preferences/{Handling,Timezone,MaxAffected}Spec.hs,
/// test/spec/Feature/RollbackSpec.hs, src/library/PostgREST/ApiRequest/Preferences.hs.
@Suite(.serialized)
struct GatewayPreferTests {
    /// Functions in their own schema (idempotent, once per run); the `items` rows are reset by each test.
    private static let fixtures: Result<Void, any Error> = Result {
        _ = try TestDatabase.connect().execute("""
            CREATE SCHEMA IF NOT EXISTS test_prefer;
            GRANT USAGE ON SCHEMA test_prefer TO web_anon;
            CREATE TABLE IF NOT EXISTS test_prefer.items (id int PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS test_prefer.deferrable_unique_constraint (col int UNIQUE DEFERRABLE INITIALLY IMMEDIATE);
            GRANT SELECT, INSERT, DELETE ON test_prefer.items, test_prefer.deferrable_unique_constraint TO web_anon;
            CREATE OR REPLACE FUNCTION test_prefer.delete_items_returns_setof() RETURNS SETOF test_prefer.items
            LANGUAGE sql AS $$ DELETE FROM test_prefer.items WHERE id < 16 RETURNING * $$;
            CREATE OR REPLACE FUNCTION test_prefer.delete_items_returns_table() RETURNS TABLE (id int)
            LANGUAGE sql AS $$ DELETE FROM test_prefer.items WHERE items.id < 16 RETURNING items.id $$;
            CREATE OR REPLACE FUNCTION test_prefer.delete_items_returns_void() RETURNS void
            LANGUAGE sql AS $$ DELETE FROM test_prefer.items WHERE id < 16 $$;
            CREATE OR REPLACE FUNCTION test_prefer.add_item(id int) RETURNS SETOF test_prefer.items
            LANGUAGE sql AS $$ INSERT INTO test_prefer.items VALUES (add_item.id) RETURNING * $$;
            CREATE OR REPLACE FUNCTION test_prefer.search(id int) RETURNS SETOF test_prefer.items
            LANGUAGE sql STABLE AS $$ SELECT * FROM test_prefer.items WHERE items.id = search.id $$;
            CREATE OR REPLACE FUNCTION test_prefer.timestamps() RETURNS TABLE (t timestamptz)
            LANGUAGE sql STABLE AS $$
                VALUES ('2023-10-18 12:37:59.611+00'::timestamptz), ('2023-10-18 14:37:59.611+00'), ('2023-10-18 16:37:59.611+00')
            $$;
            CREATE OR REPLACE FUNCTION test_prefer.raise_constraint(deferred bool DEFAULT false) RETURNS void
            LANGUAGE plpgsql AS $$
            BEGIN
              IF deferred THEN
                SET CONSTRAINTS ALL DEFERRED;
              END IF;
              INSERT INTO test_prefer.deferrable_unique_constraint VALUES (1), (1);
            END$$;
            GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test_prefer TO web_anon;
            """)
    }

    private static func gateway(_ settings: [String: String] = [:]) throws -> GatewayProcess {
        try fixtures.get()
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"test_prefer\""].merging(settings) { $1 })
        try gateway.waitUntilReady()
        return gateway
    }

    private static let shared: Result<GatewayProcess, any Error> = Result { try gateway() }

    private func json(_ text: String) -> NSObject? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? NSObject
    }

    /// Items 1...15, as PostgREST's `items` fixture (the max-affected tests delete below 16).
    private func resetItems(_ ids: ClosedRange<Int> = 1...15) throws {
        _ = try TestDatabase.connect().execute(
            "DELETE FROM test_prefer.items; INSERT INTO test_prefer.items SELECT generate_series(\(ids.lowerBound), \(ids.upperBound))")
    }

    private func itemCount() throws -> String? {
        try TestDatabase.connect().query("SELECT count(*)::text FROM test_prefer.items").first?.first ?? nil
    }

    // MARK: handling (HandlingSpec.hs)

    @Test func strictHandlingRefusesUnknownPreferences() throws {
        let gateway = try Self.shared.get()
        let response = try gateway.send("POST", "/rpc/timestamps", body: "{}",
                                        headers: [("Content-Type", "application/json"), ("Prefer", "handling=strict, anything")])
        #expect(response.status == 400)
        #expect(response.json == json(#"{"details":"Invalid preferences: anything","message":"Invalid preferences given with handling=strict","code":"PGRST122","hint":null}"#),
                "\(response.text)")
        #expect(response.header("Preference-Applied") == nil)

        // Over several Prefer headers, every unknown item is named.
        let several = try gateway.send("GET", "/rpc/timestamps", headers: [("Prefer", "handling=strict"), ("Prefer", "something, else")])
        #expect(several.status == 400)
        #expect(several.json == json(#"{"details":"Invalid preferences: something, else","message":"Invalid preferences given with handling=strict","code":"PGRST122","hint":null}"#),
                "\(several.text)")

        // Preferences PostgREST knows are not invalid, even those a call does not use.
        let known = try gateway.send("GET", "/rpc/timestamps",
                                     headers: [("Prefer", "handling=strict, return=representation, count=exact, missing=default, tx=rollback")])
        #expect(known.status == 200, "\(known.text)")
        #expect(known.header("Preference-Applied") == "count=exact, handling=strict")
    }

    @Test func lenientHandlingIgnoresUnknownPreferences() throws {
        let gateway = try Self.shared.get()
        for headers in [[("Prefer", "handling=lenient, anything")], [("Prefer", "handling=lenient"), ("Prefer", "anything")]] {
            let response = try gateway.send("GET", "/rpc/timestamps", headers: headers)
            #expect(response.status == 200, "\(response.text)")
            #expect(response.header("Preference-Applied") == "handling=lenient")
        }
        // Lenient is the default: nothing to report.
        let plain = try gateway.send("GET", "/rpc/timestamps", headers: [("Prefer", "anything")])
        #expect(plain.status == 200)
        #expect(plain.header("Preference-Applied") == nil)
    }

    // MARK: timezone (TimezoneSpec.hs)

    @Test func timezoneSetsTheTransactionsTimeZone() throws {
        let gateway = try Self.shared.get()
        let losAngeles = #"[{"t":"2023-10-18T05:37:59.611-07:00"}, {"t":"2023-10-18T07:37:59.611-07:00"}, {"t":"2023-10-18T09:37:59.611-07:00"}]"#
        let strict = try gateway.send("GET", "/rpc/timestamps", headers: [("Prefer", "handling=strict, timezone=America/Los_Angeles")])
        #expect(strict.status == 200)
        #expect(strict.json == json(losAngeles), "\(strict.text)")
        #expect(strict.header("Preference-Applied") == "handling=strict, timezone=America/Los_Angeles")

        let alone = try gateway.send("GET", "/rpc/timestamps", headers: [("Prefer", "timezone=America/Los_Angeles")])
        #expect(alone.json == json(losAngeles), "\(alone.text)")
        #expect(alone.header("Preference-Applied") == "timezone=America/Los_Angeles")

        let positive = try gateway.send("GET", "/rpc/timestamps", headers: [("Prefer", "timezone=+05:30")])
        #expect(positive.json == json(#"[{"t":"2023-10-18T07:07:59.611-05:30"}, {"t":"2023-10-18T09:07:59.611-05:30"}, {"t":"2023-10-18T11:07:59.611-05:30"}]"#),
                "\(positive.text)")
        #expect(positive.header("Preference-Applied") == "timezone=+05:30")

        let negative = try gateway.send("GET", "/rpc/timestamps", headers: [("Prefer", "timezone=-4")])
        #expect(negative.json == json(#"[{"t":"2023-10-18T08:37:59.611-04:00"}, {"t":"2023-10-18T10:37:59.611-04:00"}, {"t":"2023-10-18T12:37:59.611-04:00"}]"#),
                "\(negative.text)")
        #expect(negative.header("Preference-Applied") == "timezone=-4")

        // Only that transaction: the connection's next call is back in the server's zone.
        let after = try gateway.send("GET", "/rpc/timestamps")
        #expect(after.status == 200)
        #expect(!after.text.contains("-07:00"), "\(after.text)")
    }

    @Test func anInvalidTimezoneIsAnErrorWhateverTheHandling() throws {
        let gateway = try Self.shared.get()
        // preferences.rst: "handling=lenient is ignored for timezone. Invalid time zones always return an error."
        for prefer in ["timezone=Invalid/Timezone", "handling=strict, timezone=Invalid/Timezone", "handling=lenient, timezone=Invalid/Timezone"] {
            let response = try gateway.send("GET", "/rpc/timestamps", headers: [("Prefer", prefer)])
            #expect(response.status == 400, "\(prefer)")
            #expect(response.json == json(#"{"code":"22023","details":null,"hint":null,"message":"invalid value for parameter \"TimeZone\": \"Invalid/Timezone\""}"#),
                    "\(response.text)")
            #expect(response.header("Preference-Applied") == nil)
        }
        let leap = try gateway.send("GET", "/rpc/timestamps", headers: [("Prefer", "timezone=05:30:15")])
        #expect(leap.status == 400)
        #expect(leap.json == json(#"{"code":"22023","details":"PostgreSQL does not support leap seconds.","hint":null,"message":"time zone \"05:30:15\" appears to use leap seconds"}"#),
                "\(leap.text)")
    }

    // MARK: max-affected (MaxAffectedSpec.hs, preferences.rst "Max Affected")

    @Test func maxAffectedWithStrictHandlingRefusesACallReturningMoreRows() throws {
        let gateway = try Self.shared.get()
        for function in ["delete_items_returns_setof", "delete_items_returns_table"] {
            try resetItems()
            let response = try gateway.send("POST", "/rpc/" + function, headers: [("Prefer", "handling=strict, max-affected=10")])
            #expect(response.status == 400)
            #expect(response.json == json(#"{"code":"PGRST124","details":"The query affects 15 rows","hint":null,"message":"Query result exceeds max-affected preference constraint"}"#),
                    "\(response.text)")
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            #expect(try itemCount() == "15", "the deletion was rolled back")

            let allowed = try gateway.send("POST", "/rpc/" + function, headers: [("Prefer", "handling=strict, max-affected=20")])
            #expect(allowed.status == 200)
            #expect(allowed.json == json("[" + (1...15).map { #"{"id":\#($0)}"# }.joined(separator: ",") + "]"), "\(allowed.text)")
            #expect(allowed.header("Preference-Applied") == "handling=strict, max-affected=20")
            #expect(try itemCount() == "0")
        }
        // Exactly the limit is allowed.
        try resetItems()
        let exact = try gateway.send("POST", "/rpc/delete_items_returns_setof", headers: [("Prefer", "handling=strict, max-affected=15")])
        #expect(exact.status == 200, "\(exact.text)")
    }

    @Test func maxAffectedIsIgnoredWithLenientHandling() throws {
        let gateway = try Self.shared.get()
        try resetItems()
        let response = try gateway.send("POST", "/rpc/delete_items_returns_setof", headers: [("Prefer", "handling=lenient, max-affected=10")])
        #expect(response.status == 200, "\(response.text)")
        #expect(response.header("Preference-Applied") == "handling=lenient")
        #expect(try itemCount() == "0")
        try resetItems()
        let unspecified = try gateway.send("POST", "/rpc/delete_items_returns_setof", headers: [("Prefer", "max-affected=10")])
        #expect(unspecified.status == 200, "\(unspecified.text)")
        #expect(unspecified.header("Preference-Applied") == nil)
    }

    @Test func maxAffectedOnAFunctionNotReturningASetIsPGRST128() throws {
        let gateway = try Self.shared.get()
        try resetItems()
        let response = try gateway.send("POST", "/rpc/delete_items_returns_void", headers: [("Prefer", "handling=strict, max-affected=20")])
        #expect(response.status == 400)
        #expect(response.json == json(#"{"code":"PGRST128","details":null,"hint":null,"message":"Function must return SETOF or TABLE when max-affected preference is used with handling=strict"}"#),
                "\(response.text)")
        #expect(try itemCount() == "15", "not called")
    }

    // MARK: tx and db-tx-end (RollbackSpec.hs, configuration.rst "db-tx-end", preferences.rst "Transaction End Preference")

    private static let deferredConstraintError = #"{"hint":null,"details":"Key (col)=(1) already exists.","code":"23505","message":"duplicate key value violates unique constraint \"deferrable_unique_constraint_col_key\""}"#

    /// RollbackSpec's checks for one `db-tx-end` and one `Prefer` header: reads answer, a write
    /// persists or not, immediate and deferred constraint violations are 409 (never with
    /// Preference-Applied), and the header shows `applied` on success.
    private func checkTransactionEnd(_ gateway: GatewayProcess, prefer: String?, persists: Bool, applied: String?) throws {
        let prefer = prefer.map { [("Prefer", $0)] } ?? []
        try resetItems(1...1)
        let read = try gateway.send("GET", "/rpc/search?id=1", headers: prefer)
        #expect(read.status == 200)
        #expect(read.json == json(#"[{"id":1}]"#), "\(read.text)")
        #expect(read.header("Preference-Applied") == applied)
        let readPost = try gateway.send("POST", "/rpc/search", body: #"{"id":1}"#, headers: prefer + [("Content-Type", "application/json")])
        #expect(readPost.json == json(#"[{"id":1}]"#), "\(readPost.text)")
        #expect(readPost.header("Preference-Applied") == applied)

        let write = try gateway.send("POST", "/rpc/add_item", body: #"{"id":0}"#, headers: prefer + [("Content-Type", "application/json")])
        #expect(write.status == 200)
        #expect(write.json == json(#"[{"id":0}]"#), "the response is the call's result either way: \(write.text)")
        #expect(write.header("Preference-Applied") == applied)
        #expect(try itemCount() == (persists ? "2" : "1"), "prefer \(prefer), persists \(persists)")

        for body in ["{}", #"{"deferred": true}"#] {
            let failed = try gateway.send("POST", "/rpc/raise_constraint", body: body, headers: prefer + [("Content-Type", "application/json")])
            #expect(failed.status == 409, "\(body): \(failed.text)")
            #expect(failed.json == json(Self.deferredConstraintError), "\(body): \(failed.text)")
            #expect(failed.header("Preference-Applied") == nil)
        }
        // The connections are usable afterwards (no transaction left open or failed), and ending a
        // transaction this way made PostgreSQL warn about nothing (libpq prints notices to stderr).
        for _ in 0..<8 { #expect(try gateway.send("GET", "/rpc/search?id=1").status == 200) }
        #expect(!gateway.log.contains("WARNING"), "\(gateway.log)")
    }

    @Test func commitAllowOverride() throws {
        let gateway = try Self.gateway(["db-tx-end": "\"commit-allow-override\""])
        try checkTransactionEnd(gateway, prefer: nil, persists: true, applied: nil)
        try checkTransactionEnd(gateway, prefer: "tx=commit", persists: true, applied: "tx=commit")
        try checkTransactionEnd(gateway, prefer: "tx=rollback", persists: false, applied: "tx=rollback")
        // Preference-Applied lists in PostgREST's order (tx, handling, timezone, max-affected).
        try resetItems(1...1)
        let all = try gateway.send("GET", "/rpc/search?id=1", headers: [("Prefer", "max-affected=5, timezone=UTC, handling=strict, tx=rollback")])
        #expect(all.header("Preference-Applied") == "tx=rollback, handling=strict, timezone=UTC, max-affected=5")
    }

    @Test func rollbackAllowOverride() throws {
        let gateway = try Self.gateway(["db-tx-end": "\"rollback-allow-override\""])
        try checkTransactionEnd(gateway, prefer: nil, persists: false, applied: nil)
        try checkTransactionEnd(gateway, prefer: "tx=commit", persists: true, applied: "tx=commit")
        try checkTransactionEnd(gateway, prefer: "tx=rollback", persists: false, applied: "tx=rollback")
    }

    @Test func commitWithoutOverride() throws {
        // The default: tx= is ignored (still not an invalid preference), nothing is reported.
        let gateway = try Self.shared.get()
        try checkTransactionEnd(gateway, prefer: nil, persists: true, applied: nil)
        try checkTransactionEnd(gateway, prefer: "tx=commit", persists: true, applied: nil)
        try checkTransactionEnd(gateway, prefer: "tx=rollback", persists: true, applied: nil)
    }

    @Test func rollbackWithoutOverride() throws {
        let gateway = try Self.gateway(["db-tx-end": "\"rollback\""])
        try checkTransactionEnd(gateway, prefer: nil, persists: false, applied: nil)
        try checkTransactionEnd(gateway, prefer: "tx=commit", persists: false, applied: nil)
        try checkTransactionEnd(gateway, prefer: "tx=rollback", persists: false, applied: nil)
    }

    @Test func maxAffectedAndRollbackTogether() throws {
        let gateway = try Self.gateway(["db-tx-end": "\"commit-allow-override\""])
        try resetItems()
        let over = try gateway.send("POST", "/rpc/delete_items_returns_setof", headers: [("Prefer", "tx=rollback, handling=strict, max-affected=10")])
        #expect(over.status == 400)
        #expect(over.json == json(#"{"code":"PGRST124","details":"The query affects 15 rows","hint":null,"message":"Query result exceeds max-affected preference constraint"}"#),
                "\(over.text)")
        let under = try gateway.send("POST", "/rpc/delete_items_returns_setof", headers: [("Prefer", "tx=rollback, handling=strict, max-affected=20")])
        #expect(under.status == 200, "\(under.text)")
        #expect(under.header("Preference-Applied") == "tx=rollback, handling=strict, max-affected=20")
        #expect(try itemCount() == "15")
    }

    /// RollbackSpec.hs "raises deferred constraints": a violation found only at commit is the
    /// constraint's error (23505, 409), and the connection serves the next calls.
    @Test func aDeferredConstraintViolatedAtCommitIsItsError() throws {
        let gateway = try Self.shared.get()
        for body in ["{}", #"{"deferred": true}"#] {
            let failed = try gateway.send("POST", "/rpc/raise_constraint", body: body, headers: [("Content-Type", "application/json")])
            #expect(failed.status == 409, "\(body): \(failed.text)")
            #expect(failed.json == json(#"{"hint":null,"details":"Key (col)=(1) already exists.","code":"23505","message":"duplicate key value violates unique constraint \"deferrable_unique_constraint_col_key\""}"#),
                    "\(body): \(failed.text)")
        }
        for _ in 0..<8 { #expect(try gateway.send("GET", "/rpc/search?id=1").status == 200) }
        #expect(try TestDatabase.connect().query("SELECT count(*)::text FROM test_prefer.deferrable_unique_constraint").first?.first == "0")
    }
}
