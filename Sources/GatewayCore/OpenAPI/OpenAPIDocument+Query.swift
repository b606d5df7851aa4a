import Foundation

extension OpenAPIDocument {
    /// Output columns of the exposed functions that return a composite type or a table: schema, name,
    /// input parameter names (comma-joined, the overload key) and the columns as a JSON array of [name, type].
    public static func resultColumnsQuery(schemas: [String]) -> Statement {
        Statement("""
            SELECT n.nspname::text, p.proname::text,
              coalesce((SELECT string_agg(coalesce(a.name, ''), ',' ORDER BY a.ord)
                        FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargmodes, p.proargnames)
                             WITH ORDINALITY AS a(type_oid, mode, name, ord)
                        WHERE coalesce(a.mode, 'i') IN ('i', 'b', 'v')), ''),
              coalesce(
                (SELECT json_agg(json_build_array(a.name, format_type(a.type_oid, NULL)) ORDER BY a.ord)
                 FROM unnest(p.proallargtypes, p.proargmodes, p.proargnames) WITH ORDINALITY AS a(type_oid, mode, name, ord)
                 WHERE a.mode IN ('o', 'b', 't')),
                (SELECT json_agg(json_build_array(att.attname, format_type(att.atttypid, att.atttypmod)) ORDER BY att.attnum)
                 FROM pg_type t JOIN pg_attribute att ON att.attrelid = t.typrelid
                 WHERE t.oid = p.prorettype AND t.typrelid <> 0 AND att.attnum > 0 AND NOT att.attisdropped),
                '[]')::text
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = ANY (string_to_array($1, ',')) AND p.prokind = 'f'
            """, [schemas.joined(separator: ",")])
    }

    /// The oids of `schema`'s functions the current role may execute, run in the caller's transaction
    /// after the context statement's role switch (PostgREST's `accessibleFuncs`, openapi-mode
    /// follow-privileges).
    public static func executableQuery(schema: String) -> Statement {
        Statement("""
            SELECT p.oid::text FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = $1 AND p.prokind = 'f' AND has_function_privilege(p.oid, 'execute')
            """, [schema])
    }

    /// Reads the rows of `resultColumnsQuery`.
    public static func resultColumns(rows: [[String?]]) -> ResultColumns {
        var columns: ResultColumns = [:]
        for row in rows {
            guard let schema = row[0], let name = row[1], let json = row[3]?.data(using: .utf8),
                  let pairs = try? JSONSerialization.jsonObject(with: json) as? [[Any]] else { continue }
            columns["\(schema).\(name)(\(row[2] ?? ""))"] = pairs.compactMap { pair in
                guard pair.count == 2, let column = pair[0] as? String, let type = pair[1] as? String else { return nil }
                return (column, type)
            }
        }
        return columns
    }
}
