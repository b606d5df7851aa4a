extension GatewayConfig {
    /// Documents every configuration key, for `gateway --help`.
    public static let helpText = """
    Configuration (PostgREST-compatible). Give a config file (`gateway CONFIG_FILE`) with lines
    `key = "value"`, `key = 10` or `key = true` (`#` starts a comment); every key can also be set
    by the environment variable PGRST_<KEY> (upper case, dashes as underscores), which wins over
    the file. `db-uri`, `db-uri-read` and `jwt-secret` may be `@/path/to/file` to read the value
    from a file. Unknown keys and invalid values are refused at start with a message naming the key.
    SIGUSR2 or NOTIFY pgrst, 'reload config' reloads the file, the environment and the in-database
    configuration without a restart; the database URIs, pool sizes, server-host/-port/-unix-socket,
    admin-server-port, server-threads, server-timeout-seconds, server-sse-*, db-max-body-bytes, db-tx-end
    and server-cors-allowed-origins keep their values until a restart, and a reload that fails keeps all.

      db-uri                       libpq URI/connection string of the authenticator role
                                   (default "postgresql://").                      PGRST_DB_URI
      db-schemas                   comma-separated exposed schemas; the first is the default, the
                                   others are chosen with Accept-Profile (GET, HEAD, OPTIONS, /) or
                                   Content-Profile (POST) (default "public").      PGRST_DB_SCHEMAS
      db-anon-role                 role for requests without a JWT; unset: anonymous requests
                                   get 401 PGRST302.                               PGRST_DB_ANON_ROLE
      db-pool                      number of database connections (default 10).   PGRST_DB_POOL
      db-uri-read                  libpq URI of a read-only standby (gateway-specific): GET/HEAD
                                   calls of STABLE/IMMUTABLE functions go to a second pool on it,
                                   and to db-uri while it is unreachable (default: none). PGRST_DB_URI_READ
      db-pool-read                 connections of the read pool (default: db-pool).  PGRST_DB_POOL_READ
      db-pool-acquisition-timeout  seconds to wait for a free connection before 504 PGRST003
                                   (default 10).                 PGRST_DB_POOL_ACQUISITION_TIMEOUT
      db-pool-pipeline-depth       requests in flight on one connection at once, pipelined, each
                                   its own transaction (default 1; gateway-specific). PGRST_DB_POOL_PIPELINE_DEPTH
      db-pool-max-waiting          requests that may wait for a free slot; one more gets 503 +
                                   Retry-After at once (default 4 x db-pool; gateway-specific). PGRST_DB_POOL_MAX_WAITING
      db-pool-max-wait-ms          while the oldest waiting request has waited longer, new ones get
                                   503 + Retry-After at once; 0 = off (default 50; gateway-specific). PGRST_DB_POOL_MAX_WAIT_MS
      server-threads               event loops, each owning its clients and its share of db-pool
                                   (default: the number of cores, at most db-pool; gateway-specific). PGRST_SERVER_THREADS
      db-pre-request               function (schema.fn) called before every RPC call, after the
                                   request settings are in place.                  PGRST_DB_PRE_REQUEST
      db-tx-end                    how each call's transaction ends: commit, commit-allow-override
                                   (Prefer: tx=rollback rolls back), rollback, rollback-allow-override
                                   (Prefer: tx=commit commits); a rolled-back call still answers
                                   with its result (default commit).              PGRST_DB_TX_END
      db-hoisted-tx-settings       a function's own SET settings applied to its whole transaction
                                   (default statement_timeout, plan_filter.statement_cost_limit;
                                   default_transaction_isolation is ignored). PGRST_DB_HOISTED_TX_SETTINGS
      db-max-rows                  at most this many rows of a function's result are answered
                                   (Content-Range tells the total with Prefer: count=exact; alias
                                   max-rows; default: no limit).   PGRST_DB_MAX_ROWS, PGRST_MAX_ROWS
      db-max-timeout               seconds a call may run at most when the client asks for a
                                   deadline with Prefer: timeout=N (N is capped at this; decimals
                                   allowed; default 30; gateway-specific).          PGRST_DB_MAX_TIMEOUT
      db-max-body-bytes            largest request body accepted, larger -> 413
                                   (default 1048576; gateway-specific).            PGRST_DB_MAX_BODY_BYTES
      db-idempotency-ttl           seconds a POST's Idempotency-Key answer is kept and replayed,
                                   1 to 31536000 (default 86400; gateway-specific). PGRST_DB_IDEMPOTENCY_TTL
      server-host                  address to listen on (default 127.0.0.1); "!4" or "*" = any
                                   IPv4, "!6" = any IPv6.                          PGRST_SERVER_HOST
      server-port                  HTTP port (default 3000).                       PGRST_SERVER_PORT
      server-cors-allowed-origins  comma-separated origins allowed to make CORS requests; unset or
                                   "": any origin (Access-Control-Allow-Origin: *). PGRST_SERVER_CORS_ALLOWED_ORIGINS
      server-unix-socket           unix domain socket to serve HTTP on instead of server-host and
                                   server-port; a stale socket file is replaced (default: none). PGRST_SERVER_UNIX_SOCKET
      server-unix-socket-mode      octal file mode of that socket, 600 to 777 (default 660). PGRST_SERVER_UNIX_SOCKET_MODE
      admin-server-port            port of /live, /ready, /metrics and /schema_cache (default: none). PGRST_ADMIN_SERVER_PORT
      admin-server-host            address of the admin server (default: server-host). PGRST_ADMIN_SERVER_HOST
      server-timing-enabled        Server-Timing on every call's answer (default true; PostgREST's
                                   default is false).                      PGRST_SERVER_TIMING_ENABLED
      server-timeout-seconds       seconds of client inactivity before a connection is closed
                                   (default 10; gateway-specific).          PGRST_SERVER_TIMEOUT_SECONDS
      server-sse-max-subscribers   server-sent event streams (GET /notify/<channel>) open at once; one
                                   more gets 503 + Retry-After (default 1000). PGRST_SERVER_SSE_MAX_SUBSCRIBERS
      server-sse-max-buffer-bytes  unsent bytes an event stream may hold; a client slower than its
                                   events is dropped beyond (default 1048576, at least 65536: the
                                   largest event). PGRST_SERVER_SSE_MAX_BUFFER_BYTES
      server-sse-keepalive-seconds seconds between an event stream's keep-alive comments (default 15).
                                   PGRST_SERVER_SSE_KEEPALIVE_SECONDS
      log-level                    crit, error, warn, info or debug (default error). PGRST_LOG_LEVEL
      log-query                    true: log the SQL of each request's statements (as $n parameters)
                                   when its access line is logged; "main-query" and "disabled" (PostgREST
                                   13) mean true and false (default false).       PGRST_LOG_QUERY
      db-config                    read the in-database configuration: the login role's pgrst.<key>
                                   settings (ALTER ROLE ... SET pgrst.db_schemas = '...', keys with
                                   underscores), over the file and environment (default true). PGRST_DB_CONFIG
      db-pre-config                function (schema.fn) that sets pgrst.<key> settings with
                                   set_config for the in-database configuration.  PGRST_DB_PRE_CONFIG
      openapi-mode                 the OpenAPI 3.1 document at /: follow-privileges lists the functions
                                   the caller's role may execute, ignore-privileges all of them, disabled
                                   answers 404 PGRST126 (default follow-privileges). PGRST_OPENAPI_MODE
      jwt-secret                   a plain secret (HS256 only, at least 32 bytes), a JWK or a JWKS
                                   ({"keys":[...]}) of RSA (RS256/384/512), EC P-256/384/521
                                   (ES256/384/512), OKP Ed25519 (EdDSA) and oct (HS256/384/512) keys;
                                   a token's kid picks the keys with that kid, without one every
                                   key is tried; keys with use "enc", another alg or an unknown
                                   kty/alg (and Ed448) are never used. "@/path": the file's bytes,
                                   one trailing newline dropped. A JSON object that is no valid
                                   JWK/JWKS is refused (PostgREST would use it as an HMAC secret). PGRST_JWT_SECRET
      jwt-secret-is-base64         jwt-secret is the base64 of the secret (default false). PGRST_JWT_SECRET_IS_BASE64
      jwt-cache-max-entries        verified tokens kept to skip their signature check; claims are
                                   still checked per request; SIEVE eviction; 0 = off (default 1000,
                                   PostgREST 14). Metrics: pgrst_jwt_cache_*.  PGRST_JWT_CACHE_MAX_ENTRIES
      jwt-cache-max-lifetime       seconds a cached token may be reused at most; 0 = cache off
                                   (PostgREST 12/13); default: until the token's exp. PGRST_JWT_CACHE_MAX_LIFETIME
      jwt-aud                      expected JWT audience.                          PGRST_JWT_AUD
      jwt-role-claim-key           JSPath of the role claim (default ".role").     PGRST_JWT_ROLE_CLAIM_KEY
      app.settings.<name>          free settings: every request's transaction sets them, readable
                                   with current_setting('app.settings.<name>').  PGRST_APP_SETTINGS_<NAME>
    PostgREST keys accepted at one value only (a PostgREST config file starts the gateway; any other
    value is refused at start, naming the key and why), each also as PGRST_<KEY>:
      db-channel "pgrst", db-channel-enabled true, server-trace-header unset, db-extra-search-path "public",
      db-prepared-statements true, db-pool-max-idletime 30 (alias db-pool-timeout),
      db-pool-max-lifetime 1800, db-pool-automatic-recovery true, db-aggregates-enabled false,
      db-plan-enabled false, db-root-spec unset, openapi-server-proxy-uri unset.
      (PGRST_DB_AGGREGATES_ENABLED, PGRST_DB_CHANNEL, PGRST_DB_CHANNEL_ENABLED,
       PGRST_DB_EXTRA_SEARCH_PATH, PGRST_DB_PLAN_ENABLED, PGRST_DB_POOL_AUTOMATIC_RECOVERY,
       PGRST_DB_POOL_MAX_IDLETIME, PGRST_DB_POOL_MAX_LIFETIME, PGRST_DB_POOL_TIMEOUT,
       PGRST_DB_PREPARED_STATEMENTS, PGRST_DB_ROOT_SPEC, PGRST_OPENAPI_SERVER_PROXY_URI,
       PGRST_SERVER_TRACE_HEADER)
      openapi-security-active      true or false: the OpenAPI 3.1 document always declares its
                                   bearer (JWT) security scheme.           PGRST_OPENAPI_SECURITY_ACTIVE
    """
}
