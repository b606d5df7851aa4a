import ArgumentParser
import Foundation
import Glibc

/// The load generator: keep-alive HTTP/1.1 over raw sockets and epoll, a few threads each owning a set
/// of connections; closed loop (`--connections`) or open loop (`--rate`, latency from the intended send
/// time, as wrk2 measures it). Targets 127.0.0.1 only; every run ends by itself.
@main
struct Loader: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader",
        abstract: "HTTP/1.1 load generator for the gateway and nginx (127.0.0.1 only).",
        discussion: """
        Scenarios:
          static         GET --path (default /static-204): the loader's own ceiling, compare with wrk
          widgets-add    POST /rpc/add_widget, unique serials (per-run random prefix + counter), 0-3 slots of P/R/Q
          widgets-mix    POST /rpc/associate_widgets or /rpc/remove_association (half each) on the seeded pairs
                         (SEED2m-1, SEED2m) over their slot-1 port; 409/404 (already associated / not
                         associated) are business outcomes, counted by status, not errors
          widgets-get    GET /rpc/get_widget?widget_sn=SEEDn (or POST with --get-method POST)
          widgets-mixed  50% get, 25% add, 12.5% associate, 12.5% remove
          faults         writes over every service for the fault suite (benchmarks/faults): 60% add_widget,
                         15% associate_widgets on prepared pairs (each once), 10% allocate_vm, 10% acquire_node,
                         5% claim_build; with --ack-log every acknowledged write is logged
          builds         the build queue as workers use it: POST /rpc/claim_build, then /rpc/complete_build with
                         the claimed build's lease token on the same connection (--worker-token-file)
          builds-batch   the same with /rpc/claim_builds (--batch builds at a time) and one /rpc/complete_builds
        Seeded serials are <seed-prefix><n> for n in 1...<seed-count> (make seed-widgets).
        HTTP statuses are outcomes, not errors: a 503 (with Retry-After, a server shedding load) is counted
        under 503, its connection kept (or reopened after Connection: close) and the open-loop schedule kept;
        the report adds the latencies of the admitted requests (every answer but 503) on their own.
        Examples:
          loader --url http://127.0.0.1:8080 --scenario static --connections 64 --duration 10
          loader --scenario widgets-mixed --rate 5000 --connections 64 --duration 20 --json out.json --html out.html
        """
    )

    @Option(help: "Base URL; the host must be 127.0.0.1 or localhost.")
    var url = "http://127.0.0.1:8080"

    @Option(help: "Scenario: \(ScenarioName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var scenario: ScenarioName = .static

    @Option(help: "Path of the static scenario.")
    var path = "/static-204"

    @Option(name: .shortAndLong, help: "Keep-alive connections (one request in flight each).")
    var connections = 64

    @Option(name: .shortAndLong, help: "Worker threads (each owns connections/threads connections).")
    var threads = 2

    @Option(name: .shortAndLong, help: "Seconds to run after the warm-up (default 10 unless --requests is given).")
    var duration: Double?

    @Option(name: [.customShort("n"), .long], help: "Total requests to send, then stop.")
    var requests: Int?

    @Option(name: .shortAndLong, help: "Open loop: total requests per second, on a fixed schedule.")
    var rate: Double?

    @Option(help: "Seconds of warm-up not counted in the results.")
    var warmup: Double = 0

    @Option(help: "Seconds after which a request counts as timed out (its connection is reopened).")
    var timeout: Double = 10

    @Option(help: "Prefix of the seeded widgets' serial numbers.")
    var seedPrefix = "seed-"

    @Option(help: "How many seeded widgets exist (serials prefix1 ... prefixN).")
    var seedCount = 100_000

    @Option(help: "HTTP method for get_widget: GET (read-only transaction) or POST.")
    var getMethod = "GET"

    @Option(help: "Name of this run in reports.")
    var label = "loader"

    @Option(help: "Write the results as JSON to this file ('-' for standard output).")
    var json: String?

    @Option(help: "Write a self-contained HTML report to this file.")
    var html: String?

    @Option(help: "Write one line per acknowledged (2xx) write to this file: the function and its keys, tab-separated (widget serial; pair and port; vm_id; project and epoch; build_id and lease_token).")
    var ackLog: String?

    @Option(help: "faults: prefix of the prepared widget pairs (<prefix><m>a, <prefix><m>b, one P slot each).")
    var pairPrefix = "fpair-"

    @Option(help: "faults: how many prepared pairs exist (each is associated at most once).")
    var pairCount = 0

    @Option(help: "faults: prefix of the compute projects acquire_node asks for (<prefix>1 ... <prefix>N).")
    var projectPrefix = "fproject-"

    @Option(help: "faults: number of projects (0: no acquire_node).")
    var projects = 0

    @Option(help: "faults: file holding an app_user token (allocate_vm, acquire_node); none: those are skipped.")
    var userTokenFile: String?

    @Option(help: "faults, builds: file holding a worker token (claim_build); none: skipped.")
    var workerTokenFile: String?

    @Option(help: "builds-batch: builds claimed (and then completed) per call.")
    var batch: Int = 10

    @Flag(help: "Do not print the text report.")
    var quiet = false

    static let maxSeconds = 3600.0

    func validate() throws {
        _ = try target()
        guard connections >= 1 && connections <= 20_000 else { throw ValidationError("--connections must be 1...20000") }
        guard threads >= 1 && threads <= 64 else { throw ValidationError("--threads must be 1...64") }
        if let d = duration, !(d > 0 && d <= Loader.maxSeconds) { throw ValidationError("--duration must be in (0, 3600] seconds") }
        if let n = requests, n < 1 { throw ValidationError("--requests must be positive") }
        if let r = rate, !(r > 0 && r <= 10_000_000) { throw ValidationError("--rate must be positive") }
        guard warmup >= 0 && warmup <= 600 else { throw ValidationError("--warmup must be 0...600 seconds") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard getMethod == "GET" || getMethod == "POST" else { throw ValidationError("--get-method is GET or POST") }
        guard seedCount >= 2 else { throw ValidationError("--seed-count must be at least 2") }
        guard pairCount >= 0 && pairCount <= 100_000_000 else { throw ValidationError("--pair-count must be 0...100000000") }
        guard projects >= 0 && projects <= 1_000_000 else { throw ValidationError("--projects must be 0...1000000") }
        if let ackLog, ackLog.isEmpty { throw ValidationError("--ack-log needs a file name") }
        guard batch >= 1 && batch <= 1000 else { throw ValidationError("--batch must be 1...1000") }
        if (scenario == .builds || scenario == .buildsBatch) && workerTokenFile == nil {
            throw ValidationError("--scenario \(scenario.rawValue) needs --worker-token-file (a token with role worker)")
        }
        for file in [userTokenFile, workerTokenFile].compactMap({ $0 }) where access(file, R_OK) != 0 {
            throw ValidationError("cannot read token file \(file)")
        }
    }

    /// Host and port of --url; anything but the local machine is refused.
    func target() throws -> (host: String, port: UInt16) {
        var rest = Substring(url)
        guard rest.hasPrefix("http://") else { throw ValidationError("--url must start with http:// (no TLS)") }
        rest = rest.dropFirst(7)
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        let host = String(parts[0])
        guard host == "127.0.0.1" || host == "localhost" else {
            throw ValidationError("refusing host '\(host)': the loader only targets 127.0.0.1")
        }
        guard parts.count <= 2 else { throw ValidationError("invalid --url \(url)") }
        let port = parts.count == 2 ? UInt16(parts[1]) : 80
        guard let port, port > 0 else { throw ValidationError("invalid port in --url \(url)") }
        return ("127.0.0.1", port)
    }

    mutating func run() throws {
        let (host, port) = try target()
        let threadCount = min(threads, connections)
        let window = duration ?? (requests == nil ? 10 : Loader.maxSeconds)
        var prefixRandom = SystemRandomNumberGenerator()
        let runPrefix = "bench-" + String(prefixRandom.next() & 0xFFFF_FFFF, radix: 36)
        func token(_ file: String?) throws -> String? {
            guard let file else { return nil }
            let text = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty, !text.contains(where: { $0 == "\r" || $0 == "\n" }) else { throw ValidationError("\(file) holds no token") }
            return text
        }
        let faults = FaultsSetup(pairPrefix: pairPrefix, pairCount: pairCount, projectPrefix: projectPrefix, projects: projects,
                                 userToken: try token(userTokenFile), workerToken: try token(workerTokenFile), threads: threadCount,
                                 batch: batch)
        let scenarioValue = Scenario(name: scenario, host: host, port: Int(port), staticPath: path, runPrefix: runPrefix,
                                     seedPrefix: seedPrefix, seedCount: seedCount, getMethod: getMethod, faults: faults)
        let startedAt = Date()
        let start = monotonicNanos() + 100_000_000     // time to connect first
        let startUnix = Date().timeIntervalSince1970 + 0.1
        let measureFrom = start + UInt64(warmup * 1e9)
        let end = measureFrom + UInt64(window * 1e9)
        var workers: [Worker] = []
        var first = 0
        for t in 0..<threadCount {
            let share = connections / threadCount + (t < connections % threadCount ? 1 : 0)
            let quota = requests.map { $0 / threadCount + (t < $0 % threadCount ? 1 : 0) }
            let plan = WorkerPlan(thread: t, port: port, connections: share, firstConnection: first,
                                  totalConnections: connections, rate: rate, requestQuota: quota,
                                  start: start, measureFrom: measureFrom, end: end,
                                  timeout: UInt64(timeout * 1e9), seed: prefixRandom.next(), recordAcks: ackLog != nil)
            workers.append(Worker(plan: plan, scenario: scenarioValue))
            first += share
        }
        var ids: [pthread_t] = []
        for w in workers {
            var id = pthread_t()
            let box = Unmanaged.passRetained(w).toOpaque()
            let rc = pthread_create(&id, nil, { arg in
                let worker = Unmanaged<Worker>.fromOpaque(arg!).takeRetainedValue()
                worker.run()
                return nil
            }, box)
            guard rc == 0 else { throw ValidationError("cannot start a worker thread (\(rc))") }
            ids.append(id)
        }
        for id in ids { pthread_join(id, nil) }
        let finished = monotonicNanos()
        var tally = Tally()
        for w in workers { tally.merge(w.tally) }
        let measured = Double(min(finished, end) &- min(measureFrom, finished)) / 1e9
        var summary = Summary(label: label, scenario: scenario.rawValue,
                              url: "http://\(host):\(port)" + (scenario == .static ? path : ""),
                              rate: rate, connections: connections, threads: threadCount, warmup: warmup,
                              window: measured, tally: tally, startedAt: startedAt, dropPartialLastSecond: requests == nil)
        if let ackLog {
            let text = tally.acks.isEmpty ? "" : tally.acks.joined(separator: "\n") + "\n"
            try Data(text.utf8).write(to: URL(fileURLWithPath: ackLog))
        }
        if ackLog != nil || scenario == .faults {
            func unix(_ mono: UInt64) -> Double { startUnix + (Double(mono) - Double(start)) / 1e9 }
            let any = tally.lastFailure > 0
            summary.timeline = Summary.Timeline(
                bucketMs: Int(Tally.bucketNanos / 1_000_000), startUnix: startUnix,
                ok: tally.okBuckets, non2xx: tally.non2xxBuckets, transport: tally.transportBuckets,
                failures: tally.non2xxBuckets.reduce(0, +) + tally.transportBuckets.reduce(0, +),
                firstFailureUnix: any ? unix(tally.firstFailure) : nil, lastFailureUnix: any ? unix(tally.lastFailure) : nil,
                failureWindowSeconds: any ? Double(tally.lastFailure - tally.firstFailure) / 1e9 : 0,
                acknowledgedWrites: ackLog == nil ? nil : tally.acks.count)
        }
        if !quiet { print(summary.text) }
        if let json {
            let data = try summary.jsonData()
            if json == "-" {
                FileHandle.standardOutput.write(data)
                FileHandle.standardOutput.write(Data("\n".utf8))
            } else {
                try data.write(to: URL(fileURLWithPath: json))
            }
        }
        if let html {
            try Data(HTMLReport.render(summary).utf8).write(to: URL(fileURLWithPath: html))
        }
    }
}
