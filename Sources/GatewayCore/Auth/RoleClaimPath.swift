/// PostgREST's `jwt-role-claim-key`: a JSPath such as `.role`, `.app.roles[0]` or `."https://x.io/claims".role`.
public struct RoleClaimPath: Sendable, Equatable, CustomStringConvertible {
    public enum Step: Sendable, Equatable { case key(String), index(Int) }
    public let steps: [Step]
    public let description: String

    public static let `default` = try! RoleClaimPath(".role")

    /// Parses the path; throws a message naming what is wrong.
    public init(_ text: String) throws {
        description = text
        var steps: [Step] = []
        var rest = Substring(text)
        while let first = rest.first {
            switch first {
            case ".":
                rest = rest.dropFirst()
                if rest.first == "\"" {
                    rest = rest.dropFirst()
                    guard let end = rest.firstIndex(of: "\"") else { throw PathError("unterminated quote in \(text)") }
                    steps.append(.key(String(rest[..<end])))
                    rest = rest[rest.index(after: end)...]
                } else {
                    let end = rest.firstIndex { $0 == "." || $0 == "[" } ?? rest.endIndex
                    guard end != rest.startIndex else { throw PathError("empty key in \(text)") }
                    steps.append(.key(String(rest[..<end])))
                    rest = rest[end...]
                }
            case "[":
                guard let end = rest.firstIndex(of: "]"), let index = Int(rest[rest.index(after: rest.startIndex)..<end]), index >= 0
                else { throw PathError("bad array index in \(text)") }
                steps.append(.index(index))
                rest = rest[rest.index(after: end)...]
            default:
                throw PathError("\(text) must start with '.' (for example .role)")
            }
        }
        guard !steps.isEmpty else { throw PathError("empty path") }
        self.steps = steps
    }

    /// The value at this path in decoded JSON claims, if any.
    func value(in claims: [String: Any]) -> Any? {
        var current: Any? = claims
        for step in steps {
            switch step {
            case .key(let key): current = (current as? [String: Any])?[key]
            case .index(let index):
                guard let array = current as? [Any], index < array.count else { return nil }
                current = array[index]
            }
        }
        return current
    }

    struct PathError: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }
}
