import CMHDShim
import CMicroHTTPD
#if canImport(Glibc)
import Glibc
#endif

/// The one owner of libmicrohttpd: a daemon (an event loop's, or the admin server's) and the calls on
/// its connections and responses. No other file calls `MHD_*`; the callbacks MHD calls back are the
/// server files' own. A connection's calls run on its daemon's thread (inside a callback, or between
/// two `run`s of an external-epoll daemon).
final class MHDDaemon {
    /// No deinit stops it: MHD aborts when stopped with connections suspended, so whoever owns it calls
    /// `stop` once none are (a loop past its drain deadline leaves the rest to the process's exit).
    private var daemon: OpaquePointer?

    /// Starts a daemon with `flags` and `options` (without `MHD_OPTION.END`: added here); nil when MHD
    /// refuses (an address in use, options it does not take). The variadic `MHD_start_daemon` is
    /// reached through the C shim, which passes the options as one array.
    init?(flags: UInt32, handler: MHD_AccessHandlerCallback, context: UnsafeMutableRawPointer?, options: [MHD_OptionItem]) {
        var items = options + [MHD_OptionItem(option: MHD_OPTION.END, value: 0, ptr_value: nil)]
        daemon = items.withUnsafeMutableBufferPointer { gw_start_daemon(flags, 0, handler, context, $0.baseAddress) }
        if daemon == nil { return nil }
    }

    /// MHD's own epoll set (a daemon without threads), for the loop to watch level-triggered.
    var epollFD: Int32 { gw_daemon_epoll_fd(daemon) }

    /// Milliseconds until MHD must run for its own timeouts; negative: none.
    var timeoutMilliseconds: Int64 { Int64(gw_daemon_timeout(daemon)) }

    /// One pass: reads, calls the handlers, writes what is queued.
    func run() { MHD_run(daemon) }

    /// Adopts a client socket accepted elsewhere (MHD closes it when it cannot).
    func adopt(socket: Int32, address: UnsafePointer<sockaddr>, length: socklen_t) {
        _ = MHD_add_connection(daemon, socket, address, length)
    }

    /// Stops the daemon and closes its connections (never with connections still suspended: MHD aborts).
    func stop() {
        if let daemon { MHD_stop_daemon(daemon) }
        daemon = nil
    }

    // MARK: Connections

    /// Takes the connection out of MHD's loop until `resume` (waiting for the database or a stream).
    static func suspend(_ connection: OpaquePointer) { MHD_suspend_connection(connection) }

    /// Puts it back; MHD acts on it at its next `run`.
    static func resume(_ connection: OpaquePointer) { MHD_resume_connection(connection) }

    /// One request header, as sent.
    static func header(_ name: String, of connection: OpaquePointer) -> String? {
        MHD_lookup_connection_value(connection, MHD_ValueKind.HEADER_KIND, name).map { String(cString: $0) }
    }

    /// Request headers with lower-cased names; repeated headers joined with ", " (cookies with "; ").
    static func headers(of connection: OpaquePointer) -> [String: String] {
        var headers: [String: String] = [:]
        withUnsafeMutablePointer(to: &headers) { pointer in
            _ = MHD_get_connection_values(connection, MHD_ValueKind.HEADER_KIND, { cls, _, key, value in
                guard let cls, let key else { return MHD_Result.YES }
                let headers = cls.assumingMemoryBound(to: [String: String].self)
                let name = String(cString: key).lowercased()
                let text = value.map { String(cString: $0) } ?? ""
                if let existing = headers.pointee[name] {
                    headers.pointee[name] = existing + (name == "cookie" ? "; " : ", ") + text
                } else {
                    headers.pointee[name] = text
                }
                return MHD_Result.YES
            }, pointer)
        }
        return headers
    }

    // MARK: Responses

    /// Queues `response` on `connection`: its body copied once, or, with `body` given, a body MHD reads
    /// through the callbacks (of unknown length: chunked under HTTP/1.1). `Connection: close` when
    /// `close`. NO when MHD refuses (the connection then closes).
    static func queue(_ response: HTTPResponse, on connection: OpaquePointer, close: Bool,
                      body reader: (context: UnsafeMutableRawPointer, read: MHD_ContentReaderCallback,
                                    release: MHD_ContentReaderFreeCallback)? = nil) -> MHD_Result {
        let mhdResponse: OpaquePointer?
        if let reader {
            mhdResponse = MHD_create_response_from_callback(UInt64.max, 16 * 1024, reader.read, reader.context, reader.release)
        } else {
            mhdResponse = response.body.withUnsafeBytes { bytes in
                MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress),
                                                MHD_ResponseMemoryMode.RESPMEM_MUST_COPY)
            }
        }
        guard let mhdResponse else {
            if let reader { reader.release(reader.context) }   // MHD never took it: the callbacks' owner lets go
            return MHD_Result.NO
        }
        defer { MHD_destroy_response(mhdResponse) }
        for (name, value) in response.headers {
            _ = MHD_add_response_header(mhdResponse, name, value)
        }
        if close { _ = MHD_add_response_header(mhdResponse, "Connection", "close") }
        return MHD_queue_response(connection, UInt32(response.status), mhdResponse)
    }
}
