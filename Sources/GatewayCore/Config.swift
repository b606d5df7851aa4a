/// The gateway's settings, PostgREST-compatible: the same keys, the same config-file format and the
/// same `PGRST_<KEY>` environment variables (`db-pool` -> `PGRST_DB_POOL`), environment winning.
public struct GatewayConfig: Sendable, Equatable {
    /// Severity threshold of the log (PostgREST's `log-level`).
    public typealias LogLevel = GatewayLogLevel

    /// libpq connection string or URI the gateway logs in with (the authenticator role).
    public var dbURI = "postgresql://"
    /// Exposed schemas; the first is the default one, the others are chosen with Accept-Profile
    /// (GET, HEAD, OPTIONS and the document at `/`) or Content-Profile (POST).
    public var dbSchemas = ["public"]
    /// Role for requests without a JWT; nil means anonymous access is refused (401 PGRST302).
    public var dbAnonRole: String?
    /// Number of database connections.
    public var dbPool = 10
    /// Read scaling (ours): libpq URI of a read-only standby; GET/HEAD calls of STABLE or IMMUTABLE
    /// functions are served by a second pool on it, falling back to `dbURI` while it is unreachable.
    public var dbURIRead: String?
    /// Connections of the read pool; nil: as many as `dbPool`.
    public var dbPoolRead: Int?
    /// Seconds a request waits for a free connection before 504 PGRST003.
    public var dbPoolAcquisitionTimeout = 10
    /// Admission control (ours): requests that may wait for a connection slot, over the whole
    /// gateway; one more is answered 503 + Retry-After at once. nil: 4 x `db-pool`.
    public var dbPoolMaxWaiting: Int?
    /// Admission by time (ours): while the oldest waiting request has waited longer than this many
    /// milliseconds, new requests get 503 + Retry-After at once. 0 turns it off.
    public var dbPoolMaxWaitMs = 50
    /// Requests in flight on one database connection at once (ours; pipelined, each its own
    /// transaction). 1 keeps PostgREST's meaning of `db-pool`: a slow call holds up only itself.
    public var dbPoolPipelineDepth = 1
    /// Event-loop threads (ours); each owns its client connections and its share of the pools.
    /// nil: the number of cores. Never more than `db-pool` (each loop owns at least one connection).
    public var serverThreads: Int?
    /// How each call's transaction ends (PostgREST's `db-tx-end`): `commit`, `commit-allow-override`
    /// (`Prefer: tx=rollback` rolls back), `rollback`, `rollback-allow-override` (`Prefer: tx=commit`
    /// commits). A rolled-back call still answers with its result.
    public var dbTxEnd = "commit"
    /// A called function's own settings (`CREATE FUNCTION ... SET`) applied to its whole transaction
    /// (PostgREST's `db-hoisted-tx-settings`); `default_transaction_isolation` is accepted and left
    /// out: the call's transaction has begun before any setting could choose its isolation.
    public var dbHoistedTxSettings = TransactionSetting.hoisted
    /// At most this many rows of a function's result are answered (PostgREST's `db-max-rows`,
    /// alias `max-rows`); nil: no limit.
    public var dbMaxRows: Int?
    /// Seconds a call may run when the client asks for a deadline with `Prefer: timeout=N` (ours):
    /// N is capped at this; without the preference the roles' and functions' own limits apply.
    public var dbMaxTimeout: Double = 30
    /// Seconds an `Idempotency-Key` answer is kept and replayed (ours); past it the key is new again,
    /// and the listener deletes the row.
    public var dbIdempotencyTTL = 86_400
    /// Function called after the request settings and before the call (`schema.fn` or `fn`).
    public var dbPreRequest: String?
    /// Largest accepted request body in bytes (ours; larger -> 413).
    public var dbMaxBodyBytes = 1_048_576
    /// Address to listen on. PostgREST's special values are accepted: `!4` (any IPv4), `!6`
    /// (any IPv6), `*` (any); see `bindHost`.
    public var serverHost = "127.0.0.1"
    /// Origins allowed to make CORS requests (`Access-Control-Allow-Origin` echoes them, with
    /// credentials); empty, PostgREST's default: any origin (`*`).
    public var serverCorsAllowedOrigins: [String] = []
    public var serverPort = 3000
    /// Unix domain socket to serve HTTP on instead of `serverHost:serverPort` (PostgREST's `server-unix-socket`).
    public var serverUnixSocket: String?
    /// File mode of `serverUnixSocket`, 0o600...0o777 (default 0o660).
    public var serverUnixSocketMode: UInt32 = 0o660
    /// Port of the admin server (`/live`, `/ready`); nil: no admin server.
    public var adminServerPort: Int?
    /// Address of the admin server (PostgREST's `admin-server-host`); nil: `serverHost`.
    public var adminServerHost: String?
    /// `Server-Timing` on every call's answer (PostgREST's `server-timing-enabled`, whose default is
    /// false; ours is true: the benchmarks and operators read it).
    public var serverTimingEnabled = true
    /// Seconds of client inactivity after which a connection is closed (ours).
    public var serverTimeoutSeconds = 10
    /// Server-sent event streams open at once on this gateway (`server-sse-max-subscribers`, ours).
    public var serverSSEMaxSubscribers = 1_000
    /// Unsent bytes an event stream may hold before its slow client is dropped (`server-sse-max-buffer-bytes`).
    public var serverSSEMaxBufferBytes = 1 << 20
    /// Seconds between the keep-alive comments of an event stream (`server-sse-keepalive-seconds`).
    public var serverSSEKeepaliveSeconds = 15
    public var logLevel = LogLevel.error
    /// Logs the SQL of each request's statements at the access log's level (PostgREST's `log-query`).
    public var logQuery = false
    /// Reads the in-database configuration (`pgrst.*` role settings, `db-pre-config`) at start and on reload.
    public var dbConfig = true
    /// Function (`schema.fn`) that sets `pgrst.*` settings with `set_config` for the in-database configuration.
    public var dbPreConfig: String?
    /// The OpenAPI document at `/`: `follow-privileges` lists the functions the caller's role may
    /// execute, `ignore-privileges` all of them, `disabled` answers 404 PGRST126.
    public var openAPIMode = "follow-privileges"
    /// `jwt-secret` as configured (the file's bytes for `@path`, one trailing newline dropped, as
    /// PostgREST): a plain secret (HS256, at least 32 bytes), a JWK or a JWKS; see `jwtKeys()`.
    public var jwtSecret: [UInt8]?
    /// `jwt-secret` is base64 text of the secret (PostgREST's `jwt-secret-is-base64`).
    public var jwtSecretIsBase64 = false
    /// Verified tokens kept in the JWT cache (PostgREST 14's `jwt-cache-max-entries`); 0 turns it off.
    public var jwtCacheMaxEntries = 1000
    /// Seconds a cached token may be reused at most (PostgREST 12/13's `jwt-cache-max-lifetime`; 0
    /// turns the cache off); nil: until the token expires.
    public var jwtCacheMaxLifetime: Int?
    public var jwtAud: String?
    /// JSPath of the role claim, PostgREST syntax (`.role`, `.realm_access.roles[0]`).
    public var jwtRoleClaimKey = ".role"
    /// `app.settings.<name>` keys (config file, or `PGRST_APP_SETTINGS_<NAME>`), by lower-cased name:
    /// each request's transaction sets them, readable with `current_setting('app.settings.<name>')`.
    public var appSettings: [String: String] = [:] {
        didSet {
            appTransactionSettings = appSettings.sorted { $0.key < $1.key }
                .map { TransactionSetting(name: "app.settings." + $0.key, value: $0.value) }
        }
    }
    /// `appSettings` as every request's context statement applies them (sorted by name): derived when
    /// the configuration is read, not sorted again on each request.
    public private(set) var appTransactionSettings: [TransactionSetting] = []

