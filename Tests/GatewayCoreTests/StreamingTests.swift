import Testing
@testable import GatewayCore

/// Which calls are streamed and with what SQL, without a database (the rows themselves:
/// GatewayStreamingTests).
struct StreamingTests {
    @Test func jsonLinesIsAMediaTypeOfItsOwn() {
        #expect(MediaType("application/jsonl") == .jsonLines)
        #expect(MediaType("Application/JSONL; charset=utf-8") == .jsonLines)
        #expect(MediaType("application/x-ndjson") == .other("application/x-ndjson"))
        #expect(MediaType.jsonLines.contentType == "application/jsonl; charset=utf-8")
    }

    @Test func setsAnsweredAsJSONArraysOrLinesAreStreamed() throws {
        func streamed(_ query: String, method: String = "GET", headers: [String: String] = [:]) throws -> StreamedBody? {
            try Fixtures.plan(method, "/rpc/getitemrange", query: query, headers: headers).streamed
        }
        #expect(try streamed("min=1&max=2") == .array(structured: true, stripped: false))
        #expect(try streamed("min=1&max=2&select=id&id=gt.1&order=id.desc&limit=5") == .array(structured: true, stripped: false))
        #expect(try streamed("min=1&max=2", headers: ["accept": "application/jsonl"]) == .lines)
        #expect(try streamed("min=1&max=2", headers: ["accept": "application/vnd.pgrst.array+json;nulls=stripped"])
            == .array(structured: true, stripped: true))
        // Whatever needs the whole result first is not.
        #expect(try streamed("min=1&max=2", method: "HEAD") == nil)
        #expect(try streamed("min=1&max=2", headers: ["prefer": "count=exact"]) == nil)
        #expect(try streamed("min=1&max=2", headers: ["accept": "text/csv"]) == nil)
        #expect(try streamed("min=1&max=2", headers: ["accept": "application/vnd.pgrst.object+json"]) == nil)
        #expect(try streamed("min=1&max=2", headers: ["prefer": "handling=strict, max-affected=5"]) == nil)
        // Not a set: answered whole.
        #expect(try Fixtures.plan("GET", "/rpc/add_them", query: "a=1&b=2", headers: ["accept": "application/jsonl"]).streamed == nil)
        // Sets of scalars are separated by `, ` only, unless they are arrays or records.
        let numbers = Fixtures.routine("numbers", set: true)
        var arrays = numbers
        arrays.returnType = "integer[]"
        #expect(StreamedBody.choose(routine: numbers, handler: .json, shape: CallShape(), isHead: false, needsCount: false)
            == .array(structured: false, stripped: false))
        #expect(StreamedBody.choose(routine: arrays, handler: .json, shape: CallShape(), isHead: false, needsCount: false)
            == .array(structured: true, stripped: false))
    }

    @Test func theStreamedStatementReturnsARowPerResultRowThenTheSettings() throws {
        let plan = try Fixtures.plan("GET", "/rpc/getitemrange", query: "min=1&max=2&select=id")
        let sql = plan.statements[plan.resultIndex].sql
        #expect(sql.hasPrefix("WITH pgrst_source AS (SELECT * FROM \"test\".\"getitemrange\"(\"min\" := $1::bigint, \"max\" := $2::bigint))"))
        #expect(sql.contains(" SELECT coalesce(to_json(pgrst_rows)::text, 'null'), nullif(current_setting('response.status', true), ''), "))
        #expect(sql.hasSuffix(" UNION ALL SELECT NULL, nullif(current_setting('response.status', true), ''), "
                              + "nullif(current_setting('response.headers', true), '')"))
        #expect(!sql.contains("json_agg"))
        let stripped = try Fixtures.plan("GET", "/rpc/getitemrange", query: "min=1&max=2",
                                         headers: ["accept": "application/vnd.pgrst.array+json;nulls=stripped"])
        #expect(stripped.statements[stripped.resultIndex].sql.contains("json_strip_nulls(to_json(pgrst_rows))"))
        // A volatile set with a shape is run to its end before its settings are read, as before.
        let volatile = try Fixtures.plan("POST", "/rpc/overloaded", query: "limit=0", body: "{}")
        #expect(volatile.streamed != nil)
        #expect(volatile.statements[volatile.resultIndex].sql.contains(
            "UNION ALL SELECT NULL, CASE WHEN (SELECT count(*) FROM pgrst_source) >= 0 THEN"))
    }

    @Test func smallAnswersOfJSONLinesAreAggregated() {
        let numbers = Fixtures.routine("numbers", set: true)
        #expect(CallSQL.body(for: numbers, handler: .jsonLines)
            == "coalesce(string_agg(coalesce(to_json(pgrst_rows.pgrst_scalar)::text, 'null') || E'\\n', ''), '')")
        #expect(CallSQL.body(for: Fixtures.routine("one"), handler: .jsonLines)
            == "coalesce((json_agg(pgrst_rows.pgrst_scalar) -> 0)::text, 'null') || E'\\n'")
    }
}
