import Foundation
import Testing
@testable import GatewayCore

/// Read scaling through the real gateway and a real streaming standby of the test cluster
/// (`PLATFORM_TEST_STANDBY_URI`: superuser URI of the test database on the standby, which
/// `make test` creates with scripts/standby.sh). Proves that GET calls of STABLE functions are
/// answered by the standby (a write held back from it by pausing WAL replay is missing from the
/// answer), that writes and VOLATILE calls stay on the primary, that reads fall back to the primary
/// while the standby is unreachable, and that the read pool reconnects by itself.
@Suite(.serialized) struct GatewayReadScalingTests {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// The standby's superuser URI; a missing one fails the test (it must not pass untested).
    static func standbyURI() throws -> String {
        guard let uri = ProcessInfo.processInfo.environment["PLATFORM_TEST_STANDBY_URI"], !uri.isEmpty else {
            throw Failure(description: """
                PLATFORM_TEST_STANDBY_URI is not set: the read-scaling tests need a streaming standby of the test \
                cluster. `make test` creates one; by hand: STANDBY_DIR=.data/standby-test STANDBY_PORT=55439 \
                bash scripts/standby.sh create, then export \
                PLATFORM_TEST_STANDBY_URI="postgresql://postgres@/<test db>?host=$PWD/.data/run&port=55439"
                """)
        }
        return uri
    }

    /// A superuser connection to the test database on the standby, checked to be one.
    static func connectStandby() throws -> PGConnection {
        let standby = try PGConnection(try standbyURI())
        let primaryName = try TestDatabase.connect().query("SELECT current_database()")[0][0]
        let row = try standby.query("SELECT pg_is_in_recovery()::text, current_database()")[0]
        guard row[0] == "true" else { throw Failure(description: "PLATFORM_TEST_STANDBY_URI is not a standby (pg_is_in_recovery() is false)") }
        guard row[1] == primaryName else {
            throw Failure(description: "PLATFORM_TEST_STANDBY_URI names database \(row[1] ?? "?"), the tests use \(primaryName ?? "?")")
        }
        return standby
    }

    /// The gateway's read URI: the authenticator on the standby, with an application_name of its own
    /// so the test finds exactly this gateway's read connections in pg_stat_activity.
    static func readURI(applicationName: String) throws -> String {
        let uri = try standbyURI().replacingOccurrences(of: "://postgres@", with: "://authenticator@")
        return uri + (uri.contains("?") ? "&" : "?") + "application_name=\(applicationName)"
    }

    static func gateway(readURI: String) throws -> GatewayProcess {
        let gateway = try GatewayProcess(settings: [
            "db-uri-read": "\"\(readURI)\"", "db-pool-read": "2", "db-schemas": "\"api\"",
        ])
        try gateway.waitUntilReady()
        return gateway
    }

    /// The pool named in the response's Server-Timing (`pool;desc=read`).
    static func pool(_ response: HTTPClient.Response) -> String? {
        guard let timing = response.header("Server-Timing"), let range = timing.range(of: "pool;desc=") else { return nil }
        return String(timing[range.upperBound...].prefix { $0.isLetter })
    }