    public init() {}

    /// Size of the read pool (`db-pool-read`, else `db-pool`).
    public var readPoolSize: Int { dbPoolRead ?? dbPool }

    /// Waiting requests allowed over the whole gateway (`db-pool-max-waiting`).
    public var maxWaiting: Int { dbPoolMaxWaiting ?? dbPool * 4 }

    /// `db-tx-end` rolls back unless overridden.
    public var txRollbackAll: Bool { dbTxEnd.hasPrefix("rollback") }

    /// `db-tx-end` lets `Prefer: tx=` decide.
    public var txAllowOverride: Bool { dbTxEnd.hasSuffix("-allow-override") }

    /// The default (first) exposed schema.
    public var defaultSchema: String { dbSchemas.first ?? "public" }

    /// `serverHost` as an address to bind: `!4`/`*4`/`*` -> `0.0.0.0`, `!6`/`*6` -> `::`.
    public var bindHost: String { Self.bindAddress(serverHost) }

    /// `adminServerHost` (else `serverHost`) as an address to bind.
    public var adminBindHost: String { Self.bindAddress(adminServerHost ?? serverHost) }

    static func bindAddress(_ host: String) -> String {
        switch host {
        case "!4", "*4", "*": return "0.0.0.0"
        case "!6", "*6": return "::"
        default: return host
        }
    }

    /// Reads the config file (if any), then applies `PGRST_*` environment variables over it,
    /// and validates every value. Throws `ConfigError` naming the key at fault.
    /// `database`: the in-database configuration (`GatewayConfig.databaseSettingNames` without `pgrst.`,
    /// `db_schemas`), which wins over both, as in PostgREST's `overrideFromDbOrEnvironment`.
    public static func load(file: String?, environment: [String: String],
                            database: [String: String] = [:]) throws -> GatewayConfig {
        var values: [(key: String, value: ConfigValue, source: String)] = []
        if let file {
            let text: String
            do { text = try readTextFile(file) } catch {
                throw ConfigError(key: file, reason: "cannot read the config file (\(error))")
            }
            for entry in try ConfigFileParser.parse(text, file: file) {
                values.append((entry.key, entry.value, entry.key))
            }
        }
        for key in knownKeys {
            let variable = environmentName(of: key)
            if let raw = environment[variable] {
                values.append((key, .string(raw), variable))
            }
        }
        // PGRST_APP_SETTINGS_MY_KEY -> app.settings.my_key (PostgREST: "case is not important").
        for (variable, raw) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix(appSettingsVariablePrefix) {
            values.append(("app.settings." + variable.dropFirst(appSettingsVariablePrefix.count).lowercased(), .string(raw), variable))
        }
        for (name, raw) in database.sorted(by: { $0.key < $1.key }) {
            values.append((name.replacingOccurrences(of: "_", with: "-"), .string(raw), "pgrst." + name))
        }
        var config = GatewayConfig()
        for (key, value, source) in values {
            try config.apply(key: key, value: value, source: source)
        }
        try config.validate()
        return config
    }

    static let appSettingsVariablePrefix = "PGRST_APP_SETTINGS_"


    /// `db-pool` -> `PGRST_DB_POOL`.
    public static func environmentName(of key: String) -> String {
        "PGRST_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }
}
