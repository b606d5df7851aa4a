/// PostgreSQL types as JSON Schema (OpenAPI 3.1 schemas are JSON Schema 2020-12).
enum OpenAPITypes {
    /// `schema` that also admits JSON null (SQL NULL); a schema without a type admits it already.
    static func nullable(_ schema: [String: Any]) -> [String: Any] {
        guard let type = schema["type"] as? String else { return schema }
        var result = schema
        result["type"] = [type, "null"]
        return result
    }

    /// The schema of a value of PostgreSQL type `type` (as the catalog prints it: `integer`, `text[]`,
    /// `widgets.port_type`); `format` keeps the PostgreSQL type for anything JSON cannot say.
    static func schema(_ type: String) -> [String: Any] {
        if type.hasSuffix("[]") {
            return ["type": "array", "items": schema(String(type.dropLast(2)))]
        }
        switch type {
        case "smallint", "integer": return ["type": "integer", "format": "int32"]
        case "bigint": return ["type": "integer", "format": "int64"]
        case "numeric", "real", "double precision": return ["type": "number", "format": type]
        case "boolean": return ["type": "boolean"]
        case "json", "jsonb": return [:]
        case "uuid": return ["type": "string", "format": "uuid"]
        case "date": return ["type": "string", "format": "date"]
        case "timestamp with time zone", "timestamp without time zone": return ["type": "string", "format": "date-time"]
        case "text", "character varying", "bpchar", "name", "citext": return ["type": "string"]
        default: return ["type": "string", "format": type.replacingOccurrences(of: "\"", with: "")]
        }
    }
}
