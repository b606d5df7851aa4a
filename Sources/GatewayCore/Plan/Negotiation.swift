/// Content negotiation as PostgREST does it (`Plan/Negotiate.hs`): the first acceptable item of
/// `Accept` (best first, see `AcceptHeader`) that something can produce wins; when none can, 406
/// PGRST107 naming every item.
public struct Negotiation: Sendable, Hashable {
    /// What builds the body.
    public var handler: MediaHandler
    /// What the response says it is (`Content-Type`).
    public var mediaType: MediaType

    /// JSON, what a call answers when `Accept` is absent.
    public static let json = Negotiation(handler: .json, mediaType: .json)

    /// For a call of `routine`. `defaultSelect`: the request selects every column (no `select`), which
    /// a handler for this function or its relation needs. HEAD computes the body too (PostgREST's
    /// `NoAgg` skips it): a function whose value is never used may be left unevaluated by PostgreSQL,
    /// and HEAD must fail as GET does.
    static func call(accepts: [MediaType], routine: Routine, handlers: MediaHandlerMap, defaultSelect: Bool = true) throws -> Negotiation {
        let target = routine.mediaHandlerTarget
        func lookup(_ type: MediaType) -> (MediaHandler, MediaType)? {
            // A `*/*` handler of this relation answers every type, then one for the type, then any rows'.
            (defaultSelect ? handlers.forRelation(target, .any) ?? handlers.forRelation(target, type) : nil)
                ?? handlers[.anyElement, type]
        }
        for accepted in accepts {
            let found: (MediaHandler, MediaType)?
            switch accepted {
            // The vendor types are PostgREST's own and cannot be overridden.
            case .object(let strip): found = (.object(stripNulls: strip), accepted)
            case .arrayStripped: found = (.arrayStripped, accepted)
            case .plan: found = nil
            default: found = lookup(accepted)
            }
            if let (handler, mediaType) = found {
                return Negotiation(handler: handler, mediaType: mediaType)
            }
        }
        throw APIError.notAcceptable(accept: accepts.map(\.mime).joined(separator: ", "))
    }

    /// For the root (`inspectPlan`): the OpenAPI document, when `Accept` allows it, JSON or anything.
    static func openAPI(accepts: [MediaType]) throws {
        guard accepts.contains(where: { $0 == .openAPI || $0 == .json || $0 == .any }) else {
            throw APIError.notAcceptable(accept: accepts.map(\.mime).joined(separator: ", "))
        }
    }
}
