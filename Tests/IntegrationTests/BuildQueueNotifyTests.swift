import Foundation
import Testing
@testable import GatewayCore

/// Who is woken by the build queue, over real connections (a NOTIFY is delivered only at commit):
/// scheduling a build NOTIFYs `builds` (idle workers wake); a completion NOTIFYs `notifications` (the
/// mailer wakes) only when no older mail waits in the outbox, because a mailer with mail waiting is
/// already awake, and a NOTIFY per completion would make completions commit one at a time.
@Suite struct BuildQueueNotifyTests {
    let run = UInt32.random(in: 0...UInt32.max)
    var image: String { "bqn-\(run)" }
    var requester: String { "bqn-user-\(run)" }

    @Test func schedulingWakesWorkersAndCompletionWakesAnIdleMailerOnly() async throws {
        let queue = try await TestDatabase.hold("build-queue")   // no other test claims builds meanwhile
        defer { withExtendedLifetime(queue) {} }
        let admin = try TestDatabase.connect()
        let listener = try TestDatabase.connect()
        try listener.execute("LISTEN builds; LISTEN notifications")
        defer { TestDatabase.removeImage(image, requester: requester) }
        // The outbox starts with nothing waiting (the mailer has sent everything).
        try admin.execute("UPDATE workspaces.notifications SET sent_at = now() WHERE sent_at IS NULL")

        for change in 1...3 { try schedule(change: change, on: admin) }
        let scheduled = drain(listener)
        #expect(scheduled.filter { $0.channel == "builds" }.count == 3, "one NOTIFY builds per scheduled build: \(scheduled)")

        try claimAndComplete(on: admin)
        let first = drain(listener)
        #expect(first.filter { $0.channel == "notifications" }.count == 1,
                "the first e-mail into an empty outbox wakes the mailer: \(first)")

        try claimAndComplete(on: admin)
        let second = drain(listener)
        #expect(second.filter { $0.channel == "notifications" }.isEmpty,
                "with an older e-mail waiting, the mailer is not woken again: \(second)")

        try admin.execute("UPDATE workspaces.notifications SET sent_at = now() WHERE sent_at IS NULL")
        try claimAndComplete(on: admin)
        let third = drain(listener)
        #expect(third.filter { $0.channel == "notifications" }.count == 1,
                "once the mailer has sent everything, the next e-mail wakes it again: \(third)")
        #expect(try admin.query("SELECT count(*) FROM workspaces.notifications WHERE recipient = $1", [requester]) == [["3"]],
                "every completion left its e-mail")
    }

    private func schedule(change: Int, on connection: PGConnection) throws {
        try connection.execute("BEGIN")
        try connection.execute("SET LOCAL ROLE app_user")
        try connection.query("SELECT set_config('request.jwt.claims', $1, true)",
                             ["{\"sub\":\"\(requester)\",\"role\":\"app_user\"}"])
        // The top priority a user may ask: claimed before any build other tests may have left in the queue.
        try connection.query("SELECT api.schedule_image_build($1, $2, $3::bigint, 100)", [image, image, String(change)])
        try connection.execute("COMMIT")
    }

    /// Claims the next build as a worker and completes it, in two committed transactions.
    private func claimAndComplete(on connection: PGConnection) throws {
        try connection.execute("SET ROLE worker")
        defer { _ = try? connection.execute("RESET ROLE") }
        let claim = try connection.query("SELECT c ->> 'build_id', c ->> 'lease_token', c ->> 'image' FROM api.claim_build('bqn') c")
        guard let row = claim.first, let id = row[0], let token = row[1], row[2] == image else {
            Issue.record("nothing of \(image) to claim: \(claim)")
            return
        }
        try connection.query("SELECT api.complete_build($1::bigint, $2::uuid, 'SUCCEEDED', 'ok')", [id, token])
    }

    /// Every notification that arrives within half a second.
    private func drain(_ connection: PGConnection) -> [(channel: String, payload: String)] {
        var received: [(channel: String, payload: String)] = []
        let deadline = Date().addingTimeInterval(0.5)
        while Date() < deadline {
            _ = connection.consumeInput()
            received += connection.notifications()
            Thread.sleep(forTimeInterval: 0.02)
        }
        return received
    }
}
