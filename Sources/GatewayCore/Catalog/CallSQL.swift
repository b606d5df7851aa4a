import Synchronization

/// The SQL text of a call, which depends only on the call shape (function + which parameters are
/// given + the `CallShape` of its result), never on values: values are `$n` parameters, arguments
/// cast to the declared type. ONE statement; one row comes back: JSON body (built by PostgreSQL in the negotiated media type, `CallSQL+Body`),
/// `response.status`, `response.headers`, the page's row count, the total (NULL unless counted).
///
/// The call is the CTE `pgrst_source`; the page is shaped from it in `pgrst_rows`, and the total is
/// a count over the same filtered source (PostgreSQL runs a CTE that is referenced twice, or whose
/// function is volatile, once). The aggregate makes PostgreSQL finish the call before it reads the
/// `response.*` settings. With `recordsCount` (`Prefer: max-affected` under strict handling, or a
/// single object asked of a set) the row count is also left in the transaction setting `pgrst.affected_rows` for the check that follows
/// (`PreferenceSQL`).
enum CallSQL {
    /// Columns of the call's result row.
    enum Column {
        static let body = 0, status = 1, headers = 2, count = 3, total = 4
    }

    /// The alias of the rows the body is rendered from (`CallSQL+Body`).
    static let rows = "pgrst_rows"

    static func text(for routine: Routine, given: [Bool], wholeBody: Bool, handler: MediaHandler = .json,
                     recordsCount: Bool = false, shape: CallShape = CallShape()) -> String {
        var call = QualifiedName(schema: routine.schema, name: routine.name).sql + "("
        var placeholder = 0
        if wholeBody {
            placeholder = 1
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
        let source = routine.returnShape == .composite ? "SELECT * FROM " + call : "SELECT " + call + " AS pgrst_scalar"
        let shaped = CallShape.SQL(shape, alias: routine.relationName ?? routine.name, first: placeholder + 1)
        let page = routine.returnsSet ? "count(*)" : "1"
        let total: String
        switch shape.total {
        case .none: total = "NULL"
        case .page: total = page + "::text"
        case .separate: total = "(SELECT count(*)" + shaped.source + shaped.filter + ")::text"
        }
        return "WITH pgrst_source AS (" + source + ") SELECT " + body(for: routine, handler: handler)
            + ", nullif(current_setting('response.status', true), '')"
            + ", nullif(current_setting('response.headers', true), '')"
            + ", " + page + "::text, " + total
            + (recordsCount ? ", pg_catalog.set_config('pgrst.affected_rows', " + page + "::text, true)" : "")
            + " FROM (" + shaped.rows + ") pgrst_rows"
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
        var result: CallShape
    }

    private let entries = Mutex<[Shape: String]>([:])
    /// Bound on distinct shapes kept (a client cannot grow memory without limit).
    static let capacity = 10_000

    func text(for routine: Routine, given: [Bool], wholeBody: Bool, handler: MediaHandler = .json,
              recordsCount: Bool = false, shape result: CallShape = CallShape()) -> String {
        let shape = Shape(schema: routine.schema, name: routine.name, types: routine.parameters.map(\.type),
                          given: given, wholeBody: wholeBody, handler: handler, recordsCount: recordsCount, result: result)
        if let cached = entries.withLock({ $0[shape] }) { return cached }
        let text = CallSQL.text(for: routine, given: given, wholeBody: wholeBody, handler: handler,
                                recordsCount: recordsCount, shape: result)
        entries.withLock { table in
            if table.count < Self.capacity { table[shape] = text }
        }
        return text
    }
}
