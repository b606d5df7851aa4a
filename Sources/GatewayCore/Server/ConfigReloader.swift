import Foundation
import Synchronization

/// Configuration reload without a restart (PostgREST's configuration.rst, "Configuration Reloading":
/// SIGUSR2 and `NOTIFY pgrst, 'reload config'`; AppState/Reload.hs, `readInDbConfig`): reads the config
/// file and the environment again and, when the running configuration has `db-config` (the default),
/// the in-database configuration with the running `db-pre-config`; keeps what cannot change while
/// running (`GatewayConfig.reloaded`); reloads the schema cache, which holds the impersonated roles'
/// settings PostgREST re-reads here too (required when the exposed schemas changed); then swaps a new
/// `Pipeline` in. A reload that fails changes nothing and says why in the log.
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
    /// fresh one when nil). `reconnected`: the listener's (re)connect, which reloads the schema cache
    /// itself right after and logs success at debug level only.
    func reload(on connection: PGConnection? = nil, reconnected: Bool = false) {
        reloading.withLock { _ in
            let (running, readDatabase) = state.withLock { $0 }
            do {
                let environment = ProcessInfo.processInfo.environment
                let connection = try connection ?? (running.dbConfig ? PGConnection(gatewayConnInfo(running.dbURI)) : nil)
                var next = try GatewayConfig.load(file: file, environment: environment)
                if running.dbConfig, let connection {
                    let settings = try InDatabaseConfig.read(on: connection, preConfig: running.dbPreConfig)
                    next = try GatewayConfig.load(file: file, environment: environment, database: settings)
                }
                next = running.reloaded(next, initial: !readDatabase)
                if !catalogStore.reads(schemas: next.dbSchemas, hoisted: next.dbHoistedTxSettings) {
                    try catalogStore.reload(on: connection, schemas: next.dbSchemas, hoisted: next.dbHoistedTxSettings)
                } else if !reconnected {
                    // Only the roles' settings are new, if anything: the old ones serve on while the database is away.
                    do { try catalogStore.reload(on: connection) } catch {
                        Observation.log(.error, "schema cache reload after the config reload failed: \(error)")
                    }
                }
                Observation.configure(level: next.logLevel)
                Observation.redact(next.secrets)
                pipelines.replace(Pipeline(config: next, catalogStore: catalogStore))
                let config = next
                state.withLock { $0 = (config, readDatabase || running.dbConfig) }
                Observation.log(reconnected && config == running ? .debug : .info, "Config reloaded")
            } catch {
                Observation.log(.error, "Failed reloading config: \(error)")
            }
        }
    }
}
