/// Every failure the gateway itself detects, before or around the database call. Database errors
/// arrive as `PGError`; both become HTTP in one place (`HTTPResponse(error:...)`).
public enum APIError: Error, Sendable, Equatable {
    /// No route for this path (PostgREST answers 404 with an empty JSON error body).
    case notFound(path: String)
    /// PGRST101: method not allowed on RPC.
    case methodNotAllowed(method: String)
    /// PGRST102: body is not a JSON object (or array for a single json param).
    case invalidBody(message: String)
    /// 413: body above the configured limit.
    case bodyTooLarge(limit: Int)
    /// PGRST000/PGRST001: database unreachable (503 + Retry-After).
    case databaseUnavailable(message: String)
    /// PGRST003: no pool connection within db-pool-acquisition-timeout (504).
    case poolTimeout(seconds: Int)
    /// PGRST003 at once (503 + Retry-After): every connection slot is taken and `waiting` requests
    /// already wait for one (`db-pool-max-waiting`); admission control answers instead of queueing.
    case overloaded(waiting: Int)
    /// PGRST202: no function matches; `hint` names the nearest candidate.
    case functionNotFound(message: String, hint: String?)
    /// PGRST203: several overloads match the argument names (300).
    case ambiguousFunction(message: String, hint: String?)
    /// PGRST107: unsupported Accept (406).
    case notAcceptable(accept: String)
    /// PGRST126: `GET /` with `openapi-mode = "disabled"` (404).
    case openAPIDisabled
    /// 503 while the gateway shuts down.
    case shuttingDown

    // Added by G2 (planning and response shaping):
    /// PGRST302: no JWT and no `db-anon-role` (401).
    case anonymousAccessDisabled
    /// PGRST106: Accept-Profile/Content-Profile names a schema that is not exposed (406).
    case unacceptableSchema(schema: String, exposed: [String])
    /// PGRST111: `response.headers` is not a JSON array of single-key objects with string values (500).
    case invalidResponseHeaders
    /// PGRST112: `response.status` is not a valid status code (500).
    case invalidResponseStatus
    /// PGRST127: a PostgREST feature the gateway does not implement (400); `details` says which.
    case notImplemented(details: String)
    /// `GET /notify/<channel>` refused: bad channel, not allowed, no such channel, too many streams.
    case listen(ListenRefusal)
    /// Any PostgREST error with its full body (PGRST202/203 with details, ...).
    case requestError(status: Int, code: String, message: String, details: String?, hint: String?)
}
