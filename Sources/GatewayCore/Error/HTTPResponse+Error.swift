extension HTTPResponse {
    /// THE place where failures become HTTP: `PGError` through PostgREST's SQLSTATE table
    /// (including `PTxyz` and `RAISE SQLSTATE 'PGRST'`), `APIError` through PostgREST's codes,
    /// anything else as a 500. Body `{"code","message","details","hint"}`.
    /// `authenticated`: the caller sent a valid JWT (decides 42501 -> 403 rather than 401).
    /// `deadline`: the client asked for one (`Prefer: timeout`), so the statement timeout that
    /// enforced it is a 504 Gateway Timeout, with PostgreSQL's 57014 body; otherwise PostgREST's 500.
    public init(error: Error, authenticated: Bool, deadline: Bool = false) {
        switch error {
        case let error as PGError where deadline && error.isStatementTimeout:
            self = Self.errorBody(status: 504, code: error.sqlState, message: error.message, details: error.detail, hint: error.hint)
        case let error as PGError:
            self = Self.pgError(error, authenticated: authenticated)
        case let error as APIError:
            self = Self.apiError(error)
        case let error as JWTError:
            self = Self.errorBody(status: error.status, code: error.code, message: error.message, details: error.details,
                                  headers: error.wwwAuthenticate.map { [("WWW-Authenticate", $0)] } ?? [])
        case let error as ConfigError:
            self = Self.errorBody(status: 500, code: "PGRSTX00", message: "Internal server error",
                                  details: error.description)
        default:
            self = Self.errorBody(status: 500, code: "PGRSTX00", message: "Internal server error",
                                  details: String(describing: error))
        }
    }

    /// The JSON error response every failure ends in. Like PostgREST's `errorResponseFor` (Error.hs), it
    /// names the code in a `Proxy-Status` header (RFC 9209) too, so that a HEAD request's error can be told apart.
    static func errorBody(status: Int, code: String, message: String, details: String? = nil, hint: String? = nil,
                          headers: [(String, String)] = []) -> HTTPResponse {
        let body = JSONText.object([("code", code), ("details", details), ("hint", hint), ("message", message)])
        var all: [(String, String)] = [("Content-Type", MediaTypes.json)]
        // A custom code (RAISE SQLSTATE 'PGRST') could hold a line break: no header then, never a split one.
        if isValidHeader(name: "Proxy-Status", value: proxyStatus(code: code)) { all.append(("Proxy-Status", proxyStatus(code: code))) }
        all += headers
        if status == 401, !all.contains(where: { $0.0.lowercased() == "www-authenticate" }) {
            all.append(("WWW-Authenticate", "Bearer"))
        }
        return HTTPResponse(status: status, headers: all, body: Array(body.utf8))
    }

    /// `PostgREST; error=<code>`: PostgREST's value (a PGRST code, a SQLSTATE, or a custom code of
    /// `RAISE SQLSTATE 'PGRST'`), as PostgREST writes it.
    static func proxyStatus(code: String) -> String { "PostgREST; error=" + code }

    static func pgError(_ error: PGError, authenticated: Bool) -> HTTPResponse {
        if error.sqlState == "PGRST" {
            return RaisePGRST.response(message: error.message, detail: error.detail)
        }
        let status = SQLStateStatus.status(sqlState: error.sqlState, message: error.message, authenticated: authenticated)
        let headers: [(String, String)] = status == 503 ? [("Retry-After", "1")] : []
        return errorBody(status: status, code: error.sqlState, message: error.message, details: error.detail,
                         hint: error.hint, headers: headers)
    }

    static func apiError(_ error: APIError) -> HTTPResponse {
        switch error {
        case .notFound:
            return errorBody(status: 404, code: "PGRST125", message: "Invalid path specified in request URL")
        case .methodNotAllowed(let method):
            return errorBody(status: 405, code: "PGRST101", message: "Cannot use the \(method) method on RPC")
        case .invalidBody(let message):
            return errorBody(status: 400, code: "PGRST102", message: message)
        case .bodyTooLarge(let limit):
            return errorBody(status: 413, code: "PGRST102", message: "Payload Too Large",
                             details: "The request body is larger than db-max-body-bytes (\(limit) bytes)")
        case .databaseUnavailable(let message):
            return errorBody(status: 503, code: "PGRST000", message: "Database connection error.",
                             details: message.isEmpty ? nil : message, headers: [("Retry-After", "1")])
        case .poolTimeout:
            return errorBody(status: 504, code: "PGRST003", message: "Timed out acquiring connection from connection pool.")
        case .overloaded(let waiting):
            return errorBody(status: 503, code: "PGRST003", message: "Too many requests are waiting for a database connection.",
                             details: "every connection is busy and \(waiting) requests are already waiting (db-pool-max-waiting, db-pool-max-wait-ms)",
                             hint: "Retry after the number of seconds in Retry-After.", headers: [("Retry-After", "1")])
        case .functionNotFound(let message, let hint):
            return errorBody(status: 404, code: "PGRST202", message: message, hint: hint)
        case .ambiguousFunction(let message, let hint):
            return errorBody(status: 300, code: "PGRST203", message: message, hint: hint)
        case .notAcceptable(let accept):
            return errorBody(status: 406, code: "PGRST107", message: "None of these media types are available: \(accept)")
        case .openAPIDisabled:
            return errorBody(status: 404, code: "PGRST126", message: "Root endpoint metadata is disabled")
        case .shuttingDown:
            return errorBody(status: 503, code: "PGRST000", message: "The server is shutting down.",
                             headers: [("Retry-After", "1"), ("Connection", "close")])
        case .anonymousAccessDisabled:
            return errorBody(status: 401, code: "PGRST302", message: "Anonymous access is disabled")
        case .unacceptableSchema(let schema, let exposed):
            return errorBody(status: 406, code: "PGRST106", message: "Invalid schema: \(schema)",
                             hint: "Only the following schemas are exposed: " + exposed.joined(separator: ", "))
        case .invalidResponseHeaders:
            return errorBody(status: 500, code: "PGRST111",
                             message: "response.headers guc must be a JSON array composed of objects with a single key and a string value")
        case .invalidResponseStatus:
            return errorBody(status: 500, code: "PGRST112", message: "response.status guc must be a valid status code")
        case .notImplemented(let details):
            return errorBody(status: 400, code: "PGRST127", message: "Feature not implemented", details: details)
        case .listen(let refusal):
            return listenRefusal(refusal)
        case .requestError(let status, let code, let message, let details, let hint):
            return errorBody(status: status, code: code, message: message, details: details, hint: hint)
        }
    }
}

extension PGError {
    /// 57014 raised by `statement_timeout` (the same SQLSTATE also means a cancel by request, e.g.
    /// `pg_cancel_backend`, which is no deadline of the client's).
    var isStatementTimeout: Bool { sqlState == "57014" && message.hasSuffix("statement timeout") }
}
