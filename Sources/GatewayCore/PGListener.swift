#if canImport(Glibc)
import Glibc
#endif

/// PostgREST's reload channel: a dedicated connection that runs `LISTEN pgrst` and reloads the
/// catalog on `NOTIFY pgrst, 'reload schema'` (or an empty payload), the configuration on
/// `NOTIFY pgrst, 'reload config'`, and both on every (re)connect (the configuration first: it may
/// change the exposed schemas), so what changed while the database was away is read again.
/// Reconnects with capped backoff. Between notifications it expires `Idempotency-Key` answers
/// (`IdempotencyExpiry`) when the database has them.
public final class PGListener: Sendable {
    private let conninfo: String
    private let catalogStore: CatalogStore
    private let channel: String
    /// Reloads the configuration on the listener's connection; `true`: a reconnect, not a NOTIFY.
    private let reloadConfig: @Sendable (PGConnection, Bool) -> Void
    private let expiry: IdempotencyExpiry

    /// `idempotencyTTL`: `db-idempotency-ttl`, which sets how often expired answers are looked for.
    public init(conninfo: String, catalogStore: CatalogStore, channel: String = "pgrst", idempotencyTTL: Int = 86_400,
                reloadConfig: @escaping @Sendable (PGConnection, Bool) -> Void = { _, _ in }) {
        self.conninfo = gatewayConnInfo(conninfo)
        self.catalogStore = catalogStore
        self.channel = channel
        self.reloadConfig = reloadConfig
        expiry = IdempotencyExpiry(ttlSeconds: idempotencyTTL)
    }

    /// Starts the listener thread.
    public func start() {
        spawnThread(name: "gw-listen") { self.run() }
    }

    private func run() {
        var backoff = Backoff()   // the pool's: the catalog is read again within a second of the database's return
        while true {
            if session(retryingIn: backoff.delay) { backoff.succeeded() }
            sleepNanoseconds(backoff.delay)
            backoff.failed()
        }
    }

    /// One connection's life: connect, LISTEN, read the configuration and the catalog, then wait for
    /// notifications until the connection breaks; true when it got that far (the backoff starts over).
    /// Kept out of `run` on purpose: Swift 6.3.1's optimiser never finishes loop-invariant code motion
    /// on a loop without an exit whose body has a do/catch (this `run` with the body inlined hung the
    /// release build; so did `EventListener.run`). With the fallible part in a function of its own the
    /// loop is plain calls, and the whole module builds with every optimisation.
    @inline(never)
    private func session(retryingIn backoff: UInt64) -> Bool {
        do {
            let connection = try PGConnection(conninfo)
            try connection.execute("LISTEN \(channel)")   // a fixed identifier, never user input
            reloadConfig(connection, true)
            try catalogStore.reload(on: connection)
            listen(on: connection)
            return true
        } catch {
            Observation.log(.error, "schema cache: \(error), retrying in \(backoff / 1_000_000) ms")
            return false
        }
    }

    /// Waits for notifications until the connection breaks.
    private func listen(on connection: PGConnection) {
        var expiryDue = monotonicNanoseconds()
        while true {
            if monotonicNanoseconds() >= expiryDue {
                if (try? catalogStore.current())?.hasIdempotencyStore == true { expiry.run(on: connection) }
                expiryDue = monotonicNanoseconds() + expiry.interval
            }
            var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 1_000)
            if ready < 0 && errno != EINTR { return }
            guard connection.consumeInput() else {
                Observation.log(.error, "schema cache listener lost its connection: \(connection.connectionError().message)")
                return
            }
            for notification in connection.notifications() where notification.channel == channel {
                switch notification.payload {
                case "", "reload schema":
                    do { try catalogStore.reload(on: connection) } catch {
                        Observation.log(.error, "schema cache reload failed: \(error)")
                    }
                case "reload config":
                    reloadConfig(connection, false)
                default:
                    Observation.log(.warn, "ignored NOTIFY \(channel) payload '\(notification.payload)'")
                }
            }
        }
    }
}
