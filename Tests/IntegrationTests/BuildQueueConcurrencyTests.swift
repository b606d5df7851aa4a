import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// The build queue under many workers: 16 real connections (one thread each, acting as `worker` like
/// the gateway) claim and complete 2,000 builds as fast as they can, heartbeating every tenth one.
/// Every claim is recorded; afterwards the test proves that each build was claimed exactly once (so no
/// two workers ever held the same build), completed exactly once with its own lease token, that no call
/// failed, and SQL proves the final states: all SUCCEEDED after one attempt, one e-mail each in the
/// outbox, no lease left behind.
@Suite struct BuildQueueConcurrencyTests {
    static let threads = 16
    static let builds = 2_000

    let run = UInt32.random(in: 0...UInt32.max)
    var image: String { "bqcc-\(run)" }
    var requester: String { "bqcc-user-\(run)" }

    @Test func everyBuildIsClaimedAndCompletedExactlyOnce() async throws {
        let queue = try await TestDatabase.hold("build-queue")   // no other test claims builds meanwhile
        defer { withExtendedLifetime(queue) {} }
        let admin = try TestDatabase.connect()
        // The project and image come from one scheduled build (as app_user), the rest in bulk.
        try admin.execute("BEGIN")
        try admin.execute("SET LOCAL ROLE app_user")
        try admin.query("SELECT set_config('request.jwt.claims', $1, true)",
                        ["{\"sub\":\"\(requester)\",\"role\":\"app_user\"}"])
        try admin.query("SELECT api.schedule_image_build($1, $2, 1)", [image, image])
        try admin.execute("COMMIT")
        try admin.query("""
            INSERT INTO workspaces.builds (image_id, change_number, requested_by, priority)
            SELECT i.id, 1 + g, $2, g % 3 FROM workspaces.images i, generate_series(1, $3::int - 1) g
            WHERE i.name = $1
            """, [image, requester, String(Self.builds)])
        defer { TestDatabase.removeImage(image, requester: requester) }

        let uri = TestDatabase.uri()
        let claims = Mutex<[(build: Int, worker: Int)]>([])
        let completions = Mutex<[Int]>([])
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        let start = DispatchSemaphore(value: 0)

        for thread in 0..<Self.threads {
            done.enter()
            let worker = Thread {
                defer { done.leave() }
                do {
                    let connection = try PGConnection(uri)   // not Sendable: each thread owns its own
                    try connection.execute("SET ROLE worker")
                    try connection.query("SELECT set_config('request.jwt.claims', $1, false)", ["{\"role\":\"worker\"}"])
                    start.wait()
                    var claimed = 0
                    while true {
                        let rows = try connection.query("""
                            SELECT c ->> 'build_id', c ->> 'lease_token', c ->> 'image' FROM api.claim_build($1) c
                            """, ["w\(thread)"])
                        guard let row = rows.first, let idText = row[0], let id = Int(idText), let token = row[1] else {
                            break                                   // the queue is empty
                        }
                        claims.withLock { $0.append((id, thread)) }
                        if row[2] != image {
                            failures.withLock { $0.append("claimed a build of another image: \(row)") }
                        }
                        claimed += 1
                        if claimed % 10 == 0 {
                            let beat = try connection.query("SELECT api.heartbeat_build($1::bigint, $2::uuid) ->> 'cancel_requested'",
                                                            [idText, token])
                            if beat != [["false"]] { failures.withLock { $0.append("heartbeat \(id): \(beat)") } }
                        }
                        let result = try connection.query("""
                            SELECT api.complete_build($1::bigint, $2::uuid, 'SUCCEEDED', $3) ->> 'status'
                            """, [idText, token, "built by w\(thread)"])
                        if result != [["SUCCEEDED"]] {
                            failures.withLock { $0.append("complete \(id): \(result)") }
                        }
                        completions.withLock { $0.append(id) }
                    }
                } catch let error as PGError {
                    failures.withLock { $0.append("worker \(thread): \(error.sqlState) \(error.message)") }
                } catch {
                    failures.withLock { $0.append("worker \(thread): \(error)") }
                }
            }
            worker.start()
        }
        let began = Date()
        for _ in 0..<Self.threads { start.signal() }
        done.wait()
        let seconds = Date().timeIntervalSince(began)
        print("BuildQueueConcurrencyTests: \(Self.builds) builds claimed and completed by \(Self.threads) workers in "
              + String(format: "%.2f s (%.0f/s)", seconds, Double(Self.builds) / seconds))

        #expect(failures.withLock { $0 } == [])
        let allClaims = claims.withLock { $0 }
        let claimedIDs = allClaims.map(\.build)
        #expect(claimedIDs.count == Self.builds, "one claim per build")
        #expect(Set(claimedIDs).count == claimedIDs.count, "no build was claimed twice")
        let completed = completions.withLock { $0 }
        #expect(completed.count == Self.builds)
        #expect(Set(completed) == Set(claimedIDs), "every claimed build was completed")
        #expect(Set(allClaims.map(\.worker)).count > 1, "the work was shared between workers")

        let summary = try admin.query("""
            SELECT count(*) FILTER (WHERE b.status = 'SUCCEEDED' AND b.attempts = 1 AND b.lease_token IS NULL
                                          AND b.log = 'built by ' || b.worker),
                   count(*),
                   (SELECT count(*) FROM workspaces.notifications n WHERE n.recipient = $2),
                   (SELECT count(DISTINCT (n.payload ->> 'build_id')) FROM workspaces.notifications n WHERE n.recipient = $2)
            FROM workspaces.builds b JOIN workspaces.images i ON i.id = b.image_id WHERE i.name = $1
            """, [image, requester])
        let expected = String(Self.builds)
        #expect(summary == [[expected, expected, expected, expected]],
                "all SUCCEEDED after one attempt by the worker that claimed them, one e-mail each")
    }

    /// Placement under concurrent creations: 16 users create 10 workspaces each at once on 4 hosts
    /// holding the image. Every creation succeeds, each host's disk_used is the sum of its workspaces,
    /// and the creations spread: the fullest and the emptiest host differ by a few workspaces at most.
    @Test func concurrentCreationsSpreadOverHosts() throws {
        let admin = try TestDatabase.connect()
        let hosts = 4, perThread = 10
        // A built image, made directly (scheduling a build would put it in the other test's queue).
        try admin.query("INSERT INTO workspaces.projects (name) VALUES ($1)", [image])
        try admin.query("""
            INSERT INTO workspaces.images (project_id, name, arch, status, change_number, built_at)
            SELECT p.id, p.name, 'x86_64', 'READY', 1, now() FROM workspaces.projects p WHERE p.name = $1
            """, [image])
        for index in 0..<hosts {
            try admin.query("INSERT INTO workspaces.hosts (name, disk_capacity) VALUES ($1, 10000)", ["\(image)-h\(index)"])
            try admin.query("""
                INSERT INTO workspaces.host_images (host_id, image_id)
                SELECT h.id, i.id FROM workspaces.hosts h, workspaces.images i WHERE h.name = $1 AND i.name = $2
                """, ["\(image)-h\(index)", image])
        }
        defer {
            _ = try? admin.execute("""
                DELETE FROM workspaces.workspaces WHERE project_name = '\(image)';
                DELETE FROM workspaces.host_images WHERE host_id IN (SELECT id FROM workspaces.hosts WHERE name LIKE '\(image)-h%');
                DELETE FROM workspaces.hosts WHERE name LIKE '\(image)-h%';
                DELETE FROM workspaces.notifications WHERE recipient = '\(requester)';
                DELETE FROM workspaces.builds WHERE image_id IN (SELECT id FROM workspaces.images WHERE name = '\(image)');
                DELETE FROM workspaces.images WHERE name = '\(image)';
                DELETE FROM workspaces.projects WHERE name = '\(image)';
                """)
        }

        let uri = TestDatabase.uri()
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for thread in 0..<Self.threads {
            done.enter()
            let creator = Thread { [image, run] in
                defer { done.leave() }
                do {
                    let connection = try PGConnection(uri)
                    try connection.execute("SET ROLE app_user")
                    try connection.query("SELECT set_config('request.jwt.claims', $1, false)",
                                         ["{\"sub\":\"ws\(thread)-\(run)\",\"role\":\"app_user\"}"])
                    start.wait()
                    for _ in 0..<perThread {
                        let state = try connection.query("SELECT api.create_workspace($1) ->> 'state'", [image])
                        if state != [["PROVISIONING"]] { failures.withLock { $0.append("create: \(state)") } }
                    }
                    let count = try connection.query("SELECT count(*) FROM api.list_workspaces()")
                    if count != [[String(perThread)]] { failures.withLock { $0.append("list: \(count)") } }
                } catch let error as PGError {
                    failures.withLock { $0.append("creator \(thread): \(error.sqlState) \(error.message)") }
                } catch {
                    failures.withLock { $0.append("creator \(thread): \(error)") }
                }
            }
            creator.start()
        }
        for _ in 0..<Self.threads { start.signal() }
        done.wait()

        #expect(failures.withLock { $0 } == [])
        let rows = try admin.query("""
            SELECT h.name, h.disk_used, (SELECT coalesce(sum(w.disk_gb), 0) FROM workspaces.workspaces w WHERE w.host_id = h.id)
            FROM workspaces.hosts h WHERE h.name LIKE $1 ORDER BY h.name
            """, ["\(image)-h%"])
        print("concurrentCreationsSpreadOverHosts: disk used per host \(rows.map { "\($0[0] ?? "?")=\($0[1] ?? "?")" })")
        let used = rows.compactMap { $0[1].flatMap { Int($0) } }
        #expect(rows.allSatisfy { $0[1] == $0[2] }, "disk_used is the sum of the host's workspaces")
        #expect(used.reduce(0, +) == Self.threads * perThread * 10, "every workspace took 10 GB")
        #expect((used.max() ?? 0) - (used.min() ?? 0) <= 40, "creations spread: hosts differ by 4 workspaces at most")
    }
}
