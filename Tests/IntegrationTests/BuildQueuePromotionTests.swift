import Foundation
import Testing
@testable import GatewayCore

/// Builds whose run_at has just passed are promoted into the claim index by the claims themselves
/// (a claim must never answer none while due builds wait). A claim promotes only as many as it takes, so a concurrent claim finds the others:
/// before, one claim promoted (and so locked, until its commit) up to a thousand, and every concurrent
/// claim skipped them and answered none, with nothing to wake it.
@Suite struct BuildQueuePromotionTests {
    let run = UInt32.random(in: 0...UInt32.max)
    var image: String { "bqpr-\(run)" }
    var user: String { "bqpr-user-\(run)" }

    func worker() throws -> PGConnection {
        let connection = try TestDatabase.connect()
        try connection.execute("SET ROLE worker")
        try connection.query("SELECT set_config('request.jwt.claims', $1, false)", ["{\"role\":\"worker\"}"])
        return connection
    }

    @Test func aClaimInProgressLeavesTheOtherDueBuildsToConcurrentClaims() async throws {
        let queue = try await TestDatabase.hold("build-queue")   // no other test claims builds meanwhile
        defer { withExtendedLifetime(queue) {} }
        let admin = try TestDatabase.connect()
        defer { TestDatabase.removeImage(image, requester: user) }
        try admin.execute("BEGIN")
        try admin.execute("SET LOCAL ROLE app_user")
        try admin.query("SELECT set_config('request.jwt.claims', $1, true)", ["{\"sub\":\"\(user)\",\"role\":\"app_user\"}"])
        try admin.query("SELECT api.schedule_image_build($1, $1, g) FROM generate_series(1, 3) g", [image])
        try admin.execute("COMMIT")
        // Three builds backing off whose run_at has just passed: not in the claim index yet.
        try admin.query("""
            UPDATE workspaces.builds SET due = false, run_at = now() - interval '1 second'
            WHERE image_id = (SELECT id FROM workspaces.images WHERE name = $1)
            """, [image])

        let first = try worker(), second = try worker()
        try first.execute("BEGIN")
        let a = try first.query("SELECT api.claim_build('bqpr-a') ->> 'build_id'")
        let b = try second.query("SELECT api.claim_build('bqpr-b') ->> 'build_id'")   // while the first has not committed
        try first.execute("COMMIT")
        let firstBuild = a.first?.first ?? nil, secondBuild = b.first?.first ?? nil
        #expect(firstBuild != nil)
        #expect(secondBuild != nil, "a concurrent claim takes one of the other due builds, not none")
        #expect(firstBuild != secondBuild)
        let left = try admin.query("""
            SELECT count(*)::text FROM workspaces.builds
            WHERE image_id = (SELECT id FROM workspaces.images WHERE name = $1) AND status = 'SCHEDULED'
            """, [image])
        #expect(left == [["1"]], "the third is left for the next claim")
    }
}
