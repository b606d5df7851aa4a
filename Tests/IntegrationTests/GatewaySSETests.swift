import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// Server-sent events over HTTP against the real gateway: `GET /notify/<channel>` streams each
/// NOTIFY committed after the headers as `data:` lines in commit order within 2 s; `can_listen` in the
/// exposed schema decides (true 200, false 403, null or absent 404); bad channels 400, other Accept
/// 406; keep-alive comments; a slow subscriber dropped while a fast one keeps up; the subscriber cap
/// (503); one LISTEN connection per gateway, UNLISTEN after the last subscriber left; graceful shutdown ends streams at once; a broken LISTEN
/// connection ends them and comes back; nginx passes events on unbuffered; the platform's build-status
/// events reach only the building user.
@Suite(.serialized)
struct GatewaySSETests {
    static let secret = "sse-test-secret-0123456789-abcdefghijkl"
    let run = UInt32.random(in: 0...UInt32.max)

    /// `test_sse.can_listen`: `open*` true, `closed*` false, `mine-<sub>` true for that sub's token and
    /// false for others (the claims reach it), anything else null.
    static let fixtures: Result<Void, any Error> = Result {
        try TestDatabase.connect().execute("""
            CREATE SCHEMA IF NOT EXISTS test_sse;
            CREATE OR REPLACE FUNCTION test_sse.can_listen(channel text) RETURNS boolean LANGUAGE sql STABLE AS $$
                SELECT CASE
                    WHEN channel LIKE 'open%' THEN true
                    WHEN channel = 'mine-' || coalesce(nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub', '') THEN true
                    WHEN channel LIKE 'closed%' OR channel LIKE 'mine-%' THEN false
                END $$;
            GRANT USAGE ON SCHEMA test_sse TO web_anon, app_user;
            GRANT EXECUTE ON FUNCTION test_sse.can_listen(text) TO web_anon, app_user;
            """)
    }

