/// The SQL of `Idempotency-Key` (the functions are in `sql/gateway.sql`, the table in migration 0016):
/// the claim that runs before the call, the store the call's own statement makes, the replay error,
/// whether a database has them, and the expiry.
enum IdempotencySQL {
    /// The SQLSTATE of a replay: the claim found the answer of this caller, key and request, and
    /// raised it (as a JSON array of the call's result row, in the error's DETAIL) to end the
    /// transaction before the call.
    static let replayState = "PGRPL"

    /// Runs after the context statement (and `db-pre-request`), before the call: 409, 422, a replay,
    /// or nothing (the call runs).
    static func claim(_ key: IdempotencyKey) -> Statement {
        Statement("SELECT gateway.claim_idempotency_key($1, $2)", [key.key, key.requestHash])
    }

    /// The parameters the store column reads (`storeColumn`), after the call's and its shape's.
    static func storeParameters(_ key: IdempotencyKey, ttlSeconds: Int) -> [String?] {
        [key.key, key.requestHash, String(ttlSeconds)]
    }

    /// A column of the call's final SELECT over its result row (aliased `pgrst_result` with the
    /// columns named below), so that it is evaluated once, after the call, in the call's statement.
    static func storeColumn(first: Int) -> String {
        "gateway.store_idempotent_result($\(first), $\(first + 1), $\(first + 2)::integer, pgrst_result.pgrst_body, "
            + "pgrst_result.pgrst_status, pgrst_result.pgrst_headers, pgrst_result.pgrst_count, pgrst_result.pgrst_total)"
    }

    /// Names of the call's result columns inside the store's SELECT (`CallSQL.Column` order).
    static let resultColumns = "pgrst_result(pgrst_body, pgrst_status, pgrst_headers, pgrst_count, pgrst_total)"

    /// One row, `true` when the database has the store (migrated by this project), read with the schema
    /// cache. From pg_proc, not by name lookup: the gateway's login role may lack USAGE on the schema
    /// (the calls run as the API roles, which have it), and a lookup would then fail the whole load.
    static let availableQuery = Statement("""
        SELECT (count(*) = 2)::text FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'gateway' AND p.oid::regprocedure::text IN
          ('gateway.claim_idempotency_key(text,text)', 'gateway.store_idempotent_result(text,text,integer,text,text,text,text,text)')
        """)

    /// Deletes up to `$1` expired answers; one row, the number deleted.
    static let expiry = "SELECT gateway.delete_expired_idempotency_keys($1)::text"
}
