import CMHDShim
import CMicroHTTPD
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The public HTTP server: a libmicrohttpd daemon with a small internal epoll thread pool. Each
/// request is read on an MHD thread (body accumulated up to the limit), handed to the responder,
/// and its connection suspended until the database side delivers the answer; the response is then
/// queued on an MHD thread after resume (never on the first handler call: MHD would close
/// keep-alive connections).
public final class HTTPServer: @unchecked Sendable {
    /// Where and how to listen.
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var maxBodyBytes: Int
        /// Seconds of inactivity after which MHD closes a client connection (slow clients).
        public var timeoutSeconds: Int
        public var threads: Int

        public init(host: String, port: Int, maxBodyBytes: Int, timeoutSeconds: Int, threads: Int = 2) {
            self.host = host
            self.port = port
            self.maxBodyBytes = maxBodyBytes
            self.timeoutSeconds = timeoutSeconds
            self.threads = threads
        }
    }

    let settings: Settings
    let responder: any HTTPResponder
    /// Requests begun and not yet completed (for the graceful-shutdown drain).
    let inFlight = Atomic<Int>(0)
    let shuttingDown = Atomic<Bool>(false)
    private var daemon: OpaquePointer?
    private var address: SocketAddress?

    public init(settings: Settings, responder: any HTTPResponder) {
        self.settings = settings
        self.responder = responder
    }

    /// Binds and starts the MHD threads; throws when the address cannot be used.
    public func start() throws {
        let address = try SocketAddress(host: settings.host, port: settings.port)
        self.address = address
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue
            | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_USE_TURBO.rawValue
        if address.isIPv6 { flags |= MHD_USE_IPv6.rawValue }
        let context = Unmanaged.passUnretained(self).toOpaque()
        var options: [MHD_OptionItem] = [
            MHD_OptionItem(option: MHD_OPTION.THREAD_POOL_SIZE, value: max(1, settings.threads), ptr_value: nil),
            MHD_OptionItem(option: MHD_OPTION.CONNECTION_TIMEOUT, value: max(1, settings.timeoutSeconds), ptr_value: nil),
            MHD_OptionItem(option: MHD_OPTION.SOCK_ADDR, value: 0, ptr_value: address.pointer),
            MHD_OptionItem(option: MHD_OPTION.LISTEN_BACKLOG_SIZE, value: 1024, ptr_value: nil),
            MHD_OptionItem(option: MHD_OPTION.URI_LOG_CALLBACK, value: unsafeBitCast(uriLogCallback, to: Int.self), ptr_value: context),
            MHD_OptionItem(option: MHD_OPTION.NOTIFY_COMPLETED, value: unsafeBitCast(completedCallback, to: Int.self), ptr_value: context),
            MHD_OptionItem(option: MHD_OPTION.END, value: 0, ptr_value: nil),
        ]
        daemon = options.withUnsafeMutableBufferPointer { items in
            gw_start_daemon(flags, 0, accessHandler, context, items.baseAddress)
        }
        guard daemon != nil else {
            throw ServerError(message: "cannot listen on \(settings.host):\(settings.port) (address in use or not available)")
        }
    }

    /// Graceful shutdown: stop accepting, answer new requests on open connections with 503 and
    /// `Connection: close`, wait up to `timeout` seconds for requests in flight, then stop MHD.
    public func shutdown(timeout: Double = 30) {
        guard let daemon else { return }
        shuttingDown.store(true, ordering: .relaxed)
        let listener = MHD_quiesce_daemon(daemon)
        if listener >= 0 { close(listener) }
        let until = monotonicNanoseconds() + UInt64(timeout * 1e9)
        while inFlight.load(ordering: .relaxed) > 0 && monotonicNanoseconds() < until {
            sleepNanoseconds(5_000_000)
        }
        // MHD aborts when stopped with suspended connections: past the deadline, leave them to exit().
        if inFlight.load(ordering: .relaxed) == 0 { MHD_stop_daemon(daemon) }
        self.daemon = nil
    }
}

/// A failure to start a server (bad address, port in use).
public struct ServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
