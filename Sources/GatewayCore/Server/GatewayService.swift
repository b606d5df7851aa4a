#if canImport(Glibc)
import Glibc
#endif

/// Everything `gateway serve` runs, wired together: the schema cache and its listener (on the
/// primary), the pool (and the read pool on a standby, with `db-uri-read`), the request pipeline,
/// the public and admin HTTP servers; then signals until SIGTERM/SIGINT.
public final class GatewayService: Sendable {
    let config: GatewayConfig
    let catalogStore: CatalogStore
    let pool: PGPool
    let router: PGPoolRouter
    let server: HTTPServer
    let admin: AdminServer?

    public init(config: GatewayConfig) {
        self.config = config
        catalogStore = CatalogStore(conninfo: config.dbURI, schemas: config.dbSchemas)
        pool = PGPool(conninfo: config.dbURI, size: config.dbPool, acquisitionTimeout: config.dbPoolAcquisitionTimeout)
        let readPool = config.dbURIRead.map {
            PGPool(conninfo: $0, size: config.readPoolSize, acquisitionTimeout: config.dbPoolAcquisitionTimeout, name: "read")
        }
        router = PGPoolRouter(primary: pool, read: readPool)
        let pipeline = Pipeline(config: config, catalogStore: catalogStore, router: router)
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        server = HTTPServer(settings: .init(host: config.bindHost, port: config.serverPort, maxBodyBytes: config.dbMaxBodyBytes,
                                            timeoutSeconds: config.serverTimeoutSeconds, threads: min(4, max(2, cores))),
                            responder: pipeline)
        let catalogStore = catalogStore, pool = pool, router = router
        admin = config.adminServerPort.map { port in
            AdminServer(host: config.bindHost, port: port, readiness: { pool.isConnected && catalogStore.isLoaded },
                        metrics: {
                            let usage = pool.usage
                            GatewayMetrics.shared.setPool(inUse: usage.inUse, waiting: usage.waiting)
                            router.sampleMetrics()
                            return GatewayMetrics.shared.exposition()
                        })
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

        router.start()
        PGListener(conninfo: config.dbURI, catalogStore: catalogStore).start()
        try server.start()
        try admin?.start()
        Observation.writeLine("gateway listening on \(config.bindHost):\(config.serverPort)"
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
            case SIGTERM, SIGINT:
                Observation.writeLine("gateway shutting down: finishing requests in flight")
                server.shutdown()
                router.shutdown()
                admin?.stop()
                return
            default:
                Observation.log(.warn, "signal \(received) ignored (config reload is not supported)")
            }
        }
    }
}
