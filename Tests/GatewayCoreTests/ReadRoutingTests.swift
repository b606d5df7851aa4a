import Testing
@testable import GatewayCore

/// Read scaling without a database: which pool a planned call goes to, the fallback to the primary
/// when the read pool has no connection, which read-pool failures the primary retries, and the
/// `db-uri-read` / `db-pool-read` keys.
@Suite struct ReadRoutingTests {
    /// One loop's pools that are never started: no connection (so `isConnected` is false).
    static func router(withReadPool: Bool, metrics: GatewayMetrics = GatewayMetrics()) -> PGPoolRouter {
        let epoll = Epoll()
        func pool(_ uri: String, _ role: PGPoolRole) -> PGPool {
            PGPool(settings: PGPoolSettings(conninfo: uri, connections: 2, depth: 4, maxWaiting: 8, acquisitionTimeout: 1),
                   stats: PGPoolStats(role: role, size: 2), epoll: epoll)
        }
        return PGPoolRouter(primary: pool("postgresql://primary.invalid/db", .primary),
                            read: withReadPool ? pool("postgresql://standby.invalid/db", .read) : nil,
                            metrics: PGPoolMetrics(registry: metrics.registry, roles: withReadPool ? [.primary, .read] : [.primary]))
    }

    static func role(_ method: String, _ path: String, query: String = "", body: String = "",
                     readPool: Bool = true) throws -> PGPoolRole {
        let plan = try Fixtures.plan(method, path, query: query, body: body)
        return router(withReadPool: readPool).role(for: plan, method: method)
    }

    @Test func getAndHeadOfStableOrImmutableFunctionsGoToTheReadPool() throws {
        #expect(try Self.role("GET", "/rpc/noparamsproc") == .read)                       // STABLE
        #expect(try Self.role("HEAD", "/rpc/noparamsproc") == .read)
        #expect(try Self.role("GET", "/rpc/getitemrange", query: "min=1&max=2") == .read) // STABLE, SETOF
        #expect(try Self.role("GET", "/rpc/add_them", query: "a=1&b=2") == .read)         // IMMUTABLE
    }

    @Test func postGoesToThePrimaryEvenForStableFunctions() throws {
        #expect(try Self.role("POST", "/rpc/noparamsproc") == .primary)
        #expect(try Self.role("POST", "/rpc/add_them", body: #"{"a":1,"b":2}"#) == .primary)
        #expect(try Self.role("POST", "/rpc/writer") == .primary)
    }

    @Test func getOfVolatileFunctionsGoesToThePrimary() throws {
        // Runs READ ONLY there (a writing one answers 405, as in PostgREST), never on a standby.
        #expect(try Self.role("GET", "/rpc/writer") == .primary)
        #expect(try Self.role("GET", "/rpc/ret_void") == .primary)
        #expect(try Self.role("HEAD", "/rpc/many_defaults", query: "a=1") == .primary)
    }

    @Test func withoutReadURIEverythingGoesToThePrimary() throws {
        #expect(try Self.role("GET", "/rpc/noparamsproc", readPool: false) == .primary)
        #expect(try Self.role("GET", "/rpc/add_them", query: "a=1&b=2", readPool: false) == .primary)
        #expect(try Self.role("POST", "/rpc/writer", readPool: false) == .primary)
        for volatility in [Routine.Volatility.immutable, .stable, .volatile] {
            for method in ["GET", "HEAD", "POST"] {
                #expect(PGPoolRole.forCall(method: method, volatility: volatility, hasReadPool: false) == .primary)
            }
        }
    }

    @Test func theRuleAsATable() {
        let read = { (method: String, volatility: Routine.Volatility?) in
            PGPoolRole.forCall(method: method, volatility: volatility, hasReadPool: true)
        }
        #expect(read("GET", .stable) == .read)
        #expect(read("GET", .immutable) == .read)
        #expect(read("HEAD", .stable) == .read)
        #expect(read("GET", .volatile) == .primary)
        #expect(read("POST", .stable) == .primary)
        #expect(read("POST", .immutable) == .primary)
        #expect(read("OPTIONS", .stable) == .primary)
        #expect(read("GET", nil) == .primary)
    }

