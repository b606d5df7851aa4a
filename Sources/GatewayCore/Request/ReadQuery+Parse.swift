extension ReadQuery {
    /// Keys that are never filters (`columns` and `on_conflict` mean nothing to a function call).
    static let reserved: Set<String> = ["select", "columns", "on_conflict"]
    /// Keys whose last dot-separated word makes them shaping, at any embedding level.
    static let reservedEmbeddable: Set<String> = ["order", "limit", "offset", "and", "or"]

    /// PostgREST's `QueryParams.parse`. `isRead` (GET/HEAD): a pair whose value has no operator is an
    /// argument of the function (so `id=5&id=gt.2` calls with id 5 and keeps ids above 2);
    /// otherwise (POST: the body holds the arguments) every other pair must be a filter (PGRST100).
    init(pairs: [(key: String, value: String)], isRead: Bool) throws {
        for (key, value) in pairs {
            // Most keys are a plain argument name: no Character-wise split for them (~1,500 instructions).
            let words = key.utf8.contains(UInt8(ascii: ".")) ? key.split(separator: ".", omittingEmptySubsequences: false).map(String.init) : [key]
            let last = words[words.count - 1]
            if Self.reserved.contains(key) {
                if key == "select", select == nil, unsupportedSelect == nil {
                    do { select = try Self.parseSelect(value) } catch let unsupported as QueryCursor.Unsupported {
                        unsupportedSelect = unsupported
                    }
                }
            } else if Self.reservedEmbeddable.contains(last) {
                let path = words.dropLast().filter { last == "and" || last == "or" ? $0 != "not" : true }
                if let embedded = path.first { throw Self.notEmbedded(embedded) }
                try apply(shaping: key, last: last, value: value)
            } else if isRead, !value.utf8.contains(UInt8(ascii: ".")) {
                // Every operator is followed by a dot: without one, the value is an argument (no parse, no copy).
                arguments.append((key, value))
            } else {
                var cursor = QueryCursor(value)
                let parsed: (negated: Bool, FilterOperation)
                do {
                    parsed = try cursor.operatorExpression(value: QueryCursor.restValue)
                } catch let error as QueryParseError {
                    if isRead {
                        arguments.append((key, value))
                        continue
                    }
                    throw error.apiError(what: "filter", text: value)
                }
                let field = try Self.filterField(key)
                conditions.append(.filter(QueryFilter(field: field, negated: parsed.negated, operation: parsed.1)))
            }
        }
    }

    private mutating func apply(shaping key: String, last: String, value: String) throws {
        switch last {
        case "order":
            var cursor = QueryCursor(value)
            let terms: [OrderTerm]
            do { terms = try cursor.orderTerms() } catch let error as QueryParseError {
                throw error.apiError(what: "order", text: value)
            }
            // Every `order` is parsed; the first one orders (PostgREST folds them from the right).
            if !orderGiven {
                order = terms
                orderGiven = true
            }
        case "limit": limit = value
        case "offset": offset = value
        default:
            // The tree is parsed with its operator in front (`or(...)`), so columns count from there.
            let operatorText = key.hasPrefix("not.") ? "not." + last : last
            var cursor = QueryCursor(operatorText + value)
            do { conditions.append(try cursor.logicTree()) } catch let error as QueryParseError {
                throw error.apiError(what: "logic tree", text: value)
            }
        }
    }

    /// `pTreePath` of a filter's key: `a.b.col->x` is column `col` of embedded `a.b` (refused: PGRST108).
    private static func filterField(_ key: String) throws -> QueryField {
        var cursor = QueryCursor(key)
        var names: [String] = []
        repeat {
            guard let name = try? cursor.fieldName() else { break }
            names.append(name)
        } while cursor.take(".")
        guard let column = names.last, let path = try? cursor.jsonPath(), cursor.atEnd else {
            throw cursor.failure(at: cursor.position, expecting: [QueryCursor.fieldNameLabel]).apiError(what: "tree path", text: key)
        }
        if names.count > 1 { throw notEmbedded(names[0]) }
        return QueryField(name: column, path: path)
    }

    static func parseSelect(_ value: String) throws -> [SelectItem] {
        var cursor = QueryCursor(value)
        do { return try cursor.selectItems() } catch let error as QueryParseError {
            throw error.apiError(what: "select parameter", text: value)
        }
    }

    /// PGRST108: a filter, order or limit names an embedding the request does not have.
    static func notEmbedded(_ name: String) -> APIError {
        .requestError(status: 400, code: "PGRST108", message: "'\(name)' is not an embedded resource in this request",
                      details: nil, hint: "Verify that '\(name)' is included in the 'select' query parameter.")
    }
}
