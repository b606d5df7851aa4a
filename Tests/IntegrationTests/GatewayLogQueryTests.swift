import Foundation
import Testing
@testable import GatewayCore

/// `log-query`: the SQL of each request's statements in the gateway's log, written when the request's
/// access line is (at the current log-level: warn logs 4xx and 5xx only), parameters as `$n` and never
/// their values (docs/references/configuration.rst, "log-query"; docs/references/observability.rst,
/// "SQL Query Logs"; src/library/PostgREST/Logger.hs, `QueryObs`; PostgREST 13's values `main-query`
/// and `disabled`, 14's booleans, CHANGELOG.md).
@Suite struct GatewayLogQueryTests {
    static let call = #""test_ops"."add_them"("#

    func queryLines(_ gateway: GatewayProcess, containing text: String) -> [Substring] {
        gateway.log.split(separator: "\n").filter { $0.contains(text) }
    }

    @Test(arguments: ["true", "\"main-query\""])
    func logsTheSQLOfACallButNotItsValues(setting: String) throws {
        let gateway = try OpsFixtures.gateway(["log-query": setting])
        let response = try gateway.send("POST", "/rpc/add_them", body: #"{"a": 40123, "b": 2}"#, headers: [("Content-Type", "application/json")])
        #expect(response.status == 200)
        #expect(OpsFixtures.eventually { !queryLines(gateway, containing: Self.call).isEmpty })
        let line = try #require(queryLines(gateway, containing: Self.call).first)
        #expect(line.contains("$1"))
        #expect(!gateway.log.contains("40123"))
        // The context statement (role, request settings) is logged too, as in PostgREST 14.
        #expect(gateway.log.contains("set_config"))
    }

    @Test func isOffByDefault() throws {
        let gateway = try OpsFixtures.gateway()
        #expect(try gateway.send("GET", "/rpc/add_them?a=1").status == 200)
        #expect(OpsFixtures.eventually { gateway.log.contains("/rpc/add_them") })
        #expect(queryLines(gateway, containing: Self.call).isEmpty)
    }

    @Test func followsTheLogLevelLikeTheAccessLine() throws {
        let gateway = try OpsFixtures.gateway(["log-query": "true", "log-level": "\"warn\""])
        #expect(try gateway.send("GET", "/rpc/add_them?a=1").status == 200)
        #expect(try gateway.send("GET", "/rpc/divide?a=1&b=0").status == 400)
        #expect(OpsFixtures.eventually { !queryLines(gateway, containing: #""test_ops"."divide"("#).isEmpty })
        #expect(queryLines(gateway, containing: Self.call).isEmpty)
    }
}
