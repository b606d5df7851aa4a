import CLibPQ

/// The non-blocking side of a connection, for the event loops (libpq §34.4, §34.5): connect without
/// waiting, then send and read in pipeline mode, never blocking the loop's thread.
extension PGConnection {
    /// Where a non-blocking connection attempt stands.
    enum ConnectProgress { case waitingToRead, waitingToWrite, connected, failed(String) }

    /// Begins connecting (`PQconnectStart`); the socket is then driven with `continueConnecting`.
    /// A unix socket or numeric `hostaddr` keeps this from blocking (a host name means a DNS lookup).
    convenience init(starting conninfo: String) throws {
        try self.init(PQconnectStart(conninfo), failed: { PQstatus($0) == CONNECTION_BAD })
    }

    /// One step of the connection handshake (`PQconnectPoll`); re-read `socket` after each.
    func continueConnecting() -> ConnectProgress {
        switch PQconnectPoll(raw) {
        case PGRES_POLLING_READING: return .waitingToRead
        case PGRES_POLLING_WRITING: return .waitingToWrite
        case PGRES_POLLING_OK: return .connected
        default: return .failed(errorMessage)
        }
    }

    /// Switches to non-blocking sends and pipeline mode once connected.
    func enterNonBlockingPipeline() -> Bool {
        PQsetnonblocking(raw, 1) == 0 && PQenterPipelineMode(raw) == 1
    }

    /// True while reading the next result would block.
    var isBusy: Bool { PQisBusy(raw) == 1 }

    /// Sends what is queued without blocking: 0 all sent, 1 some left (wait for writable), -1 failed.
    func flushSome() -> Int32 { PQflush(raw) }

    /// Reads what arrived on the socket; false when the connection is gone.
    func readInput() -> Bool { PQconsumeInput(raw) == 1 }
}

/// What the loop needs to know of one pipeline result (`row`: one row of a streamed statement).
enum PGResultKind { case tuples, row, command, aborted, sync, failed }

/// Reads a result's kind, its rows when `wantRows`, and its error; frees it.
func consume(_ result: OpaquePointer, wantRows: Bool, connection: PGConnection)
    -> (kind: PGResultKind, rows: [[String?]], error: PGError?) {
    defer { PQclear(result) }
    switch PQresultStatus(result) {
    case PGRES_TUPLES_OK: return (.tuples, wantRows ? pgRows(result) : [], nil)
    case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY: return (.command, [], nil)
    case PGRES_PIPELINE_ABORTED: return (.aborted, [], nil)
    case PGRES_PIPELINE_SYNC: return (.sync, [], nil)
    default: return (.failed, [], PGError(result: result, connection: connection.raw))
    }
}
