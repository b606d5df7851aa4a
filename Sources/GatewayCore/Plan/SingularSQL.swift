/// `Accept: application/vnd.pgrst.object+json` on a function returning a set: unless the call gave
/// exactly one row, 406 PGRST116 with PostgREST's message and details (`MainTx.hs`,
/// `failNotSingular`). It runs right after the call (and the `tx=rollback` constraint check), in
/// the same implicit transaction and pipeline; its error aborts the transaction, so nothing the call
/// did stays. The count is the call's, left in `pgrst.affected_rows` (see `CallSQL`).
enum SingularSQL {
    static let check = PreferenceSQL.rowCountCheck(
        failsWhen: "<> 1", code: "PGRST116", message: "Cannot coerce the result to a single JSON object",
        details: ("The result contains ", " rows"), status: 406)
}
