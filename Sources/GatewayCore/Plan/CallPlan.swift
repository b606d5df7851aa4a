/// What one request will do, decided without I/O: the statements to run in one transaction
/// (context settings, optional db-pre-request, the call, then what `Prefer` asks: the max-affected
/// check, the rollback), or a response that needs no database.
public struct CallPlan: Sendable {
    /// Run in order, in one implicit transaction (pipelined, one Sync). The rows handed to
    /// `HTTPResponse(plan:rows:)` are those of statement `resultIndex`, the call.
    public var statements: [Statement]
    /// The call's place in `statements`.
    public var resultIndex: Int
    /// `Preference-Applied` of the success response (nil: none).
    public var preferenceApplied: String?
    /// GET/HEAD or a non-volatile function: the context statement already sets
    /// `transaction_read_only`, so a writing function fails with 25006 (405).
    public var readOnly: Bool
    /// Set for requests answered without the database (OPTIONS); `statements` is then empty.
    public var directResponse: HTTPResponse?
    /// The function called (nil with a direct response).
    public var routine: Routine?
    /// HEAD: the response carries headers only.
    public var isHead: Bool
    /// The media type negotiated from `Accept` and what renders the body in it.
    public var negotiation: Negotiation = .json

    /// Routes, parses the arguments, chooses the overload and generates the SQL.
    /// `role` is the JWT's role; nil means `db-anon-role`. `claims` is the JWT's claims as JSON text
    /// for `request.jwt.claims` (nil: `{"role": <role>}`).
    public init(request: HTTPRequest, catalog: Catalog, config: GatewayConfig, role: String? = nil,
                claims: String? = nil) throws {
        let route = try Route(method: request.method, path: request.path)
        let schema = try Self.schema(for: request, route: route, config: config)
        isHead = route.method == .head
        if route.method == .options {
            statements = []
            resultIndex = 0
            preferenceApplied = nil
            readOnly = true
            routine = nil
            directResponse = try Self.options(schema: schema, function: route.function, catalog: catalog)
            return
        }
        let contentType = request.headers["content-type"].map(MediaType.init) ?? .json
        let arguments = try Self.arguments(request, route: route, contentType: contentType)
        let (chosen, binding) = try Self.choose(schema: schema, route: route, arguments: arguments, request: request,
                                                contentType: contentType, catalog: catalog)
        let negotiation = try Negotiation.call(accepts: AcceptHeader.mediaTypes(request.headers["accept"]), routine: chosen,
                                               handlers: catalog.mediaHandlers, isHead: isHead)
        guard let role = role ?? config.dbAnonRole else { throw APIError.anonymousAccessDisabled }
        let preferences = Preferences(header: request.headers["prefer"], allowTransactionOverride: config.txAllowOverride)
        try Self.check(preferences, routine: chosen)

        var values: [String?] = []
        var given: [Bool] = []
        if binding == .wholeBody {
            values = [arguments.wholeBody]
            given = [true]
        } else {
            given.reserveCapacity(chosen.parameters.count)
            for parameter in chosen.parameters {
                switch try arguments.value(for: parameter) {
                case .absent: given.append(false)
                case .present(let value):
                    given.append(true)
                    values.append(value)
                }
            }
        }
        let maxAffected = preferences.enforcedMaxAffected
        // A function returning one row (or none: a single value) always has one; a set is checked.
        let singular: Bool
        if case .object = negotiation.mediaType { singular = chosen.returnsSet } else { singular = false }
        let callSQL = catalog.sqlCache.text(for: chosen, given: given, wholeBody: binding == .wholeBody,
                                            handler: negotiation.handler, recordsCount: maxAffected != nil || singular)

        readOnly = route.isQueryCall || chosen.volatility != .volatile
        var requested: [TransactionSetting] = []
        if let timezone = preferences.timezone { requested.append(TransactionSetting(name: "timezone", value: timezone)) }
        if let maxAffected { requested.append(TransactionSetting(name: "pgrst.max_affected", value: String(maxAffected))) }
        var statements = [ContextStatement.make(role: role, request: request, claims: claims, readOnly: readOnly,
                                                settings: catalog.transactionSettings(role: role, routine: chosen,
                                                                                      requested: requested)
                                                    + config.appTransactionSettings)]
        if let preRequest = Self.preRequest(config) { statements.append(preRequest) }
        resultIndex = statements.count
        statements.append(Statement(callSQL, values))
        let rollback = preferences.transaction == .rollback || (config.txRollbackAll && preferences.transaction != .commit)
        if rollback { statements.append(PreferenceSQL.rollback[0]) }
        if singular { statements.append(SingularSQL.check) }
        if maxAffected != nil { statements.append(PreferenceSQL.maxAffectedCheck) }
        if rollback { statements += PreferenceSQL.rollback.dropFirst() }
        self.statements = statements
        preferenceApplied = preferences.appliedToCall
        routine = chosen
        directResponse = nil
        self.negotiation = negotiation
    }

