/// A minimal incremental HTTP/1.1 response parser over a connection's receive buffer: status line,
/// Content-Length or chunked bodies, `Connection: close`. One response in flight per connection.
struct ResponseParser {
    enum Outcome: Equatable {
        case needMore
        /// A whole response: its status and how many bytes of the buffer it used.
        case complete(status: Int, consumed: Int, close: Bool)
        case invalid
    }

    private var headerEnd = -1          // index just past "\r\n\r\n"
    private var status = 0
    private var contentLength = -1
    private var chunked = false
    private var closeAfter = false
    private var chunkCursor = 0         // next chunk-size line while reading a chunked body
    private var scanned = 0             // bytes already searched for the end of the headers

    mutating func reset() { self = ResponseParser() }

    /// Whether the body is delimited by the end of the connection (no length, not chunked).
    var readsUntilClose: Bool { headerEnd >= 0 && contentLength < 0 && !chunked && hasBody }

    private var hasBody: Bool { !(status < 200 || status == 204 || status == 304) }

    /// Parses `buffer[0..<count]`, keeping its place between calls.
    mutating func parse(_ buffer: UnsafePointer<UInt8>, count: Int) -> Outcome {
        if headerEnd < 0 {
            var i = scanned > 3 ? scanned - 3 : 0
            while i + 3 < count {
                if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 { break }
                i += 1
            }
            if i + 3 >= count { scanned = count; return .needMore }
            headerEnd = i + 4
            guard parseHeaders(buffer, end: i) else { return .invalid }
            chunkCursor = headerEnd
        }
        if !hasBody { return .complete(status: status, consumed: headerEnd, close: closeAfter) }
        if chunked { return parseChunks(buffer, count: count) }
        if contentLength >= 0 {
            let total = headerEnd + contentLength
            return count >= total ? .complete(status: status, consumed: total, close: closeAfter) : .needMore
        }
        return .needMore                 // close-delimited: completed by the caller at end of stream
    }

    /// The close-delimited response at the end of the stream.
    func completeAtClose(count: Int) -> Outcome { .complete(status: status, consumed: count, close: true) }

    private mutating func parseHeaders(_ b: UnsafePointer<UInt8>, end: Int) -> Bool {
        // "HTTP/1.1 204 ..."
        guard end >= 12, b[0] == UInt8(ascii: "H"), b[8] == 32 else { return false }
        var code = 0
        for k in 9..<12 {
            let d = Int(b[k]) - 48
            guard d >= 0 && d <= 9 else { return false }
            code = code * 10 + d
        }
        status = code
        closeAfter = b[7] == UInt8(ascii: "0")       // HTTP/1.0 closes unless told otherwise
        var line = 0
        while line < end && !(b[line] == 13 && b[line + 1] == 10) { line += 1 }
        line += 2
        while line < end {
            var eol = line
            while eol < end && b[eol] != 13 { eol += 1 }
            headerLine(b, from: line, to: eol)
            line = eol + 2
        }
        return true
    }

    private mutating func headerLine(_ b: UnsafePointer<UInt8>, from: Int, to: Int) {
        var colon = from
        while colon < to && b[colon] != UInt8(ascii: ":") { colon += 1 }
        guard colon < to else { return }
        var v = colon + 1
        while v < to && (b[v] == 32 || b[v] == 9) { v += 1 }
        let nameLength = colon - from
        let first = b[from] | 0x20
        if nameLength == 14 && first == UInt8(ascii: "c") && matches(b, from, "content-length") {
            var n = 0
            while v < to, b[v] >= 48, b[v] <= 57 { n = n * 10 + Int(b[v] - 48); v += 1 }
            contentLength = n
        } else if nameLength == 17 && first == UInt8(ascii: "t") && matches(b, from, "transfer-encoding") {
            chunked = contains(b, v, to, "chunked")
        } else if nameLength == 10 && first == UInt8(ascii: "c") && matches(b, from, "connection") {
            if contains(b, v, to, "close") { closeAfter = true } else if contains(b, v, to, "keep-alive") { closeAfter = false }
        }
    }

    private mutating func parseChunks(_ b: UnsafePointer<UInt8>, count: Int) -> Outcome {
        while true {
            var i = chunkCursor
            var size = 0
            var digits = 0
            while i < count {
                let c = b[i] | 0x20
                if c >= 48 && c <= 57 { size = size * 16 + Int(c - 48) } else if c >= 97 && c <= 102 { size = size * 16 + Int(c - 87) } else { break }
                digits += 1; i += 1
            }
            // Skip chunk extensions up to the end of the size line.
            while i + 1 < count && !(b[i] == 13 && b[i + 1] == 10) { i += 1 }
            if i + 1 >= count { return .needMore }
            if digits == 0 { return .invalid }
            let dataStart = i + 2
            if size == 0 {
                // Trailers (usually none) end with an empty line.
                var j = dataStart
                while j + 1 < count {
                    if b[j] == 13 && b[j + 1] == 10 { return .complete(status: status, consumed: j + 2, close: closeAfter) }
                    while j + 1 < count && !(b[j] == 13 && b[j + 1] == 10) { j += 1 }
                    j += 2
                }
                return .needMore
            }
            let next = dataStart + size + 2
            if next > count { return .needMore }
            chunkCursor = next
        }
    }

    private func matches(_ b: UnsafePointer<UInt8>, _ at: Int, _ lower: StaticString) -> Bool {
        let p = lower.utf8Start
        for k in 0..<lower.utf8CodeUnitCount where (b[at + k] | 0x20) != p[k] { return false }
        return true
    }

    private func contains(_ b: UnsafePointer<UInt8>, _ from: Int, _ to: Int, _ lower: StaticString) -> Bool {
        let n = lower.utf8CodeUnitCount
        guard to - from >= n else { return false }
        for s in from...(to - n) where matches(b, s, lower) { return true }
        return false
    }
}
