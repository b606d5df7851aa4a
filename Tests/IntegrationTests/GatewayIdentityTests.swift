import Foundation
import Testing
@testable import GatewayCore

/// JWT roles, per-user data, the OpenAPI document, metrics and Server-Timing, through the real
/// gateway binary on the migrated test database (schema `api`).
@Suite(.serialized)
struct GatewayIdentityTests {
    static let secret = "test-secret-that-is-at-least-32-characters-long"
    let gateway: GatewayProcess

    init() throws {
        gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "jwt-secret": "\"\(Self.secret)\""])
        try gateway.waitUntilReady()
    }

    func token(_ claims: [String: Any], secret: String = GatewayIdentityTests.secret) -> (String, String) {
        ("Authorization", "Bearer " + JWTSigner.sign(claims: claims, secret: secret))
    }

    func user(_ sub: String) -> (String, String) {
        token(["role": "app_user", "sub": sub, "exp": Int(Date().timeIntervalSince1970) + 300])
    }

    func post(_ function: String, _ body: String, _ headers: [(String, String)]) throws -> HTTPClient.Response {
        try gateway.send("POST", "/rpc/\(function)", body: body, headers: [("Content-Type", "application/json")] + headers)
    }

    @Test func aValidTokenRunsAsItsRole() throws {
        let response = try gateway.send("GET", "/rpc/list_my_vms", headers: [user("identity-\(UUID())")])
        #expect(response.status == 200)
        #expect(response.text == "[]")
        #expect(response.header("Server-Timing")?.contains("db;dur=") == true)
    }

    @Test func privilegedFunctionAnonymouslyIs401AndWithTheWrongRoleIs403() throws {
        let anonymous = try gateway.send("GET", "/rpc/list_my_vms")
        #expect(anonymous.status == 401)
        #expect((anonymous.json as? [String: Any])?["code"] as? String == "42501")
        #expect(anonymous.header("WWW-Authenticate") == "Bearer")
        let worker = try gateway.send("GET", "/rpc/list_my_vms", headers: [token(["role": "worker"])])
        #expect(worker.status == 403)
    }

    @Test func aTokenForARoleThatDoesNotExistIs401() throws {
        let response = try gateway.send("GET", "/rpc/list_my_vms", headers: [token(["role": "no_such_role_\(UInt16.random(in: 0...9999))"])])
        #expect(response.status == 401)
        #expect((response.json as? [String: Any])?["code"] as? String == "22023")
    }

    @Test(arguments: [
        ("expired", "PGRST303", "JWT expired"),
        ("future", "PGRST303", "JWT not yet valid"),
        // PostgREST 13/14 (jose-jwt): no key verifies the signature (test/io/test_auth.py, test_jwt_errors).
        ("wrong key", "PGRST301", "No suitable key or wrong key type"),
        ("tampered", "PGRST301", "No suitable key or wrong key type"),
        ("alg none", "PGRST301", "Wrong or unsupported encoding algorithm"),
        ("two parts", "PGRST301", "Expected 3 parts in JWT; got 2"),
        ("empty", "PGRST301", "Empty JWT is sent in Authorization header"),
    ])
    func badTokensAre401WithPostgRESTsCodes(kind: String, code: String, message: String) throws {
        let now = Int(Date().timeIntervalSince1970)
        let good = JWTSigner.sign(claims: ["role": "app_user", "sub": "x"], secret: Self.secret)
        let parts = good.split(separator: ".")
        let value: String
        switch kind {
        case "expired": value = JWTSigner.sign(claims: ["role": "app_user", "exp": now - 60], secret: Self.secret)
        case "future": value = JWTSigner.sign(claims: ["role": "app_user", "nbf": now + 3600], secret: Self.secret)
        case "wrong key": value = JWTSigner.sign(claims: ["role": "app_user"], secret: String(Self.secret.reversed()))
        case "tampered": value = "\(parts[0]).\(JWTSigner.encode(Data(#"{"role":"operator"}"#.utf8))).\(parts[2])"
        case "alg none": value = "\(JWTSigner.encode(Data(#"{"alg":"none"}"#.utf8))).\(parts[1])."
        case "two parts": value = "\(parts[0]).\(parts[1])"
        default: value = ""
        }
        let response = try gateway.send("GET", "/rpc/list_my_vms", headers: [("Authorization", "Bearer \(value)")])
        #expect(response.status == 401)
        let body = response.json as? [String: Any]
        #expect(body?["code"] as? String == code)
        #expect(body?["message"] as? String == message)
        #expect(response.header("WWW-Authenticate")?.hasPrefix("Bearer error=\"invalid_token\"") == true)
    }

    @Test func userBCannotReadOrReleaseUserAsVM() async throws {
        // allocate_vm places on any available server: while VMConcurrencyTests' storm runs, user A's VM
        // could land on (and stay on) the storm's servers, or find every server full (503). They take turns.
        let placement = try await TestDatabase.hold("vm-servers")
        defer { withExtendedLifetime(placement) {} }
        let octet = Int.random(in: 1...250), name = "identity-\(UUID())"
        let registered = try post("register_server", #"{"name":"\#(name)","total_ram":8192,"total_cpu":4,"subnet":"10.\#(octet).\#(Int.random(in: 0...250)).0/24"}"#,
                                  [token(["role": "operator"])])
        #expect(registered.status == 200, "\(registered.text)")
        // Out of the way of other tests' placements once done.
        defer { _ = try? TestDatabase.connect().query("UPDATE vms.servers SET is_available = false WHERE name = $1", [name]) }
        let userA = user("a-\(UUID())"), userB = user("b-\(UUID())")
        let allocated = try post("allocate_vm", #"{"ram":1024,"cpu":1}"#, [userA])
        #expect(allocated.status == 200, "\(allocated.text)")
        let vm = (allocated.json as? [String: Any])?["vm_id"] as? Int
        #expect(vm != nil)
        let mine = try gateway.send("GET", "/rpc/list_my_vms", headers: [userA])
        #expect((mine.json as? [[String: Any]])?.contains { $0["vm_id"] as? Int == vm } == true)
        let theirs = try gateway.send("GET", "/rpc/list_my_vms", headers: [userB])
        #expect((theirs.json as? [[String: Any]])?.contains { $0["vm_id"] as? Int == vm } == false)
        let stolen = try post("release_vm", #"{"vm_id":\#(vm ?? 0)}"#, [userB])
        #expect(stolen.status == 404)
        let released = try post("release_vm", #"{"vm_id":\#(vm ?? 0)}"#, [userA])
        #expect(released.status < 300, "\(released.text)")
    }

    /// openapi-mode follow-privileges (the default): the anonymous role's document lists what it may execute.
    @Test func rootServesAValidOpenAPIDocumentOfEveryFunctionTheRoleMayExecute() throws {
        let response = try gateway.send("GET", "/")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/openapi+json; charset=utf-8")
        let document = response.json as? [String: Any]
        #expect(document?["openapi"] as? String == "3.1.0")
        let paths = (document?["paths"] as? [String: Any]) ?? [:]
        let functions = try TestDatabase.connect().query("SELECT DISTINCT proname::text FROM pg_proc WHERE pronamespace = 'api'::regnamespace AND has_function_privilege('web_anon', oid, 'execute')")
        #expect(Set(paths.keys) == Set(functions.map { "/rpc/\($0[0]!)" }))
    }

    @Test func metricsMoveAfterRequests() throws {
        func count() throws -> Int {
            let text = try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/metrics").text
            let line = text.split(separator: "\n").first { $0.hasPrefix(#"gateway_requests_total{function="get_widget",status="404"}"#) }
            return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        }
        let before = try count()
        for _ in 0..<3 { _ = try gateway.send("GET", "/rpc/get_widget?widget_sn=no-such-widget-\(UUID())") }
        // The count moves when each request completes, just after its response is sent.
        let until = Date().addingTimeInterval(5)
        while try count() < before + 3, Date() < until { Thread.sleep(forTimeInterval: 0.02) }
        #expect(try count() == before + 3)
        let text = try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/metrics").text
        for name in ["gateway_request_duration_seconds_bucket", "gateway_pool_connections_in_use", "gateway_pool_requests_waiting",
                     "gateway_db_reconnects_total", "gateway_schema_reloads_total 1"] {
            #expect(text.contains(name), "\(name) missing")
        }
    }
}

/// `db-pre-request`: a function run after the request settings and before every call, which may refuse it.
@Suite(.serialized)
struct GatewayPreRequestTests {
    @Test func preRequestSeesTheClaimsAndCanRefuseTheCall() throws {
        try TestDatabase.connect().execute("""
            CREATE SCHEMA IF NOT EXISTS test_prerequest;
            CREATE OR REPLACE FUNCTION test_prerequest.check() RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                IF current_setting('request.headers', true)::json ->> 'x-block' = 'yes' THEN
                    RAISE SQLSTATE 'PT403' USING MESSAGE = 'blocked by db-pre-request',
                        DETAIL = 'role ' || (current_setting('request.jwt.claims', true)::json ->> 'role');
                END IF;
            END $$;
            GRANT USAGE ON SCHEMA test_prerequest TO web_anon, app_user;
            GRANT EXECUTE ON FUNCTION test_prerequest.check() TO web_anon, app_user;
            """)
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "db-pre-request": "\"test_prerequest.check\"",
                                                    "jwt-secret": "\"\(GatewayIdentityTests.secret)\""])
        try gateway.waitUntilReady()
        let path = "/rpc/get_widget?widget_sn=pre-\(UUID())"
        #expect(try gateway.send("GET", path).status == 404)                       // the call ran: unknown widget
        let blocked = try gateway.send("GET", path, headers: [("X-Block", "yes")])
        #expect(blocked.status == 403)
        #expect((blocked.json as? [String: Any])?["message"] as? String == "blocked by db-pre-request")
        #expect((blocked.json as? [String: Any])?["details"] as? String == "role web_anon")
        let token = "Bearer " + JWTSigner.sign(claims: ["role": "app_user", "sub": "p"], secret: GatewayIdentityTests.secret)
        let asUser = try gateway.send("GET", "/rpc/list_my_vms", headers: [("X-Block", "yes"), ("Authorization", token)])
        #expect((asUser.json as? [String: Any])?["details"] as? String == "role app_user")
    }
}
