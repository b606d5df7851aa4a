/// The statements `Prefer` adds after a call, in PostgREST's order (`MainTx.hs`: `optionalRollback`,
/// then `failExceedsMaxAffectedPref`), all in the call's own implicit transaction and pipeline.
enum PreferenceSQL {
    /// `max-affected` under strict handling: PGRST124 (400) when the call returned more rows than
    /// allowed (`pgrst.affected_rows`, left by the call, see `CallSQL`; `pgrst.max_affected`, set
    /// by the context statement). The error aborts the transaction, so nothing the call did stays.
    static let maxAffectedCheck = rowCountCheck(
        failsWhen: "> pg_catalog.current_setting('pgrst.max_affected')::bigint", code: "PGRST124",
        message: "Query result exceeds max-affected preference constraint", details: ("The query affects ", " rows"), status: 400)

    /// A check of the call's row count (`pgrst.affected_rows`): when `affected_rows <failsWhen>`, a
    /// PostgREST error (`code`, `message`, details around the count) with `status`, raised as
    /// `RAISE SQLSTATE 'PGRST'` does, which aborts the transaction.
    static func rowCountCheck(failsWhen condition: String, code: String, message: String,
                              details: (before: String, after: String), status: Int) -> Statement {
        Statement("""
            DO $pgrst$ BEGIN
            IF pg_catalog.current_setting('pgrst.affected_rows')::bigint \(condition) THEN
              RAISE SQLSTATE 'PGRST' USING
                MESSAGE = pg_catalog.json_build_object('code', '\(code)',
                  'message', '\(message)',
                  'details', '\(details.before)' || pg_catalog.current_setting('pgrst.affected_rows') || '\(details.after)',
                  'hint', NULL)::text,
                DETAIL = '{"status":\(status),"headers":{}}';
            END IF;
            END $pgrst$
            """)
    }

    /// Ends the transaction in a rollback while the response is still the call's (`tx=rollback`,
    /// `db-tx-end = rollback`). Deferred constraints are checked first, as PostgREST does, so a call
    /// that would fail at commit fails here too (in a DO block: at top level outside a transaction
    /// block, SET CONSTRAINTS works but warns). BEGIN turns the implicit transaction, call included,
    /// into a block that ROLLBACK then ends without a warning; nothing between them can fail, so no
    /// failed block outlives the request's sync.
    static let rollback = [
        Statement("DO $pgrst$ BEGIN SET CONSTRAINTS ALL IMMEDIATE; END $pgrst$"),
        Statement("BEGIN"),
        Statement("ROLLBACK"),
    ]
}
