import CMHDShim
import CMicroHTTPD
import CEventLoop
#if canImport(Glibc)
import Glibc
#endif

/// One event-loop thread: its own libmicrohttpd daemon (no internal threads, no listening socket of
/// its own), its share of the database pools, and one epoll set holding both and the shared
/// listening socket. Whichever loop wakes accepts, and hands each connection round robin to a loop
/// (itself, or another through its inbox): connections spread evenly, and each stays on its loop. A request is read,
/// planned, sent to PostgreSQL, answered and its response queued on this thread, with no lock or
/// thread switch on the way (docs/event-loop.md). Created and used only on its thread.
final class EventLoop {
    unowned let server: HTTPServer
    let index: Int
    /// The pipeline at this moment (a configuration reload swaps it; see `PipelineSlot`).
    var pipeline: Pipeline { server.pipelines.current }
    let router: PGPoolRouter
    let epoll: Epoll
    private var daemon: MHDDaemon?
    private var daemonFD: Int32 = -1
    /// Written by `HTTPServer.shutdown` (from another thread) to wake the loop.
    let wakeFD: Int32
    /// Requests begun and not yet completed on this loop (for the shutdown drain).
    var requests = 0
    /// Access-log lines of this pass, written with one system call after `MHD_run`.
    var accessLog = ""
    /// A suspended connection was resumed: MHD must run again before the loop waits.
    var resumed = false
    /// Set once shutdown began: new requests are answered 503 with `Connection: close`.
    private(set) var stopping = false
    /// Response bodies still being produced on this loop's connections (ended at shutdown).
    var streams: [ObjectIdentifier: ResponseStream] = [:]
    /// This loop's server-sent event streams.
    private(set) lazy var subscribers = EventSubscribers(hub: server.events, loop: self)

    init(server: HTTPServer, index: Int, router: PGPoolRouter, epoll: Epoll, wakeFD: Int32) {
        self.server = server
        self.index = index
        self.router = router
        self.epoll = epoll
        self.wakeFD = wakeFD
    }

    /// Starts MHD without internal threads or a listening socket and puts MHD's epoll fd, the shared
    /// listening socket and the wake-up eventfd into the loop's set, level-triggered.
    func start() throws {
        let settings = server.settings
        var flags = MHD_USE_EPOLL.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_USE_NO_LISTEN_SOCKET.rawValue
        if server.isIPv6 { flags |= MHD_USE_IPv6.rawValue }
        let context = Unmanaged.passUnretained(self).toOpaque()
        daemon = MHDDaemon(flags: flags, handler: accessHandler, context: context, options: [
            MHD_OptionItem(option: MHD_OPTION.CONNECTION_TIMEOUT, value: max(1, settings.timeoutSeconds), ptr_value: nil),
            MHD_OptionItem(option: MHD_OPTION.URI_LOG_CALLBACK, value: unsafeBitCast(uriLogCallback, to: Int.self), ptr_value: context),
            MHD_OptionItem(option: MHD_OPTION.NOTIFY_COMPLETED, value: unsafeBitCast(completedCallback, to: Int.self), ptr_value: context),
        ])
        guard let daemon else { throw ServerError(message: "libmicrohttpd could not start on the listening socket") }
        daemonFD = daemon.epollFD
        epoll.add(daemonFD)
        epoll.add(wakeFD)
        epoll.add(subscribers.wakeFD)
        epoll.add(server.listener)
        let now = monotonicNanoseconds()
        for pool in router.pools { _ = pool.tick(now: now) }
    }

    /// Runs until shutdown has drained this loop's requests (or its deadline passed).
    func run() {
        guard let daemon else { return }
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var drainUntil = UInt64.max
        while true {
            var now = monotonicNanoseconds()
            var next = UInt64.max
            for pool in router.pools { next = min(next, pool.tick(now: now)) }
            next = min(next, subscribers.tick(now: now))
            if stopping {
                if requests == 0 || now >= drainUntil { break }
                next = min(next, now + 5_000_000)
            }
            let events_ = epoll.wait(&events, timeout: timeout(until: next, now: now, daemon: daemon))
            now = monotonicNanoseconds()
            for event in events[0..<events_] {
                let fd = event.data.fd
                if fd == daemonFD { continue }            // MHD_run below reads its own set
                if fd == server.listener { if !stopping { accept(daemon) }; continue }
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    for socket in server.takeInbox(index) { adopt(socket, daemon) }
                    if !stopping && server.isShuttingDown {
                        beginShutdown()
                        drainUntil = now + server.drainNanoseconds
                    }
                    continue
                }
                if fd == subscribers.wakeFD {
                    var value: UInt64 = 0
                    _ = read(fd, &value, 8)
                    subscribers.receive(subscribers.hub.take(index))
                    continue
                }
                for pool in router.pools where pool.handle(socket: fd, events: event.events, now: now) { break }
            }
            runDaemon(daemon)
        }
        for pool in router.pools { pool.close() }
        runDaemon(daemon)
        // MHD aborts when stopped with suspended connections: past the deadline, leave them to exit().
        if requests == 0 { daemon.stop() }
        self.daemon = nil
    }

    /// `MHD_run`, again while answers were resumed during it (a resume wakes nothing by itself);
    /// then the pass's access-log lines.
    private func runDaemon(_ daemon: MHDDaemon) {
        var passes = 0
        repeat {
            resumed = false
            daemon.run()
            passes += 1
        } while resumed && passes < 4
        if !accessLog.isEmpty {
            Observation.write(accessLog)
            accessLog.removeAll(keepingCapacity: true)
        }
    }

    /// Milliseconds epoll may sleep: until MHD's next timeout, the pools' next deadline, or 0
    /// when an answer is still to be sent.
    private func timeout(until next: UInt64, now: UInt64, daemon: MHDDaemon) -> Int32 {
        if resumed { return 0 }
        var ms = daemon.timeoutMilliseconds
        if next != UInt64.max {
            let poolMs = next <= now ? 0 : Int64((next - now + 999_999) / 1_000_000)
            ms = ms < 0 ? poolMs : min(ms, poolMs)
        }
        return Int32(clamping: ms < 0 ? 1_000 : min(ms, 1_000))
    }

    /// Accepts what is waiting (a few at a time: other loops share the work) and deals each
    /// connection to a loop, round robin.
    private func accept(_ daemon: MHDDaemon) {
        for _ in 0..<16 {
            var socket = AcceptedSocket(fd: -1, address: sockaddr_storage(), length: socklen_t(MemoryLayout<sockaddr_storage>.size))
            socket.fd = withUnsafeMutablePointer(to: &socket.address) { address in
                address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    gw_accept_nonblocking(server.listener, $0, &socket.length)
                }
            }
            guard socket.fd >= 0 else { return }
            let owner = server.chooseLoop()
            if owner == index { adopt(socket, daemon) } else { server.handOff(socket, to: owner) }
        }
    }

    /// Gives a connection to this loop's daemon (MHD closes it on failure), or closes it when stopping.
    private func adopt(_ socket: AcceptedSocket, _ daemon: MHDDaemon) {
        guard !stopping else { close(socket.fd); return }
        var address = socket.address
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { daemon.adopt(socket: socket.fd, address: $0, length: socket.length) }
        }
    }

    /// Stops accepting, refuses what waits for a connection; in-flight requests finish, and open
    /// streams end now (an event stream never would: the drain would last its whole deadline).
    private func beginShutdown() {
        stopping = true
        epoll.remove(server.listener)
        for pool in router.pools { pool.beginShutdown() }
        subscribers.shutdown()
        for stream in Array(streams.values) { stream.shutdown() }
    }
}
