import Foundation
@testable import GatewayCore

/// A throwaway database in the local cluster, for tests that need an empty one (the migration tool's).
final class ScratchDatabase {
    let name: String

    init(prefix: String = "scratch") throws {
        name = "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
        try TestDatabase.connect(database: "postgres").execute("CREATE DATABASE \(name)")
    }

    deinit {
        _ = try? TestDatabase.connect(database: "postgres").execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    func connect() throws -> PGConnection { try TestDatabase.connect(database: name) }

    /// A temporary folder with the given files (`name -> contents`), removed by the caller.
    static func folder(_ files: [String: String]) throws -> String {
        let path = NSTemporaryDirectory() + "mig-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (name, contents) in files {
            try contents.write(toFile: "\(path)/\(name)", atomically: true, encoding: .utf8)
        }
        return path
    }
}
