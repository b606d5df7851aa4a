import Foundation

/// `schema.name` or `name`, as written in configuration (`db-pre-request`), split on the first
/// unquoted dot; double-quoted parts keep their dots and case.
public struct QualifiedName: Sendable, Hashable, CustomStringConvertible {
    public var schema: String?
    public var name: String

    public init(schema: String?, name: String) {
        self.schema = schema
        self.name = name
    }

    /// Parses `schema.fn`, `fn`, `"My Schema"."fn"`; nil when empty or malformed.
    public init?(_ text: String) {
        var parts: [String] = []
        var current = ""
        var quoted = false
        var iterator = Array(text.trimmingCharacters(in: [" "])).makeIterator()
        while let character = iterator.next() {
            if quoted {
                if character == "\"" {
                    quoted = false
                } else {
                    current.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "." {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        guard !quoted, (1...2).contains(parts.count), !parts.contains(where: \.isEmpty) else { return nil }
        schema = parts.count == 2 ? parts[0] : nil
        name = parts[parts.count - 1]
    }

    /// Quoted SQL identifier, `"schema"."name"`.
    public var sql: String {
        if let schema { return quoteIdentifier(schema) + "." + quoteIdentifier(name) }
        return quoteIdentifier(name)
    }

    public var description: String { schema.map { "\($0).\(name)" } ?? name }
}

/// `name` -> `"name"` with embedded quotes doubled: the only way identifiers enter SQL text. By
/// bytes: a search by characters misses a `"` that a combining mark joins into one grapheme.
public func quoteIdentifier(_ name: String) -> String {
    var bytes: [UInt8] = [UInt8(ascii: "\"")]
    for byte in name.utf8 {
        bytes.append(byte)
        if byte == UInt8(ascii: "\"") { bytes.append(byte) }
    }
    bytes.append(UInt8(ascii: "\""))
    return String(decoding: bytes, as: UTF8.self)
}
