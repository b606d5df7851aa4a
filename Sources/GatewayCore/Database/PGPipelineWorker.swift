import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// One pool connection and the thread that drives it: connect (capped exponential backoff), take a
/// share of the queue, send every taken request in one flush, read the results in order, complete.
/// Owns the connection's prepared-statement cache (SQL text -> statement name), reset on reconnect.
final class PGPipelineWorker {
    private let pool: PGPool
    private let index: Int
    private var connection: PGConnection?
    private var statementNames: [String: String] = [:]
    private var nextStatement = 0
    private var backoff: UInt64 = PGPipelineWorker.firstBackoff
    private var everConnected = false
    static let firstBackoff: UInt64 = 500_000_000
    /// Capped at 1 s: a restarted or promoted database is in use again within about a second
    /// (benchmarks/faults measures it); a refused local connection attempt costs next to nothing.
    /// The schema-cache listener (PGListener) reconnects on the same schedule.
    static let maxBackoff: UInt64 = 1_000_000_000
    private static let maxCachedStatements = 2_000

    init(pool: PGPool, index: Int) {
        self.pool = pool
        self.index = index
    }

    func run() {
        while !pool.stopping.load(ordering: .relaxed) {
            guard let connection = connectIfNeeded() else { continue }
            let jobs = pool.queue.take(timeout: 1_000_000_000)
            if jobs.isEmpty {
                if !stillConnected(connection) { disconnect() }
                continue
            }
            pool.busy.wrappingAdd(1, ordering: .relaxed)
            execute(jobs, on: connection)
            pool.busy.wrappingSubtract(1, ordering: .relaxed)
        }
        if connection != nil { disconnect() }
    }

    // MARK: Connection lifecycle

    private func connectIfNeeded() -> PGConnection? {
        if let connection { return connection }
        do {
            let fresh = try PGConnection(pool.conninfo)
            try fresh.enterPipelineMode()
            connection = fresh
            statementNames = [:]
            if backoff != Self.firstBackoff || everConnected { GatewayMetrics.shared.databaseReconnected() }
            everConnected = true
            backoff = Self.firstBackoff
            if pool.healthy.wrappingAdd(1, ordering: .relaxed).oldValue == 0 {
                Observation.log(.info, "\(pool.logPrefix)database connection established")
            }
            return fresh
        } catch {
            let message = (error as? PGError)?.message ?? "\(error)"
            pool.noteConnectionError(message)
            if index == 0 {
                Observation.log(.error, "\(pool.logPrefix)database connection failed, retrying in \(backoff / 1_000_000) ms: \(message)")
            }
            sleepNanoseconds(backoff)
            backoff = min(backoff * 2, Self.maxBackoff)
            return nil
        }
    }

    /// Drops the connection; when it was the last open one, fails the waiting requests with 503.
    private func disconnect() {
        guard connection != nil else { return }
        connection = nil
        statementNames = [:]
        if pool.healthy.wrappingSubtract(1, ordering: .relaxed).oldValue == 1 {
            Observation.log(.error, "\(pool.logPrefix)lost every database connection: \(pool.lastErrorMessage)")
            pool.fail(pool.queue.drain(), with: APIError.databaseUnavailable(message: pool.lastErrorMessage))
        }
    }

