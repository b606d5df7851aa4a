#if canImport(Glibc)
import Glibc
#endif

/// The pool's shared FIFO of waiting jobs, guarded by a pthread mutex with a monotonic condition
/// variable that idle connection threads sleep on. Idle threads take a fair share of the backlog
/// (pending / idle threads, capped), so bursts spread over several backends (commits group only
/// across backends) while a lone busy thread still batches many requests into one round trip.
final class PGJobQueue: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [PGJob] = []
    private var head = 0
    private var waiting = 0
    private var closed = false
    private let maxBatch: Int

    init(maxBatch: Int) {
        self.maxBatch = maxBatch
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    var count: Int { locked { jobs.count - head } }

    /// Appends a job and wakes one idle thread; false once the queue is closed.
    func push(_ job: PGJob) -> Bool {
        pthread_mutex_lock(mutex)
        guard !closed else { pthread_mutex_unlock(mutex); return false }
        jobs.append(job)
        let wake = waiting > 0
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
        return true
    }

    /// Waits up to `timeout` for work and takes this thread's share of it; empty on timeout or close.
    func take(timeout: UInt64) -> [PGJob] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if jobs.count == head && !closed {
            let until = monotonicNanoseconds() + timeout
            var deadline = timespec(tv_sec: Int(until / 1_000_000_000), tv_nsec: Int(until % 1_000_000_000))
            waiting += 1
            while jobs.count == head && !closed {
                if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
            }
            waiting -= 1
        }
        let pending = jobs.count - head
        guard pending > 0 else { return [] }
        let share = min(maxBatch, max(1, (pending + waiting) / (waiting + 1)))
        let taken = Array(jobs[head..<(head + share)])
        head += share
        compact()
        if pending > share && waiting > 0 { pthread_cond_signal(condition) }
        return taken
    }

    /// Removes the jobs at the head whose deadline has passed (the queue is in deadline order).
    func expired(now: UInt64) -> [PGJob] {
        locked {
            var end = head
            while end < jobs.count && jobs[end].deadline <= now { end += 1 }
            let taken = Array(jobs[head..<end])
            head = end
            compact()
            return taken
        }
    }

    /// Removes and returns every waiting job (the database went away); `close` also refuses new ones.
    func drain(close: Bool = false) -> [PGJob] {
        pthread_mutex_lock(mutex)
        let taken = Array(jobs[head...])
        jobs.removeAll(keepingCapacity: true)
        head = 0
        if close { closed = true }
        pthread_mutex_unlock(mutex)
        if close { pthread_cond_broadcast(condition) }
        return taken
    }

    private func compact() {
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }
}
