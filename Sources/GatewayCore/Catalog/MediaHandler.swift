/// How a call's rows become the response body (PostgREST's `MediaHandler`): the built-in JSON, CSV
/// and GeoJSON aggregates, the vendor JSON forms, or a user-defined one (media_type_handlers.rst).
public enum MediaHandler: Hashable, Sendable {
    case json
    case geoJSON
    case csv
    /// `application/vnd.pgrst.object+json`: the single row as an object (406 PGRST116 unless one row).
    case object(stripNulls: Bool)
    /// `application/vnd.pgrst.array+json;nulls=stripped`.
    case arrayStripped
    /// `application/jsonl`: each row's JSON value on a line of its own (a single result: one line).
    case jsonLines
    /// An aggregate whose final type is a media type domain, or the call's own media type domain.
    case custom(CustomMediaHandler)
}

/// A user-defined handler: an aggregate over the rows, or a function's own return type when that is
/// a domain named after a media type (`CREATE DOMAIN "text/html" AS text`).
public struct CustomMediaHandler: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// `CREATE AGGREGATE schema.name(target)`, applied to the rows.
        case aggregate(target: MediaHandlerTarget)
        /// The function returns the domain itself: its value is the body.
        case domain
    }

    /// The aggregate's or the domain's schema and name.
    public var schema: String
    public var name: String
    public var kind: Kind
    /// The domain is over bytea: the body is sent as raw bytes.
    public var isBinary: Bool

    public init(schema: String, name: String, kind: Kind, isBinary: Bool) {
        self.schema = schema
        self.name = name
        self.kind = kind
        self.isBinary = isBinary
    }
}

/// What a handler applies to: any row (`anyelement`) or one relation's rows (a table's or view's
/// row type, or for a function's own domain the function itself), as PostgREST's `RelIdentifier`.
public enum MediaHandlerTarget: Hashable, Sendable {
    case anyElement
    case relation(schema: String, name: String)
}

/// The handlers on offer: (target, requested media type) -> (handler, media type answered with).
public struct MediaHandlerMap: Sendable {
    public struct Key: Hashable, Sendable {
        public var target: MediaHandlerTarget
        public var mediaType: MediaType
    }

    var entries: [Key: (MediaHandler, MediaType)]
    /// The relations some user-defined handler is for (most schemas have none: no lookup per call).
    let customTargets: Set<MediaHandlerTarget>

    /// PostgREST's `initialMediaHandlers`: JSON for `*/*` and `application/json`, CSV, GeoJSON, on any
    /// rows; and ours, JSON Lines.
    static let builtins: [Key: (MediaHandler, MediaType)] = [
        Key(target: .anyElement, mediaType: .any): (.json, .json),
        Key(target: .anyElement, mediaType: .json): (.json, .json),
        Key(target: .anyElement, mediaType: .jsonLines): (.jsonLines, .jsonLines),
        Key(target: .anyElement, mediaType: .csv): (.csv, .csv),
        Key(target: .anyElement, mediaType: .geoJSON): (.geoJSON, .geoJSON),
    ]

    /// The built-ins, overridden by the user-defined handlers (`HM.union custom initial`).
    public init(custom: [Key: (MediaHandler, MediaType)] = [:]) {
        entries = Self.builtins.merging(custom) { _, custom in custom }
        customTargets = Set(custom.keys.map(\.target))
    }

    /// The handler for `mediaType` on `target`'s rows only (not on any rows').
    func forRelation(_ target: MediaHandlerTarget, _ mediaType: MediaType) -> (MediaHandler, MediaType)? {
        customTargets.contains(target) ? self[target, mediaType] : nil
    }

    subscript(target: MediaHandlerTarget, mediaType: MediaType) -> (MediaHandler, MediaType)? {
        entries[Key(target: target, mediaType: mediaType)]
    }

    /// The media types answered for a relation's rows (its own handlers and those of any rows), with
    /// whether the body is bytes, for the OpenAPI document.
    func answered(to target: MediaHandlerTarget) -> [(MediaType, Bool)] {
        entries.filter { $0.key.target == target || $0.key.target == .anyElement }.map { _, value in
            if case .custom(let custom) = value.0 { return (value.1, custom.isBinary) }
            return (value.1, false)
        }
    }
}
