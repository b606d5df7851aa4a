/// A response body produced over time on one loop's thread, sent with chunked transfer. A producer
/// (server-sent events, a streamed result) writes bytes as they come; the server takes them as the
/// client's socket accepts them. Memory stays bounded only if producers respect `highWater`: above
/// it they pause (and resume on `onDrained`) or drop the client.
///
/// Used only on the loop that owns the connection (every call and every callback), hence
/// `@unchecked Sendable`: it rides inside an `HTTPResponse` to that loop and never leaves it.
public final class ResponseStream: @unchecked Sendable {
    /// How the body ends, once the buffered bytes are taken.
    enum Ending { case open, finished, aborted }

    /// What the server gets when it asks for bytes.
    enum Taken: Equatable {
        /// This many bytes were copied.
        case bytes(Int)
        /// Nothing yet: wait for `wake`.
        case wait
        /// The body is complete: send the terminating chunk.
        case end
        /// Close the connection without the terminating chunk.
        case abort
    }

    private var storage: [UInt8] = []
    /// Bytes of `storage` already taken (compacted away once they are the larger part).
    private var head = 0
    private(set) var ending = Ending.open
    private var overHighWater = false
    private var isClosed = false

    /// Bytes queued, not yet taken by the server.
    public var buffered: Int { storage.count - head }
    /// Above it producers should pause (and wait for `onDrained`) or drop the client.
    public var highWater: Int
    /// Called once `buffered` fell below `highWater / 2` after having exceeded `highWater` (on the
    /// loop, from inside `MHD_run`: it may write at once).
    public var onDrained: (() -> Void)?
    /// Called once when the connection is gone (completed, client left, aborted, server stopping):
    /// producers stop and unsubscribe.
    public var onClosed: (() -> Void)?
    /// Called when the server shuts down gracefully; nil: `finish()`, so an endless stream does not
    /// hold the drain. A producer whose body would be cut short sets its own (e.g. `abort`).
    public var onShutdown: (() -> Void)?
    /// Set by the server: wakes the connection when it waits for data. Not for producers.
    var wake: (() -> Void)?

    public init(highWater: Int = 1 << 20) { self.highWater = highWater }

    /// Whether the connection is gone (writes are then dropped).
    public var closed: Bool { isClosed }

    /// Appends bytes to the body (dropped after `finish`, `abort` or the connection's end).
    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Appends bytes to the body from memory the caller owns (one copy, into the stream).
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard ending == .open, !isClosed, !bytes.isEmpty else { return }
        storage.append(contentsOf: bytes)
        if buffered > highWater { overHighWater = true }
        wake?()
    }

    /// Normal end: the rest of the buffer, then the terminating chunk.
    public func finish() {
        guard ending == .open else { return }
        ending = .finished
        wake?()
    }

    /// Abnormal end: the connection is closed without the terminating chunk (the client sees an
    /// incomplete body), the buffered bytes are dropped.
    public func abort() {
        guard ending != .aborted else { return }
        ending = .aborted
        storage = []
        head = 0
        wake?()
    }

    /// The server takes up to `buffer.count` bytes for the socket.
    func take(into buffer: UnsafeMutableRawBufferPointer) -> Taken {
        if ending == .aborted { return .abort }
        let count = min(buffered, buffer.count)
        guard count > 0 else { return ending == .finished ? .end : .wait }
        storage.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + head, byteCount: count)
        }
        head += count
        if head == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 1 << 16)
            head = 0
        } else if head > storage.count / 2 {
            storage.removeFirst(head)
            head = 0
        }
        if overHighWater && buffered < highWater / 2 {
            overHighWater = false
            onDrained?()
        }
        return .bytes(count)
    }

    /// The server's graceful shutdown reached this stream.
    func shutdown() {
        if let onShutdown { onShutdown() } else { finish() }
    }

    /// The server is done with the connection: tells the producer, once, and drops its callbacks
    /// (they usually capture the producer, which holds the stream).
    func connectionClosed() {
        guard !isClosed else { return }
        isClosed = true
        wake = nil
        storage = []
        head = 0
        let closed = onClosed
        onClosed = nil
        onDrained = nil
        onShutdown = nil
        closed?()
    }
}
