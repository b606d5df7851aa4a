import Foundation
import PGClient

/// Where the integration tests find PostgreSQL. The test command (`make test`) exports
/// PLATFORM_TEST_DB_URI (superuser, over the project's unix socket, database `platform_test`, already
/// migrated); run by hand, the same default is derived from the checkout's .data folder.
public enum TestDatabase {
    public static let packageRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    public static var port: String { ProcessInfo.processInfo.environment["PLATFORM_DB_PORT"] ?? "55432" }
    public static var socketDirectory: String { "\(packageRoot)/.data/run" }

    /// Superuser connection string for database `name` (default: the migrated test database).
    public static func uri(database name: String? = nil) -> String {
        let env = ProcessInfo.processInfo.environment
        if name == nil, let uri = env["PLATFORM_TEST_DB_URI"] { return uri }
        let db = name ?? env["PLATFORM_TEST_DB_NAME"] ?? "platform_test"
        return "postgresql://postgres@/\(db)?host=\(socketDirectory)&port=\(port)"
    }

    public static func connect(database name: String? = nil) throws -> PGConnection {
        try PGConnection(uri(database: name))
    }

    /// Holds a session advisory lock named `name` until the returned connection is released. The
    /// suites run in parallel on one database; where they must share something that no name of their
    /// own can scope, they take one of these locks for as long as they use it:
    ///   * "build-queue": the build queue and the e-mail outbox. Workers claim any due build and mailers
    ///     any unsent mail; a completion writes mail and may NOTIFY `notifications`, scheduling NOTIFYs
    ///     `builds`. Every test that schedules, claims or completes a build, or claims, marks or counts
    ///     the outbox's mail or its NOTIFYs, holds it.
    ///   * "vm-servers": VM placement. allocate_vm picks the best fit among all available servers, so
    ///     a test that registers servers and allocates on them holds it.
    /// It waits without blocking its thread (pg_try_advisory_lock, polled): swift-testing runs the tests
    /// on the cooperative pool, one thread per core, and a holder that awaits (the container tests) must
    /// find a thread to resume on; waiters blocked in pg_advisory_lock on every thread would wait for it
    /// for ever.
    public static func hold(_ name: String) async throws -> PGConnection {
        let connection = try connect()
        while try connection.query("SELECT pg_try_advisory_lock(hashtext($1))::text", [name]) != [["true"]] {
            try await Task.sleep(for: .milliseconds(50))
        }
        return connection
    }

    /// Removes what a build-queue test made for `image` (its project has the same name): the image's
    /// builds, the requester's e-mails, the image and the project.
    public static func removeImage(_ image: String, requester: String) {
        _ = try? connect().query("""
            WITH mail AS (DELETE FROM workspaces.notifications WHERE recipient = $2),
                 builds AS (DELETE FROM workspaces.builds WHERE image_id IN (SELECT id FROM workspaces.images WHERE name = $1))
            SELECT 1
            """, [image, requester])
        _ = try? connect().query("DELETE FROM workspaces.images WHERE name = $1", [image])
        _ = try? connect().query("DELETE FROM workspaces.projects WHERE name = $1", [image])
    }
}

/// Thread.sleep, for the tests that are async only to wait for a `TestDatabase.hold` lock without
/// blocking a thread (Thread.sleep cannot be called in an async function). Their timed waits keep their
/// thread as before: a `Task.sleep` could resume late on a busy cooperative pool and stretch what they
/// measure.
public func sleepHoldingThread(_ seconds: Double) {
    Thread.sleep(forTimeInterval: seconds)
}
