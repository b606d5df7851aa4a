import CMicroHTTPD

// The C callbacks of each loop's daemon. `cls` is the unretained `EventLoop`; `*con_cls` is the
// retained `RequestContext` created by the URI log callback (MHD calls it before any other callback
// of a request and always calls the completion callback afterwards). All run inside `MHD_run`, on
// the loop's thread.

let uriLogCallback: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, OpaquePointer?) -> UnsafeMutableRawPointer? = { cls, uri, _ in
    let loop = Unmanaged<EventLoop>.fromOpaque(cls!).takeUnretainedValue()
    loop.requests += 1
    let context = RequestContext(target: uri.map(requestTarget) ?? "/")
    return Unmanaged.passRetained(context).toOpaque()
}

/// The request target as text. Bytes that are not UTF-8 (never valid in a URL unescaped) are
/// percent-escaped, so they meet the same checks as escaped ones: 22021 in a query, 404 in a path.
func requestTarget(_ uri: UnsafePointer<CChar>) -> String {
    if let text = String(validatingCString: uri) { return text }
    let hex = Array("0123456789ABCDEF".utf8)
    var bytes: [UInt8] = []
    var pointer = UnsafeRawPointer(uri).assumingMemoryBound(to: UInt8.self)
    while pointer.pointee != 0 {
        let byte = pointer.pointee
        if byte < 0x80 { bytes.append(byte) } else { bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]] }
        pointer += 1
    }
    return String(decoding: bytes, as: UTF8.self)
}

let completedCallback: MHD_RequestCompletedCallback = { cls, _, conCls, _ in
    guard let raw = conCls?.pointee else { return }
    conCls?.pointee = nil
    let context = Unmanaged<RequestContext>.fromOpaque(raw).takeRetainedValue()
    let loop = Unmanaged<EventLoop>.fromOpaque(cls!).takeUnretainedValue()
    loop.requests -= 1
    let elapsed = monotonicNanoseconds() - context.started
    if let line = Observation.accessLine(method: context.method, path: String(context.path), status: context.status,
                                         nanoseconds: elapsed) {
        loop.accessLog += line
    }
    GatewayMetrics.shared.requestFinished(function: GatewayMetrics.function(of: context.path, status: context.status), status: context.status,
                                          nanoseconds: Int64(elapsed))
}

let accessHandler: MHD_AccessHandlerCallback = { cls, connection, _, method, _, uploadData, uploadSize, conCls in
    guard let connection, let raw = conCls?.pointee, let uploadSize else { return MHD_Result.NO }
    let loop = Unmanaged<EventLoop>.fromOpaque(cls!).takeUnretainedValue()
    let context = Unmanaged<RequestContext>.fromOpaque(raw).takeUnretainedValue()
    return loop.handle(connection, context, method, uploadData, uploadSize)
}

extension EventLoop {
    /// One call of MHD's access handler for `context`'s request (see the phases of `RequestContext`).
    func handle(_ connection: OpaquePointer, _ context: RequestContext, _ method: UnsafePointer<CChar>?,
                _ uploadData: UnsafePointer<CChar>?, _ uploadSize: UnsafeMutablePointer<Int>) -> MHD_Result {
        let limit = server.settings.maxBodyBytes
        switch context.phase {
        case .fresh:
            context.method = method.map { String(cString: $0) } ?? ""
            context.phase = .receiving
            // Answering on the first call closes the connection: wanted for these two only.
            if stopping {
                return queue(refusal(.shuttingDown, context, connection), context, connection, close: true)
            }
            if let length = MHDDaemon.header("Content-Length", of: connection), let bytes = Int(length), bytes > limit {
                return queue(refusal(.bodyTooLarge(limit: limit), context, connection), context, connection, close: true)
            }
            return MHD_Result.YES
        case .receiving:
            let size = uploadSize.pointee
            if size > 0 {
                uploadSize.pointee = 0
                if context.tooLarge || context.body.count + size > limit {
                    // Chunked upload over the limit: drop the bytes, answer 413 at the end, and
                    // give up on clients that keep sending far beyond the limit.
                    context.tooLarge = true
                    context.body = []
                    context.discarded += size
                    return context.discarded > 4 * limit + 65_536 ? MHD_Result.NO : MHD_Result.YES
                }
                uploadData!.withMemoryRebound(to: UInt8.self, capacity: size) {
                    context.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: size))
                }
                return MHD_Result.YES
            }
            context.phase = .dispatched
            if context.tooLarge {
                return queue(refusal(.bodyTooLarge(limit: limit), context, connection), context, connection, close: true)
            }
            if stopping {
                return queue(refusal(.shuttingDown, context, connection), context, connection, close: true)
            }
            let request = HTTPRequest(method: context.method, path: String(context.path), query: String(context.query),
                                      headers: MHDDaemon.headers(of: connection), body: context.body)
            context.body = []
            if request.method == "GET", ListenPlan.matches(request.path) { return listen(request, context, connection) }
            let answer = pipeline.respond(to: request, database: router, now: monotonicNanoseconds()) { [unowned self] response in
                deliver(response, to: context)
            }
            if let response = answer ?? context.early {
                context.early = nil
                return queue(response, context, connection)
            }
            MHDDaemon.suspend(connection)
            context.suspended = connection
            return MHD_Result.YES
        case .dispatched, .answered:
            uploadSize.pointee = 0
            return MHD_Result.YES
        }
    }

    /// The database answered: queue the response on the suspended connection and resume it (MHD
    /// sends it on the loop's next `MHD_run`), or keep it for the handler if it has not suspended yet.
    func deliver(_ response: HTTPResponse, to context: RequestContext) {
        guard let connection = context.suspended else { context.early = response; return }
        context.suspended = nil
        _ = queue(response, context, connection)
        MHDDaemon.resume(connection)
        resumed = true
    }

    /// The server's own refusal, CORS headers included (see `Pipeline.refusal`).
    private func refusal(_ error: APIError, _ context: RequestContext, _ connection: OpaquePointer) -> HTTPResponse {
        pipeline.refusal(error, method: context.method, headers: MHDDaemon.headers(of: connection))
    }

    func queue(_ response: HTTPResponse, _ context: RequestContext, _ connection: OpaquePointer,
                       close: Bool = false) -> MHD_Result {
        context.phase = .answered
        context.status = response.status
        let body = response.stream.map { streamBody($0, connection: connection, loop: self) }
        return MHDDaemon.queue(response, on: connection, close: close || stopping, body: body)
    }
}
