/// How a call's result rows are shaped (`select`, filters, `order`, `limit`/`offset`, the total),
/// as structure only: column names (checked against the function's result columns), operators,
/// casts, output names. The values (filter operands, JSON path keys, limit, offset) are bind
/// parameters, numbered after the call's arguments in the order `CallShape.SQL` visits them: the
/// select list, the conditions (per filter: path keys, text search configuration, operand), the
/// order terms, then limit and offset. `ReadShape` (Plan) collects the values in that same order.
struct CallShape: Sendable, Hashable {
    /// Empty: every column (`*`).
    var select: [Selected] = []
    /// ANDed.
    var conditions: [Condition] = []
    var order: [Ordered] = []
    var hasLimit = false
    var hasOffset = false
    var total: Total = .none

    /// Whether and how the total row count is computed (`Prefer: count=exact|estimated`).
    enum Total: Sendable, Hashable {
        case none
        /// Nothing limits the page: the total is the page's row count.
        case page
        /// A count over the filtered source, before limit, offset and `db-max-rows`.
        case separate
    }

    /// A column of the source, maybe with a JSON path.
    struct Field: Sendable, Hashable {
        var column: String
        /// One entry per step: `->>` when `asText`, an integer index when `isIndex`.
        var path: [Step] = []
        /// `to_jsonb(column)` first: the column is not json/jsonb.
        var toJSON = false

        struct Step: Sendable, Hashable {
            var asText: Bool
            var isIndex: Bool
        }
    }

    struct Selected: Sendable, Hashable {
        /// nil: `*`.
        var field: Field?
        /// A type name of letters, digits, `_`, `$` and spaces (`QueryCursor.identifier`).
        var cast: String?
        /// The output column name.
        var name: String?
    }

    indirect enum Condition: Sendable, Hashable {
        case filter(Filter)
        case group(negated: Bool, isAnd: Bool, [Condition])
    }

    struct Filter: Sendable, Hashable {
        var field: Field
        var negated: Bool
        var test: Test
    }

    enum Test: Sendable, Hashable {
        /// `<op> $n`, or `<op> ANY($n)` / `ALL($n)`.
        case compare(String, quantifier: String?)
        /// `in.(...)`: `= ANY($n)` (the list is one array literal); `in.()` matches nothing.
        case list
        case emptyList
        /// `IS NULL`, `IS NOT NULL`, `IS TRUE`...: the keyword(s), from a fixed list.
        case keyword(String)
        case distinct
        /// `@@ <function>([$lang::regconfig, ]$n)`; `vector`: the column is a tsvector already.
        case fullText(function: String, language: Bool, vector: Bool)
    }

    struct Ordered: Sendable, Hashable {
        var field: Field
        var descending: Bool?
        var nullsFirst: Bool?
    }
}
