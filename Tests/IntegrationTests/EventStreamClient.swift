import Foundation
@testable import GatewayCore

/// A client of one `text/event-stream` response read as it comes: sends the request on its own
/// socket, reads the head, then de-chunks the body and splits it into events (their `data:` lines
/// joined with "\n") and comments, each waited for with a deadline.
final class EventStreamClient {
    enum Item: Equatable {
        case event(String)
        case comment(String)
    }

    let fd: Int32
    private(set) var status = 0
    private(set) var headers: [(String, String)] = []
    private var raw: [UInt8] = []
    /// The de-chunked body not yet split into items.
    private var body: [UInt8] = []
    /// A complete non-chunked body (an error's JSON).
    private(set) var errorBody: [UInt8] = []
    /// The terminating chunk came: the server ended the stream normally.
    private(set) var finished = false
    /// The connection closed (after the terminating chunk or without it).
    private(set) var closed = false
    private var chunked = false
    private var disconnected = false

    /// Connects and sends `GET path`; `receiveBuffer` shrinks the socket's buffer (a slow client).
    init(port: Int, path: String, headers: [(String, String)] = [("Accept", "text/event-stream")],
         receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else { close(fd); throw HTTPClient.Failure(message: "connect failed (errno \(errno))") }
        var limit = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        try HTTPClient.write(fd, HTTPClient.request(method: "GET", path: path, body: nil, headers: headers))
    }

    deinit { disconnect() }

    /// Closes the socket (as a client that goes away).
    func disconnect() {
        guard !disconnected else { return }
        disconnected = true
        close(fd)
    }

    /// Waits for the response head (status and headers); throws after `timeout` seconds.
    func waitForHead(timeout: Double = 10) throws {
        let until = Date().addingTimeInterval(timeout)
        while status == 0 {
            guard Date() < until, !closed else { throw HTTPClient.Failure(message: "no response head (\(raw.count) bytes)") }
            receive()
        }
    }

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }

    /// The next event or comment, nil if none came within `timeout` seconds or the stream ended.
    func next(timeout: Double) -> Item? {
        let until = Date().addingTimeInterval(timeout)
        while true {
            if let item = takeItem() { return item }
            if closed || Date() >= until { return nil }
            receive()
        }
    }

    /// The next event's data, skipping comments.
    func nextEvent(timeout: Double) -> String? {
        let until = Date().addingTimeInterval(timeout)
        while let item = next(timeout: until.timeIntervalSinceNow) {
            if case .event(let data) = item { return data }
        }
        return nil
    }

    /// Reads until the connection closes (or `timeout` seconds pass); true if it closed.
    func waitUntilClosed(timeout: Double) -> Bool {
        let until = Date().addingTimeInterval(timeout)
        while !closed && Date() < until { receive() }
        return closed
    }

    /// Reads until the body ends: its terminating chunk, or the connection closed; true if it did.
    func waitUntilEnded(timeout: Double) -> Bool {
        let until = Date().addingTimeInterval(timeout)
        while !finished && !closed && Date() < until { receive() }
        return finished || closed
    }

    /// One read (up to the 50 ms receive timeout), then what it completed.
    private func receive() {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = read(fd, &chunk, chunk.count)
        if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { closed = true }
        if count > 0 { raw += chunk[0..<count] }
        parse()
    }

    private func parse() {
        if status == 0 {
            let separator: [UInt8] = [13, 10, 13, 10]
            guard raw.count >= 4, let end = (0...(raw.count - 4)).first(where: { Array(raw[$0..<$0 + 4]) == separator }) else { return }
            let lines = String(decoding: raw[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
            status = Int(lines[0].split(separator: " ")[1]) ?? -1
            headers = lines.dropFirst().compactMap { line in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            raw.removeFirst(end + 4)
            chunked = header("Transfer-Encoding")?.lowercased() == "chunked"
        }
        guard chunked else { errorBody = raw; return }
        // Chunks: hex size CRLF, data CRLF; size 0 ends the body.
        while let lineEnd = (0..<max(0, raw.count - 1)).first(where: { raw[$0] == 13 && raw[$0 + 1] == 10 }) {
            let sizeText = String(decoding: raw[0..<lineEnd], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText, radix: 16) else { closed = true; return }
            guard raw.count >= lineEnd + 2 + size + 2 else { return }
            if size == 0 { finished = true; raw.removeAll(); return }
            body += raw[(lineEnd + 2)..<(lineEnd + 2 + size)]
            raw.removeFirst(lineEnd + 2 + size + 2)
        }
    }

    /// One complete item (up to its blank line) from the body.
    private func takeItem() -> Item? {
        while let end = (0..<max(0, body.count - 1)).first(where: { body[$0] == 10 && body[$0 + 1] == 10 }) {
            let block = String(decoding: body[0..<end], as: UTF8.self)
            body.removeFirst(end + 2)
            let lines = block.components(separatedBy: "\n")
            // "data: x": one space after the colon belongs to the framing.
            func value(_ line: String, after prefix: Int) -> String {
                let rest = line.dropFirst(prefix)
                return String(rest.first == " " ? rest.dropFirst() : rest)
            }
            let data = lines.filter { $0.hasPrefix("data:") }.map { value($0, after: 5) }
            if !data.isEmpty { return .event(data.joined(separator: "\n")) }
            if let comment = lines.first(where: { $0.hasPrefix(":") }) { return .comment(value(comment, after: 1)) }
        }
        return nil
    }
}
