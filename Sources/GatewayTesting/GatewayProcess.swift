import Foundation
import Synchronization
import PGClient

/// The real `gateway` binary running as a child process against the test database, with a temporary
/// config file and free ports, plus a minimal raw-socket HTTP/1.1 client to talk to it.
public final class GatewayProcess: @unchecked Sendable {
    public let port: Int
    public let adminPort: Int
    public let process = Process()
    public let logPath: String
    /// The config file it was started with (a reload test edits it).
    public let configPath: String

    /// The authenticator's URI for the test database (same socket and database as `TestDatabase`).
    public static var authenticatorURI: String {
        TestDatabase.uri().replacingOccurrences(of: "://postgres@", with: "://authenticator@")
    }

    /// The authenticator's URI for another database of the local cluster (a `ScratchDatabase`).
    public static func authenticatorURI(database name: String) -> String {
        TestDatabase.uri(database: name).replacingOccurrences(of: "://postgres@", with: "://authenticator@")
    }

    /// Starts the binary; `settings` are extra or overriding config-file lines (`key = value`).
    public init(settings: [String: String] = [:], environment: [String: String] = [:]) throws {
        port = Self.freePort()
        adminPort = Self.freePort()
        var lines: [String: String] = [
            "db-uri": "\"\(Self.authenticatorURI)\"",
            "db-schemas": "\"test_rpc, api\"",
            "db-anon-role": "\"web_anon\"",
            "db-pool": "4",
            "server-port": "\(port)",
            "admin-server-port": "\(adminPort)",
            "log-level": "\"info\"",
        ]
        lines.merge(settings) { $1 }
        let base = NSTemporaryDirectory() + "gateway-test-\(UUID().uuidString)"
        configPath = base + ".conf"
        logPath = base + ".log"
        try lines.map { "\($0.key) = \($0.value)" }.joined(separator: "\n").write(toFile: configPath, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: try Self.binary())
        process.arguments = [configPath]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PGRST_") }.merging(environment) { $1 }
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
        Self.children.withLock { $0.append(process.processIdentifier) }
    }

    deinit { stop() }

    /// SIGTERM and wait (graceful shutdown).
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// The process's stderr so far (access log, errors).
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Polls `/ready` on the admin port until 200 (or throws after `timeout` seconds).
    public func waitUntilReady(timeout: Double = 20) throws {
        let until = Date().addingTimeInterval(timeout)
        while Date() < until {
            if let response = try? HTTPClient.send(port: adminPort, method: "GET", path: "/ready"), response.status == 200 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HTTPClient.Failure(message: "gateway not ready after \(timeout)s; log:\n\(log)")
    }

    /// Sends one request on a fresh connection.
    public func send(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) throws -> HTTPClient.Response {
        try HTTPClient.send(port: port, method: method, path: path, body: body.map { Array($0.utf8) }, headers: headers)
    }

    // MARK: Helpers

    private static let children = Mutex<[Int32]>([])
    private static let killAtExit: Void = { atexit { GatewayProcess.children.withLock { $0.forEach { kill($0, SIGKILL) } } } }()

    /// The built binary: $GATEWAY_BINARY, next to the test bundle, or the newest .build*/debug/gateway.
    public static func binary() throws -> String {
        _ = killAtExit
        if let path = ProcessInfo.processInfo.environment["GATEWAY_BINARY"] { return path }
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates = [bundleDirectory.appendingPathComponent("gateway").path,
                          bundleDirectory.deletingLastPathComponent().appendingPathComponent("gateway").path]
        let root = TestDatabase.packageRoot
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        candidates += folders.filter { $0.hasPrefix(".build") }.map { "\(root)/\($0)/debug/gateway" }
        let existing = candidates.filter { FileManager.default.isExecutableFile(atPath: $0) }
        func modified(_ path: String) -> Date {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
        }
        guard let newest = existing.max(by: { modified($0) < modified($1) }) else {
            throw HTTPClient.Failure(message: "gateway binary not found (build it, or set GATEWAY_BINARY)")
        }
        return newest
    }

    /// Ports handed out in this process: the suites start gateways in parallel, and the kernel may offer
    /// a port that was just closed again before the first gateway binds it.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port nobody listens on right now and no other gateway of this run was given.
    public static func freePort() -> Int {
        while true {
            let port = unusedPort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
    }

    /// A port nobody listens on right now (bind to 0, read it, close).
    private static func unusedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A deliberately small HTTP/1.1 client over a blocking socket: exact control of what is sent,
/// and the raw status, headers and body of what comes back.
public enum HTTPClient {
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
        public init(message: String) { self.message = message }
    }

    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        /// The body parsed as JSON (for comparison by value).
        public var json: NSObject? { try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) as? NSObject }
    }

    /// Connects, sends one request with `Connection: close`, reads the whole answer.
    public static func send(port: Int, method: String, path: String, body: [UInt8]? = nil,
                     headers: [(String, String)] = [], timeout: Int = 30) throws -> Response {
        let fd = try connect(port: port, timeout: timeout)
        defer { close(fd) }
        try write(fd, request(method: method, path: path, body: body, headers: headers + [("Connection", "close")]))
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            buffer.append(contentsOf: chunk[0..<count])
        }
        guard let (response, _) = parse(buffer, method: method) else {
            throw Failure(message: "no complete HTTP response (\(buffer.count) bytes)")
        }
        return response
    }

    /// Sends `bytes` exactly as given (a malformed request, or half of one), optionally closes the
    /// sending side, and reads until the server closes or `timeout` seconds pass. A failed write is
    /// not an error (the server may close early); `response` is nil when nothing parseable came back.
    public static func exchange(port: Int, bytes: [UInt8], closeWrite: Bool = true, timeout: Int = 10)
        throws -> (response: Response?, received: [UInt8], seconds: Double) {
        let started = Date()
        let fd = try connect(port: port, timeout: timeout)
        defer { close(fd) }
        try? write(fd, bytes)
        if closeWrite { shutdown(fd, Int32(SHUT_WR)) }
        let received = readAll(fd)
        return (parse(received, method: "POST")?.0, received, Date().timeIntervalSince(started))
    }

    /// Reads until end of stream, an error, or the socket's receive timeout.
    public static func readAll(_ fd: Int32) -> [UInt8] {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            buffer.append(contentsOf: chunk[0..<count])
        }
        return buffer
    }

    public static func connect(port: Int, timeout: Int = 30) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else { close(fd); throw Failure(message: "connect to port \(port) failed (errno \(errno))") }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    public static func request(method: String, path: String, body: [UInt8]?, headers: [(String, String)]) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        return Array((head + "\r\n").utf8) + (body ?? [])
    }

    public static func write(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw Failure(message: "send failed (errno \(errno))") }
            offset += written
        }
    }

    /// Parses one response from the front of `bytes`; returns it and the bytes consumed.
    public static func parse(_ bytes: [UInt8], method: String) -> (Response, Int)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else { return nil }
        let lines = String(decoding: bytes[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let start = end + 4
        var length = bytes.count - start
        if method == "HEAD" || status == 204 || status == 304 { length = 0 }
        else if let declared = headers.first(where: { $0.0.lowercased() == "content-length" }).flatMap({ Int($0.1) }) {
            guard bytes.count - start >= declared else { return nil }
            length = declared
        }
        return (Response(status: status, headers: headers, body: Array(bytes[start..<start + length])), start + length)
    }
}
