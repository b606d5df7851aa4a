import Foundation
import Testing
@testable import GatewayCore

@Suite struct ConfigTests {
    func writeConfig(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "gw-config-\(UUID().uuidString).conf"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaults() throws {
        let config = try GatewayConfig.load(file: nil, environment: [:])
        #expect(config.dbURI == "postgresql://")
        #expect(config.dbSchemas == ["public"])
        #expect(config.dbAnonRole == nil)
        #expect(config.dbPool == 10)
        #expect(config.dbPoolAcquisitionTimeout == 10)
        #expect(config.dbMaxBodyBytes == 1_048_576)
        #expect(config.serverHost == "127.0.0.1")
        #expect(config.serverPort == 3000)
        #expect(config.adminServerPort == nil)
        #expect(config.serverTimeoutSeconds == 10)
        #expect(config.logLevel == .error)
        #expect(config.openAPIMode == "follow-privileges")
        #expect(config.jwtRoleClaimKey == ".role")
    }

    @Test func readsPostgRESTConfigFile() throws {
        let path = try writeConfig("""
        # PostgREST configuration
        db-uri = "postgres://authenticator@localhost:5432/app"
        db-schemas = "api, test_rpc"   # two schemas
        db-anon-role = "web_anon"
        db-pool = 20
        db-pool-acquisition-timeout = 5
        db-pre-request = "api.check_request"
        server-host = "!4"
        server-port = 3001
        admin-server-port = 3002
        log-level = "info"
        openapi-mode = "disabled"
        jwt-secret = "0123456789abcdef0123456789abcdef"
        jwt-aud = "app"
        jwt-role-claim-key = ".realm.role"
        app.settings.greeting = "hi \\"there\\""

        """)
        let config = try GatewayConfig.load(file: path, environment: [:])
        #expect(config.dbURI == "postgres://authenticator@localhost:5432/app")
        #expect(config.dbSchemas == ["api", "test_rpc"])
        #expect(config.defaultSchema == "api")
        #expect(config.dbAnonRole == "web_anon")
        #expect(config.dbPool == 20)
        #expect(config.dbPoolAcquisitionTimeout == 5)
        #expect(config.dbPreRequest == "api.check_request")
        #expect(config.serverHost == "!4")
        #expect(config.bindHost == "0.0.0.0")
        #expect(config.serverPort == 3001)
        #expect(config.adminServerPort == 3002)
        #expect(config.logLevel == .info)
        #expect(config.openAPIMode == "disabled")
        #expect(config.jwtSecret == Array("0123456789abcdef0123456789abcdef".utf8))
        #expect(config.jwtAud == "app")
        #expect(config.jwtRoleClaimKey == ".realm.role")
        #expect(config.appSettings["greeting"] == "hi \"there\"")
    }

    @Test func environmentOverridesFile() throws {
        let path = try writeConfig("db-pool = 20\nserver-port = 3001\n")
        let config = try GatewayConfig.load(file: path, environment: [
            "PGRST_DB_POOL": "7", "PGRST_DB_ANON_ROLE": "anon", "PGRST_DB_SCHEMAS": "api",
            "PGRST_SERVER_TIMEOUT_SECONDS": "3", "PGRST_DB_MAX_BODY_BYTES": "100", "UNRELATED": "x",
            "PGRST_SOMETHING_ELSE": "ignored",
        ])
        #expect(config.dbPool == 7)
        #expect(config.serverPort == 3001)
        #expect(config.dbAnonRole == "anon")
        #expect(config.dbSchemas == ["api"])
        #expect(config.serverTimeoutSeconds == 3)
        #expect(config.dbMaxBodyBytes == 100)
    }

    @Test func appSettingsFromTheEnvironmentWinByLowerCaseName() throws {
        let path = try writeConfig("app.settings.Greeting = \"file\"\napp.settings.kept = 1\n")
        let config = try GatewayConfig.load(file: path, environment: [
            "PGRST_APP_SETTINGS_GREETING": "env", "PGRST_APP_SETTINGS_JWT_SECRET": "s3cret",
        ])
        #expect(config.appSettings == ["greeting": "env", "kept": "1", "jwt_secret": "s3cret"])
        #expect(config.appTransactionSettings == [
            TransactionSetting(name: "app.settings.greeting", value: "env"),
            TransactionSetting(name: "app.settings.jwt_secret", value: "s3cret"),
            TransactionSetting(name: "app.settings.kept", value: "1"),
        ])
    }

    /// PostgREST's `db-max-rows` (alias `max-rows`; configuration.rst): a row count, unset by default.
    @Test func maxRows() throws {
        #expect(try GatewayConfig.load(file: nil, environment: [:]).dbMaxRows == nil)
        #expect(try GatewayConfig.load(file: nil, environment: ["PGRST_DB_MAX_ROWS": "1000"]).dbMaxRows == 1000)
        #expect(try GatewayConfig.load(file: writeConfig("max-rows = 5\n"), environment: [:]).dbMaxRows == 5)
        #expect(try refusal(environment: ["PGRST_DB_MAX_ROWS": "-1"])?.key == "PGRST_DB_MAX_ROWS")
        #expect(try refusal(file: "db-max-rows = \"lots\"\n")?.key == "db-max-rows")
    }

    /// `db-max-timeout` (ours): the cap on `Prefer: timeout`, seconds with decimals, 30 by default.
    @Test func maxTimeout() throws {
        #expect(try GatewayConfig.load(file: nil, environment: [:]).dbMaxTimeout == 30)
        #expect(try GatewayConfig.load(file: nil, environment: ["PGRST_DB_MAX_TIMEOUT": "2.5"]).dbMaxTimeout == 2.5)
        #expect(try GatewayConfig.load(file: writeConfig("db-max-timeout = 5\n"), environment: [:]).dbMaxTimeout == 5)
        for bad in ["0", "-1", "abc", "1e3", "100000"] {
            #expect(try refusal(environment: ["PGRST_DB_MAX_TIMEOUT": bad])?.key == "PGRST_DB_MAX_TIMEOUT", "\(bad)")
        }
        #expect(try refusal(file: "db-max-timeout = true\n")?.key == "db-max-timeout")
    }

    /// Event streams: defaults (15 s keep-alive, 1 MiB per stream, 1000 streams), from file or environment.
    @Test func serverSentEventSettings() throws {
        let defaults = try GatewayConfig.load(file: nil, environment: [:])
        #expect([defaults.serverSSEKeepaliveSeconds, defaults.serverSSEMaxBufferBytes, defaults.serverSSEMaxSubscribers] == [15, 1_048_576, 1_000] as [Int])
        let set = try GatewayConfig.load(file: writeConfig("server-sse-keepalive-seconds = 2\nserver-sse-max-subscribers = 0\n"),
                                         environment: ["PGRST_SERVER_SSE_MAX_BUFFER_BYTES": "65536"])
        #expect([set.serverSSEKeepaliveSeconds, set.serverSSEMaxBufferBytes, set.serverSSEMaxSubscribers] == [2, 65_536, 0] as [Int])
    }

    @Test func appSettingsNamesPostgreSQLWouldRefuseAreRefused() throws {
        #expect(try refusal(file: "app.settings.my-key = 1\n")?.key == "app.settings.my-key")
        #expect(try refusal(environment: ["PGRST_APP_SETTINGS_": "x"])?.key == "PGRST_APP_SETTINGS_")
        #expect(try refusal(environment: ["PGRST_APP_SETTINGS_1ST": "x"])?.key == "PGRST_APP_SETTINGS_1ST")
        #expect(try refusal(file: "app.settings.a.b_2 = 1\n") == nil)
    }

    @Test func environmentNames() {
        #expect(GatewayConfig.environmentName(of: "db-pool-acquisition-timeout") == "PGRST_DB_POOL_ACQUISITION_TIMEOUT")
        #expect(GatewayConfig.environmentName(of: "db-uri") == "PGRST_DB_URI")
    }

    func refusal(file: String? = nil, environment: [String: String] = [:]) throws -> ConfigError? {
        let path = try file.map(writeConfig)
        do {
            _ = try GatewayConfig.load(file: path, environment: environment)
            return nil
        } catch let error as ConfigError {
            return error
        }
    }

    @Test(arguments: [
        ("db-pool = \"many\"", "db-pool"),
        ("db-pool = 0", "db-pool"),
        ("server-port = 70000", "server-port"),
        ("server-port = true", "server-port"),
        ("admin-server-port = \"x\"", "admin-server-port"),
        ("log-level = \"loud\"", "log-level"),
        ("openapi-mode = \"sometimes\"", "openapi-mode"),
        ("jwt-secret = \"short\"", "jwt-secret"),
        ("jwt-secret = \"{\\\"kty\\\":\\\"RSA\\\"}\"", "jwt-secret"),
        ("jwt-secret-is-base64 = \"maybe\"", "jwt-secret-is-base64"),
        ("jwt-secret = \"%%%%\"\njwt-secret-is-base64 = true", "jwt-secret"),
        ("jwt-cache-max-entries = -1", "jwt-cache-max-entries"),
        ("jwt-cache-max-lifetime = \"soon\"", "jwt-cache-max-lifetime"),
        ("db-schemas = \"api,,x\"", "db-schemas"),
        ("jwt-role-claim-key = \"role\"", "jwt-role-claim-key"),
        ("jwt-role-claim-key = \".roles[x]\"", "jwt-role-claim-key"),
        ("db-pool-acquisition-timeout = -1", "db-pool-acquisition-timeout"),
        ("server-timeout-seconds = 0", "server-timeout-seconds"),
        ("db-max-body-bytes = 1.5", "db-max-body-bytes"),
        ("db-uri = \"\"", "db-uri"),
        ("db-pre-request = \"a.b.c\"", "db-pre-request"),
        ("db-tx-end = \"sometimes\"", "db-tx-end"),
        ("db-hoisted-tx-settings = \"statement_timeout; drop\"", "db-hoisted-tx-settings"),
        ("server-port = 3000\nadmin-server-port = 3000", "admin-server-port"),
        ("db-channel = \"other\"", "db-channel"),
        ("unknown-key = 1", "unknown-key"),
        ("db-pool = \"unterminated", "db-pool"),
        ("db-pool = 10 extra", "db-pool"),
        ("server-sse-max-buffer-bytes = 1024", "server-sse-max-buffer-bytes"),
        ("server-sse-keepalive-seconds = 0", "server-sse-keepalive-seconds"),
        ("server-sse-max-subscribers = -1", "server-sse-max-subscribers"),
    ])
    func refusesInvalidFileValuesNamingTheKey(line: String, key: String) throws {
        let error = try #require(try refusal(file: line + "\n"))
        #expect(error.key == key)
        #expect(error.description.contains(key))
    }

    /// PostgREST's four `db-tx-end` values (configuration.rst), from the file or PGRST_DB_TX_END.
    @Test func txEnd() throws {
        let defaults = try GatewayConfig.load(file: nil, environment: [:])
        #expect(defaults.dbTxEnd == "commit" && !defaults.txRollbackAll && !defaults.txAllowOverride)
        let expected = ["commit": (false, false), "commit-allow-override": (false, true),
                        "rollback": (true, false), "rollback-allow-override": (true, true)]
        for (value, (rollbackAll, allowOverride)) in expected {
            let config = try GatewayConfig.load(file: try writeConfig("db-tx-end = \"\(value)\"\n"), environment: [:])
            #expect(config.txRollbackAll == rollbackAll && config.txAllowOverride == allowOverride, "\(value)")
        }
        let fromEnvironment = try GatewayConfig.load(file: nil, environment: ["PGRST_DB_TX_END": "rollback"])
        #expect(fromEnvironment.txRollbackAll)
    }

    /// `db-hoisted-tx-settings` (configuration.rst): PostgREST's default list is accepted as is,
    /// less default_transaction_isolation, which a transaction already begun cannot take.
    @Test func hoistedTxSettings() throws {
        #expect(try GatewayConfig.load(file: nil, environment: [:]).dbHoistedTxSettings
                == ["statement_timeout", "plan_filter.statement_cost_limit"])
        let postgrest = try GatewayConfig.load(file: try writeConfig(
            "db-hoisted-tx-settings = \"statement_timeout, plan_filter.statement_cost_limit, default_transaction_isolation\"\n"),
            environment: [:])
        #expect(postgrest.dbHoistedTxSettings == ["statement_timeout", "plan_filter.statement_cost_limit"])
        let fromEnvironment = try GatewayConfig.load(file: nil, environment: ["PGRST_DB_HOISTED_TX_SETTINGS": "work_mem"])
        #expect(fromEnvironment.dbHoistedTxSettings == ["work_mem"])
        #expect(try GatewayConfig.load(file: try writeConfig("db-hoisted-tx-settings = \"\"\n"), environment: [:])
                    .dbHoistedTxSettings.isEmpty)
    }

    @Test func refusesInvalidEnvironmentValuesNamingTheVariable() throws {
        let error = try #require(try refusal(environment: ["PGRST_DB_POOL": "lots"]))
        #expect(error.key == "PGRST_DB_POOL")
        #expect(error.description.contains("PGRST_DB_POOL"))
        let secret = try #require(try refusal(environment: ["PGRST_JWT_SECRET": "tooshort"]))
        #expect(secret.key == "jwt-secret")
    }

    @Test func refusesLinesWithoutEquals() throws {
        let error = try #require(try refusal(file: "db-pool 10\n"))
        #expect(error.key.hasSuffix(":1"))
    }

    @Test func missingFileIsRefused() throws {
        #expect(throws: ConfigError.self) {
            try GatewayConfig.load(file: "/nonexistent/gateway.conf", environment: [:])
        }
    }

    @Test func valuesFromFiles() throws {
        let secretPath = try writeConfig("abcdefghijklmnopqrstuvwxyz0123456789\n")
        let config = try GatewayConfig.load(file: nil, environment: ["PGRST_JWT_SECRET": "@" + secretPath])
        #expect(config.jwtSecret == Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8))
    }

    /// PostgREST's JWT keys: jwt-secret-is-base64 (coerceBool: any case, or a number), the cache's
    /// size (14: default 1000) and lifetime (12/13), from the file or the environment.
    @Test func jwtSecretFormsAndCacheSettings() throws {
        let defaults = try GatewayConfig.load(file: nil, environment: [:])
        #expect(defaults.jwtSecretIsBase64 == false)
        #expect(defaults.jwtCacheMaxEntries == 1000)
        #expect(defaults.jwtCacheMaxLifetime == nil)
        #expect(try defaults.jwtKeys() == nil)
        let config = try GatewayConfig.load(file: try writeConfig("jwt-secret-is-base64 = true\njwt-cache-max-entries = 5\n"),
                                            environment: ["PGRST_JWT_SECRET": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                                                          "PGRST_JWT_CACHE_MAX_LIFETIME": "3600"])
        #expect(config.jwtSecretIsBase64)
        #expect(config.jwtCacheMaxEntries == 5)
        #expect(config.jwtCacheMaxLifetime == 3600)
        #expect(try config.jwtKeys()?.keys.count == 1)
        for (text, flag) in [("TRUE", true), ("False", false), ("1", true), ("0", false)] {
            #expect(try GatewayConfig.load(file: nil, environment: ["PGRST_JWT_SECRET_IS_BASE64": text]).jwtSecretIsBase64 == flag)
        }
        let jwks = #"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"a"},{"kty":"OKP","crv":"Ed448","x":"AA"}]}"#
        #expect(try GatewayConfig.load(file: nil, environment: ["PGRST_JWT_SECRET": jwks]).jwtKeys()?.keys.count == 1)
    }

    @Test func emptyAnonRoleMeansNone() throws {
        let config = try GatewayConfig.load(file: nil, environment: ["PGRST_DB_ANON_ROLE": ""])
        #expect(config.dbAnonRole == nil)
    }

    @Test func helpDocumentsEveryKey() {
        for key in GatewayConfig.knownKeys {
            #expect(GatewayConfig.helpText.contains(key), "help lacks \(key)")
            #expect(GatewayConfig.helpText.contains(GatewayConfig.environmentName(of: key)), "help lacks env of \(key)")
        }
    }

    @Test func bindHostSpecialValues() {
        var config = GatewayConfig()
        for (host, bind) in [("!4", "0.0.0.0"), ("*", "0.0.0.0"), ("!6", "::"), ("localhost", "localhost")] {
            config.serverHost = host
            #expect(config.bindHost == bind)
        }
    }

    @Test func qualifiedNames() {
        #expect(QualifiedName("api.fn") == QualifiedName(schema: "api", name: "fn"))
        #expect(QualifiedName("fn") == QualifiedName(schema: nil, name: "fn"))
        #expect(QualifiedName("\"My.Schema\".\"Fn\"") == QualifiedName(schema: "My.Schema", name: "Fn"))
        #expect(QualifiedName("a.b.c") == nil)
        #expect(QualifiedName("") == nil)
        #expect(QualifiedName(schema: "a\"b", name: "f").sql == "\"a\"\"b\".\"f\"")
    }
}

