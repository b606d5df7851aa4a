import Foundation
import Testing
@testable import GatewayCore

/// Fixtures of the PostgREST-parity suites: schema `test_parity1`, where `web_anon` may
/// execute some functions and `app_user` all of them. Applied once per test run, as superuser.
enum ParityFixtures {
    static let secret = "parity-secret-that-is-at-least-32-characters"

    private static let applied: Result<Void, any Error> = Result {
        try TestDatabase.connect().execute("""
        DROP SCHEMA IF EXISTS test_parity1 CASCADE;
        CREATE SCHEMA test_parity1;
        GRANT USAGE ON SCHEMA test_parity1 TO web_anon, app_user;
        CREATE FUNCTION test_parity1.app_setting(name text) RETURNS text LANGUAGE sql STABLE
          AS $$ SELECT current_setting('app.settings.' || name, true) $$;
        CREATE FUNCTION test_parity1.for_everyone() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
        CREATE FUNCTION test_parity1.for_users() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 2';
        REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA test_parity1 FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION test_parity1.app_setting(text), test_parity1.for_everyone() TO web_anon, app_user;
        GRANT EXECUTE ON FUNCTION test_parity1.for_users() TO app_user;
        CREATE FUNCTION test_parity1.pre_request() RETURNS void LANGUAGE plpgsql STABLE AS $$
          BEGIN
            IF current_setting('request.headers', true)::json->>'x-refuse' IS NOT NULL THEN
              RAISE SQLSTATE 'PT403' USING MESSAGE = 'refused by db-pre-request';
            END IF;
          END $$;
        GRANT EXECUTE ON FUNCTION test_parity1.pre_request() TO web_anon, app_user;
        """)
    }

    /// A gateway serving `test_parity1` (then `test_rpc`) with a JWT secret, plus `settings`.
    static func gateway(_ settings: [String: String] = [:], environment: [String: String] = [:]) throws -> GatewayProcess {
        try GatewayProcess.applyFixtures()
        try applied.get()
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"test_parity1, test_rpc\"", "jwt-secret": "\"\(secret)\""]
                                            .merging(settings) { $1 },
                                         environment: environment)
        try gateway.waitUntilReady()
        return gateway
    }

    /// `Authorization` for a JWT of `role`.
    static func token(role: String) -> (String, String) {
        ("Authorization", "Bearer " + JWTSigner.sign(claims: ["role": role, "exp": Int(Date().timeIntervalSince1970) + 300],
                                                     secret: secret))
    }
}

/// `app.settings.*` reach SQL: PostgREST sets each as a transaction-local setting of every request
/// (docs/references/configuration.rst, "app.settings.*"; src/library/PostgREST/Query/PreQuery.hs,
/// `appSettingsSql`), from the config file or `PGRST_APP_SETTINGS_<NAME>` (Config.hs, `parseAppSettings`).
@Suite(.serialized)
struct GatewayAppSettingsTests {
    let gateway: GatewayProcess

    init() throws {
        gateway = try ParityFixtures.gateway(
            ["app.settings.greeting": "\"hello from the file\"", "app.settings.overridden": "\"file\""],
            environment: ["PGRST_APP_SETTINGS_FROM_ENV": "hello from the environment", "PGRST_APP_SETTINGS_OVERRIDDEN": "environment"])
    }

