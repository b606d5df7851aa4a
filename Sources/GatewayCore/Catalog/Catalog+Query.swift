extension Catalog {
    /// The pg_catalog query that reads the functions of `schemas`; its rows feed `Catalog(rows:)`.
    /// Columns: schema, name, volatility (i/s/v), returns set (t/f), shape (void/scalar/composite),
    /// return type, comment, parameters as a JSON array of [name, cast type, has default, variadic, array],
    /// the function's hoisted `SET` settings as a JSON array of [name, value], the function's oid, the
    /// return type as a JSON array [schema, name, composite, domain over a composite],
    /// its result columns as a JSON array of [name, type, base type] (OUT/TABLE parameters, else the
    /// attributes of a composite return type, through a domain), and the table or view it returns rows
    /// of (PostgREST names the result after it), if any, and the name of its composite result type (null
    /// for other results).
    public static func query(schemas: [String], hoisted: [String] = TransactionSetting.hoisted) -> Statement {
        Statement(catalogSQL, [ArrayLiteral.text(schemas.map { Optional($0) }),
                               ArrayLiteral.text(hoisted.map { Optional($0) })])
    }

    /// The settings of the roles the authenticator may switch to (its direct memberships, as PostgREST
    /// reads them), for this database: `ALTER ROLE r IN DATABASE d SET` wins over `ALTER ROLE r SET`, as
    /// at login. Only settings a role may set itself (context `user`, or SET granted to the
    /// authenticator); `default_transaction_isolation` is left out (see `TransactionSetting.hoisted`).
    /// Columns: role, setting name, value; rows feed `Catalog(rows:roleSettingRows:)`.
    public static let roleSettingsQuery = Statement(roleSettingsSQL)

    static let roleSettingsSQL = """
    WITH role_setting AS (
      SELECT r.rolname, s.setdatabase, unnest(s.setconfig) AS setting
      FROM pg_catalog.pg_auth_members m
      JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
      JOIN pg_catalog.pg_db_role_setting s ON s.setrole = r.oid
      WHERE m.member = quote_ident(current_user)::regrole::oid
        AND s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database()))
    ), kv AS (
      SELECT rolname, setdatabase, substr(setting, 1, strpos(setting, '=') - 1) AS name,
             substr(setting, strpos(setting, '=') + 1) AS value
      FROM role_setting
    )
    SELECT DISTINCT ON (kv.rolname, kv.name) kv.rolname::text, kv.name, kv.value
    FROM kv JOIN pg_catalog.pg_settings ps ON ps.name = kv.name
    WHERE kv.name <> 'default_transaction_isolation'
      AND (ps.context = 'user' OR has_parameter_privilege(quote_ident(current_user)::regrole::oid, ps.name, 'SET'))
    ORDER BY kv.rolname, kv.name, kv.setdatabase DESC
    """

    static let catalogSQL = """
    SELECT n.nspname::text, p.proname::text, p.provolatile::text, p.proretset::text,
      CASE
        WHEN p.prorettype = 'void'::regtype AND NOT p.proretset THEN 'void'
        WHEN rt.typtype = 'c' OR coalesce(p.proargmodes::text[] && '{t,b,o}', false) THEN 'composite'
        WHEN rt.typtype = 'd' AND EXISTS (SELECT 1 FROM pg_type bt WHERE bt.oid = rt.typbasetype AND bt.typtype = 'c')
          THEN 'composite'
        ELSE 'scalar'
      END,
      format_type(p.prorettype, NULL),
      d.description,
      (SELECT coalesce(json_agg(json_build_array(a.name, a.type, a.pos > p.pronargs - p.pronargdefaults,
                                                 a.variadic, a.is_array) ORDER BY a.pos), '[]')::text
       FROM (
         SELECT coalesce(arg.name, '') AS name,
           CASE
             WHEN t.oid = 'bit'::regtype THEN 'bit varying'
             WHEN t.oid = 'bit[]'::regtype THEN 'bit varying[]'
             WHEN t.oid = 'bpchar'::regtype THEN 'bpchar'
             WHEN t.oid = 'bpchar[]'::regtype THEN 'bpchar[]'
             WHEN tn.nspname = 'pg_catalog' THEN format_type(t.oid, NULL)
             WHEN e.oid IS NOT NULL AND en.nspname = 'pg_catalog' THEN format_type(t.oid, NULL)
             WHEN e.oid IS NOT NULL THEN quote_ident(en.nspname) || '.' || quote_ident(e.typname) || '[]'
             ELSE quote_ident(tn.nspname) || '.' || quote_ident(t.typname)
           END AS type,
           coalesce(arg.mode = 'v', false) AS variadic,
           (t.typcategory = 'A' OR coalesce(arg.mode = 'v', false)) AS is_array,
           row_number() OVER (ORDER BY arg.ord) AS pos
         FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargmodes, p.proargnames)
              WITH ORDINALITY AS arg(type_oid, mode, name, ord)
         JOIN pg_type t ON t.oid = arg.type_oid
         JOIN pg_namespace tn ON tn.oid = t.typnamespace
         LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
         LEFT JOIN pg_namespace en ON en.oid = e.typnamespace
         WHERE arg.type_oid IS NOT NULL AND coalesce(arg.mode, 'i') IN ('i', 'b', 'v')
       ) a),
      (SELECT coalesce(json_agg(json_build_array(substr(c.setting, 1, strpos(c.setting, '=') - 1),
                                                 substr(c.setting, strpos(c.setting, '=') + 1)) ORDER BY c.ord), '[]')::text
       FROM unnest(p.proconfig) WITH ORDINALITY AS c(setting, ord)
       WHERE substr(c.setting, 1, strpos(c.setting, '=') - 1) = ANY ($2::text[])),
      p.oid::text,
      json_build_array(rtn.nspname, rt.typname, rt.typtype = 'c' OR coalesce(rbt.typtype = 'c', false),
                       coalesce(rbt.typtype = 'c', false))::text,
      (SELECT coalesce(json_agg(json_build_array(c.name, c.type, c.base) ORDER BY c.pos), '[]')::text
       FROM (
         SELECT coalesce(arg.name, '') AS name, format_type(arg.type_oid, NULL) AS type,
                format_type(coalesce(nullif(t.typbasetype, 0), t.oid), NULL) AS base, arg.ord AS pos
         FROM unnest(p.proallargtypes, p.proargmodes, p.proargnames) WITH ORDINALITY AS arg(type_oid, mode, name, ord)
         JOIN pg_type t ON t.oid = arg.type_oid
         WHERE arg.mode IN ('o', 'b', 't')
         UNION ALL
         SELECT a.attname::text, format_type(a.atttypid, a.atttypmod),
                format_type(coalesce(nullif(t.typbasetype, 0), t.oid), NULL), a.attnum
         FROM pg_attribute a
         JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = CASE WHEN rt.typtype = 'd'
                                 THEN (SELECT bt.typrelid FROM pg_type bt WHERE bt.oid = rt.typbasetype)
                                 ELSE rt.typrelid END
           AND a.attnum > 0 AND NOT a.attisdropped
           AND NOT coalesce(p.proargmodes::text[] && '{t,b,o}', false)
       ) c),
      (SELECT r.relname::text FROM pg_class r WHERE r.oid = rt.typrelid AND r.relkind <> 'c'),
      CASE WHEN rt.typtype = 'c' OR coalesce(p.proargmodes::text[] && '{t,b,o}', false) THEN rt.typname::text END
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    JOIN pg_type rt ON rt.oid = p.prorettype
    JOIN pg_namespace rtn ON rtn.oid = rt.typnamespace
    LEFT JOIN pg_type rbt ON rt.typtype = 'd' AND rbt.oid = rt.typbasetype
    LEFT JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass AND d.objsubid = 0
    WHERE n.nspname = ANY ($1::text[]) AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype
    ORDER BY n.nspname, p.proname, p.oid
    """
}