    @Test func readsFallBackToThePrimaryWhenTheReadPoolHasNoConnection() throws {
        let metrics = GatewayMetrics()
        let router = Self.router(withReadPool: true, metrics: metrics)
        // Neither pool is connected: the read is handed to the primary, whose own error is what the
        // caller gets (503), and the fallback is counted.
        #expect(throws: APIError.self) {
            try router.submit([Statement("SELECT 1")], role: .read, now: 0) { _, _ in }
        }
        do {
            try router.submit([Statement("SELECT 1")], role: .read, now: 0) { _, _ in }
            Issue.record("a read with no pool connected must fail with 503")
        } catch APIError.databaseUnavailable(let message) {
            #expect(message.contains("no connection to the database yet"))
        }
        router.sampleMetrics()
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"gateway_db_read_fallbacks_total{reason="unavailable"} 2"#))
        #expect(text.contains(#"gateway_db_read_fallbacks_total{reason="retried"} 0"#))
        #expect(text.contains(#"gateway_db_pool_size{pool="read"} 2"#))
        #expect(text.contains(#"gateway_db_pool_connections_open{pool="read"} 0"#))
        #expect(text.contains(#"gateway_db_pool_calls_total{pool="primary"} 0"#))
    }

    @Test func primaryCallsNeverCountAsFallbacks() throws {
        let metrics = GatewayMetrics()
        let router = Self.router(withReadPool: true, metrics: metrics)
        #expect(throws: APIError.self) {
            try router.submit([Statement("SELECT 1")], role: .primary, now: 0) { _, _ in }
        }
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"gateway_db_read_fallbacks_total{reason="unavailable"} 0"#))
    }

    @Test func withoutReadPoolOnlyThePrimaryHasSeries() {
        let metrics = GatewayMetrics()
        Self.router(withReadPool: false, metrics: metrics).sampleMetrics()
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"gateway_db_pool_size{pool="primary"} 2"#))
        #expect(!text.contains(#"pool="read""#))
    }

    @Test func failuresOfTheReadPoolThatThePrimaryRetries() {
        #expect(PGPoolRouter.primaryMayAnswer(APIError.databaseUnavailable(message: "server closed the connection")))
        for state in ["08006", "08001", "57P01", "57P02", "57P03", "57P04", "40001", "25006"] {
            #expect(PGPoolRouter.primaryMayAnswer(PGError(sqlState: state, message: "x")), "\(state)")
        }
        // Answers the primary would give too: the caller gets them from the standby.
        for state in ["P0001", "PT404", "23505", "42883", "22P02", "42501"] {
            #expect(!PGPoolRouter.primaryMayAnswer(PGError(sqlState: state, message: "x")), "\(state)")
        }
        #expect(!PGPoolRouter.primaryMayAnswer(APIError.poolTimeout(seconds: 1)))
        #expect(!PGPoolRouter.primaryMayAnswer(APIError.shuttingDown))
    }

    // MARK: Configuration

    @Test func readKeysFromTheEnvironment() throws {
        let config = try GatewayConfig.load(file: nil, environment: [
            "PGRST_DB_URI_READ": "postgresql://authenticator@standby/db", "PGRST_DB_POOL": "7",
        ])
        #expect(config.dbURIRead == "postgresql://authenticator@standby/db")
        #expect(config.dbPoolRead == nil)
        #expect(config.readPoolSize == 7)   // defaults to db-pool
        let sized = try GatewayConfig.load(file: nil, environment: [
            "PGRST_DB_URI_READ": "postgresql://standby/db", "PGRST_DB_POOL_READ": "3",
        ])
        #expect(sized.readPoolSize == 3)
    }

    @Test func noReadURIByDefault() throws {
        let config = try GatewayConfig.load(file: nil, environment: [:])
        #expect(config.dbURIRead == nil)
        #expect(config.readPoolSize == config.dbPool)
        #expect(try GatewayConfig.load(file: nil, environment: ["PGRST_DB_URI_READ": ""]).dbURIRead == nil)
    }

    @Test func readPoolSizeWithoutReadURIIsRefused() {
        #expect(throws: ConfigError(key: "db-pool-read",
                                    reason: "is set but db-uri-read is not (the read pool needs a standby URI)")) {
            try GatewayConfig.load(file: nil, environment: ["PGRST_DB_POOL_READ": "4"])
        }
        #expect(throws: ConfigError.self) {
            try GatewayConfig.load(file: nil, environment: ["PGRST_DB_URI_READ": "postgresql://s/db", "PGRST_DB_POOL_READ": "0"])
        }
    }

    @Test func helpDocumentsTheReadKeys() {
        #expect(GatewayConfig.helpText.contains("db-uri-read"))
        #expect(GatewayConfig.helpText.contains("PGRST_DB_POOL_READ"))
    }
}
