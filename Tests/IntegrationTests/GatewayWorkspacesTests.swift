import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// The workspace service through the gateway over HTTP: the product's REST adapters (the path's userId,
/// passed by nginx in X-A4C-User-Id, must be the token's user: else 403; 201 / 202 statuses), the 503
/// with Retry-After when no host holds the image, and the fenced completion of a build (stale lease
/// token: 409, nothing changes). Builds here are made IN_PROGRESS directly, never queued, so the
/// concurrent build-queue test cannot claim them; the completion's e-mail lands in the shared outbox,
/// so that test holds the build-queue lock.
@Suite(.serialized)
struct GatewayWorkspacesTests {
    static let secret = "workspaces-test-secret-0123456789-abcdefgh"

    let run = UInt32.random(in: 0...UInt32.max)
    var project: String { "gwws-\(run)" }

    func token(_ claims: [String: Any]) -> (String, String) {
        ("Authorization", "Bearer " + JWTSigner.sign(claims: claims, secret: Self.secret))
    }

    func object(_ response: HTTPClient.Response) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
    }

    /// A project with a READY image of the same name; with a host holding it when `host` is set.
    func seed(_ admin: PGConnection, host: Bool) throws {
        try admin.query("INSERT INTO workspaces.projects (name) VALUES ($1)", [project])
        try admin.query("""
            INSERT INTO workspaces.images (project_id, name, arch, status, change_number, built_at)
            SELECT p.id, p.name, 'x86_64', 'READY', 7, now() FROM workspaces.projects p WHERE p.name = $1
            """, [project])
        if host {
            try admin.query("INSERT INTO workspaces.hosts (name, disk_capacity) VALUES ($1, 1000)", [project])
            try admin.query("""
                INSERT INTO workspaces.host_images (host_id, image_id)
                SELECT h.id, i.id FROM workspaces.hosts h, workspaces.images i WHERE h.name = $1 AND i.name = $1
                """, [project])
        }
    }

    func cleanUp(_ admin: PGConnection) {
        _ = try? admin.execute("""
            DELETE FROM workspaces.workspaces WHERE project_name = '\(project)';
            DELETE FROM workspaces.host_images WHERE host_id IN (SELECT id FROM workspaces.hosts WHERE name = '\(project)');
            DELETE FROM workspaces.hosts WHERE name = '\(project)';
            DELETE FROM workspaces.notifications WHERE payload ->> 'project' = '\(project)';
            DELETE FROM workspaces.builds WHERE image_id IN (SELECT id FROM workspaces.images WHERE name = '\(project)');
            DELETE FROM workspaces.images WHERE name = '\(project)';
            DELETE FROM workspaces.projects WHERE name = '\(project)';
            """)
    }

    @Test func restRoutesCheckThePathUser() throws {
        let admin = try TestDatabase.connect()
        try seed(admin, host: true)
        defer { cleanUp(admin) }
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "jwt-secret": "\"\(Self.secret)\""])
        try gateway.waitUntilReady()
        let alice = token(["role": "app_user", "sub": "alice-\(run)"])
        let json = ("Content-Type", "application/json")

        let anonymous = try gateway.send("GET", "/rpc/list_user_workspaces")
        #expect(anonymous.status == 401)
        let foreign = try gateway.send("GET", "/rpc/list_user_workspaces", headers: [alice, ("X-A4C-User-Id", "bob-\(run)")])
        #expect(foreign.status == 403)
        #expect(object(foreign)["code"] as? String == "PT403")
        let foreignCreate = try gateway.send("POST", "/rpc/create_user_workspace", body: #"{"projectName":"\#(project)"}"#,
                                             headers: [alice, json, ("X-A4C-User-Id", "bob-\(run)")])
        #expect(foreignCreate.status == 403)

        let own = ("X-A4C-User-Id", "alice-\(run)")
        let created = try gateway.send("POST", "/rpc/create_user_workspace",
                                       body: #"{"projectName":"\#(project)","parentName":"\#(project)","arch":"x86_64"}"#,
                                       headers: [alice, json, own])
        #expect(created.status == 201)
        let workspace = object(created)
        #expect(workspace["state"] as? String == "PROVISIONING")
        #expect(workspace["host"] as? String == project)
        let id = workspace["workspace_id"] as? Int ?? -1

        let listed = try gateway.send("GET", "/rpc/list_user_workspaces", headers: [alice, own])
        #expect(listed.status == 200)
        let rows = (try? JSONSerialization.jsonObject(with: Data(listed.body))) as? [[String: Any]] ?? []
        #expect(rows.map { $0["workspace_id"] as? Int } == [id])

        let bob = token(["role": "app_user", "sub": "bob-\(run)"])
        let stolen = try gateway.send("POST", "/rpc/delete_user_workspace", body: #"{"workspace_id":\#(id)}"#,
                                      headers: [bob, json, ("X-A4C-User-Id", "bob-\(run)")])
        #expect(stolen.status == 404)
        let deleted = try gateway.send("POST", "/rpc/delete_user_workspace", body: #"{"workspace_id":\#(id)}"#,
                                       headers: [alice, json, own])
        #expect(deleted.status == 202)
        #expect(object(deleted)["state"] as? String == "DELETING")
    }

    @Test func noHostHoldingTheImageIs503WithRetryAfter() throws {
        let admin = try TestDatabase.connect()
        try seed(admin, host: false)
        defer { cleanUp(admin) }
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "jwt-secret": "\"\(Self.secret)\""])
        try gateway.waitUntilReady()
        let response = try gateway.send("POST", "/rpc/create_workspace", body: #"{"project_name":"\#(project)"}"#,
                                        headers: [token(["role": "app_user", "sub": "carol-\(run)"]),
                                                  ("Content-Type", "application/json")])
        #expect(response.status == 503)
        #expect(response.header("Retry-After") == "30")
        #expect(object(response)["message"] as? String == "no host holds image \(project) (x86_64)")
    }

    @Test func staleLeaseTokenIs409AndChangesNothing() async throws {
        // Its completion writes an e-mail into the shared outbox and may NOTIFY `notifications`: what
        // BuildQueueNotifyTests counts and MailerTests' mailer would deliver. So it runs while they don't.
        let queue = try await TestDatabase.hold("build-queue")
        defer { withExtendedLifetime(queue) {} }
        let admin = try TestDatabase.connect()
        try seed(admin, host: false)
        defer { cleanUp(admin) }
        let lease = UUID().uuidString.lowercased()
        let rows = try admin.query("""
            INSERT INTO workspaces.builds (image_id, change_number, requested_by, status, attempts, lease_token,
                                           lease_expires_at, worker, started_at)
            SELECT i.id, 8, 'dave', 'IN_PROGRESS', 1, $2::uuid, now() + interval '1 minute', 'w', now()
            FROM workspaces.images i WHERE i.name = $1
            RETURNING id
            """, [project, lease])
        let build = rows.first?.first.flatMap { $0 } ?? "0"
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "jwt-secret": "\"\(Self.secret)\""])
        try gateway.waitUntilReady()
        let worker = [token(["role": "worker"]), ("Content-Type", "application/json")]

        let stale = try gateway.send("POST", "/rpc/complete_build",
                                     body: #"{"build_id":\#(build),"lease_token":"\#(UUID().uuidString)","status":"SUCCEEDED"}"#,
                                     headers: worker)
        #expect(stale.status == 409)
        #expect(object(stale)["code"] as? String == "PT409")
        #expect(try admin.query("SELECT status::text FROM workspaces.builds WHERE id = $1::bigint", [build]) == [["IN_PROGRESS"]])

        let beat = try gateway.send("POST", "/rpc/heartbeat_build", body: #"{"build_id":\#(build),"lease_token":"\#(lease)"}"#,
                                    headers: worker)
        #expect(beat.status == 200)
        #expect(object(beat)["cancel_requested"] as? Bool == false)
        let done = try gateway.send("POST", "/rpc/complete_build",
                                    body: #"{"build_id":\#(build),"lease_token":"\#(lease)","status":"SUCCEEDED","log":"ok"}"#,
                                    headers: worker)
        #expect(done.status == 200)
        #expect(object(done)["status"] as? String == "SUCCEEDED")
        #expect(try admin.query("SELECT count(*) FROM workspaces.notifications WHERE (payload ->> 'build_id') = $1", [build]) == [["1"]])
    }

    /// Placement's row locks (never wait while holding a host row), on real sessions. Both hosts holding the image are
    /// locked by another transaction, so a creation waits for the best one (A); that transaction fills
    /// A and commits. The creation must take B, and let go of A: before the fix it kept A locked (the
    /// row it re-checked and found full) into its commit, the way two creations could deadlock. While
    /// the creation is open, rows referencing B can still be inserted: its lock on B is FOR NO KEY
    /// UPDATE, which does not block the foreign keys' KEY SHARE (FOR UPDATE did).
    @Test func placementHoldsOnlyTheHostItTakes() throws {
        let admin = try TestDatabase.connect()
        let a = "\(project)-a", b = "\(project)-b", other = "\(project)-2"
        try seed(admin, host: false)
        try admin.query("""
            INSERT INTO workspaces.images (project_id, name, arch, status, change_number, built_at)
            SELECT p.id, $2, 'x86_64', 'READY', 7, now() FROM workspaces.projects p WHERE p.name = $1
            """, [project, other])
        try admin.query("INSERT INTO workspaces.hosts (name, disk_capacity, disk_used) VALUES ($1, 100, 0), ($2, 100, 50)", [a, b])
        try admin.query("""
            INSERT INTO workspaces.host_images (host_id, image_id)
            SELECT h.id, i.id FROM workspaces.hosts h, workspaces.images i WHERE h.name IN ($1, $2) AND i.name = $3
            """, [a, b, project])
        defer {
            _ = try? admin.execute("""
                DELETE FROM workspaces.workspaces WHERE project_name = '\(project)';
                DELETE FROM workspaces.host_images WHERE host_id IN (SELECT id FROM workspaces.hosts WHERE name LIKE '\(project)-%');
                DELETE FROM workspaces.hosts WHERE name LIKE '\(project)-%';
                """)
            cleanUp(admin)
            _ = try? admin.query("DELETE FROM workspaces.images WHERE name = $1", [other])
            _ = try? admin.query("DELETE FROM workspaces.projects WHERE name = $1", [project])
        }

        let holder = try TestDatabase.connect()
        try holder.execute("BEGIN")
        try holder.query("SELECT id FROM workspaces.hosts WHERE name IN ($1, $2) FOR UPDATE", [a, b])

        let uri = TestDatabase.uri(), user = "placer-\(run)"
        let created = DispatchSemaphore(value: 0), finish = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
        let result = Mutex<String>("")
        let creator = Thread { [project] in
            do {
                let connection = try PGConnection(uri)
                try connection.execute("SET ROLE app_user")
                try connection.query("SELECT set_config('request.jwt.claims', $1, false)", ["{\"sub\":\"\(user)\",\"role\":\"app_user\"}"])
                try connection.execute("BEGIN")
                let host = try connection.query("SELECT api.create_workspace($1, $1) ->> 'host'", [project])
                result.withLock { $0 = host.first?.first.flatMap { $0 } ?? "?" }
                created.signal()
                finish.wait()
                try connection.execute("COMMIT")
            } catch {
                result.withLock { $0 = "\(error)" }
                created.signal()
            }
            finished.signal()
        }
        creator.start()
        #expect(created.wait(timeout: .now() + 0.5) == .timedOut, "the creation waits while both hosts are locked")
        try holder.query("UPDATE workspaces.hosts SET disk_used = 95 WHERE name = $1", [a])   // A no longer fits
        try holder.execute("COMMIT")
        #expect(created.wait(timeout: .now() + 10) == .success)
        #expect(result.withLock { $0 } == b, "the creation took B once A was full")

        // While the creation is still open: A is free, and B takes new rows referencing it.
        let probe = try TestDatabase.connect()
        try probe.execute("SET lock_timeout = '300ms'")
        var lockedA = false
        do { try probe.query("SELECT id FROM workspaces.hosts WHERE name = $1 FOR UPDATE", [a]) } catch { lockedA = true }
        #expect(!lockedA, "the host the creation re-checked and could not use is not left locked")
        var blockedB = false
        do {
            try probe.query("""
                INSERT INTO workspaces.host_images (host_id, image_id)
                SELECT h.id, i.id FROM workspaces.hosts h, workspaces.images i WHERE h.name = $1 AND i.name = $2
                """, [b, other])
        } catch { blockedB = true }
        #expect(!blockedB, "a row referencing the host being taken is not blocked (FOR NO KEY UPDATE)")
        finish.signal()
        finished.wait()
        #expect(try admin.query("SELECT disk_used FROM workspaces.hosts WHERE name IN ($1, $2) ORDER BY name", [a, b]) == [["95"], ["60"]])
    }
}
