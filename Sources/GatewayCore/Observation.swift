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
    public static func configure(level: GatewayLogLevel) {
        threshold.store(levelRank(level), ordering: .relaxed)
    }

    /// True when messages of `level` are written.
    public static func enabled(_ level: GatewayLogLevel) -> Bool {
        levelRank(level) <= threshold.load(ordering: .relaxed)
    }

    /// Writes `message` when `level` passes the threshold.
    public static func log(_ level: GatewayLogLevel, _ message: @autoclosure () -> String) {
        guard enabled(level) else { return }
        writeLine("\(timestamp()) \(level.rawValue): \(message())")
    }

    /// One access-log line per request, filtered like PostgREST: `error` logs 5xx, `warn` adds 4xx,
    /// `info` and `debug` log every request.
    public static func access(method: String, path: String, status: Int, nanoseconds: UInt64) {
        accessLine(method: method, path: path, status: status, nanoseconds: nanoseconds).map(write)
    }

    /// The access-log line (redacted, newline-terminated), nil when the level filters it out: an
    /// event loop gathers a pass's lines and writes them with one system call (`write`).
    static func accessLine(method: String, path: String, status: Int, nanoseconds: UInt64) -> String? {
        guard enabled(accessLevel(status: status)) else { return nil }
        let tenths = (nanoseconds + 50_000) / 100_000
        return redacted("\(timestamp()) \(method) \(path) \(status) \(tenths / 10).\(tenths % 10)ms") + "\n"
    }

    /// The level a request's lines are written at, by its status (PostgREST's `shouldLogResponse`).
    static func accessLevel(status: Int) -> GatewayLogLevel {
        status >= 500 ? .error : status >= 400 ? .warn : .info
    }

    /// PostgREST's `log-query`: the SQL of a request's statements (parameters as `$n`, never their
    /// values), one line each with line breaks folded into spaces, as `<time>: <sql>`; written when the
    /// request's access-log line is (Logger.hs, `QueryObs` goes through `shouldLogResponse`).
    public static func queries(_ statements: [String], status: Int) {
        guard enabled(accessLevel(status: status)) else { return }
        let stamp = timestamp()
        write(statements.map { sql in
            redacted(stamp + ": " + sql.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")) + "\n"
        }.joined())
    }

    private static let secrets = Mutex<[String]>([])

    /// Values that must never be logged (`GatewayConfig.secrets`): every line is written with each
    /// occurrence replaced by `[REDACTED]`, whatever produced it (libpq quotes connection strings).
    public static func redact(_ values: [String]) {
        secrets.withLock { $0 = values.filter { !$0.isEmpty } }
    }

    /// Writes one line to stderr with a single system call (secrets redacted).
    public static func writeLine(_ line: String) {
        write(redacted(line) + "\n")
    }

    /// `line` with every secret replaced by `[REDACTED]`.
    static func redacted(_ line: String) -> String {
        var text = line
        for secret in secrets.withLock({ $0 }) where contains(text, secret) {
            text = text.replacingOccurrences(of: secret, with: "[REDACTED]")
        }
        return text
    }

    /// Writes whole, already redacted lines to stderr with one system call.
    static func write(_ lines: String) {
        var text = lines
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    /// Byte search (memchr + memcmp): the check runs on every line, the replacement almost never.
    static func contains(_ text: String, _ secret: String) -> Bool {
        var text = text, secret = secret
        return text.withUTF8 { haystack in
            secret.withUTF8 { needle in
                guard let base = haystack.baseAddress, let first = needle.first, haystack.count >= needle.count else {
                    return needle.isEmpty
                }
                var at = 0
                let last = haystack.count - needle.count
                while at <= last {
                    guard let found = memchr(base + at, Int32(first), last - at + 1) else { return false }
                    at = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
                    if memcmp(base + at, needle.baseAddress!, needle.count) == 0 { return true }
                    at += 1
                }
                return false
            }
        }
    }

    private static func levelRank(_ level: GatewayLogLevel) -> Int {
        GatewayLogLevel.allCases.firstIndex(of: level)!
    }

    /// UTC time as `2026-11-24T05:00:00.123Z`, written digit by digit (one small allocation).
    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let fields: [(Int, Int, UInt8)] = [(Int(parts.tm_year) + 1900, 4, 0x2D), (Int(parts.tm_mon) + 1, 2, 0x2D),
                                           (Int(parts.tm_mday), 2, 0x54), (Int(parts.tm_hour), 2, 0x3A),
                                           (Int(parts.tm_min), 2, 0x3A), (Int(parts.tm_sec), 2, 0x2E),
                                           (now.tv_nsec / 1_000_000, 3, 0x5A)]
        return String(unsafeUninitializedCapacity: 24) { buffer in
            var at = 0
            for (value, width, separator) in fields {
                var rest = value
                for position in stride(from: width - 1, through: 0, by: -1) {
                    buffer[at + position] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
                at += width
                buffer[at] = separator
                at += 1
            }
            return at
        }
    }
}

/// Monotonic clock in nanoseconds (for durations and deadlines).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Severity threshold of the log (PostgREST's `log-level`), lowest first.
public enum GatewayLogLevel: String, Sendable, CaseIterable, Comparable {
    case crit, error, warn, info, debug

    public static func < (lhs: GatewayLogLevel, rhs: GatewayLogLevel) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
