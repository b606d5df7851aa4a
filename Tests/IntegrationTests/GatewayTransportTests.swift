import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// The transport side of the gateway, through the real binary: keep-alive, body limit, slow
/// clients, pipelined error isolation, pool timeout, database outages, schema reload, admin port,
/// access log, graceful shutdown, configuration errors.
@Suite
struct GatewayTransportTests {
    /// A gateway whose backends can be told apart in pg_stat_activity.
    private func isolatedGateway(_ settings: [String: String] = [:], name: String = "gw_test_\(UInt32.random(in: 0...UInt32.max))") throws -> (GatewayProcess, String) {
        let uri = GatewayProcess.authenticatorURI + "&application_name=\(name)"
        try GatewayProcess.applyFixtures()
        let gateway = try GatewayProcess(settings: ["db-uri": "\"\(uri)\""].merging(settings) { $1 })
        try gateway.waitUntilReady()
        return (gateway, name)
    }

    /// Waits until a `sleep_for` call of that gateway runs in PostgreSQL (fixed sleeps are too short
    /// on a loaded machine).
    private func waitForSleepingCall(of applicationName: String) throws {
        let database = try TestDatabase.connect()
        let until = Date().addingTimeInterval(10)
        while Date() < until, try database.query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE '%sleep_for%'",
            [applicationName])[0][0] == "0" {
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    @Test func keepAliveConnectionServesSeveralRequests() throws {
        let gateway = try GatewayProcess.shared()
        let fd = try HTTPClient.connect(port: gateway.port)
        defer { close(fd) }
        var pending: [UInt8] = []
        for n in 1...3 {
            try HTTPClient.write(fd, HTTPClient.request(method: "GET", path: "/rpc/add_them?a=\(n)&b=1", body: nil, headers: []))
            var chunk = [UInt8](repeating: 0, count: 4096)
            var parsed: (HTTPClient.Response, Int)?
            while parsed == nil {
                let count = read(fd, &chunk, chunk.count)
                try #require(count > 0, "connection closed after \(n - 1) responses")
                pending += chunk[0..<count]
                parsed = HTTPClient.parse(pending, method: "GET")
            }
            let (response, used) = parsed!
            pending.removeFirst(used)
            #expect(response.status == 200)
            #expect(response.text == "\(n + 1)")
            #expect(response.header("Connection")?.lowercased() != "close")
        }
    }

    @Test func pipelinedRequestsFailIndependently() throws {
        let gateway = try GatewayProcess.shared()
        let results = Mutex<[(Int, Int, String)]>([])
        DispatchQueue.concurrentPerform(iterations: 64) { n in
            let failing = n % 3 == 0
            let path = failing ? "/rpc/raise_exception" : "/rpc/add_them?a=\(n)&b=1000"
            let response = try? HTTPClient.send(port: gateway.port, method: failing ? "POST" : "GET", path: path)
            results.withLock { $0.append((n, response?.status ?? -1, response?.text ?? "")) }
        }
        for (n, status, text) in results.withLock({ $0 }) {
            if n % 3 == 0 {
                #expect(status == 400)
            } else {
                #expect(status == 200)
                #expect(text == "\(n + 1000)")
            }
        }
    }

    @Test func bodyOverTheLimitIs413() throws {
        let (gateway, _) = try isolatedGateway(["db-max-body-bytes": "1000"])
        let big = "{\"x\": \"" + String(repeating: "a", count: 2000) + "\"}"
        let response = try gateway.send("POST", "/rpc/single_json_param", body: big)
        #expect(response.status == 413)
        // Chunked upload without Content-Length: read, dropped, then refused.
        let fd = try HTTPClient.connect(port: gateway.port)
        defer { close(fd) }
        var request = "POST /rpc/single_json_param HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        request += String(big.utf8.count, radix: 16) + "\r\n" + big + "\r\n0\r\n\r\n"
        try HTTPClient.write(fd, Array(request.utf8))
        var buffer: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 4096)
        while case let count = read(fd, &chunk, chunk.count), count > 0 { buffer += chunk[0..<count] }
        #expect(HTTPClient.parse(buffer, method: "POST")?.0.status == 413)
        // Under the limit still works.
        #expect(try gateway.send("POST", "/rpc/single_json_param", body: #"{"small": 1}"#).status == 200)
    }

