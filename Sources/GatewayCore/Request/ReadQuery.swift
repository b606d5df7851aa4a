/// How a request shapes a function's result (PostgREST's `QueryParams`): `select`, horizontal
/// filters, `and`/`or` trees, `order`, `limit`/`offset`, parsed from the query string without
/// I/O. Identifiers are checked against the function's result columns later (`ReadShape`); values
/// stay text and travel as bind parameters.
struct ReadQuery: Sendable, Equatable {
    /// `select=`; nil when absent (every column, as `*`).
    var select: [SelectItem]?
    /// An embedding or aggregate in `select=`, refused once the function is known (its name is in the error).
    var unsupportedSelect: QueryCursor.Unsupported?
    /// `col=op.value` filters and `and=`/`or=` trees, all ANDed at the top level, in query order.
    var conditions: [LogicTree] = []
    /// `order=`, the first one given.
    var order: [OrderTerm] = []
    var orderGiven = false
    /// `limit=` and `offset=` as given, the last of each (`RowRange.requested` reads them).
    var limit: String?
    var offset: String?
    /// GET/HEAD: the pairs that are no filter (no operator): the function's arguments, in order.
    var arguments: [(key: String, value: String)] = []

    static func == (lhs: ReadQuery, rhs: ReadQuery) -> Bool {
        lhs.select == rhs.select && lhs.unsupportedSelect == rhs.unsupportedSelect && lhs.conditions == rhs.conditions && lhs.order == rhs.order
            && lhs.limit == rhs.limit && lhs.offset == rhs.offset
            && lhs.arguments.map(\.key) == rhs.arguments.map(\.key) && lhs.arguments.map(\.value) == rhs.arguments.map(\.value)
    }
}

/// A column with an optional JSON path (`data->a->>b`, `arr->0`).
struct QueryField: Sendable, Hashable {
    var name: String
    var path: [JSONPathStep] = []
}

/// One `->` or `->>` step; `key` is a member name or, when `isIndex`, a signed array index.
struct JSONPathStep: Sendable, Hashable {
    var asText: Bool
    var key: String
    var isIndex: Bool
}

/// One item of `select=`: a column (or `*`), renamed by `alias:`, cast by `::type`.
struct SelectItem: Sendable, Hashable {
    var field: QueryField
    var alias: String?
    var cast: String?
}

/// `col=[not.]op.value`.
struct QueryFilter: Sendable, Hashable {
    var field: QueryField
    var negated: Bool
    var operation: FilterOperation
}

/// PostgREST's operators (`ApiRequest/Types.hs`), values as given.
enum FilterOperation: Sendable, Hashable {
    /// `neq cs cd ov sl sr nxr nxl adj`: SQL operator.
    case simple(String, String)
    /// `eq gt gte lt lte like ilike match imatch`, optionally `(any)`/`(all)` over an array value.
    case quantified(String, Quantifier?, String)
    /// `in.(a,b)`.
    case list([String])
    /// `is.null|not_null|true|false|unknown`: the SQL keyword(s).
    case isValue(String)
    /// `isdistinct.value`.
    case isDistinct(String)
    /// `fts plfts phfts wfts` with an optional text search configuration.
    case fullText(String, language: String?, String)

    enum Quantifier: String, Sendable, Hashable { case any = "ANY", all = "ALL" }
}

/// A filter or a nested `and(...)`/`or(...)`, possibly negated.
indirect enum LogicTree: Sendable, Hashable {
    case filter(QueryFilter)
    case group(negated: Bool, isAnd: Bool, [LogicTree])
}

/// One `order=` term.
struct OrderTerm: Sendable, Hashable {
    var field: QueryField
    var descending: Bool?
    var nullsFirst: Bool?
}
