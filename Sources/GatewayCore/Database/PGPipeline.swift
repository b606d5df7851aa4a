/// One database connection of a loop's pool, non-blocking and in pipeline mode, driven by the loop's
/// epoll: connects with backoff, sends each request's statements plus one sync as soon as it is
/// handed over, reads results in order whenever the socket is readable, and answers each request
/// on the loop's thread. Owns the connection's prepared-statement cache (SQL text -> name).
final class PGPipeline: PGRowStreamControl {
    enum State: Equatable { case waiting(retryAt: UInt64), connecting, ready }

    private unowned let pool: PGPool
    private let epoll: Epoll
    private(set) var state: State = .waiting(retryAt: 0)
    private var connection: PGConnection?
    private var socket: Int32 = -1
    private var watchingWrites = false
    /// A streamed call's consumer asked for a pause: the socket is not read (nor watched for reading).
    private var paused = false
    /// Requests sent and not yet answered, in pipeline order.
    private(set) var inFlight = RequestQueue()
    /// Where reading stands in the head request: its next step, and whether its NULL comes next.
    private var step = 0
    private var wantNull = false
    /// The head request's transaction failed as it ended (COMMIT at the sync, e.g. a deferred
    /// constraint): its sync is still to come, and libpq may answer one NULL before it.
    private var failedAtSync = false
    private var nullAfterFailure = false
    private var statementNames: [String: String] = [:]
    /// The names found last, tried before `statementNames`: a call's SQL comes from caches
    /// (ContextStatement.texts, CallSQLCache) that hand out the same String each time, and comparing a
    /// String with itself costs next to nothing, where hashing a long text for the dictionary cost
    /// about 2,200 instructions a statement (callgrind, get_widget: two statements a call).
    private var recentNames: [(sql: String, name: String)] = []
    private static let recentNamesKept = 8
    private var preparing: Set<String> = []
    private var nextStatement = 0
    private var backoff = Backoff()
    private var everConnected = false
    /// The last connection was closed on purpose (`abandon`): the next one is no reconnection.
    private var closedOnPurpose = false
    /// A connection attempt still under way at this time is given up (libpq's non-blocking connect
    /// has no timeout of its own).
    private var connectDeadline = UInt64.max
    static let connectTimeout: UInt64 = 5_000_000_000
    private static let maxCachedStatements = 2_000
    /// Bytes of SQL text prepared on one connection at most, and the largest statement prepared: the
    /// shapes of function results are the client's choice (`select`, filters), so the count alone
    /// would let large one-off shapes pin memory in the gateway and the backend for the connection's
    /// life. Beyond these, statements run unprepared.
    static let maxPreparedBytes = 1 << 20
    static let maxPreparedStatementBytes = 8 << 10
    private var preparedBytes = 0

    /// Whether a statement of `size` bytes is prepared, with `count` statements of `bytes` prepared.
    static func mayPrepare(_ size: Int, count: Int, bytes: Int) -> Bool {
        count < maxCachedStatements && size <= maxPreparedStatementBytes && bytes + size <= maxPreparedBytes
    }

    init(pool: PGPool, epoll: Epoll) {
        self.pool = pool
        self.epoll = epoll
    }

    var isReady: Bool { state == .ready }
    var load: Int { inFlight.count }
    /// Being made again right after `abandon` closed it: requests may wait for it.
    var isReopening: Bool { closedOnPurpose && state != .ready }
    /// Carrying a streamed call: no other request is sent behind it until it ends.
    var isExclusive: Bool { inFlight.first?.rowStream != nil }

    /// The next time this connection needs the loop without an event (a reconnect, or giving up a
    /// connection attempt), if any.
    var retryAt: UInt64? {
        switch state {
        case .waiting(let at): return at
        case .connecting: return connectDeadline
        case .ready: return nil
        }
    }

    /// Called by the pool when `retryAt` has come: connects, or gives up an attempt that hangs.
    func due(now: UInt64) {
        switch state {
        case .waiting: connect(now: now)
        case .connecting: failed("timeout expired while connecting", now: now)
        case .ready: return
        }
    }

    // MARK: Connecting

    /// Starts a connection attempt (non-blocking); failures schedule the next one.
    func connect(now: UInt64) {
        do {
            let fresh = try PGConnection(starting: pool.conninfo)
            connection = fresh
            state = .connecting
            connectDeadline = now + Self.connectTimeout
            watch(fresh.socket, writable: true)
        } catch {
            failed((error as? PGError)?.message ?? "\(error)", now: now)
        }
    }

