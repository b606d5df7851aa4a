import Foundation
import Testing

/// PostgREST's RPC behaviours through the real gateway binary on the `test_rpc` fixtures:
/// status, headers and body (JSON compared by value) for each.
@Suite(.serialized)
struct GatewayRPCTests {
    let gateway: GatewayProcess

    init() throws { gateway = try GatewayProcess.shared() }

    private func json(_ text: String) -> NSObject? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? NSObject
    }

    @Test func postWithNamedArgumentsReturnsBareScalar() throws {
        let response = try gateway.send("POST", "/rpc/add_them", body: #"{"a": 1, "b": 2}"#, headers: [("Content-Type", "application/json")])
        #expect(response.status == 200)
        #expect(response.text == "3")
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        #expect(response.header("Content-Range") == "0-0/*")
    }

    @Test func getWithQueryArguments() throws {
        let response = try gateway.send("GET", "/rpc/add_them?a=40&b=2")
        #expect(response.status == 200)
        #expect(response.text == "42")
    }

    @Test func headHasHeadersButNoBody() throws {
        let response = try gateway.send("HEAD", "/rpc/add_them?a=1&b=2")
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
    }

    @Test func scalarTextAndNull() throws {
        #expect(try gateway.send("POST", "/rpc/hello").text == #""Hello""#)
        #expect(try gateway.send("GET", "/rpc/ret_null").text == "null")
    }

    @Test func emptyBodyCountsAsEmptyObject() throws {
        let response = try gateway.send("POST", "/rpc/hello", body: "")
        #expect(response.status == 200)
        #expect(response.text == #""Hello""#)
    }

    @Test func setofReturnsArray() throws {
        let response = try gateway.send("GET", "/rpc/get_projects_below?id=3")
        #expect(response.status == 200)
        #expect(response.json == json(#"[{"id":1,"name":"Windows 7"},{"id":2,"name":"Windows 10"}]"#))
        #expect(response.header("Content-Range") == "0-1/*")
    }

    @Test func emptySetIsEmptyArray() throws {
        let response = try gateway.send("POST", "/rpc/numbers", body: #"{"n": 0}"#)
        #expect(response.status == 200)
        #expect(response.json == json("[]"))
    }

    @Test func returnsTableIsArrayOfObjects() throws {
        let response = try gateway.send("GET", "/rpc/project_names")
        #expect(response.json == json(#"[{"id":1,"name":"Windows 7"},{"id":2,"name":"Windows 10"}]"#))
    }

    @Test func compositeAndOutParamsAreObjects() throws {
        #expect(try gateway.send("GET", "/rpc/get_project?id=4").json == json(#"{"id":4,"name":"OSX"}"#))
        #expect(try gateway.send("POST", "/rpc/out_params", body: #"{"x": 5}"#).json == json(#"{"doubled":10,"label":"x5"}"#))
    }

    @Test func voidIs204WithoutBodyOrContentType() throws {
        let response = try gateway.send("POST", "/rpc/ret_void", body: "{}")
        #expect(response.status == 204)
        #expect(response.body.isEmpty)
        #expect(response.header("Content-Type") == nil)
    }

    @Test func overloadsAreChosenByArgumentNames() throws {
        #expect(try gateway.send("POST", "/rpc/overloaded").text == #""none""#)
        #expect(try gateway.send("POST", "/rpc/overloaded", body: #"{"a": 1}"#).text == #""a=1""#)
        #expect(try gateway.send("GET", "/rpc/overloaded?a=1&b=2").text == #""a+b=3""#)
    }

    @Test func ambiguousOverloadIs300() throws {
        let response = try gateway.send("POST", "/rpc/ambiguous", body: #"{"x": 1}"#)
        #expect(response.status == 300)
        #expect((response.json as? NSDictionary)?["code"] as? String == "PGRST203")
    }

    @Test func defaultsFillMissingArguments() throws {
        #expect(try gateway.send("POST", "/rpc/with_default", body: #"{"a": 1}"#).text == "101")
        #expect(try gateway.send("GET", "/rpc/with_default?a=1&b=2").text == "3")
    }

    @Test func repeatedQueryKeysFeedVariadicAndArrays() throws {
        #expect(try gateway.send("GET", "/rpc/variadic_param?v=hi&v=there").json == json(#"["hi","there"]"#))
        #expect(try gateway.send("POST", "/rpc/variadic_param", body: #"{"v": ["a","b"]}"#).json == json(#"["a","b"]"#))
        #expect(try gateway.send("POST", "/rpc/sum_array", body: #"{"arr": [1,2,3]}"#).text == "6")
    }

    @Test func singleJsonParameterReceivesTheWholeBody() throws {
        let body = #"{"any": [1, {"nested": true}], "x": "y"}"#
        #expect(try gateway.send("POST", "/rpc/single_json_param", body: body).json == json(body))
        #expect(try gateway.send("POST", "/rpc/single_jsonb_param", body: body).json == json(body))
    }

    @Test func unknownFunctionIs404WithHint() throws {
        let response = try gateway.send("POST", "/rpc/add_thm", body: #"{"a": 1, "b": 2}"#)
        #expect(response.status == 404)
        let body = response.json as? NSDictionary
        #expect(body?["code"] as? String == "PGRST202")
        #expect(body?["message"] as? String == "Could not find the function test_rpc.add_thm(a, b) in the schema cache")
        #expect((body?["hint"] as? String)?.contains("test_rpc.add_them") == true)
    }

    @Test func otherPathsAre404() throws {
        #expect(try gateway.send("GET", "/").status == 200)            // the OpenAPI document
        #expect(try gateway.send("POST", "/").status == 404)
        #expect(try gateway.send("GET", "/widgets").status == 404)
        #expect(try gateway.send("GET", "/rpc").status == 404)
    }

    @Test func invalidJsonIs400() throws {
        let response = try gateway.send("POST", "/rpc/add_them", body: #"{"a": 1,"#)
        #expect(response.status == 400)
        #expect((response.json as? NSDictionary)?["code"] as? String == "PGRST102")
    }

    @Test func otherMethodsAre405AndOptionsListsAllowed() throws {
        let delete = try gateway.send("DELETE", "/rpc/add_them")
        #expect(delete.status == 405)
        #expect((delete.json as? NSDictionary)?["code"] as? String == "PGRST101")
        let options = try gateway.send("OPTIONS", "/rpc/add_them")
        #expect(options.status == 200)
        #expect(options.header("Allow")?.contains("POST") == true)
    }

    @Test func raiseIs400WithDetailAndHint() throws {
        let response = try gateway.send("POST", "/rpc/raise_exception")
        #expect(response.status == 400)
        #expect(response.json == json(#"{"code":"P0001","message":"plain error","details":"some detail","hint":"some hint"}"#))
    }

    @Test func assertIs500() throws {
        let response = try gateway.send("POST", "/rpc/assert_false")
        #expect(response.status == 500)
        #expect((response.json as? NSDictionary)?["code"] as? String == "P0004")
    }

    @Test func ptCodeSetsTheStatus() throws {
        let response = try gateway.send("POST", "/rpc/raise_pt402")
        #expect(response.status == 402)
        #expect(response.json == json(#"{"code":"PT402","message":"Payment Required","details":"Quota exceeded","hint":"Upgrade"}"#))
    }

    @Test func raisePGRSTGivesFullControl() throws {
        let response = try gateway.send("POST", "/rpc/raise_pgrst")
        #expect(response.status == 332)
        #expect(response.header("X-Header") == "my value")
        #expect(response.json == json(#"{"code":"123","message":"Custom message","details":"Custom details","hint":"Custom hint"}"#))
    }

    @Test func dataErrorIs400() throws {
        let response = try gateway.send("GET", "/rpc/divide?a=1&b=0")
        #expect(response.status == 400)
        #expect((response.json as? NSDictionary)?["code"] as? String == "22012")
        #expect(try gateway.send("GET", "/rpc/add_them?a=x&b=1").status == 400)
    }

    @Test func responseStatusAndHeadersSettings() throws {
        let response = try gateway.send("POST", "/rpc/teapot")
        #expect(response.status == 418)
        #expect(response.header("X-Teapot") == "short and stout")
        #expect(response.header("Cache-Control") == "no-store")
        #expect(response.text == #""I am a teapot""#)
        #expect(try gateway.send("POST", "/rpc/bad_status").status == 500)
        #expect(try gateway.send("POST", "/rpc/bad_headers").status == 500)
    }

    @Test func writingFunctionOverGetIs405AndDuplicateIs409() throws {
        let name = "item-\(UUID().uuidString)"
        let get = try gateway.send("GET", "/rpc/add_item?name=\(name)")
        #expect(get.status == 405)
        #expect((get.json as? NSDictionary)?["code"] as? String == "25006")
        #expect(try gateway.send("POST", "/rpc/add_item", body: #"{"name": "\#(name)"}"#).status == 200)
        let duplicate = try gateway.send("POST", "/rpc/add_item", body: #"{"name": "\#(name)"}"#)
        #expect(duplicate.status == 409)
        #expect(duplicate.json == json(#"""
            {"code":"23505","details":"Key (name)=(\#(name)) already exists.","hint":null,
             "message":"duplicate key value violates unique constraint \"items_name_key\""}
            """#))
    }

    @Test func privilegedFunctionIs401ForAnonymous() throws {
        let response = try gateway.send("POST", "/rpc/privileged")
        #expect(response.status == 401)
        #expect((response.json as? NSDictionary)?["code"] as? String == "42501")
        #expect(response.header("WWW-Authenticate") == "Bearer")
    }

    @Test func requestContextIsSetTransactionLocally() throws {
        let response = try gateway.send("GET", "/rpc/request_context", headers: [("X-Custom", "yes \"quoted\""), ("Cookie", "flavour=choc")])
        #expect(response.json == json(#"""
            {"role":"web_anon","method":"GET","path":"/rpc/request_context","custom_header":"yes \"quoted\"","cookie":"choc","read_only":"on"}
            """#))
        let post = try gateway.send("POST", "/rpc/request_context")
        #expect((post.json as? NSDictionary)?["method"] as? String == "POST")
    }
}
