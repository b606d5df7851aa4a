import Testing
@testable import GatewayCore

@Suite struct StatementTests {
    @Test func contextStatementCarriesRequestSettings() throws {
        let plan = try Fixtures.plan("POST", "/rpc/ret_void", body: "{}", headers: [
            "content-type": "application/json", "x-custom": "a \"quoted\" value\\", "cookie": "session=abc; theme=\"dark\"; empty=",
        ])
        let context = plan.statements[0]
        #expect(context.sql == ContextStatement.sql(settings: 0, readOnly: false))
        #expect(!context.sql.contains("transaction_read_only"))
        #expect(context.parameters[0] == "web_anon")
        #expect(context.parameters[1] == "POST")
        #expect(context.parameters[2] == "/rpc/ret_void")
        let headers = try #require(JSONValue(parsing: context.parameters[3]!))
        #expect(headers["content-type"] == .string("application/json"))
        #expect(headers["x-custom"] == .string("a \"quoted\" value\\"))
        #expect(headers["cookie"] == nil)
        guard case .object(let members) = headers else { Issue.record("not an object"); return }
        #expect(members.count == 2)
        #expect(JSONValue(parsing: context.parameters[4]!) == .object([
            ("session", .string("abc")), ("theme", .string("dark")), ("empty", .string("")),
        ]))
        #expect(JSONValue(parsing: context.parameters[5]!) == .object([("role", .string("web_anon"))]))
        #expect(!plan.readOnly)
    }

    @Test func readOnlyForGetHeadAndNonVolatile() throws {
        #expect(try Fixtures.plan("GET", "/rpc/ret_void").readOnly)
        #expect(try Fixtures.plan("HEAD", "/rpc/ret_void").readOnly)
        #expect(try Fixtures.plan("HEAD", "/rpc/ret_void").isHead)
        #expect(!(try Fixtures.plan("POST", "/rpc/ret_void").readOnly))
        let stablePost = try Fixtures.plan("POST", "/rpc/noparamsproc")
        #expect(stablePost.readOnly)
        #expect(stablePost.statements[0].sql == ContextStatement.sql(settings: 0, readOnly: true))
        #expect(stablePost.statements[0].sql.hasSuffix("set_config('transaction_read_only', 'on', true)"))
    }

    @Test func explicitRoleWins() throws {
        let plan = try CallPlan(request: Fixtures.request("GET", "/rpc/noparamsproc"), catalog: Fixtures.catalog,
                                config: Fixtures.config, role: "admin")
        #expect(plan.statements[0].parameters[0] == "admin")
    }

    @Test func preRequestStatement() throws {
        var config = Fixtures.config
        config.dbPreRequest = "test.check_request"
        let plan = try Fixtures.plan("GET", "/rpc/noparamsproc", config: config)
        #expect(plan.statements.count == 3)
        #expect(plan.statements[1] == Statement(#"SELECT "test"."check_request"()"#))
        config.dbPreRequest = "unqualified"
        #expect(try Fixtures.plan("GET", "/rpc/noparamsproc", config: config).statements[1].sql == #"SELECT "unqualified"()"#)
    }

    @Test func sameShapeSameTextValuesOnlyAsParameters() throws {
        let first = try Fixtures.plan("POST", "/rpc/add_them", body: #"{"a": 1, "b": 2}"#).statements.last!
        let second = try Fixtures.plan("POST", "/rpc/add_them", body: #"{"b": 99, "a": "'; DROP TABLE x; --"}"#).statements.last!
        let third = try Fixtures.plan("GET", "/rpc/add_them", query: "a=5&b=6").statements.last!
        #expect(first.sql == second.sql)
        #expect(first.sql == third.sql)
        #expect(second.parameters == ["'; DROP TABLE x; --", "99"])
        #expect(!second.sql.contains("DROP"))
        let fewer = try Fixtures.plan("POST", "/rpc/many_defaults", body: #"{"a": 1}"#).statements.last!
        let more = try Fixtures.plan("POST", "/rpc/many_defaults", body: #"{"a": 1, "b": "x"}"#).statements.last!
        #expect(fewer.sql != more.sql)
    }

    /// A `"` joined with a combining mark is one Character: the quote is still doubled (a search by
    /// characters missed it, leaving the identifier's quoting unbalanced).
    @Test func quotingDoublesEveryQuoteByte() {
        #expect(quoteIdentifier("a\"b") == "\"a\"\"b\"")
        #expect(quoteIdentifier("x\"\u{301} y") == "\"x\"\"\u{301} y\"")
    }

    @Test func sqlShapes() {
        func sql(_ routine: Routine, given: [Bool]? = nil, wholeBody: Bool = false) -> String {
            CallSQL.text(for: routine, given: given ?? routine.parameters.map { _ in true }, wholeBody: wholeBody)
        }
        // The call is the CTE pgrst_source; the page is shaped from it as pgrst_rows (select, filters, order and the page in one statement).
        let settings = ", nullif(current_setting('response.status', true), ''), nullif(current_setting('response.headers', true), ''), "
        func expected(_ source: String, _ body: String, page: String, alias: String) -> String {
            "WITH pgrst_source AS (" + source + ") SELECT " + body + settings + page + "::text, NULL FROM (SELECT \"" + alias
                + "\".* FROM pgrst_source AS \"" + alias + "\") pgrst_rows"
        }
        let scalar = Fixtures.routine("add_them", [Fixtures.parameter("a", "integer"), Fixtures.parameter("b", "integer")])
        #expect(sql(scalar) == expected(#"SELECT pgrst_call.pgrst_scalar FROM "test"."add_them"("a" := $1::integer, "b" := $2::integer) pgrst_call(pgrst_scalar)"#,
                                        "coalesce((json_agg(pgrst_rows.pgrst_scalar) -> 0)::text, 'null')", page: "1", alias: "add_them"))
        let setOfScalars = Fixtures.routine("ints", set: true)
        #expect(sql(setOfScalars) == expected(#"SELECT pgrst_call.pgrst_scalar FROM "test"."ints"() pgrst_call(pgrst_scalar)"#,
                                              "coalesce(json_agg(pgrst_rows.pgrst_scalar), '[]')::text", page: "count(*)", alias: "ints"))
        let void = Fixtures.routine("ret_void", shape: .void)
        #expect(sql(void) == expected(#"SELECT pgrst_call.pgrst_scalar FROM "test"."ret_void"() pgrst_call(pgrst_scalar)"#, "NULL::text", page: "count(*)", alias: "ret_void"))
        let composite = Fixtures.routine("point", shape: .composite)
        #expect(sql(composite) == expected(#"SELECT * FROM "test"."point"()"#, "coalesce((json_agg(pgrst_rows) -> 0)::text, 'null')",
                                           page: "1", alias: "point"))
        let table = Fixtures.routine("rows", [Fixtures.parameter("n", "integer", default: true)], shape: .composite, set: true)
        #expect(sql(table, given: [false]) == expected(#"SELECT * FROM "test"."rows"()"#, "coalesce(json_agg(pgrst_rows), '[]')::text",
                                                       page: "count(*)", alias: "rows"))
        let variadic = Fixtures.routine("v", [Fixtures.parameter("x", "integer"), Fixtures.parameter("rest", "text[]", variadic: true)])
        #expect(sql(variadic).contains(#""test"."v"("x" := $1::integer, VARIADIC "rest" := $2::text[])"#))
        let skipped = Fixtures.routine("d", [Fixtures.parameter("a", "integer", default: true), Fixtures.parameter("b", "integer", default: true)])
        #expect(sql(skipped, given: [false, true]).contains(#""test"."d"("b" := $1::integer)"#))
        let json = Fixtures.routine("j", [Fixtures.parameter("", "jsonb")])
        #expect(sql(json, wholeBody: true).contains(#""test"."j"($1::jsonb)"#))
    }

    @Test func identifiersAreQuoted() {
        let routine = Routine(schema: "my \"schema\"", name: "fn\"; DROP", parameters: [RoutineParameter(name: "a\"b", type: "integer")],
                              returnShape: .scalar, returnsSet: false, returnType: "integer", volatility: .volatile)
        let text = CallSQL.text(for: routine, given: [true], wholeBody: false)
        #expect(text.contains(#""my ""schema"""."fn""; DROP"("a""b" := $1::integer)"#))
    }

    @Test func cacheReturnsSameText() {
        let cache = CallSQLCache()
        let routine = Fixtures.routines[1]
        let first = cache.text(for: routine, given: [true, true], wholeBody: false)
        let second = cache.text(for: routine, given: [true, true], wholeBody: false)
        #expect(first == second)
        #expect(first == CallSQL.text(for: routine, given: [true, true], wholeBody: false))
    }

    /// The caches of client-chosen shapes are bounded by bytes, not only by count: the SQL text cache,
    /// and what a connection prepares (a large one-off shape runs unprepared).
    @Test func shapeCachesAreBoundedByBytes() {
        let cache = CallSQLCache()
        let routine = Fixtures.routines[1]
        _ = cache.text(for: routine, given: [true, true], wholeBody: false)
        _ = cache.text(for: routine, given: [true, true], wholeBody: false)
        #expect(cache.stored.count == 1)
        #expect(cache.stored.bytes == CallSQL.text(for: routine, given: [true, true], wholeBody: false).utf8.count)
        #expect(PGPipeline.mayPrepare(500, count: 0, bytes: 0))
        #expect(!PGPipeline.mayPrepare(PGPipeline.maxPreparedStatementBytes + 1, count: 0, bytes: 0))
        #expect(!PGPipeline.mayPrepare(500, count: 0, bytes: PGPipeline.maxPreparedBytes - 499))
        #expect(!PGPipeline.mayPrepare(500, count: 2_000, bytes: 0))
    }

    @Test func cookieParsing() {
        #expect(ContextStatement.parseCookies("a=1; b = 2;c=\"x y\"; a=3; =bad; flag").map { "\($0.0)=\($0.1 ?? "nil")" }
            == ["b=2", "c=x y", "a=3", "flag="])
    }
}
