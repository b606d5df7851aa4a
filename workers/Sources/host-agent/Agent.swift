import DockerEngine
import Foundation
import WorkerSupport
#if canImport(Glibc)
import Glibc
#endif

/// Labels the agent puts on every container it creates; reconcile lists containers by the first.
enum Label {
    static let agent = "a4c.agent"          // the host's name: the container is this agent's
    static let workspace = "a4c.workspace"  // the workspace id
    static let owner = "a4c.owner"          // the workspace owner's user id
    static let image = "a4c.image"          // the image reference it was created from
}

/// One host's tasks against its engine. Synchronous: one task at a time, reconcile between tasks, so a
/// reconcile pass never sees a container half created by this agent.
struct Agent {
    struct Limits {
        var memoryBytes: Int64
        var nanoCPUs: Int64
    }

    let host: String
    let client: GatewayClient
    let engine: DockerEngine
    let limits: Limits
    let command: [String]
    let hostAddress: String
    let log: (String) -> Void

    /// Carries out one claimed task and reports it with the claim's task_token. A failure is reported
    /// (report_task_failure): for a provision the database then hands out a cleanup task (the stale
    /// container is removed) before the retry; a cleanup or delete is retried. A report whose claim went
    /// stale (the workspace was deleted meanwhile, or the task was claimed again) gets 409 and changes
    /// nothing: the delete task that follows removes what this one made.
    func carryOut(_ task: [String: Any]) {
        guard let id = integer(task["workspace_id"]), let kind = task["task"] as? String,
              let name = task["container_name"] as? String, let claim = task["task_token"] as? String else {
            log("claim_host_task answered something unexpected: \(task)")
            return
        }
        do {
            switch kind {
            case "provision":
                let (hostname, address) = try provision(id: id, name: name, task: task)
                _ = try client.call("report_task_success", ["workspace_id": id, "task_token": claim, "hostname": hostname, "ip": address])
                log("workspace \(id): container \(name) running (hostname \(hostname), address \(address))")
            case "cleanup", "delete":
                let existed = try blocking { [engine] in try await engine.removeContainer(name) }
                _ = try client.call("report_task_success", ["workspace_id": id, "task_token": claim])
                log("workspace \(id): \(kind): container \(name) \(existed ? "removed" : "was already gone")")
            default:
                throw DockerEngine.Failure(status: 0, message: "unknown task \(kind)", operation: "task")
            }
        } catch {
            log("workspace \(id): \(kind) failed: \(error)")
            do {
                _ = try client.call("report_task_failure", ["workspace_id": id, "task_token": claim, "reason": "\(kind) on \(host): \(error)"])
            } catch {
                log("workspace \(id): reporting the failure failed too (the task is handed out again later): \(error)")
            }
        }
    }

    /// Creates and starts the workspace's container; its hostname and address. A container of that name
    /// left by an earlier attempt of this agent (it died mid-task) is removed first: a fresh state.
    func provision(id: Int64, name: String, task: [String: Any]) throws -> (String, String) {
        guard let image = task["image"] as? String, let arch = task["arch"] as? String,
              let change = integer(task["change"]) else {
            throw DockerEngine.Failure(status: 0, message: "the task names no built image: \(task)", operation: "provision")
        }
        let reference = ImageReference.reference(image: image, arch: arch, change: change)
        let spec = ContainerSpec(
            image: reference, command: command, hostname: name,
            environment: ["A4C_WORKSPACE_ID": "\(id)", "A4C_IMAGE": image, "A4C_CHANGE": "\(change)"],
            labels: [Label.agent: host, Label.workspace: "\(id)", Label.owner: task["owner"] as? String ?? "",
                     Label.image: reference],
            memoryBytes: limits.memoryBytes, nanoCPUs: limits.nanoCPUs, networkMode: "none")
        let details = try blocking { [engine] () async throws -> ContainerDetails in
            // Only a crashed attempt leaves one (failed attempts are removed by the cleanup task).
            _ = try await engine.removeContainer(name)
            let created = try await engine.createContainer(name: name, spec)
            try await engine.startContainer(created)
            guard let details = try await engine.inspectContainer(created) else {
                throw DockerEngine.Failure(status: 404, message: "container \(name) vanished right after its start", operation: "inspect")
            }
            return details
        }
        guard details.running else {
            throw DockerEngine.Failure(status: 0, message: "container \(name) is \(details.status), not running", operation: "start")
        }
        return (details.hostname.isEmpty ? name : details.hostname, details.ipAddress ?? hostAddress)
    }

    /// The cleanup daemon, both directions: sends the names of this agent's running containers to
    /// reconcile_host (READY workspaces whose container is gone become FAILED, DELETING ones are deleted)
    /// and removes what it returns (containers the database does not know, or knows as FAILED), plus
    /// this agent's containers that are no longer running (a dead workspace: its row becomes FAILED).
    func reconcile() throws {
        let containers = try blocking { [engine, host] in try await engine.listContainers(labels: ["\(Label.agent)=\(host)"]) }
        let running = containers.filter { $0.state == "running" }.map(\.name)
        let dead = containers.filter { $0.state != "running" }.map(\.name)
        let answer = try client.call("reconcile_host", ["host": host, "container_ids": running]) as? [String: Any] ?? [:]
        let remove = Set((answer["remove"] as? [String] ?? []) + dead)
        for name in remove.sorted() {
            do {
                try blocking { [engine] in _ = try await engine.removeContainer(name) }
                log("reconcile: removed container \(name)")
            } catch {
                log("reconcile: removing \(name) failed: \(error)")
            }
        }
        let failed = answer["failed"] as? [Any] ?? [], deleted = answer["deleted"] as? [Any] ?? []
        if !failed.isEmpty || !deleted.isEmpty || !remove.isEmpty {
            log("reconcile: \(running.count) running; failed \(failed), deleted \(deleted), removed \(remove.sorted())")
        }
    }
}

extension Agent {
    /// Reports the host's disk (report_host_disk): the bytes the engine's images, containers and volumes
    /// take (GET /system/df) and the bytes free on the filesystem of its data directory (statvfs; the
    /// agent runs on the host it serves). Best effort: a failure is logged, the next pass tries again.
    func reportDisk() {
        do {
            let (usage, root) = try blocking { [engine] in (try await engine.diskUsage(), try await engine.dataRoot()) }
            var arguments: [String: Any] = ["host": host, "used_bytes": usage.total]
            if let root, let free = freeBytes(root) { arguments["free_bytes"] = free }
            _ = try client.call("report_host_disk", arguments)
        } catch {
            log("reporting the disk failed: \(error)")
        }
    }

    func freeBytes(_ path: String) -> Int64? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }
}

/// A JSON number as decoded by JSONSerialization (Int on Linux, NSNumber elsewhere).
func integer(_ value: Any?) -> Int64? {
    switch value {
    case let value as Int: return Int64(value)
    case let value as Int64: return value
    case let value as NSNumber: return value.int64Value
    default: return nil
    }
}
