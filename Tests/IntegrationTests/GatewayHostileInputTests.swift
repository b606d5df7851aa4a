import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// Hostile input through the real gateway binary: malformed, truncated, huge, deeply nested
/// and invalid UTF-8 bodies, header floods, slow clients, attempts to reach other schemas and to inject
/// SQL through function names, argument keys and values. Each gets a 4xx (a JSON error where the
/// gateway answers; MHD's own 4xx for what never becomes a request), nothing hangs or crashes, and a
/// canary table the payloads try to drop is still there with its row afterwards.
@Suite(.serialized)
struct GatewayHostileInputTests {
    static let secret = "hostile-input-secret-that-is-long-enough-\(UInt32.random(in: 0...UInt32.max))"
    static let bodyLimit = 1_048_576
    let gateway: GatewayProcess

    init() throws {
        try GatewayProcess.applyFixtures()
        try Self.prepareCanary()
        gateway = try GatewayProcess(settings: [
            "db-max-body-bytes": "\(Self.bodyLimit)",
            "server-timeout-seconds": "2",
            "jwt-secret": "\"\(Self.secret)\"",
        ])
        try gateway.waitUntilReady()
    }

    // MARK: The canary

    /// A table the injection payloads name, with one row; created once, never written by the gateway.
    static func prepareCanary() throws {
        try TestDatabase.connect().execute("""
            CREATE TABLE IF NOT EXISTS test_rpc.hostile_canary (id integer PRIMARY KEY, note text NOT NULL);
            INSERT INTO test_rpc.hostile_canary VALUES (1, 'still here') ON CONFLICT DO NOTHING;
            GRANT SELECT ON test_rpc.hostile_canary TO web_anon;
            """)
    }

    /// The canary's rows and whether the fixtures' items table and the widgets schema still exist.
    func fingerprint() throws -> [String?] {
        try TestDatabase.connect().query("""
            SELECT (SELECT string_agg(id || ':' || note, ',') FROM test_rpc.hostile_canary),
                   to_regclass('test_rpc.items')::text, to_regclass('widgets.widgets')::text,
                   (SELECT count(*) FROM pg_proc WHERE proname = 'add_them' AND pronamespace = 'test_rpc'::regnamespace)::text
            """)[0]
    }

    /// Runs `body`, then checks the database looks exactly as before.
    func changesNothing(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try fingerprint()
        #expect(before[0] == "1:still here", sourceLocation: sourceLocation)
        try body()
        #expect(try fingerprint() == before, sourceLocation: sourceLocation)
        #expect(gateway.process.isRunning, sourceLocation: sourceLocation)
    }

    // MARK: Helpers

    func post(_ path: String, _ body: [UInt8], headers: [(String, String)] = [("Content-Type", "application/json")]) throws -> HTTPClient.Response {
        try HTTPClient.send(port: gateway.port, method: "POST", path: path, body: body, headers: headers)
    }

    func post(_ path: String, _ body: String, headers: [(String, String)] = [("Content-Type", "application/json")]) throws -> HTTPClient.Response {
        try post(path, Array(body.utf8), headers: headers)
    }

    func code(_ response: HTTPClient.Response) -> String? {
        (response.json as? [String: Any])?["code"] as? String
    }

