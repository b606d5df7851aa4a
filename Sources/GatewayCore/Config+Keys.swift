import Foundation

/// One value of the config file, as written (`"text"`, `10`, `true`).
enum ConfigValue: Sendable, Equatable {
    case string(String)
    case number(String)
    case bool(Bool)

    var text: String {
        switch self {
        case .string(let text), .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        }
    }
}

extension GatewayConfig {
    /// Every key the gateway understands (config file and `PGRST_*` variables).
    public static let knownKeys: [String] = [
        "db-uri", "db-schemas", "db-anon-role", "db-pool", "db-pool-acquisition-timeout", "db-pre-request",
        "db-max-body-bytes", "server-host", "server-port", "admin-server-port", "server-timeout-seconds",
        "log-level", "openapi-mode", "jwt-secret", "jwt-aud", "jwt-role-claim-key",
        "server-cors-allowed-origins", "db-uri-read", "db-pool-read", "db-pool-max-waiting", "db-pool-max-wait-ms", "db-pool-pipeline-depth", "server-threads",
        "db-tx-end", "db-hoisted-tx-settings", "db-max-rows", "max-rows",
        "server-unix-socket", "server-unix-socket-mode", "log-query", "db-config", "db-pre-config",
        "jwt-secret-is-base64", "jwt-cache-max-entries", "jwt-cache-max-lifetime",
        "admin-server-host", "server-timing-enabled", "db-max-timeout", "db-idempotency-ttl",
        "server-sse-max-subscribers", "server-sse-max-buffer-bytes", "server-sse-keepalive-seconds",
    ] + fixedKeys.keys.sorted()

