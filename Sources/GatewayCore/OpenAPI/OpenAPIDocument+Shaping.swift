/// What the document says about shaping a set-returning function's result (PostgREST's
/// `select`, `order`, `limit`, `offset`, `and`/`or`, a filter per result column, `Range`/`Range-Unit`,
/// `Prefer: count=` and the 206 answer with `Content-Range`; pagination_count.rst, functions.rst,
/// tables_views.rst for the operators).
extension OpenAPIDocument {
    /// Names of the shared parameters, in `components.parameters`.
    static let shapingParameters = ["select", "order", "limit", "offset", "and", "or", "Range", "Range-Unit"]

    static var shapingComponents: [String: Any] { [
        "select": ["name": "select", "in": "query", "required": false, "schema": ["type": "string"],
                   "description": "Columns of the result to answer, comma-separated: col, alias:col, col::type, col->key, *"],
        "order": ["name": "order", "in": "query", "required": false, "schema": ["type": "string"],
                  "description": "Order of the result rows: col[.asc|.desc][.nullsfirst|.nullslast], comma-separated"],
        "limit": ["name": "limit", "in": "query", "required": false, "schema": ["type": "string"],
                  "description": "At most this many rows (db-max-rows caps it)"],
        "offset": ["name": "offset", "in": "query", "required": false, "schema": ["type": "string"],
                   "description": "Rows to skip"],
        "and": ["name": "and", "in": "query", "required": false, "schema": ["type": "string"],
                "description": "Rows where every condition holds: (col.op.value,or(col.op.value,...),...)"],
        "or": ["name": "or", "in": "query", "required": false, "schema": ["type": "string"],
               "description": "Rows where some condition holds: (col.op.value,and(col.op.value,...),...)"],
        "Range": ["name": "Range", "in": "header", "required": false, "schema": ["type": "string"],
                  "description": "GET only: rows first-[last], counted from 0 (with Range-Unit: items)"],
        "Range-Unit": ["name": "Range-Unit", "in": "header", "required": false, "schema": ["type": "string"],
                       "description": "items"],
    ] }

    static var contentRangeHeader: [String: Any] { [
        "description": "The rows answered and the total when counted (Prefer: count=exact|estimated): 0-24/100, 0-24/*, */0",
        "schema": ["type": "string"],
    ] }

    /// The shaping parameters a call of `routine` takes: all of them on GET, the query ones on POST;
    /// none for a function that does not return a set, nor where a parameter has the same name.
    static func shapingReferences(_ routine: Routine, isGet: Bool) -> [[String: Any]] {
        guard routine.returnsSet else { return [] }
        return shapingParameters
            .filter { name in (isGet || !name.hasPrefix("Range")) && !routine.parameters.contains { $0.name == name } }
            .map { ["$ref": "#/components/parameters/\($0)"] }
    }

    /// A filter per result column (PostgREST's `rowFilter` parameters), but none where a parameter of
    /// the function has the name: on GET that name is an argument.
    static func filterParameters(_ routine: Routine) -> [[String: Any]] {
        guard routine.returnsSet else { return [] }
        return routine.columns
            .filter { column in !column.name.isEmpty && !shapingParameters.contains(column.name)
                && !routine.parameters.contains { $0.name == column.name } }
            .map { column in
                ["name": column.name, "in": "query", "required": false, "schema": ["type": "string"],
                 "description": "Filter on the result column \(column.name) (\(column.type)): [not.]operator.value, operators "
                    + "eq, neq, gt, gte, lt, lte, like, ilike, match, imatch, in.(a,b), is.null|true|false|unknown, "
                    + "isdistinct, cs, cd, ov, sl, sr, nxr, nxl, adj, fts, plfts, phfts, wfts"]
            }
    }

    /// 206: part of a counted result (`Prefer: count=exact` with a limit, an offset or a Range).
    static func partialResponse(_ success: [String: Any]) -> [String: Any] {
        var partial = success
        partial["description"] = "Part of the function's result (Content-Range says which rows of how many)"
        return partial
    }
}
