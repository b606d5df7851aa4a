import Foundation

/// What `GET /notify/<channel>` comes to: a refusal, or the channel the caller may listen to, the
/// headers its stream's answer carries (CORS) and when its token expires (monotonic nanoseconds).
enum ListenDecision {
    case refused(HTTPResponse)
    case allowed(channel: String, headers: [(String, String)], expires: UInt64?)
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
            let expires = Self.expiry(claims: auth.claims, now: now)
            let plan = try ListenPlan(request: request, catalog: catalogStore.current(), config: config,
                                      role: auth.role, claims: auth.claims)
            try database.submit(plan.statements, resultIndex: plan.resultIndex, role: .primary, now: now) { [self, authenticated] rows, _ in
                let decision: ListenDecision
                do {
                    switch try rows.get().first.flatMap({ $0.first }) ?? nil {
                    case "t": decision = .allowed(channel: plan.channel, headers: corsHeaders, expires: expires)
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

    /// The monotonic time at which the token's `exp` passes (nil without one): a stream ends then,
    /// as a request with that token would be refused from then on; the client reconnects with a new one.
    static func expiry(claims: String, now: UInt64) -> UInt64? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(claims.utf8)) as? [String: Any],
              let exp = (object["exp"] as? NSNumber)?.doubleValue else { return nil }
        let seconds = max(0, exp - Date().timeIntervalSince1970)
        return now + UInt64(min(seconds, 1e9) * 1e9)
    }
}
