import CLibPQ
// The connection itself (and its socket, consumeInput, notifications) is PGClient's; GatewayCore's
// API hands PGConnection and PGError out, so its users see them through this module.
@_exported import PGClient

/// libpq's pipeline mode on an existing connection: the send/receive calls the event loops' pool
/// connections use (prepared statements, one sync per request, results read in order).
extension PGConnection {
    /// Queues a Parse of `sql` as the named statement (parameter types come from the casts in the SQL).
    func sendPrepare(name: String, sql: String) -> Bool {
        PQsendPrepare(raw, name, sql, 0, nil) == 1
    }

    /// Queues Bind/Execute of a prepared statement with text parameters (`nil` is SQL NULL).
    func sendQueryPrepared(name: String, parameters: [String?]) -> Bool {
        withParameterArray(parameters) { PQsendQueryPrepared(raw, name, $0, $1, nil, nil, 0) == 1 }
    }

    /// Queues Parse/Bind/Execute of an unnamed statement (used once, not cached).
    func sendQuery(sql: String, parameters: [String?]) -> Bool {
        withParameterArray(parameters) { PQsendQueryParams(raw, sql, $0, nil, $1, nil, nil, 0) == 1 }
    }

    /// Passes the parameters as C strings laid out in one buffer (one allocation, not one per value).
    private func withParameterArray(_ parameters: [String?],
                                    _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Bool) -> Bool {
        if parameters.isEmpty { return body(0, nil) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(parameters.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 })
        var offsets: [Int] = []
        offsets.reserveCapacity(parameters.count)
        for parameter in parameters {
            guard let parameter else { offsets.append(-1); continue }
            offsets.append(buffer.count)
            buffer.append(contentsOf: parameter.utf8)
            buffer.append(0)
        }
        return buffer.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!)
            let values: [UnsafePointer<CChar>?] = offsets.map {
                $0 < 0 ? nil : (base + $0).assumingMemoryBound(to: CChar.self)
            }
            return body(Int32(values.count), values)
        }
    }

    /// Ends the current request's statements: its implicit transaction commits here, and an error
    /// inside it aborts only the statements up to this point.
    func pipelineSync() -> Bool { PQpipelineSync(raw) == 1 }

    /// The next result in pipeline order (NULL between statements); the caller clears it.
    func nextResult() -> OpaquePointer? { PQgetResult(raw) }
}

/// Reads every row of a tuples result as text (`nil` for SQL NULL), using the known lengths.
func pgRows(_ result: OpaquePointer) -> [[String?]] {
    let rowCount = PQntuples(result), columnCount = PQnfields(result)
    var rows: [[String?]] = []
    rows.reserveCapacity(Int(rowCount))
    for row in 0..<rowCount {
        var values: [String?] = []
        values.reserveCapacity(Int(columnCount))
        for column in 0..<columnCount {
            if PQgetisnull(result, row, column) == 1 { values.append(nil); continue }
            let length = Int(PQgetlength(result, row, column))
            let bytes = UnsafeRawPointer(PQgetvalue(result, row, column)!).assumingMemoryBound(to: UInt8.self)
            values.append(String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self))
        }
        rows.append(values)
    }
    return rows
}

/// Adds the gateway's connection defaults to a libpq connection string or URI without overriding
/// the user's: `fallback_application_name=gateway` (visible in pg_stat_activity) and a connect timeout.
func gatewayConnInfo(_ conninfo: String, applicationName: String = "gateway") -> String {
    var extras: [(String, String)] = [("fallback_application_name", applicationName)]
    if !conninfo.contains("connect_timeout") { extras.append(("connect_timeout", "5")) }
    if conninfo.hasPrefix("postgres://") || conninfo.hasPrefix("postgresql://") {
        let query = extras.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        return conninfo + (conninfo.contains("?") ? "&" : "?") + query
    }
    return ([conninfo] + extras.map { "\($0.0)=\($0.1)" }).joined(separator: " ")
}
