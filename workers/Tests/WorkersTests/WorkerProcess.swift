import Foundation
import GatewayTesting

/// The workers' executables as the tests run them: built by this package (next to the test bundle),
/// or from $WORKERS_BINARY_DIR.
enum WorkerProcess {
    static func executable(_ name: String) throws -> URL {
        if let folder = ProcessInfo.processInfo.environment["WORKERS_BINARY_DIR"] {
            return URL(fileURLWithPath: folder).appendingPathComponent(name)
        }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent(name) }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw HTTPClient.Failure(message: "\(name) not found next to the test bundle (swift build --package-path workers)")
        }
        return found
    }

    /// A started `name` told to use `gateway` with `token`; `arguments` follow the common options.
    static func process(_ name: String, gateway: GatewayProcess, token: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = try executable(name)
        process.arguments = ["--gateway", "http://127.0.0.1:\(gateway.port)", "--token", token] + arguments
        return process
    }
}
