import Foundation
import Testing
@testable import GatewayCore

/// An image's status while one of its builds fails and another is scheduled at the same moment, on
/// two real sessions, in both orders. Whichever commits first, the image must end up
/// BUILDING (a build of it is queued), so create_workspace answers 503 "being built", never 409 "not
/// built". Before the fix, the failure's check for other live builds missed the uncommitted new build
/// (or the scheduling read the image's status before the failure committed it), leaving it FAILED.
@Suite(.serialized)
struct BuildQueueImageStatusTests {
    let run = UInt32.random(in: 0...UInt32.max)
    var user: String { "bqis-user-\(run)" }

    /// A BUILDING image whose only build is IN_PROGRESS with lease `token`; the build's id.
    func seed(_ admin: PGConnection, image: String, token: String) throws -> String {
        try admin.execute("BEGIN")
        try admin.execute("SET LOCAL ROLE app_user")
        try admin.query("SELECT set_config('request.jwt.claims', $1, true)", ["{\"sub\":\"\(user)\",\"role\":\"app_user\"}"])
        let rows = try admin.query("SELECT api.schedule_image_build($1, $1, 1) ->> 'build_id'", [image])
        try admin.execute("COMMIT")
        let build = rows.first?.first.flatMap { $0 } ?? "0"
        try admin.query("""
            UPDATE workspaces.builds SET status = 'IN_PROGRESS', lease_token = $2::uuid,
                   lease_expires_at = now() + interval '1 minute', attempts = 1, worker = 'bqis', started_at = now()
            WHERE id = $1::bigint
            """, [build, token])
        return build
    }

    /// A session acting as the user (app_user) or as a worker, as the gateway would set it up.
    func session(worker: Bool = false) throws -> PGConnection {
        let connection = try TestDatabase.connect()
        try connection.execute(worker ? "SET ROLE worker" : "SET ROLE app_user")
        try connection.query("SELECT set_config('request.jwt.claims', $1, false)",
                             [worker ? "{\"role\":\"worker\"}" : "{\"sub\":\"\(user)\",\"role\":\"app_user\"}"])
        return connection
    }

    /// A statement running on a fresh session of its own thread: `done` is signalled when it has
    /// finished, after `failure` (its error, if any) was written.
    final class Background: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var failure: String?
    }

    func inBackground(worker: Bool, _ sql: String, _ parameters: [String?]) -> Background {
        let background = Background()
        let thread = Thread { [self] in
            do {
                _ = try session(worker: worker).query(sql, parameters)
            } catch {
                background.failure = "\(error)"
            }
            background.done.signal()
        }
        thread.start()
        return background
    }

    /// The image's status, and what create_workspace answers for it (SQLSTATE and message).
    func outcome(_ admin: PGConnection, image: String) throws -> (String?, String, String) {
        let status = try admin.query("SELECT status::text FROM workspaces.images WHERE name = $1", [image]).first?.first ?? nil
        do {
            _ = try session().query("SELECT api.create_workspace($1)", [image])
            return (status, "none", "")
        } catch let error as PGError {
            return (status, error.sqlState, error.message)
        }
    }

    @Test func aBuildScheduledWhileAnotherFailsKeepsTheImageBuilding() async throws {
        let queue = try await TestDatabase.hold("build-queue")   // scheduling NOTIFYs builds; completion writes mail
        defer { withExtendedLifetime(queue) {} }
        let image = "bqis-a-\(run)", token = UUID().uuidString.lowercased()
        let admin = try TestDatabase.connect()
        defer { TestDatabase.removeImage(image, requester: user) }
        let build = try seed(admin, image: image, token: token)

        // The new build is scheduled, not committed yet, when the running build fails.
        let scheduler = try session()
        try scheduler.execute("BEGIN")
        try scheduler.query("SELECT api.schedule_image_build($1, $1, 2)", [image])
        let completion = inBackground(worker: true, "SELECT api.complete_build($1::bigint, $2::uuid, 'FAILED', 'broken')",
                                      [build, token])
        let finishedAtOnce = completion.done.wait(timeout: .now() + 0.5) == .success   // fixed: it waits for the commit
        try scheduler.execute("COMMIT")
        if !finishedAtOnce { completion.done.wait() }
        #expect(completion.failure == nil)

        let (status, code, message) = try outcome(admin, image: image)
        #expect(status == "BUILDING", "a build of the image is queued")
        #expect(code == "PGRST" && message.contains("is being built"), "create_workspace: 503 being built, got \(code) \(message)")
    }

    @Test func aBuildFailingWhileAnotherIsScheduledKeepsTheImageBuilding() async throws {
        let queue = try await TestDatabase.hold("build-queue")
        defer { withExtendedLifetime(queue) {} }
        let image = "bqis-b-\(run)", token = UUID().uuidString.lowercased()
        let admin = try TestDatabase.connect()
        defer { TestDatabase.removeImage(image, requester: user) }
        let build = try seed(admin, image: image, token: token)

        // The failure is written, not committed yet, when the new build is scheduled.
        let worker = try session(worker: true)
        try worker.execute("BEGIN")
        try worker.query("SELECT api.complete_build($1::bigint, $2::uuid, 'FAILED', 'broken')", [build, token])
        let scheduling = inBackground(worker: false, "SELECT api.schedule_image_build($1, $1, 2)", [image])
        let finishedAtOnce = scheduling.done.wait(timeout: .now() + 0.5) == .success   // fixed: it waits for the commit
        try worker.execute("COMMIT")
        if !finishedAtOnce { scheduling.done.wait() }
        #expect(scheduling.failure == nil)

        let (status, code, message) = try outcome(admin, image: image)
        #expect(status == "BUILDING", "a build of the image is queued")
        #expect(code == "PGRST" && message.contains("is being built"), "create_workspace: 503 being built, got \(code) \(message)")
    }
}
