/// Durations of a request's stages, as a `Server-Timing` header (`jwt;dur=0.004, plan;dur=0.012, ...`).
struct ServerTiming: Sendable {
    private var last = monotonicNanoseconds()
    private var stages: [(String, UInt64)] = []

    /// Ends the stage called `name` now; the next stage starts here.
    mutating func mark(_ name: String) {
        let now = monotonicNanoseconds()
        stages.append((name, now - last))
        last = now
    }

    var header: String {
        stages.map { name, nanoseconds in
            let micros = (nanoseconds + 500) / 1000
            return "\(name);dur=\(micros / 1000).\(String(micros % 1000).leftPadded(to: 3))"
        }.joined(separator: ", ")
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
