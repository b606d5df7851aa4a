extension Catalog {
    /// The schema cache as PostgREST's admin server answers `GET /schema_cache` (Admin.hs; the
    /// `ToJSON SchemaCache` instance of SchemaCache.hs, Aeson's generic encoding): an object of
    /// `dbTables`, `dbRelationships`, `dbRoutines`, `dbRepresentations` and `dbMediaHandlers`, each a
    /// map with object keys and so an array of [key, value] pairs. The gateway serves functions only:
    /// `dbRoutines` holds them, by `{"qiName","qiSchema"}`, overloads with the fewest parameters first
    /// (SchemaCache/Routine.hs, `Routine` and `RoutineParam`); the other maps are empty.
    public var schemaCacheJSON: String {
        let routines = routinesBySchema.sorted { $0.key < $1.key }.flatMap { schema, byName in
            byName.sorted { $0.key < $1.key }.map { name, overloads -> JSONValue in
                .array([Self.qualifiedIdentifier(schema: schema, name: name),
                        .array(overloads.sorted { $0.parameters.count < $1.parameters.count }.map(Self.routineJSON))])
            }
        }
        return JSONValue.object([("dbTables", .array([])), ("dbRelationships", .array([])), ("dbRoutines", .array(routines)),
                                 ("dbRepresentations", .array([])), ("dbMediaHandlers", .array([]))]).jsonText
    }

    static func qualifiedIdentifier(schema: String, name: String) -> JSONValue {
        .object([("qiName", .string(name)), ("qiSchema", .string(schema))])
    }

    /// Aeson's generic sum encoding: `{"tag": constructor, "contents": fields}`.
    static func tagged(_ tag: String, _ contents: JSONValue) -> JSONValue {
        .object([("contents", contents), ("tag", .string(tag))])
    }

    static func routineJSON(_ routine: Routine) -> JSONValue {
        let type = routine.declaredReturnType
        let identifier = qualifiedIdentifier(schema: type?.schema ?? "pg_catalog", name: type?.name ?? routine.returnType)
        let pgType = type?.isComposite == true
            ? tagged("Composite", .array([identifier, .bool(type?.isDomainAlias == true)]))
            : tagged("Scalar", identifier)
        let volatility: String
        switch routine.volatility {
        case .immutable: volatility = "Immutable"
        case .stable: volatility = "Stable"
        case .volatile: volatility = "Volatile"
        }
        let parameters: [JSONValue] = routine.parameters.map { parameter in
            .object([("ppName", .string(parameter.name)), ("ppReq", .bool(!parameter.hasDefault)),
                     ("ppType", .string(parameter.type)), ("ppTypeMaxLength", .string(parameter.type)),
                     ("ppVar", .bool(parameter.isVariadic))])
        }
        return .object([
            ("pdDescription", routine.comment.map(JSONValue.string) ?? .null),
            ("pdFuncSettings", .array(routine.settings.map { .array([.string($0.name), .string($0.value)]) })),
            ("pdHasVariadic", .bool(routine.parameters.contains { $0.isVariadic })),
            // The gateway runs each call in the database's default isolation (no function's own level).
            ("pdIsoLvl", .null),
            ("pdName", .string(routine.name)),
            ("pdParams", .array(parameters)),
            ("pdReturnType", tagged(routine.returnsSet ? "SetOf" : "Single", pgType)),
            ("pdSchema", .string(routine.schema)),
            ("pdVolatility", .string(volatility)),
        ])
    }
}
