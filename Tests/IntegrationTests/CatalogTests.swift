import Foundation
import Testing
@testable import GatewayCore

/// The schema cache query and the generated call SQL against the real PostgreSQL, without HTTP:
/// each test creates and drops its own schema `test_catalog`, reads the catalog, plans calls
/// and runs the statements the way the pool does (one transaction), then shapes the response.
@Suite(.serialized) struct CatalogTests {
    static let fixtures = """
    DROP SCHEMA IF EXISTS test_catalog CASCADE;
    CREATE SCHEMA test_catalog;
    GRANT USAGE ON SCHEMA test_catalog TO web_anon;
    CREATE TABLE test_catalog.items (id int PRIMARY KEY);
    INSERT INTO test_catalog.items SELECT generate_series(1, 5);
    GRANT SELECT, INSERT ON test_catalog.items TO web_anon;
    CREATE TYPE test_catalog.point2d AS (x int, y int);
    CREATE TYPE test_catalog."My Enum" AS ENUM ('a', 'b');
    CREATE FUNCTION test_catalog.add_them(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
    COMMENT ON FUNCTION test_catalog.add_them(int, int) IS 'Adds two numbers.';
    CREATE FUNCTION test_catalog.sayhello(name text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'Hello, ' || name$$;
    CREATE FUNCTION test_catalog.ret_void() RETURNS void LANGUAGE sql STABLE AS 'SELECT';
    CREATE FUNCTION test_catalog.getitemrange(min bigint, max bigint) RETURNS SETOF test_catalog.items
      LANGUAGE sql STABLE AS 'SELECT * FROM test_catalog.items WHERE id > min AND id <= max';
    CREATE FUNCTION test_catalog.ret_point() RETURNS test_catalog.point2d LANGUAGE sql AS 'SELECT ROW(10, 5)::test_catalog.point2d';
    CREATE FUNCTION test_catalog.single_out_param(num int, OUT num_plus_one int) LANGUAGE sql AS 'SELECT num + 1';
    CREATE FUNCTION test_catalog.returns_record() RETURNS record LANGUAGE sql AS 'SELECT * FROM test_catalog.items LIMIT 1';
    CREATE FUNCTION test_catalog.variadic_param(VARIADIC v text[] DEFAULT '{}') RETURNS text[] LANGUAGE sql IMMUTABLE AS 'SELECT v';
    CREATE FUNCTION test_catalog.tab(n int DEFAULT 2) RETURNS TABLE (a int, b text)
      LANGUAGE sql AS 'SELECT g, g::text FROM generate_series(1, n) g';
    CREATE FUNCTION test_catalog.ret_setof_integers() RETURNS SETOF int LANGUAGE sql AS 'SELECT generate_series(1, 3)';
    CREATE FUNCTION test_catalog.json_arg(json) RETURNS json LANGUAGE sql AS 'SELECT $1';
    CREATE FUNCTION test_catalog.chars(b bit, c character, d character(3)[]) RETURNS text LANGUAGE sql AS 'SELECT b::text || c || d::text';
    CREATE FUNCTION test_catalog.enum_arr(e test_catalog."My Enum"[], f test_catalog."My Enum" DEFAULT 'a') RETURNS text
      LANGUAGE sql AS 'SELECT e::text || f';
    CREATE FUNCTION test_catalog.writer(id int) RETURNS void LANGUAGE sql AS 'INSERT INTO test_catalog.items VALUES (id)';
    CREATE FUNCTION test_catalog.set_status() RETURNS int LANGUAGE plpgsql STABLE AS $$
      BEGIN
        PERFORM set_config('response.status', '201', true);
        PERFORM set_config('response.headers', '[{"Location": "/x"}]', true);
        RETURN 1;
      END $$;
    CREATE FUNCTION test_catalog.whoami() RETURNS json LANGUAGE sql STABLE AS $$
      SELECT json_build_object('role', current_user, 'method', current_setting('request.method'),
        'path', current_setting('request.path'), 'agent', current_setting('request.headers')::json->>'user-agent',
        'cookie', current_setting('request.cookies')::json->>'c', 'claims', current_setting('request.jwt.claims')::json)$$;
    CREATE FUNCTION test_catalog.problem() RETURNS void LANGUAGE plpgsql AS $$
      BEGIN RAISE SQLSTATE 'PT402' USING MESSAGE = 'Payment Required', DETAIL = 'Quota exceeded', HINT = 'Upgrade'; END $$;
    CREATE FUNCTION test_catalog.secret() RETURNS int LANGUAGE sql AS 'SELECT 42';
    CREATE FUNCTION test_catalog.overloaded(a int) RETURNS text LANGUAGE sql AS $$SELECT 'int'$$;
    CREATE FUNCTION test_catalog.overloaded(a int, b int) RETURNS text LANGUAGE sql AS $$SELECT 'two'$$;
    CREATE PROCEDURE test_catalog.not_a_function() LANGUAGE sql AS 'SELECT 1';
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test_catalog TO web_anon;
    REVOKE EXECUTE ON FUNCTION test_catalog.secret() FROM web_anon, PUBLIC;
    """

