import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// The migration tool against real, empty PostgreSQL databases.
@Suite struct MigratorTests {
    let db: ScratchDatabase
    init() throws { db = try ScratchDatabase(prefix: "migrator") }

    func migrator(_ migrations: String, sql: String? = nil, connection: PGConnection? = nil) throws -> Migrator {
        Migrator(connection: try connection ?? db.connect(), migrationsDirectory: migrations, repeatableDirectory: sql)
    }

    func scalar(_ sql: String) throws -> String? { try db.connect().query(sql).first?.first ?? nil }

    @Test func appliesInVersionOrderAndRecordsEach() throws {
        let dir = try ScratchDatabase.folder([
            "0002_add_color.sql": "ALTER TABLE t ADD COLUMN color text; INSERT INTO t VALUES (2, 'red');",
            "0001_create_t.sql": "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);",
        ])
        let applied = try migrator(dir).migrate()
        #expect(applied == ["0001_create_t", "0002_add_color"])
        let rows = try db.connect().query("SELECT version, name, length(checksum), applied_at IS NOT NULL FROM schema_migrations ORDER BY version")
        #expect(rows == [["1", "0001_create_t", "64", "t"], ["2", "0002_add_color", "64", "t"]])
        #expect(try scalar("SELECT string_agg(id || coalesce(color, '-'), ',' ORDER BY id) FROM t") == "1-,2red")
    }

    @Test func rerunIsIdempotentAndReappliesRepeatables() throws {
        let dir = try ScratchDatabase.folder(["0001_create_t.sql": "CREATE TABLE t (id int); INSERT INTO t VALUES (1);"])
        let sql = try ScratchDatabase.folder([
            "b_grants.sql": "COMMENT ON FUNCTION f() IS 'answers';",
            "a_functions.sql": "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT count(*)::int FROM t';",
        ])
        #expect(try migrator(dir, sql: sql).migrate() == ["0001_create_t"])
        #expect(try migrator(dir, sql: sql).migrate() == [])
        #expect(try scalar("SELECT f()") == "1")
        #expect(try scalar("SELECT obj_description('f'::regproc)") == "answers")
        #expect(try scalar("SELECT count(*) FROM schema_migrations") == "1")
    }

    @Test func changedAppliedFileIsRefusedAndNothingIsApplied() throws {
        let dir = try ScratchDatabase.folder(["0001_create_t.sql": "CREATE TABLE t (id int);"])
        let sql = try ScratchDatabase.folder(["f.sql": "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';"])
        try migrator(dir, sql: sql).migrate()
        try "CREATE TABLE t (id bigint);".write(toFile: "\(dir)/0001_create_t.sql", atomically: true, encoding: .utf8)
        try "CREATE TABLE u (id int);".write(toFile: "\(dir)/0002_create_u.sql", atomically: true, encoding: .utf8)
        try "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 2';".write(toFile: "\(sql)/f.sql", atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.checksumMismatch(["0001_create_t.sql"])) { try migrator(dir, sql: sql).migrate() }
        #expect(try scalar("SELECT to_regclass('u') IS NULL") == "t")
        #expect(try scalar("SELECT f()") == "1")
        #expect(try scalar("SELECT count(*) FROM schema_migrations") == "1")
        let status = try migrator(dir).status()
        #expect(status.applied.map(\.changed) == [true])
        #expect(status.pending.map(\.name) == ["0002_create_u"])
    }

    /// A migration's whole-line comments are its documentation: correcting them later is no change.
    /// Its statements are what the checksum guards.
    @Test func editingOnlyTheCommentsOfAnAppliedFileIsNoChange() throws {
        let dir = try ScratchDatabase.folder(["0001_create_t.sql": "-- Why t exists (see the old tracker).\nCREATE TABLE t (id int);\n"])
        try migrator(dir).migrate()
        try "-- Why t exists, in this repository's words.\n\n-- A second line.\nCREATE TABLE t (id int);\n"
            .write(toFile: "\(dir)/0001_create_t.sql", atomically: true, encoding: .utf8)
        #expect(try migrator(dir).migrate() == [])
        #expect(try migrator(dir).status().applied.map(\.changed) == [false])
        try "-- Why t exists.\nCREATE TABLE t (id int); -- a trailing comment is part of its statement\n"
            .write(toFile: "\(dir)/0001_create_t.sql", atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.checksumMismatch(["0001_create_t.sql"])) { try migrator(dir).migrate() }
    }