    func setting(_ name: String, method: String = "GET") throws -> HTTPClient.Response {
        method == "GET" ? try gateway.send("GET", "/rpc/app_setting?name=\(name)")
            : try gateway.send("POST", "/rpc/app_setting", body: #"{"name":"\#(name)"}"#, headers: [("Content-Type", "application/json")])
    }

    @Test func aFileSettingIsReadableWithCurrentSetting() throws {
        let response = try setting("greeting")
        #expect(response.status == 200)
        #expect(response.text == #""hello from the file""#)
        #expect(try setting("greeting", method: "POST").text == #""hello from the file""#)
    }

    @Test func anEnvironmentSettingIsReadableByItsLowerCaseName() throws {
        #expect(try setting("from_env").text == #""hello from the environment""#)
    }

    @Test func theEnvironmentWinsOverTheFile() throws {
        #expect(try setting("overridden").text == #""environment""#)
    }

    @Test func anUnsetNameIsNull() throws {
        #expect(try setting("nothing_here").text == "null")
    }
}

/// `openapi-mode` (docs/references/configuration.rst, "openapi-mode"): under follow-privileges, the
/// default, the document at `/` lists only what the caller's role may use (src/library/PostgREST/
/// MainTx.hs, `OAFollowPriv`: the functions of `accessibleFuncs`, `has_function_privilege(p.oid,
/// 'execute')` in the caller's transaction); ignore-privileges lists every function of the schema;
/// disabled answers 404 PGRST126 (test/spec/Feature/OpenApi/DisabledOpenApiSpec.hs).
@Suite(.serialized)
struct GatewayOpenAPIModeTests {
    static let everyone: Set<String> = ["/rpc/app_setting", "/rpc/for_everyone", "/rpc/pre_request"]
    static let all: Set<String> = everyone.union(["/rpc/for_users"])

    func paths(_ response: HTTPClient.Response) -> Set<String> {
        Set(((response.json as? [String: Any])?["paths"] as? [String: Any])?.keys.map { $0 } ?? [])
    }

    @Test func followPrivilegesListsWhatEachRoleMayExecute() throws {
        let gateway = try ParityFixtures.gateway()
        let anonymous = try gateway.send("GET", "/")
        #expect(anonymous.status == 200)
        #expect(anonymous.header("Content-Type") == "application/openapi+json; charset=utf-8")
        #expect(paths(anonymous) == Self.everyone)
        let user = try gateway.send("GET", "/", headers: [ParityFixtures.token(role: "app_user")])
        #expect(user.status == 200)
        #expect(paths(user) == Self.all)
        // Accept-Profile chooses the schema, as for the root in PostgREST (IgnorePrivOpenApiSpec.hs).
        let other = try gateway.send("GET", "/", headers: [("Accept-Profile", "test_rpc")])
        #expect(paths(other).contains("/rpc/add_them"))
        #expect(!paths(other).contains("/rpc/privileged"))
        let head = try gateway.send("HEAD", "/", headers: [ParityFixtures.token(role: "app_user")])
        #expect(head.status == 200)
        #expect(head.header("Content-Type") == "application/openapi+json; charset=utf-8")
        #expect(head.body.isEmpty)
    }

    @Test func followPrivilegesRefusesWhatEveryRequestRefuses() throws {
        let gateway = try ParityFixtures.gateway()
        let unknownSchema = try gateway.send("GET", "/", headers: [("Accept-Profile", "nope")])
        #expect(unknownSchema.status == 406)
        #expect((unknownSchema.json as? [String: Any])?["code"] as? String == "PGRST106")
        let badToken = try gateway.send("GET", "/", headers: [("Authorization", "Bearer x.y.z")])
        #expect(badToken.status == 401)
        #expect((badToken.json as? [String: Any])?["code"] as? String == "PGRST301")
    }

    @Test func ignorePrivilegesListsEveryFunction() throws {
        let gateway = try ParityFixtures.gateway(["openapi-mode": "\"ignore-privileges\""])
        let anonymous = try gateway.send("GET", "/")
        #expect(anonymous.status == 200)
        #expect(paths(anonymous) == Self.all)
    }

    /// The root runs in the caller's transaction, db-pre-request included (MainTx.hs: `mqPreReq` runs
    /// before `actionResult` for the `InspectPlan` too), in both modes that serve a document.
    @Test(arguments: ["follow-privileges", "ignore-privileges"])
    func preRequestMayRefuseTheDocument(mode: String) throws {
        let gateway = try ParityFixtures.gateway(["openapi-mode": "\"\(mode)\"", "db-pre-request": "\"test_parity1.pre_request\""])
        #expect(try gateway.send("GET", "/").status == 200)
        let refused = try gateway.send("GET", "/", headers: [("X-Refuse", "1")])
        #expect(refused.status == 403)
        #expect((refused.json as? [String: Any])?["message"] as? String == "refused by db-pre-request")
    }

