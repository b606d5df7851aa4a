import Foundation
import Testing
@testable import GatewayCore

/// `server-unix-socket` and `server-unix-socket-mode`: HTTP on a unix domain socket instead of TCP
/// ("takes precedence over server-port"), with the file mode given as an octal from 600 to 777,
/// default 660 (docs/references/configuration.rst, "server-unix-socket", "server-unix-socket-mode";
/// src/library/PostgREST/Config.hs, `parseSocketFileMode`; test/io/test_io.py, unix socket tests).
@Suite struct GatewayUnixSocketTests {
    static func socketPath() -> String { NSTemporaryDirectory() + "gw-ops-\(UUID().uuidString.prefix(8)).sock" }

    static func mode(_ path: String) -> (isSocket: Bool, permissions: UInt32)? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return (status.st_mode & S_IFMT == S_IFSOCK, UInt32(status.st_mode) & 0o777)
    }

    /// A socket file as a gateway killed with -9 leaves it: bound, never unlinked.
    static func leaveStaleSocket(at path: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
    }

    @Test func servesHTTPOnTheSocketWithItsModeAndRemovesItAtShutdown() throws {
        let path = Self.socketPath()
        Self.leaveStaleSocket(at: path)
        #expect(Self.mode(path)?.isSocket == true)
        let gateway = try OpsFixtures.gateway(["server-unix-socket": "\"\(path)\"", "server-unix-socket-mode": "\"640\""])
        let mode = Self.mode(path)
        #expect(mode?.isSocket == true)
        #expect(mode?.permissions == 0o640)
        // Several connections: the event loops deal them to each other as they do TCP ones.
        for a in 40..<44 {
            let response = try OpsFixtures.send(socket: path, "GET", "/rpc/add_them?a=\(a)")
            #expect(response.status == 200)
            #expect(response.text == "\(a + 2)")
            #expect(response.header("Content-Type")?.hasPrefix("application/json") == true)
        }
        // Not on TCP as well: the socket takes precedence over server-port.
        #expect(throws: (any Error).self) { try gateway.send("GET", "/rpc/add_them?a=1") }
        gateway.stop()
        #expect(Self.mode(path) == nil)
    }

    /// A rolling restart: a second gateway takes the path over (the first's socket is left as a stale
    /// one would be), then the first stops; the second's socket stays (the first removed it before).
    @Test func aGatewayStoppingLeavesItsSuccessorsSocket() throws {
        let path = Self.socketPath()
        let first = try OpsFixtures.gateway(["server-unix-socket": "\"\(path)\""])
        let second = try OpsFixtures.gateway(["server-unix-socket": "\"\(path)\""])
        first.stop()
        #expect(Self.mode(path)?.isSocket == true)
        #expect(try OpsFixtures.send(socket: path, "GET", "/rpc/add_them?a=1").status == 200)
        second.stop()
        #expect(Self.mode(path) == nil)
    }

    @Test func theDefaultModeIs660() throws {
        let path = Self.socketPath()
        let gateway = try OpsFixtures.gateway(["server-unix-socket": "\"\(path)\""])
        #expect(Self.mode(path)?.permissions == 0o660)
        #expect(try OpsFixtures.send(socket: path, "POST", "/rpc/no_such_function").status == 404)
        gateway.stop()
    }

    @Test(arguments: ["\"599\"", "\"1000\"", "\"abc\""])
    func aModeOutside600To777IsRefusedAtStart(mode: String) throws {
        try OpsFixtures.apply()
        let gateway = try GatewayProcess(settings: ["server-unix-socket": "\"\(Self.socketPath())\"", "server-unix-socket-mode": mode])
        gateway.process.waitUntilExit()
        #expect(gateway.process.terminationStatus != 0)
        #expect(gateway.log.contains("server-unix-socket-mode"))
    }

    @Test func anotherFileAtThePathIsNotRemoved() throws {
        try OpsFixtures.apply()
        let path = Self.socketPath()
        try "keep me".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let gateway = try GatewayProcess(settings: ["server-unix-socket": "\"\(path)\""])
        gateway.process.waitUntilExit()
        #expect(gateway.process.terminationStatus != 0)
        #expect(gateway.log.contains("is not a socket"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
    }
}