    /// The call's arguments: the query string (GET/HEAD), else the body by its Content-Type (absent:
    /// JSON). PostgREST's `getPayload`: a form's pairs, CSV, a raw body for the types a single unnamed
    /// parameter takes, anything else 400 PGRST102.
    static func arguments(_ request: HTTPRequest, route: Route, contentType: MediaType) throws -> RequestArguments {
        if route.isQueryCall { return try RequestArguments(query: request.query) }
        switch contentType {
        case .json:
            return try RequestArguments(body: request.body)
        case .urlEncoded:
            guard let form = String(validating: request.body, as: UTF8.self) else { throw QueryString.invalidUTF8 }
            return try RequestArguments(query: form)
        case .csv:
            return try RequestArguments(csv: request.body)
        case .textPlain, .textXML, .octetStream:
            return try RequestArguments(raw: request.body, binary: contentType == .octetStream)
        default:
            throw APIError.invalidBody(message: "Content-Type not acceptable: " + contentType.mime)
        }
    }

    /// `SELECT <db-pre-request>()`, run after the context statement (nil when not configured).
    static func preRequest(_ config: GatewayConfig) -> Statement? {
        config.dbPreRequest.flatMap(QualifiedName.init).map { Statement("SELECT " + $0.sql + "()") }
    }

    /// PostgREST's checks of the preferences once the function is known (`Plan.hs`, `callReadPlan`):
    /// PGRST122 for unknown ones under strict handling, PGRST128 for max-affected on a function that
    /// does not return a set.
    static func check(_ preferences: Preferences, routine: Routine) throws {
        try preferences.checkValid()
        if preferences.enforcedMaxAffected != nil, !routine.returnsSet {
            throw APIError.requestError(status: 400, code: "PGRST128",
                                        message: "Function must return SETOF or TABLE when max-affected preference is used with handling=strict",
                                        details: nil, hint: nil)
        }
    }

    /// The overload the request means (PGRST202/203 otherwise; PGRST127 for unsupported query features).
    static func choose(schema: String, route: Route, arguments: RequestArguments, request: HTTPRequest,
                       contentType: MediaType = .json, catalog: Catalog) throws -> (Routine, RoutineMatcher.Binding) {
        if !route.isQueryCall, MediaTypes.prefersSingleObject(request.headers["prefer"]) {
            return try RoutineMatcher.matchSingleObject(schema: schema, function: route.function, catalog: catalog)
        }
        do {
            return try RoutineMatcher.match(schema: schema, function: route.function, keys: arguments.keys,
                                            isPost: !route.isQueryCall, contentType: contentType, catalog: catalog)
        } catch APIError.requestError(404, "PGRST202", let message, let details, let hint) {
            let overloads = catalog.overloads(schema: schema, name: route.function)
            if !overloads.isEmpty, let unsupported = UnsupportedQuery.find(in: arguments, overloads: overloads) {
                throw APIError.notImplemented(details: unsupported)
            }
            throw APIError.requestError(status: 404, code: "PGRST202", message: message, details: details, hint: hint)
        }
    }

    /// The exposed schema the request names with Accept-Profile (GET/HEAD) or Content-Profile
    /// (POST), else the default one.
    static func schema(for request: HTTPRequest, route: Route, config: GatewayConfig) throws -> String {
        let header = route.isQueryCall || route.method == .options ? "accept-profile" : "content-profile"
        return try schema(named: request.headers[header], config: config)
    }

    /// The exposed schema a profile header names (nil: the default one); 406 PGRST106 otherwise.
    static func schema(named wanted: String?, config: GatewayConfig) throws -> String {
        guard let wanted else { return config.defaultSchema }
        guard config.dbSchemas.contains(wanted) else {
            throw APIError.unacceptableSchema(schema: wanted, exposed: config.dbSchemas)
        }
        return wanted
    }

    /// OPTIONS: 200 with `Allow` (GET/HEAD only when no overload is volatile), no body.
    static func options(schema: String, function: String, catalog: Catalog) throws -> HTTPResponse {
        let overloads = catalog.overloads(schema: schema, name: function)
        guard !overloads.isEmpty else {
            throw RoutineMatcher.noFunction(schema: schema, function: function, keys: [], isPost: false,
                                            overloads: [], catalog: catalog)
        }
        let allow = overloads.contains { $0.volatility == .volatile } ? "OPTIONS,POST" : "OPTIONS,GET,HEAD,POST"
        return HTTPResponse(status: 200, headers: [("Access-Control-Allow-Origin", "*"), ("Allow", allow)])
    }
}
