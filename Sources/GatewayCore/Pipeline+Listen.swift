/// What `GET /notify/<channel>` comes to: a refusal, or the channel the caller may listen to and
/// the headers its stream's answer carries (CORS).
enum ListenDecision {
    case refused(HTTPResponse)
    case allowed(channel: String, headers: [(String, String)])
}

extension Pipeline {
    /// The request path of an event stream, up to the decision: authenticate, plan, one round trip
    /// asking the schema's `can_listen` as the caller (true: allowed; false: 403; null: 404). Answers
    /// now when it fails early, else returns nil and calls `reply` once, later, on this loop.
    func listen(_ request: HTTPRequest, database: PGPoolRouter, now: UInt64,
                reply: @escaping (ListenDecision) -> Void) -> ListenDecision? {
        var corsHeaders: [(String, String)] = []
        if case .actual(let headers) = cors.decide(request) { corsHeaders = headers }
        var authenticated = false
        do {
            let auth = try authenticator.authenticate(authorization: request.headers["authorization"])
            authenticated = auth.isAuthenticated
            let plan = try ListenPlan(request: request, catalog: catalogStore.current(), config: config,
                                      role: auth.role, claims: auth.claims)
            try database.submit(plan.statements, resultIndex: plan.resultIndex, role: .primary, now: now) { [self, authenticated] rows, _ in
                let decision: ListenDecision
                do {
                    switch try rows.get().first.flatMap({ $0.first }) ?? nil {
                    case "t": decision = .allowed(channel: plan.channel, headers: corsHeaders)
                    case "f": throw APIError.listen(.forbidden(channel: plan.channel))
                    default: throw APIError.listen(.unknownChannel(channel: plan.channel))
                    }
                } catch {
                    decision = .refused(HTTPResponse(error: error, authenticated: authenticated).adding(corsHeaders))
                }
                if case .refused(let response) = decision { logQueries(plan.statements, status: response.status) }
                else { logQueries(plan.statements, status: 200) }
                reply(decision)
            }
            return nil
        } catch {
            return .refused(HTTPResponse(error: error, authenticated: authenticated).adding(corsHeaders))
        }
    }
}
