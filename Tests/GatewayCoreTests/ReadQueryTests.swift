import Testing
@testable import GatewayCore

/// Query-string shaping parsed as PostgREST's `QueryParams.parse` (its doctests in
/// src/library/PostgREST/ApiRequest/QueryParams.hs, and the PGRST100 bodies of
/// test/spec/Feature/Query/QuerySpec.hs and AndOrParamsSpec.hs).
@Suite struct ReadQueryTests {
    private func parse(_ pairs: [(String, String)], isRead: Bool = false) throws -> ReadQuery {
        try ReadQuery(pairs: pairs.map { (key: $0.0, value: $0.1) }, isRead: isRead)
    }

    private func failure(_ pairs: [(String, String)], isRead: Bool = false) -> APIError? {
        do { _ = try parse(pairs, isRead: isRead); return nil } catch { return error as? APIError }
    }

    private func pgrst100(_ message: String, _ details: String) -> APIError {
        .requestError(status: 400, code: "PGRST100", message: message, details: details, hint: nil)
    }

    @Test func filtersWithEveryOperatorKind() throws {
        let query = try parse([("id", "gt.1"), ("name", "not.in.(a,\"b,c\")"), ("flag", "is.NULL"), ("v", "fts(english).fun"),
                               ("tags", "cs.{a,b}"), ("n", "eq(any).{1,2}"), ("m", "isdistinct.3")])
        #expect(query.conditions == [
            .filter(QueryFilter(field: QueryField(name: "id"), negated: false, operation: .quantified(">", nil, "1"))),
            .filter(QueryFilter(field: QueryField(name: "name"), negated: true, operation: .list(["a", "b,c"]))),
            .filter(QueryFilter(field: QueryField(name: "flag"), negated: false, operation: .isValue("NULL"))),
            .filter(QueryFilter(field: QueryField(name: "v"), negated: false, operation: .fullText("to_tsquery", language: "english", "fun"))),
            .filter(QueryFilter(field: QueryField(name: "tags"), negated: false, operation: .simple("@>", "{a,b}"))),
            .filter(QueryFilter(field: QueryField(name: "n"), negated: false, operation: .quantified("=", .any, "{1,2}"))),
            .filter(QueryFilter(field: QueryField(name: "m"), negated: false, operation: .isDistinct("3"))),
        ])
        #expect(try parse([("a", "gte.5")]).conditions == [.filter(QueryFilter(field: QueryField(name: "a"), negated: false, operation: .quantified(">=", nil, "5")))])
    }

    @Test func onReadsValuesWithoutOperatorAreArguments() throws {
        let query = try parse([("id", "5"), ("id", "gt.2"), ("select", "id")], isRead: true)
        #expect(query.arguments.map(\.key) == ["id"])
        #expect(query.arguments.map(\.value) == ["5"])
        #expect(query.conditions.count == 1)
        #expect(query.select == [SelectItem(field: QueryField(name: "id"))])
    }

    @Test func filterWithoutOperatorIs100() {
        // QuerySpec.hs "fails if an operator is not given"; the doctest of pRequestFilter.
        #expect(failure([("id", "0")]) == pgrst100("\"failed to parse filter (0)\" (line 1, column 1)",
                                                   "unexpected \"0\" expecting \"not\" or operator (eq, gt, ...)"))
        #expect(failure([("a", "noop.0")]) == pgrst100("\"failed to parse filter (noop.0)\" (line 1, column 1)",
                                                       "unexpected \"o\" expecting \"not\" or operator (eq, gt, ...)"))
    }

    /// parsec's messages are Haskell `show`s: quotes and backslashes escaped, non-ASCII in decimal.
    @Test func messagesShowTextAsHaskell() {
        #expect(QueryCursor.haskellShow(#"a"b\c"#) == #""a\"b\\c""#)
        #expect(QueryCursor.haskellShow("é1\u{1}H\u{0E}H\n") == #""\233\&1\SOHH\SO\&H\n""#)
        #expect(failure([("id", "é")]) == pgrst100("\"failed to parse filter (\\233)\" (line 1, column 1)",
                                                   "unexpected \"\\233\" expecting \"not\" or operator (eq, gt, ...)"))
    }

    @Test func isValuesAndTheirErrors() {
        // "false" reads the f: parsec reports where the longest alternative failed.
        #expect(failure([("a", "is.foo")]) == pgrst100("\"failed to parse filter (is.foo)\" (line 1, column 5)",
                                                       "unexpected \"o\" expecting isVal: (null, not_null, true, false, unknown)"))
        #expect(failure([("a", "is.x")]) == pgrst100("\"failed to parse filter (is.x)\" (line 1, column 4)",
                                                     "unexpected \"x\" expecting isVal: (null, not_null, true, false, unknown)"))
        #expect(failure([("a", "is.nul")]) == pgrst100("\"failed to parse filter (is.nul)\" (line 1, column 7)",
                                                       "unexpected end of input expecting isVal: (null, not_null, true, false, unknown)"))
    }

    @Test func orderTermsAndTheirErrors() throws {
        #expect(try parse([("order", "name.desc.nullsfirst,id")]).order == [
            OrderTerm(field: QueryField(name: "name"), descending: true, nullsFirst: true), OrderTerm(field: QueryField(name: "id")),
        ])
        #expect(try parse([("order", "a"), ("order", "b.desc")]).order == [OrderTerm(field: QueryField(name: "a"))])
        let cases: [(String, Int, String)] = [
            ("id.asc.nullslasttt", 17, "unexpected 't' expecting \",\" or end of input"),
            ("id.ac", 4, "unexpected \"c\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""),
            ("id.descc", 8, "unexpected 'c' expecting delimiter (.), \",\" or end of input"),
            ("id.nulsfist", 4, "unexpected \"n\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""),
            ("id.nullslasttt", 13, "unexpected 't' expecting \",\" or end of input"),
            ("id.asc.nlsfst", 8, "unexpected \"l\" expecting \"nullsfirst\" or \"nullslast\""),
        ]
        for (text, column, details) in cases {
            #expect(failure([("order", text)]) == pgrst100("\"failed to parse order (\(text))\" (line 1, column \(column))", details))
        }
    }

    @Test func logicTrees() throws {
        let query = try parse([("or", "(id.eq.1,not.and(a.gt.2,b.lt.3))"), ("not.and", "(c.is.true)")])
        let a = QueryFilter(field: QueryField(name: "a"), negated: false, operation: .quantified(">", nil, "2"))
        let b = QueryFilter(field: QueryField(name: "b"), negated: false, operation: .quantified("<", nil, "3"))
        #expect(query.conditions == [
            .group(negated: false, isAnd: false, [
                .filter(QueryFilter(field: QueryField(name: "id"), negated: false, operation: .quantified("=", nil, "1"))),
                .group(negated: true, isAnd: true, [.filter(a), .filter(b)]),
            ]),
            .group(negated: true, isAnd: true, [.filter(QueryFilter(field: QueryField(name: "c"), negated: false, operation: .isValue("TRUE")))]),
        ])
        // AndOrParamsSpec.hs "cannot have zero conditions"; pLogicTree's doctests.
        #expect(failure([("or", "()")]) == pgrst100("\"failed to parse logic tree (())\" (line 1, column 4)",
            "unexpected \")\" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"))
        #expect(failure([("or", "(id.in.1,2,id.eq.3)")]) == pgrst100("\"failed to parse logic tree ((id.in.1,2,id.eq.3))\" (line 1, column 10)",
                                                                     "unexpected \"1\" expecting \"(\""))
        #expect(failure([("or", "(id.eq.1,not.xor(id.eq.2,id.eq.3))")]) == pgrst100(
            "\"failed to parse logic tree ((id.eq.1,not.xor(id.eq.2,id.eq.3)))\" (line 1, column 16)",
            "unexpected \"x\" expecting logic operator (and, or)"))
    }

    @Test func selectItems() throws {
        #expect(try parse([("select", "alias:name->jsonpath::cast, *,\"a b\"")]).select == [
            SelectItem(field: QueryField(name: "name", path: [JSONPathStep(asText: false, key: "jsonpath", isIndex: false)]),
                       alias: "alias", cast: "cast"),
            SelectItem(field: QueryField(name: "*")),
            SelectItem(field: QueryField(name: "a b")),
        ])
        #expect(try parse([("select", "data->>-1")]).select?.first?.field.path == [JSONPathStep(asText: true, key: "-1", isIndex: true)])
        #expect(try parse([("select", "clients(*)")]).unsupportedSelect == .embedding("clients"))
        #expect(try parse([("select", "client:clients!fk!inner(id)")]).unsupportedSelect == .embedding("clients"))
        #expect(try parse([("select", "id.sum()")]).unsupportedSelect == .aggregate)
        #expect(failure([("select", "name!hint")]) == pgrst100("\"failed to parse select parameter (name!hint)\" (line 1, column 5)",
            "unexpected '!' expecting letter, digit, \"-\", \"->>\", \"->\", \"::\", \".\", \")\", \",\" or end of input"))
        #expect(failure([("select", "*!hint")]) == pgrst100("\"failed to parse select parameter (*!hint)\" (line 1, column 2)",
                                                            "unexpected '!' expecting \")\", \",\" or end of input"))
        // JsonOperatorSpec.hs: bad keys and indexes; pJsonPath's doctests.
        #expect(failure([("select", "data->(!@#$%^&*_d->>!@#$%^&*_e::integer")]) == pgrst100(
            "\"failed to parse select parameter (data->(!@#$%^&*_d->>!@#$%^&*_e::integer)\" (line 1, column 7)",
            "unexpected \"(\" expecting \"-\", digit or any non reserved character different from: .,>()"))
        #expect(failure([("select", "data->>--34")]) == pgrst100("\"failed to parse select parameter (data->>--34)\" (line 1, column 9)",
                                                                 "unexpected \"-\" expecting digit"))
        #expect(failure([("select", "data->>-78xy")]) == pgrst100("\"failed to parse select parameter (data->>-78xy)\" (line 1, column 11)",
            "unexpected 'x' expecting digit, \"->\", \"::\", \".\", \",\" or end of input"))
        #expect(try parse([("select", "data->78xy")]).select?.first?.field.path == [JSONPathStep(asText: false, key: "78xy", isIndex: false)])
        // A cast is spliced into SQL: only identifier characters make one.
        #expect(failure([("select", "id::text;drop")]) != nil)
    }

    @Test func embeddedPathsAre108() {
        #expect(failure([("clients.id", "eq.1")]) == ReadQuery.notEmbedded("clients"))
        #expect(failure([("clients.order", "id")]) == ReadQuery.notEmbedded("clients"))
    }
}

