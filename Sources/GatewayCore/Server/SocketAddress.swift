#if canImport(Glibc)
import Glibc
#endif

/// A resolved listening address kept alive for MHD's `MHD_OPTION_SOCK_ADDR` (never 0.0.0.0 unless
/// that is what the configuration names).
final class SocketAddress: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let isIPv6: Bool
    let length: socklen_t

    init(host: String, port: Int) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let first = found else {
            throw ServerError(message: "cannot resolve server-host \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(found) }
        pointer = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<sockaddr_storage>.size, alignment: 16)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<sockaddr_storage>.size)
        pointer.copyMemory(from: first.pointee.ai_addr, byteCount: Int(first.pointee.ai_addrlen))
        isIPv6 = first.pointee.ai_family == AF_INET6
        length = first.pointee.ai_addrlen
    }

    deinit { pointer.deallocate() }

    /// A bound, listening TCP socket on this address (SO_REUSEADDR, never SO_REUSEPORT: a forgotten
    /// old process must not silently share the port), shared by the event loops.
    func listen(backlog: Int32 = 1024) throws -> Int32 {
        let fd = socket(isIPv6 ? AF_INET6 : AF_INET,
                        Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw ServerError(message: "cannot create a socket: \(String(cString: strerror(errno)))") }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        if isIPv6 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size)) }
        guard bind(fd, pointer.assumingMemoryBound(to: sockaddr.self), length) == 0, Glibc.listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ServerError(message: reason)
        }
        return fd
    }
}
