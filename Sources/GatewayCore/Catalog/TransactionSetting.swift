/// A setting the gateway applies with `set_config(name, value, true)` in a request's transaction:
/// an impersonated role's own settings (`ALTER ROLE ... SET`) and a called function's hoisted ones
/// (`CREATE FUNCTION ... SET statement_timeout = ...`). PostgreSQL applies role settings only at login,
/// and the gateway logs in as the authenticator and switches roles per request, so without this
/// the roles' `statement_timeout` / `lock_timeout` would never apply (PostgREST: "Impersonated Role
/// Settings" and "Hoisted Function Settings").
public struct TransactionSetting: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// The function settings applied to the whole transaction (PostgREST's `db-hoisted-tx-settings`
    /// default, less `default_transaction_isolation`: the gateway has no BEGIN to give an isolation
    /// level to, and set later in the transaction it changes nothing). A function's own
    /// `SET statement_timeout` would otherwise not apply to the statement that calls it: the timer
    /// starts with the statement. Its other settings (`lock_timeout`, `search_path`) PostgreSQL applies
    /// itself while the function runs.
    public static let hoisted: [String] = ["statement_timeout", "plan_filter.statement_cost_limit"]

    /// `statement_timeout` of a client's deadline (`Prefer: timeout`), in whole milliseconds rounded
    /// up (PostgreSQL's unit; 0 would mean no limit).
    static func statementTimeout(seconds: Double) -> TransactionSetting {
        TransactionSetting(name: "statement_timeout", value: String(max(1, Int64((seconds * 1_000).rounded(.up)))) + "ms")
    }
}
