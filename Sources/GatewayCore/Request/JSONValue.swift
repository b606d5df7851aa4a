/// A decoded JSON document, for the few small documents the gateway reads itself (catalog rows,
/// `RAISE SQLSTATE 'PGRST'` payloads, `response.headers`). Request arguments never go through it.
indirect enum JSONValue: Sendable, Equatable {
    case string(String)
    /// The number as written.
    case number(String)
    case bool(Bool)
    case null
    case array([JSONValue])
    /// Members in document order.
    case object([(String, JSONValue)])

    /// Parses a whole document; nil when it is not valid JSON.
    init?(parsing text: String) {
        self.init(parsing: Array(text.utf8))
    }

    init?(parsing bytes: [UInt8]) {
        guard let root = try? JSONScanner.document(bytes),
              let value = try? JSONValue(JSONScanner(bytes), root) else { return nil }
        self = value
    }

    private init(_ scanner: JSONScanner, _ slice: JSONScanner.Slice) throws {
        switch slice.kind {
        case .string: self = .string(scanner.text(slice))
        case .number: self = .number(scanner.rawText(slice))
        case .bool: self = .bool(scanner.bytes[slice.range.lowerBound] == UInt8(ascii: "t"))
        case .null: self = .null
        case .array: self = .array(try scanner.elements(of: slice).map { try JSONValue(scanner, $0) })
        case .object: self = .object(try scanner.members(of: slice).map { ($0.key, try JSONValue(scanner, $0.value)) })
        }
    }

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case let (.string(a), .string(b)), let (.number(a), .number(b)): return a == b
        case let (.bool(a), .bool(b)): return a == b
        case (.null, .null): return true
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member `key` of an object (last one wins), nil otherwise.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    /// Integer value of a number without fraction or exponent.
    var intValue: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    /// Serializes back to compact JSON text.
    var jsonText: String {
        var output = ""
        write(to: &output)
        return output
    }

    func write(to output: inout String) {
        switch self {
        case .string(let text): JSONText.appendQuoted(text, to: &output)
        case .number(let text): output += text
        case .bool(let flag): output += flag ? "true" : "false"
        case .null: output += "null"
        case .array(let items):
            output += "["
            for (offset, item) in items.enumerated() {
                if offset > 0 { output += "," }
                item.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (offset, member) in members.enumerated() {
                if offset > 0 { output += "," }
                JSONText.appendQuoted(member.0, to: &output)
                output += ":"
                member.1.write(to: &output)
            }
            output += "}"
        }
    }
}
