/// Why `gateway migrate` refused or stopped. Every case names the file or version concerned.
public enum MigrationError: Error, CustomStringConvertible, Equatable {
    case unreadableDirectory(String)
    case badFileName(String)
    case duplicateVersion(Int, String, String)
    case checksumMismatch([String])
    case missingFile([String])
    case outOfOrder(pending: String, latestApplied: String)
    case failed(file: String, error: String)

    public var description: String {
        switch self {
        case .unreadableDirectory(let dir):
            return "cannot read the folder \(dir)"
        case .badFileName(let file):
            return "migration file \(file) is not named NNNN_verb_object.sql (four digits, then lower-case snake case)"
        case .duplicateVersion(let version, let first, let second):
            return "migration version \(version) is used twice: \(first).sql and \(second).sql"
        case .checksumMismatch(let names):
            return "applied migration(s) changed since they were applied: \(names.joined(separator: ", ")). "
                + "Migrations are forward-only: restore the file(s) and add a new migration instead. Nothing was applied."
        case .missingFile(let names):
            return "applied migration(s) missing from the migrations folder: \(names.joined(separator: ", ")). Nothing was applied."
        case .outOfOrder(let pending, let latest):
            return "pending migration \(pending) is older than the latest applied \(latest); renumber it after \(latest). Nothing was applied."
        case .failed(let file, let error):
            return "\(file) failed and was rolled back: \(error)"
        }
    }
}
