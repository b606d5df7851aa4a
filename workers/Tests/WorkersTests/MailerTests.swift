import Foundation
import Testing
import GatewayTesting

/// The `mailer` executable against the real gateway: a finished build's e-mail goes from the outbox
/// through the delivery command (here: write the message to a file) and is marked sent; a delivery the
/// command refuses stays unsent with its error and a backoff; an idle mailer with --listen-uri is woken
/// by the next completion's NOTIFY rather than by its poll.
@Suite(.serialized)
struct MailerTests {
    static let secret = "mailer-test-secret-at-least-32-characters"
    let run = UInt32.random(in: 0...UInt32.max)

    @Test func deliversTheOutboxThroughTheCommandAndAcknowledges() async throws {
        let queue = try await TestDatabase.hold("build-queue")   // no other test claims builds or mail meanwhile
        defer { withExtendedLifetime(queue) {} }
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "jwt-secret": "\"\(Self.secret)\""])
        try gateway.waitUntilReady()
        let admin = try TestDatabase.connect()
        let good = "mailer-\(run)", bounce = "bounce-\(run)"
        defer { _ = try? admin.query("DELETE FROM workspaces.notifications WHERE recipient IN ($1, $2)", [good, bounce]) }
        // Whatever other tests left unsent is not this test's business: mark it sent first.
        try admin.execute("UPDATE workspaces.notifications SET sent_at = now() WHERE sent_at IS NULL")
        try admin.query("""
            INSERT INTO workspaces.notifications (recipient, kind, subject, body)
            VALUES ($1, 'build_finished', 'Image build 1 of img (x86_64) at change 7: SUCCEEDED', E'Your build finished.\\nbye'),
                   ($1, 'build_finished', 'Bâtiment réussi', 'second'),
                   ($2, 'build_finished', 'to a full mailbox', 'third')
            """, [good, bounce])

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mailer-\(run)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let mailer = try process(gateway, ["--to-template", "{recipient}@example.com", "--idle-exit", "1", "--poll-seconds", "0.2",
                                           "--command", #"case "$MAIL_TO" in bounce*) echo "mailbox full" >&2; exit 75;; esac; cat > "\#(folder.path)/$MAIL_ID.eml""#])
        try mailer.run()
        mailer.waitUntilExit()
        #expect(mailer.terminationStatus == 0)

        let rows = try admin.query("""
            SELECT recipient, subject, sent_at IS NOT NULL, attempts::text, last_error FROM workspaces.notifications
            WHERE recipient IN ($1, $2) ORDER BY id
            """, [good, bounce])
        #expect(rows.map { [$0[0], $0[2], $0[3]] } == [[good, "t", "1"], [good, "t", "1"], [bounce, "f", "1"]])
        #expect(rows.last?[4]?.contains("mailbox full") == true, "the refused delivery keeps its error: \(rows)")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(files.count == 2, "\(files)")
        let first = try String(contentsOf: folder.appendingPathComponent(files.first ?? "none"), encoding: .utf8)
        #expect(first.contains("To: \(good)@example.com\n"))
        #expect(first.contains("Subject: Image build 1 of img (x86_64) at change 7: SUCCEEDED\n"))
        #expect(first.contains("\n\nYour build finished.\nbye\n"))
        let second = try String(contentsOf: folder.appendingPathComponent(files.last ?? "none"), encoding: .utf8)
        #expect(second.contains("Subject: =?UTF-8?B?\(Data("Bâtiment réussi".utf8).base64EncodedString())?=\n"),
                "non-ASCII subjects are RFC 2047 encoded: \(second)")
    }

    @Test func anIdleMailerIsWokenByACompletion() async throws {
        let queue = try await TestDatabase.hold("build-queue")
        defer { withExtendedLifetime(queue) {} }
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "jwt-secret": "\"\(Self.secret)\""])
        try gateway.waitUntilReady()
        let admin = try TestDatabase.connect()
        let image = "mailer-wake-\(run)"
        defer { TestDatabase.removeImage(image, requester: image) }
        try admin.execute("UPDATE workspaces.notifications SET sent_at = now() WHERE sent_at IS NULL")
        let mailer = try process(gateway, ["--poll-seconds", "60", "--idle-exit", "90", "--listen-uri", TestDatabase.uri(),
                                           "--command", "cat > /dev/null"])
        let errors = Pipe()
        mailer.standardError = errors
        try mailer.run()
        defer { if mailer.isRunning { mailer.terminate() } }
        sleepHoldingThread(2)                  // it found nothing and waits on LISTEN

        // A build is scheduled, claimed and completed: its e-mail lands in the empty outbox.
        let user = "Bearer " + (try GatewayProcess.token(role: "app_user", sub: image, secret: Self.secret))
        let worker = "Bearer " + (try GatewayProcess.token(role: "worker", secret: Self.secret))
        let json = "application/json"
        _ = try gateway.send("POST", "/rpc/schedule_image_build",
                             body: #"{"image_name":"\#(image)","project":"\#(image)","change":1,"priority":100}"#,
                             headers: [("Content-Type", json), ("Authorization", user)])
        let claim = try gateway.send("POST", "/rpc/claim_build", body: #"{"worker":"mailer-test"}"#,
                                     headers: [("Content-Type", json), ("Authorization", worker)])
        let build = claim.json as? [String: Any]
        let completed = Date()
        let done = try gateway.send("POST", "/rpc/complete_build",
                                    body: #"{"build_id":\#(build?["build_id"] as? Int ?? 0),"lease_token":"\#(build?["lease_token"] as? String ?? "")","status":"SUCCEEDED"}"#,
                                    headers: [("Content-Type", json), ("Authorization", worker)])
        #expect(done.status == 200, "\(done.text)")
        let sent = "SELECT sent_at IS NOT NULL FROM workspaces.notifications WHERE recipient = $1"
        while try admin.query(sent, [image]).first?.first != "t", Date().timeIntervalSince(completed) < 20 {
            sleepHoldingThread(0.05)
        }
        let took = Date().timeIntervalSince(completed)
        mailer.terminate()
        mailer.waitUntilExit()
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(took < 10, "the e-mail was sent \(took) s after the completion (poll: 60 s): \(log)")
        #expect(log.contains("listening for NOTIFY notifications"), "\(log)")
    }

    private func process(_ gateway: GatewayProcess, _ arguments: [String]) throws -> Process {
        try WorkerProcess.process("mailer", gateway: gateway,
                                  token: GatewayProcess.token(role: "worker", agent: ("mailer", "test-\(run)"), secret: Self.secret),
                                  ["--name", "test-\(run)"] + arguments)
    }
}
