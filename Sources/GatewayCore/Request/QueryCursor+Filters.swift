/// Filters and logic trees (PostgREST's `pOpExpr`, `pListVal`, `pLogicTree`).
extension QueryCursor {
    static let operatorLabel = "operator (eq, gt, ...)"

    /// `neq cs cd ov sl sr nxr nxl adj`, in PostgREST's order, with their SQL operators.
    static let simpleOperators: [(String, String)] = [
        ("neq", "<>"), ("cs", "@>"), ("cd", "<@"), ("ov", "&&"), ("sl", "<<"), ("sr", ">>"),
        ("nxr", "&<"), ("nxl", "&>"), ("adj", "-|-"),
    ]
    /// `eq gte gt lte lt like ilike match imatch`, which take `(any)`/`(all)`.
    static let quantifiedOperators: [(String, String)] = [
        ("eq", "="), ("gte", ">="), ("gt", ">"), ("lte", "<="), ("lt", "<"), ("like", "like"), ("ilike", "ilike"),
        ("match", "~"), ("imatch", "~*"),
    ]
    /// The full-text operators and the tsquery function each calls.
    static let fullTextOperators: [(String, String)] = [
        ("fts", "to_tsquery"), ("plfts", "plainto_tsquery"), ("phfts", "phraseto_tsquery"), ("wfts", "websearch_to_tsquery"),
    ]
    static let isValues: [(String, String)] = [
        ("null", "NULL"), ("not_null", "NOT NULL"), ("true", "TRUE"), ("false", "FALSE"), ("unknown", "UNKNOWN"),
    ]

    /// `pOpExpr`: `[not.]operator.value`; `value` reads the value (the rest, or up to `,`/`)` in a tree).
    mutating func operatorExpression(value: (inout QueryCursor) throws -> String) throws -> (negated: Bool, FilterOperation) {
        let start = position
        let negated = take("not.")
        let operatorStart = position
        if take("in.") {
            return (negated, .list(try listValue()))
        }
        if take("is.") {
            for (name, keyword) in Self.isValues where mismatch(name, caseInsensitive: true) == nil {
                position += name.count
                return (negated, .isValue(keyword))
            }
            // Each value is read a character at a time: the error is where the longest one failed.
            let furthest = Self.isValues.compactMap { mismatch($0.0, caseInsensitive: true) }.max() ?? position
            throw failure(at: furthest, expecting: ["isVal: (null, not_null, true, false, unknown)"])
        }
        if take("isdistinct.") {
            return (negated, .isDistinct(try value(&self)))
        }
        for (name, function) in Self.fullTextOperators.reversed() where mismatch(name) == nil {
            let afterName = position + name.count
            guard character(at: afterName) == "." || character(at: afterName) == "(" else { continue }
            position = afterName
            var language: String?
            if current == "(" {
                let open = position
                position += 1
                guard let config = identifier(), take(")") else {
                    position = open
                    break
                }
                language = config
            }
            guard take(".") else { break }
            return (negated, .fullText(function, language: language, try value(&self)))
        }
        position = operatorStart
        for (name, sql) in Self.simpleOperators where mismatch(name) == nil && character(at: position + name.count) == "." {
            position += name.count + 1
            return (negated, .simple(sql, try value(&self)))
        }
        // Longest first, so that `gte` is not read as `gt`.
        for (name, sql) in Self.quantifiedOperators.sorted(by: { $0.0.count > $1.0.count }) where mismatch(name) == nil {
            var index = position + name.count
            var quantifier: FilterOperation.Quantifier?
            if character(at: index) == "(" {
                let cursor = moved(to: index + 1)
                if cursor.mismatch("any)") == nil { quantifier = .any; index += 5 }
                else if cursor.mismatch("all)") == nil { quantifier = .all; index += 5 }
            }
            guard character(at: index) == "." else { continue }
            position = index + 1
            return (negated, .quantified(sql, quantifier, try value(&self)))
        }
        // parsec reports the first alternative's mismatch at the furthest position reached.
        let furthest = Self.knownOperatorEnd(self, from: operatorStart)
        if let furthest {
            throw failure(at: furthest, expecting: [Self.operatorLabel])
        }
        if operatorStart == start, mismatch("not") == nil {
            throw failure(at: start + 3, expecting: ["delimiter (.)"])
        }
        let firstAlternative = operatorStart == start ? "not" : "in"
        throw failure(at: operatorStart, unexpected: unexpected(at: mismatch(firstAlternative) ?? operatorStart),
                      expecting: operatorStart == start ? ["\"not\"", Self.operatorLabel] : [Self.operatorLabel])
    }

