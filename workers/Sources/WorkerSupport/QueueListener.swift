import PGClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Wakes an idle worker when there is work: a direct PostgreSQL connection that runs `LISTEN channel`
/// (`builds`: schedule_image_build, retry_build and requeue_expired_builds NOTIFY it; `notifications`:
/// a completion whose e-mail lands in an idle outbox). LISTEN needs no privilege, so any login role
/// will do. It is only a shortcut: the worker still polls, because a NOTIFY sent while this connection
/// is down is lost, and LISTEN does not work through a transaction-mode pooler. When the connection
/// fails, waiting falls back to sleeping and the next wait reconnects. The connection is the
/// platform's one libpq client (PGClient's `PGConnection`, the gateway's too).
public final class QueueListener {
    private let conninfo: String
    private let channel: String
    private var connection: PGConnection?
    private let log: (String) -> Void

    /// `channel` is one of the platform's fixed channel names, never user input.
    public init(conninfo: String, channel: String, log: @escaping (String) -> Void) {
        precondition(channel.allSatisfy { $0.isLetter || $0 == "_" }, "channel must be a plain identifier")
        self.conninfo = conninfo
        self.channel = channel
        self.log = log
    }

    /// Waits until a NOTIFY on the channel arrives or `seconds` pass; true when woken by a notification.
    /// All waiting notifications are consumed: one claim loop serves them.
    public func wait(seconds: Double) -> Bool {
        guard let connection = connected() else {
            Thread.sleep(forTimeInterval: seconds)
            return false
        }
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if !connection.notifications().isEmpty { return true }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, Int32(min(left, 3_600) * 1_000)) < 0 && errno != EINTR { return false }
            guard connection.consumeInput() else {
                log("listener lost its connection: \(connection.errorMessage); polling")
                self.connection = nil
                return false
            }
        }
    }

    private func connected() -> PGConnection? {
        if let connection { return connection }
        do {
            let attempt = try PGConnection(conninfo)
            do {
                try attempt.execute("LISTEN \(channel)")
            } catch {
                log("LISTEN \(channel) failed: \(error); polling")
                return nil
            }
            log("listening for NOTIFY \(channel)")
            connection = attempt
            return attempt
        } catch {
            log("listener cannot connect: \(error); polling")
            return nil
        }
    }
}
