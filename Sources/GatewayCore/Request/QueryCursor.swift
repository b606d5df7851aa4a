/// A position in one query parameter's text, with the pieces PostgREST's parsec grammar is built
/// of (`ApiRequest/QueryParams.hs`), so that a malformed parameter fails where and as PostgREST's
/// does: PGRST100 with `"failed to parse <what> (<text>)" (line 1, column N)` and parsec's
/// `unexpected ... expecting ...`.
struct QueryCursor {
    let characters: [Character]
    var position = 0

    init(_ text: String) {
        characters = text.unicodeScalars.map(Character.init)
    }

    var atEnd: Bool { position >= characters.count }
    var current: Character? { atEnd ? nil : characters[position] }

    func character(at index: Int) -> Character? { index < characters.count ? characters[index] : nil }

    /// A copy of this cursor at `index` (to look ahead without moving).
    func moved(to index: Int) -> QueryCursor {
        var copy = self
        copy.position = index
        return copy
    }

    /// `many (oneOf " \t")`.
    mutating func skipSpaces() {
        while let character = current, character == " " || character == "\t" { position += 1 }
    }

    /// Consumes `text` when it is next.
    mutating func take(_ text: String) -> Bool {
        guard mismatch(text) == nil else { return false }
        position += text.unicodeScalars.count
        return true
    }

