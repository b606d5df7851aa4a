/// The answer of a streamed call (`CallPlan.streamed`), written as its rows arrive. Rows are kept
/// until `threshold` bytes: a result that ends before is answered as any other (Content-Length,
/// Content-Range, the function's last `response.*` settings), byte for byte what the aggregate gives.
/// Past it the head is sent (the function's settings as of its first row, no Content-Range) and the
/// body follows chunked through a `ResponseStream`; the connection to PostgreSQL stops reading while
/// the client is behind (`highWater`) and the call is dropped when the client leaves. An error after
/// the head was sent can no longer change the status: the body is cut off (`abort`, no terminating
/// chunk), so the client sees it incomplete. Lives on one loop's thread.
final class StreamedCall {
    /// Bytes of body kept before the answer becomes a stream.
    static let threshold = 256 << 10

    let plan: CallPlan
    private let format: StreamedBody
    /// The answer (its head, when streamed) or the failure before it, once.
    private let reply: (Result<HTTPResponse, any Error>) -> Void
    /// The rows' end of the connection: pause, resume, stop. Weak: the request holds it while it runs.
    private(set) weak var rows: PGRowStream?
    private var body: [UInt8] = []
    private var stream: ResponseStream?
    private var count: Int64 = 0
    /// `response.status` and `response.headers` at the first row, and after the last one.
    private var first: (status: String?, headers: String?) = (nil, nil)
    private var last: (status: String?, headers: String?) = (nil, nil)
    private var replied = false
    private var ended = false

    init(plan: CallPlan, format: StreamedBody, reply: @escaping (Result<HTTPResponse, any Error>) -> Void) {
        self.plan = plan
        self.format = format
        self.reply = reply
    }

    /// The row consumer to submit with the call (it holds this answer until the call ends).
    func makeRowStream() -> PGRowStream {
        let rows = PGRowStream { [self] row in receive(row) }
        self.rows = rows
        return rows
    }

    /// One row: its JSON text, or (NULL) the last row with the settings after the call. False: pause.
    private func receive(_ row: PGRow) -> Bool {
        guard !replied || stream != nil else { return true }    // refused before streaming: drained
        let isValue = row.withBytes(CallSQL.StreamColumn.value) { value -> Bool in
            guard let value else { return false }
            if count == 0 {
                first = (row.text(CallSQL.StreamColumn.status), row.text(CallSQL.StreamColumn.headers))
                if case .array = format { append(Self.open) }
            } else {
                append(separator(before: value))
            }
            append(value)
            if format == .lines { append(Self.newline) }
            count += 1
            return true
        }
        guard isValue else {
            last = (row.text(CallSQL.StreamColumn.status), row.text(CallSQL.StreamColumn.headers))
            return true
        }
        if stream == nil, body.count >= Self.threshold { startStreaming() }
        guard let stream else { return true }
        return stream.buffered <= stream.highWater
    }

    private static let open: [UInt8] = Array("[".utf8), close: [UInt8] = Array("]".utf8), newline: [UInt8] = [0x0A]
    private static let comma: [UInt8] = Array(",".utf8), commaSpace: [UInt8] = Array(", ".utf8)
    private static let commaBreak: [UInt8] = Array(", \n ".utf8), null: [UInt8] = Array("null".utf8)

    /// What precedes a value after the first (JSON arrays; nothing for lines).
    private func separator(before value: UnsafeRawBufferPointer) -> [UInt8] {
        guard case .array(let structured, let stripped) = format else { return [] }
        if stripped { return Self.comma }
        return structured && !value.elementsEqual(Self.null) ? Self.commaBreak : Self.commaSpace
    }

    private func append(_ bytes: UnsafeRawBufferPointer) {
        if let stream { stream.write(bytes) } else { body.append(contentsOf: bytes) }
    }

    private func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The result outgrew `threshold`: the head goes out with the first row's settings, the kept
    /// rows after it.
    private func startStreaming() {
        replied = true
        do {
            var head = try HTTPResponse.streamHead(plan: plan, status: first.status, headers: first.headers)
            let stream = ResponseStream()
            stream.onDrained = { [weak self] in self?.rows?.resume() }
            stream.onClosed = { [weak self] in self?.clientLeft() }
            // A graceful shutdown lets the rows come to their end (or cuts them at its deadline).
            stream.onShutdown = {}
            head.stream = stream
            self.stream = stream
            reply(.success(head))
            stream.write(body)
            body = []
        } catch {
            body = []
            rows?.stop()
            reply(.failure(error))
        }
    }

    /// The connection is gone before the call ended: the call is dropped.
    private func clientLeft() {
        if !ended { rows?.stop() }
    }

    /// The call ended (its transaction committed or failed).
    func finish(_ result: Result<Void, any Error>) {
        ended = true
        if let stream {
            switch result {
            case .success:
                if case .array = format { stream.write(count == 0 ? Self.open + Self.close : Self.close) }
                stream.finish()
            case .failure: stream.abort()
            }
            return
        }
        guard !replied else { return }
        replied = true
        switch result {
        case .success:
            if case .array = format { body += count == 0 ? Self.open + Self.close : Self.close }
            let text = String(decoding: body, as: UTF8.self)
            body = []
            reply(Result { try HTTPResponse(plan: plan, rows: [[text, last.status, last.headers, String(count), nil]]) })
        case .failure(let error):
            reply(.failure(error))
        }
    }
}
