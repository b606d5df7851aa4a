/// A catalog row the gateway cannot read (a bug or an unexpected PostgreSQL version).
public struct CatalogError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { "schema cache: \(message)" }
}

extension Catalog {
    /// Builds the snapshot from the rows of `Catalog.query(schemas:)`, `Catalog.roleSettingsQuery` and
    /// `Catalog.mediaHandlersQuery(schemas:)`.
    public init(rows: [[String?]], roleSettingRows: [[String?]] = [], mediaHandlerRows: [[String?]] = []) throws {
        self.init(routines: try rows.map(Self.routine(row:)), roleSettings: try Self.roleSettings(rows: roleSettingRows),
                  mediaHandlers: try Self.mediaHandlers(rows: mediaHandlerRows))
    }

    /// role -> settings, in the query's order (by name).
    static func roleSettings(rows: [[String?]]) throws -> [String: [TransactionSetting]] {
        var settings: [String: [TransactionSetting]] = [:]
        for row in rows {
            guard row.count >= 3, let role = row[0], let name = row[1], let value = row[2] else {
                throw CatalogError(message: "unexpected role setting row \(row)")
            }
            settings[role, default: []].append(TransactionSetting(name: name, value: value))
        }
        return settings
    }

    /// A function's hoisted settings: the JSON array [[name, value], ...] of column 8 (absent: none).
    static func settings(_ text: String?, routine: String) throws -> [TransactionSetting] {
        try stringTuples(text, width: 2, what: "setting", routine: routine).map { TransactionSetting(name: $0[0], value: $0[1]) }
    }

    /// A function's result columns: the JSON array [[name, type, base type], ...] of column 12 (from 1).
    static func columns(_ text: String?, routine: String) throws -> [ResultColumn] {
        try stringTuples(text, width: 3, what: "result column", routine: routine)
            .map { ResultColumn(name: $0[0], type: $0[1], baseType: $0[2]) }
    }

    /// A JSON array of arrays of `width` strings (absent: none); anything else names `what` in the error.
    private static func stringTuples(_ text: String?, width: Int, what: String, routine: String) throws -> [[String]] {
        guard let text else { return [] }
        guard case .array(let items)? = JSONValue(parsing: text) else {
            throw CatalogError(message: "\(routine): unreadable \(what)s \(text)")
        }
        return try items.map { item in
            guard case .array(let fields) = item, fields.count == width,
                  case let strings = fields.compactMap(\.stringValue), strings.count == width else {
                throw CatalogError(message: "\(routine): unreadable \(what) \(item.jsonText)")
            }
            return strings
        }
    }

    static func routine(row: [String?]) throws -> Routine {
        guard row.count >= 8, let schema = row[0], let name = row[1] else {
            throw CatalogError(message: "unexpected row \(row)")
        }
        guard let volatility = row[2].flatMap(Routine.Volatility.init(rawValue:)) else {
            throw CatalogError(message: "\(schema).\(name): unknown volatility \(row[2] ?? "null")")
        }
        let shape: Routine.ReturnShape
        switch row[4] {
        case "void": shape = .void
        case "scalar": shape = .scalar
        case "composite": shape = .composite
        default: throw CatalogError(message: "\(schema).\(name): unknown return shape \(row[4] ?? "null")")
        }
        guard case .array(let items)? = JSONValue(parsing: row[7] ?? "[]") else {
            throw CatalogError(message: "\(schema).\(name): unreadable parameters \(row[7] ?? "null")")
        }
        let parameters = try items.map { item -> RoutineParameter in
            guard case .array(let fields) = item, fields.count == 5,
                  let paramName = fields[0].stringValue, let type = fields[1].stringValue,
                  let hasDefault = fields[2].boolValue, let variadic = fields[3].boolValue,
                  let isArray = fields[4].boolValue else {
                throw CatalogError(message: "\(schema).\(name): unreadable parameter \(item.jsonText)")
            }
            return RoutineParameter(name: paramName, type: type, hasDefault: hasDefault, isVariadic: variadic, isArray: isArray)
        }
        return Routine(
            schema: schema, name: name, parameters: parameters, returnShape: shape,
            returnsSet: row[3] == "t" || row[3] == "true", returnType: row[5] ?? "", volatility: volatility,
            comment: row[6], settings: try settings(row.count > 8 ? row[8] : nil, routine: "\(schema).\(name)"),
            oid: row.count > 9 ? row[9].flatMap { UInt32($0) } ?? 0 : 0,
            columns: try columns(row.count > 11 ? row[11] : nil, routine: "\(schema).\(name)"),
            relationName: row.count > 12 ? row[12] : nil,
            declaredReturnType: row.count > 10 ? try declaredType(row[10], routine: "\(schema).\(name)") : nil,
            resultTypeName: row.count > 13 ? row[13] : nil
        )
    }

    /// Column 11 (from 1): [schema, name, composite, domain alias] of the return type.
    static func declaredType(_ text: String?, routine: String) throws -> Routine.DeclaredType? {
        guard let text else { return nil }
        guard case .array(let fields)? = JSONValue(parsing: text), fields.count == 4,
              let schema = fields[0].stringValue, let name = fields[1].stringValue,
              let composite = fields[2].boolValue, let alias = fields[3].boolValue else {
            throw CatalogError(message: "\(routine): unreadable return type \(text)")
        }
        return Routine.DeclaredType(schema: schema, name: name, isComposite: composite, isDomainAlias: alias)
    }
}
