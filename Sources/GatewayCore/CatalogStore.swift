import Synchronization

/// The schema cache currently served: an atomically swapped snapshot. A request takes the snapshot
/// once when it is planned, so a reload (NOTIFY or SIGUSR1) never changes a request in flight.
public final class CatalogStore: Sendable {
    private let snapshot = Mutex<Catalog?>(nil)
    private let openAPIDocument = Mutex<[UInt8]?>(nil)
    private let loading = Mutex<Void>(())
    private let conninfo: String
    private let schemas: [String]

    /// `conninfo`: the authenticator's libpq URI; `schemas`: the exposed schemas (db-schemas).
    public init(conninfo: String, schemas: [String]) {
        self.conninfo = conninfo
        self.schemas = schemas
    }

    /// The catalog in use, or 503 while none has been loaded (database unreachable at start).
    public func current() throws -> Catalog {
        guard let catalog = snapshot.withLock({ $0 }) else {
            throw APIError.databaseUnavailable(message: "the schema cache is not loaded yet")
        }
        return catalog
    }

    /// The OpenAPI 3.1 document of the current snapshot (served at `/`), nil until loaded.
    public func openAPI() -> [UInt8]? { openAPIDocument.withLock { $0 } }

    /// True once a catalog has been loaded.
    public var isLoaded: Bool { snapshot.withLock { $0 != nil } }

    /// Replaces the snapshot (requests already planned keep the old one).
    public func replace(_ catalog: Catalog) { snapshot.withLock { $0 = catalog } }

    /// Reads the catalog from pg_catalog on `connection` (a fresh one when nil) and swaps it in;
    /// on failure the previous snapshot stays and the error is thrown.
    public func reload(on connection: PGConnection? = nil) throws {
        try loading.withLock { _ in
            let connection = try connection ?? PGConnection(gatewayConnInfo(conninfo))
            let statement = Catalog.query(schemas: schemas)
            let roleSettings = Catalog.roleSettingsQuery
            let catalog = try Catalog(rows: connection.query(statement.sql, statement.parameters),
                                      roleSettingRows: connection.query(roleSettings.sql, roleSettings.parameters))
            let columnsQuery = OpenAPIDocument.resultColumnsQuery(schemas: schemas)
            let columns = OpenAPIDocument.resultColumns(rows: try connection.query(columnsQuery.sql, columnsQuery.parameters))
            let document = OpenAPIDocument(catalog: catalog, schema: schemas.first ?? "public", resultColumns: columns)
            replace(catalog)
            openAPIDocument.withLock { $0 = document.json }
        }
        GatewayMetrics.shared.schemaReloaded()
        Observation.log(.info, "schema cache loaded")
    }
}
