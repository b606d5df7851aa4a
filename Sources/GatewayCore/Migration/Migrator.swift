import Foundation

/// The one way schemas change: applies `migrations/NNNN_verb_object.sql` in order, each in its own
/// transaction and recorded in `schema_migrations`, then re-applies the repeatable `sql/*.sql` files in
/// one transaction and asks gateways to reload their schema cache. A session advisory lock serialises
/// concurrent runs.
public final class Migrator {
    /// Key of the advisory lock every `gateway migrate` holds while it runs.
    public static let lockKey: Int64 = 0x6761_7465_7761_7900 // "gateway\0"

    let connection: PGConnection
    let migrationsDirectory: String
    let repeatableDirectory: String?
    let log: (String) -> Void

    public init(connection: PGConnection, migrationsDirectory: String, repeatableDirectory: String?,
                log: @escaping (String) -> Void = { _ in }) {
        self.connection = connection
        self.migrationsDirectory = migrationsDirectory
        self.repeatableDirectory = repeatableDirectory
        self.log = log
    }

    /// What the database has applied, as recorded in `schema_migrations`.
    public struct Applied: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var checksum: String
        public var appliedAt: String
    }

    /// Applies what is pending and re-applies the repeatable files. Returns the names applied.
    @discardableResult
    public func migrate() throws -> [String] {
        let files = try MigrationFile.load(directory: migrationsDirectory)
        let repeatables = try repeatableDirectory.map { dir in
            try MigrationFile.sqlFileNames(in: dir).map { name in
                (name, try String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8))
            }
        } ?? []
        return try withLock {
            try ensureTable()
            let pending = try verify(files)
            for file in pending { try apply(file) }
            if !repeatables.isEmpty { try applyRepeatables(repeatables) }
            return pending.map(\.name)
        }
    }

    /// Applied and pending migrations, with a flag on applied files whose content changed.
    public func status() throws -> (applied: [(Applied, changed: Bool)], pending: [MigrationFile]) {
        let files = try MigrationFile.load(directory: migrationsDirectory)
        try ensureTable()
        let applied = try appliedMigrations()
        let appliedVersions = Set(applied.map(\.version))
        var rows: [(Applied, changed: Bool)] = []
        for record in applied {
            let file = files.first { $0.version == record.version }
            rows.append((record, changed: try file.map { try match(record, $0) == .changed } ?? true))
        }
        return (rows, files.filter { !appliedVersions.contains($0.version) })
    }

    // MARK: - Steps

    private func withLock<T>(_ body: () throws -> T) throws -> T {
        try connection.query("SELECT pg_advisory_lock($1::bigint)", [String(Self.lockKey)])
        defer { _ = try? connection.query("SELECT pg_advisory_unlock($1::bigint)", [String(Self.lockKey)]) }
        return try body()
    }

    private func ensureTable() throws {
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS public.schema_migrations (
                version    integer PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                duration_ms integer    NOT NULL
            );
            COMMENT ON TABLE public.schema_migrations IS 'Versioned migrations applied by gateway migrate (migrations/NNNN_verb_object.sql).';
            """)
    }

    func appliedMigrations() throws -> [Applied] {
        try connection.query("SELECT version, name, checksum, applied_at::text FROM public.schema_migrations ORDER BY version")
            .map { Applied(version: Int($0[0]!)!, name: $0[1]!, checksum: $0[2]!, appliedAt: $0[3]!) }
    }

    /// Refuses changed, missing or out-of-order files before anything runs; returns the pending files.
    private func verify(_ files: [MigrationFile]) throws -> [MigrationFile] {
        let applied = try appliedMigrations()
        let byVersion = Dictionary(uniqueKeysWithValues: files.map { ($0.version, $0) })
        var missing: [String] = [], changed: [String] = [], earlier: [MigrationFile] = []
        for record in applied {
            guard let file = byVersion[record.version] else { missing.append(record.name); continue }
            switch try match(record, file) {
            case .current: break
            case .earlier: earlier.append(file)
            case .changed: changed.append(file.name + ".sql")
            }
        }
        if !missing.isEmpty { throw MigrationError.missingFile(missing) }
        if !changed.isEmpty { throw MigrationError.checksumMismatch(changed) }
        for file in earlier {
            try connection.query("UPDATE public.schema_migrations SET checksum = $2 WHERE version = $1",
                                 [String(file.version), try checksum(file)])
        }
        let appliedVersions = Set(applied.map(\.version))
        let pending = files.filter { !appliedVersions.contains($0.version) }
        if let latest = applied.last, let first = pending.first, first.version < latest.version {
            throw MigrationError.outOfOrder(pending: first.name, latestApplied: latest.name)
        }
        return pending
    }

    private func apply(_ file: MigrationFile) throws {
        let started = Date()
        try transaction(file.name + ".sql") {
            try connection.execute(file.sql)
            try connection.execute("RESET ROLE")
            let milliseconds = Int(Date().timeIntervalSince(started) * 1000)
            try connection.query(
                "INSERT INTO public.schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)",
                [String(file.version), file.name, try checksum(file), String(milliseconds)])
        }
        log("applied \(file.name).sql (\(Int(Date().timeIntervalSince(started) * 1000)) ms)")
    }

    private func applyRepeatables(_ files: [(name: String, sql: String)]) throws {
        try transaction("sql/ (\(files.map(\.name).joined(separator: ", ")))") {
            for file in files {
                do {
                    try connection.execute(file.sql)
                    try connection.execute("RESET ROLE")
                } catch let error as PGError {
                    throw MigrationError.failed(file: "sql/\(file.name)", error: error.description)
                }
            }
            try connection.execute("NOTIFY pgrst, 'reload schema'")
        }
        log("re-applied \(files.count) repeatable file(s) from sql/ and notified pgrst to reload the schema cache")
    }

    /// Runs `body` in one transaction; any error rolls it back and names `label`.
    private func transaction(_ label: String, _ body: () throws -> Void) throws {
        try connection.execute("BEGIN")
        do {
            try body()
            try connection.execute("COMMIT")
        } catch {
            _ = try? connection.execute("ROLLBACK")
            if let error = error as? MigrationError { throw error }
            throw MigrationError.failed(file: label, error: String(describing: error))
        }
    }

    /// SHA-256 of the file's text, computed by PostgreSQL so the package needs no crypto library.
    func checksum(_ sql: String) throws -> String {
        try connection.query("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", [sql])[0][0]!
    }

    /// What a migration's checksum covers: its statements. Whole-line `--` comments and blank lines are
    /// left out, so that the explanation a migration carries can be corrected after it ran; anything
    /// else (a trailing comment, a comment inside a function body that is not on a line of its own) is
    /// part of a statement and counts.
    static func statements(_ sql: String) -> String {
        sql.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { line in
                let text = line.trimmingCharacters(in: .whitespaces)
                return !text.isEmpty && !text.hasPrefix("--")
            }
            .joined(separator: "\n")
    }

    func checksum(_ file: MigrationFile) throws -> String { try checksum(Self.statements(file.sql)) }

    /// How a record matches the file now on disk. `earlier`: the record holds the checksum of the whole
    /// text, as `gateway migrate` recorded them before checksums left comments out; either the file is
    /// unchanged since, or its comments were edited and it names that checksum on a line
    /// `-- earlier checksum: <hex>` (whoever edits them vouches that only comments changed). Such a
    /// record is brought up to date when the migration runs.
    enum Match { case current, earlier, changed }

    func match(_ record: Applied, _ file: MigrationFile) throws -> Match {
        if try checksum(file) == record.checksum { return .current }
        if try checksum(file.sql) == record.checksum { return .earlier }
        let declared = file.sql.split(separator: "\n").compactMap { line -> Substring? in
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("-- earlier checksum: ") else { return nil }
            return Substring(text.dropFirst("-- earlier checksum: ".count))
        }
        return declared.contains(Substring(record.checksum)) ? .earlier : .changed
    }
}
