import Synchronization

/// The schema cache currently served: an atomically swapped snapshot. A request takes the snapshot
/// once when it is planned, so a reload (NOTIFY or SIGUSR1) never changes a request in flight.
public final class CatalogStore: Sendable {
    /// What the OpenAPI documents are built from, and the documents built so far (by schema and the
    /// set of functions shown), dropped with it on reload.
    struct OpenAPIState {
        /// Counts the reloads.
        var generation: Int
        var catalog: Catalog
        var columns: OpenAPIDocument.ResultColumns
        var documents: [String: [UInt8]] = [:]
    }

    private let snapshot = Mutex<Catalog?>(nil)
    private let openAPIState = Mutex<OpenAPIState?>(nil)
    private let loading = Mutex<Void>(())
    private let conninfo: String
    /// What is read: the exposed schemas (`db-schemas`) and the function settings hoisted to the
    /// transaction (`db-hoisted-tx-settings`); both may change when the configuration is reloaded.
    private let scope: Mutex<(schemas: [String], hoisted: [String])>
    /// Documents kept per snapshot (one per schema and distinct set of executable functions).
    static let documentsKept = 64

    /// `conninfo`: the authenticator's libpq URI; `schemas`: the exposed schemas (db-schemas);
    /// `hoisted`: the function settings applied to the whole transaction (db-hoisted-tx-settings).
    public init(conninfo: String, schemas: [String], hoisted: [String] = TransactionSetting.hoisted) {
        self.conninfo = conninfo
        scope = Mutex((schemas, hoisted))
    }

    /// True when `schemas` and `hoisted` are what the current snapshot was read with.
    public func reads(schemas: [String], hoisted: [String]) -> Bool {
        scope.withLock { $0.schemas == schemas && $0.hoisted == hoisted }
    }

    /// The catalog in use, or 503 while none has been loaded (database unreachable at start).
    public func current() throws -> Catalog {
        guard let catalog = snapshot.withLock({ $0 }) else {
            throw APIError.databaseUnavailable(message: "the schema cache is not loaded yet")
        }
        return catalog
    }

    /// The OpenAPI 3.1 document (served at `/`) of `schema`'s functions whose oids are in `executable`
    /// (nil: all of them), built from the current snapshot once and kept; 503 until it is loaded.
    public func openAPI(schema: String, executable: Set<UInt32>?) throws -> [UInt8] {
        guard let state = openAPIState.withLock({ $0 }) else {
            throw APIError.databaseUnavailable(message: "the schema cache is not loaded yet")
        }
        let key = schema + "/" + (executable.map { $0.sorted().map(String.init).joined(separator: ",") } ?? "*")
        if let document = state.documents[key] { return document }
        let routines = state.catalog.routines.filter { $0.schema == schema && executable?.contains($0.oid) != false }
        let document = OpenAPIDocument(catalog: Catalog(routines: routines, mediaHandlers: state.catalog.mediaHandlers), schema: schema, resultColumns: state.columns).json
        openAPIState.withLock { current in
            // Kept only if no reload came in between (the documents go with their snapshot).
            guard current?.generation == state.generation else { return }
            if current!.documents.count >= Self.documentsKept { current!.documents.removeAll() }
            current!.documents[key] = document
        }
        return document
    }

    /// The schema cache as JSON (admin `GET /schema_cache`), nil while none is loaded.
    public func schemaCacheJSON() -> [UInt8]? {
        snapshot.withLock { $0 }.map { Array($0.schemaCacheJSON.utf8) }
    }

    /// True once a catalog has been loaded.
    public var isLoaded: Bool { snapshot.withLock { $0 != nil } }

    /// Replaces the snapshot (requests already planned keep the old one).
    public func replace(_ catalog: Catalog) { snapshot.withLock { $0 = catalog } }

    /// Reads the catalog from pg_catalog on `connection` (a fresh one when nil) and swaps it in;
    /// on failure the previous snapshot stays and the error is thrown. `schemas` and `hoisted` (a
    /// reloaded configuration's) replace what is read from now on, once that succeeded.
    public func reload(on connection: PGConnection? = nil, schemas newSchemas: [String]? = nil,
                       hoisted newHoisted: [String]? = nil) throws {
        try loading.withLock { _ in
            let current = scope.withLock { $0 }
            let schemas = newSchemas ?? current.schemas, hoisted = newHoisted ?? current.hoisted
            let connection = try connection ?? PGConnection(gatewayConnInfo(conninfo))
            let statement = Catalog.query(schemas: schemas, hoisted: hoisted)
            let roleSettings = Catalog.roleSettingsQuery
            let handlers = Catalog.mediaHandlersQuery(schemas: schemas)
            var catalog = try Catalog(rows: connection.query(statement.sql, statement.parameters),
                                      roleSettingRows: connection.query(roleSettings.sql, roleSettings.parameters),
                                      mediaHandlerRows: connection.query(handlers.sql, handlers.parameters))
            catalog.hasIdempotencyStore = try connection.query(IdempotencySQL.availableQuery.sql) == [["true"]]
            let columnsQuery = OpenAPIDocument.resultColumnsQuery(schemas: schemas)
            let columns = OpenAPIDocument.resultColumns(rows: try connection.query(columnsQuery.sql, columnsQuery.parameters))
            replace(catalog)
            scope.withLock { $0 = (schemas, hoisted) }
            openAPIState.withLock { $0 = OpenAPIState(generation: ($0?.generation ?? 0) + 1, catalog: catalog, columns: columns) }
        }
        GatewayMetrics.shared.schemaReloaded()
        Observation.log(.info, "schema cache loaded")
    }
}