    @Test func slowClientsAreDisconnected() throws {
        let (gateway, _) = try isolatedGateway(["server-timeout-seconds": "1"])
        let fd = try HTTPClient.connect(port: gateway.port, timeout: 10)
        defer { close(fd) }
        try HTTPClient.write(fd, Array("GET /rpc/hello HTTP/1.1\r\nHost: x\r\n".utf8))   // never finishes the headers
        let started = Date()
        var chunk = [UInt8](repeating: 0, count: 256)
        let count = read(fd, &chunk, chunk.count)
        #expect(count <= 0)
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try gateway.send("GET", "/rpc/hello").status == 200)
    }

    @Test func unreachableDatabaseIs503WithRetryAfter() throws {
        let port = GatewayProcess.freePort()
        let gateway = try GatewayProcess(settings: ["db-uri": "\"postgresql://authenticator@127.0.0.1:\(port)/platform_test\""])
        var response: HTTPClient.Response?
        for _ in 0..<100 {
            response = try? gateway.send("POST", "/rpc/hello")
            if response != nil { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(response?.status == 503)
        #expect(response?.header("Retry-After") != nil)
        #expect((response?.json as? NSDictionary)?["code"] as? String == "PGRST000")
        #expect(try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/ready").status == 503)
        #expect(try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/live").status == 200)
    }

    @Test func servesAgainAfterItsBackendsAreTerminated() throws {
        let (gateway, name) = try isolatedGateway()
        #expect(try gateway.send("GET", "/rpc/add_them?a=1&b=1").text == "2")
        let killed = try TestDatabase.connect().query(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", [name])
        #expect(Int(killed[0][0] ?? "0") ?? 0 >= 2)
        var statuses: [Int] = []
        let until = Date().addingTimeInterval(20)
        while Date() < until {
            let status = (try? gateway.send("GET", "/rpc/add_them?a=1&b=1").status) ?? -1
            statuses.append(status)
            if status == 200 && statuses.count > 1 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(statuses.last == 200, "statuses after termination: \(statuses)")
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 503 }, "\(statuses)")
        // The listener reconnected too: a reload by NOTIFY still works afterwards.
        try gateway.waitUntilReady()
    }

    @Test func poolWaitBeyondTheTimeoutIs504() throws {
        let (gateway, name) = try isolatedGateway(["db-pool": "1", "db-pool-acquisition-timeout": "1"])
        let slow = Mutex<Int>(0)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            let status = (try? gateway.send("POST", "/rpc/sleep_for", body: #"{"seconds": 3}"#).status) ?? -1
            slow.withLock { $0 = status }
        }
        try waitForSleepingCall(of: name)
        let waiting = try gateway.send("GET", "/rpc/hello")
        #expect(waiting.status == 504)
        #expect((waiting.json as? NSDictionary)?["code"] as? String == "PGRST003")
        group.wait()
        #expect(slow.withLock { $0 } == 200)
    }

    @Test func schemaReloadsOnNotifyAndSigusr1() throws {
        // NOTIFY pgrst reaches every gateway listening on the database: on the shared test database it
        // would reload every other suite's gateway too (GatewayIdentityTests counts its reloads). This
        // gateway serves a database of its own, so the NOTIFY reaches it alone.
        let scratch = try ScratchDatabase(prefix: "reload")
        defer { withExtendedLifetime(scratch) {} }
        let database = try scratch.connect()
        try database.execute("CREATE SCHEMA test_reload; GRANT USAGE ON SCHEMA test_reload TO web_anon")
        let uri = GatewayProcess.authenticatorURI(database: scratch.name) + "&application_name=gw_test_\(UInt32.random(in: 0...UInt32.max))"
        let gateway = try GatewayProcess(settings: ["db-uri": "\"\(uri)\"", "db-schemas": "\"test_reload\""])
        defer { gateway.stop() }                          // before the database is dropped
        try gateway.waitUntilReady()
        let suffix = UInt32.random(in: 0...UInt32.max)
        for (index, reload) in ["notify", "signal"].enumerated() {
            let function = "reload_probe_\(suffix)_\(index)"
            try database.execute("""
                CREATE FUNCTION test_reload.\(function)() RETURNS text LANGUAGE sql AS $$ SELECT '\(reload)' $$;
                GRANT EXECUTE ON FUNCTION test_reload.\(function)() TO web_anon;
                """)
            #expect(try gateway.send("POST", "/rpc/\(function)").status == 404)
            if reload == "notify" {
                try database.execute("NOTIFY pgrst, 'reload schema'")
            } else {
                kill(gateway.process.processIdentifier, SIGUSR1)
            }
            var status = 0
            let until = Date().addingTimeInterval(10)
            while Date() < until {
                status = try gateway.send("POST", "/rpc/\(function)").status
                if status == 200 { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            #expect(status == 200, "after \(reload)")
        }
        #expect(try gateway.send("POST", "/rpc/reload_probe_\(suffix)_1").text == #""signal""#)
    }

    @Test func accessLogHasOneLinePerRequest() throws {
        let (gateway, _) = try isolatedGateway()
        _ = try gateway.send("GET", "/rpc/add_them?a=1&b=2")
        _ = try gateway.send("POST", "/rpc/nope")
        Thread.sleep(forTimeInterval: 0.2)
        let log = gateway.log
        #expect(log.contains("GET /rpc/add_them 200 "))
        #expect(log.contains("POST /rpc/nope 404 "))
    }

    @Test func garbageInputNeverCrashesIt() throws {
        let (gateway, _) = try isolatedGateway()
        let inputs: [[UInt8]] = [
            Array("\u{0}\u{1}\u{2} nonsense\r\n\r\n".utf8),
            Array("GET /rpc/hello HTTP/9.9\r\n\r\n".utf8),
            Array(("GET /rpc/hello?" + String(repeating: "a=b&", count: 20_000) + " HTTP/1.1\r\nHost: x\r\n\r\n").utf8),
            Array("POST /rpc/add_them HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n\u{ff}\u{fe}{\"a".utf8),
            Array("POST /rpc/add_them HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".utf8),
            Array("GET /rpc/%ff%00 HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            [0xff, 0xfe, 0x00, 0x0d, 0x0a, 0x0d, 0x0a],
        ]
        for input in inputs {
            let fd = try HTTPClient.connect(port: gateway.port, timeout: 5)
            try? HTTPClient.write(fd, input)
            shutdown(fd, Int32(SHUT_WR))
            var chunk = [UInt8](repeating: 0, count: 4096)
            while read(fd, &chunk, chunk.count) > 0 {}
            close(fd)
        }
        #expect(try gateway.send("POST", "/rpc/add_them", body: #"{"a": 2, "b": 2}"#).text == "4")
        #expect(gateway.process.isRunning)
    }

    @Test func sigtermFinishesRequestsInFlight() throws {
        let (gateway, name) = try isolatedGateway()
        let status = Mutex<Int>(0)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            let result = (try? gateway.send("POST", "/rpc/sleep_for", body: #"{"seconds": 1}"#).status) ?? -1
            status.withLock { $0 = result }
        }
        try waitForSleepingCall(of: name)
        kill(gateway.process.processIdentifier, SIGTERM)
        group.wait()
        #expect(status.withLock { $0 } == 200)
        gateway.process.waitUntilExit()
        #expect(gateway.process.terminationStatus == 0)
        #expect((try? gateway.send("GET", "/rpc/hello")) == nil)
    }

    @Test func invalidConfigurationIsRefusedNamingTheKey() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try GatewayProcess.binary())
        process.environment = ["PGRST_DB_POOL": "lots", "PGRST_DB_URI": GatewayProcess.authenticatorURI]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(output.contains("db-pool") || output.contains("PGRST_DB_POOL"), "\(output)")
    }
}
