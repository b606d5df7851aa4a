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

    public init(config: GatewayConfig, catalogStore: CatalogStore) {
        self.config = config
        self.catalogStore = catalogStore
        authenticator = JWTAuthenticator(secret: config.jwtSecret, audience: config.jwtAud,
                                         // validated when the configuration was loaded
                                         roleClaim: (try? RoleClaimPath(config.jwtRoleClaimKey)) ?? .default,
                                         anonRole: config.dbAnonRole)
    }

    /// Answers now (no database needed, or a failure before the call), or returns nil and calls
    /// `reply` once, later, on this loop, when the database answered.
    func respond(to request: HTTPRequest, database: PGPoolRouter, now: UInt64,
                 reply: @escaping (HTTPResponse) -> Void) -> HTTPResponse? {
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
            let role = database.role(for: plan, method: request.method)                                      // where
            try database.submit(plan.statements, resultIndex: plan.resultIndex, role: role,
                                now: now) { [timing, authenticated] rows, servedBy in                        // ONE round trip
                var timing = timing
                timing.mark("db")
                var response: HTTPResponse
                do { response = try HTTPResponse(plan: plan, rows: rows.get()) }                           // shape
                catch { response = HTTPResponse(error: error, authenticated: authenticated) }
                timing.mark("render")
                response.headers.append(("Server-Timing", timing.header + ", pool;desc=" + servedBy.rawValue))
                reply(response)
            }
            return nil
        } catch {
            return HTTPResponse(error: error, authenticated: authenticated)                                  // the only error->HTTP site
        }
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
