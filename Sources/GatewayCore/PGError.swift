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

    /// 57014 raised by `statement_timeout` (the same SQLSTATE also means a cancel by request, e.g.
    /// `pg_cancel_backend`, which is no deadline of the client's).
    var isStatementTimeout: Bool { sqlState == "57014" && message.hasSuffix("statement timeout") }

    public var description: String {
        var text = "\(sqlState): \(message)"
        if let detail { text += "\nDETAIL: \(detail)" }
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = self
        while text.last == "\n" || text.last == " " { text.removeLast() }
        return text
    }
}
