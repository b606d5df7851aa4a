/// PostgREST query features the gateway does not implement on `/rpc` (filters, `select`,
/// `order`, `limit`/`offset`). Checked only when no function matches, so a function parameter
/// named `limit` still works; the caller then gets PGRST127 instead of a misleading PGRST202.
enum UnsupportedQuery {
    static let reserved: Set<String> = ["select", "order", "limit", "offset", "columns", "on_conflict", "and", "or", "not.and", "not.or"]
    static let operators: Set<String> = [
        "eq", "gt", "gte", "lt", "lte", "neq", "like", "ilike", "match", "imatch", "in", "is", "isdistinct",
        "fts", "plfts", "phfts", "wfts", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj", "not",
    ]

    /// The first argument that is a reserved name or looks like a filter (`id=gt.1`) and is no
    /// parameter of any overload, described for PGRST127's details.
    static func find(in arguments: RequestArguments, overloads: [Routine]) -> String? {
        guard case .query(let groups) = arguments.source else { return nil }
        for (key, values) in groups where !overloads.contains(where: { $0.parameters.contains { $0.name == key } }) {
            if reserved.contains(key) {
                return "The query parameter '\(key)' is not supported on /rpc by this gateway"
            }
            if let value = values.first, let dot = value.firstIndex(of: "."), operators.contains(String(value[..<dot])) {
                return "Filters on function results ('\(key)=\(value)') are not supported by this gateway"
            }
        }
        return nil
    }
}
