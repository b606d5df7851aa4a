/// A small JSON reader over UTF-8 bytes that validates (RFC 8259) and keeps each value's raw text,
/// so numbers and nested documents reach PostgreSQL exactly as the client wrote them.
struct JSONScanner {
    /// What a value is, judged by its first byte.
    enum Kind: Sendable, Equatable { case string, number, bool, null, object, array }

    /// A value inside `bytes`: its kind and the byte range of its raw text (strings include quotes).
    struct Slice: Sendable, Equatable {
        var kind: Kind
        var range: Range<Int>
    }

    struct Failure: Error, Equatable {
        var offset: Int
    }

    static let maximumDepth = 256

    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    // MARK: documents

    /// Validates a whole document and returns its top-level value.
    static func document(_ bytes: [UInt8]) throws -> Slice {
        var scanner = JSONScanner(bytes)
        scanner.skipWhitespace()
        let slice = try scanner.skipValue(depth: 0)
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else { throw Failure(offset: scanner.index) }
        return slice
    }

    /// Members of an object slice, in order (a repeated key keeps its last value, like Aeson).
    func members(of object: Slice) throws -> [(key: String, value: Slice)] {
        var scanner = JSONScanner(bytes)
        scanner.index = object.range.lowerBound + 1
        var result: [(key: String, value: Slice)] = []
        var positions: [String: Int] = [:]
        scanner.skipWhitespace()
        if scanner.peek == UInt8(ascii: "}") { return result }
        while true {
            scanner.skipWhitespace()
            let key = try scanner.readString()
            scanner.skipWhitespace()
            try scanner.expect(UInt8(ascii: ":"))
            scanner.skipWhitespace()
            let value = try scanner.skipValue(depth: 1)
            if let existing = positions[key] {
                result[existing].value = value
            } else {
                positions[key] = result.count
                result.append((key, value))
            }
            scanner.skipWhitespace()
            if scanner.peek == UInt8(ascii: ",") { scanner.index += 1; continue }
            try scanner.expect(UInt8(ascii: "}"))
            return result
        }
    }

    /// Elements of an array slice, in order.
    func elements(of array: Slice) throws -> [Slice] {
        var scanner = JSONScanner(bytes)
        scanner.index = array.range.lowerBound + 1
        var result: [Slice] = []
        scanner.skipWhitespace()
        if scanner.peek == UInt8(ascii: "]") { return result }
        while true {
            scanner.skipWhitespace()
            result.append(try scanner.skipValue(depth: 1))
            scanner.skipWhitespace()
            if scanner.peek == UInt8(ascii: ",") { scanner.index += 1; continue }
            try scanner.expect(UInt8(ascii: "]"))
            return result
        }
    }

    /// The raw text of a slice (for numbers, booleans, objects and arrays).
    func rawText(_ slice: Slice) -> String {
        String(decoding: bytes[slice.range], as: UTF8.self)
    }

    /// The decoded content of a string slice; the raw text for any other kind.
    func text(_ slice: Slice) -> String {
        guard slice.kind == .string else { return rawText(slice) }
        var scanner = JSONScanner(bytes)
        scanner.index = slice.range.lowerBound
        return (try? scanner.readString()) ?? rawText(slice)
    }

    // MARK: scanning

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func expect(_ byte: UInt8) throws {
        guard peek == byte else { throw Failure(offset: index) }
        index += 1
    }

    /// Validates one value starting at `index` and moves past it.
    mutating func skipValue(depth: Int) throws -> Slice {
        guard depth < Self.maximumDepth, let first = peek else { throw Failure(offset: index) }
        let start = index
        let kind: Kind
        switch first {
        case UInt8(ascii: "\""):
            try skipString()
            kind = .string
        case UInt8(ascii: "{"):
            index += 1
            skipWhitespace()
            if peek == UInt8(ascii: "}") {
                index += 1
            } else {
                while true {
                    skipWhitespace()
                    try skipString()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"))
                    skipWhitespace()
                    _ = try skipValue(depth: depth + 1)
                    skipWhitespace()
                    if peek == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "}"))
                    break
                }
            }
            kind = .object
        case UInt8(ascii: "["):
            index += 1
            skipWhitespace()
            if peek == UInt8(ascii: "]") {
                index += 1
            } else {
                while true {
                    skipWhitespace()
                    _ = try skipValue(depth: depth + 1)
                    skipWhitespace()
                    if peek == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "]"))
                    break
                }
            }
            kind = .array
        case UInt8(ascii: "t"):
            try skipLiteral("true")
            kind = .bool
        case UInt8(ascii: "f"):
            try skipLiteral("false")
            kind = .bool
        case UInt8(ascii: "n"):
            try skipLiteral("null")
            kind = .null
        default:
            try skipNumber()
            kind = .number
        }
        return Slice(kind: kind, range: start..<index)
    }

    private mutating func skipLiteral(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw Failure(offset: index) }
        let matches = word.withUTF8Buffer { literal in
            (0..<count).allSatisfy { bytes[index + $0] == literal[$0] }
        }
        guard matches else { throw Failure(offset: index) }
        index += count
    }

    private mutating func skipDigits() -> Int {
        let start = index
        while let byte = peek, byte >= 0x30, byte <= 0x39 { index += 1 }
        return index - start
    }

    private mutating func skipNumber() throws {
        if peek == UInt8(ascii: "-") { index += 1 }
        if peek == UInt8(ascii: "0") {
            index += 1
        } else if skipDigits() == 0 {
            throw Failure(offset: index)
        }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard skipDigits() > 0 else { throw Failure(offset: index) }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard skipDigits() > 0 else { throw Failure(offset: index) }
        }
    }

    /// Validates a string (escapes, no raw control characters) and moves past its closing quote.
    mutating func skipString() throws {
        try expect(UInt8(ascii: "\""))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count else { throw Failure(offset: index) }
                switch bytes[index + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    guard index + 6 <= bytes.count, (2..<6).allSatisfy({ Self.hexValue(bytes[index + $0]) != nil }) else {
                        throw Failure(offset: index)
                    }
                    index += 6
                default:
                    throw Failure(offset: index)
                }
            case 0..<0x20:
                throw Failure(offset: index)
            default:
                index += 1
            }
        }
        throw Failure(offset: index)
    }

    /// Reads and decodes a string at `index`.
    mutating func readString() throws -> String {
        let start = index
        try skipString()
        let content = (start + 1)..<(index - 1)
        guard bytes[content].contains(UInt8(ascii: "\\")) else {
            return String(decoding: bytes[content], as: UTF8.self)
        }
        var output: [UInt8] = []
        output.reserveCapacity(content.count)
        var position = content.lowerBound
        while position < content.upperBound {
            let byte = bytes[position]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                position += 1
                continue
            }
            let escape = bytes[position + 1]
            position += 2
            switch escape {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(at: position)
                position += 4
                if (0xD800..<0xDC00).contains(scalar), position + 6 <= content.upperBound,
                   bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                    let low = hex4(at: position + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        position += 6
                    }
                }
                let character = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                output.append(contentsOf: Array(String(character).utf8))
            default: output.append(escape)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private func hex4(at position: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 << 4 | UInt32(Self.hexValue(bytes[position + $1]) ?? 0) }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
