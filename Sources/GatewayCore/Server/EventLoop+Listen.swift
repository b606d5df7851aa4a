import CMicroHTTPD

extension EventLoop {
    /// `GET /notify/<channel>`: the pipeline decides (after one round trip asking `can_listen`), then
    /// the loop's subscribers answer: the stream once LISTEN is in effect, or a refusal. The
    /// connection stays suspended meanwhile.
    func listen(_ request: HTTPRequest, _ context: RequestContext, _ connection: OpaquePointer) -> MHD_Result {
        let decision = pipeline.listen(request, database: router, now: monotonicNanoseconds()) { [unowned self] decision in
            if let response = subscribe(decision, context) { deliver(response, to: context) }
        }
        if let response = decision.flatMap({ subscribe($0, context) }) ?? context.early {
            context.early = nil
            return queue(response, context, connection)
        }
        MHDDaemon.suspend(connection)
        context.suspended = connection
        return MHD_Result.YES
    }

    /// The answer to a decision: a refusal, the stream, or nil while LISTEN is not in effect yet.
    private func subscribe(_ decision: ListenDecision, _ context: RequestContext) -> HTTPResponse? {
        switch decision {
        case .refused(let response):
            return response
        case .allowed(let channel, let headers, let expires):
            guard !stopping else { return HTTPResponse(error: APIError.shuttingDown, authenticated: true).adding(headers) }
            return subscribers.subscribe(channel, headers: headers, expires: expires, request: context, now: monotonicNanoseconds())
        }
    }
}
