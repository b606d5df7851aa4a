/// One SQL statement of a request's pipeline, with its text parameters.
/// `sql` is the cache key for the per-connection prepared-statement cache: the same call shape
/// (function + argument names) always yields the same text, and values only ever travel in `parameters`.
public struct Statement: Sendable, Hashable {
    public var sql: String
    public var parameters: [String?]

    public init(_ sql: String, _ parameters: [String?] = []) {
        self.sql = sql
        self.parameters = parameters
    }
}
