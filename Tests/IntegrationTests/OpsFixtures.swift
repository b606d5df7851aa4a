import Foundation
@testable import GatewayCore

/// Fixtures of the operations suites (configuration reload, schema cache, log-query, Proxy-Status, unix socket): schemas `test_ops` and `test_ops2`, applied
/// once per test run as superuser; a client for HTTP over a unix socket; polling and config-file edits.
enum OpsFixtures {
    private static let applied: Result<Void, any Error> = Result {
        try TestDatabase.connect().execute("""
        DROP SCHEMA IF EXISTS test_ops CASCADE;
        DROP SCHEMA IF EXISTS test_ops2 CASCADE;
        CREATE SCHEMA test_ops;
        CREATE SCHEMA test_ops2;
        GRANT USAGE ON SCHEMA test_ops, test_ops2 TO web_anon, app_user;
        CREATE TYPE test_ops.pair AS (a integer, b text);
        CREATE FUNCTION test_ops.add_them(a integer, b integer DEFAULT 2) RETURNS integer
          LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
        COMMENT ON FUNCTION test_ops.add_them(integer, integer) IS 'Adds two numbers';
        CREATE FUNCTION test_ops.pairs(VARIADIC names text[]) RETURNS SETOF test_ops.pair
          LANGUAGE sql STABLE SET statement_timeout = '5s'
          AS $$ SELECT i::integer, n FROM unnest(names) WITH ORDINALITY AS t(n, i) $$;
        CREATE FUNCTION test_ops.divide(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT a / b';
        CREATE FUNCTION test_ops.custom_error() RETURNS void LANGUAGE plpgsql AS $$
          BEGIN
            RAISE SQLSTATE 'PGRST' USING MESSAGE = '{"code":"123","message":"ABC","details":"DEF","hint":"XYZ"}',
                                         DETAIL = '{"status":332,"headers":{"X-Header":"str"}}';
          END $$;
        CREATE FUNCTION test_ops.slow(seconds double precision) RETURNS text LANGUAGE sql VOLATILE
          AS $$ SELECT pg_sleep(seconds)::text || 'slept' $$;
        CREATE FUNCTION test_ops2.only_in_second() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'second' $$;
        -- db-pre-config (configuration.rst, "In-Database Configuration"): exposes test_ops2.
        CREATE FUNCTION test_ops.pre_config() RETURNS void LANGUAGE sql
          AS $$ SELECT set_config('pgrst.db_schemas', 'test_ops2', true) $$;
        REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA test_ops, test_ops2 FROM PUBLIC;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test_ops, test_ops2 TO web_anon, app_user;
        """)
    }

    static let secret = "ops-secret-that-is-at-least-32-characters-long"

    /// A gateway serving `test_ops` (unless `settings` say otherwise), ready.
    static func gateway(_ settings: [String: String] = [:]) throws -> GatewayProcess {
        try GatewayProcess.applyFixtures()
        try applied.get()
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"test_ops\""].merging(settings) { $1 })
        try gateway.waitUntilReady()
        return gateway
    }

    /// Applies the fixtures without starting a gateway.
    static func apply() throws { try applied.get() }

    /// `Authorization` for a web_anon JWT signed with `secret`.
    static func token(secret: String) -> (String, String) {
        ("Authorization", "Bearer " + JWTSigner.sign(claims: ["role": "web_anon", "exp": Int(Date().timeIntervalSince1970) + 300],
                                                     secret: secret))
    }

    /// True once `check` is, polled every 50 ms for up to `seconds`.
    static func eventually(_ seconds: Double = 10, _ check: () throws -> Bool) -> Bool {
        let until = Date().addingTimeInterval(seconds)
        repeat {
            if (try? check()) == true { return true }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < until
        return false
    }

    /// Rewrites the gateway's config file with `changes` (`key: value as written`; nil removes the key).
    static func edit(_ gateway: GatewayProcess, _ changes: [String: String?]) throws {
        var lines = try String(contentsOfFile: gateway.configPath, encoding: .utf8).split(separator: "\n").map(String.init)
        for (key, value) in changes {
            lines.removeAll { $0.hasPrefix(key + " =") }
            if let value { lines.append("\(key) = \(value)") }
        }
        try lines.joined(separator: "\n").write(toFile: gateway.configPath, atomically: true, encoding: .utf8)
    }

    /// One request over the unix socket at `path` (HTTP/1.1, `Connection: close`).
    static func send(socket path: String, _ method: String, _ target: String) throws -> HTTPClient.Response {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else { throw HTTPClient.Failure(message: "connect to \(path) failed (errno \(errno))") }
        var limit = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        try HTTPClient.write(fd, HTTPClient.request(method: method, path: target, body: nil, headers: [("Connection", "close")]))
        guard let (response, _) = HTTPClient.parse(HTTPClient.readAll(fd), method: method) else {
            throw HTTPClient.Failure(message: "no complete HTTP response on \(path)")
        }
        return response
    }
}