    /// A 4xx with the JSON error body `{"code","message","details","hint"}`.
    func expectJSONError(_ response: HTTPClient.Response, _ status: Int, _ code: String? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == status, "\(response.status) \(response.text.prefix(300))", sourceLocation: sourceLocation)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8", sourceLocation: sourceLocation)
        let body = response.json as? [String: Any]
        #expect(body.map { Set($0.keys) } == ["code", "message", "details", "hint"], "\(response.text.prefix(300))",
                sourceLocation: sourceLocation)
        if let code { #expect(self.code(response) == code, "\(response.text.prefix(300))", sourceLocation: sourceLocation) }
    }

    func token(role: String, sub: String? = nil) -> String {
        var claims: [String: Any] = ["role": role, "exp": Int(Date().timeIntervalSince1970) + 300]
        if let sub { claims["sub"] = sub }
        return JWTSigner.sign(claims: claims, secret: Self.secret)
    }

    /// Still serving normally.
    func expectHealthy(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let response = try post("/rpc/add_them", #"{"a": 20, "b": 22}"#)
        #expect(response.status == 200 && response.text == "42", "\(response.status) \(response.text)", sourceLocation: sourceLocation)
    }

    // MARK: Bodies

    @Test func malformedAndTruncatedJSONIs400PGRST102() throws {
        let bodies = [
            "{", "}", "[", "{\"a\": 1,}", "{'a': 1}", "{a: 1}", "nonsense", "{\"a\": 1} trailing", "{\"a\": 1}{\"b\": 2}",
            "{\"a\": NaN, \"b\": 1}", "{\"a\": 01, \"b\": 1}", "{\"a\": 1e, \"b\": 1}", "{\"a\": \"\\x41\"}", "{\"a\": \"unterminated}",
            "{\"a\": 2, \"b\": ", "{\"a\": 2, \"b\"", "{\"a\": [1, 2", "{\"a\": tru", "\u{FEFF}{\"a\": 1}", "{\"a\":\u{0}1}",
        ]
        try changesNothing {
            for body in bodies {
                let response = try post("/rpc/add_them", body)
                expectJSONError(response, 400, "PGRST102")
                #expect((response.json as? [String: Any])?["message"] as? String == "Empty or invalid json", "\(body)")
            }
            // A body that says it is longer than it is: the gateway waits for the rest, then times out.
            let truncated = "POST /rpc/add_them HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"a\": 1, \"b\""
            let (response, _, seconds) = try HTTPClient.exchange(port: gateway.port, bytes: Array(truncated.utf8), closeWrite: false)
            #expect(response == nil || (400..<500).contains(response!.status))
            #expect(seconds < 8, "a truncated body is dropped after the server timeout (\(seconds) s)")
            try expectHealthy()
        }
    }

    @Test func hugeBodiesAre413() throws {
        try changesNothing {
            // Declared too large: refused before a byte of the body is read.
            let head = "POST /rpc/single_json_param HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n"
            let (declared, _, _) = try HTTPClient.exchange(port: gateway.port, bytes: Array(head.utf8), closeWrite: false)
            #expect(declared.map { $0.status } == 413)
            #expect(declared.flatMap { code($0) } == "PGRST102")
            // Just over the limit, sent whole.
            let over = "{\"x\": \"" + String(repeating: "a", count: Self.bodyLimit) + "\"}"
            let response = try post("/rpc/single_json_param", over)
            expectJSONError(response, 413)
            // Chunked, without Content-Length, far over the limit: dropped, then 413 or cut off.
            var chunked = "POST /rpc/single_json_param HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            let piece = String(repeating: "b", count: 32_768)
            for _ in 0..<(Self.bodyLimit / piece.utf8.count + 8) { chunked += String(piece.utf8.count, radix: 16) + "\r\n" + piece + "\r\n" }
            chunked += "0\r\n\r\n"
            let (streamed, _, _) = try HTTPClient.exchange(port: gateway.port, bytes: Array(chunked.utf8))
            #expect(streamed == nil || streamed!.status == 413)
            try expectHealthy()
        }
    }

    @Test func deepNestingIs400NotACrash() throws {
        try changesNothing {
            let deep = String(repeating: "[", count: 100_000)
            expectJSONError(try post("/rpc/single_json_param", deep), 400, "PGRST102")
            expectJSONError(try post("/rpc/single_json_param", deep + String(repeating: "]", count: 100_000)), 400, "PGRST102")
            let objects = String(repeating: "{\"a\":", count: 50_000) + "1" + String(repeating: "}", count: 50_000)
            expectJSONError(try post("/rpc/single_jsonb_param", objects), 400, "PGRST102")
            expectJSONError(try post("/rpc/add_them", "{\"a\": " + deep + ", \"b\": 1}"), 400, "PGRST102")
            // Array arguments nested deeper than PostgreSQL's 6 dimensions: 400 (PostgreSQL's 54000 is a 500).
            let seven = String(repeating: "%7B", count: 7) + "1" + String(repeating: "%7D", count: 7)
            expectJSONError(try gateway.send("GET", "/rpc/sum_array?arr=" + seven), 400, "54000")
            let sevenJSON = String(repeating: "[", count: 7) + "1" + String(repeating: "]", count: 7)
            expectJSONError(try post("/rpc/sum_array", "{\"arr\": \(sevenJSON)}"), 400, "54000")
            expectJSONError(try post("/rpc/sum_array", "{\"arr\": \"{{{{{{{1}}}}}}}\"}"), 400, "54000")
            let deepJSON = String(repeating: "[", count: 200) + "1" + String(repeating: "]", count: 200)
            expectJSONError(try post("/rpc/sum_array", "{\"arr\": \(deepJSON)}"), 400, "54000")
            #expect(try post("/rpc/sum_array", #"{"arr": [[[[[[1]]]]]]}"#).text == "1", "six dimensions are fine")
            #expect(try post("/rpc/sum_array", #"{"arr": ["{{{{{{{1"]}"#).status == 400, "braces inside an element are data")
            let thousands = String(repeating: "%7B", count: 10_000) + "1" + String(repeating: "%7D", count: 10_000)
            let array = try gateway.send("GET", "/rpc/sum_array?arr=" + thousands)
            #expect((400..<500).contains(array.status), "\(array.status) \(array.text.prefix(200))")
            // Moderate nesting is still fine.
            let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
            #expect(try post("/rpc/single_jsonb_param", fine).status == 200)
            try expectHealthy()
        }
    }

    @Test func invalidUTF8IsRefused() throws {
        try changesNothing {
            // In a JSON body, inside a string and as a key.
            let value: [UInt8] = Array(#"{"name": ""#.utf8) + [0xC3, 0x28, 0xFF] + Array(#""}"#.utf8)
            expectJSONError(try post("/rpc/add_item", value), 400, "PGRST102")
            let key: [UInt8] = Array(#"{""#.utf8) + [0xFE, 0xFF] + Array(#"": 1}"#.utf8)
            expectJSONError(try post("/rpc/add_them", key), 400, "PGRST102")
            // Overlong encoding and a lone surrogate written as UTF-8 bytes.
            expectJSONError(try post("/rpc/add_item", Array(#"{"name": ""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8)), 400, "PGRST102")
            expectJSONError(try post("/rpc/add_item", Array(#"{"name": ""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8)), 400, "PGRST102")
            // Percent-encoded in the function name and in query and form values.
            expectJSONError(try gateway.send("GET", "/rpc/add_them%FF%FE?a=1&b=2"), 404, "PGRST202")
            expectJSONError(try gateway.send("GET", "/rpc/add_them?a=%FF&b=2"), 400, "22021")
            expectJSONError(try gateway.send("GET", "/rpc/hello?%C3%28=1"), 400, "22021")
            expectJSONError(try post("/rpc/add_item", "name=%C3%28%FF", headers: [("Content-Type", "application/x-www-form-urlencoded")]), 400, "22021")
            expectJSONError(try post("/rpc/add_item", Array("name=".utf8) + [0xC3, 0x28], headers: [("Content-Type", "application/x-www-form-urlencoded")]), 400, "22021")
            #expect(try TestDatabase.connect().query("SELECT count(*) FROM test_rpc.items WHERE name LIKE '%' || chr(65533) || '%'")[0][0] == "0",
                    "no item was stored with a replacement character")
            // Raw (not percent-encoded) bytes in the request line: treated as escaped ones.
            let raw: [UInt8] = Array("GET /rpc/add_them?a=".utf8) + [0xFF, 0xFE] + Array("&b=1 HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            let rawQuery = try #require(try HTTPClient.exchange(port: gateway.port, bytes: raw).response)
            expectJSONError(rawQuery, 400, "22021")
            let rawPath: [UInt8] = Array("GET /rpc/add_them".utf8) + [0xC3, 0x28] + Array("?a=1&b=1 HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            let rawFunction = try #require(try HTTPClient.exchange(port: gateway.port, bytes: rawPath).response)
            expectJSONError(rawFunction, 404, "PGRST202")
            let rawForm = try post("/rpc/add_item", Array("name=".utf8) + [0xFF], headers: [("Content-Type", "application/x-www-form-urlencoded")])
            expectJSONError(rawForm, 400, "22021")
            try expectHealthy()
        }
    }

    // MARK: Headers and slow clients

    @Test func headerFloodsAreRefusedNotHung() throws {
        try changesNothing {
            // Many headers.
            var many = "GET /rpc/hello HTTP/1.1\r\nHost: x\r\n"
            for n in 0..<10_000 { many += "X-Flood-\(n): \(String(repeating: "v", count: 40))\r\n" }
            many += "\r\n"
            let (flood, _, floodSeconds) = try HTTPClient.exchange(port: gateway.port, bytes: Array(many.utf8))
            #expect(flood.map { [400, 413, 431].contains($0.status) } ?? true, "\(flood?.status ?? 0)")
            #expect(floodSeconds < 5)
            // One huge header.
            let huge = "GET /rpc/hello HTTP/1.1\r\nHost: x\r\nX-Huge: \(String(repeating: "h", count: 1_000_000))\r\n\r\n"
            let (big, _, bigSeconds) = try HTTPClient.exchange(port: gateway.port, bytes: Array(huge.utf8))
            #expect(big.map { [400, 413, 431].contains($0.status) } ?? true, "\(big?.status ?? 0)")
            #expect(bigSeconds < 5)
            // A huge URL.
            let url = "GET /rpc/hello?" + String(repeating: "q", count: 1_000_000) + " HTTP/1.1\r\nHost: x\r\n\r\n"
            let (long, _, longSeconds) = try HTTPClient.exchange(port: gateway.port, bytes: Array(url.utf8))
            #expect(long.map { [400, 413, 414, 431].contains($0.status) } ?? true, "\(long?.status ?? 0)")
            #expect(longSeconds < 5)
            // Headers that fit are fine, and the gateway still answers.
            let fine = try gateway.send("GET", "/rpc/hello", headers: (0..<50).map { ("X-Fine-\($0)", "value") })
            #expect(fine.status == 200)
            try expectHealthy()
        }
    }

    @Test func slowClientsNeitherBlockOthersNorStayForever() throws {
        // Its own gateway with a longer timeout, so "served while the stalled ones are still open"
        // holds on a busy machine too.
        let timeout = 5.0
        let slow = try GatewayProcess(settings: ["server-timeout-seconds": "\(Int(timeout))"])
        try slow.waitUntilReady()
        try changesNothing {
            // Thirty clients each send half a request and stall (headers unfinished, or a body short of
            // its Content-Length).
            var stalled: [Int32] = []
            defer { stalled.forEach { close($0) } }
            let opened = Date()
            for n in 0..<30 {
                let fd = try HTTPClient.connect(port: slow.port, timeout: 20)
                let half = n % 2 == 0
                    ? "POST /rpc/add_them HTTP/1.1\r\nHost: x\r\nContent-Type: appl"
                    : "POST /rpc/add_them HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\": 1"
                try HTTPClient.write(fd, Array(half.utf8))
                stalled.append(fd)
            }
            // Meanwhile everyone else is served, long before the stalled ones time out.
            for n in 0..<10 {
                let response = try slow.send("POST", "/rpc/add_them", body: "{\"a\": \(n), \"b\": 1}", headers: [("Content-Type", "application/json")])
                #expect(response.status == 200 && response.text == "\(n + 1)")
            }
            let served = Date().timeIntervalSince(opened)
            #expect(served < timeout, "other clients were held up by the stalled ones (\(served) s)")
            // The stalled connections are closed by the server after server-timeout-seconds.
            for fd in stalled {
                let received = HTTPClient.readAll(fd)
                let status = HTTPClient.parse(received, method: "POST")?.0.status
                #expect(status == nil || (400..<500).contains(status!), "\(status ?? 0)")
            }
            let closed = Date().timeIntervalSince(opened)
            #expect(closed >= timeout - 1 && closed < timeout + 10, "stalled connections closed after \(closed) s")
            #expect(try slow.send("GET", "/rpc/hello").status == 200)
            #expect(slow.process.isRunning)
        }
    }

    // MARK: Other schemas

    @Test func otherSchemasAreOutOfReach() throws {
        try changesNothing {
            for path in ["/rpc/pg_catalog.pg_sleep", "/rpc/pg_sleep", "/rpc/widgets._something", "/rpc/widgets.widgets",
                         "/rpc/api.add_widget", "/rpc/vms._new_private_key", "/rpc/%22pg_catalog%22.%22pg_sleep%22",
                         "/rpc/auth.current_user_id", "/rpc/compute._test_advance_clock", "/rpc/..%2Fpg_sleep",
                         "/rpc/public.pg_sleep", "/rpc/current_user", "/rpc/set_config"] {
                let post = try self.post(path, #"{"seconds": 5}"#)
                expectJSONError(post, 404, "PGRST202")
                let get = try gateway.send("GET", path + "?seconds=5")
                expectJSONError(get, 404, "PGRST202")
            }
            // Path tricks that are not /rpc/<one segment>.
            for path in ["/rpc/../pg_sleep", "/rpc/a/b", "/pg_catalog/pg_sleep", "/rpc//pg_sleep", "/rpc/"] {
                let response = try gateway.send("GET", path)
                #expect((400..<500).contains(response.status), "\(path): \(response.status)")
            }
            // Accept-Profile / Content-Profile naming a schema that is not exposed: 406 PGRST106, as PostgREST.
            for schema in ["pg_catalog", "widgets", "vms", "auth", "public", "information_schema", "api\"; DROP TABLE test_rpc.hostile_canary; --", ""] {
                let read = try gateway.send("GET", "/rpc/hello", headers: [("Accept-Profile", schema)])
                expectJSONError(read, 406, "PGRST106")
                #expect((read.json as? [String: Any])?["message"] as? String == "Invalid schema: \(schema)")
                #expect((read.json as? [String: Any])?["hint"] as? String == "Only the following schemas are exposed: test_rpc, api")
                let write = try self.post("/rpc/add_them", #"{"a": 1, "b": 2}"#,
                                          headers: [("Content-Type", "application/json"), ("Content-Profile", schema)])
                expectJSONError(write, 406, "PGRST106")
            }
            // The exposed ones still work.
            #expect(try gateway.send("GET", "/rpc/hello", headers: [("Accept-Profile", "test_rpc")]).status == 200)
            #expect(try gateway.send("GET", "/rpc/get_widget?widget_sn=no-such-widget", headers: [("Accept-Profile", "api")]).status == 404)
        }
    }

    // MARK: SQL injection

    @Test func sqlInjectionThroughFunctionNamesChangesNothing() throws {
        try changesNothing {
            let names = [
                "add_them;DROP TABLE test_rpc.hostile_canary",
                "add_them%3BDROP%20TABLE%20test_rpc.hostile_canary%3B--",
                "add_them%22%3B%20DROP%20TABLE%20test_rpc.hostile_canary%3B%20--",
                "hello()%3B%20DROP%20TABLE%20test_rpc.hostile_canary",
                "hello'--", "hello%27%20OR%20%271%27%3D%271", "%22hello%22", "HELLO", "hello%00", "hello%20",
                "pg_terminate_backend", "add_them(1,2)",
            ]
            for name in names {
                expectJSONError(try post("/rpc/\(name)", #"{"a": 1, "b": 2}"#), 404, "PGRST202")
                expectJSONError(try gateway.send("GET", "/rpc/\(name)?a=1&b=2"), 404, "PGRST202")
            }
        }
    }

    @Test func sqlInjectionThroughArgumentKeysChangesNothing() throws {
        try changesNothing {
            let keys = [
                #"a\"; DROP TABLE test_rpc.hostile_canary; --"#,
                "a); DROP TABLE test_rpc.hostile_canary; --",
                "a := 1, b := 2); DROP TABLE test_rpc.hostile_canary; --",
                "a' OR '1'='1", "\\\"a\\\"", "A", "a ", "a\\u0000",
                "serial_number\\\"; DROP TABLE test_rpc.hostile_canary; --",
            ]
            for key in keys {
                let response = try post("/rpc/add_them", "{\"\(key)\": 1, \"b\": 2}")
                expectJSONError(response, 404, "PGRST202")
                let query = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? key
                expectJSONError(try gateway.send("GET", "/rpc/add_them?\(query)=1&b=2"), 404, "PGRST202")
            }
            // In the api schema, the same injection through an argument key of a real function.
            let widget = try post("/rpc/get_widget", #"{"serial_number\"; DROP TABLE widgets.widgets; --": 1}"#,
                                  headers: [("Content-Type", "application/json"), ("Content-Profile", "api")])
            expectJSONError(widget, 404, "PGRST202")
        }
    }

    @Test func sqlInjectionThroughValuesChangesNothing() throws {
        try changesNothing {
            // Typed arguments: the value is data for the parameter's type, and not valid data.
            let values = [
                #""1; DROP TABLE test_rpc.hostile_canary; --""#, #""1); DROP TABLE test_rpc.hostile_canary; --""#,
                #""1 OR 1=1""#, #""(SELECT 1)""#, #""1'; DROP TABLE test_rpc.hostile_canary; --""#, #""$1""#,
                #""1::integer); DROP TABLE test_rpc.hostile_canary; --""#,
            ]
            for value in values {
                expectJSONError(try post("/rpc/add_them", "{\"a\": \(value), \"b\": 2}"), 400, "22P02")
                let query = value.dropFirst().dropLast().addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                expectJSONError(try gateway.send("GET", "/rpc/add_them?a=\(query)&b=2"), 400, "22P02")
            }
            expectJSONError(try post("/rpc/sum_array", #"{"arr": ["1", "2); DROP TABLE test_rpc.hostile_canary; --"]}"#), 400, "22P02")
            expectJSONError(try gateway.send("GET", "/rpc/sum_array?arr=%7B1%2C2%7D%29%3B%20DROP%20TABLE%20test_rpc.hostile_canary%3B--"), 400, "22P02")
            // Text arguments: quotes and semicolons are just characters. A lookup finds nothing (404) ...
            let lookup = try gateway.send("GET", "/rpc/get_widget?widget_sn=x%27%3B%20DROP%20TABLE%20widgets.widgets%3B%20--",
                                          headers: [("Accept-Profile", "api")])
            expectJSONError(lookup, 404, "PT404")
            // ... and a writer stores them verbatim, as data.
            let name = "x'); DROP TABLE test_rpc.hostile_canary; -- \"\\; \(UUID())"
            let stored = try post("/rpc/add_item", "{\"name\": \(JSONText.quoted(name))}")
            #expect(stored.status == 200, "\(stored.text)")
            #expect(try TestDatabase.connect().query("SELECT count(*) FROM test_rpc.items WHERE name = $1", [name])[0][0] == "1")
        }
    }

    @Test func sqlInjectionThroughTheTokenRoleChangesNothing() throws {
        try changesNothing {
            for role in ["web_anon; DROP TABLE test_rpc.hostile_canary", "web_anon\"; DROP TABLE test_rpc.hostile_canary; --",
                         "postgres", "platform_owner", "pg_read_server_files", "' OR '1'='1"] {
                let response = try gateway.send("GET", "/rpc/hello", headers: [("Authorization", "Bearer \(token(role: role))")])
                #expect([401, 403].contains(response.status), "\(role): \(response.status) \(response.text)")
                expectJSONError(response, response.status)
            }
        }
    }

    // MARK: The OpenAPI document states what hostile input gets

    @Test func openAPIDocumentsErrorsAndNullableResults() throws {
        let document = try #require(try gateway.send("GET", "/").json as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let addThem = try #require((paths["/rpc/add_them"] as? [String: Any])?["post"] as? [String: Any])
        let responses = try #require(addThem["responses"] as? [String: Any])
        #expect((responses["4XX"] as? [String: Any])?["$ref"] as? String == "#/components/responses/Error")
        #expect((responses["503"] as? [String: Any])?["$ref"] as? String == "#/components/responses/Unavailable")
        let success = try #require(((responses["200"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any])
        #expect((success["schema"] as? [String: Any])?["type"] as? [String] == ["integer", "null"])
    }
}
