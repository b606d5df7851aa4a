@testable import GatewayCore

/// A catalog modelled on PostgREST's RPC test fixtures, for planning tests without a database.
enum Fixtures {
    static func parameter(_ name: String, _ type: String, default hasDefault: Bool = false, variadic: Bool = false) -> RoutineParameter {
        RoutineParameter(name: name, type: type, hasDefault: hasDefault, isVariadic: variadic)
    }

    static func routine(_ name: String, _ parameters: [RoutineParameter] = [], shape: Routine.ReturnShape = .scalar,
                        set: Bool = false, volatility: Routine.Volatility = .volatile, schema: String = "test",
                        settings: [TransactionSetting] = [], columns: [ResultColumn] = []) -> Routine {
        Routine(schema: schema, name: name, parameters: parameters, returnShape: shape, returnsSet: set,
                returnType: "", volatility: volatility, settings: settings, columns: columns)
    }

    static let routines: [Routine] = [
        routine("sayhello", [parameter("name", "text")], volatility: .immutable),
        routine("add_them", [parameter("a", "integer"), parameter("b", "integer")], volatility: .immutable),
        routine("noparamsproc", volatility: .stable),
        routine("getitemrange", [parameter("min", "bigint"), parameter("max", "bigint")], shape: .composite, set: true, volatility: .stable,
                columns: [ResultColumn(name: "id", type: "bigint"), ResultColumn(name: "data", type: "jsonb"),
                          ResultColumn(name: "doc", type: "text")]),
        routine("ret_void", shape: .void),
        routine("ret_point_2d", shape: .composite, volatility: .stable),
        routine("overloaded", set: true),
        routine("overloaded", [parameter("", "json")], shape: .composite, set: true),
        routine("overloaded", [parameter("a", "integer"), parameter("b", "integer")], set: true),
        routine("overloaded", [parameter("a", "text"), parameter("b", "text"), parameter("c", "text")], set: true),
        routine("overloaded_same_args", [parameter("arg", "integer")]),
        routine("overloaded_same_args", [parameter("arg", "xml")]),
        routine("overloaded_same_args", [parameter("arg", "text"), parameter("num", "integer", default: true)]),
        routine("variadic_param", [parameter("v", "text[]", default: true, variadic: true)], volatility: .immutable),
        routine("many_defaults", [parameter("a", "integer"), parameter("b", "text", default: true), parameter("c", "jsonb", default: true)]),
        routine("single_json", [parameter("", "json")]),
        routine("single_jsonb_or_named", [parameter("", "jsonb")]),
        routine("single_jsonb_or_named", [parameter("x", "integer")]),
        routine("int_array", [parameter("arr", "integer[]")]),
        routine("quotedFunction", [parameter("user", "text"), parameter("fullName", "text"), parameter("SSN", "text")], shape: .composite),
        routine("writer", shape: .void),
        routine("many_defaults_json", [parameter("payload", "jsonb")]),
    ]

    static let catalog = Catalog(routines: routines)

    static let config: GatewayConfig = {
        var config = GatewayConfig()
        config.dbSchemas = ["test", "api"]
        config.dbAnonRole = "web_anon"
        return config
    }()

    static func request(_ method: String, _ path: String, query: String = "", body: String = "",
                        headers: [String: String] = [:]) -> HTTPRequest {
        HTTPRequest(method: method, path: path, query: query, headers: headers, body: Array(body.utf8))
    }

    static func plan(_ method: String, _ path: String, query: String = "", body: String = "",
                     headers: [String: String] = [:], config: GatewayConfig = config) throws -> CallPlan {
        try CallPlan(request: request(method, path, query: query, body: body, headers: headers), catalog: catalog, config: config)
    }

    /// The error response a planning failure turns into.
    static func failure(_ method: String, _ path: String, query: String = "", body: String = "",
                        headers: [String: String] = [:], config: GatewayConfig = config) -> HTTPResponse? {
        do {
            _ = try plan(method, path, query: query, body: body, headers: headers, config: config)
            return nil
        } catch {
            return HTTPResponse(error: error, authenticated: false)
        }
    }
}

extension HTTPResponse {
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    var json: JSONValue? { JSONValue(parsing: body) }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Builds the expected error body `{"code","message","details","hint"}`.
func errorJSON(code: String, message: String, details: String? = nil, hint: String? = nil) -> JSONValue {
    func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    return .object([("code", .string(code)), ("details", text(details)), ("hint", text(hint)), ("message", .string(message))])
}
