/// `Accept: application/vnd.pgrst.object+json` on a function returning a set: unless the call gave
/// exactly one row, 406 PGRST116 with PostgREST's message and details (`MainTx.hs`,
/// `failNotSingular`). It runs right after the call (and the `tx=rollback` constraint check), in
/// the same implicit transaction and pipeline; its error aborts the transaction, so nothing the call
/// did stays. The count is the call's, left in `pgrst.affected_rows` (see `CallSQL`).
enum SingularSQL {
    static let check = Statement("""
        DO $pgrst$ BEGIN
        IF pg_catalog.current_setting('pgrst.affected_rows')::bigint <> 1 THEN
          RAISE SQLSTATE 'PGRST' USING
            MESSAGE = pg_catalog.json_build_object('code', 'PGRST116',
              'message', 'Cannot coerce the result to a single JSON object',
              'details', 'The result contains ' || pg_catalog.current_setting('pgrst.affected_rows') || ' rows',
              'hint', NULL)::text,
            DETAIL = '{"status":406,"headers":{}}';
        END IF;
        END $pgrst$
        """)
}
