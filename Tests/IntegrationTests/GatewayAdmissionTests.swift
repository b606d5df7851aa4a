import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// Admission control through the real binary: with one connection and a waiting line of two, a
/// burst of slow calls beyond them is refused at once (503, Retry-After, PostgREST's error body,
/// counted in /metrics) while the admitted calls complete.
@Suite struct GatewayAdmissionTests {
    @Test func aBurstBeyondTheWaitingLineGets503AtOnce() throws {
        try GatewayProcess.applyFixtures()
        let gateway = try GatewayProcess(settings: ["db-pool": "1", "db-pool-max-waiting": "2", "db-pool-max-wait-ms": "0",
                                                    "db-pool-acquisition-timeout": "30"])
        try gateway.waitUntilReady()
        let burst = 10, admitted = 3   // 1 on the connection + 2 waiting
        // Every request is written before any answer can come (each call sleeps 1 s).
        let sockets = try (0..<burst).map { _ in try HTTPClient.connect(port: gateway.port, timeout: 30) }
        defer { sockets.forEach { close($0) } }
        let request = HTTPClient.request(method: "POST", path: "/rpc/sleep_for", body: Array(#"{"seconds": 1}"#.utf8),
                                         headers: [("Content-Type", "application/json")])
        let sent = Date()
        for fd in sockets { try HTTPClient.write(fd, request) }
        let answers = Mutex<[(response: HTTPClient.Response?, seconds: Double)]>([])
        let group = DispatchGroup()
        for fd in sockets {
            group.enter()
            Thread.detachNewThread {
                var buffer: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 4096)
                var parsed: HTTPClient.Response?
                while parsed == nil, case let count = read(fd, &chunk, chunk.count), count > 0 {
                    buffer += chunk[0..<count]
                    parsed = HTTPClient.parse(buffer, method: "POST")?.0
                }
                let seconds = Date().timeIntervalSince(sent)
                answers.withLock { $0.append((parsed, seconds)) }
                group.leave()
            }
        }
        group.wait()
        let all = answers.withLock { $0 }
        let refused = all.filter { $0.response?.status == 503 }
        let served = all.filter { $0.response?.status == 200 }
        #expect(served.count == admitted, "\(all.map { ($0.response?.status ?? -1, $0.seconds) })")
        #expect(refused.count == burst - admitted, "\(all.map { ($0.response?.status ?? -1, $0.seconds) })")
        for answer in refused {
            #expect(answer.seconds < 0.8, "refused after \(answer.seconds) s: it waited instead")
            #expect(answer.response?.header("Retry-After") == "1")
            #expect(answer.response?.header("Content-Type") == "application/json; charset=utf-8")
            let body = answer.response?.json as? [String: Any]
            #expect(body.map { Set($0.keys) } == ["code", "message", "details", "hint"])
            #expect(body?["code"] as? String == "PGRST003")
        }
        // The admitted calls ran one after another on the single connection.
        #expect(served.map(\.seconds).max() ?? 0 >= 2.5)
        let metrics = try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/metrics").text
        #expect(metrics.contains(#"gateway_requests_rejected_total{pool="primary"} \#(burst - admitted)"#), "\(metrics)")
        // And it serves as before once the burst is over.
        #expect(try gateway.send("GET", "/rpc/add_them?a=1&b=2").text == "3")
    }

    @Test func newcomersAreRefusedWhileTheOldestWaitingRequestWaitsTooLong() throws {
        try GatewayProcess.applyFixtures()
        let gateway = try GatewayProcess(settings: ["db-pool": "1", "db-pool-max-waiting": "100", "db-pool-max-wait-ms": "200"])
        try gateway.waitUntilReady()
        let body = Array(#"{"seconds": 1.5}"#.utf8)
        let request = HTTPClient.request(method: "POST", path: "/rpc/sleep_for", body: body, headers: [("Content-Type", "application/json")])
        // One call runs, one waits behind it; the line is then stuck for over a second.
        let running = try HTTPClient.connect(port: gateway.port), waiting = try HTTPClient.connect(port: gateway.port)
        defer { close(running); close(waiting) }
        try HTTPClient.write(running, request)
        Thread.sleep(forTimeInterval: 0.1)
        try HTTPClient.write(waiting, request)
        Thread.sleep(forTimeInterval: 0.5)
        for _ in 0..<3 {
            let started = Date()
            let refused = try gateway.send("GET", "/rpc/add_them?a=1&b=2")
            #expect(refused.status == 503, "\(refused.status) \(refused.text)")
            #expect(refused.header("Retry-After") == "1")
            #expect((refused.json as? [String: Any])?["code"] as? String == "PGRST003")
            #expect(Date().timeIntervalSince(started) < 0.5)
        }
        // Both admitted calls complete; once the line drains, calls are admitted again.
        for fd in [running, waiting] {
            var buffer: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 4096)
            var parsed: HTTPClient.Response?
            while parsed == nil, case let count = read(fd, &chunk, chunk.count), count > 0 {
                buffer += chunk[0..<count]
                parsed = HTTPClient.parse(buffer, method: "POST")?.0
            }
            #expect(parsed?.status == 200)
        }
        #expect(try gateway.send("GET", "/rpc/add_them?a=1&b=2").text == "3")
    }
}
