import ArgumentParser
import Foundation
import GatewayCore

/// `gateway migrate [up|status]`: the one way the database schema changes.
struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply migrations/NNNN_verb_object.sql in order, then re-apply sql/*.sql.",
        discussion: """
            Each migration runs in its own transaction and is recorded (version, name, SHA-256 checksum, time)
            in public.schema_migrations. A changed applied file is refused before anything runs. An advisory
            lock serialises concurrent runs. The repeatable files of sql/ (functions, grants, comments) are then
            re-applied in file-name order in one transaction, followed by NOTIFY pgrst, 'reload schema'.
            Connect as a superuser (migrations create roles): --db-uri or PLATFORM_ADMIN_DB_URI.
            """,
        subcommands: [Up.self, Status.self],
        defaultSubcommand: Up.self
    )

    struct Options: ParsableArguments {
        @Option(name: .customLong("db-uri"), help: "Superuser connection URI (default: $PLATFORM_ADMIN_DB_URI).")
        var dbURI: String?

        @Option(help: "Folder of versioned migrations.")
        var migrations: String = "migrations"

        @Option(help: "Folder of repeatable SQL files re-applied on every run.")
        var sql: String = "sql"

        func validate() throws {
            guard resolvedURI != nil else {
                throw ValidationError("no database: pass --db-uri or set PLATFORM_ADMIN_DB_URI")
            }
        }

        var resolvedURI: String? { dbURI ?? ProcessInfo.processInfo.environment["PLATFORM_ADMIN_DB_URI"] }

        func migrator() throws -> Migrator {
            let connection = try PGConnection(resolvedURI!)
            try connection.execute("SET application_name = 'gateway migrate'; SET client_min_messages = warning")
            return Migrator(connection: connection, migrationsDirectory: migrations, repeatableDirectory: sql,
                            log: { printError("migrate: \($0)") })
        }
    }

    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply pending migrations and re-apply sql/ (default).")
        @OptionGroup var options: Options

        func run() throws {
            do {
                let applied = try options.migrator().migrate()
                printError("migrate: \(applied.isEmpty ? "no pending migrations" : "\(applied.count) migration(s) applied")")
            } catch {
                printError("migrate: error: \(error)")
                throw ExitCode.failure
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List applied and pending migrations.")
        @OptionGroup var options: Options

        func run() throws {
            do {
                let (applied, pending) = try options.migrator().status()
                for (record, changed) in applied {
                    print("applied  \(record.name)  \(record.appliedAt)\(changed ? "  CHANGED OR MISSING ON DISK" : "")")
                }
                for file in pending { print("pending  \(file.name)") }
                if applied.isEmpty && pending.isEmpty { print("no migrations") }
                if applied.contains(where: { $0.changed }) { throw ExitCode.failure }
            } catch let exit as ExitCode {
                throw exit
            } catch {
                printError("migrate: error: \(error)")
                throw ExitCode.failure
            }
        }
    }
}

/// Writes a line to standard error (the `stderr` global is not usable under Swift 6 strict concurrency).
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
