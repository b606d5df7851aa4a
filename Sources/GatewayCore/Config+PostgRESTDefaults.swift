/// PostgREST keys (docs/references/configuration.rst, v12-v14) the gateway accepts so that a
/// PostgREST config file starts it, but only at the value whose behaviour the gateway has: any
/// other value is refused at start naming the key and why, rather than silently ignored.
extension GatewayConfig {
    /// One such key: the values accepted (as `describe`d) and why others are refused.
    struct FixedKey: Sendable {
        enum Accepted: Sendable {
            /// Unset or empty only.
            case unset
            /// This boolean only (PostgREST's coerceBool spelling).
            case boolean(Bool)
            /// Any boolean (the gateway's behaviour is the same for both).
            case anyBoolean
            /// This whole number only.
            case number(Int)
            /// This text only (trimmed).
            case text(String)
        }
        var accepted: Accepted
        var reason: String
    }

    static let fixedKeys: [String: FixedKey] = [
        "db-channel": FixedKey(accepted: .text("pgrst"), reason: "the gateway listens on the channel pgrst only"),
        "db-channel-enabled": FixedKey(accepted: .boolean(true), reason: "the gateway always listens for NOTIFY pgrst"),
        "server-trace-header": FixedKey(accepted: .unset, reason: "the gateway does not echo a trace header"),
        "openapi-server-proxy-uri": FixedKey(accepted: .unset, reason: "the OpenAPI document's server is the request's own host"),
        // The OpenAPI 3.1 document always declares its bearer scheme (the JWT); both values mean that.
        "openapi-security-active": FixedKey(accepted: .anyBoolean, reason: ""),
        "db-extra-search-path": FixedKey(accepted: .text("public"), reason: "the gateway leaves search_path to the database's and the role's settings"),
        "db-prepared-statements": FixedKey(accepted: .boolean(true),
                                           reason: "the gateway always prepares its statements (use PgBouncer in session mode)"),
        "db-pool-max-idletime": FixedKey(accepted: .number(30), reason: "connections are kept open while idle"),
        "db-pool-timeout": FixedKey(accepted: .number(30), reason: "connections are kept open while idle"),
        "db-pool-max-lifetime": FixedKey(accepted: .number(1800), reason: "connections are not recycled by age"),
        "db-pool-automatic-recovery": FixedKey(accepted: .boolean(true), reason: "the gateway always reconnects"),
        "db-aggregates-enabled": FixedKey(accepted: .boolean(false), reason: "the gateway does not offer aggregate functions"),
        "db-plan-enabled": FixedKey(accepted: .boolean(false), reason: "the gateway does not offer the execution plan media type"),
        "db-root-spec": FixedKey(accepted: .unset, reason: "the gateway answers / with its own OpenAPI document"),
    ]

    /// Refuses `value` of a fixed key unless it is the accepted one.
    static func checkFixed(_ fixed: FixedKey, value: ConfigValue, fail: (String) -> ConfigError) throws {
        let text = value.text.trimmingCharacters(in: .whitespaces)
        let ok: Bool
        let wanted: String
        switch fixed.accepted {
        case .unset: ok = text.isEmpty; wanted = "unset"
        case .boolean(let flag): ok = booleanText(value.text) == flag; wanted = flag ? "true" : "false"
        case .anyBoolean:
            guard booleanText(value.text) != nil else { throw fail("expected true or false, got \"\(value.text)\"") }
            return
        case .number(let number): ok = Int(text) == number; wanted = String(number)
        case .text(let expected): ok = text == expected; wanted = "\"\(expected)\""
        }
        guard ok else { throw fail("only \(wanted) is supported: \(fixed.reason), got \"\(value.text)\"") }
    }
}