/// `limit`/`offset`/`Range` as PostgREST's `getRanges` and `RangeQuery.hs` combine them.
@Suite struct RowRangeTests {
    @Test func combinesParametersAndHeader() throws {
        #expect(try RowRange.requested(limit: nil, offset: nil, header: nil) == .all)
        #expect(try RowRange.requested(limit: "3", offset: "2", header: nil) == RowRange(lower: 2, upper: 4))
        #expect(try RowRange.requested(limit: nil, offset: "-4", header: nil) == RowRange(lower: 0, upper: nil))
        #expect(try RowRange.requested(limit: "3", offset: nil, header: "0-1") == RowRange(lower: 0, upper: 1))
        #expect(try RowRange.requested(limit: nil, offset: nil, header: "10-") == RowRange(lower: 10, upper: nil))
        #expect(try RowRange.requested(limit: "0", offset: nil, header: nil).hasLimitZero)
        #expect(try RowRange.requested(limit: "x", offset: nil, header: "bytes") == .all)
    }

    @Test func emptyRangesAre416() {
        #expect(throws: APIError.requestError(status: 416, code: "PGRST103", message: "Requested range not satisfiable",
                                              details: "The lower boundary must be lower than or equal to the upper boundary in the Range header.", hint: nil)) {
            try RowRange.requested(limit: nil, offset: nil, header: "1-0")
        }
        #expect(throws: APIError.requestError(status: 416, code: "PGRST103", message: "Requested range not satisfiable",
                                              details: "Limit should be greater than or equal to zero.", hint: nil)) {
            try RowRange.requested(limit: "-1", offset: nil, header: nil)
        }
    }

    @Test func maxRowsCapsWhatIsFetched() {
        #expect(RowRange.all.capped(by: 2) == RowRange(lower: 0, upper: 1))
        #expect(RowRange(lower: 3, upper: nil).capped(by: 2) == RowRange(lower: 3, upper: 4))
        #expect(RowRange.limitZero.capped(by: 2) == .limitZero)
    }

    @Test func contentRangeAsPostgREST() {
        #expect(HTTPResponse.contentRange(lower: 0, upper: 14, total: nil) == "0-14/*")
        #expect(HTTPResponse.contentRange(lower: 0, upper: -1, total: nil) == "*/*")
        #expect(HTTPResponse.contentRange(lower: 0, upper: -1, total: 0) == "*/0")
        #expect(HTTPResponse.contentRange(lower: 100, upper: 99, total: 15) == "*/15")
        #expect(HTTPResponse.contentRange(lower: 1, upper: 1, total: 2) == "1-1/2")
    }
}