    @Test func disabledIs404PGRST126() throws {
        let gateway = try ParityFixtures.gateway(["openapi-mode": "\"disabled\""])
        let response = try gateway.send("GET", "/", headers: [("Accept", "application/openapi+json")])
        #expect(response.status == 404)
        #expect(response.text == #"{"code":"PGRST126","details":null,"hint":null,"message":"Root endpoint metadata is disabled"}"#)
        #expect(response.header("Content-Length") == "93")
    }
}

/// CORS as PostgREST answers it (docs/references/api/cors.rst; test/spec/Feature/CorsSpec.hs;
/// src/library/PostgREST/Cors.hs over wai-cors): any origin unless `server-cors-allowed-origins`
/// lists some, preflights answered 200 on any path, actual requests given the expose headers.
@Suite(.serialized)
struct GatewayCORSTests {
    static let preflight = [("Accept", "*/*"), ("Origin", "http://example.com"), ("Access-Control-Request-Method", "POST")]

    @Test func anyOriginByDefaultAndAPreflightOnAnyPath() throws {
        let gateway = try ParityFixtures.gateway()
        // CorsSpec "replies naively and permissively to preflight request" (on "/").
        let response = try gateway.send("OPTIONS", "/", headers: Self.preflight + [("Access-Control-Request-Headers", "Foo,Bar")])
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(response.header("Access-Control-Allow-Origin") == "*")
        #expect(response.header("Access-Control-Allow-Credentials") == nil)
        #expect(response.header("Access-Control-Allow-Methods") == "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD")
        #expect(response.header("Access-Control-Allow-Headers") == "Authorization, Foo, Bar, Accept, Accept-Language, Content-Language")
        #expect(response.header("Access-Control-Max-Age") == "86400")
        // cors.rst's example: Content-Type requested.
        let example = try gateway.send("OPTIONS", "/rpc/for_everyone",
                                       headers: Self.preflight + [("Access-Control-Request-Headers", "Content-Type")])
        #expect(example.status == 200)
        #expect(example.header("Access-Control-Allow-Headers") == "Authorization, Content-Type, Accept, Accept-Language, Content-Language")
        #expect(example.header("Allow") == nil)
        // Without Access-Control-Request-Headers there is no Access-Control-Allow-Headers.
        let bare = try gateway.send("OPTIONS", "/rpc/no_such_function", headers: Self.preflight)
        #expect(bare.status == 200)
        #expect(bare.header("Access-Control-Allow-Headers") == nil)
        #expect(bare.header("Access-Control-Max-Age") == "86400")
    }

    @Test func anActualRequestGetsTheExposeHeadersErrorsToo() throws {
        let gateway = try ParityFixtures.gateway()
        // CorsSpec "exposes necesssary response headers to regular request".
        let response = try gateway.send("GET", "/rpc/for_everyone", headers: [("Origin", "http://example.com")])
        #expect(response.status == 200)
        #expect(response.text == "1")
        #expect(response.header("Access-Control-Allow-Origin") == "*")
        #expect(response.header("Access-Control-Expose-Headers")
                == "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, Transfer-Encoding, Range-Unit")
        #expect(response.header("Access-Control-Max-Age") == nil)
        // The middleware wraps the whole application: an error answer carries them as well.
        let missing = try gateway.send("GET", "/rpc/no_such_function", headers: [("Origin", "http://example.com")])
        #expect(missing.status == 404)
        #expect(missing.header("Access-Control-Allow-Origin") == "*")
        // Without Origin: no CORS headers.
        let plain = try gateway.send("GET", "/rpc/for_everyone")
        #expect(plain.header("Access-Control-Allow-Origin") == nil)
        #expect(plain.header("Access-Control-Expose-Headers") == nil)
    }

