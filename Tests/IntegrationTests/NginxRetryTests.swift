import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// nginx's retry rules against the real template (nginx/nginx.conf.template, rendered by
/// `scripts/nginx.sh render`) in front of two real gateways, on a scratch database of their own:
///   * a gateway killed while it holds an allocation (GET /vms/v1/server, which nginx turns into
///     POST /rpc/allocate_vm) must not make nginx send that allocation to the other gateway: exactly
///     one allocation reaches the database and the client gets an error, not a second VM (whose twin's key is lost);
///   * a gateway that refuses the connection (nothing was sent) is still skipped: the allocation goes
///     to the other one.
/// The allocation is slowed by a test-only trigger created here, in the scratch database (never shipped by
/// migrations): it counts each attempt in a sequence (not rolled back with the attempt) and sleeps.
@Suite(.serialized)
struct NginxRetryTests {
    static let secret = "nginx-retry-test-secret-0123456789-abcdefgh"
    static let sleepSeconds = 3

    let run = UInt32.random(in: 0...UInt32.max)

    func token(_ sub: String) -> (String, String) {
        ("Authorization", "Bearer " + JWTSigner.sign(claims: ["role": "app_user", "sub": sub], secret: Self.secret))
    }

    /// A migrated scratch database with one VM server, the test's counter and its (optional) slow trigger.
    func database(slow: Bool) throws -> ScratchDatabase {
        let db = try ScratchDatabase(prefix: "nginx_retry")
        let root = TestDatabase.packageRoot
        let migrating = try db.connect()
        try migrating.execute("SET client_min_messages = warning")
        _ = try Migrator(connection: migrating, migrationsDirectory: "\(root)/migrations",
                         repeatableDirectory: "\(root)/sql").migrate()
        let admin = try db.connect()
        try admin.execute("""
            SELECT api.register_server('nginx-retry', 65536, 64, '100.99.0.0/24'::cidr);
            CREATE SCHEMA nginx_test;
            CREATE SEQUENCE nginx_test.attempts;
            -- Every VM insert counts as one attempt (nextval is not undone by a rollback) and, when slow,
            -- holds its transaction long enough for the test to kill the gateway that sent it.
            CREATE FUNCTION nginx_test.slow_vm() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
                PERFORM nextval('nginx_test.attempts');
                PERFORM pg_sleep(\(slow ? Self.sleepSeconds : 0));
                RETURN NEW;
            END $$;
            CREATE TRIGGER nginx_test_slow_vm BEFORE INSERT ON vms.vms FOR EACH ROW EXECUTE FUNCTION nginx_test.slow_vm();
            """)
        return db
    }

    func gateway(_ db: ScratchDatabase, _ name: String) throws -> GatewayProcess {
        let uri = GatewayProcess.authenticatorURI(database: db.name) + "&application_name=\(name)"
        return try GatewayProcess(settings: ["db-uri": "\"\(uri)\"", "db-schemas": "\"api\"",
                                             "jwt-secret": "\"\(Self.secret)\""])
    }

    func attempts(_ db: ScratchDatabase) throws -> Int {
        let value = try db.connect().query("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM nginx_test.attempts").first?.first ?? nil
        return Int(value ?? "") ?? -1
    }