/// The shaped call's SQL: identifiers quoted and checked, values bound.
@Suite struct ShapePlanningTests {
    @Test func valuesAreParametersAndColumnsChecked() throws {
        let plan = try Fixtures.plan("GET", "/rpc/getitemrange",
                                     query: "min=1&max=2&select=x:id,data->>k&id=gt.1&doc=like.a*&order=id.desc&limit=2&offset=1",
                                     headers: ["prefer": "count=exact"])
        let call = try #require(plan.statements.last)
        #expect(call.parameters == ["1", "2", "k", "1", "a%", "2", "1"])
        #expect(call.sql.contains(#"WITH pgrst_source AS (SELECT * FROM "test"."getitemrange"("min" := $1::bigint, "max" := $2::bigint))"#))
        #expect(call.sql.contains(#"SELECT "getitemrange"."id" AS "x", "getitemrange"."data"->>$3::text AS "k" FROM pgrst_source AS "getitemrange" WHERE "getitemrange"."id" > $4 AND "getitemrange"."doc" like $5 ORDER BY "getitemrange"."id" DESC LIMIT $6 OFFSET $7"#), "\(call.sql)")
        #expect(call.sql.contains(#"(SELECT count(*) FROM pgrst_source AS "getitemrange" WHERE "getitemrange"."id" > $4 AND "getitemrange"."doc" like $5)::text"#))
        #expect(plan.rangeOffset == 1)
        #expect(plan.preferenceApplied == "count=exact")
    }

