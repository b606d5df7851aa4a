import Foundation
import Testing
@testable import GatewayCore

/// Configuration reload without a restart: SIGUSR2 and `NOTIFY pgrst, 'reload config'` read the config
/// file, the environment and (db-config, the default) the in-database configuration again; settings
/// marked "Reloadable N" keep their values; a failed reload keeps the old configuration and says so
/// (docs/references/configuration.rst, "Configuration Reloading", "In-Database Configuration",
/// "db-config", "db-pre-config"; src/library/PostgREST/Config/Database.hs, `queryDbSettings`;
/// src/library/PostgREST/Logger.hs, "Config reloaded", "Failed reloading config: ";
/// test/io/test_io.py, the `reload config` tests).
@Suite struct GatewayConfigReloadTests {
    static let otherSecret = "another-ops-secret-that-is-at-least-32-characters"

    func reload(_ gateway: GatewayProcess) { kill(gateway.process.processIdentifier, SIGUSR2) }

    @Test func sigusr2AppliesTheEditedFile() throws {
        let gateway = try OpsFixtures.gateway(["jwt-secret": "\"\(OpsFixtures.secret)\""])
        #expect(try gateway.send("GET", "/rpc/only_in_second").status == 404)
        #expect(try gateway.send("GET", "/rpc/add_them?a=1", headers: [OpsFixtures.token(secret: OpsFixtures.secret)]).status == 200)
        // server-port is not reloadable: the gateway stays where it is.
        try OpsFixtures.edit(gateway, ["db-schemas": "\"test_ops, test_ops2\"", "jwt-secret": "\"\(Self.otherSecret)\"",
                                       "server-port": "\(GatewayProcess.freePort())"])
        reload(gateway)
        #expect(OpsFixtures.eventually {
            try gateway.send("GET", "/rpc/only_in_second", headers: [("Accept-Profile", "test_ops2")]).text == #""second""#
        })
        #expect(try gateway.send("GET", "/rpc/add_them?a=1", headers: [OpsFixtures.token(secret: OpsFixtures.secret)]).status == 401)
        #expect(try gateway.send("GET", "/rpc/add_them?a=1", headers: [OpsFixtures.token(secret: Self.otherSecret)]).status == 200)
        #expect(gateway.log.contains("Config reloaded"))
    }

    @Test func aBadFileKeepsTheRunningConfigurationAndSaysWhy() throws {
        let gateway = try OpsFixtures.gateway()
        try OpsFixtures.edit(gateway, ["db-schemas": "\"test_ops2\"", "db-pool": "\"many\""])
        reload(gateway)
        #expect(OpsFixtures.eventually { gateway.log.contains("Failed reloading config: ") })
        #expect(gateway.log.contains("db-pool"))
        #expect(try gateway.send("GET", "/rpc/add_them?a=1").status == 200)
        #expect(try gateway.send("GET", "/rpc/only_in_second").status == 404)
    }

    @Test func aRequestInFlightFinishesWithTheOldConfiguration() throws {
        let gateway = try OpsFixtures.gateway()
        let slow = Thread.detachNewThreadAndWait { try gateway.send("GET", "/rpc/slow?seconds=1.5") }
        Thread.sleep(forTimeInterval: 0.3)
        try OpsFixtures.edit(gateway, ["db-schemas": "\"test_ops2\""])
        reload(gateway)
        #expect(OpsFixtures.eventually { try gateway.send("GET", "/rpc/only_in_second").status == 200 })
        let answer = try slow()
        #expect(answer.status == 200)
        #expect(answer.text == #""slept""#)
        #expect(try gateway.send("GET", "/rpc/slow?seconds=0").status == 404)
    }

    /// The in-database configuration of the gateway's own login role (not the shared authenticator):
    /// `db-pre-config` at start, then `ALTER ROLE ... SET pgrst.db_schemas` (which wins over the
    /// function) and `NOTIFY pgrst, 'reload config'`.
    @Test func notifyReloadConfigReadsTheLoginRolesSettings() throws {
        try OpsFixtures.apply()
        let role = "ops_reload_login_p17"
        let database = try TestDatabase.connect()
        _ = try database.execute("""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\(role)') THEN CREATE ROLE \(role) LOGIN NOINHERIT; END IF;
            END $$;
            ALTER ROLE \(role) RESET ALL;
            GRANT web_anon TO \(role);
            GRANT USAGE ON SCHEMA test_ops TO \(role);
            GRANT EXECUTE ON FUNCTION test_ops.pre_config() TO \(role);
            """)
        var gateway: GatewayProcess?
        defer {
            gateway?.stop()
            _ = try? database.execute("ALTER ROLE \(role) RESET ALL; DROP OWNED BY \(role); DROP ROLE \(role)")
        }
        let uri = TestDatabase.uri().replacingOccurrences(of: "://postgres@", with: "://\(role)@")
        gateway = try OpsFixtures.gateway(["db-uri": "\"\(uri)\"", "db-pre-config": "\"test_ops.pre_config\""])
        let running = try #require(gateway)
        #expect(try running.send("GET", "/rpc/only_in_second").status == 200)
        #expect(try running.send("GET", "/rpc/add_them?a=1").status == 404)

        _ = try database.execute("ALTER ROLE \(role) SET pgrst.db_schemas = 'test_ops'; NOTIFY pgrst, 'reload config'")
        #expect(OpsFixtures.eventually { try running.send("GET", "/rpc/add_them?a=1").status == 200 })
        #expect(try running.send("GET", "/rpc/only_in_second").status == 404)
    }

    @Test func dbConfigFalseIgnoresTheInDatabaseConfiguration() throws {
        let gateway = try OpsFixtures.gateway(["db-config": "false", "db-pre-config": "\"test_ops.pre_config\""])
        #expect(try gateway.send("GET", "/rpc/add_them?a=1").status == 200)
        #expect(try gateway.send("GET", "/rpc/only_in_second").status == 404)
    }
}

extension Thread {
    /// Runs `body` on a new thread; the returned function waits for its result.
    static func detachNewThreadAndWait<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> () throws -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<T, any Error>?
        Thread.detachNewThread {
            result = Result { try body() }
            done.signal()
        }
        return {
            done.wait()
            return try result!.get()
        }
    }
}
