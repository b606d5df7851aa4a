/// The rows a request asks for, as PostgREST computes it (`RangeQuery.hs`, `ApiRequest.getRanges`):
/// `limit`/`offset` and, on GET only, the `Range` header (`Range-Unit: items` is implied), intersected;
/// `db-max-rows` then caps what is fetched. `upper` nil is unbounded; `lower` `Int64.min` is
/// unbounded below (only while combining).
struct RowRange: Sendable, Hashable {
    var lower: Int64
    var upper: Int64?

    static let all = RowRange(lower: 0, upper: nil)
    /// `limit=0`: 0...-1, empty yet allowed (PostgREST answers an empty page, not an error).
    static let limitZero = RowRange(lower: 0, upper: -1)

    var isEmpty: Bool { upper.map { $0 < lower } ?? false }
    var hasLimitZero: Bool { upper == -1 }
    /// Rows in the range when bounded (`rangeLimit`).
    var limit: Int64? {
        guard lower != .min else { return nil }
        return upper.map { Self.add(Self.add($0, -lower), 1) }
    }

    func intersection(_ other: RowRange) -> RowRange {
        let upperBound: Int64? = switch (upper, other.upper) {
        case let (a?, b?): min(a, b)
        case let (a?, nil): a
        case let (nil, b): b
        }
        return RowRange(lower: max(lower, other.lower), upper: upperBound)
    }

    /// `restrictRange`: at most `count` rows from this range's start.
    func restricted(to count: Int64?) -> RowRange {
        guard let count else { return self }
        return intersection(RowRange(lower: .min, upper: Self.add(lower, Self.add(count, -1))))
    }

    /// `rangeParse` of a `Range` header: `first-[last]`; anything else asks for everything.
    init(header: String) {
        let parts = header.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy(\.isASCIIDigit), parts[1].allSatisfy(\.isASCIIDigit),
              let first = Int64(parts[0]) else {
            self = .all
            return
        }
        lower = first
        upper = parts[1].isEmpty ? nil : Int64(parts[1]) ?? .max
    }

    init(lower: Int64, upper: Int64?) {
        self.lower = lower
        self.upper = upper
    }

    /// The top-level range of a call: `limit`/`offset` with the `Range` header (GET only). Throws
    /// 416 PGRST103 when it is empty (other than `limit=0`).
    static func requested(limit: String?, offset: String?, header: String?) throws -> RowRange {
        // Texts that are no number count as absent (`readMaybe`), except that an offset with a
        // limit then asks for 0 rows from it, as PostgREST's `unionWith` does.
        let limitRange = limit.map { RowRange.all.restricted(to: Int64($0)) }
        let offsetRange = offset.map { Int64($0).map { RowRange(lower: $0, upper: nil) } ?? .all }
        let parameters: RowRange = switch (limitRange, offsetRange) {
        case let (limited?, from?): RowRange(lower: from.lower, upper: add(from.lower, add(limited.limit ?? 0, -1)))
        case let (limited?, nil): limited
        case let (nil, from?): from
        case (nil, nil): .all
        }
        let headerRange = header.map(RowRange.init(header:)) ?? .all
        let combined = parameters.hasLimitZero ? .limitZero : headerRange.intersection(parameters)
        if combined.isEmpty, !parameters.hasLimitZero {
            throw APIError.requestError(
                status: 416, code: "PGRST103", message: "Requested range not satisfiable",
                details: headerRange.isEmpty ? "The lower boundary must be lower than or equal to the upper boundary in the Range header."
                    : "Limit should be greater than or equal to zero.", hint: nil)
        }
        return combined
    }

    /// What is fetched: this range capped by `db-max-rows` (`limit=0` stays as it is).
    func capped(by maxRows: Int?) -> RowRange {
        hasLimitZero ? self : restricted(to: maxRows.map(Int64.init))
    }

    /// Saturating addition: client numbers reach the extremes of Int64.
    static func add(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : sum
    }
}

extension Character {
    /// 0-9 only (`isNumber` alone takes other scripts' digits and fractions).
    var isASCIIDigit: Bool { isASCII && isNumber }
}
