import Foundation
import Testing
@testable import GatewayCore

/// Lock order in the build queue: every path locks builds first, then images,
/// each in id order, so a batch completion (complete_builds) can deadlock neither with the periodic
/// requeue of an expired lease nor with another batch. Each test lines two real sessions up, with a
/// third session holding a lock as the gate, at the interleaving that deadlocked before the fix (one of
/// them then failed with 40P01 and its whole batch rolled back); after it both succeed.
@Suite(.serialized)
struct BuildQueueDeadlockTests {
    let run = UInt32.random(in: 0...UInt32.max)
    var user: String { "bqdl-user-\(run)" }

    /// A build of `image` at `change` (scheduled as the user; the image is BUILDING), put IN_PROGRESS
    /// with lease `token`; its id.
    func running(_ admin: PGConnection, image: String, change: Int, token: String) throws -> String {
        try admin.execute("BEGIN")
        try admin.execute("SET LOCAL ROLE app_user")
        try admin.query("SELECT set_config('request.jwt.claims', $1, true)", ["{\"sub\":\"\(user)\",\"role\":\"app_user\"}"])
        let rows = try admin.query("SELECT api.schedule_image_build($1, $1, $2::bigint) ->> 'build_id'", [image, String(change)])
        try admin.execute("COMMIT")
        let build = rows.first?.first.flatMap { $0 } ?? "0"
        try admin.query("""
            UPDATE workspaces.builds SET status = 'IN_PROGRESS', lease_token = $2::uuid,
                   lease_expires_at = now() + interval '1 minute', attempts = 1, worker = 'bqdl', started_at = now()
            WHERE id = $1::bigint
            """, [build, token])
        return build
    }

