import Foundation
// Every file of these tests sees GatewayTesting (GatewayProcess, HTTPClient, TestDatabase) without
// importing it, as when those types lived in this target.
@_exported import GatewayTesting

/// The gateway tests' own fixtures (schema `test_rpc`) and the one gateway the tests that need no
/// gateway of their own share.
extension GatewayProcess {
    /// Applies the `test_rpc` fixtures (idempotent) once per test run.
    private static let fixtures: Result<Void, any Error> = Result {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/rpc_fixtures.sql").path
        try TestDatabase.connect().execute(try String(contentsOfFile: path, encoding: .utf8))
    }

    static func applyFixtures() throws { try fixtures.get() }

    private static let sharedGateway: Result<GatewayProcess, any Error> = Result {
        try applyFixtures()
        let gateway = try GatewayProcess()
        try gateway.waitUntilReady()
        return gateway
    }

    /// One gateway shared by the tests that do not need their own (killed at exit).
    static func shared() throws -> GatewayProcess { try sharedGateway.get() }
}