/// PostgREST keys accepted at PostgREST's default only (docs/references/configuration.rst).
@Suite struct PostgRESTFixedKeysTests {
    @Test func acceptsDefaultsAndRefusesOtherValuesNamingTheKey() throws {
        var config = GatewayConfig()
        try config.apply(key: "db-channel", value: .string("pgrst"), source: "db-channel")
        try config.apply(key: "db-plan-enabled", value: .bool(false), source: "db-plan-enabled")
        try config.apply(key: "db-pool-max-lifetime", value: .number("1800"), source: "db-pool-max-lifetime")
        try config.apply(key: "openapi-security-active", value: .bool(true), source: "openapi-security-active")
        #expect(throws: ConfigError(key: "PGRST_DB_AGGREGATES_ENABLED",
                                    reason: "only false is supported: the gateway does not offer aggregate functions, got \"true\"")) {
            try config.apply(key: "db-aggregates-enabled", value: .string("true"), source: "PGRST_DB_AGGREGATES_ENABLED")
        }
        #expect(throws: ConfigError.self) { try config.apply(key: "db-channel", value: .string("other"), source: "db-channel") }
        #expect(throws: ConfigError.self) { try config.apply(key: "no-such-key", value: .string("x"), source: "no-such-key") }
        #expect(GatewayConfig.knownKeys.contains("db-root-spec"))
    }
}
