import Foundation
import Testing
@testable import GatewayCore

/// The admin `/schema_cache` body: PostgREST's `ToJSON SchemaCache` (SchemaCache.hs) with Aeson's
/// generic encoding of `Routine` (SchemaCache/Routine.hs).
@Suite struct SchemaCacheJSONTests {
    @Test func encodesRoutinesAsPostgRESTDoes() throws {
        let routine = Routine(schema: "api", name: "f", parameters: [RoutineParameter(name: "x", type: "text", hasDefault: true)],
                              returnShape: .scalar, returnsSet: false, returnType: "text", volatility: .stable,
                              comment: "doc", settings: [TransactionSetting(name: "statement_timeout", value: "1s")],
                              declaredReturnType: .init(schema: "pg_catalog", name: "text", isComposite: false, isDomainAlias: false))
        let json = Catalog(routines: [routine]).schemaCacheJSON
        #expect(json == #"{"dbTables":[],"dbRelationships":[],"dbRoutines":[[{"qiName":"f","qiSchema":"api"},[{"#
            + #""pdDescription":"doc","pdFuncSettings":[["statement_timeout","1s"]],"pdHasVariadic":false,"pdIsoLvl":null,"#
            + #""pdName":"f","pdParams":[{"ppName":"x","ppReq":false,"ppType":"text","ppTypeMaxLength":"text","ppVar":false}],"#
            + #""pdReturnType":{"contents":{"contents":{"qiName":"text","qiSchema":"pg_catalog"},"tag":"Scalar"},"tag":"Single"},"#
            + #""pdSchema":"api","pdVolatility":"Stable"}]]],"dbRepresentations":[],"dbMediaHandlers":[]}"#)
    }

    @Test func ordersOverloadsByTheirNumberOfParameters() throws {
        func overload(_ count: Int) -> Routine {
            Routine(schema: "api", name: "g", parameters: (0..<count).map { RoutineParameter(name: "p\($0)", type: "integer") },
                    returnShape: .composite, returnsSet: true, returnType: "api.t", volatility: .volatile,
                    declaredReturnType: .init(schema: "api", name: "t", isComposite: true, isDomainAlias: false))
        }
        let json = try #require(JSONValue(parsing: Catalog(routines: [overload(2), overload(0)]).schemaCacheJSON))
        guard case .array(let pairs)? = json["dbRoutines"], case .array(let entry)? = pairs.first,
              case .array(let overloads)? = entry.last else { Issue.record("no routines"); return }
        #expect(overloads.map { o -> Int in if case .array(let p)? = o["pdParams"] { return p.count }; return -1 } == [0, 2])
        #expect(overloads.first?["pdReturnType"]?["tag"]?.stringValue == "SetOf")
        #expect(overloads.first?["pdReturnType"]?["contents"]?["tag"]?.stringValue == "Composite")
    }
}
