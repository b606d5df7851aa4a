import Testing
@testable import GatewayCore

/// Issue 16 item 12: the impersonated role's settings and the called function's hoisted settings
/// travel in the context statement ($7 names, $8 values), role first, so that the function's win.
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
        #expect(context.parameters.count == 8)
        #expect(context.parameters[6] == #"{"lock_timeout","statement_timeout","statement_timeout"}"#)
        #expect(context.parameters[7] == #"{"2s","5s","30s"}"#)
        // Applied in array order before the role switch (PostgREST's order), every value a bind parameter.
        #expect(context.sql.hasPrefix("SELECT (SELECT count(set_config(s.name, s.value, true)) FROM unnest($7::text[], $8::text[])"))
        #expect(context.sql.range(of: "unnest($7")!.lowerBound < context.sql.range(of: "set_config('role'")!.lowerBound)
    }

    @Test func onlyTheRolesOwnSettings() throws {
        let plain = try Self.context("plain")
        #expect(plain.parameters[6] == #"{"lock_timeout","statement_timeout"}"#)
        let other = try Self.context("plain", role: "operator")
        #expect(other.parameters[6] == "{}" && other.parameters[7] == "{}")
        #expect(try Self.context("slow", role: "operator").parameters[7] == #"{"30s"}"#)
        // Same text for every role and function: one prepared statement.
        #expect(plain.sql == other.sql)
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