    @Test func aGatewayKilledHoldingAnAllocationIsNotRetriedElsewhere() throws {
        let db = try database(slow: true)
        let names = ["gw-a-\(run)", "gw-b-\(run)"]
        let gateways = try names.map { try gateway(db, $0) }
        for gateway in gateways { try gateway.waitUntilReady() }
        let nginx = try NginxProcess(upstreams: gateways.map(\.port))
        defer { nginx.stop() }

        // The allocation, from a client thread; the test waits for it to sleep in the database.
        let answer = Mutex<Result<HTTPClient.Response, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let auth = token("nginx-retry-\(run)")
        Thread.detachNewThread {
            let result = Result { try HTTPClient.send(port: nginx.port, method: "GET", path: "/vms/v1/server?ram=1024&cpu=1",
                                                      headers: [auth], timeout: 30) }
            answer.withLock { $0 = result }
            done.signal()
        }
        let admin = try db.connect()
        var holder: String?
        for _ in 0..<200 where holder == nil {
            holder = try admin.query("""
                SELECT application_name FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event = 'PgSleep' AND application_name LIKE 'gw-%'
                """).first?.first ?? nil
            if holder == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        let held = try #require(names.firstIndex { $0 == holder }, "no gateway held the allocation; nginx log:\n\(nginx.errors)")
        let victim = gateways[held]
        kill(victim.process.processIdentifier, SIGKILL)

        #expect(done.wait(timeout: .now() + 30) == .success, "no answer within 30 s")
        let response = try #require(try answer.withLock { $0 }?.get())
        // The killed gateway's backend finishes its sleep (and commits or not); then nothing more may come.
        for _ in 0..<200 {
            let sleeping = try admin.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'")
            if sleeping.first?.first == "0" { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let vms = try admin.query("SELECT count(*) FROM vms.vms").first?.first ?? nil
        let sent = try attempts(db)
        #expect(sent == 1, "the allocation reached the database \(sent) times (nginx resent it); answer \(response.status) \(response.text)")
        #expect(response.status == 502 && response.text.contains("may have been applied"),
                "the client must get an error, not a second VM: \(response.status) \(response.text)")
        #expect(vms == "0" || vms == "1", "VM rows: \(vms ?? "nil")")
    }

    @Test func aGatewayThatRefusesTheConnectionIsSkipped() throws {
        let db = try database(slow: false)
        let live = try gateway(db, "gw-live-\(run)")
        try live.waitUntilReady()
        // Nothing listens on the first upstream (listed first: a fresh nginx tries it first).
        let refusing = GatewayProcess.freePort()
        let nginx = try NginxProcess(upstreams: [refusing, live.port])
        defer { nginx.stop() }
        let auth = token("nginx-skip-\(run)")
        for _ in 0..<2 {
            let response = try HTTPClient.send(port: nginx.port, method: "GET", path: "/vms/v1/server?ram=1024&cpu=1", headers: [auth])
            #expect(response.status == 200, "\(response.status) \(response.text)")
        }
        #expect(try attempts(db) == 2)
        #expect(nginx.errors.contains("Connection refused"), "the refusing gateway was never tried; nginx log:\n\(nginx.errors)")
    }

    /// Every route that writes, whatever the client's method, against two upstreams that read the request
    /// and then close the connection without an answer (a gateway dying after it received the request):
    /// each write reaches exactly one of them; only a read (GET /rpc/, READ ONLY in the gateway) is resent.
    /// A fresh nginx per route: after a failure nginx marks the peer down (max_fails=1) for that worker.
    @Test func everyWriteRouteIsSentAtMostOnce() throws {
        let upstreams = [try DyingUpstream(), try DyingUpstream()]
        defer { upstreams.forEach { $0.stop() } }
        // What the gateway must see (the rewritten call, the path's user, the client's token and address).
        let routes: [(method: String, path: String, body: String?, sends: Int, upstream: [String])] = [
            ("GET", "/vms/v1/server?ram=1024&cpu=1", nil, 1, ["POST /rpc/allocate_vm HTTP/1.1", #"{"ram":1024,"cpu":1}"#]),
            ("DELETE", "/v1/users/u1/workspaces/7", nil, 1,
             ["POST /rpc/delete_user_workspace HTTP/1.1", "X-A4C-User-Id: u1\r\n", #"{"workspace_id":7}"#]),
            ("POST", "/v1/users/u1/workspaces", #"{"project":"p"}"#, 1, ["POST /rpc/create_user_workspace HTTP/1.1", "X-A4C-User-Id: u1\r\n"]),
            ("POST", "/v1/users/u1/image-schedules", #"{"imageName":"i"}"#, 1, ["POST /rpc/schedule_user_image_build HTTP/1.1"]),
            ("POST", "/rpc/allocate_vm", #"{"ram":1024,"cpu":1}"#, 1, ["POST /rpc/allocate_vm HTTP/1.1"]),
            ("GET", "/rpc/list_my_vms", nil, 2, ["GET /rpc/list_my_vms HTTP/1.1"]),
        ]
        for route in routes {
            upstreams.forEach { upstream in
                upstream.received.store(0, ordering: .relaxed)
                upstream.last.withLock { $0 = "" }
            }
            let nginx = try NginxProcess(upstreams: upstreams.map(\.port))
            defer { nginx.stop() }
            // A client's own X-A4C-User-Id never passes (only the path's user, set by nginx).
            let response = try HTTPClient.send(port: nginx.port, method: route.method, path: route.path,
                                               body: route.body.map { Array($0.utf8) },
                                               headers: [("Content-Type", "application/json"), ("Authorization", "Bearer t0k3n"),
                                                         ("X-A4C-User-Id", "mallory")])
            let sent = upstreams.map { $0.received.load(ordering: .relaxed) }.reduce(0, +)
            #expect(sent == route.sends, "\(route.method) \(route.path) reached the gateways \(sent) times (expected \(route.sends))")
            #expect(response.status == 502, "\(route.method) \(route.path): \(response.status)")
            if route.path.hasPrefix("/vms/") || route.method == "DELETE" {   // the routes of write_hop
                #expect(response.header("Content-Type") == "application/json" && response.text.contains("may have been applied"),
                        "\(route.method) \(route.path): \(response.text)")
            }
            let request = upstreams.map { $0.last.withLock { $0 } }.joined(separator: "\n---\n")
            for part in route.upstream + ["Authorization: Bearer t0k3n\r\n", "X-Forwarded-For: 127.0.0.1\r\n"] {
                #expect(request.contains(part), "\(route.method) \(route.path): \(part.debugDescription) not in what the gateway got:\n\(request)")
            }
            #expect(!request.contains("mallory"), "\(route.method) \(route.path): the client's X-A4C-User-Id passed:\n\(request)")
        }
    }
}

/// A TCP listener on 127.0.0.1 that counts the requests it reads and closes each connection unanswered.
final class DyingUpstream: @unchecked Sendable {
    let fd: Int32
    let port: Int
    let received = Atomic<Int>(0)
    let last = Mutex<String>("")                                  // the last request read (headers and body)

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 64) == 0 else { close(fd); throw HTTPClient.Failure(message: "cannot listen") }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }                        // closed by stop()
                var buffer = [UInt8](repeating: 0, count: 65_536)
                // nginx writes a small request in one go; a short pause lets a body sent apart arrive too.
                Thread.sleep(forTimeInterval: 0.01)
                let count = read(client, &buffer, buffer.count)
                if count > 0 {
                    received.add(1, ordering: .relaxed)
                    let text = String(decoding: buffer[0..<count], as: UTF8.self)
                    last.withLock { $0 = text }
                }
                close(client)
            }
        }
    }

    func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}

/// nginx in the foreground (a child process), from the project's template rendered by scripts/nginx.sh
/// into a temporary prefix, on a free port, in front of the given gateway ports.
final class NginxProcess: @unchecked Sendable {
    let port = GatewayProcess.freePort()
    let prefix: String
    let process = Process()

    init(upstreams: [Int]) throws {
        // Short (unix socket paths are limited to 108 bytes) and traversable by nginx's workers (nobody).
        prefix = "/tmp/nginx-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: prefix, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        let render = Process()
        render.executableURL = URL(fileURLWithPath: "/bin/bash")
        render.arguments = ["\(TestDatabase.packageRoot)/scripts/nginx.sh", "render"]
        render.environment = ProcessInfo.processInfo.environment.merging([
            "NGINX_PREFIX": prefix, "NGINX_PORT": "\(port)", "NGINX_PID_FILE": "\(prefix)/nginx.pid",
            "NGINX_LOG_DIR": prefix, "NGINX_UPSTREAMS": upstreams.map { "127.0.0.1:\($0)" }.joined(separator: " "),
        ]) { $1 }
        let output = Pipe()
        render.standardOutput = output
        render.standardError = output
        try render.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        render.waitUntilExit()
        guard render.terminationStatus == 0 else { throw HTTPClient.Failure(message: "scripts/nginx.sh render failed:\n\(text)") }
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
        process.executableURL = URL(fileURLWithPath: try binary ?? { throw HTTPClient.Failure(message: "nginx not found") }())
        process.arguments = ["-p", prefix, "-c", "\(prefix)/nginx.conf", "-e", "\(prefix)/nginx-error.log", "-g", "daemon off;"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let until = Date().addingTimeInterval(10)
        while Date() < until {
            if let response = try? HTTPClient.send(port: port, method: "GET", path: "/static-204"), response.status == 204 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw HTTPClient.Failure(message: "nginx did not start; log:\n\(errors)")
    }

    /// nginx's error log so far (upstream failures are logged there).
    var errors: String { (try? String(contentsOfFile: "\(prefix)/nginx-error.log", encoding: .utf8)) ?? "" }

    /// Fast shutdown (SIGTERM to the master stops its workers), then the prefix is removed.
    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: prefix)
    }

    deinit { stop() }
}
