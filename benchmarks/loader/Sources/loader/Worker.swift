import CLoaderShim
import Glibc
import Histogram

/// What one worker thread is asked to do.
struct WorkerPlan: Sendable {
    let thread: Int
    let port: UInt16
    let connections: Int
    let firstConnection: Int        // global index of this worker's first connection (open-loop staggering)
    let totalConnections: Int
    let rate: Double?               // total requests/s of the run (open loop), nil = closed loop
    let requestQuota: Int?          // this worker's share of --requests
    let start: UInt64
    let measureFrom: UInt64         // end of the warm-up
    let end: UInt64
    let timeout: UInt64
    let seed: UInt64
    var recordAcks = false          // --ack-log: keep the key of every acknowledged (2xx) write
}

/// Counts and latencies of one worker (or, merged, of the run). Latencies in microseconds.
struct Tally {
    static let statusSlots = 600
    var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    /// Latencies of the admitted requests only: every answer but 503 (a server shedding load answers
    /// 503 with Retry-After at once; those answers would hide how long the admitted ones waited).
    var admitted = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    /// Responses over the whole run, warm-up included, and those of them other than 503 (CPU per
    /// request is taken over the whole run).
    var answered = 0, admittedAnswered = 0
    var perSecondCount: [Int] = []
    var perSecond: [Histogram<UInt64>] = []
    var status = [Int](repeating: 0, count: Operation.allCases.count * Tally.statusSlots)
    var connectErrors = 0, readErrors = 0, writeErrors = 0, timeouts = 0, parseErrors = 0, serverCloses = 0
    var sent = 0
    /// From the start of the run (warm-up included), per 100 ms: 2xx answers, other answers, transport
    /// errors (connect, read, write, timeout, parse); and the first and last failure (monotonic ns).
    static let bucketNanos: UInt64 = 100_000_000
    var okBuckets: [Int] = [], non2xxBuckets: [Int] = [], transportBuckets: [Int] = []
    var firstFailure: UInt64 = .max, lastFailure: UInt64 = 0
    var acks: [String] = []

    @inline(__always)
    mutating func timeline(_ now: UInt64, start: UInt64, ok: Bool, transport: Bool) {
        let b = Int((now &- min(start, now)) / Tally.bucketNanos)
        while okBuckets.count <= b { okBuckets.append(0); non2xxBuckets.append(0); transportBuckets.append(0) }
        if ok { okBuckets[b] += 1; return }
        if transport { transportBuckets[b] += 1 } else { non2xxBuckets[b] += 1 }
        firstFailure = min(firstFailure, now)
        lastFailure = max(lastFailure, now)
    }

    @inline(__always)
    mutating func record(latency: UInt64, second: Int, operation: Operation, status code: Int) {
        let value = min(latency, 600_000_000)
        histogram.record(value)
        if code != 503 { admitted.record(value) }
        while perSecond.count <= second {
            perSecond.append(Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .two))
            perSecondCount.append(0)
        }
        perSecond[second].record(value)
        perSecondCount[second] += 1
        let slot = code >= 0 && code < Tally.statusSlots ? code : 0
        status[operation.rawValue * Tally.statusSlots + slot] += 1
    }

    mutating func merge(_ other: Tally) {
        histogram.add(other.histogram)
        admitted.add(other.admitted)
        answered += other.answered
        admittedAnswered += other.admittedAnswered
        for (s, h) in other.perSecond.enumerated() {
            while perSecond.count <= s {
                perSecond.append(Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .two))
                perSecondCount.append(0)
            }
            perSecond[s].add(h)
            perSecondCount[s] += other.perSecondCount[s]
        }
        for i in status.indices { status[i] += other.status[i] }
        connectErrors += other.connectErrors; readErrors += other.readErrors; writeErrors += other.writeErrors
        timeouts += other.timeouts; parseErrors += other.parseErrors; serverCloses += other.serverCloses
        sent += other.sent
        for (b, n) in other.okBuckets.enumerated() {
            while okBuckets.count <= b { okBuckets.append(0); non2xxBuckets.append(0); transportBuckets.append(0) }
            okBuckets[b] += n; non2xxBuckets[b] += other.non2xxBuckets[b]; transportBuckets[b] += other.transportBuckets[b]
        }
        firstFailure = min(firstFailure, other.firstFailure)
        lastFailure = max(lastFailure, other.lastFailure)
        acks.append(contentsOf: other.acks)
    }
}

