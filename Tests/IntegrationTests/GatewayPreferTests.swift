import Foundation
import Testing

/// Issue 17 item 3: the `Prefer` header on /rpc as PostgREST answers it, through the real gateway.
/// Sources: PostgREST's test/spec/Feature/RollbackSpec.hs.
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
