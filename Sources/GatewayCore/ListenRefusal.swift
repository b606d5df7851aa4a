/// Why `GET /notify/<channel>` is not answered with an event stream (`HTTPResponse(error:)` makes
/// the JSON error of each).
public enum ListenRefusal: Sendable, Equatable {
    /// Not a PostgreSQL channel name: empty, over 63 bytes, or with a NUL (400).
    case invalidChannel(reason: String)
    /// The schema's `can_listen(channel)` answered false (403).
    case forbidden(channel: String)
    /// `can_listen(channel)` answered null: no such channel for this caller (404).
    case unknownChannel(channel: String)
    /// The exposed schema has no `can_listen(text)`: it offers no events (404).
    case noCanListen(schema: String)
    /// `server-sse-max-subscribers` streams are open already (503 + Retry-After).
    case tooManySubscribers(limit: Int)
    /// The gateway's LISTEN connection did not come up in time (503 + Retry-After).
    case listenerUnavailable
}
