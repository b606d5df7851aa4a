import Testing
@testable import GatewayCore

@Suite struct CatalogRowTests {
    @Test func parsesRows() throws {
        let rows: [[String?]] = [
            ["api", "add_them", "i", "false", "scalar", "integer", "Adds.", #"[["a", "integer", false, false, false], ["b", "integer", true, false, false]]"#],
            ["api", "items", "s", "true", "composite", "api.items", nil, "[]"],
            ["api", "v", "v", "f", "scalar", "text[]", nil, #"[["v", "text[]", true, true, true]]"#],
            ["api", "j", "v", "t", "void", "void", nil, #"[["", "jsonb", false, false, false]]"#],
        ]
        let catalog = try Catalog(rows: rows)
        let add = try #require(catalog.overloads(schema: "api", name: "add_them").first)
        #expect(add.volatility == .immutable)
        #expect(add.returnShape == .scalar && !add.returnsSet)
        #expect(add.comment == "Adds.")
        #expect(add.parameters == [RoutineParameter(name: "a", type: "integer"), RoutineParameter(name: "b", type: "integer", hasDefault: true)])
        #expect(add.requiredParameterNames == ["a"])
        let items = try #require(catalog.overloads(schema: "api", name: "items").first)
        #expect(items.returnShape == .composite && items.returnsSet && items.volatility == .stable)
        let variadic = try #require(catalog.overloads(schema: "api", name: "v").first)
        #expect(variadic.parameters[0].isVariadic && variadic.parameters[0].isArray && variadic.parameters[0].hasDefault)
        let json = try #require(catalog.overloads(schema: "api", name: "j").first)
        #expect(json.takesSingleUnnamedJSON)
        #expect(catalog.routines.count == 4)
        #expect(catalog.overloads(schema: "other", name: "add_them").isEmpty)
    }

    @Test(arguments: [
        ["api"] as [String?],
        ["api", "f", "x", "false", "scalar", "t", nil, "[]"],
        ["api", "f", "v", "false", "weird", "t", nil, "[]"],
        ["api", "f", "v", "false", "scalar", "t", nil, "{"],
        ["api", "f", "v", "false", "scalar", "t", nil, #"[["a", 1, false, false, false]]"#],
        [nil, "f", "v", "false", "scalar", "t", nil, "[]"],
    ])
    func refusesMalformedRows(row: [String?]) {
        #expect(throws: CatalogError.self) { try Catalog(rows: [row]) }
    }

    @Test func queryStatement() {
        let statement = Catalog.query(schemas: ["api", "test \"x\""])
        #expect(statement.parameters == [#"{"api","test \"x\""}"#, #"{"statement_timeout","plan_filter.statement_cost_limit"}"#])
        #expect(statement.sql.contains("pg_proc"))
        #expect(statement.sql.contains("$1::text[]"))
    }

    @Test func emptyCatalog() throws {
        let catalog = Catalog()
        #expect(catalog.routines.isEmpty)
        #expect(throws: APIError.self) {
            try CallPlan(request: Fixtures.request("GET", "/rpc/x"), catalog: catalog, config: Fixtures.config)
        }
    }
}
