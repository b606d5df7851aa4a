import Foundation

/// What a workspace container is created with (POST /containers/create).
public struct ContainerSpec: Sendable {
    public var image: String
    public var command: [String]?
    public var hostname: String?
    public var environment: [String: String]
    public var labels: [String: String]
    /// Bytes of memory (HostConfig.Memory); nil: no limit.
    public var memoryBytes: Int64?
    /// CPUs in units of 10^-9 (HostConfig.NanoCpus); nil: no limit.
    public var nanoCPUs: Int64?
    /// HostConfig.NetworkMode: "none" keeps the container off every network.
    public var networkMode: String

    public init(image: String, command: [String]? = nil, hostname: String? = nil, environment: [String: String] = [:],
                labels: [String: String] = [:], memoryBytes: Int64? = nil, nanoCPUs: Int64? = nil, networkMode: String = "none") {
        self.image = image
        self.command = command
        self.hostname = hostname
        self.environment = environment
        self.labels = labels
        self.memoryBytes = memoryBytes
        self.nanoCPUs = nanoCPUs
        self.networkMode = networkMode
    }

    var body: [String: Any] {
        var hostConfig: [String: Any] = ["NetworkMode": networkMode]
        if let memoryBytes { hostConfig["Memory"] = memoryBytes }
        if let nanoCPUs { hostConfig["NanoCpus"] = nanoCPUs }
        var body: [String: Any] = ["Image": image, "Labels": labels, "HostConfig": hostConfig,
                                   "Env": environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }]
        if let command { body["Cmd"] = command }
        if let hostname { body["Hostname"] = hostname }
        return body
    }
}

/// A container as GET /containers/{id}/json describes it (the fields the platform reads).
public struct ContainerDetails: Sendable {
    public var id: String
    public var name: String
    public var status: String          // created, running, exited, ...
    public var running: Bool
    public var hostname: String
    public var labels: [String: String]
    public var memoryBytes: Int64
    public var nanoCPUs: Int64
    public var networkMode: String
    /// The container's address on its first network; nil with network mode none.
    public var ipAddress: String?
}

/// A container as GET /containers/json lists it.
public struct ContainerSummary: Sendable {
    public var id: String
    public var name: String             // without the leading '/'
    public var state: String
    public var labels: [String: String]
}

extension DockerEngine {
    /// Creates container `name`; its id. 409 (Failure) when the name is taken, 404 when the image is missing.
    public func createContainer(name: String, _ spec: ContainerSpec) async throws -> String {
        let answer = try await expect(.POST, "/containers/create", query: [("name", name)], body: try Self.json(spec.body))
        guard let id = try Self.object(answer)["Id"] as? String else {
            throw Failure(status: answer.status, message: "no Id in \(answer.text)", operation: "create \(name)")
        }
        return id
    }

    /// Starts a container (already running is fine).
    public func startContainer(_ id: String) async throws {
        _ = try await expect(.POST, "/containers/\(id)/start", accept: [304])
    }

    /// The container, or nil when there is none of that name or id.
    public func inspectContainer(_ id: String) async throws -> ContainerDetails? {
        let answer = try await send(.GET, "/containers/\(id)/json")
        if answer.status == 404 { return nil }
        // podman answers 500 "... does not exist in database" for a container removed meanwhile.
        if answer.status == 500, Self.message(answer).contains("does not exist") { return nil }
        guard answer.status == 200 else {
            throw Failure(status: answer.status, message: Self.message(answer), operation: "inspect \(id)")
        }
        let object = try Self.object(answer)
        let state = object["State"] as? [String: Any] ?? [:]
        let config = object["Config"] as? [String: Any] ?? [:]
        let host = object["HostConfig"] as? [String: Any] ?? [:]
        let network = object["NetworkSettings"] as? [String: Any] ?? [:]
        var ip = (network["IPAddress"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        if ip == nil, let networks = network["Networks"] as? [String: Any] {
            ip = networks.values.compactMap { ($0 as? [String: Any])?["IPAddress"] as? String }.first { !$0.isEmpty }
        }
        return ContainerDetails(
            id: object["Id"] as? String ?? id,
            name: (object["Name"] as? String ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/")),
            status: state["Status"] as? String ?? "", running: state["Running"] as? Bool ?? false,
            hostname: config["Hostname"] as? String ?? "",
            labels: config["Labels"] as? [String: String] ?? [:],
            memoryBytes: (host["Memory"] as? NSNumber)?.int64Value ?? 0,
            nanoCPUs: (host["NanoCpus"] as? NSNumber)?.int64Value ?? 0,
            networkMode: host["NetworkMode"] as? String ?? "", ipAddress: ip)
    }

    /// Every container (running or not) carrying all of `labels` ("key" or "key=value").
    public func listContainers(labels: [String]) async throws -> [ContainerSummary] {
        let filters = String(decoding: try Self.json(["label": labels]), as: UTF8.self)
        let answer = try await expect(.GET, "/containers/json", query: [("all", "true"), ("filters", filters)])
        guard let list = try JSONSerialization.jsonObject(with: answer.data) as? [[String: Any]] else { return [] }
        return list.map { item in
            let names = item["Names"] as? [String] ?? []
            return ContainerSummary(
                id: item["Id"] as? String ?? "",
                name: (names.first ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/")),
                state: item["State"] as? String ?? "", labels: item["Labels"] as? [String: String] ?? [:])
        }
    }

    /// Sends a signal to the container's main process (default SIGKILL).
    public func killContainer(_ id: String, signal: String = "KILL") async throws {
        _ = try await expect(.POST, "/containers/\(id)/kill", query: [("signal", signal)])
    }

    /// Removes the container, stopping it first (force) and its anonymous volumes; true when it existed.
    @discardableResult
    public func removeContainer(_ id: String) async throws -> Bool {
        let answer = try await expect(.DELETE, "/containers/\(id)", query: [("force", "true"), ("v", "true")], accept: [404])
        return answer.status != 404
    }
}
