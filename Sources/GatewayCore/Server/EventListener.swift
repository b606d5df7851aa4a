#if canImport(Glibc)
import Glibc
#endif

/// The one LISTEN connection of the gateway (application_name `gateway-events`, opened when the
/// first subscriber comes), on its own thread with a blocking connection, as the schema cache's listener: it LISTENs to every channel some
/// subscriber wants and UNLISTENs those nobody wants any more (woken by the hub), and hands each
/// notification to the hub. When the connection breaks it tells the hub (the open streams end:
/// what was committed meanwhile is lost to them, and a client that reconnects knows to catch up),
/// then reconnects with capped backoff and LISTENs again to what is still wanted.
final class EventListener: Sendable {
    static let applicationName = "gateway-events"
    private let conninfo: String
    private let hub: EventHub

    init(conninfo: String, hub: EventHub) {
        self.conninfo = gatewayConnInfo(conninfo, applicationName: Self.applicationName)
        self.hub = hub
    }

    func start() {
        spawnThread(name: "gw-events") { self.run() }
    }

    private func run() {
        var backoff = Backoff()
        while true {
            waitForChannels()
            if session(retryingIn: backoff.delay) { backoff.succeeded() }
            hub.connectionLost()
            sleepNanoseconds(backoff.delay)
            backoff.failed()
        }
    }

    /// One connection's life; true when it connected. Not inlined into `run`: see `PGListener.session`.
    @inline(never)
    private func session(retryingIn backoff: UInt64) -> Bool {
        var connected = false
        do {
            let connection = try PGConnection(conninfo)
            connected = true
            try serve(connection)
        } catch {
            Observation.log(.error, "event listener: \(error), reconnecting in \((connected ? Backoff.first : backoff) / 1_000_000) ms")
        }
        return connected
    }

    /// Connects only once someone subscribes: a gateway whose clients never listen holds no
    /// extra database connection.
    private func waitForChannels() {
        while hub.wanted().isEmpty {
            var descriptor = pollfd(fd: hub.listenerWake, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 1_000)
            var value: UInt64 = 0
            _ = read(hub.listenerWake, &value, 8)
        }
    }

    /// LISTENs as wanted and hands notifications over until the connection breaks.
    private func serve(_ connection: PGConnection) throws {
        var listening: Set<String> = []
        try reconcile(connection, &listening)
        while true {
            var descriptors = [pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: hub.listenerWake, events: Int16(POLLIN), revents: 0)]
            if poll(&descriptors, 2, 1_000) < 0 && errno != EINTR { throw EventListenerError(message: "poll failed") }
            if descriptors[1].revents != 0 {
                var value: UInt64 = 0
                _ = read(hub.listenerWake, &value, 8)
                try reconcile(connection, &listening)
            }
            guard connection.consumeInput() else {
                throw EventListenerError(message: "lost its connection: \(connection.connectionError().message)")
            }
            forward(connection)
        }
    }

    /// LISTEN to what is wanted and not yet listened to, UNLISTEN what is no longer wanted; confirms
    /// each wanted channel after the notifications that came before it were handed over. LISTEN takes
    /// no parameters: the channel is spliced quoted, checked by `ListenPlan` (1 to 63 bytes, no NUL)
    /// and allowed by `can_listen`.
    private func reconcile(_ connection: PGConnection, _ listening: inout Set<String>) throws {
        let wanted = hub.wanted()
        for channel in listening where wanted[channel] == nil {
            _ = try connection.execute("UNLISTEN " + quoteIdentifier(channel))
            listening.remove(channel)
        }
        for (channel, state) in wanted where !state.confirmed {
            if !listening.contains(channel) {
                _ = try connection.execute("LISTEN " + quoteIdentifier(channel))
                listening.insert(channel)
            }
            forward(connection)
            hub.confirm(channel, generation: state.generation)
        }
    }

    private func forward(_ connection: PGConnection) {
        for notification in connection.notifications() {
            hub.deliver(channel: notification.channel, payload: notification.payload)
        }
    }
}

struct EventListenerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