    /// Stores one key's value; `source` (the key or the environment variable) names it in errors.
    mutating func apply(key: String, value: ConfigValue, source: String) throws {
        func fail(_ reason: String) -> ConfigError { ConfigError(key: source, reason: reason) }
        func string() throws -> String {
            value.text
        }
        func optionalString() throws -> String? {
            let text = value.text.trimmingCharacters(in: .whitespaces)
            return text.isEmpty ? nil : value.text
        }
        func integer(_ range: ClosedRange<Int>) throws -> Int {
            if case .bool = value { throw fail("expected a number, got \(value.text)") }
            let text = value.text.trimmingCharacters(in: .whitespaces)
            guard let number = Int(text) else { throw fail("expected a whole number, got \"\(value.text)\"") }
            guard range.contains(number) else {
                throw fail("\(number) is out of range (\(range.lowerBound)...\(range.upperBound))")
            }
            return number
        }
        func boolean() throws -> Bool {
            if case .bool(let flag) = value { return flag }
            guard let flag = Self.booleanText(value.text) else { throw fail("expected true or false, got \"\(value.text)\"") }
            return flag
        }
        if key.hasPrefix("app.settings.") {
            let name = key.dropFirst("app.settings.".count).lowercased()
            // set_config refuses other names (22023) on every request: refuse them at start instead.
            guard Self.isCustomSettingName("app.settings." + name) else {
                throw fail("expected a name of letters, digits and underscores (app.settings.my_key)")
            }
            appSettings[name] = value.text
            return
        }
        switch key {
        case "db-uri": dbURI = try Self.fileReference(value.text, key: source)
        case "db-schemas":
            let schemas = value.text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard !schemas.isEmpty, !schemas.contains(where: \.isEmpty) else {
                throw fail("expected a comma-separated list of schema names, got \"\(value.text)\"")
            }
            dbSchemas = schemas
        case "db-anon-role": dbAnonRole = try optionalString()
        case "db-pool": dbPool = try integer(1...10_000)
        case "db-uri-read": dbURIRead = try optionalString().map { try Self.fileReference($0, key: source) }
        case "db-pool-read": dbPoolRead = try optionalString() == nil ? nil : integer(1...10_000)
        case "db-pool-acquisition-timeout": dbPoolAcquisitionTimeout = try integer(1...86_400)
        case "db-pool-max-waiting": dbPoolMaxWaiting = try optionalString() == nil ? nil : integer(0...1_000_000)
        case "db-pool-max-wait-ms": dbPoolMaxWaitMs = try integer(0...86_400_000)
        case "db-pool-pipeline-depth": dbPoolPipelineDepth = try integer(1...1_000)
        case "server-threads": serverThreads = try optionalString() == nil ? nil : integer(1...256)
        case "db-pre-request": dbPreRequest = try optionalString()
        case "db-tx-end":
            let ends = ["commit", "commit-allow-override", "rollback", "rollback-allow-override"]
            guard ends.contains(value.text) else {
                throw fail("expected one of \(ends.joined(separator: ", ")), got \"\(value.text)\"")
            }
            dbTxEnd = value.text
        case "db-hoisted-tx-settings":
            let names = value.text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard names.allSatisfy({ $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." } }) else {
                throw fail("expected a comma-separated list of setting names, got \"\(value.text)\"")
            }
            dbHoistedTxSettings = names.filter { $0 != "default_transaction_isolation" }
        case "db-max-rows", "max-rows": dbMaxRows = try optionalString() == nil ? nil : integer(0...Int(Int64.max))
        case "db-max-timeout":
            if case .bool = value { throw fail("expected a number of seconds, got \(value.text)") }
            guard let seconds = Preferences.seconds(value.text.trimmingCharacters(in: .whitespaces)) else {
                throw fail("expected seconds, more than 0 and at most 86400 (decimals allowed), got \"\(value.text)\"")
            }
            dbMaxTimeout = seconds
        case "db-max-body-bytes": dbMaxBodyBytes = try integer(0...Int(Int32.max))
        case "db-idempotency-ttl": dbIdempotencyTTL = try integer(1...31_536_000)
        case "server-host":
            let host = try string().trimmingCharacters(in: .whitespaces)
            guard !host.isEmpty else { throw fail("expected a host name or address") }
            serverHost = host
        case "server-cors-allowed-origins":
            // PostgREST: comma-separated, each trimmed; unset or "" allows any origin.
            serverCorsAllowedOrigins = try optionalString() == nil ? []
                : value.text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        case "server-port": serverPort = try integer(0...65_535)
        case "admin-server-port": adminServerPort = try optionalString() == nil ? nil : integer(0...65_535)
        case "admin-server-host": adminServerHost = try optionalString()
        case "server-timing-enabled": serverTimingEnabled = try boolean()
        case "server-timeout-seconds": serverTimeoutSeconds = try integer(1...86_400)
        case "server-sse-max-subscribers": serverSSEMaxSubscribers = try integer(0...1_000_000)
        case "server-sse-max-buffer-bytes": serverSSEMaxBufferBytes = try integer(65_536...1_073_741_824)
        case "server-sse-keepalive-seconds": serverSSEKeepaliveSeconds = try integer(1...3_600)
        case "log-level":
            guard let level = LogLevel(rawValue: value.text.lowercased()) else {
                throw fail("expected one of crit, error, warn, info, debug, got \"\(value.text)\"")
            }
            logLevel = level
        case "openapi-mode":
            let modes = ["follow-privileges", "ignore-privileges", "disabled"]
            guard modes.contains(value.text) else {
                throw fail("expected one of \(modes.joined(separator: ", ")), got \"\(value.text)\"")
            }
            openAPIMode = value.text
        case "server-unix-socket": serverUnixSocket = try optionalString()
        case "server-unix-socket-mode": serverUnixSocketMode = try Self.socketMode(value.text, fail: fail)
        case "log-query":
            // PostgREST 14 takes a boolean; 13's "main-query" and "disabled" mean true and false.
            switch value.text {
            case "main-query": logQuery = true
            case "disabled": logQuery = false
            default: logQuery = try boolean()
            }
        case "db-config": dbConfig = try boolean()
        case "db-pre-config": dbPreConfig = try optionalString()
        case "jwt-secret": jwtSecret = try optionalString().map { try Self.secretBytes($0, key: source) }
        case "jwt-secret-is-base64":
            // PostgREST's coerceBool: true/false in any case (letters only), else a number > 0.
            let letters = value.text.filter(\.isLetter).lowercased()
            guard let flag = letters == "true" ? true : letters == "false" ? false : Int(value.text.trimmingCharacters(in: .whitespaces)).map({ $0 > 0 })
            else { throw fail("expected true or false, got \"\(value.text)\"") }
            jwtSecretIsBase64 = flag
        case "jwt-cache-max-entries": jwtCacheMaxEntries = try integer(0...100_000_000)
        case "jwt-cache-max-lifetime": jwtCacheMaxLifetime = try optionalString() == nil ? nil : integer(0...Int(Int32.max))
        case "jwt-aud": jwtAud = try optionalString()
        case "jwt-role-claim-key":
            let claim = value.text.trimmingCharacters(in: .whitespaces)
            // The same parser the authenticator uses, so what starts is what runs.
            guard (try? RoleClaimPath(claim)) != nil else {
                throw fail("expected a JSPath such as .role, .app.roles[0] or .\"https://x\".role, got \"\(value.text)\"")
            }
            jwtRoleClaimKey = claim
        default:
            guard let fixed = Self.fixedKeys[key] else { throw fail("unknown configuration key") }
            try Self.checkFixed(fixed, value: value, fail: fail)
        }
    }

    /// Checks across keys, after all sources are applied.
    func validate() throws {
        do { _ = try jwtKeys() } catch { throw ConfigError(key: "jwt-secret", reason: error.description) }
        if dbURI.trimmingCharacters(in: .whitespaces).isEmpty {
            throw ConfigError(key: "db-uri", reason: "must not be empty")
        }
        if let role = dbAnonRole, role.contains("\0") {
            throw ConfigError(key: "db-anon-role", reason: "must not contain NUL")
        }
        if let admin = adminServerPort, admin == serverPort, admin != 0 {
            throw ConfigError(key: "admin-server-port", reason: "must differ from server-port (\(serverPort))")
        }
        if dbPoolRead != nil, dbURIRead == nil {
            throw ConfigError(key: "db-pool-read", reason: "is set but db-uri-read is not (the read pool needs a standby URI)")
        }
        if let preConfig = dbPreConfig, QualifiedName(preConfig) == nil {
            throw ConfigError(key: "db-pre-config", reason: "expected a function name such as schema.fn, got \"\(preConfig)\"")
        }
        if let preRequest = dbPreRequest, QualifiedName(preRequest) == nil {
            throw ConfigError(key: "db-pre-request", reason: "expected a function name such as schema.fn, got \"\(preRequest)\"")
        }
    }

    /// PostgREST's `coerceBool`: true/false in any case (quotes and other non-letters ignored), else a
    /// number (above 0 is true); nil for anything else.
    static func booleanText(_ text: String) -> Bool? {
        switch text.filter(\.isLetter).lowercased() {
        case "true": return true
        case "false": return false
        default: return Int(text.trimmingCharacters(in: .whitespaces)).map { $0 > 0 }
        }
    }

    /// PostgREST's `parseSocketFileMode`: an octal number from 600 to 777.
    static func socketMode(_ text: String, fail: (String) -> ConfigError) throws -> UInt32 {
        let digits = text.trimmingCharacters(in: .whitespaces)
        guard let mode = UInt32(digits, radix: 8) else { throw fail("not an octal") }
        guard (0o600...0o777).contains(mode) else { throw fail("needs to be between 600 and 777") }
        return mode
    }

    /// A name PostgreSQL accepts for a custom setting: dot-separated parts, each a letter or
    /// underscore followed by letters, digits, underscores or dollars (`valid_custom_variable_name`).
    static func isCustomSettingName(_ name: String) -> Bool {
        let parts = name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return parts.count >= 2 && parts.allSatisfy { part in
            !part.isEmpty && part.enumerated().allSatisfy { index, byte in
                byte >= 0x80 || byte == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
                    || (index > 0 && (byte == UInt8(ascii: "$") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)))
            }
        }
    }

    /// The keys of `jwt-secret` the authenticator verifies with (nil: no secret configured).
    public func jwtKeys() throws(JWKError) -> JWKSet? {
        guard let jwtSecret else { return nil }
        return try JWKSet(secret: jwtSecret, isBase64: jwtSecretIsBase64)
    }

    /// `jwt-secret`'s bytes: `@path` reads the file as PostgREST does (any bytes, one trailing
    /// newline dropped), else the value's UTF-8.
    static func secretBytes(_ value: String, key: String) throws -> [UInt8] {
        guard value.hasPrefix("@") else { return Array(value.utf8) }
        let path = String(value.dropFirst())
        guard var bytes = FileManager.default.contents(atPath: path).map(Array.init) else {
            throw ConfigError(key: key, reason: "cannot read \(path)")
        }
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        return bytes
    }

    /// PostgREST reads `db-uri` from a file when the value is `@path`.
    static func fileReference(_ value: String, key: String) throws -> String {
        guard value.hasPrefix("@") else { return value }
        let path = String(value.dropFirst())
        do {
            return try readTextFile(path).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ConfigError(key: key, reason: "cannot read \(path) (\(error))")
        }
    }
}

/// Reads a UTF-8 text file.
func readTextFile(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8)
}
