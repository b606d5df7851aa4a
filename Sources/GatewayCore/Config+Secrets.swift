import Foundation

extension GatewayConfig {
    /// What must never reach a log line: the jwt-secret and the passwords inside `db-uri` and
    /// `db-uri-read` (as written and percent-decoded). libpq quotes parts of a connection string in
    /// its errors (`invalid percent-encoded token: "..."`), so the log funnel redacts these
    /// (`Observation.redact`). Values shorter than 3 characters are left out (they would garble
    /// every line).
    public var secrets: [String] {
        var found: [String] = []
        if let jwtSecret, let text = String(bytes: jwtSecret, encoding: .utf8) { found.append(text) }
        for uri in [dbURI, dbURIRead].compactMap({ $0 }) { found += Self.passwords(in: uri) }
        var unique: [String] = []
        for secret in found where secret.count >= 3 && !unique.contains(secret) { unique.append(secret) }
        // Longest first, so a secret that contains another is redacted whole.
        return unique.sorted { $0.count > $1.count }
    }

    /// Passwords in a libpq connection string: URI userinfo (`scheme://user:password@host`), a
    /// `password=` URI query parameter, or a `password = value` keyword (quoted or not).
    static func passwords(in conninfo: String) -> [String] {
        var found: [String] = []
        func add(_ value: Substring) {
            found.append(String(value))
            if let decoded = String(value).removingPercentEncoding { found.append(decoded) }
        }
        if let scheme = conninfo.range(of: "://") {
            let rest = conninfo[scheme.upperBound...]
            // Userinfo ends at the last '@' before the path; try the first '@' too (an unescaped '@').
            for at in [rest.firstIndex(of: "@"), rest.lastIndex(of: "@")].compactMap({ $0 }) {
                let userinfo = rest[..<at]
                if let colon = userinfo.firstIndex(of: ":") { add(userinfo[userinfo.index(after: colon)...]) }
            }
            if let query = rest.firstIndex(of: "?") {
                for pair in rest[rest.index(after: query)...].split(separator: "&") where pair.hasPrefix("password=") {
                    add(pair.dropFirst("password=".count))
                }
            }
            return found
        }
        // key = value pairs: value is 'single quoted' (with \' and \\) or runs to the next blank.
        var index = conninfo.startIndex
        while let match = conninfo.range(of: "password", range: index..<conninfo.endIndex) {
            index = match.upperBound
            var cursor = conninfo[match.upperBound...].drop { $0 == " " || $0 == "\t" }
            guard cursor.first == "=" else { continue }
            cursor = cursor.dropFirst().drop { $0 == " " || $0 == "\t" }
            if cursor.first == "'" {
                var value = "", escaped = false
                for character in cursor.dropFirst() {
                    if escaped { value.append(character); escaped = false; continue }
                    if character == "\\" { escaped = true; continue }
                    if character == "'" { break }
                    value.append(character)
                }
                found.append(value)
                found.append(String(cursor.prefix { $0 != " " && $0 != "\t" }))   // as libpq may quote it
            } else {
                add(cursor.prefix { $0 != " " && $0 != "\t" })
            }
        }
        return found
    }
}
