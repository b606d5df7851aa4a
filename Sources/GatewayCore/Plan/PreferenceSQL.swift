/// The statements `Prefer` adds after a call (`MainTx.hs`: `failExceedsMaxAffectedPref`), in the
/// call's own implicit transaction and pipeline.
enum PreferenceSQL {
    /// `max-affected` under strict handling: PGRST124 (400) when the call returned more rows than
    /// allowed (`pgrst.affected_rows`, left by the call, see `CallSQL`; `pgrst.max_affected`, set
    /// by the context statement). The error aborts the transaction, so nothing the call did stays.
    static let maxAffectedCheck = Statement("""
        DO $pgrst$ BEGIN
        IF pg_catalog.current_setting('pgrst.affected_rows')::bigint > pg_catalog.current_setting('pgrst.max_affected')::bigint THEN
          RAISE SQLSTATE 'PGRST' USING
            MESSAGE = pg_catalog.json_build_object('code', 'PGRST124',
              'message', 'Query result exceeds max-affected preference constraint',
              'details', 'The query affects ' || pg_catalog.current_setting('pgrst.affected_rows') || ' rows',
              'hint', NULL)::text,
            DETAIL = '{"status":400,"headers":{}}';
        END IF;
        END $pgrst$
        """)

}