    let connection: PGConnection
    let catalog: Catalog
    let config: GatewayConfig

    init() throws {
        connection = try TestDatabase.connect()
        try connection.execute(Self.fixtures)
        let query = Catalog.query(schemas: ["test_catalog"])
        catalog = try Catalog(rows: connection.query(query.sql, query.parameters))
        var config = GatewayConfig()
        config.dbSchemas = ["test_catalog"]
        config.dbAnonRole = "web_anon"
        self.config = config
    }

    func dropSchema() throws {
        try connection.execute("DROP SCHEMA IF EXISTS test_catalog CASCADE")
    }

    /// Plans and runs a request in one transaction, like the pipelined pool; errors become HTTP.
    func call(_ method: String, _ function: String, query: String = "", body: String = "",
              headers: [String: String] = [:]) -> HTTPResponse {
        let request = HTTPRequest(method: method, path: "/rpc/\(function)", query: query, headers: headers, body: Array(body.utf8))
        do {
            // All rows at once, so the one-row form (the streamed one is GatewayStreamingTests').
            let plan = try CallPlan(request: request, catalog: catalog, config: config, streaming: false)
            if plan.statements.isEmpty { return try HTTPResponse(plan: plan, rows: []) }
            try connection.execute("BEGIN")
            do {
                var rows: [[String?]] = []
                for statement in plan.statements { rows = try connection.query(statement.sql, statement.parameters) }
                try connection.execute("COMMIT")
                return try HTTPResponse(plan: plan, rows: rows)
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        } catch {
            return HTTPResponse(error: error, authenticated: false)
        }
    }

    @Test func readsFunctionsFromPgCatalog() throws {
        defer { try? dropSchema() }
        let add = try #require(catalog.overloads(schema: "test_catalog", name: "add_them").first)
        #expect(add.parameters == [RoutineParameter(name: "a", type: "integer"), RoutineParameter(name: "b", type: "integer")])
        #expect(add.volatility == .immutable && add.returnShape == .scalar && !add.returnsSet)
        #expect(add.comment == "Adds two numbers.")
        let range = try #require(catalog.overloads(schema: "test_catalog", name: "getitemrange").first)
        #expect(range.returnShape == .composite && range.returnsSet && range.volatility == .stable)
        #expect(catalog.overloads(schema: "test_catalog", name: "ret_void").first?.returnShape == .void)
        #expect(catalog.overloads(schema: "test_catalog", name: "ret_point").first?.returnShape == .composite)
        #expect(catalog.overloads(schema: "test_catalog", name: "single_out_param").first?.returnShape == .composite)
        #expect(catalog.overloads(schema: "test_catalog", name: "single_out_param").first?.parameters.map(\.name) == ["num"])
        #expect(catalog.overloads(schema: "test_catalog", name: "returns_record").first?.returnShape == .scalar)
        let table = try #require(catalog.overloads(schema: "test_catalog", name: "tab").first)
        #expect(table.returnShape == .composite && table.returnsSet)
        #expect(table.parameters == [RoutineParameter(name: "n", type: "integer", hasDefault: true)])
        let variadic = try #require(catalog.overloads(schema: "test_catalog", name: "variadic_param").first?.parameters.first)
        #expect(variadic == RoutineParameter(name: "v", type: "text[]", hasDefault: true, isVariadic: true, isArray: true))
        #expect(catalog.overloads(schema: "test_catalog", name: "json_arg").first?.takesSingleUnnamedJSON == true)
        let chars = try #require(catalog.overloads(schema: "test_catalog", name: "chars").first)
        #expect(chars.parameters.map(\.type) == ["bit varying", "bpchar", "bpchar[]"])
        let enums = try #require(catalog.overloads(schema: "test_catalog", name: "enum_arr").first)
        #expect(enums.parameters.map(\.type) == [#"test_catalog."My Enum"[]"#, #"test_catalog."My Enum""#])
        #expect(enums.parameters.map(\.isArray) == [true, false])
        #expect(catalog.overloads(schema: "test_catalog", name: "overloaded").count == 2)
        #expect(catalog.overloads(schema: "test_catalog", name: "not_a_function").isEmpty)
        #expect(catalog.overloads(schema: "test_catalog", name: "secret").count == 1)
    }

    @Test func callsReturnPostgRESTShapes() throws {
        defer { try? dropSchema() }
        let scalar = call("GET", "add_them", query: "a=1&b=2")
        #expect(scalar.status == 200 && scalar.bodyText == "3")
        #expect(call("POST", "sayhello", body: #"{"name": "wörld \"q\""}"#).json == .string("Hello, wörld \"q\""))
        let void = call("POST", "ret_void")
        #expect(void.status == 204 && void.body.isEmpty && void.header("Content-Type") == nil)
        let set = call("GET", "getitemrange", query: "min=1&max=3")
        #expect(set.json == .array([.object([("id", .number("2"))]), .object([("id", .number("3"))])]))
        #expect(set.header("Content-Range") == "0-1/*")
        let empty = call("GET", "getitemrange", query: "min=5&max=1")
        #expect(empty.bodyText == "[]" && empty.header("Content-Range") == "*/*")
        #expect(call("POST", "ret_point").json == .object([("x", .number("10")), ("y", .number("5"))]))
        #expect(call("GET", "single_out_param", query: "num=5").json == .object([("num_plus_one", .number("6"))]))
        #expect(call("POST", "returns_record").json == .object([("id", .number("1"))]))
        #expect(call("GET", "tab").json == .array([
            .object([("a", .number("1")), ("b", .string("1"))]), .object([("a", .number("2")), ("b", .string("2"))]),
        ]))
        #expect(call("POST", "ret_setof_integers").json == .array([.number("1"), .number("2"), .number("3")]))
        #expect(call("GET", "overloaded", query: "a=1").json == .string("int"))
        #expect(call("GET", "overloaded", query: "a=1&b=2").json == .string("two"))
    }

    @Test func argumentConversions() throws {
        defer { try? dropSchema() }
        #expect(call("GET", "variadic_param", query: "v=hi&v=there").json == .array([.string("hi"), .string("there")]))
        #expect(call("GET", "variadic_param", query: "v=hi").json == .array([.string("hi")]))
        #expect(call("GET", "variadic_param").json == .array([]))
        #expect(call("POST", "variadic_param", body: #"{"v": ["a\"b", "c,d", "{e}", null]}"#).json
            == .array([.string("a\"b"), .string("c,d"), .string("{e}"), .null]))
        let json = call("POST", "json_arg", body: #"{"a": [1, 2.50, 1e400], "b": {"c": null}}"#)
        #expect(json.json == JSONValue(parsing: #"{"a": [1, 2.50, 1e400], "b": {"c": null}}"#))
        #expect(call("POST", "chars", body: #"{"b": "101", "c": "xyz", "d": ["ab", "c"]}"#).json == .string("101xyz{ab,c}"))
        #expect(call("POST", "enum_arr", body: #"{"e": ["a", "b"]}"#).json == .string("{a,b}a"))
        #expect(call("GET", "enum_arr", query: "e=b&e=a&f=b").json == .string("{b,a}b"))
        let bad = call("GET", "add_them", query: "a=x&b=2")
        #expect(bad.status == 400 && bad.json?["code"] == .string("22P02"))
    }

    @Test func transactionSettingsAndErrors() throws {
        defer { try? dropSchema() }
        let who = call("GET", "whoami", headers: ["user-agent": "tests", "cookie": "c=1"])
        #expect(who.json == .object([
            ("role", .string("web_anon")), ("method", .string("GET")), ("path", .string("/rpc/whoami")),
            ("agent", .string("tests")), ("cookie", .string("1")), ("claims", .object([("role", .string("web_anon"))])),
        ]))
        let status = call("POST", "set_status")
        #expect(status.status == 201 && status.header("Location") == "/x" && status.bodyText == "1")
        let readOnly = call("GET", "writer", query: "id=100")
        #expect(readOnly.status == 405 && readOnly.json?["code"] == .string("25006"))
        #expect(call("POST", "writer", body: #"{"id": 100}"#).status == 204)
        let duplicate = call("POST", "writer", body: #"{"id": 100}"#)
        #expect(duplicate.status == 409)
        #expect(duplicate.json == errorJSON(code: "23505", message: "duplicate key value violates unique constraint \"items_pkey\"",
                                            details: "Key (id)=(100) already exists."))
        let problem = call("POST", "problem")
        #expect(problem.status == 402)
        #expect(problem.json == errorJSON(code: "PT402", message: "Payment Required", details: "Quota exceeded", hint: "Upgrade"))
        let secret = call("POST", "secret")
        #expect(secret.status == 401 && secret.json?["code"] == .string("42501"))
        #expect(call("OPTIONS", "add_them").header("Allow") == "OPTIONS,GET,HEAD,POST")
    }
}