private let eventIn = LOADER_EPOLLIN
private let eventOut = LOADER_EPOLLOUT
private let eventErr = LOADER_EPOLLERR
private let controlAdd: Int32 = 1, controlDelete: Int32 = 2, controlModify: Int32 = 3
private let timerTag = UInt64.max

/// A thread with its own epoll instance driving a set of keep-alive connections.
final class Worker: @unchecked Sendable {
    let plan: WorkerPlan
    let scenario: Scenario
    var tally = Tally()
    private var connections: [Connection] = []
    private var epfd: Int32 = -1
    private var timerfd: Int32 = -1
    private var timerArmedAt: UInt64 = 0
    private var random: FastRandom
    private var counter: UInt64 = 0
    private var remaining: Int
    private let interval: UInt64          // open loop: time between two requests of one connection
    private var address = sockaddr_in()

    init(plan: WorkerPlan, scenario: Scenario) {
        self.plan = plan
        self.scenario = scenario
        random = FastRandom(seed: plan.seed)
        remaining = plan.requestQuota ?? Int.max
        if let rate = plan.rate {
            interval = UInt64(Double(plan.totalConnections) * 1e9 / rate)
        } else {
            interval = 0
        }
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = plan.port.bigEndian
        address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    }

    private var openLoop: Bool { plan.rate != nil }

    func run() {
        epfd = loader_epoll_create()
        if openLoop {
            timerfd = loader_timerfd_create()
            loader_epoll_ctl(epfd, controlAdd, timerfd, eventIn, timerTag)
        }
        for i in 0..<plan.connections {
            let c = Connection(index: i)
            if openLoop {
                let global = UInt64(plan.firstConnection + i)
                c.nextIntended = plan.start + global * interval / UInt64(plan.totalConnections)
            }
            connections.append(c)
            open(c, now: monotonicNanos())
        }
        let capacity = 256
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        let tags = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        defer { events.deallocate(); tags.deallocate() }
        var nextHousekeeping: UInt64 = 0
        while true {
            let now = monotonicNanos()
            if now >= plan.end { break }
            if remaining == 0 && !connections.contains(where: { $0.phase == .writing || $0.phase == .reading }) { break }
            if now >= nextHousekeeping {
                housekeeping(now)
                nextHousekeeping = now < plan.start ? min(now + 10_000_000, plan.start) : now + 10_000_000
            }
            if openLoop { dispatchDue(now) }
            let waitMs = Int32(min((nextHousekeeping > now ? nextHousekeeping - now : 0) / 1_000_000 + 1, (plan.end - now) / 1_000_000 + 1))
            let n = loader_epoll_wait(epfd, events, tags, Int32(capacity), waitMs)
            if n <= 0 { continue }
            for k in 0..<Int(n) {
                let tag = tags[k]
                if tag == timerTag {
                    var expirations: UInt64 = 0
                    _ = read(timerfd, &expirations, 8)
                    timerArmedAt = 0
                    continue
                }
                handle(connections[Int(tag)], events: events[k])
            }
        }
        for c in connections where c.fd >= 0 { close(c.fd); c.fd = -1 }
        if timerfd >= 0 { close(timerfd) }
        close(epfd)
    }

    // MARK: connections

