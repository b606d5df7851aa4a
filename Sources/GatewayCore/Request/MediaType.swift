/// A media type as PostgREST reads it from `Accept`, `Content-Type` and the names of media type
/// domains (`MediaType.hs`): the ones it knows by name, `*/*`, its vendor types, and any other kept
/// as written.
public enum MediaType: Hashable, Sendable {
    case json, geoJSON, csv, textPlain, textXML, openAPI, urlEncoded, octetStream, any
    /// `application/jsonl` (JSON Lines, ours): one JSON value per line, each line ending in `\n`.
    case jsonLines
    /// `application/vnd.pgrst.object+json` (or `application/vnd.pgrst.object`), `nulls=stripped` or not.
    case object(stripNulls: Bool)
    /// `application/vnd.pgrst.array+json;nulls=stripped` (without the parameter it is plain JSON).
    case arrayStripped
    /// `application/vnd.pgrst.plan[+text|+json]`: never offered (no `db-plan-enabled`), named in PGRST107.
    indirect case plan(for: MediaType, json: Bool, options: [String])
    /// Anything else, as written (parameters included): `text/html`, `application/*`, `undefined`.
    case other(String)

    /// PostgREST's `decodeMediaType`: type and subtype compared without case, parameter names too.
    public init(_ text: String) {
        // The usual ones, without parsing (every request names one).
        switch text {
        case "application/json": self = .json; return
        case "*/*": self = .any; return
        default: break
        }
        guard let (type, subtype, parameters) = Self.tokenize(text) else {
            self = .other(text)
            return
        }
        let nullsStripped = parameters["nulls"] == "stripped"
        switch (type.lowercased(), subtype.lowercased()) {
        case ("application", "json"): self = .json
        case ("application", "jsonl"): self = .jsonLines
        case ("application", "geo+json"): self = .geoJSON
        case ("text", "csv"): self = .csv
        case ("text", "plain"): self = .textPlain
        case ("text", "xml"): self = .textXML
        case ("application", "openapi+json"): self = .openAPI
        case ("application", "x-www-form-urlencoded"): self = .urlEncoded
        case ("application", "octet-stream"): self = .octetStream
        case ("application", "vnd.pgrst.plan"), ("application", "vnd.pgrst.plan+text"):
            self = Self.plan(parameters, json: false)
        case ("application", "vnd.pgrst.plan+json"): self = Self.plan(parameters, json: true)
        case ("application", "vnd.pgrst.object+json"), ("application", "vnd.pgrst.object"):
            self = .object(stripNulls: nullsStripped)
        case ("application", "vnd.pgrst.array+json"), ("application", "vnd.pgrst.array"):
            self = nullsStripped ? .arrayStripped : .json
        case ("*", "*"): self = .any
        default: self = .other(text)
        }
    }

    private static func plan(_ parameters: [String: String], json: Bool) -> MediaType {
        let wanted = ["analyze", "verbose", "settings", "buffers", "wal"]
        let given = (parameters["options"] ?? "").split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        return .plan(for: MediaType(parameters["for"] ?? "application/json"), json: json,
                     options: wanted.filter(given.contains))
    }

    /// The type as PostgREST names it (`toMime`): in PGRST107 messages and in `Content-Type`.
    public var mime: String {
        switch self {
        case .json: return "application/json"
        case .jsonLines: return "application/jsonl"
        case .arrayStripped: return "application/vnd.pgrst.array+json;nulls=stripped"
        case .geoJSON: return "application/geo+json"
        case .csv: return "text/csv"
        case .textPlain: return "text/plain"
        case .textXML: return "text/xml"
        case .openAPI: return "application/openapi+json"
        case .object(let strip): return "application/vnd.pgrst.object+json" + (strip ? ";nulls=stripped" : "")
        case .urlEncoded: return "application/x-www-form-urlencoded"
        case .octetStream: return "application/octet-stream"
        case .any: return "*/*"
        case .other(let text): return text
        case .plan(let target, let json, let options):
            return "application/vnd.pgrst.plan+" + (json ? "json" : "text") + "; for=\"" + target.mime + "\""
                + (options.isEmpty ? "" : "; options=" + options.joined(separator: "|"))
        }
    }

    /// The response's `Content-Type` (`toContentType`): `; charset=utf-8` but for octet-stream and
    /// types PostgREST does not know by name.
    public var contentType: String {
        switch self {
        case .octetStream, .other: return mime
        default: return mime + "; charset=utf-8"
        }
    }

    /// PostgREST's `tokenizeMediaType`: `type/subtype` then `; key=value` pairs (value quoted or made
    /// of letters, digits, `|` and `-`); whatever follows is ignored. Nil when it does not start so.
    static func tokenize(_ text: String) -> (String, String, [String: String])? {
        var rest = Substring(text)
        func take(_ allowed: (Character) -> Bool) -> Substring {
            let taken = rest.prefix(while: allowed)
            rest = rest.dropFirst(taken.count)
            return taken
        }
        func isAlphaNum(_ c: Character) -> Bool { c.isLetter || c.isNumber }
        let type = take { isAlphaNum($0) || $0 == "." || $0 == "*" }
        guard !type.isEmpty, rest.first == "/" else { return nil }
        rest = rest.dropFirst()
        let subtype = take { isAlphaNum($0) || ".*+-".contains($0) }
        guard !subtype.isEmpty else { return nil }
        var parameters: [String: String] = [:]
        while true {
            let saved = rest
            _ = take { $0.isWhitespace }
            guard rest.first == ";" else { rest = saved; break }
            rest = rest.dropFirst()
            _ = take { $0.isWhitespace }
            let key = take { isAlphaNum($0) || $0 == "-" }
            _ = take { $0.isWhitespace }
            guard !key.isEmpty, rest.first == "=" else { rest = saved; break }
            rest = rest.dropFirst()
            _ = take { $0.isWhitespace }
            let value: Substring
            if rest.first == "\"" {
                rest = rest.dropFirst()
                guard let end = rest.firstIndex(of: "\"") else { rest = saved; break }
                value = rest[..<end]
                rest = rest[rest.index(after: end)...]
            } else {
                value = take { isAlphaNum($0) || $0 == "|" || $0 == "-" }
                guard !value.isEmpty else { rest = saved; break }
            }
            parameters[key.lowercased()] = String(value)
        }
        return (String(type), String(subtype), parameters)
    }
}
