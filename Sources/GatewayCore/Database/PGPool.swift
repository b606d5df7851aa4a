/// One loop's share of a database pool (primary or read): `connections` pipelined connections on
/// the loop's epoll, each carrying up to `depth` requests at once, and a bounded FIFO of requests
/// waiting for a slot. Admission control lives here: a request that finds every slot taken and the
/// FIFO full is refused at once (503 + Retry-After) instead of queueing for seconds, and one that
/// waits past `db-pool-acquisition-timeout` gets 504 PGRST003. Everything runs on the loop's thread.
public final class PGPool {
    let settings: PGPoolSettings
    let stats: PGPoolStats
    let epoll: Epoll
    private(set) var pipelines: [PGPipeline] = []
    private var waiting = RequestQueue()
    private var bySocket: [Int32: PGPipeline] = [:]
    private var stopping = false
    /// Work for streamed calls asked for inside the server's callbacks, done on the loop's next pass.
    private var scheduled: [(PGPipeline, Scheduled)] = []

    enum Scheduled { case resume, abandon(PGRowStream) }

    var conninfo: String { settings.conninfo }

    init(settings: PGPoolSettings, stats: PGPoolStats, epoll: Epoll) {
        self.settings = settings
        self.stats = stats
        self.epoll = epoll
        pipelines = (0..<settings.connections).map { _ in PGPipeline(pool: self, epoll: epoll) }
    }

    /// True while this loop has an open connection to this pool's database (or one closed on purpose
    /// and being made again at once).
    var isConnected: Bool { pipelines.contains { $0.isReady || $0.isReopening } }

    // MARK: Requests

    /// Sends the statements now when a connection has a free slot, else queues them; throws at once
    /// (nothing sent) when no connection is open here, the FIFO is full, or the pool is stopping.
    /// `completion` is called exactly once, later, on this loop, with the rows of statement
    /// `resultIndex` (nil: the last). With `rowStream` those rows go to it as they arrive, and the
    /// request is sent only to a connection with nothing in flight, which carries nothing else until
    /// it ends (a long stream would hold up the requests pipelined behind it).
    func submit(_ statements: [Statement], resultIndex: Int? = nil, rowStream: PGRowStream? = nil, now: UInt64,
                completion: @escaping (Result<[[String?]], any Error>) -> Void) throws {
        guard !stopping else { throw APIError.shuttingDown }
        guard isConnected else { throw APIError.databaseUnavailable(message: stats.lastErrorMessage) }
        let request = PGRequest(statements: statements, resultIndex: resultIndex, rowStream: rowStream, completion: completion)
        if waiting.isEmpty, let pipeline = leastLoaded(), fits(request, pipeline) {
            return dispatch(request, to: pipeline, now: now)
        }
        guard waiting.count < settings.maxWaiting, !lineIsStuck(now: now) else {
            throw APIError.overloaded(waiting: waiting.count)
        }
        request.queuedAt = now
        waiting.append(request)
        stats.waiting.wrappingAdd(1, ordering: .relaxed)
    }

    /// The oldest waiting request has waited past `db-pool-max-wait-ms`: the database is not keeping
    /// up, and a newcomer would wait at least as long (refused now rather than answered late).
    private func lineIsStuck(now: UInt64) -> Bool {
        guard settings.maxWaitNanoseconds > 0, let head = waiting.first, now > head.queuedAt else { return false }
        return now - head.queuedAt > settings.maxWaitNanoseconds
    }

    private func leastLoaded() -> PGPipeline? {
        var best: PGPipeline?
        for pipeline in pipelines where pipeline.isReady && !pipeline.isExclusive && pipeline.load < (best?.load ?? Int.max) {
            best = pipeline
            if pipeline.load == 0 { break }
        }
        return best
    }

    /// Whether `pipeline` may take `request` now: a free slot, and for a streamed call no other request.
    private func fits(_ request: PGRequest, _ pipeline: PGPipeline) -> Bool {
        pipeline.isReady && !pipeline.isExclusive && pipeline.load < (request.rowStream == nil ? settings.depth : 1)
    }

    private func dispatch(_ request: PGRequest, to pipeline: PGPipeline, now: UInt64) {
        if pipeline.load == 0 { stats.busy.wrappingAdd(1, ordering: .relaxed) }
        pipeline.send(request, now: now)
    }

    // MARK: From the connections

    /// A request's sync arrived: answer it, then give the freed slot to the oldest waiting request.
    func answered(_ request: PGRequest, by pipeline: PGPipeline, now: UInt64) {
        if pipeline.load == 0 { stats.busy.wrappingSubtract(1, ordering: .relaxed) }
        request.finish()
        fill(pipeline, now: now)
    }

    /// Gives a connection's free slots to the oldest waiting requests, in order (a streamed call at the
    /// head waits for a connection with nothing in flight, and the requests behind it with it).
    private func fill(_ pipeline: PGPipeline, now: UInt64) {
        while let head = waiting.first, fits(head, pipeline) {
            stats.waiting.wrappingSubtract(1, ordering: .relaxed)
            dispatch(waiting.removeFirst(), to: pipeline, now: now)
        }
    }