    static func waitFor(_ what: String, timeout: Double = 15, _ condition: () throws -> Bool) throws {
        let until = Date().addingTimeInterval(timeout)
        while Date() < until {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw Failure(description: "timed out after \(timeout) s waiting for \(what)")
    }

    static func readConnections(_ standby: PGConnection, _ applicationName: String) throws -> [String] {
        try standby.query("SELECT pid::text FROM pg_stat_activity WHERE application_name = $1 AND usename = 'authenticator' ORDER BY pid",
                          [applicationName]).map { $0[0] ?? "" }
    }

    static func metric(_ gateway: GatewayProcess, _ series: String) throws -> Double {
        let text = try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/metrics").text
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(series + " ") }),
              let value = Double(line.split(separator: " ").last ?? "") else { return 0 }
        return value
    }

    static func serial() -> String { "RS-" + UUID().uuidString.prefix(8) }

    @Test func readsOfStableFunctionsAreServedByTheStandby() throws {
        let standby = try Self.connectStandby()
        let name = "gw-read-" + UUID().uuidString.prefix(8).lowercased()
        let gateway = try Self.gateway(readURI: try Self.readURI(applicationName: name))
        defer { gateway.stop() }
        // Its read pool (db-pool-read = 2) is connected to the standby as the authenticator.
        try Self.waitFor("2 read connections on the standby") { try Self.readConnections(standby, name).count == 2 }

        // Hold replay on the standby, then write on the primary: a read answered by the standby
        // cannot see the write; one answered by the primary would.
        let sn = Self.serial()
        try standby.query("SELECT pg_wal_replay_pause()")
        defer { _ = try? standby.query("SELECT pg_wal_replay_resume()") }
        try Self.waitFor("replay paused") { try standby.query("SELECT pg_get_wal_replay_pause_state()")[0][0] == "paused" }
        let added = try gateway.send("POST", "/rpc/add_widget", body: #"{"widget_sn":"\#(sn)","widget_name":"read scaling","slots":["P"]}"#,
                                     headers: [("Content-Type", "application/json")])
        #expect(added.status == 204, "\(added.text)")
        #expect(Self.pool(added) == "primary")
        let onPrimary = try TestDatabase.connect().query("SELECT count(*)::text FROM widgets.widgets WHERE serial_number = $1", [sn])
        #expect(onPrimary[0][0] == "1")

        let stale = try gateway.send("GET", "/rpc/get_widget?widget_sn=\(sn)")
        #expect(stale.status == 404, "the standby has not replayed the write yet: \(stale.text)")
        #expect(Self.pool(stale) == "read", "\(stale.header("Server-Timing") ?? "no Server-Timing")")
        let head = try gateway.send("HEAD", "/rpc/get_widget?widget_sn=\(sn)")
        #expect(head.status == 404)
        #expect(Self.pool(head) == "read")

        // Replay resumes: the same read, still on the standby, now sees the widget.
        try standby.query("SELECT pg_wal_replay_resume()")
        var fresh: HTTPClient.Response?
        try Self.waitFor("the standby to replay the write") {
            fresh = try gateway.send("GET", "/rpc/get_widget?widget_sn=\(sn)")
            return fresh?.status == 200
        }
        #expect(Self.pool(fresh!) == "read")
        #expect(fresh!.text.contains(#""serial_number": "\#(sn)""#), "\(fresh!.text)")
        #expect(try Self.metric(gateway, #"gateway_db_pool_calls_total{pool="read"}"#) >= 3)
        #expect(try Self.metric(gateway, #"gateway_db_pool_connections_open{pool="read"}"#) == 2)
        #expect(try Self.metric(gateway, #"gateway_db_read_fallbacks_total{reason="unavailable"}"#) == 0)
    }

    @Test func writesAndVolatileCallsStayOnThePrimary() throws {
        _ = try Self.connectStandby()
        let gateway = try Self.gateway(readURI: try Self.readURI(applicationName: "gw-read-writes"))
        defer { gateway.stop() }
        let sn = Self.serial()
        let added = try gateway.send("POST", "/rpc/add_widget", body: #"{"widget_sn":"\#(sn)","widget_name":"w","slots":["R"]}"#,
                                     headers: [("Content-Type", "application/json")])
        #expect(added.status == 204)
        #expect(Self.pool(added) == "primary")
        // POST of a STABLE function: the primary (it reads its own writes at once).
        let posted = try gateway.send("POST", "/rpc/get_widget", body: #"{"widget_sn":"\#(sn)"}"#,
                                      headers: [("Content-Type", "application/json")])
        #expect(posted.status == 200, "\(posted.text)")
        #expect(Self.pool(posted) == "primary")
        // GET of a VOLATILE function: READ ONLY on the primary, which refuses the write (405).
        let removed = try gateway.send("GET", "/rpc/remove_widget?widget_sn=\(sn)")
        #expect(removed.status == 405, "\(removed.text)")
        #expect(Self.pool(removed) == "primary")
        let still = try TestDatabase.connect().query("SELECT count(*)::text FROM widgets.widgets WHERE serial_number = $1", [sn])
        #expect(still[0][0] == "1")
    }

    @Test func withoutReadURIReadsStayOnThePrimary() throws {
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\""])
        defer { gateway.stop() }
        try gateway.waitUntilReady()
        let response = try gateway.send("GET", "/rpc/get_widget?widget_sn=\(Self.serial())")
        #expect(response.status == 404)
        #expect(Self.pool(response) == "primary")
        let metrics = try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/metrics").text
        #expect(!metrics.contains(#"pool="read""#))
    }

    @Test func readsFallBackToThePrimaryWhileTheStandbyIsUnreachable() throws {
        // Nothing listens on this port: the read pool never connects, reads are still answered.
        let port = GatewayProcess.freePort()
        let gateway = try Self.gateway(readURI: "postgresql://authenticator@127.0.0.1:\(port)/postgres?connect_timeout=1")
        defer { gateway.stop() }
        let sn = Self.serial()
        let added = try gateway.send("POST", "/rpc/add_widget", body: #"{"widget_sn":"\#(sn)","widget_name":"f","slots":["P"]}"#,
                                     headers: [("Content-Type", "application/json")])
        #expect(added.status == 204)
        for _ in 0..<3 {
            let read = try gateway.send("GET", "/rpc/get_widget?widget_sn=\(sn)")
            #expect(read.status == 200, "\(read.text)")
            #expect(Self.pool(read) == "primary")
        }
        #expect(try Self.metric(gateway, #"gateway_db_read_fallbacks_total{reason="unavailable"}"#) >= 3)
        #expect(try Self.metric(gateway, #"gateway_db_pool_connections_open{pool="read"}"#) == 0)
        try Self.waitFor("the log to say so") {
            gateway.log.contains("read pool unavailable") && gateway.log.contains("read pool: database connection failed")
        }
    }

    @Test func theReadPoolReconnectsByItself() throws {
        let standby = try Self.connectStandby()
        let name = "gw-read-" + UUID().uuidString.prefix(8).lowercased()
        let gateway = try Self.gateway(readURI: try Self.readURI(applicationName: name))
        defer { gateway.stop() }
        let sn = Self.serial()
        let added = try gateway.send("POST", "/rpc/add_widget", body: #"{"widget_sn":"\#(sn)","widget_name":"r","slots":["P"]}"#,
                                     headers: [("Content-Type", "application/json")])
        #expect(added.status == 204)
        try Self.waitFor("the read to be served by the standby") {
            let read = try gateway.send("GET", "/rpc/get_widget?widget_sn=\(sn)")
            return read.status == 200 && Self.pool(read) == "read"
        }
        try Self.waitFor("2 read connections on the standby") { try Self.readConnections(standby, name).count == 2 }
        let before = try Self.readConnections(standby, name)
        func fallbacks() throws -> Double {
            try Self.metric(gateway, #"gateway_db_read_fallbacks_total{reason="unavailable"}"#)
                + Self.metric(gateway, #"gateway_db_read_fallbacks_total{reason="retried"}"#)
        }
        let fallbacksBefore = try fallbacks()

        // The standby drops the read pool's connections (as on a standby restart): every read is still
        // answered (by the primary meanwhile), and the pool is back on the standby with new backends.
        _ = try standby.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [name])
        var servedByPrimary = 0
        try Self.waitFor("the read pool to reconnect") {
            let read = try gateway.send("GET", "/rpc/get_widget?widget_sn=\(sn)")
            #expect(read.status == 200, "\(read.text)")
            if Self.pool(read) == "primary" { servedByPrimary += 1 }
            let now = try Self.readConnections(standby, name)
            return Self.pool(read) == "read" && now.count == 2 && Set(now).isDisjoint(with: before)
        }
        #expect(try Self.metric(gateway, #"gateway_db_pool_connections_open{pool="read"}"#) == 2)
        #expect(try fallbacks() - fallbacksBefore == Double(servedByPrimary))
    }

    /// A multi-host `db-uri` whose first host is the standby: libpq connects there, finds it read-only
    /// (target_session_attrs=read-write), closes that socket and opens one to the primary mid-handshake,
    /// usually with the same descriptor number. The event loop must watch the new socket (regression:
    /// it waited forever on the closed one, so the gateway never became ready; make faults' restarts too).
    @Test func multiHostURIFindsThePrimaryBehindAStandby() throws {
        func parts(_ uri: String) throws -> (host: String, port: String, database: String) {
            let components = try #require(URLComponents(string: uri))
            let items = components.queryItems ?? []
            return (try #require(items.first { $0.name == "host" }?.value), try #require(items.first { $0.name == "port" }?.value),
                    String(components.path.dropFirst()))
        }
        _ = try Self.connectStandby()
        let standby = try parts(try Self.standbyURI()), primary = try parts(TestDatabase.uri())
        let uri = "postgresql://authenticator@/\(primary.database)?host=\(standby.host),\(primary.host)"
            + "&port=\(standby.port),\(primary.port)&target_session_attrs=read-write"
        let gateway = try GatewayProcess(settings: ["db-uri": "\"\(uri)\"", "db-schemas": "\"api\"", "db-pool": "4"])
        try gateway.waitUntilReady()
        let sn = "multihost-\(UInt32.random(in: 0...UInt32.max))"
        let added = try gateway.send("POST", "/rpc/add_widget", body: #"{"widget_sn": "\#(sn)", "widget_name": "m", "slots": ["P"]}"#,
                                     headers: [("Content-Type", "application/json")])
        #expect(added.status == 204, "\(added.status) \(added.text)")
        #expect(try TestDatabase.connect().query("SELECT count(*)::text FROM widgets.widgets WHERE serial_number = $1", [sn]) == [["1"]])
    }
}