    @Test func anOptionsRequestThatIsNoPreflightIsAnsweredAsUsual() throws {
        let gateway = try ParityFixtures.gateway()
        // CorsSpec "allows INFO body through even with CORS request headers present": no
        // Access-Control-Request-Method, so the function's OPTIONS answer (Allow), not a preflight.
        for headers in [[("Origin", "http://localhost:8000"), ("Accept", "text/csv, */*; q=0.01")], [("Accept", "application/json")]] {
            let response = try gateway.send("OPTIONS", "/rpc/for_everyone", headers: headers)
            #expect(response.status == 200)
            #expect(response.header("Access-Control-Allow-Origin") == "*")
            #expect(response.header("Allow") == "OPTIONS,GET,HEAD,POST")
            #expect(response.header("Access-Control-Allow-Methods") == nil)
        }
        // A method wai-cors does not know is no preflight either.
        let unknown = try gateway.send("OPTIONS", "/rpc/for_everyone",
                                       headers: [("Origin", "http://example.com"), ("Access-Control-Request-Method", "TRACE")])
        #expect(unknown.header("Allow") == "OPTIONS,GET,HEAD,POST")
        #expect(unknown.header("Access-Control-Allow-Methods") == nil)
    }

    @Test func allowedOriginsAreEchoedWithCredentialsOthersGetNothing() throws {
        let gateway = try ParityFixtures.gateway(["server-cors-allowed-origins": "\"http://example.com, http://example2.com\""])
        // CorsSpec "test preflight/non-preflight request and cors server allowed config".
        let preflight = try gateway.send("OPTIONS", "/rpc/for_everyone",
                                         headers: Self.preflight + [("Access-Control-Request-Headers", "Content-Type")])
        #expect(preflight.status == 200)
        #expect(preflight.header("Access-Control-Allow-Origin") == "http://example.com")
        #expect(preflight.header("Access-Control-Allow-Credentials") == "true")
        let second = try gateway.send("GET", "/rpc/for_everyone", headers: [("Accept", "*/*"), ("Origin", "http://example2.com")])
        #expect(second.status == 200)
        #expect(second.header("Access-Control-Allow-Origin") == "http://example2.com")
        let other = try gateway.send("GET", "/rpc/for_everyone", headers: [("Accept", "*/*"), ("Origin", "http://invalid.com")])
        #expect(other.status == 200)
        #expect(other.header("Access-Control-Allow-Origin") == nil)
        #expect(other.header("Access-Control-Expose-Headers") == nil)
        // A preflight from an origin not allowed is answered as a plain OPTIONS request.
        let refused = try gateway.send("OPTIONS", "/rpc/for_everyone",
                                       headers: [("Origin", "http://invalid.com"), ("Access-Control-Request-Method", "POST")])
        #expect(refused.header("Access-Control-Allow-Methods") == nil)
        #expect(refused.header("Allow") == "OPTIONS,GET,HEAD,POST")
    }

    @Test func theServersOwnRefusalsCarryThemToo() throws {
        // The middleware wraps everything PostgREST answers, so a browser can read why a request
        // failed: a body over `db-max-body-bytes`, refused before the pipeline, too (413).
        let gateway = try ParityFixtures.gateway(["db-max-body-bytes": "100"])
        let big = "{\"x\": \"" + String(repeating: "a", count: 500) + "\"}"
        let refused = try gateway.send("POST", "/rpc/for_everyone", body: big, headers: [("Origin", "http://example.com")])
        #expect(refused.status == 413)
        #expect(refused.header("Access-Control-Allow-Origin") == "*")
        #expect(refused.header("Access-Control-Expose-Headers")?.hasPrefix("Content-Encoding") == true)
        let plain = try gateway.send("POST", "/rpc/for_everyone", body: big)
        #expect(plain.status == 413)
        #expect(plain.header("Access-Control-Allow-Origin") == nil)
    }

    @Test func anEmptyListAllowsEveryOrigin() throws {
        let gateway = try ParityFixtures.gateway(["server-cors-allowed-origins": "\"\""])
        // CorsSpec "OPTIONS preflight request should allow all origins when config is not set or empty".
        let response = try gateway.send("OPTIONS", "/rpc/for_everyone",
                                        headers: [("Accept", "*/*"), ("Origin", "http://anyorigin.com"),
                                                  ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "Content-Type")])
        #expect(response.status == 200)
        #expect(response.header("Access-Control-Allow-Origin") == "*")
        #expect(response.header("Access-Control-Allow-Methods")?.contains("POST") == true)
    }
}
