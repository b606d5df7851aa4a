extension CallSQL {
    /// Columns of each row of a streamed call.
    enum StreamColumn {
        static let value = 0, status = 1, headers = 2
    }

    /// The SQL of a call whose rows are streamed (a set answered as a JSON array or JSON lines): the
    /// same call and shaping as `text`, but ONE ROW PER RESULT ROW, so that libpq hands them over as
    /// PostgreSQL sends them, each with its JSON text (as `json_agg` renders an element;
    /// `stripNulls`: as `json_strip_nulls` does) and `response.status`/`response.headers` as they
    /// stand when that row is produced; then one last row whose value is NULL, with both read after
    /// every row, as `text` reads them (the answer of a result that ends small). A plpgsql function
    /// has run to its end before its first row arrives, so the first row's settings are its last
    /// ones; an SQL function may be inlined into the query and set them while its rows stream.
    /// UNION ALL runs its branches in order (an Append of two non-parallel plans), so the last row
    /// comes last.
    static func streamedText(for routine: Routine, given: [Bool], wholeBody: Bool, stripNulls: Bool,
                             shape: CallShape = CallShape()) -> String {
        let (source, shaped) = parts(for: routine, given: given, wholeBody: wholeBody, shape: shape)
        var json = "to_json(" + (routine.returnShape == .composite ? rows : rows + ".pgrst_scalar") + ")"
        if stripNulls { json = "json_strip_nulls(" + json + ")" }
        return "WITH pgrst_source AS (" + source + ") SELECT coalesce(" + json + "::text, 'null'), "
            + responseStatus + ", " + responseHeaders + " FROM (" + shaped.rows + ") pgrst_rows"
            + " UNION ALL SELECT NULL, " + status(for: routine, shape: shape) + ", " + responseHeaders
    }
}
