import ArgumentParser
import Foundation

/// What every platform worker (build-worker, mailer, host-agent) is told the same way: the gateway and
/// its `worker` token, and how it waits for work (NOTIFY on --listen-uri, polling as a backstop).
/// Defaults come from environment variables named after the executable: <PREFIX>_TOKEN and
/// <PREFIX>_LISTEN_URI (BUILD_WORKER_, MAILER_, HOST_AGENT_).
public struct WorkerOptions: ParsableArguments {
    @Option(help: "Gateway or nginx base URL.")
    public var gateway: String = "http://127.0.0.1:8080"

    @Option(help: "A token with role worker (default: $<COMMAND>_TOKEN, e.g. $BUILD_WORKER_TOKEN). Mint one: gateway token --role worker; a host agent's names its host (--host NAME), a mailer's its name (--mailer NAME).")
    public var token: String?

    @Option(help: "Seconds between polls while there is no work.")
    public var pollSeconds: Double = 2

    @Option(help: "libpq URI to LISTEN on for the NOTIFY that announces work, so an idle worker wakes at once (default: $<COMMAND>_LISTEN_URI; none: poll only). LISTEN needs no privilege: any login role will do.")
    public var listenUri: String?

    public init() {}

    public func validate() throws {
        guard let url = URL(string: gateway), url.scheme == "http" || url.scheme == "https" else {
            throw ValidationError("--gateway must be an http(s) URL")
        }
        guard pollSeconds > 0 else { throw ValidationError("--poll-seconds must be > 0") }
    }

    /// The gateway client with --token, else $<prefix>_TOKEN; a ValidationError naming both when neither is set.
    public func client(environmentPrefix prefix: String) throws -> GatewayClient {
        guard let token = token ?? ProcessInfo.processInfo.environment["\(prefix)_TOKEN"] else {
            throw ValidationError("no token: pass --token or set \(prefix)_TOKEN")
        }
        return GatewayClient(base: URL(string: gateway)!, token: token)
    }

    /// The listener on `channel` when --listen-uri (or $<prefix>_LISTEN_URI) is given.
    public func listener(channel: String, environmentPrefix prefix: String, log: @escaping (String) -> Void) -> QueueListener? {
        (listenUri ?? ProcessInfo.processInfo.environment["\(prefix)_LISTEN_URI"])
            .map { QueueListener(conninfo: $0, channel: channel, log: log) }
    }
}

/// Waits up to `seconds` for work: on the listener when there is one (true when a NOTIFY woke it),
/// else by sleeping.
public func waitForWork(_ listener: QueueListener?, seconds: Double) -> Bool {
    guard let listener else {
        Thread.sleep(forTimeInterval: seconds)
        return false
    }
    return listener.wait(seconds: seconds)
}
