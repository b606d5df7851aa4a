import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection; the single owner of its `PGconn` and the funnel through which every libpq
/// error becomes a `PGError`. Not thread-safe: use one per thread or guard it with the pool.
///
/// This target is the platform's one libpq client: the gateway (GatewayCore's `Database/` extends it
/// with the pipeline and single-row calls its event loops make, through the package-wide `raw`) and
/// the workers' package (their NOTIFY listener) both use it; nothing else calls `PQ*`.
public final class PGConnection {
    package let raw: OpaquePointer

    /// Connects with a libpq connection string or URI (`postgres://user@/db?host=/path&port=5432`).
    public convenience init(_ conninfo: String) throws {
        try self.init(PQconnectdb(conninfo), failed: { PQstatus($0) != CONNECTION_OK })
    }

    /// Takes ownership of a connection libpq made (or is making, `PQconnectStart`), unless `failed`
    /// says it is unusable: then it is finished and its error thrown (SQLSTATE 08006).
    package init(_ conn: OpaquePointer?, failed: (OpaquePointer) -> Bool) throws {
        guard let conn else { throw PGError(sqlState: "08006", message: "out of memory while connecting") }
        guard !failed(conn) else {
            let message = String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines()
            PQfinish(conn)
            throw PGError(sqlState: "08006", message: message)
        }
        raw = conn
    }

    deinit { PQfinish(raw) }

    /// Runs one or more statements with the simple query protocol (no parameters) and returns the
    /// rows of the last one. Used for scripts such as migrations.
    @discardableResult
    public func execute(_ sql: String) throws -> [[String?]] {
        try rows(of: PQexec(raw, sql))
    }

    /// Runs one statement with `$1..$n` bound as text parameters (`nil` is SQL NULL).
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        let result = withCStrings(parameters) { values in
            PQexecParams(raw, sql, Int32(values.count), nil, values, nil, nil, 0)
        }
        return try rows(of: result)
    }

    /// The single place a `PGresult` is checked, read and freed.
    private func rows(of result: OpaquePointer?) throws -> [[String?]] {
        guard let result else { throw connectionError() }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return []
        case PGRES_TUPLES_OK:
            let rowCount = PQntuples(result), columnCount = PQnfields(result)
            return (0..<rowCount).map { row in
                (0..<columnCount).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                }
            }
        default:
            throw PGError(result: result, connection: raw)
        }
    }
}

/// Calls `body` with the strings as a C array of NUL-terminated strings (NULL for nil) that lives
/// only for the duration of the call.
package func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let owned: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { owned.forEach { free($0) } }
    return body(owned.map { $0.map { UnsafePointer($0) } })
}

/// Waiting on the connection's socket between statements: what a LISTEN session needs.
extension PGConnection {
    /// The socket, for `poll(2)` or epoll while idle.
    public var socket: Int32 { PQsocket(raw) }

    /// Reads what the server sent while idle; false when the connection is gone.
    public func consumeInput() -> Bool { PQconsumeInput(raw) == 1 && PQstatus(raw) == CONNECTION_OK }

    /// Pending notifications (channel, payload) received by `consumeInput`, in arrival order.
    public func notifications() -> [(channel: String, payload: String)] {
        var received: [(channel: String, payload: String)] = []
        while let notify = PQnotifies(raw) {
            received.append((String(cString: notify.pointee.relname), String(cString: notify.pointee.extra)))
            PQfreemem(notify)
        }
        return received
    }

    /// The connection's current error message (libpq's, without its trailing newline).
    public var errorMessage: String { String(cString: PQerrorMessage(raw)).trimmingTrailingNewlines() }

    /// The connection's current error as a `PGError` with SQLSTATE 08006.
    public func connectionError() -> PGError { PGError(sqlState: "08006", message: errorMessage) }
}
