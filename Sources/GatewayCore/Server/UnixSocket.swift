#if canImport(Glibc)
import Glibc
#endif

/// The listening unix domain socket of `server-unix-socket` (PostgREST: "takes precedence over
/// server-port"), shared by the event loops like the TCP one: each accepts from it and hands the
/// connection to libmicrohttpd (`MHD_add_connection`), which speaks HTTP on any stream socket.
enum UnixSocket {
    /// Creates, binds and listens (non-blocking) at `path` with file mode `mode`. A socket file left
    /// by a gateway that did not stop cleanly is removed first; any other file there is refused.
    static func listen(path: String, mode: UInt32, backlog: Int32 = 1024) throws -> (fd: Int32, file: [UInt64]) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw ServerError(message: "server-unix-socket \(path): a path of 1 to \(capacity - 1) bytes is needed")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        try removeStale(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw ServerError(message: "cannot create a unix socket: \(String(cString: strerror(errno)))") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        // chmod before listen: no client can connect while the file still has the umask's mode.
        guard bound == 0, chmod(path, mode_t(mode)) == 0, Glibc.listen(fd, backlog) == 0, let file = identity(path) else {
            let reason = String(cString: strerror(errno))
            close(fd)
            if bound == 0 { unlink(path) }
            throw ServerError(message: "cannot listen on unix socket \(path) (\(reason))")
        }
        return (fd, file)
    }

    /// Which file a path names (device and inode), nil when there is none.
    static func identity(_ path: String) -> [UInt64]? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return [UInt64(status.st_dev), UInt64(status.st_ino)]
    }

    /// At a clean shutdown: removes the socket file only if it is still the one this gateway bound (a
    /// gateway started meanwhile on the same path, as in a rolling restart, keeps its socket).
    static func remove(_ path: String, ifStill file: [UInt64]) {
        if identity(path) == file { unlink(path) }
    }

    /// Removes the socket file at `path` (at start); nothing if absent.
    static func removeStale(_ path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw ServerError(message: "server-unix-socket \(path) exists and is not a socket")
        }
        unlink(path)
    }
}
