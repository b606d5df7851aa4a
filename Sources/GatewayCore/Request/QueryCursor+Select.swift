/// `order=` and `select=` (PostgREST's `pOrder`, `pFieldForest`).
extension QueryCursor {
    /// What `select=` asks that function results cannot give here: an embedded resource
    /// (`rel(...)`, `...rel(...)`), or an aggregate (`count()`, `col.sum()`).
    enum Unsupported: Error, Equatable {
        case embedding(String)
        case aggregate
    }

    static let afterFieldExpecting = ["letter", "digit", "\"-\"", "\"->>\"", "\"->\""]

    /// `pOrder`: `field[.asc|.desc][.nullsfirst|.nullslast]`, comma-separated.
    mutating func orderTerms() throws -> [OrderTerm] {
        var terms: [OrderTerm] = []
        repeat {
            guard let field = try field() else { throw failure(at: position, expecting: [Self.fieldNameLabel]) }
            var term = OrderTerm(field: field)
            var expecting = Self.afterFieldExpecting + ["delimiter (.)"]
            if current == ".", character(at: position + 1) != nil {
                let word = position + 1
                let cursor = moved(to: word)
                if cursor.mismatch("asc") == nil { term.descending = false; position = word + 3 }
                else if cursor.mismatch("desc") == nil { term.descending = true; position = word + 4 }
                if term.descending != nil { expecting = ["delimiter (.)"] }
                if current == "." {
                    let nulls = moved(to: position + 1)
                    if nulls.mismatch("nullsfirst") == nil { term.nullsFirst = true; position += 11 }
                    else if nulls.mismatch("nullslast") == nil { term.nullsFirst = false; position += 10 }
                    else {
                        let words = term.descending == nil ? ["asc", "desc", "nullsfirst", "nullslast"] : ["nullsfirst", "nullslast"]
                        throw failure(at: nulls.position, unexpected: nulls.unexpected(at: nulls.mismatch(words[0]) ?? nulls.position),
                                      expecting: words.map { "\"\($0)\"" })
                    }
                    expecting = []
                }
            }
            skipSpaces()
            guard atEnd || current == "," else {
                throw failure(at: position, unexpected: unexpectedQuoted(at: position), expecting: expecting + ["\",\"", "end of input"])
            }
            terms.append(term)
        } while take(",")
        return terms
    }

    /// `pFieldForest` at the top level: items separated by `,`; empty text selects nothing (`*`).
    mutating func selectItems() throws -> [SelectItem] {
        var items: [SelectItem] = []
        skipSpaces()
        if atEnd { return items }
        repeat {
            skipSpaces()
            items.append(try selectItem())
            skipSpaces()
        } while take(",")
        guard atEnd else {
            throw failure(at: position, unexpected: unexpectedQuoted(at: position), expecting: ["\",\"", "end of input"])
        }
        return items
    }

    /// `pRelationSelect` after the name: `(`, maybe after `!hint` and `!inner`/`!left`.
    private func isRelation() -> Bool {
        var cursor = self
        for _ in 0..<2 where cursor.current == "!" {
            cursor.position += 1
            guard (try? cursor.fieldName()) ?? nil != nil else { return false }
        }
        return cursor.current == "("
    }

    /// `pFieldSelect` (and the relation forms, refused as `Unsupported`).
    private mutating func selectItem() throws -> SelectItem {
        if take("...") {
            throw Unsupported.embedding((try fieldName()) ?? "")
        }
        if current == "*" {
            position += 1
            skipSpaces()
            guard atEnd || current == "," || current == ")" else {
                throw failure(at: position, unexpected: unexpectedQuoted(at: position), expecting: ["\")\"", "\",\"", "end of input"])
            }
            return SelectItem(field: QueryField(name: "*"))
        }
        let start = position
        var alias: String?
        if let name = try fieldName(), current == ":", character(at: position + 1) != ":" {
            alias = name
            position += 1
        } else {
            position = start
        }
        if take("count()") { throw Unsupported.aggregate }
        skipSpaces()
        guard let name = try fieldName() else { throw failure(at: position, expecting: [Self.fieldNameLabel]) }
        if isRelation() { throw Unsupported.embedding(name) }
        let path = try jsonPath()
        skipSpaces()
        var cast: String?
        if take("::") {
            guard let type = identifier() else { throw failure(at: position, expecting: ["letter or digit"]) }
            cast = type
        }
        if current == ".", ["sum()", "avg()", "count()", "max()", "min()"].contains(where: { moved(to: position + 1).mismatch($0) == nil }) {
            throw Unsupported.aggregate
        }
        skipSpaces()
        guard atEnd || current == "," || current == ")" else {
            let expecting = (cast == nil && path.isEmpty ? Self.afterFieldExpecting : []) + ["\"::\"", "\".\"", "\")\"", "\",\"", "end of input"]
            throw failure(at: position, unexpected: unexpectedQuoted(at: position), expecting: expecting)
        }
        return SelectItem(field: QueryField(name: name, path: path), alias: alias, cast: cast)
    }
}
