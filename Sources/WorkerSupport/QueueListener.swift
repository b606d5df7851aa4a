import CLibPQ
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Wakes an idle worker when there is work: a direct PostgreSQL connection that runs `LISTEN channel`
/// (`builds`: schedule_image_build, retry_build and requeue_expired_builds NOTIFY it; `notifications`:
/// a completion whose e-mail lands in an idle outbox). LISTEN needs no privilege, so any login role
/// will do. It is only a shortcut: the worker still polls, because a NOTIFY sent while this connection
/// is down is lost, and LISTEN does not work through a transaction-mode pooler. When the connection
/// fails, waiting falls back to sleeping and the next wait reconnects.
public final class QueueListener {
    private let conninfo: String
    private let channel: String
    private var connection: OpaquePointer?
    private let log: (String) -> Void

    /// `channel` is one of the platform's fixed channel names, never user input.
    public init(conninfo: String, channel: String, log: @escaping (String) -> Void) {
        precondition(channel.allSatisfy { $0.isLetter || $0 == "_" }, "channel must be a plain identifier")
        self.conninfo = conninfo
        self.channel = channel
        self.log = log
    }

    deinit { if let connection { PQfinish(connection) } }

    /// Waits until a NOTIFY on the channel arrives or `seconds` pass; true when woken by a notification.
    public func wait(seconds: Double) -> Bool {
        guard let connection = connected() else {
            Thread.sleep(forTimeInterval: seconds)
            return false
        }
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if drain(connection) { return true }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, Int32(min(left, 3_600) * 1_000)) < 0 && errno != EINTR { return false }
            guard PQconsumeInput(connection) == 1, PQstatus(connection) == CONNECTION_OK else {
                log("listener lost its connection: \(String(cString: PQerrorMessage(connection))); polling")
                PQfinish(connection)
                self.connection = nil
                return false
            }
        }
    }

    /// True when at least one notification was waiting (all are consumed: one claim loop serves them).
    private func drain(_ connection: OpaquePointer) -> Bool {
        var woken = false
        while let notification = PQnotifies(connection) {
            woken = true
            PQfreemem(notification)
        }
        return woken
    }

    private func connected() -> OpaquePointer? {
        if let connection { return connection }
        let attempt = PQconnectdb(conninfo)
        guard let attempt, PQstatus(attempt) == CONNECTION_OK else {
            log("listener cannot connect: \(attempt.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"); polling")
            if let attempt { PQfinish(attempt) }
            return nil
        }
        let result = PQexec(attempt, "LISTEN \(channel)")
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else {
            log("LISTEN \(channel) failed: \(String(cString: PQerrorMessage(attempt))); polling")
            PQfinish(attempt)
            return nil
        }
        log("listening for NOTIFY \(channel)")
        connection = attempt
        return attempt
    }
}
