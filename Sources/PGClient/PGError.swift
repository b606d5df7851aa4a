/// An error reported by libpq or by the server, with the fields PostgreSQL attaches to it.
public struct PGError: Error, CustomStringConvertible, Sendable {
    /// Five-character SQLSTATE; `08006` when the connection itself failed.
    public var sqlState: String
    public var message: String
    public var detail: String?
    public var hint: String?

    public init(sqlState: String, message: String, detail: String? = nil, hint: String? = nil) {
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    public var description: String {
        var text = "\(sqlState): \(message)"
        if let detail { text += "\nDETAIL: \(detail)" }
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }
}

extension String {
    package func trimmingTrailingNewlines() -> String {
        var text = self
        while text.last == "\n" || text.last == " " { text.removeLast() }
        return text
    }
}
