import Foundation
import Testing
@testable import GatewayCore

/// The operations keys (configuration.rst: server-unix-socket, server-unix-socket-mode, log-query,
/// db-config, db-pre-config), the in-database configuration's precedence and what a reload keeps.
@Suite struct OperationsConfigTests {
    @Test func defaults() throws {
        let config = try GatewayConfig.load(file: nil, environment: [:])
        #expect(config.serverUnixSocket == nil)
        #expect(config.serverUnixSocketMode == 0o660)
        #expect(config.logQuery == false)
        #expect(config.dbConfig == true)
        #expect(config.dbPreConfig == nil)
    }

    @Test func readsTheSocketAndItsOctalMode() throws {
        let config = try GatewayConfig.load(file: nil, environment: ["PGRST_SERVER_UNIX_SOCKET": "/tmp/gw.sock",
                                                                     "PGRST_SERVER_UNIX_SOCKET_MODE": "600"])
        #expect(config.serverUnixSocket == "/tmp/gw.sock")
        #expect(config.serverUnixSocketMode == 0o600)
        #expect(try GatewayConfig.load(file: nil, environment: ["PGRST_SERVER_UNIX_SOCKET_MODE": "777"]).serverUnixSocketMode == 0o777)
    }

    @Test(arguments: ["599", "800", "1777", "abc", ""])
    func refusesAModeOutside600To777(mode: String) {
        #expect(throws: ConfigError.self) { try GatewayConfig.load(file: nil, environment: ["PGRST_SERVER_UNIX_SOCKET_MODE": mode]) }
    }

    @Test func logQueryTakesBooleansAndPostgREST13sValues() throws {
        for (text, expected) in [("true", true), ("false", false), ("main-query", true), ("disabled", false), ("1", true), ("TRUE", true)] {
            #expect(try GatewayConfig.load(file: nil, environment: ["PGRST_LOG_QUERY": text]).logQuery == expected)
        }
        #expect(throws: ConfigError.self) { try GatewayConfig.load(file: nil, environment: ["PGRST_LOG_QUERY": "sometimes"]) }
    }

    @Test func dbPreConfigMustBeAFunctionName() throws {
        #expect(try GatewayConfig.load(file: nil, environment: ["PGRST_DB_PRE_CONFIG": "postgrest.pre_config"]).dbPreConfig
                == "postgrest.pre_config")
        #expect(throws: ConfigError.self) { try GatewayConfig.load(file: nil, environment: ["PGRST_DB_PRE_CONFIG": "a.b.c"]) }
        #expect(try GatewayConfig.load(file: nil, environment: ["PGRST_DB_CONFIG": "false"]).dbConfig == false)
    }

    @Test func theDatabaseWinsOverTheEnvironment() throws {
        let config = try GatewayConfig.load(file: nil, environment: ["PGRST_DB_SCHEMAS": "env"],
                                            database: ["db_schemas": "tenant1, tenant2", "jwt_aud": "db-audience"])
        #expect(config.dbSchemas == ["tenant1", "tenant2"])
        #expect(config.jwtAud == "db-audience")
    }

    @Test func anInvalidDatabaseSettingIsNamed() {
        #expect {
            try GatewayConfig.load(file: nil, environment: [:], database: ["openapi_mode": "sideways"])
        } throws: { error in
            (error as? ConfigError)?.description.contains("pgrst.openapi_mode") == true
        }
    }

    @Test func aReloadKeepsWhatCannotChangeWhileRunning() throws {
        var running = GatewayConfig()
        running.dbURI = "postgresql://old"
        running.serverPort = 3001
        running.serverUnixSocket = "/tmp/old.sock"
        running.dbPool = 4
        running.dbTxEnd = "commit"
        running.serverCorsAllowedOrigins = ["https://old.example"]
        var new = GatewayConfig()
        new.dbURI = "postgresql://new"
        new.serverPort = 4001
        new.dbPool = 40
        new.dbSchemas = ["tenant"]
        new.jwtSecret = Array(String(repeating: "s", count: 32).utf8)
        new.logLevel = .info
        new.dbTxEnd = "rollback"
        new.serverCorsAllowedOrigins = ["https://new.example"]
        let next = running.reloaded(new)
        #expect(next.dbURI == "postgresql://old")
        #expect(next.serverPort == 3001)
        #expect(next.serverUnixSocket == "/tmp/old.sock")
        #expect(next.dbPool == 4)
        #expect(next.dbTxEnd == "commit")
        #expect(next.serverCorsAllowedOrigins == ["https://old.example"])
        #expect(next.dbSchemas == ["tenant"])
        #expect(next.jwtSecret == new.jwtSecret)
        #expect(next.logLevel == .info)
        // The first read of the in-database configuration, at start, applies those two as well.
        let first = running.reloaded(new, initial: true)
        #expect(first.dbTxEnd == "rollback")
        #expect(first.serverCorsAllowedOrigins == ["https://new.example"])
        #expect(first.serverPort == 3001)
    }

    @Test func theInDatabaseQueryQuotesThePreConfigFunction() {
        let plain = InDatabaseConfig.statement(preConfig: nil)
        #expect(!plain.sql.contains("UNION"))
        #expect(plain.parameters.first??.contains("pgrst.db_schemas") == true)
        let withFunction = InDatabaseConfig.statement(preConfig: QualifiedName("postgrest.\"pre config\""))
        #expect(withFunction.sql.contains(#"JOIN "postgrest"."pre config"() _ ON TRUE"#))
        #expect(withFunction.parameters == plain.parameters)
    }
}
