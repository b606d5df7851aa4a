/// The request path, top to bottom (PostgREST's App.hs as a straight line): authenticate, plan
/// without I/O, one database round trip, response shaped from the row PostgreSQL built; every
/// failure becomes HTTP in exactly one place (`HTTPResponse(error:authenticated:)`). Each stage is
/// timed into a `Server-Timing` header (`jwt`, `plan`, `db`, `render`, in milliseconds), which also
/// names the pool that answered (`pool;desc=primary` or `pool;desc=read`, see `PGPoolRouter`).
public final class Pipeline: HTTPResponder {
    let config: GatewayConfig
    let catalogStore: CatalogStore
    let router: PGPoolRouter
    let authenticator: JWTAuthenticator

    public init(config: GatewayConfig, catalogStore: CatalogStore, router: PGPoolRouter) {
        self.config = config
        self.catalogStore = catalogStore
        self.router = router
        authenticator = JWTAuthenticator(secret: config.jwtSecret, audience: config.jwtAud,
                                         // validated when the configuration was loaded
                                         roleClaim: (try? RoleClaimPath(config.jwtRoleClaimKey)) ?? .default,
                                         anonRole: config.dbAnonRole)
    }

    /// Answers now (no database needed, or a failure before the call), or returns nil and later
    /// hands the server the builder of the response, to run on its thread after the round trip.
    public func respond(to request: HTTPRequest,
                        later: @escaping @Sendable (@escaping @Sendable () -> HTTPResponse) -> Void) -> HTTPResponse? {
        var timing = ServerTiming()
        var authenticated = false
        do {
            if let document = try openAPI(request) { return document }
            let auth = try authenticator.authenticate(authorization: request.headers["authorization"])       // who
            authenticated = auth.isAuthenticated
            timing.mark("jwt")
            let plan = try CallPlan(request: request, catalog: catalogStore.current(), config: config,
                                    role: auth.role, claims: auth.claims)                                   // what
            timing.mark("plan")
            if let direct = plan.directResponse { return direct }
            let sent = timing, isAuthenticated = authenticated
            let role = router.role(for: plan, method: request.method)                                        // where
            try router.submit(plan.statements, readOnly: plan.readOnly, role: role) { rows, servedBy in     // ONE round trip
                var received = sent
                received.mark("db")
                let afterDB = received
                later {
                    var response: HTTPResponse
                    do { response = try HTTPResponse(plan: plan, rows: rows.get()) }                       // shape
                    catch { response = HTTPResponse(error: error, authenticated: isAuthenticated) }
                    var timing = afterDB
                    timing.mark("render")
                    response.headers.append(("Server-Timing", timing.header + ", pool;desc=" + servedBy.rawValue))
                    return response
                }
            }
            return nil
        } catch {
            return HTTPResponse(error: error, authenticated: authenticated)                                  // the only error->HTTP site
        }
    }

    /// The same path, blocking (tools and tests; never on a server thread).
    public func respond(to request: HTTPRequest) -> HTTPResponse {
        var authenticated = false
        do {
            if let document = try openAPI(request) { return document }
            let auth = try authenticator.authenticate(authorization: request.headers["authorization"])
            authenticated = auth.isAuthenticated
            let plan = try CallPlan(request: request, catalog: catalogStore.current(), config: config,
                                    role: auth.role, claims: auth.claims)
            if let direct = plan.directResponse { return direct }
            let role = router.role(for: plan, method: request.method)
            let rows = try router.run(plan.statements, readOnly: plan.readOnly, role: role).rows
            return try HTTPResponse(plan: plan, rows: rows)
        } catch {
            return HTTPResponse(error: error, authenticated: authenticated)
        }
    }

    public func respond(to error: any Error) -> HTTPResponse {
        HTTPResponse(error: error, authenticated: false)
    }

    /// `GET /` (and HEAD): the OpenAPI 3.1 document of the exposed schema, built from the schema cache.
    func openAPI(_ request: HTTPRequest) throws -> HTTPResponse? {
        guard request.path == "/", request.method == "GET" || request.method == "HEAD" else { return nil }
        guard config.openAPIMode != "disabled" else { throw APIError.notFound(path: "/") }
        guard let document = catalogStore.openAPI() else {
            throw APIError.databaseUnavailable(message: "the schema cache is not loaded yet")
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/openapi+json; charset=utf-8")],
                            body: request.method == "HEAD" ? [] : document)
    }
}
