/// The schema cache: every function of the exposed schemas, read from pg_catalog at start and on
/// reload. An immutable snapshot: a reload builds a new `Catalog` and swaps it in (`CatalogStore`),
/// so a request keeps the snapshot it started with.
public struct Catalog: Sendable {
    /// schema -> function name -> overloads.
    let routinesBySchema: [String: [String: [Routine]]]
    /// Generated call SQL per call shape, shared by the copies of this snapshot.
    let sqlCache = CallSQLCache()
    /// role -> its settings (`ALTER ROLE ... [IN DATABASE ...] SET`), applied in each request's
    /// transaction when the gateway switches to that role.
    public let roleSettings: [String: [TransactionSetting]]
    /// The media types on offer beyond JSON (PostgREST's `dbMediaHandlers`): built-ins and user-defined.
    public let mediaHandlers: MediaHandlerMap
    /// The database has the `Idempotency-Key` store (`IdempotencySQL.availableQuery`).
    public var hasIdempotencyStore = false

    /// An empty catalog (no functions): every call answers PGRST202.
    public init() {
        routinesBySchema = [:]
        roleSettings = [:]
        mediaHandlers = MediaHandlerMap()
    }

    /// A catalog of the given functions, impersonated roles' settings and media type handlers.
    public init(routines: [Routine], roleSettings: [String: [TransactionSetting]] = [:],
                mediaHandlers: MediaHandlerMap = MediaHandlerMap()) {
        var index: [String: [String: [Routine]]] = [:]
        for routine in routines {
            index[routine.schema, default: [:]][routine.name, default: []].append(routine)
        }
        routinesBySchema = index
        self.roleSettings = roleSettings
        self.mediaHandlers = mediaHandlers
    }

    /// The settings a call of `routine` as `role` applies in its transaction, in order: the role's,
    /// the request's (`Prefer: timezone`), then the function's (a later `set_config` of the same name
    /// wins, so the function overrides; PostgREST's order in `PreQuery.hs`).
    public func transactionSettings(role: String, routine: Routine, requested: [TransactionSetting] = [])
        -> [TransactionSetting] {
        (roleSettings[role] ?? []) + requested + routine.settings
    }

    /// Every function, in no particular order.
    public var routines: [Routine] {
        routinesBySchema.values.flatMap { $0.values.flatMap { $0 } }
    }

    /// Overloads of `schema.name` (empty when unknown).
    public func overloads(schema: String, name: String) -> [Routine] {
        routinesBySchema[schema]?[name] ?? []
    }

    /// Names of all functions in `schema`, for the nearest-name hint.
    func functionNames(schema: String) -> Dictionary<String, [Routine]>.Keys? {
        routinesBySchema[schema]?.keys
    }
}
