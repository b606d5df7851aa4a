import Synchronization

/// The SQL text of a call, which depends only on the call shape (function + which parameters are
/// given + how the answer is rendered), never on values: values are `$n` parameters cast to the
/// declared type. One row comes back: body (built by PostgreSQL), `response.status`,
/// `response.headers`, row count.
///
/// The aggregate makes PostgreSQL finish the call before it reads the `response.*` settings.
/// With `recordsCount` (`Prefer: max-affected` under strict handling, or a single object asked of a
/// set) the row count is also left in the transaction setting `pgrst.affected_rows` for the checks
/// that follow (`PreferenceSQL`).
enum CallSQL {
    /// Columns of the call's result row.
    enum Column {
        static let body = 0, status = 1, headers = 2, count = 3
    }

    /// The alias of the rows the body is rendered from (`CallSQL+Body`).
    static let rows = "pgrst_call"

    static func text(for routine: Routine, given: [Bool], wholeBody: Bool, handler: MediaHandler = .json,
                     recordsCount: Bool = false) -> String {
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
        let source: String
        switch routine.returnShape {
        case .void where !routine.returnsSet:
            source = call + " " + rows
        case .composite:
            source = "(SELECT * FROM " + call + ") " + rows
        case .scalar, .void:
            source = "(SELECT " + call + " AS pgrst_scalar) " + rows
        }
        return "SELECT " + body(for: routine, handler: handler)
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
        var handler: MediaHandler
        var recordsCount: Bool
    }

    private let entries = Mutex<[Shape: String]>([:])
    /// Bound on distinct shapes kept (a client cannot grow memory without limit).
    static let capacity = 10_000

    func text(for routine: Routine, given: [Bool], wholeBody: Bool, handler: MediaHandler = .json,
              recordsCount: Bool = false) -> String {
        let shape = Shape(schema: routine.schema, name: routine.name, types: routine.parameters.map(\.type),
                          given: given, wholeBody: wholeBody, handler: handler, recordsCount: recordsCount)
        if let cached = entries.withLock({ $0[shape] }) { return cached }
        let text = CallSQL.text(for: routine, given: given, wholeBody: wholeBody, handler: handler,
                                recordsCount: recordsCount)
        entries.withLock { table in
            if table.count < Self.capacity { table[shape] = text }
        }
        return text
    }
}
