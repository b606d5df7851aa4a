import ArgumentParser
import Foundation
import WorkerSupport

/// `build-worker`: claims image builds through the gateway, runs the build command with the build in
/// its environment (A4C_BUILD_ID, A4C_IMAGE, A4C_PROJECT, A4C_CHANGE, A4C_ARCH, A4C_ATTEMPT), heartbeats
/// while it runs, and reports the result. When idle it waits for NOTIFY builds on a direct database
/// connection (--listen-uri) and polls as a backstop (polling alone works through any pooler or
/// proxy), and periodically returns expired leases to the queue.
@main
struct BuildWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-worker",
        abstract: "Claim image builds through the gateway, run them, heartbeat, report."
    )

    @Option(help: "Gateway or nginx base URL.")
    var gateway: String = "http://127.0.0.1:8080"

    @Option(help: "A token with role worker (default: $BUILD_WORKER_TOKEN). Mint one: gateway token --role worker.")
    var token: String?

    @Option(help: "This worker's name, recorded on the builds it claims.")
    var name: String = ProcessInfo.processInfo.hostName

    @Option(help: "Build command, run with /bin/sh -c; exit 0 = SUCCEEDED.")
    var command: String

    @Option(help: "Seconds between polls while no build is due.")
    var pollSeconds: Double = 2

    @Option(help: "libpq URI to LISTEN for NOTIFY builds on, so an idle worker wakes as soon as a build is due (default: $BUILD_WORKER_LISTEN_URI; none: poll only). Any login role will do.")
    var listenUri: String?

    @Option(help: "Seconds between lease heartbeats while a build runs (the lease lasts 60 s).")
    var heartbeatSeconds: Double = 15

    @Option(help: "Stop after this many builds (0: run until stopped).")
    var builds: Int = 0

    @Option(help: "Stop after this many seconds without a due build (0: never).")
    var idleExit: Double = 0

    func validate() throws {
        guard let url = URL(string: gateway), url.scheme == "http" || url.scheme == "https" else {
            throw ValidationError("--gateway must be an http(s) URL")
        }
        guard (token ?? ProcessInfo.processInfo.environment["BUILD_WORKER_TOKEN"]) != nil else {
            throw ValidationError("no token: pass --token or set BUILD_WORKER_TOKEN")
        }
        guard pollSeconds > 0, heartbeatSeconds > 0, heartbeatSeconds < 60 else {
            throw ValidationError("--poll-seconds must be > 0 and --heartbeat-seconds between 0 and 60")
        }
        guard builds >= 0, idleExit >= 0 else { throw ValidationError("--builds and --idle-exit must not be negative") }
    }

    func run() throws {
        prepareWorkerSignals()
        let client = GatewayClient(base: URL(string: gateway)!,
                                   token: token ?? ProcessInfo.processInfo.environment["BUILD_WORKER_TOKEN"]!)
        let listener = (listenUri ?? ProcessInfo.processInfo.environment["BUILD_WORKER_LISTEN_URI"])
            .map { QueueListener(conninfo: $0, channel: "builds", log: log) }
        var done = 0, idleSince = Date(), lastRequeue = Date.distantPast
        while builds == 0 || done < builds {
            if Date().timeIntervalSince(lastRequeue) > 30 {
                _ = try? client.call("requeue_expired_builds", [:])
                lastRequeue = Date()
            }
            let claimed: Any
            do {
                claimed = try client.call("claim_build", ["worker": name])
            } catch {
                log("claim failed: \(error); retrying in \(pollSeconds) s")
                Thread.sleep(forTimeInterval: pollSeconds)
                continue
            }
            guard let build = claimed as? [String: Any] else {
                if idleExit > 0, Date().timeIntervalSince(idleSince) >= idleExit { log("idle: exiting"); return }
                if let listener {
                    let wait = idleExit > 0 ? min(pollSeconds, max(idleExit - Date().timeIntervalSince(idleSince), 0.01)) : pollSeconds
                    if listener.wait(seconds: wait) { log("woken by NOTIFY builds") }
                } else {
                    Thread.sleep(forTimeInterval: pollSeconds)
                }
                continue
            }
            _ = try BuildRun(client: client, build: build, command: command, heartbeatSeconds: heartbeatSeconds, log: log).run()
            done += 1
            idleSince = Date()
        }
    }

    func log(_ line: String) {
        FileHandle.standardError.write(Data("build-worker \(name): \(line)\n".utf8))
    }
}
