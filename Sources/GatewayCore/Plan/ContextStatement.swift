import Foundation

/// The first statement of every call: the transaction-local settings PostgREST defines
/// (`role`, `request.*`), and READ ONLY for GET/HEAD and non-volatile functions.
/// First of all the impersonated role's settings, then the called function's hoisted ones, then
/// the config's `app.settings.*` (`TransactionSetting`; $7 names, $8 values, applied in order so the
/// function's win over the role's, as in PostgREST's `txVarQuery`): PostgreSQL
/// applies role settings only at login, so `statement_timeout` and `lock_timeout` of the API roles
/// take effect only through these. Before the role switch, as PostgREST does, so a privileged
/// setting needs `GRANT SET ON PARAMETER` to the authenticator only.
enum ContextStatement {
    static let readWriteSQL = """
        SELECT (SELECT count(set_config(s.name, s.value, true)) FROM unnest($7::text[], $8::text[]) AS s(name, value)), \
        set_config('role', $1, true), set_config('request.method', $2, true), \
        set_config('request.path', $3, true), set_config('request.headers', $4, true), \
        set_config('request.cookies', $5, true), set_config('request.jwt.claims', $6, true)
        """
    static let readOnlySQL = readWriteSQL + ", set_config('transaction_read_only', 'on', true)"

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
        let literals = TransactionSetting.literals(settings)
        return Statement(readOnly ? readOnlySQL : readWriteSQL, [
            role,
            request.method,
            request.path,
            String(decoding: headers, as: UTF8.self),
            cookies,
            claims ?? JSONText.object([("role", role)]),
            literals.names,
            literals.values,
        ])
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
