/// The `Prefer` request header (RFC 7240) as PostgREST reads it (`ApiRequest/Preferences.hs`):
/// items split on commas over all `Prefer` headers and stripped; the first of each kind wins; an item
/// PostgREST does not know is kept in `invalid` (PGRST122 under `handling=strict`).
public struct Preferences: Sendable, Equatable {
    public enum Handling: String, Sendable { case strict, lenient }
    public enum Transaction: String, Sendable { case commit, rollback }

    public var handling: Handling?
    /// `tx=commit|rollback`; nil unless `db-tx-end` allows an override (PostgREST ignores it then).
    public var transaction: Transaction?
    /// `timezone=<value>` as given, set as the transaction's `TimeZone` (an invalid one is
    /// PostgreSQL's 22023, whatever the handling).
    public var timezone: String?
    /// `max-affected=<n>`; only enforced (and echoed) with `handling=strict`.
    public var maxAffected: Int64?
    /// `count=exact|planned|estimated`: a total in `Content-Range` (exact and estimated are counted,
    /// planned answers `*`, see `CallPlan.shape`); echoed in `Preference-Applied` as PostgREST does.
    public var count: String?
    /// `params=single-object` (older PostgREST, still honoured by the gateway).
    public var singleObject = false
    /// `timeout=<seconds>` (ours; decimals allowed, more than 0): the call's `statement_timeout` for
    /// this request, capped by `db-max-timeout` (`CallPlan`); a timed-out call then answers 504.
    /// A value that is no such number is an invalid item (PGRST122 under strict handling).
    public var timeout: Double?
    /// Items PostgREST does not recognise, in order.
    public var invalid: [String] = []

    /// Values PostgREST accepts besides `timezone=` and `max-affected=` (any value of those two is
    /// recognised, even one it cannot use).
    static let known: Set<String> = [
        "resolution=merge-duplicates", "resolution=ignore-duplicates",
        "return=representation", "return=minimal", "return=headers-only",
        "count=exact", "count=planned", "count=estimated",
        "tx=commit", "tx=rollback",
        "missing=default", "missing=null",
        "handling=strict", "handling=lenient",
        "params=single-object",
    ]

    public init() {}

    /// `header`: the `Prefer` headers joined with ", " (as `HTTPRequest.headers` holds them).
    /// `allowTransactionOverride`: `db-tx-end` ends in `-allow-override`.
    public init(header: String?, allowTransactionOverride: Bool) {
        guard let header, !header.isEmpty else { return }
        for raw in header.split(separator: ",", omittingEmptySubsequences: false) {
            let item = Self.strip(raw)
            if let value = item.strippingPrefix("timezone=") {
                if timezone == nil { timezone = value }
            } else if let value = item.strippingPrefix("max-affected=") {
                if maxAffected == nil { maxAffected = Self.integer(value) }
            } else if let value = item.strippingPrefix("timeout="), let seconds = Self.seconds(value) {
                if timeout == nil { timeout = seconds }
            } else if !Self.known.contains(item) {
                invalid.append(item)
            } else if let value = item.strippingPrefix("handling=") {
                if handling == nil { handling = Handling(rawValue: value) }
            } else if let value = item.strippingPrefix("tx=") {
                if allowTransactionOverride, transaction == nil { transaction = Transaction(rawValue: value) }
            } else if let value = item.strippingPrefix("count=") {
                if count == nil { count = value }
            } else if item == "params=single-object" {
                singleObject = true
            }
        }
    }

    /// Strict handling with an unknown item: PGRST122 (400).
    public func checkValid() throws {
        guard handling == .strict, !invalid.isEmpty else { return }
        throw APIError.requestError(status: 400, code: "PGRST122", message: "Invalid preferences given with handling=strict",
                                    details: "Invalid preferences: " + invalid.joined(separator: ", "), hint: nil)
    }

    /// `max-affected` counts only with strict handling.
    public var enforcedMaxAffected: Int64? { handling == .strict ? maxAffected : nil }

    /// `Preference-Applied` of a function call (PostgREST's `prefAppliedHeader` for a call plan: count,
    /// tx, handling, timezone, then max-affected when strict), nil when nothing was honoured.
    public var appliedToCall: String? {
        var items: [String] = []
        // `planned` is not honoured (answered `*`: PostgREST's EXPLAIN would be a second round trip).
        if let count, count != "planned" { items.append("count=" + count) }
        if let transaction { items.append("tx=" + transaction.rawValue) }
        if let handling { items.append("handling=" + handling.rawValue) }
        if let timezone { items.append("timezone=" + timezone) }
        if let maxAffected = enforcedMaxAffected { items.append("max-affected=\(maxAffected)") }
        if let timeout { items.append("timeout=" + Self.secondsText(timeout)) }
        return items.isEmpty ? nil : items.joined(separator: ", ")
    }

    /// `timeout=` seconds: digits with an optional fraction (`2`, `0.5`, `1.25`), more than 0 and at
    /// most a day; nil otherwise (no sign, exponent, `inf` or `nan`: `Double("...")` alone takes those).
    static func seconds(_ text: String) -> Double? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 5, whole.allSatisfy(\.isASCIIDigit),
              parts.count == 1 || (!parts[1].isEmpty && parts[1].allSatisfy(\.isASCIIDigit)),
              let value = Double(text), value > 0, value <= 86_400 else { return nil }
        return value
    }

    /// Seconds as `Preference-Applied` echoes them: whole numbers without a fraction, else to the millisecond.
    static func secondsText(_ seconds: Double) -> String {
        let milliseconds = Int64((seconds * 1_000).rounded(.up))
        if milliseconds % 1_000 == 0 { return String(milliseconds / 1_000) }
        var fraction = String(milliseconds % 1_000)
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(milliseconds / 1_000).\(fraction)"
    }

    /// Haskell's `BS.strip`: ASCII white space off both ends.
    private static func strip(_ text: Substring) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" }
        var slice = text
        while let first = slice.first, isSpace(first) { slice.removeFirst() }
        while let last = slice.last, isSpace(last) { slice.removeLast() }
        return String(slice)
    }

    /// `readMaybe` for Int64: optional leading `-`, digits (a leading `+` or anything else is no number).
    private static func integer(_ text: String) -> Int64? {
        guard let first = text.first, first != "+" else { return nil }
        return Int64(text)
    }
}

extension String {
    /// The rest after `prefix`, or nil when the string does not start with it.
    func strippingPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