    @Test func unknownColumnsAndEmbeddings() {
        #expect(Fixtures.failure("GET", "/rpc/getitemrange", query: "min=1&max=2&select=nope")?.json
                == errorJSON(code: "42703", message: "column getitemrange.nope does not exist"))
        #expect(Fixtures.failure("POST", "/rpc/getitemrange", query: "nope=eq.1", body: #"{"min":1,"max":2}"#)?.status == 400)
        #expect(Fixtures.failure("GET", "/rpc/getitemrange", query: "min=1&max=2&select=id,clients(*)")?.json?["code"] == .string("PGRST200"))
        // On POST the query string only shapes: a pair without an operator is a malformed filter.
        #expect(Fixtures.failure("POST", "/rpc/getitemrange", query: "min=1", body: #"{"min":1,"max":2}"#)?.json?["code"] == .string("PGRST100"))
    }

    @Test func theCacheKeyHoldsTheShape() throws {
        let one = try Fixtures.plan("GET", "/rpc/getitemrange", query: "min=1&max=2&id=gt.1")
        let other = try Fixtures.plan("GET", "/rpc/getitemrange", query: "min=1&max=2&id=lt.1")
        let same = try Fixtures.plan("GET", "/rpc/getitemrange", query: "min=3&max=4&id=gt.7")
        #expect(one.statements.last?.sql != other.statements.last?.sql)
        #expect(one.statements.last?.sql == same.statements.last?.sql)
    }
}
