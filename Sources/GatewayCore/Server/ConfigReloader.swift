import Foundation
import Synchronization

/// Configuration reload without a restart (PostgREST's configuration.rst, "Configuration Reloading":
/// SIGUSR2 and `NOTIFY pgrst, 'reload config'`): reads the config file and the environment again and,
/// with `db-config` (the default), the in-database configuration; keeps what cannot change while
/// running (`GatewayConfig.reloaded`); reloads the schema cache when the exposed schemas changed; then
/// swaps a new `Pipeline` in. A reload that fails changes nothing and says why in the log.
final class ConfigReloader: Sendable {
    private let file: String?
    private let catalogStore: CatalogStore
    private let pipelines: PipelineSlot
    /// The configuration in force, and whether the in-database configuration was read since start.
    private let state: Mutex<(config: GatewayConfig, readDatabase: Bool)>
    /// One reload at a time (signal thread and listener thread).
    private let reloading = Mutex<Void>(())

    init(file: String?, config: GatewayConfig, catalogStore: CatalogStore, pipelines: PipelineSlot) {
        self.file = file
        self.catalogStore = catalogStore
        self.pipelines = pipelines
        state = Mutex((config, false))
    }

    /// The configuration in force.
    var current: GatewayConfig { state.withLock { $0.config } }

    /// Reloads (see the type); `connection` reaches the database as the gateway's login role (a
    /// fresh one when nil). `quietly`: log success at debug level only (each listener reconnect).
    func reload(on connection: PGConnection? = nil, quietly: Bool = false) {
        reloading.withLock { _ in
            let (running, readDatabase) = state.withLock { $0 }
            do {
                let environment = ProcessInfo.processInfo.environment
                var next = try GatewayConfig.load(file: file, environment: environment)
                if next.dbConfig {
                    let connection = try connection ?? PGConnection(gatewayConnInfo(running.dbURI))
                    let settings = try InDatabaseConfig.read(on: connection, preConfig: next.dbPreConfig)
                    next = try GatewayConfig.load(file: file, environment: environment, database: settings)
                }
                next = running.reloaded(next, initial: !readDatabase)
                if !catalogStore.reads(schemas: next.dbSchemas, hoisted: next.dbHoistedTxSettings) {
                    try catalogStore.reload(on: connection, schemas: next.dbSchemas, hoisted: next.dbHoistedTxSettings)
                }
                Observation.configure(level: next.logLevel)
                Observation.redact(next.secrets)
                pipelines.replace(Pipeline(config: next, catalogStore: catalogStore))
                let config = next
                state.withLock { $0 = (config, readDatabase || config.dbConfig) }
                Observation.log(quietly && config == running ? .debug : .info, "Config reloaded")
            } catch {
                Observation.log(.error, "Failed reloading config: \(error)")
            }
        }
    }
}
