import Foundation
import Testing
@testable import GatewayCore

/// `Proxy-Status: PostgREST; error=<code>` on every error response, the code of the body: PostgREST's
/// codes, SQLSTATEs and the custom code of `RAISE SQLSTATE 'PGRST'` (docs/references/errors.rst,
/// "Proxy-Status Header"; src/library/PostgREST/Error.hs, `errorResponseFor`;
/// test/spec/Feature/Query/ErrorSpec.hs, "includes the proxy-status header on the response").
@Suite struct GatewayProxyStatusTests {
    let gateway: GatewayProcess

    init() throws { gateway = try OpsFixtures.gateway(["jwt-secret": "\"\(OpsFixtures.secret)\""]) }

    @Test func anInvalidPathIs404WithPGRST125() throws {
        let response = try gateway.send("GET", "/invalid/nested/paths")
        #expect(response.status == 404)
        #expect(response.header("Proxy-Status") == "PostgREST; error=PGRST125")
    }

    @Test func anUnknownFunctionIs404WithPGRST202() throws {
        let response = try gateway.send("GET", "/rpc/no_such_function")
        #expect(response.status == 404)
        #expect(response.header("Proxy-Status") == "PostgREST; error=PGRST202")
    }

    @Test func anInvalidBodyIs400WithPGRST102() throws {
        let response = try gateway.send("POST", "/rpc/add_them", body: "{not json", headers: [("Content-Type", "application/json")])
        #expect(response.status == 400)
        #expect(response.header("Proxy-Status") == "PostgREST; error=PGRST102")
    }

    @Test func anUndecodableJWTIs401WithPGRST301() throws {
        let response = try gateway.send("GET", "/rpc/add_them?a=1", headers: [("Authorization", "Bearer ey9zdGdyZXN0.eyJpZCI6Impkb2UifQ")])
        #expect(response.status == 401)
        #expect(response.header("Proxy-Status") == "PostgREST; error=PGRST301")
    }

    @Test func aDatabaseErrorNamesItsSQLState() throws {
        let response = try gateway.send("GET", "/rpc/divide?a=1&b=0")
        #expect(response.status == 400)
        #expect(response.header("Proxy-Status") == "PostgREST; error=22012")
        #expect(response.text.contains(#""code":"22012""#))
    }

    @Test func aHeadRequestsErrorIsToldByItsHeader() throws {
        let response = try gateway.send("HEAD", "/rpc/divide?a=1&b=0")
        #expect(response.status == 400)
        #expect(response.header("Proxy-Status") == "PostgREST; error=22012")
    }

    @Test func aCustomRaisePGRSTCodeIsNamed() throws {
        let response = try gateway.send("POST", "/rpc/custom_error")
        #expect(response.status == 332)
        #expect(response.header("Proxy-Status") == "PostgREST; error=123")
        #expect(response.header("X-Header") == "str")
    }

    @Test func theServersOwnRefusalsCarryItToo() throws {
        let small = try OpsFixtures.gateway(["db-max-body-bytes": "16"])
        let response = try small.send("POST", "/rpc/add_them", body: #"{"a": 1, "b": 2, "c": "far too long"}"#,
                                      headers: [("Content-Type", "application/json")])
        #expect(response.status == 413)
        #expect(response.header("Proxy-Status") == "PostgREST; error=PGRST102")
    }

    @Test func aSuccessHasNone() throws {
        let response = try gateway.send("GET", "/rpc/add_them?a=1")
        #expect(response.status == 200)
        #expect(response.header("Proxy-Status") == nil)
    }
}
