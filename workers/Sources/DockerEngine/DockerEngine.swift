import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A client of the Docker Engine API (v1.41) over the engine's unix socket: what the host agent and the
/// build worker need (containers: create, start, inspect, list by label, kill, remove; images: build,
/// inspect, tag; disk usage). It works against a Docker daemon and against podman's compatible service
/// (`podman system service unix:///PATH`). HTTP is async-http-client's (`http+unix://` URLs).
public struct DockerEngine: Sendable {
    /// A non-2xx answer of the engine (`message` is the engine's error message when it sent one).
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var status: Int
        public var message: String
        public var operation: String
        public init(status: Int, message: String, operation: String) {
            self.status = status
            self.message = message
            self.operation = operation
        }
        public var description: String { "\(operation): HTTP \(status): \(message)" }
    }

    public let socketPath: String
    public let apiVersion: String
    private let client: HTTPClient

    /// `socketPath`: the engine's unix socket (`/var/run/docker.sock`, or podman's service socket).
    public init(socketPath: String, apiVersion: String = "v1.41", client: HTTPClient = .shared) {
        self.socketPath = socketPath
        self.apiVersion = apiVersion
        self.client = client
    }

    /// The engine's socket from `DOCKER_HOST` (`unix:///path`), else Docker's default.
    public static func socketPath(fromEnvironment environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let host = environment["DOCKER_HOST"], host.hasPrefix("unix://") { return String(host.dropFirst("unix://".count)) }
        return "/var/run/docker.sock"
    }

    // MARK: - Transport

    struct Answer {
        var status: Int
        var body: ByteBuffer
        var data: Data { Data(body.readableBytesView) }
        var text: String { String(buffer: body) }
    }

    /// One request to `path` (with `query`), an optional body; the whole answer (up to `limit` bytes).
    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: Data? = nil,
              contentType: String = "application/json", timeout: TimeAmount = .seconds(60),
              limit: Int = 64 << 20) async throws -> Answer {
        var components = URLComponents()
        components.path = "/\(apiVersion)\(path)"
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        // URLComponents leaves '+' alone in queries; an engine reads it as a space.
        let uri = (components.percentEncodedPath)
            + (components.percentEncodedQuery.map { "?" + $0.replacingOccurrences(of: "+", with: "%2B") } ?? "")
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: uri) else {
            throw Failure(status: 0, message: "cannot form a URL for socket \(socketPath)", operation: "\(method) \(path)")
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        request.headers.add(name: "Host", value: "docker")
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch {
            throw Failure(status: 0, message: "\(error)", operation: "\(method) \(path)")
        }
        let collected = try await response.body.collect(upTo: limit)
        return Answer(status: Int(response.status.code), body: collected)
    }

    /// `send`, then 2xx required; anything else is a `Failure` carrying the engine's message.
    func expect(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: Data? = nil,
                contentType: String = "application/json", timeout: TimeAmount = .seconds(60),
                accept: Set<Int> = []) async throws -> Answer {
        let answer = try await send(method, path, query: query, body: body, contentType: contentType, timeout: timeout)
        guard (200..<300).contains(answer.status) || accept.contains(answer.status) else {
            throw Failure(status: answer.status, message: Self.message(answer), operation: "\(method) \(path)")
        }
        return answer
    }

    static func message(_ answer: Answer) -> String {
        if let object = try? JSONSerialization.jsonObject(with: answer.data) as? [String: Any],
           let message = object["message"] as? String { return message }
        return answer.text
    }

    static func json(_ object: Any) throws -> Data { try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) }

    static func object(_ answer: Answer) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: answer.data) as? [String: Any] else {
            throw Failure(status: answer.status, message: "expected a JSON object: \(answer.text.prefix(200))", operation: "decode")
        }
        return object
    }

    // MARK: - System

    /// GET /_ping: true when the engine answers.
    public func ping() async -> Bool {
        guard let answer = try? await send(.GET, "/_ping", timeout: .seconds(5)) else { return false }
        return answer.status == 200
    }

    /// GET /info: the engine's data directory (DockerRootDir), where its images and containers live.
    public func dataRoot() async throws -> String? {
        try Self.object(try await expect(.GET, "/info"))["DockerRootDir"] as? String
    }

    /// GET /system/df: bytes used by images, containers' writable layers and volumes.
    public func diskUsage() async throws -> DiskUsage {
        let object = try Self.object(try await expect(.GET, "/system/df"))
        func sum(_ key: String, _ field: String) -> Int64 {
            ((object[key] as? [[String: Any]]) ?? []).reduce(0) { $0 + Int64(($1[field] as? NSNumber)?.int64Value ?? 0) }
        }
        let volumes = ((object["Volumes"] as? [[String: Any]]) ?? []).reduce(Int64(0)) {
            $0 + Int64((($1["UsageData"] as? [String: Any])?["Size"] as? NSNumber)?.int64Value ?? 0)
        }
        let layers = (object["LayersSize"] as? NSNumber)?.int64Value ?? 0
        return DiskUsage(images: max(layers, sum("Images", "Size")), containers: sum("Containers", "SizeRw"), volumes: volumes)
    }
}

/// Bytes the engine's data uses (GET /system/df).
public struct DiskUsage: Sendable, Equatable {
    public var images: Int64
    public var containers: Int64
    public var volumes: Int64
    public var total: Int64 { images + containers + volumes }
}
