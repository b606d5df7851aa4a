#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// The one place logs leave the process: leveled messages and the access log, both as single
/// `write(2)` calls to stderr (one line each, so lines from different threads never interleave).
public enum Observation {
    private static let threshold = Atomic<Int>(levelRank(.error))

    /// Sets the threshold (PostgREST's `log-level`).
    public static func configure(level: GatewayConfig.LogLevel) {
        threshold.store(levelRank(level), ordering: .relaxed)
    }

    /// True when messages of `level` are written.
    public static func enabled(_ level: GatewayConfig.LogLevel) -> Bool {
        levelRank(level) <= threshold.load(ordering: .relaxed)
    }

    /// Writes `message` when `level` passes the threshold.
    public static func log(_ level: GatewayConfig.LogLevel, _ message: @autoclosure () -> String) {
        guard enabled(level) else { return }
        writeLine("\(timestamp()) \(level.rawValue): \(message())")
    }

    /// One access-log line per request, filtered like PostgREST: `error` logs 5xx, `warn` adds 4xx,
    /// `info` and `debug` log every request.
    public static func access(method: String, path: String, status: Int, nanoseconds: UInt64) {
        let level: GatewayConfig.LogLevel = status >= 500 ? .error : status >= 400 ? .warn : .info
        guard enabled(level) else { return }
        let tenths = (nanoseconds + 50_000) / 100_000
        writeLine("\(timestamp()) \(method) \(path) \(status) \(tenths / 10).\(tenths % 10)ms")
    }

    private static let secrets = Mutex<[String]>([])

    /// Values that must never be logged (`GatewayConfig.secrets`): every line is written with each
    /// occurrence replaced by `[REDACTED]`, whatever produced it (libpq quotes connection strings).
    public static func redact(_ values: [String]) {
        secrets.withLock { $0 = values.filter { !$0.isEmpty } }
    }

    /// Writes one line to stderr with a single system call (secrets redacted).
    public static func writeLine(_ line: String) {
        var text = line
        for secret in secrets.withLock({ $0 }) where text.contains(secret) {
            text = text.replacingOccurrences(of: secret, with: "[REDACTED]")
        }
        text.append("\n")
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    private static func levelRank(_ level: GatewayConfig.LogLevel) -> Int {
        GatewayConfig.LogLevel.allCases.firstIndex(of: level)!
    }

    /// UTC time as `2026-11-24T05:00:00.123Z`.
    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T"
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}

/// Monotonic clock in nanoseconds (for durations and deadlines).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