    /// Databases migrated before checksums left comments out recorded the whole text's checksum: an
    /// untouched file still matches it and the record is brought up to date; a file whose comments were
    /// edited since matches only when it names that earlier checksum (`-- earlier checksum: <hex>`).
    @Test func recordsOfTheWholeTextAreAcceptedAndUpdated() throws {
        let text = "-- Made long ago.\nCREATE TABLE t (id int);\n", other = "CREATE TABLE u (id int);\n"
        let dir = try ScratchDatabase.folder(["0001_create_t.sql": text, "0002_create_u.sql": other])
        try migrator(dir).migrate()
        let wholeText = "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')"
        let old = try #require(try db.connect().query(wholeText, [text]).first?.first ?? nil)
        let oldOther = try #require(try db.connect().query(wholeText, [other]).first?.first ?? nil)
        try db.connect().query("UPDATE schema_migrations SET checksum = CASE version WHEN 1 THEN $1 ELSE $2 END", [old, oldOther])

        try "-- Made for the workspaces.\nCREATE TABLE t (id int);\n".write(toFile: "\(dir)/0001_create_t.sql", atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.checksumMismatch(["0001_create_t.sql"])) { try migrator(dir).migrate() }
        #expect(try migrator(dir).status().applied.map(\.changed) == [true, false])

        try "-- Made for the workspaces.\n-- earlier checksum: \(old)\nCREATE TABLE t (id int);\n"
            .write(toFile: "\(dir)/0001_create_t.sql", atomically: true, encoding: .utf8)
        #expect(try migrator(dir).status().applied.map(\.changed) == [false, false])
        #expect(try migrator(dir).migrate() == [])
        let recorded = try db.connect().query("SELECT checksum FROM schema_migrations ORDER BY version").map { $0[0] ?? "" }
        #expect(!recorded.contains(old) && !recorded.contains(oldOther), "both records now hold the statements' checksum")
        #expect(try migrator(dir).migrate() == [])
    }

    @Test func failingMigrationIsRolledBackWhole() throws {
        let dir = try ScratchDatabase.folder([
            "0001_create_t.sql": "CREATE TABLE t (id int);",
            "0002_break.sql": "CREATE TABLE half (id int); INSERT INTO t VALUES ('not a number');",
        ])
        #expect(throws: MigrationError.self) { try migrator(dir).migrate() }
        #expect(try scalar("SELECT count(*) FROM schema_migrations") == "1")
        #expect(try scalar("SELECT to_regclass('half') IS NULL") == "t")
    }

    @Test func refusesBadNamesDuplicatesAndOutOfOrder() throws {
        let bad = try ScratchDatabase.folder(["1_create_t.sql": "SELECT 1;"])
        #expect(throws: MigrationError.badFileName("1_create_t.sql")) { try migrator(bad).migrate() }
        let duplicate = try ScratchDatabase.folder(["0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 1;"])
        #expect(throws: MigrationError.duplicateVersion(1, "0001_a", "0001_b")) { try migrator(duplicate).migrate() }
        let dir = try ScratchDatabase.folder(["0002_b.sql": "SELECT 1;"])
        try migrator(dir).migrate()
        try "SELECT 1;".write(toFile: "\(dir)/0001_a.sql", atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.outOfOrder(pending: "0001_a", latestApplied: "0002_b")) { try migrator(dir).migrate() }
    }

    /// Two runs at once: the advisory lock makes the second wait, then find nothing to do. Without the
    /// lock both would run the slow migration and one would fail (table exists / duplicate version).
    @Test func concurrentRunsAreSerialisedByTheLock() throws {
        let dir = try ScratchDatabase.folder([
            "0001_create_log.sql": "CREATE TABLE run_log (at timestamptz DEFAULT clock_timestamp()); INSERT INTO run_log DEFAULT VALUES; SELECT pg_sleep(1);",
        ])
        let uri = TestDatabase.uri(database: db.name)
        let results = Mutex<[Result<[String], any Error>]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            let result = Result { try Migrator(connection: PGConnection(uri), migrationsDirectory: dir, repeatableDirectory: nil).migrate() }
            results.withLock { $0.append(result) }
        }
        let outcomes = try results.withLock { try $0.map { try $0.get() } }.sorted { $0.count > $1.count }
        #expect(outcomes == [["0001_create_log"], []])
        #expect(try scalar("SELECT count(*) FROM run_log") == "1")
    }

    @Test func lockIsHeldWhileMigrating() throws {
        let dir = try ScratchDatabase.folder([
            "0001_probe.sql": "CREATE TABLE probe AS SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database());",
        ])
        try migrator(dir).migrate()
        #expect(try scalar("SELECT held FROM probe") == "1")
        #expect(try scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())") == "0")
    }
}
