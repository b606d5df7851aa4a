import Foundation
import WorkerSupport
#if canImport(Glibc)
import Glibc
#endif

/// One claimed build: runs the command with the build in its environment, heartbeats the lease while
/// it runs, and reports the result. A lost lease (409) stops the command and reports nothing; a
/// cancellation request stops it and reports CANCELLED.
struct BuildRun {
    let client: GatewayClient
    let build: [String: Any]
    let command: String
    let heartbeatSeconds: Double
    let log: (String) -> Void

    enum Outcome: Equatable { case reported(String), leaseLost }

    func run() throws -> Outcome {
        guard let id = build["build_id"] as? Int, let token = build["lease_token"] as? String else {
            throw GatewayClient.Failure(status: 0, body: "claim_build answered without build_id/lease_token")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        for (key, field) in [("A4C_BUILD_ID", "build_id"), ("A4C_IMAGE", "image"), ("A4C_PROJECT", "project"),
                             ("A4C_CHANGE", "change"), ("A4C_ARCH", "arch"), ("A4C_ATTEMPT", "attempts")] {
            if let value = build[field] { environment[key] = "\(value)" }
        }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let collector = OutputCollector(output.fileHandleForReading)
        try process.run()
        log("build \(id): running `\(command)`")

        var nextBeat = Date().addingTimeInterval(heartbeatSeconds)
        var cancelled = false
        while process.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
            guard Date() >= nextBeat else { continue }
            nextBeat = Date().addingTimeInterval(heartbeatSeconds)
            do {
                let beat = try client.call("heartbeat_build", ["build_id": id, "lease_token": token]) as? [String: Any]
                if beat?["cancel_requested"] as? Bool == true, !cancelled {
                    log("build \(id): cancellation requested, stopping the command")
                    cancelled = true
                    stop(process)
                }
            } catch let failure as GatewayClient.Failure where failure.status == 409 || failure.status == 404 {
                log("build \(id): lease lost (\(failure)); stopping the command, reporting nothing")
                stop(process)
                process.waitUntilExit()
                return .leaseLost
            }
        }
        process.waitUntilExit()
        let status = cancelled ? "CANCELLED" : process.terminationStatus == 0 ? "SUCCEEDED" : "FAILED"
        do {
            _ = try client.call("complete_build", ["build_id": id, "lease_token": token, "status": status, "log": collector.tail()])
        } catch let failure as GatewayClient.Failure where failure.status == 409 {
            log("build \(id): finished, but the lease was lost meanwhile; result not reported")
            return .leaseLost
        }
        log("build \(id): \(status) (exit \(process.terminationStatus))")
        return .reported(status)
    }
}

/// SIGTERM to everything the command started: Foundation starts the child as the leader of a process
/// group of its own, so the group's id is its pid; without a group, the shell alone.
private func stop(_ process: Process) {
    if kill(-process.processIdentifier, SIGTERM) != 0 { process.terminate() }
}

/// Reads a child's output on its own thread and keeps the last 64 KiB for the build log.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = Data()
    private let finished = DispatchSemaphore(value: 0)
    static let limit = 65_536

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.withLock {
                    bytes.append(chunk)
                    if bytes.count > Self.limit { bytes = bytes.suffix(Self.limit) }
                }
            }
            finished.signal()
        }
    }

    /// The collected output once the child closed it (waits at most 5 s).
    func tail() -> String {
        _ = finished.wait(timeout: .now() + 5)
        return lock.withLock { String(decoding: bytes, as: UTF8.self) }
    }
}