    /// Where a known operator name ends when it is not followed by its `.` (nil: no name matches).
    private static func knownOperatorEnd(_ cursor: QueryCursor, from start: Int) -> Int? {
        let names = (simpleOperators + quantifiedOperators + fullTextOperators).map(\.0) + ["in", "is", "isdistinct"]
        let matched = names.filter { cursor.mismatch($0) == nil }.map(\.count).max()
        return matched.map { start + $0 }
    }

    /// `pListVal`: `(a,"b,c",d)` with optional spaces around the brackets.
    mutating func listValue() throws -> [String] {
        skipSpaces()
        guard take("(") else { throw failure(at: position, expecting: ["\"(\""]) }
        skipSpaces()
        var values: [String] = []
        repeat {
            values.append(try listElement())
        } while take(",")
        skipSpaces()
        guard take(")") else { throw failure(at: position, expecting: ["\",\"", "\")\""]) }
        skipSpaces()
        return values
    }

    /// `pListElement`: a quoted value followed by `,` or `)`, else everything up to one of them.
    private mutating func listElement() throws -> String {
        if current == "\"" {
            var quoted = self
            if let value = try? quoted.quotedValue(), quoted.atEnd || quoted.current == "," || quoted.current == ")" {
                self = quoted
                return value
            }
        }
        let start = position
        while let character = current, character != ",", character != ")" { position += 1 }
        return String(characters[start..<position])
    }

    /// `pSingleVal`: the rest of the text.
    static func restValue(_ cursor: inout QueryCursor) -> String {
        let value = String(cursor.characters[cursor.position...])
        cursor.position = cursor.characters.count
        return value
    }

    /// `pLogicSingleVal`: a quoted value, a `{...}` array literal, or up to `,` or `)`.
    static func treeValue(_ cursor: inout QueryCursor) throws -> String {
        if cursor.current == "\"" {
            var quoted = cursor
            if let value = try? quoted.quotedValue(), quoted.atEnd || quoted.current == "," || quoted.current == ")" {
                cursor = quoted
                return value
            }
        }
        if cursor.current == "{" {
            var index = cursor.position + 1
            while let character = cursor.character(at: index), character != "{", character != "}" { index += 1 }
            if cursor.character(at: index) == "}" {
                let value = String(cursor.characters[cursor.position...index])
                cursor.position = index + 1
                return value
            }
        }
        let start = cursor.position
        while let character = cursor.current, character != ",", character != ")" { cursor.position += 1 }
        return String(cursor.characters[start..<cursor.position])
    }

    /// Nesting allowed in `and`/`or` trees: the parser and PostgreSQL's planner recurse per level, and
    /// a deeper tree is no sensible request (PostgREST has no bound; PostgreSQL fails past its stack).
    static let maximumTreeDepth = 64

    /// `pLogicTree`: `field.op.value` or `[not.]and|or(tree,...)`.
    mutating func logicTree(depth: Int = 1) throws -> LogicTree {
        let start = position
        var filterFailure: QueryParseError?
        do {
            if let field = try field() {
                if take(".") {
                    let (negated, operation) = try operatorExpression(value: Self.treeValue)
                    return .filter(QueryFilter(field: field, negated: negated, operation: operation))
                }
                filterFailure = failure(at: position, expecting: ["delimiter (.)"])
            }
        } catch let error as QueryParseError {
            filterFailure = error
        }
        position = start
        let negated = take("not.")
        guard take("and") || take("or") else {
            if negated { throw failure(at: position, unexpected: unexpected(at: mismatch("and") ?? position),
                                       expecting: ["logic operator (and, or)"]) }
            if let filterFailure, filterFailure.column > start + 1 { throw filterFailure }
            throw failure(at: start, expecting: [Self.fieldNameLabel, "negation operator (not)", "logic operator (and, or)"])
        }
        let isAnd = characters[position - 1] == "d"
        skipSpaces()
        guard take("(") else { throw failure(at: position, expecting: ["\"(\""]) }
        guard depth <= Self.maximumTreeDepth else {
            throw failure(at: position - 1, expecting: ["at most \(Self.maximumTreeDepth) nested and/or"])
        }
        skipSpaces()
        var children: [LogicTree] = []
        repeat {
            skipSpaces()
            children.append(try logicTree(depth: depth + 1))
            skipSpaces()
        } while take(",")
        guard take(")") else { throw failure(at: position, expecting: ["\",\"", "\")\""]) }
        skipSpaces()
        return .group(negated: negated, isAnd: isAnd, children)
    }
}
