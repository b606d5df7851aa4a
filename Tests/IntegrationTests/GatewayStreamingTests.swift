import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// Streamed results through the real gateway: a set-returning function's rows go out chunked as
/// PostgreSQL produces them once the answer passes 256 KiB (JSON arrays and `application/jsonl`),
/// small answers stay as they were (Content-Length, Content-Range, json_agg's bytes), an error after
/// the head cuts the body short, a client that does not read holds the gateway's memory bounded, a
/// client that leaves frees its connection at once, and a stream holds up no other request.
@Suite(.serialized)
struct GatewayStreamingTests {
    private static let fixtures: Result<Void, any Error> = Result {
        _ = try TestDatabase.connect().execute(#"""
            DROP SCHEMA IF EXISTS test_stream CASCADE;
            CREATE SCHEMA test_stream;
            GRANT USAGE ON SCHEMA test_stream TO web_anon;
            -- SQL functions PostgreSQL inlines into the query: their rows are sent as they are made.
            CREATE FUNCTION test_stream.rows(n int, width int DEFAULT 100) RETURNS TABLE(id int, pad text)
              LANGUAGE sql STABLE AS $$ SELECT g, repeat('x', width) FROM generate_series(1, n) g $$;
            CREATE FUNCTION test_stream.numbers(n int) RETURNS SETOF int
              LANGUAGE sql STABLE AS $$ SELECT g FROM generate_series(1, n) g $$;
            CREATE FUNCTION test_stream.pairs(n int) RETURNS SETOF int[]
              LANGUAGE sql STABLE AS $$ SELECT CASE WHEN g = 2 THEN NULL ELSE ARRAY[g, g] END FROM generate_series(1, n) g $$;
            CREATE FUNCTION test_stream.sparse(n int) RETURNS TABLE(id int, note text)
              LANGUAGE sql STABLE AS $$ SELECT g, CASE WHEN g % 2 = 0 THEN 'even' END FROM generate_series(1, n) g $$;
            -- Fails at row n + 1 (division by zero), after n rows were sent.
            CREATE FUNCTION test_stream.fail_after(n int) RETURNS TABLE(id int, pad text)
              LANGUAGE sql STABLE AS $$ SELECT g, repeat('x', 100) || (1 / (n + 1 - g))::text FROM generate_series(1, n + 1) g $$;
            -- plpgsql: runs to its end before its first row is sent; sets the status and a header.
            CREATE FUNCTION test_stream.teapots(n int) RETURNS SETOF int LANGUAGE plpgsql STABLE AS $$
            BEGIN
              PERFORM set_config('response.status', '218', true);
              PERFORM set_config('response.headers', '[{"X-Teapots": "many"}]', true);
              RETURN QUERY SELECT g FROM generate_series(1, n) g;
            END $$;
            -- Volatile: writes its rows, then returns them (POST only; committed at the end of the call).
            CREATE TABLE test_stream.written(batch text, id int);
            GRANT SELECT, INSERT ON test_stream.written TO web_anon;
            CREATE FUNCTION test_stream.write_rows(batch text, n int) RETURNS SETOF test_stream.written LANGUAGE sql AS $$
              INSERT INTO test_stream.written SELECT batch, g FROM generate_series(1, n) g RETURNING * $$;
            CREATE FUNCTION test_stream.one(n int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT n $$;
            CREATE FUNCTION test_stream.nap(seconds float8) RETURNS int LANGUAGE sql STABLE AS $$ SELECT 1 FROM pg_sleep(seconds) $$;
            GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test_stream TO web_anon;
            """#)
    }

    private static func gateway(_ settings: [String: String] = [:]) throws -> GatewayProcess {
        try fixtures.get()
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"test_stream\""].merging(settings) { $1 })
        try gateway.waitUntilReady()
        return gateway
    }

    private static let shared: Result<GatewayProcess, any Error> = Result { try gateway() }

    // MARK: Small answers are as before

    @Test func smallResultsKeepContentLengthRangeAndAggregateBytes() throws {
        let gateway = try Self.shared.get()
        let database = try TestDatabase.connect()
        let cases: [(String, String, String?)] = [
            ("/rpc/numbers?n=3", "SELECT json_agg(x)::text FROM test_stream.numbers(3) x", nil),
            ("/rpc/rows?n=3&width=2", "SELECT json_agg(r)::text FROM test_stream.rows(3, 2) r", nil),
            ("/rpc/pairs?n=3", "SELECT json_agg(x)::text FROM test_stream.pairs(3) x", nil),
            ("/rpc/sparse?n=4", "SELECT json_strip_nulls(json_agg(r))::text FROM test_stream.sparse(4) r",
             "application/vnd.pgrst.array+json;nulls=stripped"),
        ]
        for (path, sql, accept) in cases {
            let response = try gateway.send("GET", path, headers: accept.map { [("Accept", $0)] } ?? [])
            let expected = try database.query(sql).first?.first ?? nil
            #expect(response.status == 200, "\(path): \(response.text)")
            #expect(response.text == expected, "\(path)")
            #expect(response.header("Content-Length") == String(response.body.count), "\(path)")
            #expect(response.header("Transfer-Encoding") == nil, "\(path)")
        }
        let three = try gateway.send("GET", "/rpc/numbers?n=3")
        #expect(three.header("Content-Range") == "0-2/*")
        let page = try gateway.send("GET", "/rpc/numbers?n=10&offset=4&limit=3")
        #expect(page.text == "[5, 6, 7]")
        #expect(page.header("Content-Range") == "4-6/*")
        let empty = try gateway.send("GET", "/rpc/numbers?n=0")
        #expect(empty.text == "[]")
        #expect(empty.header("Content-Range") == "*/*")
        // plpgsql: the function's status and headers (read after its rows, as before).
        let teapots = try gateway.send("GET", "/rpc/teapots?n=2")
        #expect(teapots.status == 218)
        #expect(teapots.header("X-Teapots") == "many")
        #expect(teapots.text == "[1, 2]")
    }

    // MARK: JSON lines

    @Test func jsonLinesGiveOneValuePerLine() throws {
        let gateway = try Self.shared.get()
        let lines = [("Accept", "application/jsonl")]
        let rows = try gateway.send("GET", "/rpc/rows?n=10&width=1&select=id&id=gt.7&order=id.desc", headers: lines)
        #expect(rows.status == 200)
        #expect(rows.header("Content-Type") == "application/jsonl; charset=utf-8")
        #expect(rows.text == "{\"id\":10}\n{\"id\":9}\n{\"id\":8}\n")
        #expect(rows.header("Content-Range") == "0-2/*")
        let numbers = try gateway.send("GET", "/rpc/numbers?n=3&limit=2", headers: lines)
        #expect(numbers.text == "1\n2\n")
        let none = try gateway.send("GET", "/rpc/numbers?n=0", headers: lines)
        #expect(none.status == 200)
        #expect(none.body.isEmpty)
        let single = try gateway.send("GET", "/rpc/one?n=7", headers: lines)
        #expect(single.text == "7\n")
        // Counted (not streamed) answers take the aggregate's path and give the same lines.
        let counted = try gateway.send("GET", "/rpc/numbers?n=3", headers: lines + [("Prefer", "count=exact")])
        #expect(counted.text == "1\n2\n3\n")
        #expect(counted.header("Content-Range") == "0-2/3")
        // Other spellings are not offered.
        let ndjson = try gateway.send("GET", "/rpc/numbers?n=3", headers: [("Accept", "application/x-ndjson")])
        #expect(ndjson.status == 406)
    }

    @Test func theOpenAPIDocumentOffersJSONLines() throws {
        let gateway = try Self.shared.get()
        let document = try gateway.send("GET", "/")
        #expect(document.status == 200)
        #expect(document.text.contains("application/jsonl"))
    }

    // MARK: Big answers stream

    @Test func aBigSetArrivesCompleteAsAChunkedJSONArray() throws {
        let gateway = try Self.shared.get()
        let response = try gateway.send("GET", "/rpc/rows?n=300000")   // about 33 MB
        #expect(response.status == 200)
        #expect(response.header("Transfer-Encoding") == "chunked")
        #expect(response.header("Content-Length") == nil)
        #expect(response.header("Content-Range") == nil)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        let (body, complete) = Chunked.decode(response.body)
        #expect(complete)
        let rows = try JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]]
        #expect(rows?.count == 300_000)
        #expect(rows?.first?["id"] as? Int == 1)
        #expect(rows?.last?["id"] as? Int == 300_000)
        #expect((rows?.last?["pad"] as? String)?.count == 100)
        // The same bytes json_agg gives (its separators included), only sent in pieces.
        let small = try TestDatabase.connect().query("SELECT json_agg(r)::text FROM test_stream.rows(3) r").first?.first ?? nil
        #expect(body.starts(with: Array(small!.dropLast().utf8)))
    }

    @Test func streamedAnswersAreTheAggregatesBytes() throws {
        let gateway = try Self.shared.get()
        let database = try TestDatabase.connect()
        let cases: [(String, String, String?)] = [
            ("/rpc/rows?n=5000", "SELECT json_agg(r)::text FROM test_stream.rows(5000) r", nil),
            ("/rpc/pairs?n=40000", "SELECT json_agg(x)::text FROM test_stream.pairs(40000) x", nil),
            ("/rpc/numbers?n=100000", "SELECT json_agg(x)::text FROM test_stream.numbers(100000) x", nil),
            ("/rpc/sparse?n=40000", "SELECT json_strip_nulls(json_agg(r))::text FROM test_stream.sparse(40000) r",
             "application/vnd.pgrst.array+json;nulls=stripped"),
            ("/rpc/sparse?n=40000", "SELECT string_agg(to_json(r)::text || E'\\n', '') FROM test_stream.sparse(40000) r",
             "application/jsonl"),
        ]
        for (path, sql, accept) in cases {
            let response = try gateway.send("GET", path, headers: accept.map { [("Accept", $0)] } ?? [])
            let expected = try database.query(sql).first?.first ?? nil
            #expect(response.header("Transfer-Encoding") == "chunked", "\(path)")
            let (body, complete) = Chunked.decode(response.body)
            #expect(complete, "\(path)")
            #expect(body.count > StreamedCall.threshold, "\(path)")
            #expect(String(decoding: body, as: UTF8.self) == expected, "\(path) \(accept ?? "")")
        }
    }

    @Test func aBigSetArrivesCompleteAsChunkedJSONLines() throws {
        let gateway = try Self.shared.get()
        let response = try gateway.send("GET", "/rpc/rows?n=200000&width=150&select=id,pad&id=gt.10",
                                        headers: [("Accept", "application/jsonl")])
        #expect(response.status == 200)
        #expect(response.header("Transfer-Encoding") == "chunked")
        #expect(response.header("Content-Type") == "application/jsonl; charset=utf-8")
        let (body, complete) = Chunked.decode(response.body)
        #expect(complete)
        #expect(body.last == 0x0A)
        let lines = body.split(separator: 0x0A)
        #expect(lines.count == 199_990)
        let first = try JSONSerialization.jsonObject(with: Data(lines.first!)) as? [String: Any]
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!)) as? [String: Any]
        #expect(first?["id"] as? Int == 11)
        #expect(last?["id"] as? Int == 200_000)
    }

    @Test func aStreamedPlpgsqlFunctionKeepsItsStatusAndHeaders() throws {
        let gateway = try Self.shared.get()
        let response = try gateway.send("GET", "/rpc/teapots?n=100000")
        #expect(response.status == 218)
        #expect(response.header("X-Teapots") == "many")
        #expect(response.header("Transfer-Encoding") == "chunked")
        let (body, complete) = Chunked.decode(response.body)
        #expect(complete)
        #expect((try JSONSerialization.jsonObject(with: Data(body)) as? [Int])?.count == 100_000)
    }

    @Test func anErrorAfterTheHeadCutsTheBodyShort() throws {
        let gateway = try Self.shared.get()
        let response = try gateway.send("GET", "/rpc/fail_after?n=100000")
        #expect(response.status == 200)
        #expect(response.header("Transfer-Encoding") == "chunked")
        let (body, complete) = Chunked.decode(response.body)
        #expect(!complete, "the terminating chunk came after an error")
        #expect(body.count > StreamedCall.threshold)
        #expect((try? JSONSerialization.jsonObject(with: Data(body))) == nil, "the cut body parsed as JSON")
        // Before the head, the same error is an ordinary error answer.
        let early = try gateway.send("GET", "/rpc/fail_after?n=10")
        #expect(early.status == 400)
        #expect((early.json as? [String: Any])?["code"] as? String == "22012")
        // And the gateway serves on.
        #expect(try gateway.send("GET", "/rpc/numbers?n=2").text == "[1, 2]")
    }

    @Test func aWritingCallStreamsAndCommitsOnlyWhenItsAnswerWasWhollySent() throws {
        let gateway = try Self.shared.get()
        let database = try TestDatabase.connect()
        func written(_ batch: String) throws -> String? { try database.query("SELECT count(*)::text FROM test_stream.written WHERE batch = $1", [batch]).first?.first ?? nil }
        let whole = UUID().uuidString, cut = UUID().uuidString
        let response = try gateway.send("POST", "/rpc/write_rows", body: #"{"batch": "\#(whole)", "n": 100000}"#,
                                        headers: [("Content-Type", "application/json")])
        #expect(response.status == 200)
        #expect(response.header("Transfer-Encoding") == "chunked")
        let (body, complete) = Chunked.decode(response.body)
        #expect(complete)
        #expect((try JSONSerialization.jsonObject(with: Data(body)) as? [Any])?.count == 100_000)
        #expect(try written(whole) == "100000")
        // A client leaving mid-stream: the call's transaction never commits.
        let fd = try HTTPClient.connect(port: gateway.port, timeout: 30)
        try HTTPClient.write(fd, HTTPClient.request(method: "POST", path: "/rpc/write_rows",
                                                    body: Array(#"{"batch": "\#(cut)", "n": 300000}"#.utf8),
                                                    headers: [("Content-Type", "application/json")]))
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var received = 0
        while received < 1 << 20, case let count = read(fd, &chunk, chunk.count), count > 0 { received += count }
        close(fd)
        #expect(received >= 1 << 20)
        Thread.sleep(forTimeInterval: 1)
        #expect(try written(cut) == "0")
    }

    // MARK: Bounded memory, clients that leave, no hostages

    @Test func aClientThatDoesNotReadKeepsTheGatewaysMemoryBounded() throws {
        let gateway = try Self.gateway(["db-pool": "1", "server-threads": "1"])
        let pid = gateway.process.processIdentifier
        _ = try gateway.send("GET", "/rpc/rows?n=1000")   // warm up
        let before = try Memory.rss(pid)
        let fd = try HTTPClient.connect(port: gateway.port, timeout: 60)
        defer { close(fd) }
        // About 66 MB: far more than the sockets' buffers hold (a few MB) while the client does not read.
        // web_anon's statement_timeout (5 s) bounds a stream a slow client reads too: this one asks for more.
        try HTTPClient.write(fd, HTTPClient.request(method: "GET", path: "/rpc/rows?n=600000", body: nil,
                                                    headers: [("Connection", "close"), ("Prefer", "timeout=30")]))
        Thread.sleep(forTimeInterval: 2)
        var peak = try Memory.rss(pid)
        // Then read it all, slowly at first, sampling the gateway's memory.
        var received = 0
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var reads = 0
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            received += count
            reads += 1
            if reads < 50 { Thread.sleep(forTimeInterval: 0.01) }
            if reads % 64 == 0 { peak = max(peak, try Memory.rss(pid)) }
        }
        #expect(received > 60_000_000)
        let growth = peak - before
        print("GatewayStreamingTests: RSS \(before >> 10) KiB before, \(peak >> 10) KiB at most for \(received) bytes")
        #expect(growth < 24 << 20, "the gateway's RSS grew \(growth >> 10) KiB for a 66 MB answer")
    }

    @Test func aClientLeavingMidStreamFreesItsConnectionAtOnce() throws {
        let gateway = try Self.gateway(["db-pool": "1", "server-threads": "1"])
        let fd = try HTTPClient.connect(port: gateway.port, timeout: 30)
        try HTTPClient.write(fd, HTTPClient.request(method: "GET", path: "/rpc/rows?n=10000000", body: nil, headers: []))  // about 1 GB
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var received = 0
        while received < 2 << 20, case let count = read(fd, &chunk, chunk.count), count > 0 { received += count }
        #expect(received >= 2 << 20)
        close(fd)
        // The single connection answers the next request at once.
        let started = Date()
        let next = try gateway.send("GET", "/rpc/numbers?n=3")
        #expect(next.text == "[1, 2, 3]")
        #expect(Date().timeIntervalSince(started) < 2)
        // Nothing of the call runs on in PostgreSQL, and the pool has no busy connection left.
        let database = try TestDatabase.connect()
        var running = -1
        for _ in 0..<50 {
            let count = try database.query("""
                SELECT count(*) FROM pg_stat_activity
                WHERE state <> 'idle' AND query LIKE '%test_stream"."rows"%' AND pid <> pg_backend_pid()
                """).first?.first ?? nil
            running = count.flatMap { Int($0) } ?? -1
            if running == 0 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(running == 0)
        let metrics = try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/metrics").text
        #expect(metrics.contains(#"gateway_db_pool_connections_in_use{pool="primary"} 0"#), "\(metrics)")
        #expect(try gateway.send("GET", "/rpc/numbers?n=2").text == "[1, 2]")
    }

    @Test func aGracefulShutdownLetsARunningStreamFinish() throws {
        let gateway = try Self.gateway()
        let fd = try HTTPClient.connect(port: gateway.port, timeout: 30)
        defer { close(fd) }
        try HTTPClient.write(fd, HTTPClient.request(method: "GET", path: "/rpc/rows?n=200000", body: nil, headers: [("Connection", "close")]))
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while received.count < 1 << 20, case let count = read(fd, &chunk, chunk.count), count > 0 { received += chunk[0..<count] }
        kill(gateway.process.processIdentifier, SIGTERM)
        received += HTTPClient.readAll(fd)
        let response = HTTPClient.parse(received, method: "GET")?.0
        #expect(response?.header("Transfer-Encoding") == "chunked")
        let (body, complete) = Chunked.decode(response?.body ?? [])
        #expect(complete)
        #expect((try? JSONSerialization.jsonObject(with: Data(body)) as? [Any])??.count == 200_000)
        for _ in 0..<100 where gateway.process.isRunning { Thread.sleep(forTimeInterval: 0.1) }
        #expect(!gateway.process.isRunning)
    }

    @Test func aSlowStreamHoldsUpNoOtherRequest() throws {
        // Two connections, each able to carry eight requests at once: the stream has one to itself.
        let gateway = try Self.gateway(["db-pool": "2", "server-threads": "1", "db-pool-pipeline-depth": "8"])
        let fd = try HTTPClient.connect(port: gateway.port, timeout: 30)
        defer { close(fd) }
        var size = Int32(16 << 10)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        // A deadline beyond web_anon's 5 s: the stream stays paused, not cut off, while the others run.
        try HTTPClient.write(fd, HTTPClient.request(method: "GET", path: "/rpc/rows?n=2000000", body: nil,
                                                    headers: [("Prefer", "timeout=30")]))
        var head = [UInt8](repeating: 0, count: 4096)
        #expect(read(fd, &head, head.count) > 0)   // streaming, and then not read: paused
        let answers = Mutex<[Int]>([])
        let group = DispatchGroup()
        let started = Date()
        for _ in 0..<6 {
            group.enter()
            Thread.detachNewThread {
                let status = (try? HTTPClient.send(port: gateway.port, method: "GET", path: "/rpc/nap?seconds=0.2", timeout: 10))?.status ?? -1
                answers.withLock { $0.append(status) }
                group.leave()
            }
        }
        group.wait()
        #expect(answers.withLock { $0 } == Array(repeating: 200, count: 6))
        #expect(Date().timeIntervalSince(started) < 5)
    }
}

/// Chunked transfer coding, decoded.
enum Chunked {
    /// The body's bytes, and whether the terminating (zero-size) chunk came.
    static func decode(_ bytes: [UInt8]) -> (body: [UInt8], complete: Bool) {
        var body: [UInt8] = []
        body.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            guard let lineEnd = (index..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }),
                  let size = Int(String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";").first ?? "", radix: 16)
            else { return (body, false) }
            if size == 0 { return (body, true) }
            let start = lineEnd + 2
            guard start + size <= bytes.count else { body += bytes[start...]; return (body, false) }
            body += bytes[start..<start + size]
            index = start + size + 2
        }
        return (body, false)
    }
}

/// A process's resident memory.
enum Memory {
    static func rss(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else {
            throw HTTPClient.Failure(message: "no VmRSS for \(pid)")
        }
        return kib << 10
    }
}
