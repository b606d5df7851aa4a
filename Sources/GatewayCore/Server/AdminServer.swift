import CMicroHTTPD

/// The admin port (PostgREST's admin-server-port): `GET /live` answers 200 while the process runs,
/// `GET /ready` 200 when the pool reaches PostgreSQL and the schema cache is loaded, else 503;
/// `GET /schema_cache` the schema cache as JSON (PostgREST's Admin.hs: empty body while none is loaded).
public final class AdminServer: @unchecked Sendable {
    let readiness: @Sendable () -> Bool
    let metrics: @Sendable () -> [UInt8]
    let schemaCache: @Sendable () -> [UInt8]?
    private let host: String
    private let port: Int
    private var daemon: MHDDaemon?
    private var address: SocketAddress?

    public init(host: String, port: Int, readiness: @escaping @Sendable () -> Bool,
                metrics: @escaping @Sendable () -> [UInt8] = { GatewayMetrics.shared.exposition() },
                schemaCache: @escaping @Sendable () -> [UInt8]? = { nil }) {
        self.host = host
        self.port = port
        self.readiness = readiness
        self.metrics = metrics
        self.schemaCache = schemaCache
    }

    public func start() throws {
        let address = try SocketAddress(host: host, port: port)
        self.address = address
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue
        if address.isIPv6 { flags |= MHD_USE_IPv6.rawValue }
        daemon = MHDDaemon(flags: flags, handler: adminHandler, context: Unmanaged.passUnretained(self).toOpaque(), options: [
            MHD_OptionItem(option: MHD_OPTION.SOCK_ADDR, value: 0, ptr_value: address.pointer),
            MHD_OptionItem(option: MHD_OPTION.CONNECTION_TIMEOUT, value: 10, ptr_value: nil),
        ])
        guard daemon != nil else { throw ServerError(message: "cannot listen on admin port \(host):\(port)") }
    }

    public func stop() {
        daemon?.stop()
        daemon = nil
    }
}

private let adminHandler: MHD_AccessHandlerCallback = { cls, connection, url, _, _, _, uploadSize, conCls in
    guard let connection, let conCls, let uploadSize else { return MHD_Result.NO }
    if conCls.pointee == nil {   // first call: answer on the next one (keep-alive)
        conCls.pointee = UnsafeMutableRawPointer(bitPattern: 1)
        return MHD_Result.YES
    }
    uploadSize.pointee = 0
    let server = Unmanaged<AdminServer>.fromOpaque(cls!).takeUnretainedValue()
    let response: HTTPResponse
    switch url.map({ String(cString: $0) }) {
    case "/live": response = HTTPResponse(status: 200)
    case "/ready": response = HTTPResponse(status: server.readiness() ? 200 : 503)
    case "/metrics":
        response = HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                                body: server.metrics())
    case "/schema_cache":
        // PostgREST sends it without a Content-Type, and an empty 200 while none is loaded.
        response = HTTPResponse(status: 200, body: server.schemaCache() ?? [])
    default: response = HTTPResponse(status: 404)
    }
    return MHDDaemon.queue(response, on: connection, close: false)
}