    private func open(_ c: Connection, now: UInt64) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { tally.connectErrors += 1; transportError(now); c.retryAt = now + 100_000_000; return }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 && errno != EINPROGRESS {
            close(fd)
            tally.connectErrors += 1
            transportError(now)
            c.retryAt = now + 20_000_000
            return
        }
        c.fd = fd
        c.filled = 0
        c.parser.reset()
        loader_epoll_ctl(epfd, controlAdd, fd, eventIn | eventOut, UInt64(c.index))
        c.watchingWrite = true
        c.sentAt = now                                  // connect timeout starts here
        c.phase = .connecting
    }

    /// Closes a connection; an in-flight request is lost (counted by the caller). Reopened by housekeeping.
    private func drop(_ c: Connection, retryAfter: UInt64, now: UInt64) {
        if c.fd >= 0 {
            loader_epoll_ctl(epfd, controlDelete, c.fd, 0, 0)
            close(c.fd)
            c.fd = -1
        }
        c.phase = .closed
        c.retryAt = now + retryAfter
    }

    private func watchWrite(_ c: Connection, _ on: Bool) {
        guard c.watchingWrite != on else { return }
        loader_epoll_ctl(epfd, controlModify, c.fd, on ? eventIn | eventOut : eventIn, UInt64(c.index))
        c.watchingWrite = on
    }

    private func housekeeping(_ now: UInt64) {
        for c in connections {
            switch c.phase {
            case .closed:
                if now >= c.retryAt && remaining > 0 { open(c, now: now) }
            case .writing, .reading:
                if now - c.sentAt > plan.timeout {
                    tally.timeouts += 1
                    transportError(now)
                    drop(c, retryAfter: 0, now: now)
                }
            case .connecting:
                if now - c.sentAt > plan.timeout {
                    tally.connectErrors += 1
                    transportError(now)
                    drop(c, retryAfter: 0, now: now)
                }
            case .idle:
                if !openLoop && now >= plan.start { send(c, intended: now) }
            }
        }
    }

    // MARK: open loop

    private func dispatchDue(_ now: UInt64) {
        var earliest = UInt64.max
        for c in connections where c.phase == .idle {
            if c.nextIntended <= now {
                let intended = c.nextIntended
                c.nextIntended += interval
                send(c, intended: intended)
            } else if c.nextIntended < earliest {
                earliest = c.nextIntended
            }
        }
        if earliest != .max && earliest != timerArmedAt && earliest < plan.end {
            loader_timerfd_arm(timerfd, earliest)
            timerArmedAt = earliest
        }
    }

    // MARK: requests

    @inline(__always)
    private func send(_ c: Connection, intended: UInt64) {
        guard remaining > 0 else { return }
        remaining -= 1
        if let (operation, bytes) = c.followUp {
            c.followUp = nil
            c.operation = operation
            c.request = bytes
            c.ackKey = nil
        } else {
            let (operation, bytes, ackKey) = scenario.next(random: &random, counter: &counter, thread: plan.thread)
            c.operation = operation
            c.request = bytes
            c.ackKey = ackKey
        }
        c.written = 0
        c.intendedAt = intended
        c.sentAt = monotonicNanos()
        c.phase = .writing
        tally.sent += 1
        write(c)
    }

    @inline(__always)
    private func write(_ c: Connection) {
        let count = c.request.count
        let n = c.request.withUnsafeBytes { Glibc.send(c.fd, $0.baseAddress! + c.written, count - c.written, Int32(MSG_NOSIGNAL)) }
        if n >= 0 {
            c.written += n
            if c.written == count {
                c.phase = .reading
                if c.watchingWrite { watchWrite(c, false) }
            } else {
                watchWrite(c, true)
            }
        } else if errno == EAGAIN || errno == EINTR {
            watchWrite(c, true)
        } else {
            tally.writeErrors += 1
            transportError(monotonicNanos())
            drop(c, retryAfter: 0, now: monotonicNanos())
        }
    }

    @inline(__always)
    private func handle(_ c: Connection, events: UInt32) {
        switch c.phase {
        case .connecting:
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len)
            let now = monotonicNanos()
            if err != 0 || events & eventErr != 0 {
                tally.connectErrors += 1
                transportError(now)
                drop(c, retryAfter: 20_000_000, now: now)
                return
            }
            c.phase = .idle
            watchWrite(c, false)
            if !openLoop {
                if now >= plan.start { send(c, intended: now) }          // else: housekeeping starts it on time
            } else if c.nextIntended <= now {
                let intended = c.nextIntended
                c.nextIntended += interval
                send(c, intended: intended)
            }
        case .writing:
            if events & (eventOut | eventErr) != 0 { write(c) }
            if c.phase == .reading && events & (eventIn | eventErr) != 0 { receive(c) }
        case .reading, .idle:
            receive(c)
        case .closed:
            break
        }
    }

    @inline(__always)
    private func transportError(_ now: UInt64) {
        tally.timeline(now, start: plan.start, ok: false, transport: true)
    }

    /// One line per acknowledged write, tab-separated: function and up to three keys ("-" when none).
    /// Keys the request named come from the scenario; ids the database chose come from the response.
    private func ack(_ c: Connection, _ consumed: Int) {
        let response = UnsafeBufferPointer(start: c.buffer, count: consumed)
        var fields: [String]
        switch c.operation {
        case .allocateVM:
            guard let id = jsonValue(response, "vm_id") else { return }
            fields = ["allocate_vm", id]
        case .acquireNode:
            guard let key = c.ackKey, let epoch = jsonValue(response, "epoch") else { return }
            fields = [key, epoch]
        case .claimBuild:
            guard let id = jsonValue(response, "build_id"), let token = jsonValue(response, "lease_token") else { return }  // null: none due
            fields = ["claim_build", id, token]
        default:
            guard let key = c.ackKey else { return }
            fields = [key]
        }
        var line = fields.joined(separator: "\t")
        let count = line.split(separator: "\t", omittingEmptySubsequences: false).count
        for _ in count..<4 { line += "\t-" }
        tally.acks.append(line)
    }

    private func jsonValue(_ bytes: UnsafeBufferPointer<UInt8>, _ key: String) -> String? {
        jsonScalars(bytes, key, limit: 1).first
    }

    private func receive(_ c: Connection) {
        while true {
            c.ensureRoom()
            let room = c.capacity - c.filled
            let n = recv(c.fd, c.buffer + c.filled, room, 0)
            if n > 0 {
                c.filled += n
                guard c.phase == .reading || c.phase == .writing else {
                    c.filled = 0                               // unsolicited bytes on an idle connection
                    return
                }
                switch c.parser.parse(c.buffer, count: c.filled) {
                case .needMore:
                    if n < room { return }
                case let .complete(status, consumed, close):
                    finish(c, status: status, consumed: consumed, close: close)
                    return
                case .invalid:
                    tally.parseErrors += 1
                    transportError(monotonicNanos())
                    drop(c, retryAfter: 0, now: monotonicNanos())
                    return
                }
            } else if n == 0 {
                let now = monotonicNanos()
                if c.phase == .reading, c.parser.readsUntilClose, case let .complete(status, consumed, _) = c.parser.completeAtClose(count: c.filled) {
                    finish(c, status: status, consumed: consumed, close: true)
                    return
                }
                if c.phase == .reading || c.phase == .writing { tally.readErrors += 1; transportError(now) } else { tally.serverCloses += 1 }
                drop(c, retryAfter: 0, now: now)
                return
            } else {
                if errno == EAGAIN || errno == EINTR { return }
                tally.readErrors += 1
                transportError(monotonicNanos())
                drop(c, retryAfter: 0, now: monotonicNanos())
                return
            }
        }
    }

    @inline(__always)
    private func finish(_ c: Connection, status: Int, consumed: Int, close: Bool) {
        let now = monotonicNanos()
        if now >= plan.measureFrom {
            let started = openLoop ? c.intendedAt : c.sentAt
            let second = Int((now - plan.measureFrom) / 1_000_000_000)
            tally.record(latency: (now &- started) / 1000, second: second, operation: c.operation, status: status)
        }
        tally.answered += 1
        if status != 503 { tally.admittedAnswered += 1 }
        tally.timeline(now, start: plan.start, ok: status >= 200 && status < 300, transport: false)
        if plan.recordAcks && status >= 200 && status < 300 && c.operation.isWrite { ack(c, consumed) }
        if status >= 200 && status < 300 {
            c.followUp = scenario.followUp(after: c.operation, response: UnsafeBufferPointer(start: c.buffer, count: consumed))
        }
        c.consume(consumed)
        c.phase = .idle
        if close {
            tally.serverCloses += 1
            drop(c, retryAfter: 0, now: now)
            return
        }
        if !openLoop {
            if now < plan.end { send(c, intended: now) }
        } else if c.nextIntended <= now {
            let intended = c.nextIntended
            c.nextIntended += interval
            send(c, intended: intended)
        }
    }
}
