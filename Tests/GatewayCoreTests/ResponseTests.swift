import Testing
@testable import GatewayCore

@Suite struct ResponseTests {
    func plan(_ method: String, _ function: String, query: String = "", body: String = "") throws -> CallPlan {
        try Fixtures.plan(method, "/rpc/\(function)", query: query, body: body)
    }

    @Test func voidIs204WithoutBodyOrContentType() throws {
        let response = try HTTPResponse(plan: plan("POST", "ret_void"), rows: [[nil, nil, nil, "1"]])
        #expect(response.status == 204)
        #expect(response.body.isEmpty)
        #expect(response.header("Content-Type") == nil)
        #expect(response.header("Content-Range") == "0-0/*")
    }

    @Test func scalarIsBareJSON() throws {
        let response = try HTTPResponse(plan: plan("GET", "add_them", query: "a=1&b=2"), rows: [["3", nil, nil, "1"]])
        #expect(response.status == 200)
        #expect(response.bodyText == "3")
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        #expect(response.header("Content-Range") == "0-0/*")
    }

    @Test func setsCarryContentRange() throws {
        let three = try HTTPResponse(plan: plan("GET", "getitemrange", query: "min=1&max=4"),
                                     rows: [[#"[{"id":2},{"id":3},{"id":4}]"#, nil, nil, "3"]])
        #expect(three.header("Content-Range") == "0-2/*")
        #expect(three.bodyText == #"[{"id":2},{"id":3},{"id":4}]"#)
        let empty = try HTTPResponse(plan: plan("GET", "getitemrange", query: "min=1&max=1"), rows: [["[]", nil, nil, "0"]])
        #expect(empty.header("Content-Range") == "*/*")
        #expect(empty.bodyText == "[]")
    }

    @Test func headHasHeadersButNoBody() throws {
        let response = try HTTPResponse(plan: plan("HEAD", "add_them", query: "a=1&b=2"), rows: [["3", nil, nil, "1"]])
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
    }

    @Test func responseStatusAndHeadersFromTheFunction() throws {
        let response = try HTTPResponse(plan: plan("POST", "ret_void"),
                                        rows: [[nil, "201", #"[{"Location": "/widgets/1"}, {"X-Extra": "x"}]"#, "1"]])
        #expect(response.status == 201)
        #expect(response.header("Location") == "/widgets/1")
        #expect(response.header("X-Extra") == "x")
        let override = try HTTPResponse(plan: plan("GET", "add_them", query: "a=1&b=2"),
                                        rows: [["3", " 418 ", #"[{"Content-Type": "text/plain"}]"#, "1"]])
        #expect(override.status == 418)
        #expect(override.headers.filter { $0.0.lowercased() == "content-type" }.map(\.1) == ["text/plain"])
    }

    @Test(arguments: ["abc", "99", "600", "", "2.5"])
    func invalidResponseStatusIs112(status: String) throws {
        #expect(throws: APIError.invalidResponseStatus) {
            try HTTPResponse(plan: plan("POST", "ret_void"), rows: [[nil, status, nil, "1"]])
        }
    }

    @Test(arguments: [#"{"a":"b"}"#, #"[{"a":1}]"#, #"[{"a":"b","c":"d"}]"#, "not json", #"["a"]"#, #"[{"bad name":"x"}]"#,
                      #"[{"X":"a\r\nb"}]"#])
    func invalidResponseHeadersIs111(headers: String) throws {
        #expect(throws: APIError.invalidResponseHeaders) {
            try HTTPResponse(plan: plan("POST", "ret_void"), rows: [[nil, nil, headers, "1"]])
        }
    }

    @Test func nullScalarIsJSONNull() throws {
        let response = try HTTPResponse(plan: plan("GET", "add_them", query: "a=1&b=2"), rows: [[nil, nil, nil, "1"]])
        #expect(response.bodyText == "null")
    }
}
