/// PostgreSQL array literals (`{"a","b\"c",NULL}`) built from values, every element quoted, so a
/// value can never change the literal's structure.
enum ArrayLiteral {
    /// One-dimensional literal of text elements (`nil` is NULL).
    static func text(_ elements: [String?]) -> String {
        var output = "{"
        for (offset, element) in elements.enumerated() {
            if offset > 0 { output.append(",") }
            appendElement(element, to: &output)
        }
        output.append("}")
        return output
    }

    static func appendElement(_ element: String?, to output: inout String) {
        guard let element else {
            output.append("NULL")
            return
        }
        output.append("\"")
        for character in element.unicodeScalars {
            if character == "\"" || character == "\\" { output.append("\\") }
            output.unicodeScalars.append(character)
        }
        output.append("\"")
    }

    /// PostgreSQL's limit on array dimensions (MAXDIM).
    static let maximumDimensions = 6

    /// Refuses an array argument nested deeper than PostgreSQL allows: the client's mistake (400),
    /// not the server's (PostgreSQL's 54000 would map to 500).
    static func checkDimensions(_ literal: String, parameter: String) throws {
        var depth = 0, deepest = 0, quoted = false, escaped = false
        for byte in literal.utf8 {
            if escaped { escaped = false; continue }
            switch byte {
            case UInt8(ascii: "\\"): escaped = true
            case UInt8(ascii: "\""): quoted.toggle()
            case UInt8(ascii: "{") where !quoted:
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "}") where !quoted: depth -= 1
            default: break
            }
        }
        guard deepest > maximumDimensions else { return }
        throw APIError.requestError(
            status: 400, code: "54000",
            message: "number of array dimensions (\(deepest)) exceeds the maximum allowed (\(maximumDimensions))",
            details: "The argument \(parameter) is nested too deeply.", hint: nil)
    }

    /// A JSON array (possibly nested) as an array literal: strings decoded, numbers and booleans as
    /// written, `null` as NULL, objects as their JSON text. Nil when `slice` is not an array.
    static func fromJSON(_ scanner: JSONScanner, _ slice: JSONScanner.Slice) throws -> String {
        var output = ""
        try appendJSON(scanner, slice, to: &output)
        return output
    }

    private static func appendJSON(_ scanner: JSONScanner, _ slice: JSONScanner.Slice, to output: inout String) throws {
        output.append("{")
        for (offset, element) in try scanner.elements(of: slice).enumerated() {
            if offset > 0 { output.append(",") }
            switch element.kind {
            case .null: output.append("NULL")
            case .array: try appendJSON(scanner, element, to: &output)
            case .string: appendElement(scanner.text(element), to: &output)
            default: appendElement(scanner.rawText(element), to: &output)
            }
        }
        output.append("}")
    }
}
