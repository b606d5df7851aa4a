/// A configuration the gateway refuses to start with. The message always names the offending key
/// (`db-pool`, or the environment variable `PGRST_DB_POOL` it came from).
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The config key (`db-pool`), or the file path for errors about the file itself.
    public var key: String
    /// What is wrong, without the key.
    public var reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }

    public var description: String { "invalid configuration: \(key): \(reason)" }
}
