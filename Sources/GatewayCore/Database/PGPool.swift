import Dispatch
import Synchronization

/// The bounded connection pool: `size` libpq connections in pipeline mode, each driven by its own
/// thread (`PGPipelineWorker`) that takes requests from one shared queue and sends each taken batch
/// in a single network round trip, one pipeline sync per request. Requests never wait on a thread
/// of their caller: `submit` returns at once and the completion runs on the connection's thread.
public final class PGPool: Sendable {
    let conninfo: String
    /// `primary` or `read` (read scaling); names the pool in log lines other than the primary's.
    let name: String
    let size: Int
    let acquisitionTimeout: Int
    let queue: PGJobQueue
    /// Connections currently open and usable.
    let healthy = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    /// Connections executing a batch right now (the metrics' "in use").
    let busy = Atomic<Int>(0)
    private let lastError = Mutex<String>("no connection to the database yet")

    /// `conninfo` is the authenticator's libpq URI (`db-uri`); `acquisitionTimeout` is in seconds.
    public init(conninfo: String, size: Int, acquisitionTimeout: Int, maxBatch: Int = 32, name: String = "primary") {
        self.conninfo = gatewayConnInfo(conninfo, applicationName: name == "primary" ? "gateway" : "gateway-\(name)")
        self.name = name
        self.size = max(1, size)
        self.acquisitionTimeout = max(1, acquisitionTimeout)
        self.queue = PGJobQueue(maxBatch: maxBatch)
    }

    /// Starts the connection threads (they connect, and reconnect with backoff, on their own) and
    /// the watchdog that fails requests waiting longer than the acquisition timeout.
    public func start() {
        for index in 0..<size {
            spawnThread(name: "gw-pg-\(index)") { PGPipelineWorker(pool: self, index: index).run() }
        }
        spawnThread(name: "gw-pg-watchdog") { self.watch() }
    }

    /// Connections executing requests and requests waiting for one, for the metrics.
    public var usage: (inUse: Int, waiting: Int) { (busy.load(ordering: .relaxed), queue.count) }

    /// True while at least one connection is open.
    public var isConnected: Bool { healthy.load(ordering: .relaxed) > 0 }

    /// Queues a request's statements. Throws at once (without queueing) when no connection is open
    /// (`databaseUnavailable`) or the pool is shutting down; otherwise `completion` is called exactly
    /// once, on a pool thread, with the rows of the last statement or the first error.
    public func submit(_ statements: [Statement], readOnly: Bool,
                       completion: @escaping @Sendable (Result<[[String?]], any Error>) -> Void) throws {
        guard !stopping.load(ordering: .relaxed) else { throw APIError.shuttingDown }
        guard isConnected else { throw APIError.databaseUnavailable(message: lastErrorMessage) }
        let deadline = monotonicNanoseconds() + UInt64(acquisitionTimeout) * 1_000_000_000
        let job = PGJob(statements: statements, readOnly: readOnly, deadline: deadline, completion: completion)
        guard queue.push(job) else { throw APIError.shuttingDown }
    }

    /// Blocking form of `submit` for tools and tests (never called on a server thread).
    public func run(_ statements: [Statement], readOnly: Bool) throws -> [[String?]] {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<[[String?]], any Error>?>(nil)
        try submit(statements, readOnly: readOnly) { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0! }.get()
    }

    /// Refuses new requests, fails the queued ones with `shuttingDown` and lets the connection
    /// threads finish their current batch and close.
    public func shutdown() {
        stopping.store(true, ordering: .relaxed)
        fail(queue.drain(close: true), with: APIError.shuttingDown)
    }

    /// Prefix of the connection threads' log lines: empty for the primary, `read pool: ` otherwise.
    var logPrefix: String { name == "primary" ? "" : "\(name) pool: " }

    /// The last connection error, for 503 messages.
    var lastErrorMessage: String { lastError.withLock { $0 } }

    func noteConnectionError(_ message: String) { lastError.withLock { $0 = message } }

    func fail(_ jobs: [PGJob], with error: any Error) {
        for job in jobs { job.completion(.failure(error)) }
    }

    private func watch() {
        while !stopping.load(ordering: .relaxed) {
            sleepNanoseconds(50_000_000)
            fail(queue.expired(now: monotonicNanoseconds()), with: APIError.poolTimeout(seconds: acquisitionTimeout))
        }
    }
}
