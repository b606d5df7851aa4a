import Testing
@testable import GatewayCore

@Suite struct ArgumentMatchingTests {
    func callStatement(_ plan: CallPlan) throws -> Statement { try #require(plan.statements.last) }

    @Test func postNamedArguments() throws {
        let plan = try Fixtures.plan("POST", "/rpc/add_them", body: #"{"b": 2, "a": 1}"#)
        let call = try callStatement(plan)
        #expect(call.sql.contains(#""test"."add_them"("a" := $1::integer, "b" := $2::integer)"#))
        #expect(call.parameters == ["1", "2"])
    }

    @Test func emptyBodyIsEmptyObject() throws {
        for body in ["", "  \n", "{}"] {
            let plan = try Fixtures.plan("POST", "/rpc/noparamsproc", body: body)
            #expect(plan.routine?.name == "noparamsproc")
            #expect(try callStatement(plan).parameters.isEmpty)
        }
    }

    @Test func getQueryArguments() throws {
        let plan = try Fixtures.plan("GET", "/rpc/sayhello", query: "name=hello+w%C3%B6rld")
        #expect(try callStatement(plan).parameters == ["hello wörld"])
        #expect(plan.readOnly)
        #expect(plan.statements[0].sql.contains("transaction_read_only"))
    }

    @Test func jsonValueConversions() throws {
        let plan = try Fixtures.plan("POST", "/rpc/many_defaults", body: #"{"a": 1e2, "b": "x\"y", "c": {"k": [1, "2"]}}"#)
        #expect(try callStatement(plan).parameters == ["1e2", "x\"y", #"{"k": [1, "2"]}"#])
        let strings = try Fixtures.plan("POST", "/rpc/many_defaults", body: #"{"a": "7", "b": true, "c": "text"}"#)
        #expect(try callStatement(strings).parameters == ["7", "true", #""text""#])
        let nulls = try Fixtures.plan("POST", "/rpc/many_defaults", body: #"{"a": null, "c": null}"#)
        #expect(try callStatement(nulls).parameters == [nil, nil])
        #expect(try callStatement(nulls).sql.contains(#"("a" := $1::integer, "c" := $2::jsonb)"#))
    }

    @Test func defaultsMayBeOmitted() throws {
        let plan = try Fixtures.plan("POST", "/rpc/many_defaults", body: #"{"a": 1}"#)
        #expect(try callStatement(plan).sql.contains(#""test"."many_defaults"("a" := $1::integer)"#))
        let withC = try Fixtures.plan("GET", "/rpc/many_defaults", query: "c=%7B%7D&a=1")
        #expect(try callStatement(withC).sql.contains(#"("a" := $1::integer, "c" := $2::jsonb)"#))
        #expect(try callStatement(withC).parameters == ["1", "{}"])
    }

    @Test func missingRequiredArgumentIs202() throws {
        let response = try #require(Fixtures.failure("POST", "/rpc/many_defaults", body: #"{"b": "x"}"#))
        #expect(response.status == 404)
        #expect(response.json?["code"] == .string("PGRST202"))
    }

    @Test func overloadsChosenByArgumentNames() throws {
        #expect(try Fixtures.plan("GET", "/rpc/overloaded").routine?.parameters.isEmpty == true)
        #expect(try Fixtures.plan("GET", "/rpc/overloaded", query: "a=1&b=2").routine?.parameters.map(\.type) == ["integer", "integer"])
        #expect(try Fixtures.plan("GET", "/rpc/overloaded", query: "a=1&b=2&c=3").routine?.parameters.map(\.type) == ["text", "text", "text"])
        #expect(try Fixtures.plan("POST", "/rpc/overloaded", body: #"{"x": {"a": 1}}"#).routine?.parameters.map(\.type) == ["json"])
        #expect(try Fixtures.plan("POST", "/rpc/overloaded", body: #"{"a": 1, "b": 2}"#).routine?.parameters.map(\.type) == ["integer", "integer"])
    }

    @Test func ambiguousOverloadsAre300() throws {
        let response = try #require(Fixtures.failure("GET", "/rpc/overloaded_same_args", query: "arg=value"))
        #expect(response.status == 300)
        #expect(response.json == errorJSON(
            code: "PGRST203",
            message: "Could not choose the best candidate function between: test.overloaded_same_args(arg => integer), test.overloaded_same_args(arg => xml), test.overloaded_same_args(arg => text, num => integer)",
            hint: "Try renaming the parameters or the function itself in the database so function overloading can be resolved"))
        #expect(try Fixtures.plan("GET", "/rpc/overloaded_same_args", query: "arg=1&num=2").routine?.parameters.count == 2)
    }

    @Test func variadicFromRepeatedQueryKeys() throws {
        let plan = try Fixtures.plan("GET", "/rpc/variadic_param", query: "v=hi&v=there&v=%22q%22")
        let call = try callStatement(plan)
        #expect(call.sql.contains(#""test"."variadic_param"(VARIADIC "v" := $1::text[])"#))
        #expect(call.parameters == [#"{"hi","there","\"q\""}"#])
        #expect(try callStatement(try Fixtures.plan("GET", "/rpc/variadic_param", query: "v=one")).parameters == [#"{"one"}"#])
        #expect(try callStatement(try Fixtures.plan("GET", "/rpc/variadic_param")).sql.contains(#""test"."variadic_param"()"#))
        let post = try Fixtures.plan("POST", "/rpc/variadic_param", body: #"{"v": ["hi", "hello", null]}"#)
        #expect(try callStatement(post).parameters == [#"{"hi","hello",NULL}"#])
    }

    @Test func arrayParameters() throws {
        let post = try Fixtures.plan("POST", "/rpc/int_array", body: #"{"arr": [1, 2, 3]}"#)
        #expect(try callStatement(post).parameters == [#"{"1","2","3"}"#])
        #expect(try callStatement(post).sql.contains(#"("arr" := $1::integer[])"#))
        let literal = try Fixtures.plan("POST", "/rpc/int_array", body: #"{"arr": "{1,2}"}"#)
        #expect(try callStatement(literal).parameters == ["{1,2}"])
        let repeated = try Fixtures.plan("GET", "/rpc/int_array", query: "arr=1&arr=2")
        #expect(try callStatement(repeated).parameters == [#"{"1","2"}"#])
        let single = try Fixtures.plan("GET", "/rpc/int_array", query: "arr=%7B1,2%7D")
        #expect(try callStatement(single).parameters == ["{1,2}"])
    }

    @Test func repeatedKeyForScalarTakesLastValue() throws {
        let plan = try Fixtures.plan("GET", "/rpc/sayhello", query: "name=a&name=b")
        #expect(try callStatement(plan).parameters == ["b"])
    }

    @Test func singleUnnamedJSONParameterReceivesWholeBody() throws {
        let body = #"{"any": [1, 2.50], "thing": "x"}"#
        let plan = try Fixtures.plan("POST", "/rpc/single_json", body: body)
        let call = try callStatement(plan)
        #expect(call.sql.contains(#""test"."single_json"($1::json)"#))
        #expect(call.parameters == [body])
        let array = try Fixtures.plan("POST", "/rpc/single_json", body: "[1,2]")
        #expect(try callStatement(array).parameters == ["[1,2]"])
        let empty = try Fixtures.plan("POST", "/rpc/single_json", body: "")
        #expect(try callStatement(empty).parameters == ["{}"])
        // Named matches win over the whole-body fallback.
        let named = try Fixtures.plan("POST", "/rpc/single_jsonb_or_named", body: #"{"x": 1}"#)
        #expect(named.routine?.parameters.first?.name == "x")
        let fallback = try Fixtures.plan("POST", "/rpc/single_jsonb_or_named", body: #"{"y": 1}"#)
        #expect(try callStatement(fallback).sql.contains("($1::jsonb)"))
        // GET never passes the whole query to a json parameter.
        #expect(Fixtures.failure("GET", "/rpc/single_json", query: "a=1")?.status == 404)
    }

    @Test func invalidJSONIs400() throws {
        for body in ["sdfsdf", "{", #"{"a":1,}"#, "\u{FF}\u{FE}", "{\"a\":\"\u{01}\"}"] {
            let response = try #require(Fixtures.failure("POST", "/rpc/sayhello", body: body))
            #expect(response.status == 400)
            #expect(response.json == errorJSON(code: "PGRST102", message: "Empty or invalid json"))
        }
        let invalidUTF8 = HTTPRequest(method: "POST", path: "/rpc/sayhello", body: [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D])
        #expect(throws: APIError.invalidBody(message: "Empty or invalid json")) {
            try CallPlan(request: invalidUTF8, catalog: Fixtures.catalog, config: Fixtures.config)
        }
    }

    @Test func nonObjectBodyForNamedFunctionIs202() throws {
        let response = try #require(Fixtures.failure("POST", "/rpc/sayhello", body: "[1]"))
        #expect(response.status == 404)
        #expect(response.json?["code"] == .string("PGRST202"))
    }

    @Test func nulCharactersAreRefused() throws {
        let response = try #require(Fixtures.failure("POST", "/rpc/sayhello", body: #"{"name": "a\u0000b"}"#))
        #expect(response.status == 400)
        #expect(response.json?["code"] == .string("22P05"))
        #expect(Fixtures.failure("GET", "/rpc/sayhello", query: "name=a%00b")?.status == 400)
    }

    @Test func unknownFunctionMessagesMatchPostgREST() throws {
        let noArgs = try #require(Fixtures.failure("GET", "/rpc/sayhell"))
        #expect(noArgs.status == 404)
        #expect(noArgs.json == errorJSON(
            code: "PGRST202",
            message: "Could not find the function test.sayhell without parameters in the schema cache",
            details: "Searched for the function test.sayhell without parameters, but no matches were found in the schema cache.",
            hint: "Perhaps you meant to call the function test.sayhello"))

        let wrongArg = try #require(Fixtures.failure("GET", "/rpc/sayhello", query: "nam=Peter"))
        #expect(wrongArg.json == errorJSON(
            code: "PGRST202",
            message: "Could not find the function test.sayhello(nam) in the schema cache",
            details: "Searched for the function test.sayhello with parameter nam, but no matches were found in the schema cache.",
            hint: "Perhaps you meant to call the function test.sayhello(name)"))

        let extra = try #require(Fixtures.failure("GET", "/rpc/add_them", query: "a=1&b=2&smthelse=blabla"))
        #expect(extra.json == errorJSON(
            code: "PGRST202",
            message: "Could not find the function test.add_them(a, b, smthelse) in the schema cache",
            details: "Searched for the function test.add_them with parameters a, b, smthelse, but no matches were found in the schema cache.",
            hint: "Perhaps you meant to call the function test.add_them(a, b)"))

        let overloaded = try #require(Fixtures.failure("GET", "/rpc/overloaded", query: "wrong_arg=value"))
        #expect(overloaded.json == errorJSON(
            code: "PGRST202",
            message: "Could not find the function test.overloaded(wrong_arg) in the schema cache",
            details: "Searched for the function test.overloaded with parameter wrong_arg, but no matches were found in the schema cache."))

        let overloadedHint = try #require(Fixtures.failure("GET", "/rpc/overloaded", query: "a=1&b=2&wrong_arg=value"))
        #expect(overloadedHint.json?["hint"] == .string("Perhaps you meant to call the function test.overloaded(a, b, c)"))

        let post = try #require(Fixtures.failure("POST", "/rpc/fakefunc", body: #"{"z": 1, "a": 2}"#))
        #expect(post.json == errorJSON(
            code: "PGRST202",
            message: "Could not find the function test.fakefunc(a, z) in the schema cache",
            details: "Searched for the function test.fakefunc with parameters a, z or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache."))
        #expect(Fixtures.failure("GET", "/rpc/completely_unrelated_name")?.json?["hint"] == .null)
    }
}

