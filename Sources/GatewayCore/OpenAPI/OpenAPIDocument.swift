import Foundation

/// The OpenAPI 3.1 description served at `/`, generated from the schema cache: every exposed function
/// as `/rpc/<name>` with its arguments, which are required, its result, GET only for STABLE/IMMUTABLE
/// functions, and its COMMENT as the description. (PostgREST serves Swagger 2.0 only.)
public struct OpenAPIDocument: Sendable {
    /// Output columns of functions returning a composite or a table, keyed by `schema.name(arg1,arg2)`.
    public typealias ResultColumns = [String: [(name: String, type: String)]]

    public let json: [UInt8]

    public init(catalog: Catalog, schema: String, resultColumns: ResultColumns, serverURL: String? = nil) {
        var paths: [String: Any] = [:]
        let routines = catalog.routines.filter { $0.schema == schema }
        for (name, overloads) in Dictionary(grouping: routines, by: \.name) {
            paths["/rpc/\(name)"] = Self.pathItem(overloads.sorted { $0.parameters.count < $1.parameters.count },
                                                  resultColumns: resultColumns, handlers: catalog.mediaHandlers)
        }
        if routines.contains(where: { $0.name == "can_listen" && ListenPlan.isCanListen($0) }) {
            paths[ListenPlan.prefix + "{channel}"] = Self.notifyPathItem
        }
        var document: [String: Any] = [
            "openapi": "3.1.0",
            "info": [
                "title": "platform API (\(schema))",
                "version": "1.0.0",
                "description": "PostgreSQL functions of the schema \(schema), served as /rpc/<function> with PostgREST's RPC semantics.",
            ],
            "paths": paths,
            "components": [
                "schemas": ["Error": Self.errorSchema],
                "parameters": Self.shapingComponents.merging(["Prefer": Self.preferParameter,
                                                              "Idempotency-Key": Self.idempotencyKeyParameter]) { $1 },
                "headers": ["Preference-Applied": Self.preferenceAppliedHeader, "Content-Range": Self.contentRangeHeader,
                            "Proxy-Status": Self.proxyStatusHeader, "Idempotent-Replayed": Self.idempotentReplayedHeader],
                "securitySchemes": ["bearerAuth": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
                "responses": ["Error": ["description": "Error (PostgREST format)",
                                        "headers": ["Proxy-Status": ["$ref": "#/components/headers/Proxy-Status"]],
                                        "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]],
                              "Unavailable": Self.unavailableResponse],
            ],
            "security": [[:], ["bearerAuth": []]],
        ]
        if let serverURL { document["servers"] = [["url": serverURL]] }
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        json = Array(data)
    }

    static var errorSchema: [String: Any] { [
        "type": "object",
        "required": ["code", "message", "details", "hint"],
        "properties": [
            "code": ["type": "string"], "message": ["type": "string"],
            "details": ["type": ["string", "null"]], "hint": ["type": ["string", "null"]],
        ],
    ] }

    /// 503: the database is unreachable or shutting down (PGRST000), or the function says "come back
    /// later" (PT503, RAISE SQLSTATE 'PGRST' with status 503); the error body, usually with Retry-After.
    static var unavailableResponse: [String: Any] { [
        "description": "Unavailable for now: the database is unreachable, or the function asks to retry later",
        "headers": ["Retry-After": ["description": "Seconds to wait before retrying", "schema": ["type": "string"]],
                    "Proxy-Status": ["$ref": "#/components/headers/Proxy-Status"]],
        "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]],
    ] }

    /// `Proxy-Status` (RFC 9209) on every error, as PostgREST sends it (errors.rst, "Proxy-Status Header").
    static var proxyStatusHeader: [String: Any] { [
        "description": "PostgREST; error=<the body's code>: a PGRST code, a SQLSTATE or a custom code (useful after HEAD)",
        "schema": ["type": "string"], "example": "PostgREST; error=PGRST202",
    ] }

    /// `Prefer` (RFC 7240, PostgREST's preferences.rst): comma-separated items.
    static var preferParameter: [String: Any] { [
        "name": "Prefer", "in": "header", "required": false,
        "description": "handling=strict|lenient (strict: an unknown preference is a 400 PGRST122); "
            + "timezone=<IANA name or offset> (the transaction's TimeZone; an invalid one is a 400 22023); "
            + "max-affected=<n> with handling=strict (a function returning more rows is a 400 PGRST124, and rolled back; "
            + "one not returning a set is a 400 PGRST128); tx=commit|rollback when db-tx-end allows an override "
            + "(rollback: the response is the call's, its effects are undone); params=single-object; "
            + "count=exact|planned|estimated (the total in Content-Range; planned answers *); "
            + "timeout=<seconds> (decimals allowed; the call's statement timeout for this request, capped by db-max-timeout: "
            + "a call cut off answers 504 with PostgreSQL's 57014 body).",
        "schema": ["type": "string"],
        "examples": ["strict": ["value": "handling=strict, timezone=UTC"], "rollback": ["value": "tx=rollback"],
                     "deadline": ["value": "timeout=2.5"]],
    ] }

    /// `Preference-Applied` on a success: the preferences honoured, in PostgREST's order.
    static var preferenceAppliedHeader: [String: Any] { [
        "description": "The preferences honoured (count, tx, handling, timezone, max-affected, timeout), e.g. \"handling=strict, timezone=UTC\"",
        "schema": ["type": "string"],
    ] }

    static func key(_ routine: Routine) -> String {
        "\(routine.schema).\(routine.name)(\(routine.parameters.map(\.name).joined(separator: ",")))"
    }

    private static func pathItem(_ overloads: [Routine], resultColumns: ResultColumns,
                                 handlers: MediaHandlerMap) -> [String: Any] {
        let first = overloads[0]
        let description = overloads.compactMap(\.comment).first ?? ""
        let summary = description.split(separator: "\n").first.map(String.init) ?? first.name
        let responses = self.responses(overloads, resultColumns: resultColumns, handlers: handlers)
        var item: [String: Any] = [
            "post": [
                "operationId": first.name,
                "summary": summary,
                "description": description,
                "requestBody": [
                    "required": overloads.allSatisfy { !$0.requiredParameterNames.isEmpty },
                    "content": requestContent(overloads),
                ],
                "parameters": [Self.preferReference] + idempotencyReferences(overloads) + shapingReferences(first, isGet: false)
                    + filterParameters(first),
                "responses": responses,
            ] as [String: Any],
        ]
        if overloads.count == 1, first.volatility != .volatile {
            item["get"] = [
                "operationId": "\(first.name)_get",
                "summary": summary,
                "description": description,
                "parameters": first.parameters.filter { !$0.name.isEmpty }.map(queryParameter) + [Self.preferReference]
                    + shapingReferences(first, isGet: true) + filterParameters(first),
                "responses": responses,
            ] as [String: Any]
        }
        return item
    }

    private static var preferReference: [String: Any] { ["$ref": "#/components/parameters/Prefer"] }
    private static var successHeaders: [String: Any] { [
        "Preference-Applied": ["$ref": "#/components/headers/Preference-Applied"],
        "Content-Range": ["$ref": "#/components/headers/Content-Range"],
        "Idempotent-Replayed": ["$ref": "#/components/headers/Idempotent-Replayed"],
    ] }

    /// A single unnamed text, xml or bytea parameter takes the raw body of its type (functions.rst);
    /// the others take JSON.
    static func requestContent(_ overloads: [Routine]) -> [String: Any] {
        let rawTypes: [String: MediaType] = ["text": .textPlain, "xml": .textXML, "bytea": .octetStream]
        var content: [String: Any] = [:]
        var json: [Routine] = []
        for routine in overloads {
            if routine.parameters.count == 1, routine.parameters[0].name.isEmpty, let raw = rawTypes[routine.parameters[0].type] {
                content[raw.mime] = ["schema": raw == .octetStream ? ["type": "string", "format": "binary"] : ["type": "string"]]
            } else {
                json.append(routine)
            }
        }
        if !json.isEmpty {
            let bodies = json.map(requestBodySchema)
            content[MediaType.json.mime] = ["schema": bodies.count == 1 ? bodies[0] : ["oneOf": bodies]]
        }
        return content
    }

    private static func requestBodySchema(_ routine: Routine) -> [String: Any] {
        if routine.takesSingleUnnamedJSON { return ["description": "the whole body is the function's json argument"] }
        var properties: [String: Any] = [:]
        for parameter in routine.parameters { properties[parameter.name] = OpenAPITypes.schema(parameter.type) }
        return ["type": "object", "properties": properties, "required": routine.requiredParameterNames,
                "additionalProperties": false]
    }

    private static func queryParameter(_ parameter: RoutineParameter) -> [String: Any] {
        var item: [String: Any] = ["name": parameter.name, "in": "query", "required": !parameter.hasDefault,
                                   "schema": OpenAPITypes.schema(parameter.type)]
        if parameter.isArray { item["style"] = "form"; item["explode"] = true }
        return item
    }

    private static func responses(_ overloads: [Routine], resultColumns: ResultColumns,
                                  handlers: MediaHandlerMap) -> [String: Any] {
        let routine = overloads[0]
        // Errors: 4xx from the request or the function's SQLSTATE, 503 to retry later, anything else
        // (300 ambiguous overload, 504 pool timeout or Prefer: timeout passed, 500) in the same error body.
        var responses: [String: Any] = [
            "default": ["$ref": "#/components/responses/Error"],
            "4XX": ["$ref": "#/components/responses/Error"],
            "503": ["$ref": "#/components/responses/Unavailable"],
        ]
        if routine.returnShape == .void && !routine.returnsSet {
            responses["204"] = ["description": "Done (the function returns void)", "headers": Self.successHeaders]
            return responses
        }
        // Every value may be SQL NULL (JSON null): PostgreSQL does not say which results cannot be.
        var value: [String: Any]
        if routine.returnShape == .composite {
            var properties: [String: Any] = [:]
            for column in resultColumns[key(routine)] ?? [] {
                properties[column.name] = OpenAPITypes.nullable(OpenAPITypes.schema(column.type))
            }
            value = ["type": "object", "properties": properties]
        } else {
            value = OpenAPITypes.nullable(OpenAPITypes.schema(routine.returnType))
        }
        let single = routine.returnShape == .composite ? OpenAPITypes.nullable(value) : value
        if routine.returnsSet {
            value = ["type": "array", "items": value]
        } else if routine.returnShape == .composite {
            value = OpenAPITypes.nullable(value)
        }
        let success: [String: Any] = ["description": "The function's result", "headers": Self.successHeaders,
                                      "content": content(routine, json: value, single: single, handlers: handlers)]
        responses["200"] = success
        if routine.returnsSet { responses["206"] = partialResponse(success) }
        // A function may choose another success status (SET response.status, e.g. 201 or 202), same body.
        responses["2XX"] = success
        return responses
    }

    /// The media types a function answers in, as content negotiation offers them (`Negotiation`):
    /// JSON, PostgREST's vendor JSON forms, JSON lines, CSV and GeoJSON, and the user-defined handlers for its
    /// rows, its relation or any rows (text or bytes, as their domains say).
    static func content(_ routine: Routine, json: [String: Any], single: [String: Any],
                        handlers: MediaHandlerMap) -> [String: Any] {
        var content: [String: Any] = [
            MediaType.json.mime: ["schema": json],
            MediaType.arrayStripped.mime: ["schema": json],
            MediaType.object(stripNulls: false).mime: ["schema": single],
            MediaType.object(stripNulls: true).mime: ["schema": single],
            // JSON lines (docs/streaming.md): the array's values one per line, or the single value.
            MediaType.jsonLines.mime: ["schema": ["type": "string", "description": "one JSON value per line, each ending in a line feed"]],
        ]
        for (answered, isBinary) in handlers.answered(to: routine.mediaHandlerTarget) where content[answered.mime] == nil {
            content[answered.mime] = ["schema": isBinary ? ["type": "string", "format": "binary"] as [String: Any]
                                                         : ["type": "string"]]
        }
        return content
    }
}
