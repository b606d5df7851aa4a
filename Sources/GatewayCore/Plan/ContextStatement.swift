import Foundation

/// The first statement of every call: the transaction-local settings PostgREST defines
/// (`role`, `request.*`), and READ ONLY for GET/HEAD and non-volatile functions.
/// First of all the impersonated role's settings, then the called function's hoisted ones, then
/// the config's `app.settings.*` (`TransactionSetting`; each one `set_config($n, $n+1, true)`, names
/// and values bound from $7 on, applied left to right so the function's win over the role's, as in
/// PostgREST's `txVarQuery`): PostgreSQL applies role settings only at login, so `statement_timeout`
/// and `lock_timeout` of the API roles take effect only through these. Before the role switch, as
/// PostgREST does, so a privileged setting needs `GRANT SET ON PARAMETER` to the authenticator only.
/// Plain `set_config` calls, not an `unnest` of two arrays: measured in PostgreSQL 15, the subquery
/// cost about 10 us per request even with no settings, the calls about 1 us each.
enum ContextStatement {
    static let fixedSQL = "set_config('role', $1, true), set_config('request.method', $2, true), "
        + "set_config('request.path', $3, true), set_config('request.headers', $4, true), "
        + "set_config('request.cookies', $5, true), set_config('request.jwt.claims', $6, true)"
    static let readOnlySuffix = ", set_config('transaction_read_only', 'on', true)"
    /// The text for `count` settings (read-write at even indexes, read-only at odd), made once.
    static let texts: [String] = (0..<(2 * 16)).map { text(settings: $0 / 2, readOnly: $0 % 2 == 1) }

    static func text(settings count: Int, readOnly: Bool) -> String {
        var sql = "SELECT "
        for index in 0..<count { sql += "set_config($\(7 + 2 * index), $\(8 + 2 * index), true), " }
        return sql + fixedSQL + (readOnly ? readOnlySuffix : "")
    }

    static func sql(settings count: Int, readOnly: Bool) -> String {
        let index = 2 * count + (readOnly ? 1 : 0)
        return index < texts.count ? texts[index] : text(settings: count, readOnly: readOnly)
    }

    static func make(role: String, request: HTTPRequest, claims: String? = nil, readOnly: Bool,
                     settings: [TransactionSetting] = []) -> Statement {
        var headers: [UInt8] = [UInt8(ascii: "{")]
        headers.reserveCapacity(256)
        var cookies = "{}"
        for (name, value) in request.headers {
            if name == "cookie" {
                cookies = JSONText.object(parseCookies(value))
                continue
            }
            if headers.count > 1 { headers.append(UInt8(ascii: ",")) }
            JSONText.appendMember(name, value, to: &headers)
        }
        headers.append(UInt8(ascii: "}"))
        var values: [String?] = [
            role,
            request.method,
            request.path,
            String(decoding: headers, as: UTF8.self),
            cookies,
            claims ?? JSONText.object([("role", role)]),
        ]
        values.reserveCapacity(6 + 2 * settings.count)
        for setting in settings {
            values.append(setting.name)
            values.append(setting.value)
        }
        return Statement(sql(settings: settings.count, readOnly: readOnly), values)
    }

    /// `a=1; b=2` -> [(a, 1), (b, 2)]; a later repeat of a name wins.
    static func parseCookies(_ header: String) -> [(String, String?)] {
        var result: [(String, String?)] = []
        for part in header.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = pair[0].trimmingCharacters(in: [" ", "\t"])
            guard !name.isEmpty else { continue }
            var value = pair.count > 1 ? pair[1].trimmingCharacters(in: [" ", "\t"]) : ""
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            result.removeAll { $0.0 == name }
            result.append((name, value))
        }
        return result
    }
}
