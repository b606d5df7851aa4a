import Testing
@testable import GatewayCore

/// Time limits per role and per function: the impersonated role's settings and the called function's hoisted settings
/// travel in the context statement (name, value pairs from $7 on), role first, so that the function's win.
@Suite struct TransactionSettingTests {
    static let catalog = Catalog(
        routines: [
            Fixtures.routine("slow", settings: [TransactionSetting(name: "statement_timeout", value: "30s")]),
            Fixtures.routine("plain"),
        ],
        roleSettings: ["web_anon": [TransactionSetting(name: "lock_timeout", value: "2s"),
                                    TransactionSetting(name: "statement_timeout", value: "5s")]])

    static func context(_ function: String, role: String? = nil) throws -> Statement {
        try CallPlan(request: Fixtures.request("POST", "/rpc/\(function)", body: "{}"), catalog: catalog,
                     config: Fixtures.config, role: role).statements[0]
    }

    @Test func roleSettingsThenFunctionSettings() throws {
        let context = try Self.context("slow")
        #expect(context.parameters.count == 12)
        #expect(Array(context.parameters[6...]) == ["lock_timeout", "2s", "statement_timeout", "5s", "statement_timeout", "30s"])
        // Applied left to right before the role switch (PostgREST's order), names and values bind parameters.
        #expect(context.sql.hasPrefix("SELECT set_config($7, $8, true), set_config($9, $10, true), set_config($11, $12, true), set_config('role', $1, true)"))
    }

    @Test func onlyTheRolesOwnSettings() throws {
        let plain = try Self.context("plain")
        #expect(Array(plain.parameters[6...]) == ["lock_timeout", "2s", "statement_timeout", "5s"])
        let other = try Self.context("plain", role: "operator")
        #expect(other.parameters.count == 6)
        #expect(other.sql.hasPrefix("SELECT set_config('role', $1, true)"))
        #expect(Array(try Self.context("slow", role: "operator").parameters[6...]) == ["statement_timeout", "30s"])
        // The text depends only on how many settings there are: one prepared statement per count.
        #expect(plain.sql == ContextStatement.sql(settings: 2, readOnly: false))
        #expect(ContextStatement.sql(settings: 40, readOnly: true) == ContextStatement.text(settings: 40, readOnly: true))
    }

    @Test func parsesRoleSettingRowsAndFunctionSettings() throws {
        let catalog = try Catalog(
            rows: [["api", "f", "v", "false", "scalar", "integer", nil, "[]", #"[["statement_timeout", "1min"]]"#],
                   ["api", "g", "v", "false", "scalar", "integer", nil, "[]", "[]"],
                   ["api", "h", "v", "false", "scalar", "integer", nil, "[]"]],
            roleSettingRows: [["app_user", "lock_timeout", "2s"], ["app_user", "statement_timeout", "5s"],
                              ["operator", "statement_timeout", "10s"]])
        #expect(catalog.overloads(schema: "api", name: "f").first?.settings == [TransactionSetting(name: "statement_timeout", value: "1min")])
        #expect(catalog.overloads(schema: "api", name: "g").first?.settings == [])
        #expect(catalog.overloads(schema: "api", name: "h").first?.settings == [])
        #expect(catalog.roleSettings["app_user"] == [TransactionSetting(name: "lock_timeout", value: "2s"),
                                                    TransactionSetting(name: "statement_timeout", value: "5s")])
        #expect(catalog.roleSettings["operator"]?.count == 1)
        #expect(throws: CatalogError.self) { try Catalog(rows: [], roleSettingRows: [["app_user", nil, "2s"]]) }
        #expect(throws: CatalogError.self) {
            try Catalog(rows: [["api", "f", "v", "false", "scalar", "integer", nil, "[]", #"[["statement_timeout"]]"#]])
        }
    }

    @Test func hoistsStatementTimeoutNotIsolation() {
        #expect(TransactionSetting.hoisted.contains("statement_timeout"))
        #expect(!TransactionSetting.hoisted.contains("default_transaction_isolation"))
        #expect(Catalog.query(schemas: ["api"]).parameters == [#"{"api"}"#, #"{"statement_timeout","plan_filter.statement_cost_limit"}"#])
    }
}