    /// A streamed call's connection was closed on purpose (its client left): the call gets an error
    /// nobody reads, and the connection is made again at once.
    func abandoned(_ pipeline: PGPipeline, unanswered: [PGRequest]) {
        Observation.log(.info, "\(stats.logPrefix)closed a connection carrying a streamed call whose client left; reconnecting")
        if !unanswered.isEmpty { stats.busy.wrappingSubtract(1, ordering: .relaxed) }
        stats.open.wrappingSubtract(1, ordering: .relaxed)
        for request in unanswered { request.completion(.failure(APIError.databaseUnavailable(message: "the client left"))) }
    }

    /// Asks for `work` on `pipeline` at the loop's next pass (`tick`).
    func schedule(_ pipeline: PGPipeline, _ work: Scheduled) { scheduled.append((pipeline, work)) }

    /// A request handed to a connection that is not ready (it broke while sending): 503.
    func bounce(_ request: PGRequest) {
        request.completion(.failure(APIError.databaseUnavailable(message: stats.lastErrorMessage)))
    }

    func connected(_ pipeline: PGPipeline, again: Bool) {
        if again { GatewayMetrics.shared.databaseReconnected() }
        if stats.open.wrappingAdd(1, ordering: .relaxed).oldValue == 0 {
            Observation.log(.info, "\(stats.logPrefix)database connection established")
        }
        fill(pipeline, now: monotonicNanoseconds())
    }

    func connectFailed(_ pipeline: PGPipeline, message: String) {
        stats.noteError(message)
        if pipeline === pipelines.first, stats.open.load(ordering: .relaxed) == 0 {
            Observation.log(.error, "\(stats.logPrefix)database connection failed, retrying: \(message)")
        }
    }

    /// A connection broke: its requests get 503; when it was this loop's last one, so do the waiting.
    func lost(_ pipeline: PGPipeline, message: String, unanswered: [PGRequest]) {
        stats.noteError(message)
        Observation.log(.error, "\(stats.logPrefix)database connection lost: \(message)")
        if !unanswered.isEmpty { stats.busy.wrappingSubtract(1, ordering: .relaxed) }
        if stats.open.wrappingSubtract(1, ordering: .relaxed).oldValue == 1 {
            Observation.log(.error, "\(stats.logPrefix)lost every database connection: \(message)")
        }
        let error = APIError.databaseUnavailable(message: message)
        for request in unanswered { request.completion(.failure(error)) }
        if !isConnected { failWaiting(error) }
    }

    private func failWaiting(_ error: any Error) {
        let all = waiting.removeAll()
        stats.waiting.wrappingSubtract(all.count, ordering: .relaxed)
        for request in all { request.completion(.failure(error)) }
    }

    // MARK: The loop's side

    func register(_ socket: Int32, _ pipeline: PGPipeline) { bySocket[socket] = pipeline }
    func unregister(_ socket: Int32) { bySocket[socket] = nil }

    /// Handles an epoll event when `socket` is one of this pool's; false otherwise.
    func handle(socket: Int32, events: UInt32, now: UInt64) -> Bool {
        guard let pipeline = bySocket[socket] else { return false }
        pipeline.handle(events, now: now)
        return true
    }

    /// Reconnects what is due and expires waiting requests; returns the next time it must run.
    func tick(now: UInt64) -> UInt64 {
        while !scheduled.isEmpty {
            let work = scheduled
            scheduled.removeAll()
            for (pipeline, what) in work {
                switch what {
                case .resume: pipeline.resumed(now: now)
                case .abandon(let stream): pipeline.abandon(stream, now: now)
                }
            }
        }
        var next = UInt64.max
        if !stopping {
            for pipeline in pipelines {
                guard let at = pipeline.retryAt else { continue }
                if at <= now { pipeline.due(now: now) } else { next = min(next, at) }
                if let again = pipeline.retryAt { next = min(next, again) }
            }
        }
        let timeout = UInt64(settings.acquisitionTimeout) * 1_000_000_000
        while let head = waiting.first, head.queuedAt + timeout <= now {
            _ = waiting.removeFirst()
            stats.waiting.wrappingSubtract(1, ordering: .relaxed)
            head.completion(.failure(APIError.poolTimeout(seconds: settings.acquisitionTimeout)))
        }
        if let head = waiting.first { next = min(next, head.queuedAt + timeout) }
        return next
    }

    /// Stops: waiting requests get 503, new ones are refused; in-flight ones still finish.
    func beginShutdown() {
        stopping = true
        failWaiting(APIError.shuttingDown)
    }

    /// Closes every connection (after the in-flight requests finished, or at the deadline).
    func close() {
        for pipeline in pipelines {
            let wasOpen = pipeline.isReady
            let unanswered = pipeline.close()
            if wasOpen { stats.open.wrappingSubtract(1, ordering: .relaxed) }
            if !unanswered.isEmpty { stats.busy.wrappingSubtract(1, ordering: .relaxed) }
            for request in unanswered { request.completion(.failure(APIError.shuttingDown)) }
        }
    }
}
