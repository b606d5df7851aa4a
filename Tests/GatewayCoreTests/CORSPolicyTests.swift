import Testing
@testable import GatewayCore

/// `CORSPolicy` without HTTP: wai-cors' header-list reading and PostgREST's allowed headers.
struct CORSPolicyTests {
    @Test func theHeaderListIsReadAsWaiCorsReadsIt() {
        #expect(CORSPolicy.parsedNames("Foo,Bar") == ["Foo", "Bar"])
        #expect(CORSPolicy.parsedNames("  Foo ,Bar  ") == ["Foo", "Bar"])
        // After a comma a name must follow at once: wai-cors stops reading there.
        #expect(CORSPolicy.parsedNames("Foo, Bar") == ["Foo"])
        #expect(CORSPolicy.parsedNames("") == [])
        #expect(CORSPolicy.parsedNames("Foo Bar") == ["Foo"])
    }

    @Test func allowHeadersAddAuthorizationAndTheSimpleHeadersNotNamedYet() {
        #expect(CORSPolicy.allowHeaders("Foo,Bar") == "Authorization, Foo, Bar, Accept, Accept-Language, Content-Language")
        #expect(CORSPolicy.allowHeaders("Content-Type, accept") == "Authorization, Content-Type, accept, Accept-Language, Content-Language")
        // "Foo Bar" is one requested name to PostgREST, but wai-cors reads "Foo": not allowed, no preflight.
        #expect(CORSPolicy.allowHeaders("Foo Bar") == nil)
    }

    @Test func onlyRequestsWithOriginAreCORSRequests() {
        let policy = CORSPolicy(allowedOrigins: [])
        guard case .none = policy.decide(HTTPRequest(method: "GET", path: "/rpc/x")) else { Issue.record("expected none"); return }
        guard case .actual(let headers) = policy.decide(HTTPRequest(method: "POST", path: "/rpc/x", headers: ["origin": "http://a"])) else {
            Issue.record("expected actual"); return
        }
        #expect(headers.first?.1 == "*")
    }
}
