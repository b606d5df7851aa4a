/// The `text/event-stream` framing (the HTML standard's server-sent events): a payload is one
/// `data:` line per line of it (CR, LF and CRLF all end a line there), then a blank line, which
/// dispatches the event; a line starting with `:` is a comment the client ignores.
enum EventStreamText {
    /// The event carrying `payload`.
    static func event(_ payload: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.utf8.count + 8)
        var line = payload.utf8[...]
        while true {
            let end = line.firstIndex { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }
            bytes += Array("data: ".utf8)
            bytes += line[..<(end ?? line.endIndex)]
            bytes.append(UInt8(ascii: "\n"))
            guard let end else { break }
            var next = payload.utf8.index(after: end)
            if payload.utf8[end] == UInt8(ascii: "\r"), next < payload.utf8.endIndex, payload.utf8[next] == UInt8(ascii: "\n") {
                next = payload.utf8.index(after: next)
            }
            line = payload.utf8[next...]
        }
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// A comment line (and a blank line, so that no partial event is left open).
    static func comment(_ text: String) -> [UInt8] { Array(": \(text)\n\n".utf8) }
}
