import CEventLoop
#if canImport(Glibc)
import Glibc
#endif

/// One epoll instance, owned by one event loop: level-triggered registrations of the loop's
/// descriptors (its HTTP daemon's epoll fd, its database sockets, its wake-up eventfd).
final class Epoll {
    let fd: Int32
    static let readable = EPOLLIN.rawValue
    static let writable = EPOLLOUT.rawValue
    static let failed = EPOLLERR.rawValue | EPOLLHUP.rawValue

    init() {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(fd >= 0, "epoll_create1 failed: \(errno)")
    }

    deinit { close(fd) }

    /// Watches `descriptor` for reading, and for writing when `writable`.
    func add(_ descriptor: Int32, writable: Bool = false) {
        control(EPOLL_CTL_ADD, descriptor, writable: writable)
    }

    /// Changes whether `descriptor` is also watched for writing (and, with `readable` false, no longer
    /// for reading: a paused stream).
    func modify(_ descriptor: Int32, writable: Bool, readable: Bool = true) {
        control(EPOLL_CTL_MOD, descriptor, writable: writable, readable: readable)
    }

    func remove(_ descriptor: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(fd, EPOLL_CTL_DEL, descriptor, &event)
    }

    /// Waits up to `timeout` ms (-1: no limit) and returns how many events were stored.
    func wait(_ events: inout [epoll_event], timeout: Int32) -> Int {
        let count = events.withUnsafeMutableBufferPointer { epoll_wait(fd, $0.baseAddress, Int32($0.count), timeout) }
        return max(0, Int(count))
    }

    private func control(_ operation: Int32, _ descriptor: Int32, writable: Bool, readable: Bool = true) {
        var event = epoll_event()
        event.events = (readable ? Self.readable : 0) | (writable ? Self.writable : 0)
        event.data.fd = descriptor
        _ = epoll_ctl(fd, operation, descriptor, &event)
    }
}
