import Foundation

/// One versioned migration on disk: `migrations/NNNN_verb_object.sql`.
public struct MigrationFile: Sendable, Equatable {
    public var version: Int
    /// The file name without `.sql`, e.g. `0002_create_widgets`.
    public var name: String
    public var sql: String

    /// Reads every `*.sql` file of `directory`, refusing names that are not `NNNN_verb_object.sql`
    /// and versions used twice. Sorted by version.
    public static func load(directory: String) throws -> [MigrationFile] {
        let names = try sqlFileNames(in: directory)
        var files: [MigrationFile] = []
        for fileName in names {
            let stem = String(fileName.dropLast(4))
            guard let version = parseVersion(stem) else {
                throw MigrationError.badFileName(fileName)
            }
            if let clash = files.first(where: { $0.version == version }) {
                throw MigrationError.duplicateVersion(version, clash.name, stem)
            }
            let sql = try String(contentsOfFile: "\(directory)/\(fileName)", encoding: .utf8)
            files.append(MigrationFile(version: version, name: stem, sql: sql))
        }
        return files.sorted { $0.version < $1.version }
    }

    /// `0002_create_widgets` -> 2; nil unless four digits, an underscore and a lower-case snake name follow.
    static func parseVersion(_ stem: String) -> Int? {
        let parts = stem.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, parts[0].count == 4, parts[0].allSatisfy(\.isASCII), let version = Int(parts[0]),
              !parts[1].isEmpty,
              parts[1].allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" })
        else { return nil }
        return version
    }

    /// Names of the `*.sql` files of a folder, in byte order (the order repeatable files are applied in).
    static func sqlFileNames(in directory: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".sql") }
                .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        } catch {
            throw MigrationError.unreadableDirectory(directory)
        }
    }
}
