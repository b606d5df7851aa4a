import Glibc

/// One keep-alive HTTP/1.1 connection owned by a worker thread; at most one request in flight.
final class Connection {
    enum Phase { case closed, connecting, idle, writing, reading }

    let index: Int
    var fd: Int32 = -1
    var phase: Phase = .closed
    var request: [UInt8] = []
    var operation: Operation = .staticGet
    var ackKey: String?             // the write's key when the request names it (--ack-log)
    var followUp: (Operation, [UInt8])?   // the next request an answer called for (builds: the completion)
    var written = 0
    var buffer: UnsafeMutablePointer<UInt8>
    var capacity: Int
    var filled = 0
    var parser = ResponseParser()
    var sentAt: UInt64 = 0          // when the request was actually written
    var intendedAt: UInt64 = 0      // when the schedule wanted it written (open loop)
    var nextIntended: UInt64 = 0    // the schedule's next slot for this connection (open loop)
    var retryAt: UInt64 = 0
    var watchingWrite = false

    init(index: Int) {
        self.index = index
        capacity = 64 * 1024
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        if fd >= 0 { close(fd) }
        buffer.deallocate()
    }

    /// Room for at least one more read, growing the receive buffer for large responses.
    func ensureRoom() {
        guard filled == capacity else { return }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
        bigger.update(from: buffer, count: filled)
        buffer.deallocate()
        buffer = bigger
        capacity *= 2
    }

    /// Drops the first `count` bytes (a finished response) and keeps what follows.
    func consume(_ count: Int) {
        let rest = filled - count
        if rest > 0 { (buffer + 0).update(from: buffer + count, count: rest) }
        filled = max(rest, 0)
        parser.reset()
    }
}
