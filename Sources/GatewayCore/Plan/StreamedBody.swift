/// How the body of a streamed call is written from its rows' JSON texts (`CallSQL.streamedText`).
/// A call is streamed when its result is a set answered as a JSON array or JSON lines, and nothing
/// needs the whole result first: not HEAD, not a counted total (`Prefer: count=exact|estimated`), not
/// a single object, not `max-affected`.
public enum StreamedBody: Sendable, Equatable {
    /// `[`, the values separated as `json_agg` separates them, `]`: `, ` and, before a value of an
    /// array or composite type (`structured`) that is not null, a line break and a space; with nulls
    /// stripped (`json_strip_nulls`' output) `,`. A result that ends small is then byte for byte the
    /// answer the aggregate would have given.
    case array(structured: Bool, stripped: Bool)
    /// Each value followed by `\n` (`application/jsonl`).
    case lines

    /// The streamed form of a call of `routine` answered with `handler`, nil when it is not streamed.
    static func choose(routine: Routine, handler: MediaHandler, shape: CallShape, isHead: Bool,
                       needsCount: Bool) -> StreamedBody? {
        guard routine.returnsSet, !isHead, !needsCount, shape.total == .none else { return nil }
        // json_agg's categories: composite types and records, arrays (the catalog spells them `[]`).
        let structured = routine.returnShape == .composite || routine.returnType == "record" || routine.returnType.hasSuffix("[]")
        switch handler {
        case .json: return .array(structured: structured, stripped: false)
        case .arrayStripped: return .array(structured: structured, stripped: true)
        case .jsonLines: return .lines
        default: return nil
        }
    }
}
