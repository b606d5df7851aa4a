import DockerEngine
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import GatewayTesting

/// Real workspaces, containers and not only rows: the `host-agent` and `build-worker` executables against the real gateway
/// and a real Docker Engine API, podman's, which the test command starts (scripts/podman.sh) and names
/// in PLATFORM_TEST_DOCKER_SOCKET. Containers run with network mode none; nothing is sent to them.
/// Without that service the suite is skipped, and says so.
@Suite(.serialized, .enabled(if: ContainerEngine.available, "\(ContainerEngine.skipReason)"))
struct HostAgentContainerTests {
    static let secret = "host-agent-test-secret-at-least-32-chars"
    static let baseImage = "localhost/a4c-base:latest"

    /// A gateway, a fresh host served by a running agent, and a user.
    final class Rig: @unchecked Sendable {
        let gateway: GatewayProcess
        let engine: DockerEngine
        let host: String
        let user: String
        let agent: Process
        let agentLog: String
        let userToken: String

        init(agentArguments: [String] = []) throws {
            gateway = try GatewayProcess(settings: ["db-schemas": "\"api\"", "jwt-secret": "\"\(HostAgentContainerTests.secret)\""])
            try gateway.waitUntilReady()
            engine = DockerEngine(socketPath: ContainerEngine.socket!)
            host = "agent-test-\(UInt32.random(in: 0...UInt32.max))"
            user = "\(host)-user"
            userToken = try Self.token("app_user", sub: user)
            agentLog = NSTemporaryDirectory() + "\(host).log"
            _ = FileManager.default.createFile(atPath: agentLog, contents: nil)
            agent = try WorkerProcess.process("host-agent", gateway: gateway, token: Self.token("worker", agent: ("host", host)), [
                    "--host", host, "--docker-socket", engine.socketPath,
                    "--register-disk-gb", "100", "--operator-token", Self.token("operator"),
                    "--memory-mb", "256", "--cpus", "0.5", "--reconcile-seconds", "1", "--poll-seconds", "0.2",
                    "--listen-uri", TestDatabase.uri()] + agentArguments)
            let log = FileHandle(forWritingAtPath: agentLog)!
            agent.standardOutput = log
            agent.standardError = log
            try agent.run()
        }

        deinit { stop() }

        func stop() {
            if agent.isRunning { agent.terminate(); agent.waitUntilExit() }
        }

        var log: String { (try? String(contentsOfFile: agentLog, encoding: .utf8)) ?? "" }

        /// The build worker in Docker mode against this rig's gateway and engine, for one build named
        /// `name`, started; its standard error goes to the returned pipe. `steps` are its template options.
        func startBuildWorker(name: String, _ steps: [String]) throws -> (Process, Pipe) {
            let worker = try WorkerProcess.process("build-worker", gateway: gateway, token: Self.token("worker"), [
                "--name", name, "--builds", "1", "--poll-seconds", "0.2", "--idle-exit", "60",
                "--docker-socket", engine.socketPath, "--base-image", HostAgentContainerTests.baseImage,
                "--build-network", "none"] + steps)
            let output = Pipe()
            worker.standardError = output
            try worker.run()
            return (worker, output)
        }

        /// A token of `role`; `agent` names the agent a worker token acts for (("host", h), as
        /// `gateway token --role worker --host h` mints it).
        static func token(_ role: String, sub: String? = nil, agent: (claim: String, name: String)? = nil) throws -> String {
            try GatewayProcess.token(role: role, sub: sub, agent: agent, secret: HostAgentContainerTests.secret)
        }

        /// POST /rpc/<function> as the user; the JSON answer.
        func rpc(_ function: String, _ body: String) throws -> (Int, Any?) {
            let answer = try gateway.send("POST", "/rpc/\(function)", body: body, headers: [
                ("Content-Type", "application/json"), ("Authorization", "Bearer " + userToken)])
            return (answer.status, answer.json)
        }

        /// Waits until the agent registered its host. Generous: the agent first waits for the engine to
        /// answer its ping, and podman's first answers after it starts, while the suite's other tests
        /// build images on it, have taken over 30 s on a loaded 2-core machine.
        func waitForHost() async throws {
            do {
                try await waitUntil("host \(host) registered", seconds: 120) {
                    try TestDatabase.connect().query("SELECT 1 FROM workspaces.hosts WHERE name = $1", [host]).count == 1
                }
            } catch {
                throw TestFailure("\(error); agent log:\n\(log)")
            }
        }

