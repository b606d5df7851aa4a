import Foundation
@testable import GatewayCore

/// Where the integration tests find PostgreSQL. The test command (`make test`) exports
/// PLATFORM_TEST_DB_URI (superuser, over the project's unix socket, database `platform_test`, already
/// migrated); run by hand, the same default is derived from the checkout's .data folder.
enum TestDatabase {
    static let packageRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    static var port: String { ProcessInfo.processInfo.environment["PLATFORM_DB_PORT"] ?? "55432" }
    static var socketDirectory: String { "\(packageRoot)/.data/run" }

    /// Superuser connection string for database `name` (default: the migrated test database).
    static func uri(database name: String? = nil) -> String {
        let env = ProcessInfo.processInfo.environment
        if name == nil, let uri = env["PLATFORM_TEST_DB_URI"] { return uri }
        let db = name ?? env["PLATFORM_TEST_DB_NAME"] ?? "platform_test"
        return "postgresql://postgres@/\(db)?host=\(socketDirectory)&port=\(port)"
    }

    static func connect(database name: String? = nil) throws -> PGConnection {
        try PGConnection(uri(database: name))
    }

    /// Holds a session advisory lock named `name` until the returned connection is released: tests
    /// that drain a shared queue (the build queue) take it so they never claim each other's work.
    static func hold(_ name: String) throws -> PGConnection {
        let connection = try connect()
        try connection.query("SELECT pg_advisory_lock(hashtext($1))", [name])
        return connection
    }

    /// Removes what a build-queue test made for `image` (its project has the same name): the image's
    /// builds, the requester's e-mails, the image and the project.
    static func removeImage(_ image: String, requester: String) {
        _ = try? connect().query("""
            WITH mail AS (DELETE FROM workspaces.notifications WHERE recipient = $2),
                 builds AS (DELETE FROM workspaces.builds WHERE image_id IN (SELECT id FROM workspaces.images WHERE name = $1))
            SELECT 1
            """, [image, requester])
        _ = try? connect().query("DELETE FROM workspaces.images WHERE name = $1", [image])
        _ = try? connect().query("DELETE FROM workspaces.projects WHERE name = $1", [image])
    }
}
