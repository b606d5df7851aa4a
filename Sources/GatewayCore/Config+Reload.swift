extension GatewayConfig {
    /// The in-database configuration names PostgREST reads (`pgrst.<name>` role settings and what
    /// `db-pre-config` sets; Config/Database.hs, `dbSettingsNames`) that this gateway knows, without
    /// the `pgrst.` prefix: `db_schemas` is `db-schemas`.
    public static let databaseSettingNames = [
        "db_anon_role", "db_pre_config", "db_pre_request", "db_schemas", "db_tx_end", "db_hoisted_tx_settings",
        "jwt_aud", "jwt_role_claim_key", "jwt_secret", "jwt_secret_is_base64", "jwt_cache_max_entries",
        "jwt_cache_max_lifetime", "openapi_mode", "server_cors_allowed_origins",
    ]

    /// `new` with the settings a running gateway cannot change kept from `self` (the running
    /// configuration): what the listening sockets, the pools and the event loops were built from
    /// (PostgREST's configuration.rst, "Reloadable N": `db-uri`, `db-pool*`, `server-host`,
    /// `server-port`, `server-unix-socket*`, `admin-server-port`; and ours of the same kind). After the
    /// first read of the in-database configuration (`initial`), `db-tx-end` and
    /// `server-cors-allowed-origins` are kept too: PostgREST reads them at start only.
    public func reloaded(_ new: GatewayConfig, initial: Bool = false) -> GatewayConfig {
        var next = new
        next.dbURI = dbURI
        next.dbURIRead = dbURIRead
        next.dbPool = dbPool
        next.dbPoolRead = dbPoolRead
        next.dbPoolAcquisitionTimeout = dbPoolAcquisitionTimeout
        next.dbPoolMaxWaiting = dbPoolMaxWaiting
        next.dbPoolMaxWaitMs = dbPoolMaxWaitMs
        next.dbPoolPipelineDepth = dbPoolPipelineDepth
        next.serverThreads = serverThreads
        next.dbMaxBodyBytes = dbMaxBodyBytes
        next.serverHost = serverHost
        next.serverPort = serverPort
        next.serverUnixSocket = serverUnixSocket
        next.serverUnixSocketMode = serverUnixSocketMode
        next.adminServerPort = adminServerPort
        next.adminServerHost = adminServerHost
        next.serverTimeoutSeconds = serverTimeoutSeconds
        next.serverSSEMaxSubscribers = serverSSEMaxSubscribers
        next.serverSSEMaxBufferBytes = serverSSEMaxBufferBytes
        next.serverSSEKeepaliveSeconds = serverSSEKeepaliveSeconds
        if !initial {
            next.dbTxEnd = dbTxEnd
            next.serverCorsAllowedOrigins = serverCorsAllowedOrigins
        }
        return next
    }
}
