/// `GET /notify/<channel>`: a server-sent event stream of the channel's notifications, allowed per
/// subscription by the exposed schema's `can_listen(channel text) RETURNS boolean`, which runs in the
/// caller's transaction (context statement, `db-pre-request`, then the function) in one round trip.
/// Pure: the channel checked, the function found, the statements made.
struct ListenPlan: Sendable {
    static let prefix = "/notify/"
    static let mediaType = "text/event-stream"
    /// PostgreSQL truncates identifiers beyond NAMEDATALEN - 1 bytes: two longer names could be one channel.
    static let maxChannelBytes = 63

    /// The channel, percent-decoded.
    let channel: String
    let statements: [Statement]
    /// The statement whose row answers (`can_listen`'s boolean).
    let resultIndex: Int

    /// Whether `GET` of this path asks for an event stream.
    static func matches(_ path: String) -> Bool { path.hasPrefix(prefix) }

    init(request: HTTPRequest, catalog: Catalog, config: GatewayConfig, role: String, claims: String?) throws {
        channel = try Self.channel(path: request.path)
        let schema = try CallPlan.schema(named: request.headers["accept-profile"], config: config)
        let accepted = AcceptHeader.mediaTypes(request.headers["accept"])
        guard accepted.contains(where: { $0.mime.lowercased().hasPrefix(Self.mediaType) }) else {
            throw APIError.notAcceptable(accept: accepted.map(\.mime).joined(separator: ", "))
        }
        guard let routine = catalog.overloads(schema: schema, name: "can_listen").first(where: Self.isCanListen) else {
            throw APIError.listen(.noCanListen(schema: schema))
        }
        var statements = [ContextStatement.make(role: role, request: request, claims: claims, readOnly: true,
                                                settings: catalog.transactionSettings(role: role, routine: routine, requested: [])
                                                    + config.appTransactionSettings)]
        if let preRequest = CallPlan.preRequest(config) { statements.append(preRequest) }
        resultIndex = statements.count
        statements.append(Statement("SELECT \(quoteIdentifier(schema)).can_listen($1::text)", [channel]))
        self.statements = statements
    }

    /// `can_listen(text) RETURNS boolean`, the only signature the gateway calls.
    static func isCanListen(_ routine: Routine) -> Bool {
        routine.parameters.count == 1 && !routine.returnsSet && routine.returnType == "boolean"
            && ["text", "character varying", "varchar"].contains(routine.parameters[0].type)
    }

    /// The channel named by the path: one percent-decoded segment, a valid channel name.
    static func channel(path: String) throws -> String {
        var segment = path.dropFirst(prefix.count)
        if segment.last == "/" { segment = segment.dropLast() }
        guard !segment.contains("/") else { throw APIError.listen(.invalidChannel(reason: "a channel is one path segment")) }
        let channel = QueryString.decode(segment.utf8, plusIsSpace: false)
        guard !channel.isEmpty else { throw APIError.listen(.invalidChannel(reason: "the channel name is empty")) }
        guard channel.utf8.count <= maxChannelBytes else {
            throw APIError.listen(.invalidChannel(reason: "the channel name is \(channel.utf8.count) bytes long"))
        }
        guard !channel.utf8.contains(0) else {
            throw APIError.listen(.invalidChannel(reason: "the channel name contains a NUL character"))
        }
        return channel
    }
}
