extension HTTPResponse {
    /// The JSON errors of `GET /notify/<channel>`. Codes of the gateway's own (PostgREST has no
    /// event streams): PGRSTX4x for the caller's mistakes, PGRSTX5x for the server's limits.
    static func listenRefusal(_ refusal: ListenRefusal) -> HTTPResponse {
        switch refusal {
        case .invalidChannel(let reason):
            return errorBody(status: 400, code: "PGRSTX40", message: "Invalid channel name", details: reason,
                             hint: "A channel is a PostgreSQL identifier of 1 to 63 bytes.")
        case .forbidden(let channel):
            return errorBody(status: 403, code: "PGRSTX43", message: "Not allowed to listen on channel \(channel)")
        case .unknownChannel(let channel):
            return errorBody(status: 404, code: "PGRSTX44", message: "No channel \(channel)")
        case .noCanListen(let schema):
            return errorBody(status: 404, code: "PGRSTX44", message: "Schema \(schema) offers no event channels",
                             hint: "Define \(schema).can_listen(channel text) RETURNS boolean to allow listening.")
        case .tooManySubscribers(let limit):
            return errorBody(status: 503, code: "PGRSTX53", message: "Too many event streams are open",
                             details: "\(limit) streams are open on this gateway (server-sse-max-subscribers)",
                             hint: "Retry after the number of seconds in Retry-After.", headers: [("Retry-After", "5")])
        case .listenerUnavailable:
            return errorBody(status: 503, code: "PGRSTX54", message: "The event listener is not connected to the database",
                             hint: "Retry after the number of seconds in Retry-After.", headers: [("Retry-After", "1")])
        }
    }
}
