import Foundation

/// PostgREST's config-file syntax: `key = "text"`, `key = 10`, `key = true`, `# comment` lines
/// and trailing comments; keys are lower-case words with dashes or dots (`app.settings.x`).
enum ConfigFileParser {
    struct Entry: Equatable {
        var key: String
        var value: ConfigValue
    }

    static func parse(_ text: String, file: String = "config") throws -> [Entry] {
        var entries: [Entry] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.last == "\r" { line = line.dropLast() }
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.isEmpty || trimmed.first == "#" { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ConfigError(key: "\(file):\(lineNumber)", reason: "expected key = value")
            }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                throw ConfigError(key: "\(file):\(lineNumber)", reason: "invalid key \"\(key)\"")
            }
            let rest = trimmed[trimmed.index(after: equals)...].drop(while: { $0 == " " || $0 == "\t" })
            let value = try parseValue(rest, key: key)
            if !key.hasPrefix("app.settings."), !GatewayConfig.knownKeys.contains(key) {
                throw ConfigError(key: key, reason: "unknown configuration key (\(file) line \(lineNumber))")
            }
            entries.append(Entry(key: key, value: value))
        }
        return entries
    }

    /// Keys whose values are secrets (the jwt-secret, connection strings with passwords).
    static func isSecret(_ key: String) -> Bool {
        key == "jwt-secret" || key.hasPrefix("db-uri") || key.contains("password") || key.contains("secret")
    }

    /// One value, then only blanks or a comment up to the end of the line.
    private static func parseValue(_ text: Substring, key: String) throws -> ConfigValue {
        func fail(_ reason: String) -> ConfigError { ConfigError(key: key, reason: reason) }
        // Errors quote what they could not read, except for keys that hold secrets (stderr is a log).
        func shown(_ text: Substring) -> String { isSecret(key) ? "(hidden: \(key) holds a secret)" : String(text) }
        func expectEnd(_ rest: Substring) throws {
            let after = rest.drop(while: { $0 == " " || $0 == "\t" })
            guard after.isEmpty || after.first == "#" else { throw fail("unexpected text after the value: \(shown(after))") }
        }
        guard let first = text.first else { throw fail("missing value") }
        if first == "\"" {
            var result = ""
            var index = text.index(after: text.startIndex)
            while index < text.endIndex {
                let character = text[index]
                if character == "\"" {
                    try expectEnd(text[text.index(after: index)...])
                    return .string(result)
                }
                if character == "\\" {
                    index = text.index(after: index)
                    guard index < text.endIndex else { break }
                    switch text[index] {
                    case "n": result.append("\n")
                    case "t": result.append("\t")
                    case "r": result.append("\r")
                    default: result.append(text[index])
                    }
                } else {
                    result.append(character)
                }
                index = text.index(after: index)
            }
            throw fail("unterminated string")
        }
        let word = text.prefix(while: { $0 != " " && $0 != "\t" && $0 != "#" })
        try expectEnd(text[word.endIndex...])
        switch word {
        case "true": return .bool(true)
        case "false": return .bool(false)
        default:
            guard Double(word) != nil else { throw fail("expected a quoted string, a number or true/false, got \(shown(word))") }
            return .number(String(word))
        }
    }
}
