#if canImport(Glibc)
import Glibc
#endif

/// A resolved listening address kept alive for MHD's `MHD_OPTION_SOCK_ADDR` (never 0.0.0.0 unless
/// that is what the configuration names).
final class SocketAddress: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let isIPv6: Bool

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
    }

    deinit { pointer.deallocate() }
}
