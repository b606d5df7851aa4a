/// The arguments of one call, before a function is chosen: the POST body's top-level members
/// (raw JSON kept) or the GET/HEAD query pairs (repeated keys grouped).
struct RequestArguments {
    enum Source {
        /// A JSON object body: members in order.
        case object([(key: String, value: JSONScanner.Slice)])
        /// A body that is valid JSON but not an object (only a single unnamed json param takes it).
        case otherJSON
        /// Query pairs, grouped by key in first-seen order.
        case query([(key: String, values: [String])])
        /// A CSV body's first record under its header's names (`NULL` is SQL NULL).
        case fields([(key: String, value: String?)])
    }

    static let invalidJSON = APIError.invalidBody(message: "Empty or invalid json")

    let scanner: JSONScanner
    let root: JSONScanner.Slice?
    let source: Source
    /// A raw body (text/plain, text/xml, application/octet-stream) as the parameter's text.
    let raw: String?

    /// Argument names, sorted (PostgREST lists them sorted in PGRST202).
    let keys: [String]

    /// POST: an empty (or blank) body counts as `{}`; anything that is not JSON is PGRST102.
    init(body: [UInt8]) throws {
        scanner = JSONScanner(body)
        raw = nil
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            root = nil
            source = .object([])
            keys = []
            return
        }
        guard String(validating: body, as: UTF8.self) != nil,
              let document = try? JSONScanner.document(body) else { throw Self.invalidJSON }
        root = document
        if document.kind == .object {
            let members = try scanner.members(of: document)
            source = .object(members)
            keys = members.map(\.key).sorted()
        } else {
            source = .otherJSON
            keys = []
        }
    }

    /// A form body's pairs; escapes of invalid UTF-8 are refused (22021).
    init(query: String) throws {
        self.init(pairs: try QueryString.validatedPairs(query))
    }

    /// GET/HEAD: the query pairs that are arguments (`ReadQuery.arguments`).
    init(pairs: [(key: String, value: String)]) {
        scanner = JSONScanner([])
        root = nil
        raw = nil
        var grouped: [(key: String, values: [String])] = []
        var positions: [String: Int] = [:]
        for (key, value) in pairs {
            if let index = positions[key] {
                grouped[index].values.append(value)
            } else {
                positions[key] = grouped.count
                grouped.append((key, [value]))
            }
        }
        source = .query(grouped)
        keys = grouped.map(\.key).sorted()
    }

    /// A `text/csv` body (PostgREST's `csvToJson`): the header names the arguments, the first record
    /// gives their values (a function is called once, as with a JSON array); `NULL` is SQL NULL.
    init(csv body: [UInt8]) throws {
        scanner = JSONScanner([])
        root = nil
        raw = nil
        guard let records = CSVText.records(body), let header = records.first else {
            throw APIError.invalidBody(message: "Empty or invalid csv")
        }
        guard records.dropFirst().allSatisfy({ $0.count == header.count }) else {
            throw APIError.invalidBody(message: "All lines must have same number of fields")
        }
        let values = records.count > 1 ? records[1] : []
        source = .fields(zip(header, values).map { ($0, $1 == "NULL" ? nil : $1) })
        keys = records.count > 1 ? header.sorted() : []
    }

    /// A body taken whole by a single unnamed text, xml or bytea parameter (PostgREST's `RawPay`):
    /// bytes as bytea's hex input, text as is (UTF-8 without NUL, as PostgreSQL's text requires).
    init(raw body: [UInt8], binary: Bool) throws {
        scanner = JSONScanner([])
        root = nil
        source = .otherJSON
        keys = []
        if binary {
            let digits = Array("0123456789abcdef".utf8)
            var hex = [UInt8](repeating: 0, count: 2 + body.count * 2)
            hex[0] = UInt8(ascii: "\\")
            hex[1] = UInt8(ascii: "x")
            for (index, byte) in body.enumerated() {
                hex[2 + index * 2] = digits[Int(byte >> 4)]
                hex[3 + index * 2] = digits[Int(byte & 0x0F)]
            }
            raw = String(decoding: hex, as: UTF8.self)
            return
        }
        guard let text = String(validating: body, as: UTF8.self), !body.contains(0) else {
            throw PGError(sqlState: "22021", message: "invalid byte sequence for encoding \"UTF8\"")
        }
        raw = text
    }

    /// The whole body as text (for a single unnamed json/jsonb parameter, `{}` when empty; for a raw
    /// body, its text).
    var wholeBody: String {
        if let raw { return raw }
        guard let root else { return "{}" }
        return scanner.rawText(root)
    }

    /// The text value for `parameter`, converted as PostgreSQL expects it in `$n::type`;
    /// `.absent` when the request does not name it.
    func value(for parameter: RoutineParameter) throws -> ArgumentValue {
        let value = try rawValue(for: parameter)
        if parameter.isArray, case .present(let text?) = value {
            try ArrayLiteral.checkDimensions(text, parameter: parameter.name)
        }
        return value
    }

    private func rawValue(for parameter: RoutineParameter) throws -> ArgumentValue {
        switch source {
        case .otherJSON:
            return .absent
        case .object(let members):
            guard let slice = members.first(where: { $0.key == parameter.name })?.value else { return .absent }
            return .present(try jsonValue(slice, for: parameter))
        case .fields(let fields):
            guard let field = fields.first(where: { $0.key == parameter.name }) else { return .absent }
            return .present(try field.value.map(checked))
        case .query(let groups):
            guard let values = groups.first(where: { $0.key == parameter.name })?.values else { return .absent }
            if parameter.isArray, parameter.isVariadic || values.count > 1 {
                return .present(try checked(ArrayLiteral.text(values)))
            }
            return .present(try checked(values[values.count - 1]))
        }
    }

    private func jsonValue(_ slice: JSONScanner.Slice, for parameter: RoutineParameter) throws -> String? {
        switch slice.kind {
        case .null:
            return nil
        case _ where parameter.isJSON:
            return scanner.rawText(slice)
        case .string:
            return try checked(scanner.text(slice))
        case .array where parameter.isArray:
            return try checked(ArrayLiteral.fromJSON(scanner, slice))
        default:
            return scanner.rawText(slice)
        }
    }

    /// PostgreSQL text cannot hold NUL; refuse it the way PostgreSQL does for `\u0000` in jsonb.
    private func checked(_ text: String) throws -> String {
        guard !text.utf8.contains(0) else {
            throw PGError(sqlState: "22P05", message: "unsupported Unicode escape sequence",
                          detail: "\\u0000 cannot be converted to text.")
        }
        return text
    }
}

/// One parameter's argument: given (possibly SQL NULL) or left to its DEFAULT.
enum ArgumentValue: Equatable {
    case absent
    case present(String?)
}
