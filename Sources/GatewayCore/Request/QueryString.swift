/// `application/x-www-form-urlencoded` query strings, decoded like PostgREST's http-types:
/// `+` is a space, `%XX` a byte, a key without `=` has the empty value.
enum QueryString {
    /// Decoded pairs in order; repeated keys stay repeated.
    static func pairs(_ query: String) -> [(key: String, value: String)] {
        guard !query.isEmpty else { return [] }
        var result: [(key: String, value: String)] = []
        for part in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            if let equals = part.firstIndex(of: UInt8(ascii: "=")) {
                result.append((decode(part[..<equals]), decode(part[part.index(after: equals)...])))
            } else {
                result.append((decode(part[...]), ""))
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
        return String(decoding: output, as: UTF8.self)
    }

    /// Percent-decodes a path segment (`+` stays `+`).
    static func decodePathSegment(_ segment: Substring) -> String {
        decode(segment.utf8[...], plusIsSpace: false)
    }
}