    func gateway(_ settings: [String: String] = [:]) throws -> GatewayProcess {
        try GatewayProcess.applyFixtures()
        try Self.fixtures.get()
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"test_sse, test_rpc, api\"", "jwt-secret": "\"\(Self.secret)\""]
                                             .merging(settings) { $1 })
        try gateway.waitUntilReady()
        return gateway
    }

    func notify(_ channel: String, _ payload: String) throws {
        _ = try TestDatabase.connect().query("SELECT pg_notify($1, $2)", [channel, payload])
    }

    func token(_ claims: [String: Any]) -> (String, String) {
        ("Authorization", "Bearer " + JWTSigner.sign(claims: claims, secret: Self.secret))
    }

    /// A stream that answered 200 (from `port`, else the gateway's).
    func open(_ gateway: GatewayProcess, _ channel: String, headers: [(String, String)] = [],
              receiveBuffer: Int32? = nil, port: Int? = nil) throws -> EventStreamClient {
        let client = try EventStreamClient(port: port ?? gateway.port, path: "/notify/\(channel)",
                                           headers: [("Accept", "text/event-stream")] + headers, receiveBuffer: receiveBuffer)
        try client.waitForHead()
        #expect(client.status == 200, "\(String(decoding: client.errorBody, as: UTF8.self))")
        return client
    }

    @Test func notificationsCommittedAfterTheHeadersArriveInOrderWithinTwoSeconds() throws {
        let gateway = try gateway()
        let channel = "open-order-\(run)"
        let client = try open(gateway, channel)
        #expect(client.header("Content-Type") == "text/event-stream")
        #expect(client.header("Cache-Control") == "no-cache")
        #expect(client.next(timeout: 5) == .comment("listening"))

        let database = try TestDatabase.connect()
        let started = Date()
        for index in 1...3 { _ = try database.query("SELECT pg_notify($1, $2)", [channel, "event \(index)"]) }
        // Two in one transaction: delivered at its commit, in the order sent.
        _ = try database.execute("BEGIN; SELECT pg_notify('\(channel)', 'four'); SELECT pg_notify('\(channel)', 'five'); COMMIT;")
        // A rolled-back one is never delivered; a multi-line payload is one event of several data lines.
        _ = try database.execute("BEGIN; SELECT pg_notify('\(channel)', 'rolled back'); ROLLBACK;")
        try notify(channel, "line one\nline two\r\nline three")
        var received: [String] = []
        while received.count < 6, let data = client.nextEvent(timeout: 2) { received.append(data) }
        #expect(received == ["event 1", "event 2", "event 3", "four", "five", "line one\nline two\nline three"])
        #expect(Date().timeIntervalSince(started) < 2.5)
        // Another channel's notifications do not reach it.
        try notify("open-other-\(run)", "elsewhere")
        try notify(channel, "last")
        #expect(client.nextEvent(timeout: 2) == "last")
    }

    @Test func canListenDecidesAndBadRequestsGetJSONErrors() throws {
        let gateway = try gateway()
        func refusal(_ path: String, _ headers: [(String, String)] = [("Accept", "text/event-stream")]) throws -> HTTPClient.Response {
            let response = try gateway.send("GET", path, headers: headers)
            #expect(response.header("Content-Type")?.hasPrefix("application/json") == true)
            return response
        }
        let forbidden = try refusal("/notify/closed-\(run)")
        #expect(forbidden.status == 403)
        #expect((forbidden.json as? [String: Any])?["code"] as? String == "PGRSTX43")
        let unknown = try refusal("/notify/nothing-\(run)")
        #expect(unknown.status == 404)
        #expect((unknown.json as? [String: Any])?["code"] as? String == "PGRSTX44")
        // test_rpc has no can_listen: no events there.
        let noFunction = try refusal("/notify/open-\(run)", [("Accept", "text/event-stream"), ("Accept-Profile", "test_rpc")])
        #expect(noFunction.status == 404, "\(noFunction.text)")
        #expect(noFunction.text.contains("can_listen"))
        #expect(try refusal("/notify/open-\(run)", [("Accept", "application/json")]).status == 406)
        #expect(try refusal("/notify/open-\(run)", [("Accept", "text/event-stream"), ("Accept-Profile", "nope")]).status == 406)
        let long = try refusal("/notify/open-" + String(repeating: "x", count: 59))
        #expect(long.status == 400)
        #expect((long.json as? [String: Any])?["code"] as? String == "PGRSTX40")
        _ = try open(gateway, "open-" + String(repeating: "x", count: 58))   // 63 bytes: the longest name
        #expect(try refusal("/notify/").status == 400)
        #expect(try refusal("/notify/open%00x").status == 400)
        #expect(try refusal("/notify/a/b").status == 400)
        // A browser's cross-origin EventSource can read the stream and the refusals.
        let origin = ("Origin", "http://app.example")
        #expect(try open(gateway, "open-cors-\(run)", headers: [origin]).header("Access-Control-Allow-Origin") != nil)
        #expect(try refusal("/notify/closed-\(run)", [("Accept", "text/event-stream"), origin]).header("Access-Control-Allow-Origin") != nil)
        // The claims reach can_listen: a user's own channel is theirs only.
        let mine = try open(gateway, "mine-u\(run)", headers: [token(["role": "app_user", "sub": "u\(run)"])])
        #expect(mine.next(timeout: 5) == .comment("listening"))
        #expect(try refusal("/notify/mine-u\(run)", [("Accept", "text/event-stream"), token(["role": "app_user", "sub": "v\(run)"])]).status == 403)
    }

    @Test func aStreamEndsWhenItsTokenExpires() throws {
        let gateway = try gateway()
        let expiring = token(["role": "app_user", "sub": "x\(run)", "exp": Int(Date().timeIntervalSince1970) + 2])
        let client = try open(gateway, "mine-x\(run)", headers: [expiring])
        #expect(client.next(timeout: 5) == .comment("listening"))
        #expect(!client.waitUntilEnded(timeout: 0.5))
        #expect(client.waitUntilEnded(timeout: 5))
        #expect(client.finished)
    }

    @Test func aQuietStreamGetsKeepAliveCommentsAndOutlivesTheServerTimeout() throws {
        let gateway = try gateway(["server-sse-keepalive-seconds": "1", "server-timeout-seconds": "1"])
        let channel = "open-quiet-\(run)"
        let client = try open(gateway, channel)
        #expect(client.next(timeout: 5) == .comment("listening"))
        let started = Date()
        #expect(client.next(timeout: 3) == .comment("keep-alive"))
        #expect(client.next(timeout: 3) == .comment("keep-alive"))
        #expect(Date().timeIntervalSince(started) > 1.5)
        // Quiet for longer than server-timeout-seconds, still open and delivering.
        Thread.sleep(forTimeInterval: 1.5)
        try notify(channel, "still here")
        #expect(client.nextEvent(timeout: 3) == "still here")
        #expect(!client.closed)
    }

    @Test func aSlowSubscriberIsDroppedWhileAFastOneKeepsReceiving() throws {
        // server-timeout-seconds high: the bound, not the idle timeout, must cut the slow one.
        let gateway = try gateway(["server-sse-max-buffer-bytes": "524288", "server-timeout-seconds": "300"])
        let channel = "open-slow-\(run)"
        let slow = try open(gateway, channel, receiveBuffer: 4_096)
        let fast = try open(gateway, channel)
        #expect(fast.next(timeout: 5) == .comment("listening"))
        // 80 transactions of 50 events of 2 kB each (8 MB). Each is sent once the fast client has read
        // all but the last one, so a fast reader is never 200 kB behind however loaded the machine is.
        let batches = 80, perBatch = 50
        let read = Atomic<Int>(0)
        let sender = Thread {
            guard let database = try? TestDatabase.connect() else { return }
            for batch in 0..<batches {
                let until = Date().addingTimeInterval(10)
                while read.load(ordering: .relaxed) < (batch - 1) * perBatch && Date() < until { Thread.sleep(forTimeInterval: 0.005) }
                _ = try? database.query("""
                    SELECT pg_notify($1, lpad(($2::int * 1000 + i)::text, 8, '0') || repeat('x', 2000))
                    FROM generate_series(0, \(perBatch - 1)) i
                    """, [channel, String(batch)])
            }
        }
        sender.start()
        var expected = 0
        var inOrder = true
        while expected < batches * perBatch, let data = fast.nextEvent(timeout: 10) {
            let sequence = Int(data.prefix(8)) ?? -1
            if sequence != (expected / perBatch) * 1000 + expected % perBatch { inOrder = false }
            expected += 1
            read.store(expected, ordering: .relaxed)
        }
        #expect(expected == batches * perBatch)
        #expect(inOrder)
        // The slow one was cut: its connection closed without the terminating chunk.
        #expect(slow.waitUntilClosed(timeout: 30))
        #expect(!slow.finished)
        let metrics = try HTTPClient.send(port: gateway.adminPort, method: "GET", path: "/metrics").text
        #expect(metrics.contains("gateway_sse_dropped_total 1"), "\(metrics.split(separator: "\n").filter { $0.contains("sse") })")
    }

    @Test func subscribersAreCappedAndAPlaceFreesWhenAClientLeaves() throws {
        let gateway = try gateway(["server-sse-max-subscribers": "2", "server-sse-keepalive-seconds": "1"])
        let first = try open(gateway, "open-cap-\(run)")
        let second = try open(gateway, "open-cap-b-\(run)")
        let refused = try gateway.send("GET", "/notify/open-cap-\(run)", headers: [("Accept", "text/event-stream")])
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") != nil)
        #expect((refused.json as? [String: Any])?["code"] as? String == "PGRSTX53")
        // A refusal by can_listen does not take a place.
        #expect(try gateway.send("GET", "/notify/closed-\(run)", headers: [("Accept", "text/event-stream")]).status == 403)
        first.disconnect()   // unseen while its connection waits for data: the next keep-alive finds it gone
        let until = Date().addingTimeInterval(10)
        var status = 0
        while Date() < until {
            let third = try EventStreamClient(port: gateway.port, path: "/notify/open-cap-\(run)")
            try third.waitForHead()
            status = third.status
            if status == 200 { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(status == 200)
        _ = second
    }

    @Test func oneListenConnectionCarriesEveryChannelOfAGateway() throws {
        let application = "sse-one-\(run)"
        let gateway = try gateway(["db-uri": "\"\(GatewayProcess.authenticatorURI)&application_name=\(application)\""])
        let channels = ["open-a-\(run)", "open-b-\(run)", "open-c-\(run)", "open-a-\(run)", "open-b-\(run)"]
        let clients = try channels.map { try open(gateway, $0) }
        for client in clients { #expect(client.next(timeout: 5) == .comment("listening")) }
        let listening = try TestDatabase.connect().query("""
            SELECT count(*)::text FROM pg_stat_activity
            WHERE application_name = $1 AND query LIKE 'LISTEN "%'  -- the schema cache's LISTEN pgrst is not quoted
            """, [application])
        #expect(listening == [["1"]])
        for (index, channel) in Set(channels).sorted().enumerated() { try notify(channel, "n\(index)") }
        for (client, channel) in zip(clients, channels) {
            #expect(client.nextEvent(timeout: 2) == "n\(Set(channels).sorted().firstIndex(of: channel)!)")
        }
    }

    @Test func theLastSubscriberLeavingUnlistens() throws {
        let application = "sse-unlisten-\(run)"
        let gateway = try gateway(["db-uri": "\"\(GatewayProcess.authenticatorURI)&application_name=\(application)\"",
                                   "server-sse-keepalive-seconds": "1"])
        let channel = "open-leave-\(run)"
        let client = try open(gateway, channel)
        #expect(client.next(timeout: 5) == .comment("listening"))
        client.disconnect()   // noticed at the next keep-alive
        let until = Date().addingTimeInterval(10)
        var last: String?
        while Date() < until {
            last = try TestDatabase.connect().query("""
                SELECT query FROM pg_stat_activity WHERE application_name = $1 AND query LIKE '%LISTEN "%'
                """, [application]).first?.first ?? nil
            if last == "UNLISTEN \"\(channel)\"" { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(last == "UNLISTEN \"\(channel)\"")
    }

    @Test func gracefulShutdownEndsOpenStreamsAtOnce() throws {
        let gateway = try gateway()
        let client = try open(gateway, "open-stop-\(run)")
        #expect(client.next(timeout: 5) == .comment("listening"))
        let started = Date()
        gateway.stop()
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(client.waitUntilClosed(timeout: 5))
        #expect(client.finished)
    }

    @Test func aBrokenListenConnectionEndsTheStreamsAndANewSubscriptionWorksAgain() throws {
        let application = "sse-break-\(run)"
        let gateway = try gateway(["db-uri": "\"\(GatewayProcess.authenticatorURI)&application_name=\(application)\""])
        let channel = "open-break-\(run)"
        let client = try open(gateway, channel)
        #expect(client.next(timeout: 5) == .comment("listening"))
        _ = try TestDatabase.connect().query("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN "%'
            """, [application])
        // Ended with the terminating chunk (the connection may stay open for another request).
        #expect(client.waitUntilEnded(timeout: 5))
        #expect(client.finished)
        let again = try open(gateway, channel)
        #expect(again.next(timeout: 10) == .comment("listening"))
        try notify(channel, "after the break")
        #expect(again.nextEvent(timeout: 2) == "after the break")
    }

    @Test func eventsPassThroughNginxAsTheyCome() throws {
        let gateway = try gateway()
        let nginx = try NginxProcess(upstreams: [gateway.port])
        defer { nginx.stop() }
        let channel = "open-nginx-\(run)"
        let client = try open(gateway, channel, port: nginx.port)
        #expect(client.next(timeout: 5) == .comment("listening"))
        let started = Date()
        try notify(channel, "through nginx")
        #expect(client.nextEvent(timeout: 2) == "through nginx")
        #expect(Date().timeIntervalSince(started) < 2)
    }

    @Test func theBuildingUserSeesBuildStatusOthersAreRefused() async throws {
        // The cancellation's e-mail lands in the shared outbox: no build-queue test runs meanwhile.
        let queue = try await TestDatabase.hold("build-queue")
        defer { withExtendedLifetime(queue) {} }
        let gateway = try gateway(["db-schemas": "\"api\""])
        let user = token(["role": "app_user", "sub": "sse-user-\(run)"])
        let other = token(["role": "app_user", "sub": "sse-other-\(run)"])
        let named = try gateway.send("POST", "/rpc/my_event_channel", body: "{}", headers: [("Content-Type", "application/json"), user])
        let channel = try #require(named.json as? String, "\(named.text)")
        let client = try open(gateway, channel, headers: [user])
        #expect(client.next(timeout: 5) == .comment("listening"))
        #expect(try gateway.send("GET", "/notify/\(channel)", headers: [("Accept", "text/event-stream"), other]).status == 403)
        #expect(try gateway.send("GET", "/notify/elsewhere", headers: [("Accept", "text/event-stream"), user]).status == 404)

        // Scheduled far ahead so no worker claims it, then cancelled: two status events.
        let image = "sse-\(run)"
        let json = [("Content-Type", "application/json"), user]
        let scheduled = try gateway.send("POST", "/rpc/schedule_image_build", body: """
            {"image_name":"\(image)","project":"\(image)","change":1,"run_at":"\(ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400 * 20)))"}
            """, headers: json)
        let build = try #require((scheduled.json as? [String: Any])?["build_id"] as? Int, "\(scheduled.text)")
        let first = try #require(client.nextEvent(timeout: 2))
        let event = try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any]
        #expect(event?["event"] as? String == "build-status")
        #expect(event?["build"] as? Int == build)
        #expect(event?["status"] as? String == "SCHEDULED")
        let cancelled = try gateway.send("POST", "/rpc/cancel_build", body: #"{"build_id":\#(build)}"#, headers: json)
        #expect(cancelled.status < 300, "\(cancelled.text)")
        let second = try #require(client.nextEvent(timeout: 2))
        let next = try JSONSerialization.jsonObject(with: Data(second.utf8)) as? [String: Any]
        #expect(next?["status"] as? String == "CANCELLED")
        #expect(next?["build"] as? Int == build)
    }
}
