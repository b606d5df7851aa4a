import ArgumentParser
import DockerEngine
import Foundation
import WorkerSupport

/// `build-worker`: claims image builds through the gateway, runs the build command with the build in
/// its environment (A4C_BUILD_ID, A4C_IMAGE, A4C_PROJECT, A4C_CHANGE, A4C_ARCH, A4C_ATTEMPT), heartbeats
/// while it runs, and reports the result. When idle it waits for NOTIFY builds on a direct database
/// connection (--listen-uri) and polls as a backstop (polling alone works through any pooler or
/// proxy), and periodically returns expired leases to the queue.
/// With --docker-socket instead of --command, the Docker Engine builds the image itself (POST /build)
/// from the worker's Dockerfile template (DockerBuild.swift), tags it for the host agents
/// (`localhost/a4c/<image>:<arch>-<change>`) and records it on --host (add_host_image).
@main
struct BuildWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-worker",
        abstract: "Claim image builds through the gateway, run them, heartbeat, report."
    )

    @OptionGroup var worker: WorkerOptions

    @Option(help: "This worker's name, recorded on the builds it claims.")
    var name: String = ProcessInfo.processInfo.hostName

    @Option(help: "Build command, run with /bin/sh -c; exit 0 = SUCCEEDED. Either this or --docker-socket.")
    var command: String?

    @Option(help: "Build real images through the Docker Engine API on this unix socket (a Docker daemon or podman's service) instead of running --command.")
    var dockerSocket: String?

    @Option(help: "Docker mode: the Dockerfile template ({{BASE_IMAGE}}, {{INSTALL_COMMAND}}, {{SYNC_COMMAND}}; build values arrive as ARG A4C_*). Default: the built-in one.")
    var dockerfileTemplate: String?

    @Option(help: "Docker mode: the image the template starts FROM.")
    var baseImage: String = "localhost/a4c-base:latest"

    @Option(help: "Docker mode: the tools to install (space separated; $A4C_TOOLS in the install command).")
    var tools: String = "curl bash vim emacs"

    @Option(help: "Docker mode: the RUN command that installs $A4C_TOOLS (default: apt-get).")
    var installCommand: String = DockerfileTemplate.aptInstall

    @Option(help: "Docker mode: the RUN command that syncs the source at $A4C_CHANGE of $A4C_PROJECT into /src (in production: p4 sync; default: records the change).")
    var syncCommand: String = DockerfileTemplate.recordSync

    @Option(help: "Docker mode: the network mode of the template's RUN steps (none, host, bridge, ...; default: the engine's). Installing tools from a mirror needs one.")
    var buildNetwork: String?

    @Option(help: "Docker mode: the host whose engine this is; a built image is recorded there (add_host_image). Repeatable.")
    var host: [String] = []

    @Option(help: "Docker mode: a token with role operator for add_host_image (default: $BUILD_WORKER_OPERATOR_TOKEN).")
    var operatorToken: String?

    @Option(help: "Seconds between lease heartbeats while a build runs (the lease lasts 60 s).")
    var heartbeatSeconds: Double = 15

    @Option(help: "Stop after this many builds (0: run until stopped).")
    var builds: Int = 0

    @Option(help: "Stop after this many seconds without a due build (0: never).")
    var idleExit: Double = 0

    func validate() throws {
        _ = try worker.client(environmentPrefix: "BUILD_WORKER")
        guard heartbeatSeconds > 0, heartbeatSeconds < 60 else {
            throw ValidationError("--heartbeat-seconds must be between 0 and 60")
        }
        guard builds >= 0, idleExit >= 0 else { throw ValidationError("--builds and --idle-exit must not be negative") }
        guard (command == nil) != (dockerSocket == nil) else {
            throw ValidationError("pass either --command or --docker-socket")
        }
        if !host.isEmpty, (operatorToken ?? ProcessInfo.processInfo.environment["BUILD_WORKER_OPERATOR_TOKEN"]) == nil {
            throw ValidationError("--host needs --operator-token (or BUILD_WORKER_OPERATOR_TOKEN) for add_host_image")
        }
        if let dockerfileTemplate, !FileManager.default.isReadableFile(atPath: dockerfileTemplate) {
            throw ValidationError("--dockerfile-template \(dockerfileTemplate) is not readable")
        }
    }

    func run() throws {
        prepareWorkerSignals()
        let client = try worker.client(environmentPrefix: "BUILD_WORKER")
        let listener = worker.listener(channel: "builds", environmentPrefix: "BUILD_WORKER", log: log)
        let pollSeconds = worker.pollSeconds
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
                let wait = idleExit > 0 ? min(pollSeconds, max(idleExit - Date().timeIntervalSince(idleSince), 0.01)) : pollSeconds
                if waitForWork(listener, seconds: wait) { log("woken by NOTIFY builds") }
                continue
            }
            if let command {
                _ = try BuildRun(client: client, build: build, command: command, heartbeatSeconds: heartbeatSeconds, log: log).run()
            } else {
                _ = try dockerRun(client: client, build: build)
            }
            done += 1
            idleSince = Date()
        }
    }

    /// One build through the Docker Engine API.
    func dockerRun(client: GatewayClient, build: [String: Any]) throws -> BuildRun.Outcome {
        let text = try dockerfileTemplate.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? DockerfileTemplate.standard
        let operatorClient = (operatorToken ?? ProcessInfo.processInfo.environment["BUILD_WORKER_OPERATOR_TOKEN"])
            .map { GatewayClient(base: client.base, token: $0) }
        return try DockerBuildRun(
            client: client, operatorClient: operatorClient, hosts: host, engine: DockerEngine(socketPath: dockerSocket!),
            template: DockerfileTemplate(text: text, baseImage: baseImage, installCommand: installCommand, syncCommand: syncCommand),
            tools: tools, network: buildNetwork, build: build, heartbeatSeconds: heartbeatSeconds, log: log).run()
    }

    func log(_ line: String) {
        FileHandle.standardError.write(Data("build-worker \(name): \(line)\n".utf8))
    }
}
