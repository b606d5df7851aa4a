extension HTTPResponse {
    /// The success response of a call from the row of its last statement
    /// (`body, response.status, response.headers, count, total`, see `CallSQL`): the JSON body exactly
    /// as PostgreSQL built it, 204 for void (no body, no Content-Type, `Content-Range: 0-0/*` as
    /// PostgREST), `Content-Range` and 206/416 from the page and the total (`RangeQuery.hs`,
    /// `rangeStatusHeader`), and the function's `response.status`/`response.headers`, which win.
    public init(plan: CallPlan, rows: [[String?]]) throws {
        if let direct = plan.directResponse {
            self = direct
            return
        }
        let row = rows.first ?? []
        func column(_ index: Int) -> String? { index < row.count ? row[index] : nil }
        let body = column(CallSQL.Column.body)
        let count = column(CallSQL.Column.count).flatMap { Int64($0) } ?? 0
        let total = column(CallSQL.Column.total).flatMap { Int64($0) }
        let routine = plan.routine
        let isVoid = routine.map { $0.returnShape == .void && !$0.returnsSet } ?? (body == nil)
        let lower = plan.rangeOffset
        let upper = RowRange.add(lower, count - 1)
        let outOfRange = total.map { lower > $0 } ?? false

        var status = isVoid ? 204 : outOfRange ? 416 : total.map { count < $0 } ?? false ? 206 : 200
        var headers: [(String, String)] = []
        if let text = column(CallSQL.Column.headers) {
            headers = try Self.gucHeaders(text)
        }
        if let text = column(CallSQL.Column.status) { status = try Self.functionStatus(text) }
        var bytes: [UInt8] = []
        if !isVoid {
            // A 416 is PostgREST's JSON error, whatever was negotiated.
            Self.addDefault(("Content-Type", outOfRange ? MediaTypes.json : plan.negotiation.mediaType.contentType), to: &headers)
            if !plan.isHead {
                bytes = outOfRange ? Array(Self.outOfRange(offset: lower, total: total ?? 0).utf8)
                                   : try Self.bodyBytes(body, handler: plan.negotiation.handler)
            }
        }
        // PostgREST sends Content-Range on every call result, 204 included.
        Self.addDefault(("Content-Range", Self.contentRange(lower: lower, upper: upper, total: total)), to: &headers)
        if let applied = plan.preferenceApplied { Self.addDefault(("Preference-Applied", applied), to: &headers) }
        self.init(status: status, headers: headers, body: bytes)
    }

    /// The head of a streamed call's answer (its body follows as a `ResponseStream`): 200, or the
    /// function's `response.status` and `response.headers` as they stood at its first row; no
    /// Content-Range, since its last row is not known yet.
    static func streamHead(plan: CallPlan, status: String?, headers: String?) throws -> HTTPResponse {
        var list = try headers.map(gucHeaders) ?? []
        let code = try status.map(functionStatus) ?? 200
        addDefault(("Content-Type", plan.negotiation.mediaType.contentType), to: &list)
        if let applied = plan.preferenceApplied { addDefault(("Preference-Applied", applied), to: &list) }
        return HTTPResponse(status: code, headers: list)
    }

    /// `response.status`: a code from 100 to 599; else PGRST112.
    static func functionStatus(_ text: String) throws -> Int {
        guard let code = Int(text.trimmingSpaces), (100...599).contains(code) else { throw APIError.invalidResponseStatus }
        return code
    }

    /// `contentRangeH`: `first-last/total`, `*` for the range when empty or the total is 0, `*` for an
    /// unknown total.
    static func contentRange(lower: Int64, upper: Int64, total: Int64?) -> String {
        let range = total != 0 && lower <= upper ? "\(lower)-\(upper)" : "*"
        return range + "/" + (total.map(String.init) ?? "*")
    }

    /// The 416 body when the offset lies past the total (PGRST103, `OutOfBounds`).
    static func outOfRange(offset: Int64, total: Int64) -> String {
        JSONText.object([("code", "PGRST103"), ("details", "An offset of \(offset) was requested, but there are only \(total) rows."),
                         ("hint", nil), ("message", "Requested range not satisfiable")])
    }

    /// The body column as sent: JSON as is, a user-defined handler's value (none when NULL), as raw
    /// bytes when it is over bytea (the column carries its hex, see `CallSQL.body`).
    static func bodyBytes(_ body: String?, handler: MediaHandler) throws -> [UInt8] {
        guard case .custom(let custom) = handler else { return Array((body ?? "null").utf8) }
        guard let body else { return [] }
        guard custom.isBinary else { return Array(body.utf8) }
        guard let bytes = Self.hexBytes(body) else { throw CatalogError(message: "unreadable bytea hex from \(custom.name)") }
        return bytes
    }

    /// Bytes of PostgreSQL's `encode(..., 'hex')` output; nil when it is not hex.
    static func hexBytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case 0x30...0x39: return digit - 0x30
            case 0x61...0x66: return digit - 0x61 + 10
            case 0x41...0x46: return digit - 0x41 + 10
            default: return nil
            }
        }
        var bytes = [UInt8](repeating: 0, count: digits.count / 2)
        for index in bytes.indices {
            guard let high = value(digits[2 * index]), let low = value(digits[2 * index + 1]) else { return nil }
            bytes[index] = high << 4 | low
        }
        return bytes
    }

    /// `response.headers`: a JSON array of objects with one string member each; else PGRST111.
    static func gucHeaders(_ text: String) throws -> [(String, String)] {
        guard case .array(let items)? = JSONValue(parsing: text) else { throw APIError.invalidResponseHeaders }
        return try items.map { item in
            guard case .object(let members) = item, members.count == 1, case .string(let value) = members[0].1,
                  Self.isValidHeader(name: members[0].0, value: value) else {
                throw APIError.invalidResponseHeaders
            }
            return (members[0].0, value)
        }
    }

    /// Header names are tokens and values carry no line breaks (no response splitting).
    static func isValidHeader(name: String, value: String) -> Bool {
        guard !name.isEmpty else { return false }
        let separators = Set("()<>@,;:\\\"/[]?={} \t".utf8)
        for byte in name.utf8 where byte <= 0x20 || byte >= 0x7F || separators.contains(byte) { return false }
        for byte in value.utf8 where byte == 0x0A || byte == 0x0D || byte == 0 { return false }
        return true
    }

    /// Adds a header unless the function already set one with that name (the function wins).
    static func addDefault(_ header: (String, String), to headers: inout [(String, String)]) {
        let name = header.0.lowercased()
        guard !headers.contains(where: { $0.0.lowercased() == name }) else { return }
        headers.append(header)
    }
}

extension String {
    var trimmingSpaces: Substring {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return text
    }
}