@Suite struct FormBodyTests {
    @Test func formBodiesCarryArguments() throws {
        let plan = try Fixtures.plan("POST", "/rpc/add_them", body: "a=1&b=2",
                                     headers: ["content-type": "application/x-www-form-urlencoded; charset=utf-8"])
        #expect(plan.statements.last?.parameters == ["1", "2"])
        #expect(!plan.readOnly || plan.routine?.volatility != .volatile)
        let variadic = try Fixtures.plan("POST", "/rpc/variadic_param", body: "v=a&v=b+c",
                                         headers: ["content-type": "application/x-www-form-urlencoded"])
        #expect(variadic.statements.last?.parameters == [#"{"a","b c"}"#])
    }
}

@Suite struct HostileInputTests {
    @Test func manyKeysStayCheap() throws {
        let body = "{" + (0..<50_000).map { "\"k\($0)\": \($0)" }.joined(separator: ",") + "}"
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            #expect(Fixtures.failure("POST", "/rpc/sayhello", body: body)?.status == 404)
        }
        #expect(elapsed < .seconds(5))
        let query = (0..<50_000).map { "k\($0)=\($0)" }.joined(separator: "&")
        #expect(Fixtures.failure("GET", "/rpc/sayhello", query: query)?.status == 404)
        let repeated = Array(repeating: "name=x", count: 50_000).joined(separator: "&")
        #expect(try Fixtures.plan("GET", "/rpc/sayhello", query: repeated).statements.last?.parameters == ["x"])
    }

    @Test func deepOrOddBodiesNeverCrash() {
        let bodies = [
            String(repeating: "[", count: 100_000), String(repeating: "{\"a\":", count: 50_000),
            "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\\ud800\"}", "\u{0}", "{\"\u{0}\":1}", "{\"a\":1e999999}",
        ]
        for body in bodies {
            let response = Fixtures.failure("POST", "/rpc/sayhello", body: body)
            #expect(response == nil || [400, 404].contains(response!.status))
        }
        let long = String(repeating: "x", count: 100_000)
        #expect(Fixtures.failure("GET", "/rpc/\(long)")?.status == 404)
        #expect(Fixtures.failure("GET", "/rpc/%", query: "%=%&&=&%ZZ")?.status == 404)
    }
}

@Suite struct SingleObjectTests {
    @Test func preferParamsSingleObject() throws {
        let body = #"{"a": 1, "b": [2]}"#
        let plan = try Fixtures.plan("POST", "/rpc/many_defaults_json", body: body, headers: ["prefer": "params=single-object"])
        #expect(plan.statements.last?.parameters == [body])
        #expect(plan.statements.last?.sql.contains(#""test"."many_defaults_json"($1::jsonb)"#) == true)
        let missing = try #require(Fixtures.failure("POST", "/rpc/sayhello", body: "{}", headers: ["prefer": "return=minimal, params=single-object"]))
        #expect(missing.json == errorJSON(
            code: "PGRST202", message: "Could not find the function test.sayhello in the schema cache",
            details: "Searched for the function test.sayhello with a single json/jsonb parameter, but no matches were found in the schema cache."))
    }
}
