import CMicroHTTPD

/// A `ResponseStream` bound to its connection: MHD's content reader takes the stream's bytes; with
/// none yet, it suspends the connection (returning 0 without suspending would make MHD call it
/// again on every `MHD_run`: a busy loop) and the stream's next write or end resumes it. A
/// suspended connection never times out, so a quiet stream is not cut by `server-timeout`; nor
/// does MHD see the client leave until a write fails, which is why endless streams send something
/// now and then (server-sent events: a comment every 15 s). Lives on the loop's thread.
final class StreamLink {
    let stream: ResponseStream
    private let connection: OpaquePointer
    private unowned let loop: EventLoop
    private var suspended = false

    init(stream: ResponseStream, connection: OpaquePointer, loop: EventLoop) {
        self.stream = stream
        self.connection = connection
        self.loop = loop
        stream.wake = { [unowned self] in resume() }
    }

    /// MHD wants up to `max` bytes at `buffer`.
    func read(_ buffer: UnsafeMutablePointer<CChar>, _ max: Int) -> Int {
        switch stream.take(into: UnsafeMutableRawBufferPointer(start: buffer, count: max)) {
        case .bytes(let count): return count
        case .wait:
            MHDDaemon.suspend(connection)
            suspended = true
            return 0
        case .end: return -1     // MHD_CONTENT_READER_END_OF_STREAM: the terminating chunk
        case .abort: return -2   // MHD_CONTENT_READER_END_WITH_ERROR: close without it
        }
    }

    /// Data or an end arrived: the connection runs again on the loop's next `MHD_run`.
    private func resume() {
        guard suspended else { return }
        suspended = false
        MHDDaemon.resume(connection)
        loop.resumed = true
    }

    /// MHD released the response: the connection is done with the stream.
    func released() {
        stream.connectionClosed()
        loop.streams[ObjectIdentifier(stream)] = nil
    }
}

let streamReader: MHD_ContentReaderCallback = { cls, _, buffer, max in
    guard let cls, let buffer else { return -2 }
    return Unmanaged<StreamLink>.fromOpaque(cls).takeUnretainedValue().read(buffer, max)
}

let streamReleased: MHD_ContentReaderFreeCallback = { cls in
    guard let cls else { return }
    Unmanaged<StreamLink>.fromOpaque(cls).takeRetainedValue().released()
}

/// The callbacks through which MHD reads `stream`'s body (of unknown length: chunked under HTTP/1.1),
/// the stream registered with `loop` so that a graceful shutdown ends it; released (and unregistered)
/// once MHD is done with it, or at once if MHD cannot take it.
func streamBody(_ stream: ResponseStream, connection: OpaquePointer, loop: EventLoop)
    -> (context: UnsafeMutableRawPointer, read: MHD_ContentReaderCallback, release: MHD_ContentReaderFreeCallback) {
    loop.streams[ObjectIdentifier(stream)] = stream
    let link = StreamLink(stream: stream, connection: connection, loop: loop)
    return (Unmanaged.passRetained(link).toOpaque(), streamReader, streamReleased)
}
