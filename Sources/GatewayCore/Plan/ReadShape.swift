/// A request's `ReadQuery` checked against the chosen function's result columns and turned into the
/// value-free `CallShape` plus the values it binds, in the order `CallShape.SQL` numbers them.
struct ReadShape {
    var shape = CallShape()
    var values: [String?] = []

    /// `range`: the top-level rows asked for (`RowRange.requested`); `maxRows`: `db-max-rows`;
    /// `counted`: `Prefer: count=exact|estimated`.
    init(query: ReadQuery, routine: Routine, range: RowRange, maxRows: Int?, counted: Bool) throws {
        let columns = Self.columns(of: routine)
        let checker = ColumnChecker(columns: columns, relation: routine.relationName ?? routine.name)
        if let select = query.select {
            shape.select = try select.map { item in
                guard item.field.name != "*" else { return CallShape.Selected() }
                let field = try checker.field(item.field, values: &values)
                return CallShape.Selected(field: field, cast: item.cast, name: item.alias ?? Self.outputName(item.field))
            }
        }
        shape.conditions = try query.conditions.map { try Self.condition($0, checker: checker, values: &values) }
        shape.order = try query.order.map { term in
            CallShape.Ordered(field: try checker.field(term.field, values: &values), descending: term.descending,
                              nullsFirst: term.nullsFirst)
        }
        let fetched = range.capped(by: maxRows)
        if let limit = fetched.limit {
            shape.hasLimit = true
            values.append(String(limit))
        }
        if fetched.lower > 0 {
            shape.hasOffset = true
            values.append(String(fetched.lower))
        }
        // PostgREST counts separately only when something limits the page (`countF`).
        if counted { shape.total = maxRows != nil || range != .all ? .separate : .page }
        // libpq takes parameters as C strings: a NUL would cut the value short (wrong rows). PostgreSQL,
        // given the bytes as PostgREST sends them, refuses them so (400).
        if values.contains(where: { $0?.utf8.contains(0) == true }) {
            throw PGError(sqlState: "22021", message: "invalid byte sequence for encoding \"UTF8\": 0x00")
        }
    }

    /// What filters may name: the composite's columns, or `pgrst_scalar` for any other result.
    static func columns(of routine: Routine) -> [ResultColumn] {
        routine.returnShape == .composite ? routine.columns
            : [ResultColumn(name: "pgrst_scalar", type: routine.returnType)]
    }

    /// PostgREST's `addAliases`: a JSON path is named after its last key (or the column).
    static func outputName(_ field: QueryField) -> String? {
        guard !field.path.isEmpty else { return nil }
        return field.path.last(where: { !$0.isIndex })?.key ?? field.name
    }

    private static func condition(_ tree: LogicTree, checker: ColumnChecker, values: inout [String?]) throws -> CallShape.Condition {
        switch tree {
        case .group(let negated, let isAnd, let children):
            return .group(negated: negated, isAnd: isAnd,
                          try children.map { try condition($0, checker: checker, values: &values) })
        case .filter(let filter):
            let field = try checker.field(filter.field, values: &values)
            let test: CallShape.Test
            switch filter.operation {
            case .simple(let op, let value):
                test = .compare(op, quantifier: nil)
                values.append(value)
            case .quantified(let op, let quantifier, let value):
                test = .compare(op, quantifier: quantifier?.rawValue)
                // PostgREST lets `*` stand for `%` in like patterns (URLs mangle `%`).
                values.append(op == "like" || op == "ilike" ? value.replacingOccurrences(of: "*", with: "%") : value)
            case .list(let items):
                if items == [""] {
                    test = .emptyList
                } else {
                    test = .list
                    values.append(ArrayLiteral.text(items.map { Optional($0) }))
                }
            case .isValue(let keyword):
                test = .keyword(keyword)
            case .isDistinct(let value):
                test = .distinct
                values.append(value)
            case .fullText(let function, let language, let value):
                let vector = checker.column(filter.field.name)?.baseType == "tsvector" && filter.field.path.isEmpty
                test = .fullText(function: function, language: language != nil, vector: vector)
                if let language { values.append(language) }
                values.append(value)
            }
            return .filter(CallShape.Filter(field: field, negated: filter.negated, test: test))
        }
    }
}

/// Finds the columns a request names among a function's result columns.
struct ColumnChecker {
    let columns: [ResultColumn]
    /// The result's name in PostgREST's message (the returned table's, else the function's).
    let relation: String

    func column(_ name: String) -> ResultColumn? { columns.first { $0.name == name } }

    /// The checked field; its JSON path keys are appended to `values`. An unknown column is what
    /// PostgreSQL answers PostgREST's query with: 42703, 400.
    func field(_ field: QueryField, values: inout [String?]) throws -> CallShape.Field {
        guard let column = column(field.name) else {
            throw APIError.requestError(status: 400, code: "42703", message: "column \(relation).\(field.name) does not exist",
                                        details: nil, hint: nil)
        }
        for step in field.path { values.append(step.key) }
        return CallShape.Field(column: column.name,
                               path: field.path.map { CallShape.Field.Step(asText: $0.asText, isIndex: $0.isIndex) },
                               toJSON: column.baseType != "json" && column.baseType != "jsonb")
    }
}
