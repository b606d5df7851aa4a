/// One function of an exposed schema, as read from pg_catalog.
public struct Routine: Sendable, Equatable {
    /// What the function returns, which decides the JSON shape of the answer.
    public enum ReturnShape: Sendable, Equatable {
        /// `RETURNS void`: 204, no body.
        case void
        /// A base, domain, enum, range or array type: the bare JSON value.
        case scalar
        /// A composite type, OUT parameters or `RETURNS TABLE`: a JSON object (array when `setOf`).
        case composite
    }

    /// `i` immutable, `s` stable, `v` volatile (pg_proc.provolatile).
    public enum Volatility: String, Sendable, Equatable {
        case immutable = "i", stable = "s", volatile = "v"
    }

    public var schema: String
    public var name: String
    /// Input parameters (IN, INOUT, VARIADIC) in declaration order.
    public var parameters: [RoutineParameter]
    public var returnShape: ReturnShape
    /// `SETOF` / `RETURNS TABLE`: the answer is a JSON array.
    public var returnsSet: Bool
    /// Return type as text (`integer`, `test.widgets`, `record`).
    public var returnType: String
    public var volatility: Volatility
    /// COMMENT ON FUNCTION, if any.
    public var comment: String?
    /// Its own `SET` settings that the call's transaction takes over (`TransactionSetting.hoisted`).
    public var settings: [TransactionSetting]
    /// pg_proc.oid (0 when built by hand): which functions a role may execute is asked by oid.
    public var oid: UInt32
    /// The declared return type by name (PostgREST's `pdReturnType`, shown by the admin `/schema_cache`).
    public var declaredReturnType: DeclaredType?

    /// A type as PostgREST's schema cache names it: schema and name, and whether it is composite
    /// (`isDomainAlias`: a domain over a composite type).
    public struct DeclaredType: Sendable, Equatable {
        public var schema: String
        public var name: String
        public var isComposite: Bool
        public var isDomainAlias: Bool
    }

    /// The columns of each result row (composite results; empty for scalars and void), which
    /// `select`, filters and `order` may name.
    public var columns: [ResultColumn]
    /// The table or view whose rows the function returns, if any: PostgREST names the result after it
    /// (in `column <name>.x does not exist`), else after the function.
    public var relationName: String?

    /// The name of its composite result type (`lines` for `RETURNS SETOF lines`), nil for other results.
    public var resultTypeName: String?

    public init(schema: String, name: String, parameters: [RoutineParameter], returnShape: ReturnShape,
                returnsSet: Bool, returnType: String, volatility: Volatility, comment: String? = nil,
                settings: [TransactionSetting] = [], oid: UInt32 = 0, columns: [ResultColumn] = [],
                relationName: String? = nil, declaredReturnType: DeclaredType? = nil,
                resultTypeName: String? = nil) {
        self.schema = schema
        self.name = name
        self.parameters = parameters
        self.returnShape = returnShape
        self.returnsSet = returnsSet
        self.returnType = returnType
        self.volatility = volatility
        self.comment = comment
        self.settings = settings
        self.oid = oid
        self.declaredReturnType = declaredReturnType
        self.columns = columns
        self.relationName = relationName
        self.resultTypeName = resultTypeName
    }

    /// Whose media type handlers apply to its rows (PostgREST's `funcTableName`): the relation named
    /// like its composite result type, in the function's schema, else the function itself.
    public var mediaHandlerTarget: MediaHandlerTarget {
        .relation(schema: schema, name: resultTypeName ?? name)
    }

    /// A single scalar value (PostgREST's `funcReturnsScalar`): handlers get the value, not the row.
    public var returnsScalar: Bool { returnShape == .scalar && !returnsSet }

    /// True for a function whose only parameter is an unnamed `json`/`jsonb`: it gets the whole body.
    public var takesSingleUnnamedJSON: Bool {
        parameters.count == 1 && parameters[0].name.isEmpty && parameters[0].isJSON
    }

    /// Names of the parameters without a DEFAULT (each call must give them).
    public var requiredParameterNames: [String] {
        parameters.filter { !$0.hasDefault }.map(\.name)
    }
}

/// One input parameter of a `Routine`.
public struct RoutineParameter: Sendable, Equatable {
    /// Empty for an unnamed parameter.
    public var name: String
    /// The type as SQL text usable in a cast (`integer`, `text[]`, `"test"."color"`).
    public var type: String
    public var hasDefault: Bool
    /// Declared VARIADIC (its `type` is then the array type).
    public var isVariadic: Bool
    /// An array type (incl. variadic): JSON arrays and repeated query keys become array literals.
    public var isArray: Bool

    public init(name: String, type: String, hasDefault: Bool = false, isVariadic: Bool = false, isArray: Bool? = nil) {
        self.name = name
        self.type = type
        self.hasDefault = hasDefault
        self.isVariadic = isVariadic
        self.isArray = isArray ?? (isVariadic || type.hasSuffix("[]"))
    }

    /// `json` or `jsonb`.
    public var isJSON: Bool { type == "json" || type == "jsonb" }
}

/// One column of a function's result rows.
public struct ResultColumn: Sendable, Equatable {
    public var name: String
    /// As `format_type` spells it.
    public var type: String
    /// The type under a domain (else `type` without modifiers): decides `to_jsonb` for JSON paths
    /// and `to_tsvector` for full-text filters.
    public var baseType: String

    public init(name: String, type: String, baseType: String? = nil) {
        self.name = name
        self.type = type
        self.baseType = baseType ?? type
    }
}
