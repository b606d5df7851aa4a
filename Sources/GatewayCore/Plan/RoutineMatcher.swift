/// Chooses the overload a call means, as PostgREST does (`Plan.hs`, `findProc`): by the set of
/// argument names, falling back for a POST body to a function with a single unnamed parameter of
/// the body's type (json/jsonb for JSON, text for text/plain, xml for text/xml, bytea for
/// application/octet-stream).
enum RoutineMatcher {
    /// How the chosen function takes its arguments.
    enum Binding: Equatable {
        /// By name (`"a" := $1::integer`).
        case named
        /// The whole body as its only, unnamed parameter.
        case wholeBody
    }

    /// The body types a function may take whole, as the type of its single unnamed parameter.
    static func wholeBodyTypes(_ contentType: MediaType) -> Set<String> {
        switch contentType {
        case .json: return ["json", "jsonb"]
        case .textPlain: return ["text"]
        case .textXML: return ["xml"]
        case .octetStream: return ["bytea"]
        default: return []
        }
    }

    /// A raw body (text/plain, text/xml, application/octet-stream) only goes to such a parameter.
    static func isRaw(_ contentType: MediaType) -> Bool {
        contentType == .textPlain || contentType == .textXML || contentType == .octetStream
    }

    static func match(schema: String, function: String, keys: [String], isPost: Bool, contentType: MediaType = .json,
                      catalog: Catalog) throws -> (Routine, Binding) {
        let overloads = catalog.overloads(schema: schema, name: function)
        let raw = isPost && isRaw(contentType)
        let bodyTypes = isPost ? wholeBodyTypes(contentType) : []
        var named: [Routine] = []
        var wholeBody: [Routine] = []
        for routine in overloads {
            if !raw, matches(routine, keys: keys) {
                named.append(routine)
            } else if routine.parameters.count == 1, routine.parameters[0].name.isEmpty,
                      bodyTypes.contains(routine.parameters[0].type) {
                wholeBody.append(routine)
            }
        }
        switch (named.count, wholeBody.count) {
        case (1, _): return (named[0], .named)
        case (0, 1): return (wholeBody[0], .wholeBody)
        case (0, 0):
            throw noFunction(schema: schema, function: function, keys: keys, isPost: isPost, contentType: contentType,
                             overloads: overloads, catalog: catalog)
        default:
            throw ambiguous(named.isEmpty ? wholeBody : named)
        }
    }

    /// `Prefer: params=single-object`: the one function of that name with a single json/jsonb
    /// parameter (named or not) receives the whole body.
    static func matchSingleObject(schema: String, function: String, catalog: Catalog) throws -> (Routine, Binding) {
        let candidates = catalog.overloads(schema: schema, name: function)
            .filter { $0.parameters.count == 1 && $0.parameters[0].isJSON }
        switch candidates.count {
        case 1: return (candidates[0], .wholeBody)
        case 0:
            throw APIError.requestError(
                status: 404, code: "PGRST202",
                message: "Could not find the function \(schema).\(function) in the schema cache",
                details: "Searched for the function \(schema).\(function) with a single json/jsonb parameter, but no matches were found in the schema cache.",
                hint: nil)
        default: throw ambiguous(candidates)
        }
    }

    /// All required parameters given, every given name a parameter.
    static func matches(_ routine: Routine, keys: [String]) -> Bool {
        let parameters = routine.parameters
        if parameters.isEmpty { return keys.isEmpty }
        for key in keys where key.isEmpty || !parameters.contains(where: { $0.name == key }) { return false }
        for parameter in parameters where !parameter.hasDefault {
            if parameter.name.isEmpty || !keys.contains(parameter.name) { return false }
        }
        return true
    }

    /// PGRST202 with PostgREST's message, details and nearest-name hint (none for a raw body).
    static func noFunction(schema: String, function: String, keys: [String], isPost: Bool, contentType: MediaType = .json,
                           overloads: [Routine], catalog: Catalog) -> APIError {
        let qualified = "\(schema).\(function)"
        if isPost, isRaw(contentType) {
            let type = wholeBodyTypes(contentType).first ?? ""
            return .requestError(status: 404, code: "PGRST202",
                                 message: "Could not find the function \(qualified) in the schema cache",
                                 details: "Searched for the function \(qualified) with a single unnamed \(type) parameter, but no matches were found in the schema cache.",
                                 hint: nil)
        }
        let list = keys.joined(separator: ", ")
        let message = "Could not find the function \(qualified)"
            + (keys.isEmpty ? " without parameters" : "(\(list))") + " in the schema cache"
        let searched = keys.isEmpty ? " without parameters"
            : " with parameter" + (keys.count > 1 ? "s " : " ") + list
        let details = "Searched for the function \(qualified)" + searched
            + (isPost && contentType == .json ? " or with a single unnamed json/jsonb parameter" : "")
            + ", but no matches were found in the schema cache."
        return .requestError(status: 404, code: "PGRST202", message: message, details: details,
                             hint: hint(schema: schema, function: function, keys: keys, overloads: overloads, catalog: catalog))
    }

    /// "Perhaps you meant to call the function api.xyz": the nearest name in the schema when no
    /// function has this name, else the nearest parameter list among its overloads.
    static func hint(schema: String, function: String, keys: [String], overloads: [Routine], catalog: Catalog) -> String? {
        let prefix = "Perhaps you meant to call the function \(schema)."
        if overloads.isEmpty {
            guard let names = catalog.functionNames(schema: schema),
                  let best = FuzzyMatch.best(function, among: names, minimumScore: 0.75) else { return nil }
            return prefix + best
        }
        func listText(_ names: [String]) -> String { "(" + names.sorted().joined(separator: ", ") + ")" }
        let candidates = overloads.map { listText($0.parameters.map(\.name)) }
        guard let best = FuzzyMatch.best(listText(keys), among: candidates, minimumScore: 0.33) else { return nil }
        return prefix + function + best
    }

    /// PGRST203 (300) listing the candidates as `schema.fn(a => integer, b => text)`.
    static func ambiguous(_ routines: [Routine]) -> APIError {
        let list = routines.map { routine in
            "\(routine.schema).\(routine.name)("
                + routine.parameters.map { "\($0.name) => \($0.type)" }.joined(separator: ", ") + ")"
        }
        return .requestError(
            status: 300, code: "PGRST203",
            message: "Could not choose the best candidate function between: " + list.joined(separator: ", "),
            details: nil,
            hint: "Try renaming the parameters or the function itself in the database so function overloading can be resolved"
        )
    }
}