    final class Background: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var failure: String?
    }

    /// `sql` on a fresh worker session (as the gateway sets one up) on a thread of its own.
    func inBackground(_ sql: String, _ parameters: [String?] = []) -> Background {
        let background = Background()
        let thread = Thread {
            do {
                let connection = try TestDatabase.connect()
                try connection.execute("SET ROLE worker")
                try connection.query("SELECT set_config('request.jwt.claims', $1, false)", ["{\"role\":\"worker\"}"])
                _ = try connection.query(sql, parameters)
            } catch let error as PGError {
                background.failure = "\(error.sqlState) \(error.message)"
            } catch {
                background.failure = "\(error)"
            }
            background.done.signal()
        }
        thread.start()
        return background
    }

    /// Waits (up to 10 s) until `count` sessions running a statement containing `text` wait for a lock.
    func waitForLockWaits(_ admin: PGConnection, _ text: String, count: Int) throws {
        for _ in 0..<200 {
            let waiting = try admin.query("""
                SELECT count(*)::text FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                  AND strpos(query, $1) > 0
                """, [text])
            if let n = waiting.first?.first.flatMap({ $0 }).flatMap({ Int($0) }), n >= count { return }
            sleepHoldingThread(0.05)
        }
        Issue.record("\(count) session(s) running \(text) never waited for a lock")
    }

    func result(_ id: String, _ token: String, _ status: String) -> String {
        "{\"build_id\": \(id), \"lease_token\": \"\(token)\", \"status\": \"\(status)\"}"
    }

    /// A late batch against the requeue: a last-attempt build's lease expires while its worker's late batch reports it. Before,
    /// the batch took the image first and then waited for the build row, which the requeue held (it had
    /// failed the build) while waiting for the image: 40P01. The gate holds the image so the batch
    /// starts waiting first, then the requeue runs, then the gate opens.
    @Test func aLateBatchAndTheRequeueOfItsExpiredBuildDoNotDeadlock() async throws {
        let queue = try await TestDatabase.hold("build-queue")
        defer { withExtendedLifetime(queue) {} }
        let image = "bqdl-a-\(run)", token = UUID().uuidString.lowercased()
        let admin = try TestDatabase.connect()
        defer { TestDatabase.removeImage(image, requester: user) }
        let build = try running(admin, image: image, change: 1, token: token)
        try admin.query("""
            UPDATE workspaces.builds SET max_attempts = 1, lease_expires_at = now() - interval '1 second' WHERE id = $1::bigint
            """, [build])

        let gate = try TestDatabase.connect()
        try gate.execute("BEGIN")
        try gate.query("SELECT 1 FROM workspaces.images WHERE name = $1 FOR NO KEY UPDATE", [image])
        let batch = inBackground("SELECT api.complete_builds($1::json)", ["[\(result(build, token, "FAILED"))]"])
        try waitForLockWaits(admin, "complete_builds", count: 1)
        let requeue = inBackground("SELECT api.requeue_expired_builds()")
        let requeuedAtOnce = requeue.done.wait(timeout: .now() + 1) == .success   // fixed: it skips the batch's build
        try gate.execute("COMMIT")
        batch.done.wait()
        if !requeuedAtOnce { requeue.done.wait() }

        #expect(batch.failure == nil, "the batch: \(batch.failure ?? "")")
        #expect(requeue.failure == nil, "the requeue: \(requeue.failure ?? "")")
        let state = try admin.query("""
            SELECT b.status::text, (SELECT count(*)::text FROM workspaces.notifications n WHERE n.payload ->> 'build_id' = b.id::text)
            FROM workspaces.builds b WHERE b.id = $1::bigint
            """, [build])
        #expect(state == [["FAILED", "1"]], "failed once, one e-mail")
    }

    /// Two batches against each other: two batches with crossed results on two BUILDING images (one succeeds on the first image
    /// and fails on the second, the other the reverse). Before, only the failures' images were locked
    /// up front; each batch then updated the image of its success, which the other held: 40P01. The
    /// gate holds both batches' first builds, so both have done their up-front locking when it opens.
    @Test func batchesWithCrossedResultsOnTwoImagesDoNotDeadlock() async throws {
        let queue = try await TestDatabase.hold("build-queue")
        defer { withExtendedLifetime(queue) {} }
        let first = "bqdl-b1-\(run)", second = "bqdl-b2-\(run)"
        let admin = try TestDatabase.connect()
        defer {
            TestDatabase.removeImage(first, requester: user)
            TestDatabase.removeImage(second, requester: user)
        }
        let tokens = (0..<4).map { _ in UUID().uuidString.lowercased() }
        let b1 = try running(admin, image: first, change: 1, token: tokens[0])
        let b3 = try running(admin, image: first, change: 2, token: tokens[2])
        let b2 = try running(admin, image: second, change: 1, token: tokens[1])
        let b4 = try running(admin, image: second, change: 2, token: tokens[3])

        let gate = try TestDatabase.connect()
        try gate.execute("BEGIN")
        try gate.query("SELECT 1 FROM workspaces.builds WHERE id IN ($1::bigint, $2::bigint) FOR UPDATE", [b1, b3])
        let p = inBackground("SELECT api.complete_builds($1::json)",
                             ["[\(result(b1, tokens[0], "SUCCEEDED")), \(result(b2, tokens[1], "FAILED"))]"])
        let q = inBackground("SELECT api.complete_builds($1::json)",
                             ["[\(result(b3, tokens[2], "FAILED")), \(result(b4, tokens[3], "SUCCEEDED"))]"])
        try waitForLockWaits(admin, "complete_builds", count: 2)
        try gate.execute("COMMIT")
        p.done.wait()
        q.done.wait()

        #expect(p.failure == nil, "the first batch: \(p.failure ?? "")")
        #expect(q.failure == nil, "the second batch: \(q.failure ?? "")")
        let finished = try admin.query("""
            SELECT count(*)::text FROM workspaces.builds WHERE id IN ($1::bigint, $2::bigint, $3::bigint, $4::bigint)
              AND status IN ('SUCCEEDED', 'FAILED')
            """, [b1, b2, b3, b4])
        #expect(finished == [["4"]], "all four results applied")
    }
}
