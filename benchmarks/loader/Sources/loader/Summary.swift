import Foundation
import Histogram

/// The result of a run: what is printed, written with --json and drawn with --html.
struct Summary: Codable, Sendable {
    struct Latency: Codable, Sendable {
        var p50: Double, p90: Double, p99: Double, p999: Double, max: Double, mean: Double
    }
    struct Errors: Codable, Sendable {
        var connect: Int, read: Int, write: Int, timeout: Int, parse: Int, total: Int
    }
    struct Second: Codable, Sendable {
        var second: Int, requests: Int, p50Ms: Double, p99Ms: Double
    }

    var tool = "loader"
    var label: String
    var scenario: String
    var url: String
    var mode: String                 // "closed" or "open"
    var connections: Int
    var threads: Int
    var targetRate: Double?
    var warmupSeconds: Double
    var durationSeconds: Double      // the measured window (after warm-up)
    var requests: Int                // responses completed in the window
    var requestsPerSecond: Double
    var latencyMs: Latency           // open loop: from the intended send time
    var admittedRequests: Int        // responses in the window other than 503
    var latencyAdmittedMs: Latency   // the same latencies, 503 answers left out
    var responsesTotal: Int          // responses over the whole run, warm-up included
    var admittedResponsesTotal: Int  // the same without the 503s
    var status: [String: Int]
    var operations: [String: [String: Int]]
    var errors: Errors
    var serverCloses: Int
    var startedAt: String
    var perSecond: [Second]
    /// Failures over time (whole run, warm-up included): for fault scenarios. Filled by the caller.
    var timeline: Timeline?

    struct Timeline: Codable, Sendable {
        var bucketMs: Int
        var startUnix: Double                 // wall-clock time of bucket 0
        var ok: [Int]                         // 2xx answers per bucket
        var non2xx: [Int]                     // other answers per bucket
        var transport: [Int]                  // connect/read/write/timeout/parse errors per bucket
        var failures: Int                     // non-2xx answers + transport errors, whole run
        var firstFailureUnix: Double?
        var lastFailureUnix: Double?
        var failureWindowSeconds: Double      // last - first failure (0 when none)
        var acknowledgedWrites: Int?          // lines written to --ack-log
    }

    init(label: String, scenario: String, url: String, rate: Double?, connections: Int, threads: Int,
         warmup: Double, window: Double, tally t: Tally, startedAt: Date, dropPartialLastSecond: Bool) {
        self.label = label
        self.scenario = scenario
        self.url = url
        mode = rate == nil ? "closed" : "open"
        targetRate = rate
        self.connections = connections
        self.threads = threads
        warmupSeconds = warmup
        durationSeconds = window
        let total = Int(t.histogram.totalCount)
        requests = total
        requestsPerSecond = window > 0 ? Double(total) / window : 0
        func ms(_ us: UInt64) -> Double { (Double(us) / 1000 * 1000).rounded() / 1000 }
        func latency(_ h: Histogram<UInt64>) -> Latency {
            h.totalCount == 0 ? Latency(p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0) :
                Latency(p50: ms(h.valueAtPercentile(50)), p90: ms(h.valueAtPercentile(90)), p99: ms(h.valueAtPercentile(99)),
                        p999: ms(h.valueAtPercentile(99.9)), max: ms(h.max), mean: (h.mean / 1000 * 1000).rounded() / 1000)
        }
        latencyMs = latency(t.histogram)
        admittedRequests = Int(t.admitted.totalCount)
        latencyAdmittedMs = latency(t.admitted)
        responsesTotal = t.answered
        admittedResponsesTotal = t.admittedAnswered
        var status: [String: Int] = [:]
        var operations: [String: [String: Int]] = [:]
        for op in Operation.allCases {
            for code in 0..<Tally.statusSlots {
                let n = t.status[op.rawValue * Tally.statusSlots + code]
                guard n > 0 else { continue }
                status[String(code), default: 0] += n
                operations[op.label, default: [:]][String(code)] = n
            }
        }
        self.status = status
        self.operations = operations
        errors = Errors(connect: t.connectErrors, read: t.readErrors, write: t.writeErrors, timeout: t.timeouts,
                        parse: t.parseErrors,
                        total: t.connectErrors + t.readErrors + t.writeErrors + t.timeouts + t.parseErrors)
        serverCloses = t.serverCloses
        self.startedAt = ISO8601DateFormatter().string(from: startedAt)
        var seconds: [Second] = []
        let whole = dropPartialLastSecond ? min(t.perSecond.count, Int(window)) : t.perSecond.count
        for s in 0..<whole {
            let hs = t.perSecond[s]
            let n = t.perSecondCount[s]
            seconds.append(Second(second: s + 1, requests: n,
                                  p50Ms: n == 0 ? 0 : ms(hs.valueAtPercentile(50)),
                                  p99Ms: n == 0 ? 0 : ms(hs.valueAtPercentile(99))))
        }
        perSecond = seconds
    }

    /// The human-readable report.
    var text: String {
        func grouped(_ n: Int) -> String {
            let s = String(n)
            var out = ""
            for (i, ch) in s.reversed().enumerated() {
                if i > 0 && i % 3 == 0 { out.append(",") }
                out.append(ch)
            }
            return String(out.reversed())
        }
        func f(_ x: Double, _ d: Int = 2) -> String { String(format: "%.\(d)f", x) }
        var lines: [String] = []
        let how = mode == "open" ? "open loop at \(grouped(Int(targetRate ?? 0))) req/s (latency from intended send time)" : "closed loop"
        lines.append("\(label): \(scenario) -> \(url), \(how), \(connections) connections, \(threads) threads")
        lines.append("  requests  \(grouped(requests)) in \(f(durationSeconds)) s = \(grouped(Int(requestsPerSecond.rounded()))) req/s")
        let l = latencyMs
        lines.append("  latency   p50 \(f(l.p50, 3)) ms  p90 \(f(l.p90, 3)) ms  p99 \(f(l.p99, 3)) ms  p99.9 \(f(l.p999, 3)) ms  max \(f(l.max, 3)) ms  mean \(f(l.mean, 3)) ms")
        if admittedRequests != requests {
            let a = latencyAdmittedMs
            lines.append("  admitted  \(grouped(admittedRequests)) answers other than 503: p50 \(f(a.p50, 3)) ms  p99 \(f(a.p99, 3)) ms  p99.9 \(f(a.p999, 3)) ms  max \(f(a.max, 3)) ms")
        }
        let codes = status.keys.sorted().map { "\($0): \(grouped(status[$0]!))" }.joined(separator: "  ")
        lines.append("  status    \(codes.isEmpty ? "none" : codes)")
        if operations.count > 1 {
            for op in operations.keys.sorted() {
                let c = operations[op]!.keys.sorted().map { "\($0): \(grouped(operations[op]![$0]!))" }.joined(separator: "  ")
                lines.append("    \(op)  \(c)")
            }
        }
        if let t = timeline {
            lines.append("  failures  \(t.failures) (non-2xx or transport) over \(f(t.failureWindowSeconds, 3)) s" + (t.acknowledgedWrites.map { ", acknowledged writes \(grouped($0))" } ?? ""))
        }
        let e = errors
        lines.append("  errors    connect \(e.connect), read \(e.read), write \(e.write), timeout \(e.timeout), parse \(e.parse) (server closes \(serverCloses))")
        return lines.joined(separator: "\n")
    }

    func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
