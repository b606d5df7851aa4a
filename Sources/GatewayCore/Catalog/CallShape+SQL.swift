extension CallShape {
    /// The SQL of a shape over `pgrst_source AS <alias>`, numbering parameters from `first` in the
    /// order documented on `CallShape`. Identifiers are quoted; casts and keywords come from fixed
    /// grammars; every value is a `$n`.
    struct SQL {
        /// `SELECT ... FROM pgrst_source AS alias WHERE ... ORDER BY ... LIMIT ... OFFSET ...`.
        var rows = ""
        /// `WHERE ...` (or empty), shared by the total's count.
        var filter = ""
        var source = ""
        /// The first parameter number after the shape's (what follows it in the statement starts there).
        var next = 0

        init(_ shape: CallShape, alias: String, first: Int) {
            var builder = Builder(alias: quoteIdentifier(alias), next: first)
            let select = shape.select.isEmpty ? builder.alias + ".*"
                : shape.select.map { builder.selected($0) }.joined(separator: ", ")
            if !shape.conditions.isEmpty {
                filter = " WHERE " + shape.conditions.map { builder.condition($0) }.joined(separator: " AND ")
            }
            source = " FROM pgrst_source AS " + builder.alias
            rows = "SELECT " + select + source + filter
            if !shape.order.isEmpty {
                rows += " ORDER BY " + shape.order.map { builder.ordered($0) }.joined(separator: ", ")
            }
            if shape.hasLimit { rows += " LIMIT " + builder.parameter() }
            if shape.hasOffset { rows += " OFFSET " + builder.parameter() }
            next = builder.next
        }
    }

    private struct Builder {
        let alias: String
        var next: Int

        mutating func parameter() -> String {
            defer { next += 1 }
            return "$\(next)"
        }

        mutating func field(_ field: Field) -> String {
            let column = alias + "." + quoteIdentifier(field.column)
            guard !field.path.isEmpty else { return column }
            var text = field.toJSON ? "to_jsonb(" + column + ")" : column
            for step in field.path {
                text += (step.asText ? "->>" : "->") + parameter() + (step.isIndex ? "::integer" : "::text")
            }
            return text
        }

        mutating func selected(_ item: Selected) -> String {
            guard let field = item.field else { return alias + ".*" }
            var text = self.field(field)
            if let cast = item.cast { text = "CAST(" + text + " AS " + cast + ")" }
            if let name = item.name { text += " AS " + quoteIdentifier(name) }
            return text
        }

        mutating func condition(_ condition: Condition) -> String {
            switch condition {
            case .filter(let filter):
                return self.filter(filter)
            case .group(let negated, let isAnd, let children):
                let joined = children.map { self.condition($0) }.joined(separator: isAnd ? " AND " : " OR ")
                return (negated ? "NOT (" : "(") + joined + ")"
            }
        }

        mutating func filter(_ filter: Filter) -> String {
            var column = field(filter.field)
            let test: String
            switch filter.test {
            case .compare(let op, let quantifier):
                let value = parameter()
                test = op + " " + (quantifier.map { $0 + "(" + value + ")" } ?? value)
            case .list: test = "= ANY(" + parameter() + ")"
            case .emptyList: test = "= ANY('{}')"
            case .keyword(let keyword): test = "IS " + keyword
            case .distinct: test = "IS DISTINCT FROM " + parameter()
            case .fullText(let function, let language, let vector):
                let config = language ? parameter() + "::regconfig, " : ""
                if !vector { column = "to_tsvector(" + config + column + ")" }
                test = "@@ " + function + "(" + config + parameter() + ")"
            }
            return (filter.negated ? "NOT " : "") + column + " " + test
        }

        mutating func ordered(_ term: Ordered) -> String {
            var text = field(term.field)
            if let descending = term.descending { text += descending ? " DESC" : " ASC" }
            if let nullsFirst = term.nullsFirst { text += nullsFirst ? " NULLS FIRST" : " NULLS LAST" }
            return text
        }
    }
}
