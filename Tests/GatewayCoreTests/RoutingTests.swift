import Testing
@testable import GatewayCore

@Suite struct RoutingTests {
    @Test(arguments: ["/", "/rpc", "/rpc/", "/widgets", "/rpc/a/b", "/rpcx/fn", "//rpc/fn", "/RPC/fn"])
    func otherPathsAreNotFound(path: String) throws {
        let response = try #require(Fixtures.failure("GET", path))
        #expect(response.status == 404)
        #expect(response.json == errorJSON(code: "PGRST125", message: "Invalid path specified in request URL"))
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
    }

    @Test(arguments: ["DELETE", "PATCH", "PUT", "TRACE", "CONNECT", "get"])
    func otherMethodsAre405(method: String) throws {
        let response = try #require(Fixtures.failure(method, "/rpc/sayhello"))
        #expect(response.status == 405)
        #expect(response.json == errorJSON(code: "PGRST101", message: "Cannot use the \(method) method on RPC"))
    }

    @Test func functionNameIsPercentDecoded() throws {
        let plan = try Fixtures.plan("POST", "/rpc/quoted%46unction", body: #"{"user":"u","fullName":"f","SSN":"s"}"#)
        #expect(plan.routine?.name == "quotedFunction")
        #expect(plan.statements.last?.sql.contains(#""test"."quotedFunction"("user" := $1::text, "fullName" := $2::text, "SSN" := $3::text)"#) == true)
    }

    @Test func trailingSlashIsAccepted() throws {
        #expect(try Fixtures.plan("GET", "/rpc/noparamsproc/").routine?.name == "noparamsproc")
    }

    @Test func optionsAnswersAllowWithoutTheDatabase() throws {
        let volatile = try Fixtures.plan("OPTIONS", "/rpc/ret_void")
        #expect(volatile.statements.isEmpty)
        #expect(volatile.directResponse?.status == 200)
        #expect(volatile.directResponse?.header("Allow") == "OPTIONS,POST")
        let stable = try Fixtures.plan("OPTIONS", "/rpc/sayhello")
        #expect(stable.directResponse?.header("Allow") == "OPTIONS,GET,HEAD,POST")
        let response = try HTTPResponse(plan: stable, rows: [])
        #expect(response.status == 200 && response.body.isEmpty)
        #expect(Fixtures.failure("OPTIONS", "/rpc/nope")?.status == 404)
    }

    @Test func schemaFromProfileHeaders() throws {
        let failure = try #require(Fixtures.failure("GET", "/rpc/sayhello", query: "name=x", headers: ["accept-profile": "private"]))
        #expect(failure.status == 406)
        #expect(failure.json == errorJSON(code: "PGRST106", message: "Invalid schema: private",
                                          hint: "Only the following schemas are exposed: test, api"))
        let other = try #require(Fixtures.failure("POST", "/rpc/sayhello", body: #"{"name":"x"}"#, headers: ["content-profile": "api"]))
        #expect(other.status == 404)
        #expect(other.json?["message"] == .string("Could not find the function api.sayhello(name) in the schema cache"))
        #expect(try Fixtures.plan("GET", "/rpc/sayhello", query: "name=x", headers: ["accept-profile": "test"]).routine != nil)
    }

    @Test(arguments: ["application/json", "*/*", "text/html, application/json;q=0.9", "application/json; charset=utf-8",
                      "text/csv, audio/mpeg3;q=0.5"])
    func acceptableMediaTypes(accept: String) throws {
        _ = try Fixtures.plan("GET", "/rpc/noparamsproc", headers: ["accept": accept])
    }

    /// PostgREST's Plan/Negotiate.hs: nothing offered for any item (an empty Accept has none) is 406,
    /// naming the items best first.
    @Test(arguments: [("text/unknowntype, audio/mpeg3;q=0.5", "text/unknowntype, audio/mpeg3"), ("", ""),
                      ("application/*", "application/*"), ("text/html;q=0.9, foo/bar", "foo/bar, text/html")])
    func unacceptableMediaTypeIs406(accept: String, named: String) throws {
        let response = try #require(Fixtures.failure("GET", "/rpc/noparamsproc", headers: ["accept": accept]))
        #expect(response.status == 406)
        #expect(response.json == errorJSON(code: "PGRST107", message: "None of these media types are available: " + named))
    }

    @Test func anonymousWithoutAnonRoleIs401() throws {
        var config = Fixtures.config
        config.dbAnonRole = nil
        let response = try #require(Fixtures.failure("GET", "/rpc/noparamsproc", config: config))
        #expect(response.status == 401)
        #expect(response.header("WWW-Authenticate") == "Bearer")
        #expect(response.json == errorJSON(code: "PGRST302", message: "Anonymous access is disabled"))
    }
}