    private func continueConnecting(now: UInt64) {
        guard let connection else { return }
        let progress = connection.continueConnecting()
        // libpq may have closed the socket and opened another (the next host of a multi-host URI, or
        // a retry) that got the same number: closing removed it from epoll, so register it afresh.
        switch progress {
        case .waitingToRead: watch(connection.socket, writable: false)
        case .waitingToWrite: watch(connection.socket, writable: true)
        case .failed(let message): failed(message, now: now)
        case .connected:
            guard connection.enterNonBlockingPipeline() else { return failed(connection.errorMessage, now: now) }
            watch(connection.socket, writable: false)
            state = .ready
            statementNames = [:]
            recentNames = []
            preparedBytes = 0
            preparing = []
            backoff.succeeded()
            pool.connected(self, again: everConnected && !closedOnPurpose)
            everConnected = true
            closedOnPurpose = false
        }
    }

    private func failed(_ message: String, now: UInt64) {
        closedOnPurpose = false
        unwatch()
        connection = nil
        state = .waiting(retryAt: now + backoff.delay)
        backoff.failed()
        pool.connectFailed(self, message: message)
    }

    // MARK: Events

    /// The loop saw `events` on this connection's socket.
    func handle(_ events: UInt32, now: UInt64) {
        switch state {
        case .waiting: return
        case .connecting: continueConnecting(now: now)
        case .ready:
            guard let connection else { return }
            if events & (Epoll.readable | Epoll.failed) != 0 {
                guard connection.readInput() else { return lost(connection.errorMessage, now: now) }
                readResults(connection, now: now)
                guard state == .ready else { return }
            }
            flush(connection, now: now)
        }
    }

    // MARK: Sending

    /// Sends a request's statements and its sync; when the connection breaks meanwhile, the request
    /// is answered 503 with the others in flight (`lost`).
    func send(_ request: PGRequest, now: UInt64) {
        guard let connection, state == .ready else { return pool.bounce(request) }
        var sent = true
        request.steps.removeAll(keepingCapacity: true)
        request.rowStream?.connection = self
        for (index, statement) in request.statements.enumerated() {
            let wanted = index == request.resultIndex
            if let name = preparedName(statement.sql) {
                sent = sent && connection.sendQueryPrepared(name: name, parameters: statement.parameters)
            } else if preparing.contains(statement.sql) || !Self.mayPrepare(statement.sql.utf8.count, count: statementNames.count,
                                                                                    bytes: preparedBytes) {
                sent = sent && connection.sendQuery(sql: statement.sql, parameters: statement.parameters)
            } else {
                // Parsed inside the request's own transaction, after its context statement switched
                // the role (name lookups check the caller's privileges); cached once the Parse succeeds.
                let name = "gw\(nextStatement)"
                nextStatement += 1
                preparing.insert(statement.sql)
                request.steps.append(.parse(name: name, sql: statement.sql))
                sent = sent && connection.sendPrepare(name: name, sql: statement.sql)
                    && connection.sendQueryPrepared(name: name, parameters: statement.parameters)
            }
            request.steps.append(.execute(wanted: wanted))
        }
        sent = sent && connection.pipelineSync()
        inFlight.append(request)
        guard sent else { return lost(connection.errorMessage, now: now) }
        flush(connection, now: now)
    }

    /// The prepared statement's name for `sql` on this connection, if it has one.
    private func preparedName(_ sql: String) -> String? {
        if let recent = recentNames.first(where: { $0.sql == sql }) { return recent.name }
        guard let name = statementNames[sql] else { return nil }
        if recentNames.count == Self.recentNamesKept { recentNames.removeFirst() }
        recentNames.append((sql, name))
        return name
    }

    private func flush(_ connection: PGConnection, now: UInt64) {
        switch connection.flushSome() {
        case 0: setWritable(false)
        case 1: setWritable(true)
        default: lost(connection.errorMessage, now: now)
        }
    }

    // MARK: Reading

