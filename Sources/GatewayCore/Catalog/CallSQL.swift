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

    /// `idempotent`: the statement also stores its result row for `Idempotency-Key`
    /// (`IdempotencySQL.storeColumn`, three more parameters after the shape's).
    static func text(for routine: Routine, given: [Bool], wholeBody: Bool, handler: MediaHandler = .json,
                     recordsCount: Bool = false, shape: CallShape = CallShape(), idempotent: Bool = false) -> String {
        let (source, shaped) = parts(for: routine, given: given, wholeBody: wholeBody, shape: shape)
        // An aggregate in the select list makes the answer one row even when the page is empty; a
        // void result has no body aggregate, so its page is counted (1, or 0 under `limit=0`).
        let page = routine.returnsSet || routine.returnShape == .void ? "count(*)" : "1"
        let total: String
        switch shape.total {
        case .none: total = "NULL"
        case .page: total = page + "::text"
        case .separate: total = "(SELECT count(*)" + shaped.source + shaped.filter + ")::text"
        }
        let select = "SELECT " + body(for: routine, handler: handler)
            + ", " + status(for: routine, shape: shape) + ", " + responseHeaders
            + ", " + page + "::text, " + total
            + (recordsCount ? ", pg_catalog.set_config('pgrst.affected_rows', " + page + "::text, true)" : "")
            + " FROM (" + shaped.rows + ") pgrst_rows"
        guard idempotent else { return "WITH pgrst_source AS (" + source + ") " + select }
        // The store reads the finished row: a column of the outer SELECT is evaluated (a CTE nothing
        // references would not be), once, after the aggregates, and commits with the call or not at all.
        return "WITH pgrst_source AS (" + source + ") SELECT pgrst_result.*, " + IdempotencySQL.storeColumn(first: shaped.next)
            + " FROM (" + select + ") " + IdempotencySQL.resultColumns
    }

    /// The call as the CTE's query, and its shaping over the CTE.
    static func parts(for routine: Routine, given: [Bool], wholeBody: Bool, shape: CallShape) -> (String, CallShape.SQL) {
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
        // The call is in FROM, as PostgREST puts it: PostgreSQL runs a function scan of a function not
        // returning a set whether or not its value is read, where `SELECT f()` of a non-volatile f
        // whose value nothing reads (void, HEAD, `limit=0`) may be left unevaluated, errors included.
        // (`record` without OUT parameters cannot be in FROM without a column list: it stays a value.)
        let source = routine.returnShape == .composite ? "SELECT * FROM " + call
            : routine.returnType == "record" ? "SELECT " + call + " AS pgrst_scalar"
            : "SELECT pgrst_call.pgrst_scalar FROM " + call + " pgrst_call(pgrst_scalar)"
        return (source, CallShape.SQL(shape, alias: routine.relationName ?? routine.name, first: placeholder + 1))
    }

    /// `response.status` as the function left it (NULL when unset or empty), read once the call ran.
    static func status(for routine: Routine, shape: CallShape) -> String {
        // A volatile call, or one returning a single row, runs even when its page reads no row of it
        // (`limit=0`: a Limit of 0 never reads its input): counting the source, in the status column
        // before `response.*` is read, makes PostgreSQL run it to the end (once: a CTE read twice is
        // computed once). A non-volatile set is left to stop early, as in PostgREST.
        guard routine.volatility == .volatile || !routine.returnsSet, shape != CallShape() else { return responseStatus }
        return "CASE WHEN (SELECT count(*) FROM pgrst_source) >= 0 THEN " + responseStatus + " END"
    }

    static let responseStatus = "nullif(current_setting('response.status', true), '')"
    static let responseHeaders = "nullif(current_setting('response.headers', true), '')"
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
        var idempotent: Bool
        var streamed: Bool
    }

    private let entries = Mutex<(table: [Shape: String], bytes: Int)>(([:], 0))
    /// Bounds on the shapes kept, by count and by bytes of SQL (a client chooses result shapes, some
    /// large: it cannot grow memory without limit); a shape past them is generated per request.
    static let capacity = 10_000
    static let capacityBytes = 16 << 20

    /// Shapes kept and their bytes of SQL.
    var stored: (count: Int, bytes: Int) { entries.withLock { ($0.table.count, $0.bytes) } }

    /// `streamed`: `CallSQL.streamedText` (one row per result row) instead of `CallSQL.text`.
    func text(for routine: Routine, given: [Bool], wholeBody: Bool, handler: MediaHandler = .json,
              recordsCount: Bool = false, shape result: CallShape = CallShape(), idempotent: Bool = false,
              streamed: Bool = false) -> String {
        let shape = Shape(schema: routine.schema, name: routine.name, types: routine.parameters.map(\.type),
                          given: given, wholeBody: wholeBody, handler: handler, recordsCount: recordsCount, result: result,
                          idempotent: idempotent, streamed: streamed)
        if let cached = entries.withLock({ $0.table[shape] }) { return cached }
        let text = streamed
            ? CallSQL.streamedText(for: routine, given: given, wholeBody: wholeBody, stripNulls: handler == .arrayStripped, shape: result)
            : CallSQL.text(for: routine, given: given, wholeBody: wholeBody, handler: handler,
                           recordsCount: recordsCount, shape: result, idempotent: idempotent)
        entries.withLock { entries in
            let size = text.utf8.count
            if entries.table.count < Self.capacity, entries.bytes + size <= Self.capacityBytes, entries.table[shape] == nil {
                entries.table[shape] = text
                entries.bytes += size
            }
        }
        return text
    }
}
