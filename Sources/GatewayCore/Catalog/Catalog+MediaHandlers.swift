extension Catalog {
    /// PostgREST's `mediaHandlers` query (SchemaCache.hs): domains named like a media type
    /// (`type/subtype`, or `*/*` answered as application/octet-stream), and (1) the aggregates of the
    /// exposed schemas returning one over a table's or view's rows or `anyelement`, (2) the functions
    /// of the exposed schemas returning one (not SETOF). Columns: handler schema, handler name, target
    /// schema, target name, media type (lower case), media type answered, aggregate (t/f), the domain
    /// is over bytea (t/f). Rows feed `Catalog.mediaHandlers(rows:)`.
    public static func mediaHandlersQuery(schemas: [String]) -> Statement {
        Statement(mediaHandlersSQL, [ArrayLiteral.text(schemas.map { Optional($0) })])
    }

    static let mediaHandlersSQL = #"""
    WITH all_relations AS (
      SELECT reltype FROM pg_catalog.pg_class WHERE relkind IN ('v','r','m','f','p')
      UNION
      SELECT oid FROM pg_catalog.pg_type WHERE typname = 'anyelement'
    ), media_types AS (
      SELECT t.oid, lower(t.typname) AS typname, t.typnamespace,
        CASE t.typname WHEN '*/*' THEN 'application/octet-stream' ELSE t.typname END AS resolved_media_type,
        t.typbasetype = 'bytea'::regtype AS is_binary
      FROM pg_catalog.pg_type t
      JOIN pg_catalog.pg_type b ON t.typbasetype = b.oid
      WHERE t.typbasetype <> 0
        AND (t.typname ~* '^[A-Za-z0-9.-]+/[A-Za-z0-9.\+-]+$' OR t.typname = '*/*')
    ), exposed AS (
      SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = ANY ($1::text[])
    )
    SELECT proc_schema.nspname::text, proc.proname::text, arg_schema.nspname::text, arg_name.typname::text,
      media_types.typname::text, media_types.resolved_media_type::text, 't', media_types.is_binary::text
    FROM media_types
    JOIN pg_catalog.pg_proc proc ON proc.prorettype = media_types.oid
    JOIN pg_catalog.pg_namespace proc_schema ON proc_schema.oid = proc.pronamespace
    JOIN pg_catalog.pg_aggregate agg ON agg.aggfnoid = proc.oid
    JOIN pg_catalog.pg_type arg_name ON arg_name.oid = proc.proargtypes[0]
    JOIN pg_catalog.pg_namespace arg_schema ON arg_schema.oid = arg_name.typnamespace
    WHERE proc.pronamespace IN (SELECT oid FROM exposed) AND proc.pronargs = 1
      AND arg_name.oid IN (SELECT reltype FROM all_relations)
    UNION
    SELECT typ_sch.nspname::text, mtype.typname::text, pro_sch.nspname::text, proc.proname::text,
      mtype.typname::text, mtype.resolved_media_type::text, 'f', mtype.is_binary::text
    FROM pg_catalog.pg_proc proc
    JOIN pg_catalog.pg_namespace pro_sch ON pro_sch.oid = proc.pronamespace
    JOIN media_types mtype ON proc.prorettype = mtype.oid
    JOIN pg_catalog.pg_namespace typ_sch ON typ_sch.oid = mtype.typnamespace
    WHERE proc.pronamespace IN (SELECT oid FROM exposed) AND NOT proc.proretset AND proc.prokind = 'f'
    """#

    /// The handler map from the rows of `mediaHandlersQuery`, over the built-ins. The handler keeps the
    /// domain's real name (`lower` is only for matching, as in PostgREST).
    public static func mediaHandlers(rows: [[String?]]) throws -> MediaHandlerMap {
        var custom: [MediaHandlerMap.Key: (MediaHandler, MediaType)] = [:]
        for row in rows {
            guard row.count >= 8, let schema = row[0], let name = row[1], let targetSchema = row[2],
                  let targetName = row[3], let mediaType = row[4], let resolved = row[5] else {
                throw CatalogError(message: "unexpected media handler row \(row)")
            }
            let target: MediaHandlerTarget = targetSchema == "pg_catalog" && targetName == "anyelement"
                ? .anyElement : .relation(schema: targetSchema, name: targetName)
            let isAggregate = row[6] == "t"
            let handler = CustomMediaHandler(schema: schema, name: name,
                                             kind: isAggregate ? .aggregate(target: target) : .domain,
                                             isBinary: row[7] == "t" || row[7] == "true")
            custom[MediaHandlerMap.Key(target: target, mediaType: MediaType(mediaType))] = (.custom(handler), MediaType(resolved))
        }
        return MediaHandlerMap(custom: custom)
    }
}