    /// Reads every complete result, answering requests as their syncs arrive (never blocks: a
    /// result is only asked for when libpq holds it whole).
    private func readResults(_ connection: PGConnection, now: UInt64) {
        while let request = inFlight.first, !paused, !connection.isBusy {
            let result = connection.nextResult()
            if wantNull {
                guard result == nil else { return lost("the result stream is out of step", now: now) }
                wantNull = false
                step += 1
                // The streamed statement is now at the head of libpq's queue and nothing of it was
                // parsed yet: the one moment single-row mode can be asked for.
                if request.rowStream != nil, step < request.steps.count, case .execute(wanted: true) = request.steps[step] {
                    _ = connection.setSingleRowMode()
                }
                continue
            }
            guard let result else {
                if failedAtSync, !nullAfterFailure { nullAfterFailure = true; continue }
                // Between statements libpq answers NULL only once per statement (handled above).
                return lost("the server closed the connection unexpectedly", now: now)
            }
            if step == request.steps.count {
                let (kind, _, error) = consume(result, wantRows: false, connection: connection)
                if kind == .failed, !failedAtSync {
                    // The implicit COMMIT at the sync failed: the request gets that error (nothing stayed).
                    failedAtSync = true
                    if request.failure == nil { request.failure = error }
                    continue
                }
                guard kind == .sync else { return lost("expected the end of a request, got another result", now: now) }
                failedAtSync = false
                nullAfterFailure = false
                _ = inFlight.removeFirst()
                step = 0
                request.rowStream?.connection = nil
                pool.answered(request, by: self, now: now)
                continue
            }
            switch request.steps[step] {
            case .parse(let name, let sql):
                let (kind, _, error) = consume(result, wantRows: false, connection: connection)
                preparing.remove(sql)
                if kind == .command {
                    statementNames[sql] = name
                    preparedBytes += sql.utf8.count
                }
                if request.failure == nil { request.failure = error }
            case .execute(let wanted):
                if wanted, let stream = request.rowStream {
                    let (kind, keepReading, error) = consumeStreamed(result, into: stream, connection: connection)
                    if request.failure == nil { request.failure = error }
                    if !keepReading { pause() }
                    if kind == .row { continue }   // single rows follow each other without NULLs
                } else {
                    let (kind, rows, error) = consume(result, wantRows: wanted, connection: connection)
                    if kind == .tuples, wanted { request.rows = rows }
                    if request.failure == nil { request.failure = error }
                }
            }
            wantNull = true
        }
    }

    /// The connection broke: requests in flight get 503 (a write's outcome is unknown), and the
    /// connection is made again after the backoff.
    private func lost(_ message: String, now: UInt64) {
        let unanswered = drop(retryAt: now + backoff.delay)
        pool.lost(self, message: message, unanswered: unanswered)
    }

    /// Closes the connection and forgets where reading stood; returns the requests in flight.
    private func drop(retryAt: UInt64) -> [PGRequest] {
        unwatch()
        connection = nil
        state = .waiting(retryAt: retryAt)
        step = 0
        wantNull = false
        failedAtSync = false
        nullAfterFailure = false
        paused = false
        let unanswered = inFlight.removeAll()
        for request in unanswered { request.rowStream?.connection = nil }
        return unanswered
    }

    // MARK: Streamed calls

    /// Stops reading the socket until `resumeReading` (PostgreSQL blocks on its send meanwhile).
    private func pause() {
        guard !paused else { return }
        paused = true
        updateInterest()
    }

    /// The stream's consumer drained: reading goes on from the loop's next pass (`resumed`), not
    /// from inside the server's callback that drained it.
    func resumeReading() {
        guard paused else { return }
        paused = false
        updateInterest()
        pool.schedule(self, .resume)
    }

    /// The stream's client left: the call is dropped from the loop's next pass (`abandon`).
    func stopCall(_ stream: PGRowStream) {
        pool.schedule(self, .abandon(stream))
    }

    /// Reads what libpq already holds (the socket may have nothing more to wake epoll with).
    func resumed(now: UInt64) {
        guard let connection, state == .ready else { return }
        readResults(connection, now: now)
        guard state == .ready else { return }
        flush(connection, now: now)
    }

    /// Ends a streamed call nobody waits for any more by closing its connection (it carries nothing
    /// else): the backend's next send fails and its transaction ends, rolled back. A new connection
    /// is made at once. Cancelling instead would need PQcancel, which blocks, on another thread, and
    /// a guard against the cancel reaching the connection's next request.
    func abandon(_ stream: PGRowStream, now: UInt64) {
        guard inFlight.first?.rowStream === stream, state == .ready else { return }
        closedOnPurpose = true
        pool.abandoned(self, unanswered: drop(retryAt: now))
    }

    /// Closes the connection (shutdown); requests still in flight are failed by the pool.
    func close() -> [PGRequest] {
        drop(retryAt: UInt64.max)
    }

    // MARK: epoll registration

    private func watch(_ descriptor: Int32, writable: Bool) {
        unwatch()
        socket = descriptor
        watchingWrites = writable
        if descriptor >= 0 { epoll.add(descriptor, writable: writable); pool.register(descriptor, self) }
    }

    private func unwatch() {
        if socket >= 0 { epoll.remove(socket); pool.unregister(socket) }
        socket = -1
        watchingWrites = false
    }

    private func setWritable(_ writable: Bool) {
        guard writable != watchingWrites else { return }
        watchingWrites = writable
        updateInterest()
    }

    private func updateInterest() {
        guard socket >= 0 else { return }
        epoll.modify(socket, writable: watchingWrites, readable: !paused)
    }
}
