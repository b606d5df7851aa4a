extension CallSQL {
    /// The body expression, an aggregate over the rows aliased `CallSQL.rows` (one column
    /// `pgrst_scalar` for scalar results), as PostgREST's `handlerF` (Query/SqlFragment.hs) renders
    /// it: text, or for a handler over bytea its hex (`HTTPResponse(plan:rows:)` sends the bytes).
    static func body(for routine: Routine, handler: MediaHandler) -> String {
        let row = rows
        let scalar = row + ".pgrst_scalar"
        if routine.returnShape == .void && !routine.returnsSet { return "NULL::text" }
        switch handler {
        case .json, .arrayStripped:
            let strip = handler == .arrayStripped
            let value = routine.returnShape == .composite ? row : scalar
            return routine.returnsSet
                ? "coalesce(" + stripNulls("json_agg(" + value + ")", strip) + ", '[]')::text"
                : "coalesce((" + stripNulls("json_agg(" + value + ") -> 0", strip) + ")::text, 'null')"
        case .jsonLines:
            let value = routine.returnShape == .composite ? row : scalar
            return routine.returnsSet
                ? "coalesce(string_agg(coalesce(to_json(" + value + ")::text, 'null') || E'\\n', ''), '')"
                : "coalesce((json_agg(" + value + ") -> 0)::text, 'null') || E'\\n'"
        case .object(let strip):
            // A single scalar is the value; anything else is the row as an object.
            let value = routine.returnsScalar ? scalar : row
            return "coalesce((" + stripNulls("json_agg(" + value + ") -> 0", strip) + ")::text, 'null')"
        case .csv:
            // The header is the first row's column names; each row is its record text without the
            // parentheses (PostgreSQL's quoting: "" inside "...", NULL empty), one per line.
            return "coalesce((SELECT string_agg(pgrst_key, ',') FROM json_object_keys(row_to_json((array_agg(" + row
                + "))[1])) pgrst_key), '') || E'\\n' || coalesce(string_agg(substring(" + row + "::text, 2, length("
                + row + "::text) - 2), E'\\n'), '')"
        case .geoJSON:
            return "json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(ST_AsGeoJSON("
                + row + ")::json), '[]'))::text"
        case .custom(let custom):
            let value = routine.returnsScalar ? scalar : row
            switch custom.kind {
            case .domain:
                // The function returns the media type itself: its one value is the body.
                return "string_agg(" + asText(value, binary: custom.isBinary) + ", '')"
            case .aggregate(let target):
                let argument: String
                switch target {
                case _ where routine.returnsScalar, .anyElement: argument = value
                case .relation(let schema, let name): argument = value + "::" + QualifiedName(schema: schema, name: name).sql
                }
                let aggregate = QualifiedName(schema: custom.schema, name: custom.name).sql + "(" + argument + ")"
                return asText(aggregate, binary: custom.isBinary)
            }
        }
    }

    private static func stripNulls(_ json: String, _ strip: Bool) -> String {
        strip ? "json_strip_nulls(" + json + ")" : json
    }

    private static func asText(_ value: String, binary: Bool) -> String {
        binary ? "encode((" + value + ")::bytea, 'hex')" : "(" + value + ")::text"
    }
}
