import ArgumentParser
import DockerEngine
import Foundation
import WorkerSupport

/// `host-agent`: runs one host's workspace containers (docs/workers.md). It claims the
/// host's tasks through the gateway with a `worker` token naming the host (`gateway token --role worker
/// --host <--host>`: an agent acts only for its own host) (claim_host_task: provision, cleanup, delete),
/// carries them out against the Docker Engine API on the host's unix socket (a Docker daemon, or
/// podman's compatible service), and reports them (report_task_success / report_task_failure). Every
/// --reconcile-seconds it compares the containers it labelled with the database (reconcile_host):
/// workspaces whose container vanished are marked, containers the database does not want are removed.
/// Idle, it waits for NOTIFY host_tasks on a direct database connection (--listen-uri) and polls as a
/// backstop.
@main
struct HostAgent: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host-agent",
        abstract: "Carry out a host's workspace tasks against the Docker Engine API; reconcile containers with the database."
    )

    @OptionGroup var worker: WorkerOptions

    @Option(help: "The host's name, as registered (register_host); the `host` claim of the token (gateway token --role worker --host NAME).")
    var host: String = ProcessInfo.processInfo.hostName

    @Option(help: "The Docker Engine API's unix socket (default: $DOCKER_HOST's unix:// path, else /var/run/docker.sock).")
    var dockerSocket: String?

    @Option(help: "With --operator-token: register the host with this disk capacity (GB) at start when it is not registered yet.")
    var registerDiskGb: Int?

    @Option(help: "A token with role operator, used only to register the host (default: $HOST_AGENT_OPERATOR_TOKEN).")
    var operatorToken: String?

    @Option(help: "Memory limit of each workspace container, MiB (HostConfig.Memory).")
    var memoryMb: Int = 2048

    @Option(help: "CPU limit of each workspace container, in CPUs (HostConfig.NanoCpus).")
    var cpus: Double = 1

    @Option(help: "The command a workspace container runs, split on spaces (its main process; the workspace lives while it runs).")
    var containerCommand: String = "sleep 2147483647"

    @Option(help: "The address reported for a workspace whose container has none of its own (network mode none): the host's, through which people reach it.")
    var hostAddress: String = "127.0.0.1"

    @Option(help: "Seconds between reconcile passes (containers vs the database).")
    var reconcileSeconds: Double = 30

    @Option(help: "Seconds between reports of the host's disk usage (report_host_disk).")
    var diskSeconds: Double = 60

    @Option(help: "Stop after this many seconds (0: run until stopped); for tests.")
    var runFor: Double = 0

    func validate() throws {
        _ = try worker.client(environmentPrefix: "HOST_AGENT")
        guard reconcileSeconds > 0, diskSeconds > 0, runFor >= 0 else {
            throw ValidationError("--reconcile-seconds and --disk-seconds must be > 0, --run-for >= 0")
        }
        guard memoryMb >= 6, cpus > 0, !containerCommand.isEmpty else {
            throw ValidationError("--memory-mb must be >= 6, --cpus > 0, --container-command not empty")
        }
        if registerDiskGb != nil, (operatorToken ?? ProcessInfo.processInfo.environment["HOST_AGENT_OPERATOR_TOKEN"]) == nil {
            throw ValidationError("--register-disk-gb needs --operator-token (or HOST_AGENT_OPERATOR_TOKEN)")
        }
    }

    func run() throws {
        prepareWorkerSignals()
        let environment = ProcessInfo.processInfo.environment
        let client = try worker.client(environmentPrefix: "HOST_AGENT")
        let pollSeconds = worker.pollSeconds
        let engine = DockerEngine(socketPath: dockerSocket ?? DockerEngine.socketPath(fromEnvironment: environment))
        let agent = Agent(
            host: host, client: client, engine: engine,
            limits: .init(memoryBytes: Int64(memoryMb) << 20, nanoCPUs: Int64((cpus * 1e9).rounded())),
            command: containerCommand.split(separator: " ").map(String.init), hostAddress: hostAddress, log: log)

        while !(try blocking { await engine.ping() }) {
            log("the Docker Engine API does not answer on \(engine.socketPath); retrying in \(pollSeconds) s")
            Thread.sleep(forTimeInterval: pollSeconds)
        }
        if let disk = registerDiskGb {
            let operatorClient = GatewayClient(base: client.base, token: operatorToken ?? environment["HOST_AGENT_OPERATOR_TOKEN"]!)
            do {
                _ = try operatorClient.call("register_host", ["name": host, "disk_capacity": disk])
                log("registered host \(host) (\(disk) GB)")
            } catch let failure as GatewayClient.Failure where failure.status == 409 {
                log("host \(host) is registered already")
            }
        }

        let listener = worker.listener(channel: "host_tasks", environmentPrefix: "HOST_AGENT", log: log)
        let started = Date()
        var lastReconcile = Date.distantPast, lastDisk = Date.distantPast
        log("serving host \(host) through \(engine.socketPath)")
        while runFor == 0 || Date().timeIntervalSince(started) < runFor {
            if Date().timeIntervalSince(lastReconcile) >= reconcileSeconds {
                do { try agent.reconcile() } catch { log("reconcile failed: \(error)") }
                lastReconcile = Date()
            }
            if Date().timeIntervalSince(lastDisk) >= diskSeconds {
                agent.reportDisk()
                lastDisk = Date()
            }
            let claimed: Any
            do {
                claimed = try client.call("claim_host_task", ["host": host])
            } catch {
                log("claim failed: \(error); retrying in \(pollSeconds) s")
                Thread.sleep(forTimeInterval: pollSeconds)
                continue
            }
            guard let task = claimed as? [String: Any] else {
                let untilReconcile = max(reconcileSeconds - Date().timeIntervalSince(lastReconcile), 0.01)
                let wait = min(pollSeconds, untilReconcile)
                if waitForWork(listener, seconds: wait) { log("woken by NOTIFY host_tasks") }
                continue
            }
            agent.carryOut(task)
        }
        log("ran \(runFor) s: exiting")
    }

    func log(_ line: String) {
        FileHandle.standardError.write(Data("host-agent \(host): \(line)\n".utf8))
    }
}