        /// A READY image of a fresh project held by this host, whose reference on the engine is the base
        /// image (as if it had been built and pulled there).
        func readyImage() async throws -> String {
            try await waitForHost()
            let project = "\(host)-project"
            let db = try TestDatabase.connect()
            _ = try db.query("""
                WITH p AS (INSERT INTO workspaces.projects (name) VALUES ($1) RETURNING id),
                     i AS (INSERT INTO workspaces.images (project_id, name, arch, status, change_number, built_at, workspace_gb)
                           SELECT p.id, $1, 'x86_64', 'READY', 7, now(), 1 FROM p RETURNING id)
                INSERT INTO workspaces.host_images (host_id, image_id)
                SELECT h.id, i.id FROM i, workspaces.hosts h WHERE h.name = $2
                """, [project, host])
            let reference = ImageReference.reference(image: project, arch: "x86_64", change: 7)
            let parts = reference.split(separator: ":")
            try await engine.tagImage(HostAgentContainerTests.baseImage, repository: String(parts[0]), tag: String(parts[1]))
            return project
        }

        func state(_ workspace: Int) throws -> String? {
            try TestDatabase.connect().query("SELECT state::text FROM workspaces.workspaces WHERE id = $1", [String(workspace)]).first?.first ?? nil
        }

        /// Creates a workspace of `project` over /rpc; its id.
        func createWorkspace(_ project: String) throws -> Int {
            let (status, json) = try rpc("create_workspace", #"{"project_name":"\#(project)"}"#)
            let id = (json as? [String: Any])?["workspace_id"] as? Int
            guard status == 200, let id else { throw TestFailure("create_workspace: \(status) \(String(describing: json))") }
            return id
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test func aWorkspaceIsARunningContainerWithItsLabelsAndLimitsAndDeletingRemovesIt() async throws {
        let rig = try Rig()
        defer { rig.stop() }
        let project = try await rig.readyImage()
        let id = try rig.createWorkspace(project)
        try await waitUntil("workspace \(id) READY; agent log:\n\(rig.log)") { try rig.state(id) == "READY" }

        let container = try #require(try await rig.engine.inspectContainer("ws-\(id)"))
        #expect(container.running)
        #expect(container.hostname == "ws-\(id)")
        #expect(container.labels["a4c.agent"] == rig.host)
        #expect(container.labels["a4c.workspace"] == "\(id)")
        #expect(container.labels["a4c.owner"] == rig.user)
        #expect(container.memoryBytes == 256 << 20)
        #expect(container.nanoCPUs == 500_000_000)
        #expect(container.networkMode == "none")
        let (_, listed) = try rig.rpc("list_workspaces", "{}")
        let mine = (listed as? [[String: Any]])?.first { $0["workspace_id"] as? Int == id }
        #expect(mine?["hostname"] as? String == "ws-\(id)")
        #expect(mine?["ip"] as? String == "127.0.0.1")      // network none: the host's address

        let (deleted, _) = try rig.rpc("delete_workspace", #"{"workspace_id":\#(id)}"#)
        #expect(deleted == 200)
        try await waitUntil("workspace \(id) gone; agent log:\n\(rig.log)") { try rig.state(id) == nil }
        #expect(try await rig.engine.inspectContainer("ws-\(id)") == nil)

        // The agent reported the host's disk as the engine and the filesystem measure it.
        let disk = try TestDatabase.connect().query(
            "SELECT disk_measured_bytes > 0, disk_free_bytes > 0, disk_measured_at IS NOT NULL FROM workspaces.hosts WHERE name = $1", [rig.host])
        #expect(disk == [["t", "t", "t"]], "\(rig.log)")
    }

    @Test func reconcileMarksAWorkspaceWhoseContainerWasKilledBehindTheAgentsBack() async throws {
        let rig = try Rig()
        defer { rig.stop() }
        let project = try await rig.readyImage()
        let id = try rig.createWorkspace(project)
        try await waitUntil("workspace \(id) READY; agent log:\n\(rig.log)") { try rig.state(id) == "READY" }

        try await rig.engine.killContainer("ws-\(id)")
        // reconcile_host spares workspaces that changed within the last minute; make that minute pass.
        _ = try TestDatabase.connect().query(
            "UPDATE workspaces.workspaces SET updated_at = now() - interval '2 minutes' WHERE id = $1", [String(id)])
        try await waitUntil("workspace \(id) FAILED; agent log:\n\(rig.log)") { try rig.state(id) == "FAILED" }
        let error = try TestDatabase.connect().query("SELECT last_error FROM workspaces.workspaces WHERE id = $1", [String(id)])
        #expect(error.first?.first??.contains("vanished") == true)
        try await waitUntil("the dead container removed") { try await rig.engine.inspectContainer("ws-\(id)") == nil }

        // A container labelled as the agent's that the database does not know is removed too.
        let stray = "stray-\(rig.host)"
        _ = try await rig.engine.createContainer(name: stray, ContainerSpec(
            image: Self.baseImage, command: ["sleep", "600"], labels: ["a4c.agent": rig.host], networkMode: "none"))
        // The agent's reconcile pass may remove it between its creation and its start (seen in CI:
        // start answered 404): that is the behaviour under test, not a failure.
        do { try await rig.engine.startContainer(stray) } catch let failure as DockerEngine.Failure where failure.status == 404 {}
        try await waitUntil("the stray container removed; agent log:\n\(rig.log)") { try await rig.engine.inspectContainer(stray) == nil }
    }

    /// A creation that fails half-way is cleaned up before it is retried: the container exists but cannot start (its command is missing), so
    /// each attempt fails after the creation; the stale container is removed (CLEANING) before each
    /// retry, and after max_attempts the workspace is FAILED and reconcile removes the last container.
    @Test func aCreationThatFailsAfterTheContainerExistsCleansUpBeforeTheRetry() async throws {
        let rig = try Rig(agentArguments: ["--container-command", "/no/such/command"])
        defer { rig.stop() }
        let project = try await rig.readyImage()
        let id = try rig.createWorkspace(project)
        try await waitUntil("workspace \(id) FAILED; agent log:\n\(rig.log)") { try rig.state(id) == "FAILED" }
        let attempts = try TestDatabase.connect().query("SELECT attempts FROM workspaces.workspaces WHERE id = $1", [String(id)])
        #expect(attempts == [["3"]])
        // Each failed attempt's container is removed before the retry: by the cleanup task, or by a
        // reconcile pass that found it dead first (the agent's two loops race for it; either is right).
        let log = rig.log
        let removals = log.components(separatedBy: "cleanup: container ws-\(id) removed").count - 1
            + log.components(separatedBy: "reconcile: removed container ws-\(id)\n").count - 1
        #expect(removals >= 2, "\(log)")
        // The last attempt's container (FAILED: no retry follows) goes with the next reconcile pass.
        try await waitUntil("the last attempt's container removed; agent log:\n\(rig.log)") {
            try await rig.engine.inspectContainer("ws-\(id)") == nil
        }
    }

    /// The build worker builds a real image from the Dockerfile template through the engine, records it
    /// on the host and completes the build; a workspace is then created from that image.
    @Test func anImageBuiltFromTheTemplateBecomesAWorkspace() async throws {
        let queue = try await TestDatabase.hold("build-queue")   // no other test claims builds meanwhile
        defer { withExtendedLifetime(queue) {} }
        let rig = try Rig()
        defer { rig.stop() }
        try await rig.waitForHost()
        let project = "\(rig.host)-built"
        let (scheduled, json) = try rig.rpc("schedule_image_build",
                                            #"{"image_name":"\#(project)","project":"\#(project)","change":42,"priority":100}"#)
        #expect(scheduled == 200, "\(String(describing: json))")

        let (worker, output) = try rig.startBuildWorker(name: project, [
            "--tools", "vi wget",
            // busybox has the tools built in: "installing" links them
            "--install-command", #"for t in $A4C_TOOLS; do ln -s /bin/busybox /usr/bin/$t; done"#,
            "--sync-command", #"echo "synced $A4C_PROJECT@$A4C_CHANGE" > /src/CHANGE"#,
            "--host", rig.host, "--operator-token", try Rig.token("operator")])
        worker.waitUntilExit()
        let workerLog = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(worker.terminationStatus == 0, "\(workerLog)")

        let build = try TestDatabase.connect().query("""
            SELECT b.status::text, i.status::text, i.change_number::text, b.log
            FROM workspaces.builds b JOIN workspaces.images i ON i.id = b.image_id WHERE i.name = $1
            """, [project])
        #expect(build.first?[0] == "SUCCEEDED", "\(build) \(workerLog)")
        #expect(build.first?[1] == "READY")
        #expect(build.first?[2] == "42")
        #expect(build.first?[3]?.contains("recorded on host \(rig.host)") == true)
        let reference = ImageReference.reference(image: project, arch: "x86_64", change: 42)
        #expect(try await rig.engine.inspectImage(reference) != nil)
        defer { Task { [engine = rig.engine] in try? await engine.removeImage(reference) } }

        let id = try rig.createWorkspace(project)
        try await waitUntil("workspace \(id) READY; agent log:\n\(rig.log)") { try rig.state(id) == "READY" }
        let container = try #require(try await rig.engine.inspectContainer("ws-\(id)"))
        #expect(container.running)
        #expect(container.labels["a4c.image"] == reference)
        #expect(container.labels["a4c.change"] == "42")            // the template's LABEL, from the image
        let (deleted, _) = try rig.rpc("delete_workspace", #"{"workspace_id":\#(id)}"#)
        #expect(deleted == 200)
        try await waitUntil("workspace \(id) gone") { try rig.state(id) == nil }
    }

    /// A template step that fails (here the source sync) fails the build: FAILED through the fenced
    /// protocol with the engine's output, and the image is recorded on no host.
    @Test func aFailingTemplateStepFailsTheBuild() async throws {
        let queue = try await TestDatabase.hold("build-queue")
        defer { withExtendedLifetime(queue) {} }
        let rig = try Rig()
        defer { rig.stop() }
        try await rig.waitForHost()
        let project = "\(rig.host)-broken"
        let (scheduled, json) = try rig.rpc("schedule_image_build",
                                            #"{"image_name":"\#(project)","project":"\#(project)","change":5,"priority":100}"#)
        #expect(scheduled == 200, "\(String(describing: json))")
        let (worker, output) = try rig.startBuildWorker(name: project, [
            "--tools", "", "--install-command", "true",
            "--sync-command", #"echo "no depot for $A4C_PROJECT" >&2; exit 3"#,
            "--host", rig.host, "--operator-token", try Rig.token("operator")])
        worker.waitUntilExit()
        let workerLog = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(worker.terminationStatus == 0, "\(workerLog)")
        let build = try TestDatabase.connect().query("""
            SELECT b.status::text, i.status::text, b.log,
                   EXISTS (SELECT FROM workspaces.host_images hi WHERE hi.image_id = i.id)::text
            FROM workspaces.builds b JOIN workspaces.images i ON i.id = b.image_id WHERE i.name = $1
            """, [project])
        #expect(build.first?[0] == "FAILED", "\(build) \(workerLog)")
        #expect(build.first?[1] == "FAILED")
        #expect(build.first?[2]?.contains("no depot for \(project)") == true, "\(build)")
        #expect(build.first?[3] == "false")
    }

    /// A build cancelled while the engine runs it is abandoned and reported CANCELLED (not after the
    /// 30 s its sync step would take).
    @Test func aCancelledDockerBuildIsReportedCancelled() async throws {
        let queue = try await TestDatabase.hold("build-queue")
        defer { withExtendedLifetime(queue) {} }
        let rig = try Rig()
        defer { rig.stop() }
        let project = "\(rig.host)-cancelled"
        let (_, json) = try rig.rpc("schedule_image_build",
                                    #"{"image_name":"\#(project)","project":"\#(project)","change":9,"priority":100}"#)
        let build = try #require((json as? [String: Any])?["build_id"] as? Int)
        let (worker, output) = try rig.startBuildWorker(name: project, [
            "--heartbeat-seconds", "0.3", "--tools", "", "--install-command", "true", "--sync-command", "sleep 30"])
        let status = "SELECT status::text FROM workspaces.builds WHERE id = $1"
        try await waitUntil("build \(build) IN_PROGRESS") { try TestDatabase.connect().query(status, [String(build)]) == [["IN_PROGRESS"]] }
        try await Task.sleep(for: .seconds(1))                 // the engine is running the template
        let started = Date()
        let (cancelled, _) = try rig.rpc("cancel_build", #"{"build_id":\#(build)}"#)
        #expect(cancelled == 200)
        worker.waitUntilExit()
        let workerLog = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(Date().timeIntervalSince(started) < 20, "\(workerLog)")
        #expect(try TestDatabase.connect().query(status, [String(build)]) == [["CANCELLED"]], "\(workerLog)")
    }
}

/// Where the tests find the engine: PLATFORM_TEST_DOCKER_SOCKET, checked with a plain GET /_ping.
enum ContainerEngine {
    static let socket: String? = {
        guard let path = ProcessInfo.processInfo.environment["PLATFORM_TEST_DOCKER_SOCKET"], !path.isEmpty else { return nil }
        return path
    }()

    static let available: Bool = socket.map(ping) ?? false

    static var skipReason: String {
        guard let socket else {
            return "SKIPPED: no container engine: PLATFORM_TEST_DOCKER_SOCKET is not set (scripts/podman.sh start could not install or start podman)"
        }
        return "SKIPPED: the container engine at \(socket) does not answer GET /_ping"
    }

    /// One synchronous exchange on the socket (the suite's condition is evaluated outside any task).
    static func ping(_ path: String) -> Bool {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return false }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n".utf8)
        guard Glibc.write(fd, request, request.count) == request.count else { return false }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = Glibc.read(fd, &buffer, buffer.count)
        return count > 0 && String(decoding: buffer[..<count], as: UTF8.self).hasPrefix("HTTP/1.") &&
            String(decoding: buffer[..<count], as: UTF8.self).contains(" 200 ")
    }
}

/// Polls `condition` every 100 ms for up to `seconds`.
func waitUntil(_ what: String, seconds: Double = 30, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw HostAgentContainerTests.TestFailure("timed out after \(seconds) s waiting for: \(what)")
}
