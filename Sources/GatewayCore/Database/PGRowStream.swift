/// The receiving end of a streamed call: the rows of the call statement arrive one at a time as
/// PostgreSQL sends them (libpq's single-row mode), so a result of any size passes through without
/// being held whole. The consumer may pause the connection (back-pressure: the connection stops
/// reading its socket, and PostgreSQL then blocks on its send, bounded by the TCP buffers) and
/// resume it, or stop the call (its client left). A request carrying one has its connection to
/// itself until it ends (`PGPool`). Lives on one loop's thread.
final class PGRowStream {
    /// One row of the call (its columns readable during the call only); false pauses the reading
    /// until `resume()`.
    let onRow: (PGRow) -> Bool
    /// Rows delivered so far.
    private(set) var rows = 0
    /// Set by the connection while it carries the stream.
    weak var connection: (any PGRowStreamControl)?

    init(onRow: @escaping (PGRow) -> Bool) { self.onRow = onRow }

    func deliver(_ row: PGRow) -> Bool {
        rows += 1
        return onRow(row)
    }

    /// Reading may go on (the consumer drained what it had).
    func resume() { connection?.resumeReading() }

    /// The rows are no longer wanted: the call is stopped and the connection made clean for the next
    /// request. The completion still comes (with an error).
    func stop() { connection?.stopCall(self) }
}

/// What a connection carrying a `PGRowStream` offers its consumer.
protocol PGRowStreamControl: AnyObject {
    func resumeReading()
    func stopCall(_ stream: PGRowStream)
}
