/// The request path, top to bottom (PostgREST's App.hs as a straight line): authenticate, plan
/// without I/O, one database round trip, response shaped from the row PostgreSQL built; every
/// failure becomes HTTP in exactly one place (`HTTPResponse(error:authenticated:)`). Each stage is
/// timed into a `Server-Timing` header (`jwt`, `plan`, `db`, `render`, in milliseconds), which also
/// names the pool that answered (`pool;desc=primary` or `pool;desc=read`, see `PGPoolRouter`).
/// Shared by the event loops; each call runs wholly on the calling loop's thread.
public final class Pipeline: Sendable {
    let config: GatewayConfig
    let catalogStore: CatalogStore
    let authenticator: JWTAuthenticator
    let cors: CORSPolicy

    public init(config: GatewayConfig, catalogStore: CatalogStore) {
        self.config = config
        self.catalogStore = catalogStore
        // jwt-secret and jwt-role-claim-key were validated when the configuration was loaded.
        authenticator = JWTAuthenticator(keys: (try? config.jwtKeys()) ?? nil, audience: config.jwtAud,
                                         roleClaim: (try? RoleClaimPath(config.jwtRoleClaimKey)) ?? .default,
                                         anonRole: config.dbAnonRole,
                                         cache: .init(maxEntries: config.jwtCacheMaxEntries, maxLifetime: config.jwtCacheMaxLifetime))
        cors = CORSPolicy(allowedOrigins: config.serverCorsAllowedOrigins)
    }

    /// Answers now (no database needed, or a failure before the call), or returns nil and calls
    /// `reply` once, later, on this loop, when the database answered. CORS wraps everything, as
    /// PostgREST's middleware does: a preflight is answered here, an actual CORS request's answer
    /// (an error too) gets its headers.
    func respond(to request: HTTPRequest, database: PGPoolRouter, now: UInt64,
                 reply: @escaping (HTTPResponse) -> Void) -> HTTPResponse? {
        switch cors.decide(request) {
        case .none:
            return answer(request, database: database, now: now, reply: reply)
        case .preflight(let response):
            return response
        case .actual(let headers):
            return answer(request, database: database, now: now) { reply($0.adding(headers)) }?.adding(headers)
        }
    }

    /// A refusal the server makes before the pipeline (413 body too large, 503 shutting down), with
    /// the CORS headers an actual CORS request gets, so that a browser can read it too.
    func refusal(_ error: APIError, method: String, headers: [String: String]) -> HTTPResponse {
        let response = HTTPResponse(error: error, authenticated: false)
        guard headers["origin"] != nil, method != "OPTIONS",
              case .actual(let extra) = cors.decide(HTTPRequest(method: method, path: "", query: "", headers: headers, body: []))
        else { return response }
        return response.adding(extra)
    }

    /// The request path proper (see `respond`).
    func answer(_ request: HTTPRequest, database: PGPoolRouter, now: UInt64,
                reply: @escaping (HTTPResponse) -> Void) -> HTTPResponse? {
        var timing = ServerTiming()
        var authenticated = false
        do {
            let auth = try authenticator.authenticate(authorization: request.headers["authorization"])       // who
            authenticated = auth.isAuthenticated
            timing.mark("jwt")
            if request.path == "/", request.method == "GET" || request.method == "HEAD" {
                return try openAPI(request, auth: auth, database: database, now: now, reply: reply)
            }
            let plan = try CallPlan(request: request, catalog: catalogStore.current(), config: config,
                                    role: auth.role, claims: auth.claims)                                   // what
            timing.mark("plan")
            if let direct = plan.directResponse { return direct }
            let role = database.role(for: plan, method: request.method)                                      // where
            let answered = { [self, timing, authenticated] (result: Result<HTTPResponse, any Error>, servedBy: PGPoolRole) in
                var timing = timing
                timing.mark("db")
                var response: HTTPResponse
                do { response = try result.get() } catch { response = HTTPResponse(error: error, authenticated: authenticated, deadline: plan.timeout != nil) }
                timing.mark("render")
                if config.serverTimingEnabled { response.headers.append(("Server-Timing", timing.header(pool: servedBy.rawValue))) }
                logQueries(plan.statements, status: response.status)
                reply(response)
            }
            if let format = plan.streamed {                                                                   // rows as they come
                let call = StreamedCall(plan: plan, format: format) { answered($0, role) }
                try database.submit(plan.statements, resultIndex: plan.resultIndex, rowStream: call.makeRowStream(),
                                    role: role, now: now) { rows, _ in call.finish(rows.map { _ in () }) }
                return nil
            }
            try database.submit(plan.statements, resultIndex: plan.resultIndex, role: role,
                                now: now) { rows, servedBy in                                                 // ONE round trip
                answered(Result { try HTTPResponse(plan: plan, outcome: rows) }, servedBy)                 // shape (or replay)
            }
            return nil
        } catch {
            return HTTPResponse(error: error, authenticated: authenticated)                                  // the only error->HTTP site
        }
    }

    /// `GET /` (and HEAD): the OpenAPI 3.1 document of the schema Accept-Profile names (else the
    /// default one), built from the schema cache. As PostgREST's root (MainTx.hs, `InspectPlan`), it runs
    /// in the caller's transaction: context statement, db-pre-request (which may refuse it), then the
    /// functions the role may execute (one round trip). `openapi-mode` follow-privileges (the default)
    /// lists only those; ignore-privileges every function; disabled answers 404 PGRST126.
    func openAPI(_ request: HTTPRequest, auth: Authentication, database: PGPoolRouter, now: UInt64,
                 reply: @escaping (HTTPResponse) -> Void) throws -> HTTPResponse? {
        guard config.openAPIMode != "disabled" else { throw APIError.openAPIDisabled }
        let schema = try CallPlan.schema(named: request.headers["accept-profile"], config: config)
        try Negotiation.openAPI(accepts: AcceptHeader.mediaTypes(request.headers["accept"]))
        let isHead = request.method == "HEAD"
        let followPrivileges = config.openAPIMode == "follow-privileges"
        let catalog = try catalogStore.current()
        var statements = [ContextStatement.make(role: auth.role, request: request, claims: auth.claims, readOnly: true,
                                                settings: (catalog.roleSettings[auth.role] ?? []) + config.appTransactionSettings)]
        if let preRequest = CallPlan.preRequest(config) { statements.append(preRequest) }
        statements.append(OpenAPIDocument.executableQuery(schema: schema))
        try database.submit(statements, role: .primary, now: now) { [self, catalogStore, authenticated = auth.isAuthenticated] rows, _ in
            do {
                let executable = Set(try rows.get().compactMap { $0.first.flatMap { $0 }.flatMap { UInt32($0) } })
                logQueries(statements, status: 200)
                reply(Self.document(try catalogStore.openAPI(schema: schema, executable: followPrivileges ? executable : nil),
                                    isHead: isHead))
            } catch {
                let response = HTTPResponse(error: error, authenticated: authenticated)
                logQueries(statements, status: response.status)
                reply(response)
            }
        }
        return nil
    }

    /// `log-query`: the SQL a request ran, logged at its response's level.
    func logQueries(_ statements: [Statement], status: Int) {
        if config.logQuery { Observation.queries(statements.map(\.sql), status: status) }
    }

    static func document(_ json: [UInt8], isHead: Bool) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", "application/openapi+json; charset=utf-8")],
                     body: isHead ? [] : json)
    }
}
