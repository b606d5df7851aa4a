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
    /// The first row asked for (`offset`, `Range`): where `Content-Range` starts.
    public var rangeOffset: Int64 = 0
    /// The media type negotiated from `Accept` and what renders the body in it.
    public var negotiation: Negotiation = .json
    /// `Prefer: timeout=N` capped by `db-max-timeout`: the call's statement timeout in seconds, and
    /// a statement timeout then answers 504 (nil: no deadline asked, a timeout stays PostgREST's 500).
    public var timeout: Double?
    /// `Idempotency-Key` in effect (a POST to a function that writes): the call stores its answer, and
    /// a replay of it may come back instead (`HTTPResponse(plan:outcome:)`).
    public var idempotencyKey: IdempotencyKey?
    /// Set when the call's rows are streamed (`StreamedBody`): the call statement then returns one row
    /// per result row (`CallSQL.streamedText`).
    public var streamed: StreamedBody?

    /// Routes, parses the arguments, chooses the overload and generates the SQL.
    /// `role` is the JWT's role; nil means `db-anon-role`. `claims` is the JWT's claims as JSON text
    /// for `request.jwt.claims` (nil: `{"role": <role>}`).
    /// `streaming`: the caller reads the call's rows as they come (the event loops); one that reads the
    /// whole result at once (an in-process caller) gets the one-row form every call can have.
    public init(request: HTTPRequest, catalog: Catalog, config: GatewayConfig, role: String? = nil,
                claims: String? = nil, streaming: Bool = true) throws {
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
        // PostgREST's ApiRequest stage: the query string and the range, before any function is looked up.
        let query = try ReadQuery(pairs: QueryString.validatedPairs(request.query), isRead: route.isQueryCall)
        let range = try RowRange.requested(limit: query.limit, offset: query.offset,
                                           header: route.method == .get ? request.headers["range"] : nil)
        let arguments = route.isQueryCall ? RequestArguments(pairs: query.arguments)
                                          : try Self.bodyArguments(request, contentType: contentType)
        let (chosen, binding) = try Self.choose(schema: schema, route: route, arguments: arguments, request: request,
                                                contentType: contentType, catalog: catalog)
        let negotiation = try Negotiation.call(accepts: AcceptHeader.mediaTypes(request.headers["accept"]), routine: chosen,
                                               handlers: catalog.mediaHandlers,
                                               defaultSelect: query.select == nil)
        guard let role = role ?? config.dbAnonRole else { throw APIError.anonymousAccessDisabled }
        var preferences = Preferences(header: request.headers["prefer"], allowTransactionOverride: config.txAllowOverride)
        try Self.check(preferences, routine: chosen)
        preferences.timeout = preferences.timeout.map { min($0, config.dbMaxTimeout) }

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
        let shaped = try Self.shape(query, routine: chosen, schema: schema, range: range, config: config,
                                    preferences: preferences)
        values += shaped.values
        // A function returning one row (or none: a single value) always has one; a set is checked.
        let singular: Bool
        if case .object = negotiation.mediaType { singular = chosen.returnsSet } else { singular = false }
        let idempotencyKey = try Self.idempotencyKey(request, route: route, routine: chosen, catalog: catalog)
        if let idempotencyKey { values += IdempotencySQL.storeParameters(idempotencyKey, ttlSeconds: config.dbIdempotencyTTL) }
        // A call with an Idempotency-Key stores its one result row: it is answered whole, never streamed.
        streamed = idempotencyKey != nil || !streaming ? nil
            : StreamedBody.choose(routine: chosen, handler: negotiation.handler, shape: shaped.shape, isHead: isHead,
                                  needsCount: maxAffected != nil || singular)
        let callSQL = catalog.sqlCache.text(for: chosen, given: given, wholeBody: binding == .wholeBody,
                                            handler: negotiation.handler, recordsCount: maxAffected != nil || singular,
                                            shape: shaped.shape, idempotent: idempotencyKey != nil, streamed: streamed != nil)
        rangeOffset = range.lower

        readOnly = route.isQueryCall || chosen.volatility != .volatile
        var requested: [TransactionSetting] = []
        if let timezone = preferences.timezone { requested.append(TransactionSetting(name: "timezone", value: timezone)) }
        if let maxAffected { requested.append(TransactionSetting(name: "pgrst.max_affected", value: String(maxAffected))) }
        // The client's deadline comes after the role's and the function's own settings: for this
        // request it replaces their statement_timeout (bounded by db-max-timeout, not by them).
        let deadline = preferences.timeout.map { [TransactionSetting.statementTimeout(seconds: $0)] } ?? []
        var statements = [ContextStatement.make(role: role, request: request, claims: claims, readOnly: readOnly,
                                                settings: catalog.transactionSettings(role: role, routine: chosen,
                                                                                      requested: requested)
                                                    + deadline + config.appTransactionSettings)]
        if let preRequest = Self.preRequest(config) { statements.append(preRequest) }
        if let idempotencyKey { statements.append(IdempotencySQL.claim(idempotencyKey)) }
        resultIndex = statements.count
        statements.append(Statement(callSQL, values))
        let rollback = preferences.transaction == .rollback || (config.txRollbackAll && preferences.transaction != .commit)
        if rollback { statements.append(PreferenceSQL.rollback[0]) }
        if singular { statements.append(SingularSQL.check) }
        if maxAffected != nil { statements.append(PreferenceSQL.maxAffectedCheck) }
        if rollback { statements += PreferenceSQL.rollback.dropFirst() }
        self.statements = statements
        preferenceApplied = preferences.appliedToCall
        timeout = preferences.timeout
        routine = chosen
        directResponse = nil
        self.negotiation = negotiation
        self.idempotencyKey = idempotencyKey
    }

    /// The request's `Idempotency-Key` when it applies: a POST to a VOLATILE function. A GET, HEAD or a
    /// POST to a STABLE or IMMUTABLE function runs read-only, so running it again changes nothing: the
    /// header is ignored there. 400 for a malformed key; 501 when the database has no store (not
    /// migrated by this project): the write is refused rather than run without the guarantee.
    static func idempotencyKey(_ request: HTTPRequest, route: Route, routine: Routine, catalog: Catalog) throws -> IdempotencyKey? {
        guard route.method == .post, routine.volatility == .volatile, let key = try IdempotencyKey(request: request) else { return nil }
        guard catalog.hasIdempotencyStore else {
            throw APIError.requestError(status: 501, code: "IK501", message: "Idempotency-Key is not available on this database",
                                        details: "The database has no gateway.claim_idempotency_key and gateway.store_idempotent_result (migration 0016 and sql/gateway.sql).",
                                        hint: "Migrate the database with gateway migrate, or send the request without Idempotency-Key.")
        }
        return key
    }

    /// A POST's arguments from its body by its Content-Type (absent: JSON). PostgREST's `getPayload`:
    /// a form's pairs, CSV, a raw body for the types a single unnamed parameter takes, anything else
    /// 400 PGRST102.
    static func bodyArguments(_ request: HTTPRequest, contentType: MediaType) throws -> RequestArguments {
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

    /// The result's shape, with PostgREST's errors for what a function result cannot give: embedding
    /// (PGRST200: no relationship is known for it) and aggregates (PGRST123, as with
    /// `db-aggregates-enabled` off). `count=planned` is not counted: PostgREST answers it with
    /// EXPLAIN, a second round trip; `estimated` is exact here, as PostgREST's own for functions.
    static func shape(_ query: ReadQuery, routine: Routine, schema: String, range: RowRange, config: GatewayConfig,
                      preferences: Preferences) throws -> ReadShape {
        let relation = routine.relationName ?? routine.name
        switch query.unsupportedSelect {
        case .embedding(let name)?:
            throw APIError.requestError(
                status: 400, code: "PGRST200", message: "Could not find a relationship between '\(relation)' and '\(name)' in the schema cache",
                details: "Searched for a foreign key relationship between '\(relation)' and '\(name)' in the schema '\(schema)', but no matches were found.",
                hint: nil)
        case .aggregate?:
            throw APIError.requestError(status: 400, code: "PGRST123", message: "Use of aggregate functions is not allowed",
                                        details: nil, hint: nil)
        case nil:
            return try ReadShape(query: query, routine: routine, range: range, maxRows: config.dbMaxRows,
                                 counted: preferences.count == "exact" || preferences.count == "estimated")
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

    /// The overload the request means (PGRST202/203 otherwise).
    static func choose(schema: String, route: Route, arguments: RequestArguments, request: HTTPRequest,
                       contentType: MediaType = .json, catalog: Catalog) throws -> (Routine, RoutineMatcher.Binding) {
        if !route.isQueryCall, MediaTypes.prefersSingleObject(request.headers["prefer"]) {
            return try RoutineMatcher.matchSingleObject(schema: schema, function: route.function, catalog: catalog)
        }
        return try RoutineMatcher.match(schema: schema, function: route.function, keys: arguments.keys,
                                        isPost: !route.isQueryCall, contentType: contentType, catalog: catalog)
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
