/// One request's statements on its way through a loop's pool: run in order in one implicit
/// transaction that ends at its own pipeline sync. Lives on one loop thread from submit to answer.
final class PGRequest {
    /// What the connection expects back for one sent step, in order.
    enum Step {
        /// The Parse of a statement first prepared by this request (cached once it succeeds).
        case parse(name: String, sql: String)
        /// A statement's execution; `wanted` carries the rows the caller wants.
        case execute(wanted: Bool)
    }

    let statements: [Statement]
    /// The statement whose rows the caller gets (the call; statements after it end the transaction).
    let resultIndex: Int
    /// Called exactly once, on the loop: rows of statement `resultIndex`, or the first error.
    let completion: (Result<[[String?]], any Error>) -> Void
    /// Set for a streamed call: the call's rows go there as they arrive, not into `rows`, and the
    /// request has a connection to itself.
    let rowStream: PGRowStream?
    /// When it joined the waiting line: admission by time looks at the oldest one's wait, and past
    /// `db-pool-acquisition-timeout` it fails with PGRST003.
    var queuedAt: UInt64 = 0
    var steps: [Step] = []
    var rows: [[String?]] = []
    var failure: PGError?

    init(statements: [Statement], resultIndex: Int? = nil, rowStream: PGRowStream? = nil,
         completion: @escaping (Result<[[String?]], any Error>) -> Void) {
        self.statements = statements
        self.resultIndex = resultIndex ?? statements.count - 1
        self.rowStream = rowStream
        self.completion = completion
    }

    func finish() {
        if let failure { completion(.failure(failure)) } else { completion(.success(rows)) }
    }
}

/// A FIFO of requests without per-pop copying (head index, compacted when drained).
struct RequestQueue {
    private var items: [PGRequest] = []
    private var head = 0

    var count: Int { items.count - head }
    var isEmpty: Bool { head == items.count }
    var first: PGRequest? { isEmpty ? nil : items[head] }

    mutating func append(_ request: PGRequest) { items.append(request) }

    mutating func removeFirst() -> PGRequest {
        let request = items[head]
        head += 1
        if head == items.count { items.removeAll(keepingCapacity: true); head = 0 }
        else if head > 256 && head * 2 > items.count { items.removeFirst(head); head = 0 }
        return request
    }

    mutating func removeAll() -> [PGRequest] {
        let all = Array(items[head...])
        items.removeAll(keepingCapacity: true)
        head = 0
        return all
    }
}
