import CEventLoop
@testable import GatewayCore

/// One loop's pool driven on the test's thread exactly as an event loop drives it (its epoll set,
/// `tick`, `handle`), without HTTP: statements in, rows or the first error out.
final class PoolDriver {
    let epoll = Epoll()
    let pool: PGPool

    init(uri: String, connections: Int = 2, depth: Int = 4, maxWaiting: Int = 64) {
        pool = PGPool(settings: PGPoolSettings(conninfo: uri, connections: connections, depth: depth, maxWaiting: maxWaiting,
                                               acquisitionTimeout: 5),
                      stats: PGPoolStats(role: .primary, size: connections), epoll: epoll)
    }

    deinit { pool.close() }

    /// Runs the loop until `done` holds or `seconds` passed.
    func spin(seconds: Double = 10, until done: () -> Bool) {
        let until = monotonicNanoseconds() + UInt64(seconds * 1e9)
        var events = [epoll_event](repeating: epoll_event(), count: 16)
        while !done() && monotonicNanoseconds() < until {
            _ = pool.tick(now: monotonicNanoseconds())
            let count = epoll.wait(&events, timeout: 20)
            for event in events[0..<count] { _ = pool.handle(socket: event.data.fd, events: event.events, now: monotonicNanoseconds()) }
        }
    }

    /// Submits every call at once (pipelined over the connections), then waits for all answers.
    func run(_ calls: [[Statement]]) throws -> [Result<[[String?]], any Error>] {
        spin { pool.isConnected }
        var results = [Result<[[String?]], any Error>?](repeating: nil, count: calls.count)
        for (index, statements) in calls.enumerated() {
            try pool.submit(statements, now: monotonicNanoseconds()) { results[index] = $0 }
        }
        spin { !results.contains { $0 == nil } }
        return results.map { $0 ?? .failure(APIError.poolTimeout(seconds: 10)) }
    }

    func run(_ statements: [Statement]) throws -> [[String?]] { try run([statements])[0].get() }
}
