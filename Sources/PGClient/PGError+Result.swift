import CLibPQ

extension PGError {
    /// Reads the diagnostic fields of a failed result (`PG_DIAG_*` macros are not imported into Swift).
    package init(result: OpaquePointer, connection: OpaquePointer?) {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let fallback = connection.flatMap { PQerrorMessage($0) }.map { String(cString: $0) } ?? "unknown error"
        self.init(
            sqlState: field("C") ?? "08006",
            message: field("M") ?? fallback.trimmingTrailingNewlines(),
            detail: field("D"),
            hint: field("H")
        )
    }
}
