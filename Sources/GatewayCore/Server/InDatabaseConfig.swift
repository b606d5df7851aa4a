/// PostgREST's in-database configuration (configuration.rst, "In-Database Configuration";
/// Config/Database.hs, `queryDbSettings`): the `pgrst.<name>` settings of the role the gateway logs
/// in as (`ALTER ROLE authenticator [IN DATABASE d] SET pgrst.db_schemas = '...'`, read from
/// pg_db_role_setting) and those the `db-pre-config` function sets with `set_config`. A
/// database-specific role setting wins over the role's, which wins over the function's.
enum InDatabaseConfig {
    /// The query; `preConfig` is the function's name as configured (checked when the configuration
    /// was read), quoted into the SQL as an identifier. The names travel as a bind parameter.
    static func statement(preConfig: QualifiedName?) -> Statement {
        let fromFunction = preConfig.map { function in
            """

              UNION
              SELECT NULL, x, current_setting(x, true) FROM unnest($1::text[]) x JOIN \(function.sql)() _ ON TRUE
            """
        } ?? ""
        let sql = """
        WITH role_setting AS (
          SELECT setdatabase AS database, unnest(setconfig) AS setting
          FROM pg_catalog.pg_db_role_setting
          WHERE setrole = quote_ident(current_user)::regrole::oid
            AND setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_catalog))
        ), kv_settings AS (
          SELECT database, substr(setting, 1, strpos(setting, '=') - 1) AS k, substr(setting, strpos(setting, '=') + 1) AS v
          FROM role_setting\(fromFunction)
        )
        SELECT DISTINCT ON (key) replace(k, 'pgrst.', '') AS key, v AS value
        FROM kv_settings
        WHERE k = ANY($1::text[]) AND v IS NOT NULL
        ORDER BY key, database DESC NULLS LAST
        """
        return Statement(sql, [ArrayLiteral.text(GatewayConfig.databaseSettingNames.map { "pgrst." + $0 })])
    }

    /// The settings by name without `pgrst.` (`db_schemas`), for `GatewayConfig.load(database:)`.
    static func read(on connection: PGConnection, preConfig: String?) throws -> [String: String] {
        let query = statement(preConfig: preConfig.flatMap(QualifiedName.init))
        var settings: [String: String] = [:]
        for row in try connection.query(query.sql, query.parameters) {
            if row.count == 2, let name = row[0], let value = row[1] { settings[name] = value }
        }
        return settings
    }
}
