import Foundation
import Testing
import GatewayTesting

/// The `build-worker` executable against the real gateway: it claims through /rpc, runs a real shell
/// command with the build in its environment, and reports SUCCEEDED / FAILED with the command's output.
@Suite(.serialized)
struct BuildWorkerTests {
    static let secret = "build-worker-test-secret-at-least-32-chars"

    @Test func claimsRunsAndReportsThroughTheGateway() async throws {
        let queue = try await TestDatabase.hold("build-queue")   // no other test claims builds meanwhile
        defer { withExtendedLifetime(queue) {} }
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "jwt-secret": "\"\(Self.secret)\""])
        try gateway.waitUntilReady()
        let image = "bw-\(UInt32.random(in: 0...UInt32.max))"
        let user = "Bearer " + (try GatewayProcess.token(role: "app_user", sub: "\(image)-user", secret: Self.secret))
        for change in [12, 13] {
            let scheduled = try gateway.send("POST", "/rpc/schedule_image_build",
                                             body: #"{"image_name":"\#(image)","project":"\#(image)","change":\#(change),"priority":100}"#,
                                             headers: [("Content-Type", "application/json"), ("Authorization", user)])
            #expect(scheduled.status < 300, "\(scheduled.text)")
        }

        let worker = try Self.worker(gateway, name: image, [
            "--builds", "2", "--poll-seconds", "0.2", "--heartbeat-seconds", "0.3", "--idle-exit", "20",
            "--command", #"echo "building $A4C_IMAGE change $A4C_CHANGE"; sleep 1; test "$A4C_CHANGE" != 13"#])
        try worker.run()
        worker.waitUntilExit()
        #expect(worker.terminationStatus == 0)

        let rows = try TestDatabase.connect().query("""
            SELECT b.change_number::text, b.status::text, b.worker, b.log
            FROM workspaces.builds b JOIN workspaces.images i ON i.id = b.image_id
            WHERE i.name = $1 ORDER BY b.change_number
            """, [image])
        #expect(rows.map { [$0[0], $0[1], $0[2]] } == [["12", "SUCCEEDED", image], ["13", "FAILED", image]])
        #expect(rows.first?[3]?.contains("building \(image) change 12") == true)
    }

    @Test func aCancelledBuildIsStoppedAndReportedCancelled() async throws {
        let queue = try await TestDatabase.hold("build-queue")
        defer { withExtendedLifetime(queue) {} }
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "jwt-secret": "\"\(Self.secret)\""])
        try gateway.waitUntilReady()
        let image = "bwc-\(UInt32.random(in: 0...UInt32.max))"
        let user = "Bearer " + (try GatewayProcess.token(role: "app_user", sub: "\(image)-user", secret: Self.secret))
        let json = [("Content-Type", "application/json"), ("Authorization", user)]
        let scheduled = try gateway.send("POST", "/rpc/schedule_image_build",
                                         body: #"{"image_name":"\#(image)","project":"\#(image)","change":1,"priority":100}"#, headers: json)
        let build = (scheduled.json as? [String: Any])?["build_id"] as? Int
        #expect(build != nil, "\(scheduled.text)")

        let worker = try Self.worker(gateway, name: image, [
            "--builds", "1", "--poll-seconds", "0.2", "--heartbeat-seconds", "0.3", "--idle-exit", "20", "--command", "sleep 30"])
        try worker.run()
        let started = Date()
        let status = "SELECT status::text FROM workspaces.builds WHERE id = $1"
        while try TestDatabase.connect().query(status, [String(build ?? 0)]).first?.first != "IN_PROGRESS",
              Date().timeIntervalSince(started) < 10 { sleepHoldingThread(0.05) }
        let cancel = try gateway.send("POST", "/rpc/cancel_build", body: #"{"build_id":\#(build ?? 0)}"#, headers: json)
        #expect(cancel.status < 300, "\(cancel.text)")
        worker.waitUntilExit()
        #expect(Date().timeIntervalSince(started) < 15)            // stopped, not run for 30 s
        #expect(try TestDatabase.connect().query(status, [String(build ?? 0)]).first?.first == "CANCELLED")
    }

    /// An idle worker with --listen-uri claims a newly scheduled build at once (woken by NOTIFY builds),
    /// not at its next poll, which is 60 s away here.
    @Test func anIdleWorkerWakesOnNotify() async throws {
        let queue = try await TestDatabase.hold("build-queue")
        defer { withExtendedLifetime(queue) {} }
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "jwt-secret": "\"\(Self.secret)\""])
        try gateway.waitUntilReady()
        let image = "bwn-\(UInt32.random(in: 0...UInt32.max))"
        let user = "Bearer " + (try GatewayProcess.token(role: "app_user", sub: "\(image)-user", secret: Self.secret))

        let worker = try Self.worker(gateway, name: image, [
            "--builds", "1", "--poll-seconds", "60", "--idle-exit", "90", "--listen-uri", TestDatabase.uri(), "--command", "true"])
        let errors = Pipe()
        worker.standardError = errors
        try worker.run()
        defer { if worker.isRunning { worker.terminate() } }
        sleepHoldingThread(2)                 // it has polled once, found nothing, and waits
        let scheduled = Date()
        let answer = try gateway.send("POST", "/rpc/schedule_image_build",
                                      body: #"{"image_name":"\#(image)","project":"\#(image)","change":1,"priority":100}"#,
                                      headers: [("Content-Type", "application/json"), ("Authorization", user)])
        #expect(answer.status < 300, "\(answer.text)")
        while worker.isRunning, Date().timeIntervalSince(scheduled) < 30 { sleepHoldingThread(0.05) }
        let took = Date().timeIntervalSince(scheduled)
        if worker.isRunning { worker.terminate() }
        worker.waitUntilExit()
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(took < 10, "the build was claimed \(took) s after it was scheduled: \(log)")
        #expect(log.contains("woken by NOTIFY builds"), "\(log)")
        let rows = try TestDatabase.connect().query("""
            SELECT b.status::text, b.worker FROM workspaces.builds b JOIN workspaces.images i ON i.id = b.image_id
            WHERE i.name = $1
            """, [image])
        #expect(rows == [["SUCCEEDED", image]])
    }

    /// The build-worker executable next to the gateway binary, told to use `gateway` with a worker token.
    static func worker(_ gateway: GatewayProcess, name: String, _ arguments: [String]) throws -> Process {
        try WorkerProcess.process("build-worker", gateway: gateway, token: GatewayProcess.token(role: "worker", secret: secret),
                                  ["--name", name] + arguments)
    }
}
