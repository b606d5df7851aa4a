extension HTTPResponse {
    /// A call's answer from what its round trip gave: its result row, or, with `Idempotency-Key`, the
    /// row stored by the first request with this key, which the claim raised instead of running the
    /// call (`IdempotencySQL.replayState`, the row as a JSON array in DETAIL). A replay is rendered as
    /// the first answer was, from the same row and an identical request, and says so with
    /// `Idempotent-Replayed: true`. Any other failure is thrown, for `HTTPResponse(error:authenticated:)`.
    public init(plan: CallPlan, outcome: Result<[[String?]], any Error>) throws {
        switch outcome {
        case .success(let rows):
            try self.init(plan: plan, rows: rows)
        case .failure(let error as PGError) where error.sqlState == IdempotencySQL.replayState && plan.idempotencyKey != nil:
            guard case .array(let columns)? = error.detail.flatMap({ JSONValue(parsing: $0) }),
                  columns.count == 5, let row = Self.storedRow(columns) else {
                throw APIError.requestError(status: 500, code: "IK500", message: "The stored answer of this Idempotency-Key is unreadable",
                                            details: error.detail, hint: nil)
            }
            try self.init(plan: plan, rows: [row])
            headers.append(("Idempotent-Replayed", "true"))
        case .failure(let error):
            throw error
        }
    }

    /// The stored columns: strings, or null for NULL; nil for anything else.
    private static func storedRow(_ columns: [JSONValue]) -> [String?]? {
        var row: [String?] = []
        for column in columns {
            switch column {
            case .string(let text): row.append(text)
            case .null: row.append(nil)
            default: return nil
            }
        }
        return row
    }
}