    /// Where `text` stops matching the input here (nil: it matches), as parsec's `string` reports it.
    func mismatch(_ text: String, caseInsensitive: Bool = false) -> Int? {
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            guard let character = character(at: position + offset) else { return position + offset }
            let expected = Character(scalar)
            if character == expected || (caseInsensitive && character.uppercased() == expected.uppercased()) { continue }
            return position + offset
        }
        return nil
    }

    /// parsec's rendering of the token at `index` as a `SysUnExpect` (`"x"`) or end of input.
    func unexpected(at index: Int) -> String {
        character(at: index).map { Self.haskellShow(String($0)) } ?? "end of input"
    }

    /// The same token as `notFollowedBy` (so `eof`) renders it: `'x'`.
    func unexpectedQuoted(at index: Int) -> String {
        guard let character = character(at: index) else { return "end of input" }
        let shown = character == "\"" ? "\"" : character == "'" ? "\\'" : String(Self.haskellShow(String(character)).dropFirst().dropLast())
        return "'" + shown + "'"
    }

    /// Haskell's `show` of a string, which PostgREST's messages are made of: quoted, with `"` and `\`
    /// escaped, control characters by name and anything outside ASCII as a decimal escape
    /// (`\&` keeps a following digit apart).
    static func haskellShow(_ text: String) -> String {
        let names = ["NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "a", "b", "t", "n", "v", "f", "r", "SO", "SI",
                     "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US"]
        var output = "\""
        var numeric = false, shortSO = false
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if numeric, (48...57).contains(value) { output += "\\&" }
            if shortSO, scalar == "H" { output += "\\&" }
            numeric = false
            shortSO = false
            switch value {
            case 0x22: output += "\\\""
            case 0x5C: output += "\\\\"
            case 0x20..<0x7F: output.unicodeScalars.append(scalar)
            case 0..<0x20:
                output += "\\" + names[Int(value)]
                shortSO = value == 0x0E
            case 0x7F: output += "\\DEL"
            default:
                output += "\\\(value)"
                numeric = true
            }
        }
        return output + "\""
    }

    /// A failure at `index`.
    func failure(at index: Int, unexpected: String? = nil, expecting: [String]) -> QueryParseError {
        QueryParseError(column: index + 1, unexpected: unexpected ?? self.unexpected(at: index), expecting: expecting)
    }

    // MARK: names (pFieldName, pIdentifier, pJsonPath)

    /// `T.strip`: white space off both ends.
    static func strip(_ characters: ArraySlice<Character>) -> String {
        var slice = characters
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }

    static let fieldNameLabel = "field name (* or [a..z0..9_$])"

    /// `pIdentifierChar`: letter, digit, `_`, space, `$`.
    static func isIdentifierCharacter(_ character: Character) -> Bool {
        character.isLetter || character.isNumber || character == "_" || character == " " || character == "$"
    }

    /// `pFieldName`: a double-quoted name (backslash escapes) or identifiers joined by `-` (not `->`),
    /// each stripped; nil when none starts here.
    mutating func fieldName() throws -> String? {
        if current == "\"" { return try quotedValue() }
        return dashed { cursor in
            let start = cursor.position
            while let character = cursor.current, Self.isIdentifierCharacter(character) { cursor.position += 1 }
            guard cursor.position > start else { return nil }
            return Self.strip(cursor.characters[start..<cursor.position])
        }
    }

    /// `pQuotedValue`: `"..."` with `\x` escapes; throws when unterminated.
    mutating func quotedValue() throws -> String {
        position += 1
        var value = ""
        while let character = current, character != "\"" {
            if character == "\\" {
                position += 1
                guard let escaped = current else { break }
                value.append(escaped)
            } else {
                value.append(character)
            }
            position += 1
        }
        guard current == "\"" else { throw failure(at: position, expecting: ["\"\\\"\""]) }
        position += 1
        return value
    }

    /// `sepByDash`: pieces joined by `-` where the dash is not the start of `->`.
    private mutating func dashed(_ piece: (inout QueryCursor) -> String?) -> String? {
        guard var joined = piece(&self) else { return nil }
        while current == "-", character(at: position + 1) != ">" {
            let dash = position
            position += 1
            guard let next = piece(&self) else {
                position = dash
                break
            }
            joined += "-" + next
        }
        return joined
    }

    /// `pJsonPath`: `->key`, `->>key`, `->0`, `->>-1`, repeated; fails where and as PostgREST's does
    /// (a `-` must start an index, a key holds none of `(-:.,>)`).
    mutating func jsonPath() throws -> [JSONPathStep] {
        var steps: [JSONPathStep] = []
        while current == "-", character(at: position + 1) == ">" {
            let asText = character(at: position + 2) == ">"
            position += asText ? 3 : 2
            if let index = try jsonIndex() {
                steps.append(JSONPathStep(asText: asText, key: index, isIndex: true))
            } else if current == "\"" {
                steps.append(JSONPathStep(asText: asText, key: try quotedValue(), isIndex: false))
            } else if let key = dashed({ cursor in
                let start = cursor.position
                while let character = cursor.current, !"(-:.,>)".contains(character) { cursor.position += 1 }
                guard cursor.position > start else { return nil }
                return Self.strip(cursor.characters[start..<cursor.position])
            }) {
                steps.append(JSONPathStep(asText: asText, key: key, isIndex: false))
            } else {
                throw failure(at: position, expecting: ["\"-\"", "digit", "any non reserved character different from: .,>()"])
            }
        }
        return steps
    }

    /// `pJIdx`: an optional `-` and digits, followed by `->`, `::`, `.`, `,` or the end. Digits
    /// followed by anything else are a key (`->78xy`); a `-` that starts no index is an error.
    private mutating func jsonIndex() throws -> String? {
        var index = position
        var text = "+"
        if character(at: index) == "-" {
            text = "-"
            index += 1
        }
        let digitsStart = index
        while let character = character(at: index), character.isASCII, character.isNumber { index += 1 }
        if index == digitsStart {
            guard text == "-" else { return nil }
            throw failure(at: index, expecting: ["digit"])
        }
        let next = character(at: index)
        let followed = next == nil || next == "." || next == "," || (next == "-" && character(at: index + 1) == ">")
            || (next == ":" && character(at: index + 1) == ":")
        guard followed else {
            guard text == "-" else { return nil }
            throw failure(at: index, unexpected: unexpectedQuoted(at: index),
                          expecting: ["digit", "\"->\"", "\"::\"", "\".\"", "\",\"", "end of input"])
        }
        text += String(characters[digitsStart..<index])
        position = index
        return text
    }

    /// `pField`: spaces, a field name, its JSON path, spaces; nil when no name starts here.
    mutating func field() throws -> QueryField? {
        skipSpaces()
        guard let name = try fieldName() else { return nil }
        let path = try jsonPath()
        skipSpaces()
        return QueryField(name: name, path: path)
    }

    /// `pIdentifier` (casts, text search configurations): identifier characters, stripped. Only
    /// ASCII is taken: a cast is the one name spliced into SQL unquoted (PostgreSQL's own spelling
    /// of types such as `int` breaks when quoted), so it may hold no quote, bracket or semicolon.
    mutating func identifier() -> String? {
        let start = position
        while let character = current, character.isASCII, Self.isIdentifierCharacter(character) { position += 1 }
        guard position > start else { return nil }
        return Self.strip(characters[start..<position])
    }
}

/// A malformed query parameter, as parsec reports it; `QueryParams.parse` adds what was parsed.
struct QueryParseError: Error, Equatable {
    var column: Int
    var unexpected: String
    var expecting: [String]

    /// parsec's `showErrorMessages "or" ... "expecting" "unexpected" "end of input"`, on one line.
    var details: String {
        var text = "unexpected " + unexpected
        if !expecting.isEmpty {
            let list = expecting.count == 1 ? expecting[0]
                : expecting.dropLast().joined(separator: ", ") + " or " + expecting[expecting.count - 1]
            text += " expecting " + list
        }
        return text
    }

    /// PGRST100 for parameter `what` (`filter`, `order`, `logic tree`, `select parameter`) with value `text`.
    func apiError(what: String, text: String) -> APIError {
        let source = QueryCursor.haskellShow("failed to parse \(what) (\(text))")
        return .requestError(status: 400, code: "PGRST100", message: "\(source) (line 1, column \(column))",
                             details: details, hint: nil)
    }
}
