import CEventLoop
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The public HTTP server: N event loops (`server-threads`, default the number of cores) sharing
/// one listening socket, each owning the client connections it accepts and its share of the
/// database pools for their whole life (see `EventLoop`).
public final class HTTPServer: Sendable {
    /// Where and how to listen.
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var maxBodyBytes: Int
        /// Seconds of inactivity after which MHD closes a client connection (slow clients).
        public var timeoutSeconds: Int
        public var loops: Int
        /// `server-unix-socket`: listen there instead of on `host:port`, with file mode `unixSocketMode`.
        public var unixSocket: String?
        public var unixSocketMode: UInt32

        public init(host: String, port: Int, maxBodyBytes: Int, timeoutSeconds: Int, loops: Int,
                    unixSocket: String? = nil, unixSocketMode: UInt32 = 0o660) {
            self.host = host
            self.port = port
            self.unixSocket = unixSocket
            self.unixSocketMode = unixSocketMode
            self.maxBodyBytes = maxBodyBytes
            self.timeoutSeconds = timeoutSeconds
            self.loops = max(1, loops)
        }
    }

    /// What each loop needs of the database: a fresh router over its own pools.
    typealias RouterFactory = @Sendable (_ epoll: Epoll) -> PGPoolRouter

    let settings: Settings
    /// Server-sent events (`GET /notify/<channel>`), shared by the loops.
    let events: EventHub
    /// The request pipeline, replaced when the configuration is reloaded.
    let pipelines: PipelineSlot
    private let makeRouter: RouterFactory
    private let shuttingDown = Atomic<Bool>(false)
    private let drainSeconds = Atomic<Int>(30)
    let isIPv6: Bool
    private let wakeFDs: [Int32]
    private let finished = Atomic<Int>(0)
    private let started = Mutex<[Result<Void, ServerError>]>([])
    /// The listening socket (non-blocking), watched by every loop; -1 until `start`.
    private let listenFD = Atomic<Int32>(-1)
    /// The unix socket file bound at start (device, inode), removed at shutdown if still the same.
    private let socketFile = Mutex<[UInt64]?>(nil)
    /// Round robin over the loops for accepted connections.
    private let nextLoop = Atomic<Int>(0)
    /// Connections accepted by one loop for another, per receiving loop (one hand-off per connection,
    /// never per request).
    private let inboxes: [Inbox]
    private final class Inbox: Sendable { let sockets = Mutex<[AcceptedSocket]>([]) }

    init(settings: Settings, pipelines: PipelineSlot, events: EventHub, makeRouter: @escaping RouterFactory) throws {
        self.settings = settings
        self.events = events
        self.pipelines = pipelines
        self.makeRouter = makeRouter
        isIPv6 = try settings.unixSocket == nil && SocketAddress(host: settings.host, port: settings.port).isIPv6
        wakeFDs = (0..<settings.loops).map { _ in eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK)) }
        inboxes = (0..<settings.loops).map { _ in Inbox() }
    }

    var listener: Int32 { listenFD.load(ordering: .relaxed) }

    /// The loop that gets the next accepted connection.
    func chooseLoop() -> Int { nextLoop.wrappingAdd(1, ordering: .relaxed).oldValue % settings.loops }

    /// Gives an accepted connection to loop `index` and wakes it.
    func handOff(_ socket: AcceptedSocket, to index: Int) {
        inboxes[index].sockets.withLock { $0.append(socket) }
        var one: UInt64 = 1
        _ = write(wakeFDs[index], &one, 8)
    }

    /// The connections handed to loop `index` since it last looked.
    func takeInbox(_ index: Int) -> [AcceptedSocket] {
        inboxes[index].sockets.withLock { inbox in
            defer { inbox.removeAll(keepingCapacity: true) }
            return inbox
        }
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }
    var drainNanoseconds: UInt64 { UInt64(drainSeconds.load(ordering: .relaxed)) * 1_000_000_000 }

    /// Binds, then starts the loops (each on its own thread); throws when the address cannot be used.
    public func start() throws {
        if let path = settings.unixSocket {
            let (fd, file) = try UnixSocket.listen(path: path, mode: settings.unixSocketMode)
            socketFile.withLock { $0 = file }
            listenFD.store(fd, ordering: .relaxed)
        } else {
            let address = try SocketAddress(host: settings.host, port: settings.port)
            do { listenFD.store(try address.listen(), ordering: .relaxed) } catch let error as ServerError {
                throw ServerError(message: "cannot listen on \(settings.host):\(settings.port) (\(error.message))")
            }
        }
        let ready = DispatchSemaphore(value: 0)
        for index in 0..<settings.loops {
            let wake = wakeFDs[index]
            spawnThread(name: "gw-loop-\(index)") { [self] in
                let epoll = Epoll()
                let loop = EventLoop(server: self, index: index, router: makeRouter(epoll), epoll: epoll, wakeFD: wake)
                do {
                    try loop.start()
                    started.withLock { $0.append(.success(())) }
                    ready.signal()
                    loop.run()
                } catch {
                    started.withLock { $0.append(.failure(error as? ServerError ?? ServerError(message: "\(error)"))) }
                    ready.signal()
                }
                finished.wrappingAdd(1, ordering: .relaxed)
            }
        }
        for _ in 0..<settings.loops { ready.wait() }
        for outcome in started.withLock({ $0 }) { try outcome.get() }
    }

    /// Graceful shutdown: every loop stops accepting, answers new requests on open connections with
    /// 503 and `Connection: close`, finishes its requests in flight (up to `timeout` seconds), stops.
    public func shutdown(timeout: Int = 30) {
        drainSeconds.store(timeout, ordering: .relaxed)
        shuttingDown.store(true, ordering: .relaxed)
        var one: UInt64 = 1
        for fd in wakeFDs { _ = write(fd, &one, 8) }
        let until = monotonicNanoseconds() + UInt64(timeout + 2) * 1_000_000_000
        while finished.load(ordering: .relaxed) < settings.loops && monotonicNanoseconds() < until {
            sleepNanoseconds(5_000_000)
        }
        let fd = listenFD.exchange(-1, ordering: .relaxed)
        if fd >= 0 { close(fd) }
        if let path = settings.unixSocket, let file = socketFile.withLock({ $0 }) { UnixSocket.remove(path, ifStill: file) }
    }
}

/// A client connection accepted by one loop, on its way to the loop that will own it.
struct AcceptedSocket: Sendable {
    var fd: Int32
    var address: sockaddr_storage
    var length: socklen_t
}

/// A failure to start a server (bad address, port in use).
public struct ServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
