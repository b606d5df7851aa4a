/// `application/x-www-form-urlencoded` query strings, decoded like PostgREST's http-types:
/// `+` is a space, `%XX` a byte, a key without `=` has the empty value.
enum QueryString {
    /// Decoded pairs in order; repeated keys stay repeated.
    static func pairs(_ query: String) -> [(key: String, value: String)] {
        pairs(query, decode: { decode($0) })
    }

    /// Like `pairs`, but a key or value whose escapes decode to invalid UTF-8 is refused (400, 22021,
    /// as PostgreSQL refuses such bytes) instead of reaching a function with U+FFFD in it.
    static func validatedPairs(_ query: String) throws -> [(key: String, value: String)] {
        try pairs(query) { bytes in
            // The query is a String, so valid UTF-8: only escapes can make it invalid (and cost a copy).
            guard bytes.contains(UInt8(ascii: "%")) else { return decode(bytes) }
            guard let text = String(validating: decodeBytes(bytes), as: UTF8.self) else { throw invalidUTF8 }
            return text
        }
    }

    static let invalidUTF8 = APIError.requestError(
        status: 400, code: "22021", message: "invalid byte sequence for encoding \"UTF8\"",
        details: "A percent-decoded query string or form parameter is not valid UTF-8.",
        hint: "Percent-encode the UTF-8 bytes of the text (RFC 3986).")

    private static func pairs(_ query: String, decode: (Substring.UTF8View.SubSequence) throws -> String) rethrows
        -> [(key: String, value: String)] {
        guard !query.isEmpty else { return [] }
        var result: [(key: String, value: String)] = []
        for part in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            if let equals = part.firstIndex(of: UInt8(ascii: "=")) {
                result.append((try decode(part[..<equals]), try decode(part[part.index(after: equals)...])))
            } else {
                result.append((try decode(part[...]), ""))
            }
        }
        return result
    }

    /// Percent-decodes (and `+` -> space when `plusIsSpace`); malformed escapes stay as written,
    /// invalid UTF-8 becomes U+FFFD.
    static func decode(_ bytes: Substring.UTF8View.SubSequence, plusIsSpace: Bool = true) -> String {
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        return String(decoding: decodeBytes(bytes, plusIsSpace: plusIsSpace), as: UTF8.self)
    }

    /// The percent-decoded bytes (`+` -> space when `plusIsSpace`); malformed escapes stay as written.
    static func decodeBytes(_ bytes: Substring.UTF8View.SubSequence, plusIsSpace: Bool = true) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"),
               let first = bytes.index(index, offsetBy: 1, limitedBy: bytes.endIndex), first < bytes.endIndex,
               let second = bytes.index(first, offsetBy: 1, limitedBy: bytes.endIndex), second < bytes.endIndex,
               let high = JSONScanner.hexValue(bytes[first]), let low = JSONScanner.hexValue(bytes[second]) {
                output.append(high << 4 | low)
                index = bytes.index(after: second)
                continue
            }
            output.append(byte == UInt8(ascii: "+") && plusIsSpace ? UInt8(ascii: " ") : byte)
            index = bytes.index(after: index)
        }
        return output
    }

    /// Percent-decodes a path segment (`+` stays `+`).
    static func decodePathSegment(_ segment: Substring) -> String {
        decode(segment.utf8[...], plusIsSpace: false)
    }
}
