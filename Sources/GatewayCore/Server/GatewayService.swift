#if canImport(Glibc)
import Glibc
#endif

/// Everything `gateway serve` runs, wired together: the schema cache and its listener (on the
/// primary), the event loops with their shares of the pool (and of the read pool on a standby, with
/// `db-uri-read`), the request pipeline, the admin server; then signals until SIGTERM/SIGINT
/// (SIGUSR1 reloads the schema cache, SIGUSR2 the configuration).
public final class GatewayService: Sendable {
    let config: GatewayConfig
    let catalogStore: CatalogStore
    let reloader: ConfigReloader
    let primaryStats: PGPoolStats
    let readStats: PGPoolStats?
    let server: HTTPServer
    let events: EventHub
    let admin: AdminServer?

    /// `configFile`: the file `config` was read from, read again on a configuration reload.
    public init(config: GatewayConfig, configFile: String? = nil) throws {
        self.config = config
        catalogStore = CatalogStore(conninfo: config.dbURI, schemas: config.dbSchemas, hoisted: config.dbHoistedTxSettings)
        let loops = min(config.dbPool, config.serverThreads ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        // Each loop opens its share of db-pool (at least one) and admits its share of the waiting line.
        func share(_ total: Int, atLeast: Int) -> Int { max(atLeast, (total + loops - 1) / loops) }
        let primary = PGPoolSettings(conninfo: config.dbURI, connections: share(config.dbPool, atLeast: 1),
                                     depth: config.dbPoolPipelineDepth, maxWaiting: share(config.maxWaiting, atLeast: 0),
                                     acquisitionTimeout: config.dbPoolAcquisitionTimeout, maxWaitMilliseconds: config.dbPoolMaxWaitMs)
        let read = config.dbURIRead.map {
            PGPoolSettings(conninfo: $0, connections: share(config.readPoolSize, atLeast: 1), depth: config.dbPoolPipelineDepth,
                           maxWaiting: share(config.maxWaiting, atLeast: 0), acquisitionTimeout: config.dbPoolAcquisitionTimeout,
                           maxWaitMilliseconds: config.dbPoolMaxWaitMs, applicationName: "gateway-read")
        }
        let primaryStats = PGPoolStats(role: .primary, size: primary.connections * loops)
        let readStats = read.map { PGPoolStats(role: .read, size: $0.connections * loops) }
        self.primaryStats = primaryStats
        self.readStats = readStats
        let metrics = PGPoolMetrics(roles: read == nil ? [.primary] : [.primary, .read])
        let pipelines = PipelineSlot(Pipeline(config: config, catalogStore: catalogStore))
        events = EventHub(loops: loops, settings: .init(maxSubscribers: config.serverSSEMaxSubscribers,
                                                        maxBufferBytes: config.serverSSEMaxBufferBytes,
                                                        keepAliveNanoseconds: UInt64(config.serverSSEKeepaliveSeconds) * 1_000_000_000))
        reloader = ConfigReloader(file: configFile, config: config, catalogStore: catalogStore, pipelines: pipelines)
        server = try HTTPServer(settings: .init(host: config.bindHost, port: config.serverPort, maxBodyBytes: config.dbMaxBodyBytes,
                                                timeoutSeconds: config.serverTimeoutSeconds, loops: loops,
                                                unixSocket: config.serverUnixSocket, unixSocketMode: config.serverUnixSocketMode),
                                pipelines: pipelines, events: events) { epoll in
            PGPoolRouter(primary: PGPool(settings: primary, stats: primaryStats, epoll: epoll),
                         read: read.map { PGPool(settings: $0, stats: readStats!, epoll: epoll) }, metrics: metrics)
        }
        let catalogStore = catalogStore
        admin = config.adminServerPort.map { port in
            AdminServer(host: config.adminBindHost, port: port, readiness: { primaryStats.isConnected && catalogStore.isLoaded },
                        metrics: {
                            let usage = primaryStats.usage
                            GatewayMetrics.shared.setPool(inUse: usage.inUse, waiting: usage.waiting)
                            metrics.sample(primaryStats)
                            if let readStats { metrics.sample(readStats) }
                            return GatewayMetrics.shared.exposition()
                        },
                        schemaCache: { catalogStore.schemaCacheJSON() })
        }
    }

    /// Blocks the handled signals (before any thread starts, so only `sigwait` sees them), starts
    /// everything, and serves until SIGTERM or SIGINT, then shuts down gracefully.
    public func run() throws {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)
        Observation.configure(level: config.logLevel)
        Observation.redact(config.secrets)

        let reloader = reloader
        PGListener(conninfo: config.dbURI, catalogStore: catalogStore, idempotencyTTL: config.dbIdempotencyTTL) { connection, reconnected in
            // db-config off: a reconnect has nothing new to read (the file is read on request only).
            if !reconnected || reloader.current.dbConfig { reloader.reload(on: connection, reconnected: reconnected) }
        }.start()
        EventListener(conninfo: config.dbURI, hub: events).start()
        try server.start()
        try admin?.start()
        let address = config.serverUnixSocket.map { "unix socket \($0)" } ?? "\(config.bindHost):\(config.serverPort)"
        Observation.writeLine("gateway listening on \(address) with \(server.settings.loops) event loops"
            + (config.adminServerPort.map { ", admin on port \($0)" } ?? "")
            + (config.dbURIRead == nil ? "" : ", read pool of \(config.readPoolSize) on db-uri-read"))

        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else { continue }
            switch received {
            case SIGUSR1:
                let catalogStore = catalogStore
                spawnThread {
                    do { try catalogStore.reload() } catch { Observation.log(.error, "schema cache reload failed: \(error)") }
                }
            case SIGUSR2:
                spawnThread { reloader.reload() }
            case SIGTERM, SIGINT:
                Observation.writeLine("gateway shutting down: finishing requests in flight")
                server.shutdown()
                admin?.stop()
                return
            default:
                Observation.log(.warn, "signal \(received) ignored")
            }
        }
    }
}
