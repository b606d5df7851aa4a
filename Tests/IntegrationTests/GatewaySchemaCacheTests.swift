import Foundation
import Testing
@testable import GatewayCore

/// The admin server's `GET /schema_cache`: the schema cache as JSON (src/library/PostgREST/Admin.hs;
/// the `ToJSON SchemaCache` instance of SchemaCache.hs; test/io/test_admin.py,
/// `test_admin_schema_cache`; the shape of `dbRoutines` as in
/// test/io/__snapshots__/test_cli/test_schema_cache_snapshot[dbRoutines].yaml).
@Suite struct GatewaySchemaCacheTests {
    let gateway: GatewayProcess

    init() throws { gateway = try OpsFixtures.gateway() }

    func schemaCache() throws -> [String: Any] {
        let response = try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/schema_cache")
        #expect(response.status == 200)
        return try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    /// The overloads of `schema.name` in `dbRoutines` (an array of [qualified identifier, routines] pairs).
    func routines(_ cache: [String: Any], _ schema: String, _ name: String) throws -> [[String: Any]] {
        let pairs = try #require(cache["dbRoutines"] as? [[Any]])
        let pair = try #require(pairs.first { ($0.first as? [String: String]) == ["qiSchema": schema, "qiName": name] })
        return try #require(pair.last as? [[String: Any]])
    }

    @Test func hasPostgRESTsTopLevelMaps() throws {
        let cache = try schemaCache()
        #expect(Set(cache.keys) == ["dbTables", "dbRelationships", "dbRoutines", "dbRepresentations", "dbMediaHandlers"])
        #expect((cache["dbTables"] as? [Any])?.isEmpty == true)
    }

    @Test func describesAScalarFunction() throws {
        let routine = try #require(try routines(schemaCache(), "test_ops", "add_them").first)
        #expect(routine["pdSchema"] as? String == "test_ops")
        #expect(routine["pdName"] as? String == "add_them")
        #expect(routine["pdDescription"] as? String == "Adds two numbers")
        #expect(routine["pdVolatility"] as? String == "Immutable")
        #expect(routine["pdHasVariadic"] as? Bool == false)
        #expect(routine["pdIsoLvl"] is NSNull)
        #expect((routine["pdFuncSettings"] as? [Any])?.isEmpty == true)
        let params = try #require(routine["pdParams"] as? [[String: Any]])
        #expect(params.map { $0["ppName"] as? String } == ["a", "b"])
        #expect(params.map { $0["ppType"] as? String } == ["integer", "integer"])
        #expect(params.map { $0["ppTypeMaxLength"] as? String } == ["integer", "integer"])
        #expect(params.map { $0["ppReq"] as? Bool } == [true, false])
        #expect(params.map { $0["ppVar"] as? Bool } == [false, false])
        let returnType = try #require(routine["pdReturnType"] as? [String: Any])
        #expect(returnType["tag"] as? String == "Single")
        let scalar = try #require(returnType["contents"] as? [String: Any])
        #expect(scalar["tag"] as? String == "Scalar")
        #expect(scalar["contents"] as? [String: String] == ["qiSchema": "pg_catalog", "qiName": "int4"])
    }

    @Test func describesASetOfCompositeVariadicFunctionWithItsSettings() throws {
        let routine = try #require(try routines(schemaCache(), "test_ops", "pairs").first)
        #expect(routine["pdDescription"] is NSNull)
        #expect(routine["pdVolatility"] as? String == "Stable")
        #expect(routine["pdHasVariadic"] as? Bool == true)
        #expect(routine["pdFuncSettings"] as? [[String]] == [["statement_timeout", "5s"]])
        let params = try #require(routine["pdParams"] as? [[String: Any]])
        #expect(params.first?["ppVar"] as? Bool == true)
        let returnType = try #require(routine["pdReturnType"] as? [String: Any])
        #expect(returnType["tag"] as? String == "SetOf")
        let composite = try #require(returnType["contents"] as? [String: Any])
        #expect(composite["tag"] as? String == "Composite")
        let contents = try #require(composite["contents"] as? [Any])
        #expect(contents.first as? [String: String] == ["qiSchema": "test_ops", "qiName": "pair"])
        #expect(contents.last as? Bool == false)
    }

    @Test func showsOnlyTheExposedSchemas() throws {
        let pairs = try #require(try schemaCache()["dbRoutines"] as? [[Any]])
        let schemas = Set(pairs.compactMap { ($0.first as? [String: String])?["qiSchema"] })
        #expect(schemas == ["test_ops"])
    }
}
