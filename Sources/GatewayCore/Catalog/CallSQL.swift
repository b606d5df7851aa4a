import Synchronization

/// The SQL text of a call, which depends only on the call shape (function + which parameters are
/// given), never on values: values are `$n` parameters cast to the declared type. One row comes
/// back: JSON body (built by PostgreSQL), `response.status`, `response.headers`, row count.
///
/// The aggregate makes PostgreSQL finish the call before it reads the `response.*` settings.
/// With `recordsCount` (`Prefer: max-affected` under strict handling) the row count is also left in
/// the transaction setting `pgrst.affected_rows` for the check that follows (`PreferenceSQL`).
enum CallSQL {
    /// Columns of the call's result row.
    enum Column {
        static let body = 0, status = 1, headers = 2, count = 3
    }

    static func text(for routine: Routine, given: [Bool], wholeBody: Bool, recordsCount: Bool = false) -> String {
        var call = QualifiedName(schema: routine.schema, name: routine.name).sql + "("
        var placeholder = 0
        if wholeBody {
            call += "$1::" + routine.parameters[0].type
        } else {
            for (parameter, isGiven) in zip(routine.parameters, given) where isGiven {
                placeholder += 1
                if placeholder > 1 { call += ", " }
                if parameter.isVariadic { call += "VARIADIC " }
                call += quoteIdentifier(parameter.name) + " := $\(placeholder)::" + parameter.type
            }
        }
        call += ")"
        let body: String
        let source: String
        switch routine.returnShape {
        case .void where !routine.returnsSet:
            body = "NULL::text"
            source = call + " pgrst_call"
        case .composite:
            body = routine.returnsSet
                ? "coalesce(json_agg(pgrst_call), '[]')::text"
                : "coalesce((json_agg(pgrst_call) -> 0)::text, 'null')"
            source = "(SELECT * FROM " + call + ") pgrst_call"
        case .scalar, .void:
            body = routine.returnsSet
                ? "coalesce(json_agg(pgrst_call.pgrst_scalar), '[]')::text"
                : "coalesce((json_agg(pgrst_call.pgrst_scalar) -> 0)::text, 'null')"
            source = "(SELECT " + call + " AS pgrst_scalar) pgrst_call"
        }
        return "SELECT " + body
            + ", nullif(current_setting('response.status', true), '')"
            + ", nullif(current_setting('response.headers', true), '')"
            + ", count(*)::text"
            + (recordsCount ? ", pg_catalog.set_config('pgrst.affected_rows', count(*)::text, true)" : "")
            + " FROM " + source
    }
}

/// Call SQL per call shape, shared by all requests on one catalog snapshot (a reload starts empty).
final class CallSQLCache: Sendable {
    struct Shape: Hashable {
        var schema: String
        var name: String
        var types: [String]
        var given: [Bool]
        var wholeBody: Bool
        var recordsCount: Bool
    }

    private let entries = Mutex<[Shape: String]>([:])
    /// Bound on distinct shapes kept (a client cannot grow memory without limit).
    static let capacity = 10_000

    func text(for routine: Routine, given: [Bool], wholeBody: Bool, recordsCount: Bool = false) -> String {
        let shape = Shape(schema: routine.schema, name: routine.name, types: routine.parameters.map(\.type),
                          given: given, wholeBody: wholeBody, recordsCount: recordsCount)
        if let cached = entries.withLock({ $0[shape] }) { return cached }
        let text = CallSQL.text(for: routine, given: given, wholeBody: wholeBody, recordsCount: recordsCount)
        entries.withLock { table in
            if table.count < Self.capacity { table[shape] = text }
        }
        return text
    }
}
