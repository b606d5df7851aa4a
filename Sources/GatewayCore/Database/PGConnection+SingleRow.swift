import CLibPQ

/// libpq's single-row mode in a pipeline (§34.6, §34.5): the rows of the query at the head of the
/// result queue come as one `PGRES_SINGLE_TUPLE` result each, then a `PGRES_TUPLES_OK` without rows
/// (or the error that stopped the query).
extension PGConnection {
    /// Asks for the next query's rows one at a time; valid only right after the previous query's
    /// results were read to their NULL, before anything parses the next one (then false: its rows
    /// come whole, which the reader handles too).
    func setSingleRowMode() -> Bool { PQsetSingleRowMode(raw) == 1 }
}

/// One row of a result, its columns read without copying (valid while the result lives).
struct PGRow {
    fileprivate let result: OpaquePointer
    fileprivate let index: Int32

    var columnCount: Int { Int(PQnfields(result)) }

    /// The column's text bytes (nil: SQL NULL or no such column), valid during `body` only.
    func withBytes<R>(_ column: Int, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        let column = Int32(column)
        guard column < PQnfields(result), PQgetisnull(result, index, column) == 0, let value = PQgetvalue(result, index, column) else {
            return body(nil)
        }
        return body(UnsafeRawBufferPointer(start: value, count: Int(PQgetlength(result, index, column))))
    }

    /// The column as text (nil: SQL NULL).
    func text(_ column: Int) -> String? {
        withBytes(column) { $0.map { String(decoding: $0, as: UTF8.self) } }
    }
}

/// Hands the rows of a streamed statement's result to `stream` and frees it: every row of a
/// single-row or (when single-row mode could not be set) whole result. `kind` is `.row` for a
/// single row (more follow), else the final result's kind; `keepReading` is false once the consumer
/// asked to pause.
func consumeStreamed(_ result: OpaquePointer, into stream: PGRowStream, connection: PGConnection)
    -> (kind: PGResultKind, keepReading: Bool, error: PGError?) {
    defer { PQclear(result) }
    let status = PQresultStatus(result)
    switch status {
    case PGRES_SINGLE_TUPLE, PGRES_TUPLES_OK:
        var keepReading = true
        for index in 0..<PQntuples(result) {
            if !stream.deliver(PGRow(result: result, index: index)) { keepReading = false }
        }
        return (status == PGRES_SINGLE_TUPLE ? .row : .tuples, keepReading, nil)
    case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY: return (.command, true, nil)
    case PGRES_PIPELINE_ABORTED: return (.aborted, true, nil)
    default: return (.failed, true, PGError(result: result, connection: connection.raw))
    }
}