    /// While idle, notices a closed socket (server restart, pg_terminate_backend) before a request does.
    private func stillConnected(_ connection: PGConnection) -> Bool {
        var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 0) > 0 else { return connection.isHealthy }
        let alive = connection.consumeInput()
        if !alive { pool.noteConnectionError(connection.connectionError().message) }
        return alive
    }

    // MARK: One batch, one round trip

    /// How one statement of a batch is sent.
    private enum Send {
        case prepared(String)               // cached: Bind/Execute only
        case prepareAndRun(String, String)  // name, SQL: Parse inside the request's transaction, then run
        case unnamed                        // being prepared by an earlier request of this batch
    }

    private func execute(_ jobs: [PGJob], on connection: PGConnection) {
        if statementNames.count > Self.maxCachedStatements {
            disconnect()   // simplest way to forget server-side statements; reconnects right away
            pool.fail(jobs, with: APIError.databaseUnavailable(message: "statement cache reset, retry"))
            return
        }
        // New statement texts are parsed inside the request's own transaction, after its context
        // statement switched the role (name lookups check the caller's schema privileges), and
        // become cached only once their Parse succeeded.
        var preparing: Set<String> = []
        var plans: [[Send]] = []
        plans.reserveCapacity(jobs.count)
        var sent = true
        for job in jobs {
            var plan: [Send] = []
            for statement in job.statements {
                let send: Send
                if let name = statementNames[statement.sql] {
                    send = .prepared(name)
                    sent = sent && connection.sendQueryPrepared(name: name, parameters: statement.parameters)
                } else if preparing.contains(statement.sql) {
                    send = .unnamed
                    sent = sent && connection.sendQuery(sql: statement.sql, parameters: statement.parameters)
                } else {
                    let name = "gw\(nextStatement)"
                    nextStatement += 1
                    preparing.insert(statement.sql)
                    send = .prepareAndRun(name, statement.sql)
                    sent = sent && connection.sendPrepare(name: name, sql: statement.sql)
                        && connection.sendQueryPrepared(name: name, parameters: statement.parameters)
                }
                plan.append(send)
            }
            sent = sent && connection.pipelineSync()
            plans.append(plan)
        }
        guard sent && connection.flush() else { return lost(jobs[...], connection) }

        for (position, job) in jobs.enumerated() {
            guard let outcome = read(job, plans[position], connection) else {
                return lost(jobs[position...], connection)
            }
            job.completion(outcome)
        }
    }

    /// Reads one request's results up to and including its sync; nil when the connection broke.
    private func read(_ job: PGJob, _ plan: [Send], _ connection: PGConnection) -> Result<[[String?]], any Error>? {
        var failure: PGError?
        var rows: [[String?]] = []
        for (position, send) in plan.enumerated() {
            if case .prepareAndRun(let name, let sql) = send {
                guard let result = connection.nextResult() else { return nil }
                let status = PQresultStatus(result)
                if status == PGRES_COMMAND_OK {
                    statementNames[sql] = name
                } else if status != PGRES_PIPELINE_ABORTED, failure == nil {
                    failure = PGError(result: result, connection: connection.raw)
                }
                PQclear(result)
                guard endOfStatement(connection) else { return nil }
            }
            guard let result = connection.nextResult() else { return nil }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK:
                if position == plan.count - 1 { rows = pgRows(result) }
            case PGRES_COMMAND_OK, PGRES_PIPELINE_ABORTED:
                break
            default:
                if failure == nil { failure = PGError(result: result, connection: connection.raw) }
            }
            PQclear(result)
            guard endOfStatement(connection) else { return nil }
        }
        guard readSync(connection) else { return nil }
        if let failure { return .failure(failure) }
        return .success(rows)
    }

    /// Each statement's results end with a NULL; anything else means the stream is out of step.
    private func endOfStatement(_ connection: PGConnection) -> Bool {
        guard let extra = connection.nextResult() else { return true }
        PQclear(extra)
        return false
    }

    private func readSync(_ connection: PGConnection) -> Bool {
        guard let result = connection.nextResult() else { return false }
        defer { PQclear(result) }
        return PQresultStatus(result) == PGRES_PIPELINE_SYNC
    }

    /// The connection broke mid-batch: requests not yet answered get 503, and the thread reconnects.
    private func lost(_ jobs: ArraySlice<PGJob>, _ connection: PGConnection) {
        let message = connection.connectionError().message
        pool.noteConnectionError(message)
        Observation.log(.error, "\(pool.logPrefix)database connection lost: \(message)")
        disconnect()
        pool.fail(Array(jobs), with: APIError.databaseUnavailable(message: message))
    }
}
