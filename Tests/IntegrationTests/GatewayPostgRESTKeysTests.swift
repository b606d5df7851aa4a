import Foundation
import Testing
@testable import GatewayCore

/// A PostgREST config file with its common keys at their defaults starts the gateway
/// (PostgREST docs/references/configuration.rst: db-channel, db-channel-enabled, db-extra-search-path,
/// db-prepared-statements, db-pool-max-idletime, db-pool-max-lifetime, db-pool-automatic-recovery,
/// db-aggregates-enabled, db-plan-enabled, openapi-security-active, server-timing-enabled).
@Suite(.serialized) struct GatewayPostgRESTKeysTests {
    @Test func startsWithAPostgRESTConfigAtItsDefaults() throws {
        try GatewayProcess.applyFixtures()
        let gateway = try GatewayProcess(settings: [
            "db-channel": "\"pgrst\"", "db-channel-enabled": "true", "db-extra-search-path": "\"public\"",
            "db-prepared-statements": "true", "db-pool-max-idletime": "30", "db-pool-max-lifetime": "1800",
            "db-pool-automatic-recovery": "true", "db-aggregates-enabled": "false", "db-plan-enabled": "false",
            "openapi-security-active": "false", "server-timing-enabled": "true", "admin-server-host": "\"127.0.0.1\"",
        ])
        try gateway.waitUntilReady()
        let response = try gateway.send("GET", "/")
        #expect(response.status == 200)
    }

    /// `server-timing-enabled = false` (PostgREST's default) leaves `Server-Timing` out; ours is true.
    @Test func serverTimingCanBeTurnedOff() throws {
        try GatewayProcess.applyFixtures()
        let quiet = try GatewayProcess(settings: ["server-timing-enabled": "false"])
        try quiet.waitUntilReady()
        func call(_ gateway: GatewayProcess) throws -> HTTPClient.Response {
            try gateway.send("POST", "/rpc/add_them", body: #"{"a":1,"b":2}"#)
        }
        let answered = try call(quiet)
        #expect(answered.status == 200, "\(answered.text)")
        #expect(answered.header("Server-Timing") == nil)
        let usual = try GatewayProcess(settings: [:])
        try usual.waitUntilReady()
        #expect(try call(usual).header("Server-Timing") != nil)
    }

    /// `admin-server-host` binds the admin server there (waitUntilReady reaches it on 127.0.0.1; an
    /// address this machine does not have refuses the start).
    @Test func adminServerHostIsWhereTheAdminServerListens() throws {
        try GatewayProcess.applyFixtures()
        let local = try GatewayProcess(settings: ["admin-server-host": "\"127.0.0.1\"", "server-host": "\"127.0.0.1\""])
        try local.waitUntilReady()
        #expect(try HTTPClient.send(port: local.adminPort, method: "GET", path: "/live").status == 200)
        let elsewhere = try GatewayProcess(settings: ["admin-server-host": "\"192.0.2.1\""])
        #expect(throws: (any Error).self) { try elsewhere.waitUntilReady(timeout: 3) }
    }
}
