/// PostgREST's SQLSTATE -> HTTP status table (`mapSQLtoHTTP` in its Error.hs); first match wins.
public enum SQLStateStatus {
    /// The HTTP status for a PostgreSQL error. `authenticated` decides 42501 (401 vs 403).
    /// `PGRST` (full control) is handled by the caller; here it maps to 500.
    public static func status(sqlState code: String, message: String, authenticated: Bool) -> Int {
        let prefix = code.prefix(2)
        switch code {
        case "23503", "23505": return 409
        case "25006": return 405
        case "21000": return message.hasSuffix("requires a WHERE clause") ? 400 : 500
        case "22023": return message.hasPrefix("role") && message.hasSuffix("does not exist") ? 401 : 400
        case "53400": return 500
        case "57P01": return 503
        case "P0001": return 400
        case "42883": return message.hasPrefix("function xmlagg(") ? 406 : 404
        case "42P01": return 404
        case "42P17": return 500
        case "42501": return authenticated ? 403 : 401
        default: break
        }
        switch prefix {
        case "08": return 503
        case "09": return 500
        case "0L", "0P": return 403
        case "25": return 500
        case "28": return 403
        case "2D", "38", "39", "3B", "40": return 500
        case "53": return 503
        case "54", "55", "57", "58", "F0", "HV", "XX": return 500
        case "P0": return 500
        case "PT": return ptStatus(code) ?? 500
        default: return 400
        }
    }

    /// `PT402` -> 402; nil when the rest is not a status code.
    static func ptStatus(_ code: String) -> Int? {
        guard code.hasPrefix("PT"), let number = Int(code.dropFirst(2)), (100...599).contains(number) else { return nil }
        return number
    }
}