extension CatalogTests {
    /// The same statements through the real pipelined pool (one Sync per request, no BEGIN):
    /// the transaction-local settings, READ ONLY and `response.*` must hold across statements.
    @Test func pipelinedThroughThePool() throws {
        defer { try? dropSchema() }
        let driver = PoolDriver(uri: TestDatabase.uri())
        func plan(_ method: String, _ function: String, query: String = "", body: String = "",
                  headers: [String: String] = [:]) throws -> CallPlan {
            let request = HTTPRequest(method: method, path: "/rpc/\(function)", query: query, headers: headers, body: Array(body.utf8))
            return try CallPlan(request: request, catalog: catalog, config: config, streaming: false)
        }
        func send(_ method: String, _ function: String, query: String = "", body: String = "",
                  headers: [String: String] = [:]) -> HTTPResponse {
            do {
                let plan = try plan(method, function, query: query, body: body, headers: headers)
                return try HTTPResponse(plan: plan, rows: driver.run(plan.statements))
            } catch {
                return HTTPResponse(error: error, authenticated: false)
            }
        }
        let who = send("GET", "whoami", headers: ["user-agent": "pool", "cookie": "c=2"])
        #expect(who.json?["role"] == .string("web_anon"))
        #expect(who.json?["agent"] == .string("pool"))
        #expect(who.json?["cookie"] == .string("2"))
        let status = send("POST", "set_status")
        #expect(status.status == 201 && status.header("Location") == "/x")
        #expect(send("GET", "writer", query: "id=200").status == 405)
        #expect(send("POST", "writer", body: #"{"id": 200}"#).status == 204)
        #expect(send("POST", "writer", body: #"{"id": 200}"#).status == 409)
        #expect(send("GET", "add_them", query: "a=2&b=3").bodyText == "5")
        #expect(send("POST", "secret").status == 401)
        // Settings do not leak into the next request on the same connection.
        for _ in 0..<4 {
            let next = send("POST", "add_them", body: #"{"a": 1, "b": 1}"#)
            #expect(next.status == 200 && next.header("Location") == nil)
        }
        // Many calls in flight on the same connections at once: each is its own transaction, a
        // failing one (and a new statement text prepared mid-pipeline) leaves the others whole.
        let plans = try (0..<40).map { n in
            n % 5 == 0 ? try plan("POST", "problem")
                : n % 7 == 0 ? try plan("POST", "set_status")
                : try plan("GET", "add_them", query: "a=\(n)&b=\(n % 3 == 0 ? "x" : "1")")
        }
        let results = try driver.run(plans.map(\.statements))
        for (n, (plan, result)) in zip(plans, results).enumerated() {
            let response = (try? HTTPResponse(plan: plan, rows: result.get())) ?? HTTPResponse(error: result.error!, authenticated: false)
            if n % 5 == 0 { #expect(response.status == 402, "\(n)") }
            else if n % 7 == 0 { #expect(response.status == 201 && response.header("Location") == "/x", "\(n)") }
            else if n % 3 == 0 { #expect(response.status == 400, "\(n)") }
            else { #expect(response.status == 200 && response.bodyText == "\(n + 1)", "\(n)") }
        }
    }
}

private extension Result {
    var error: Failure? { if case .failure(let error) = self { return error } else { return nil } }
}

private extension HTTPResponse {
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    var json: JSONValue? { JSONValue(parsing: body) }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

private func errorJSON(code: String, message: String, details: String? = nil, hint: String? = nil) -> JSONValue {
    func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    return .object([("code", .string(code)), ("details", text(details)), ("hint", text(hint)), ("message", .string(message))])
}
