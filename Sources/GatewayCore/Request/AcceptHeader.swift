/// The `Accept` header as PostgREST reads it (wai-extra's `parseHttpAccept`, then `decodeMediaType`):
/// items split at commas with every space removed, ordered by q-value, then by specificity
/// (parameters count up, `*` counts down), the header's order kept among equals. A q-value of 0 does
/// not exclude an item; it only sorts last.
enum AcceptHeader {
    /// Absent: `*/*`. Present but empty: nothing (every answer is then 406).
    static func mediaTypes(_ header: String?) -> [MediaType] {
        guard let header else { return [.any] }
        guard !header.isEmpty else { return [] }
        // One plain item (the usual case): no list to rank. Bytes, not `String.contains`, which goes
        // through Foundation's string search (seen in the gateway's profile).
        if !header.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: ";") || $0 == UInt8(ascii: " ") }) {
            return [MediaType(header)]
        }
        let ranked = header.split(separator: ",", omittingEmptySubsequences: false).map { item -> (String, Double, Int) in
            let compact = String(item.filter { $0 != " " })
            var type = compact
            var quality = 1.0
            if let marker = compact.range(of: ";q=") {
                type = String(compact[..<marker.lowerBound])
                quality = Self.quality(compact[marker.upperBound...].prefix { $0 != ";" }) ?? 1.0
            }
            let specificity = type.filter { $0 == ";" }.count - type.filter { $0 == "*" }.count
            return (type, quality, specificity)
        }
        // A stable sort, best first.
        let sorted = ranked.enumerated().sorted { a, b in
            if a.element.1 != b.element.1 { return a.element.1 > b.element.1 }
            if a.element.2 != b.element.2 { return a.element.2 > b.element.2 }
            return a.offset < b.offset
        }
        return sorted.map { MediaType($0.element.0) }
    }

    /// Haskell's `reads :: Double` on the text after `;q=`: the longest number at its start
    /// (`0.5`, `1`, `-1`, `2e-1`, `NaN`, `Infinity`), nil when there is none.
    static func quality(_ text: Substring) -> Double? {
        for word in ["NaN", "Infinity"] where text.hasPrefix(word) { return Double(word) }
        let bytes = Array(text.utf8)
        var end = 0
        func digits() -> Int {
            var count = 0
            while end < bytes.count, bytes[end] >= 0x30, bytes[end] <= 0x39 { end += 1; count += 1 }
            return count
        }
        if end < bytes.count, bytes[end] == UInt8(ascii: "-") { end += 1 }
        guard digits() > 0 else { return nil }
        var accepted = end
        if end + 1 < bytes.count, bytes[end] == UInt8(ascii: ".") {
            end += 1
            if digits() > 0 { accepted = end }
        }
        end = accepted
        if end < bytes.count, bytes[end] == UInt8(ascii: "e") || bytes[end] == UInt8(ascii: "E") {
            end += 1
            if end < bytes.count, bytes[end] == UInt8(ascii: "-") || bytes[end] == UInt8(ascii: "+") { end += 1 }
            if digits() > 0 { accepted = end }
        }
        return Double(String(decoding: bytes[..<accepted], as: UTF8.self))
    }
}
