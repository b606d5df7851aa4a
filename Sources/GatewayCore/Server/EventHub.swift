import CEventLoop
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the event listener tells a loop, in the order it happened.
enum HubEvent: Sendable {
    /// LISTEN on the channel is in effect (for subscriptions of this generation and older).
    case ready(channel: String, generation: Int)
    /// A notification on the channel.
    case notify(channel: String, payload: String)
    /// The LISTEN connection broke: notifications may have been missed, the streams end.
    case lost
}

/// The gateway's server-sent events, shared by the loops: which channels are wanted by how many
/// subscribers on which loop, the cap on subscribers, and one inbox (with an eventfd to wake the
/// loop) per loop, filled by the one LISTEN connection (`EventListener`) in the order PostgreSQL
/// delivers: commit order. Subscriptions are rare next to requests, so one lock serves them.
final class EventHub: Sendable {
    /// The configuration of event streams.
    struct Settings: Sendable {
        /// `server-sse-max-subscribers`: streams open at once on this gateway.
        var maxSubscribers: Int
        /// `server-sse-max-buffer-bytes`: unsent bytes a stream may hold before it is dropped.
        var maxBufferBytes: Int
        /// `server-sse-keepalive-seconds`, in nanoseconds: the period of the keep-alive comment.
        var keepAliveNanoseconds: UInt64
    }

    /// One channel someone listens to.
    struct Channel {
        /// Subscribers per loop.
        var counts: [Int]
        /// Bumped for each LISTEN the channel needs (first subscriber, reconnect): a `ready` of an
        /// older LISTEN, since undone, must not start a newer subscriber's stream.
        var generation: Int
        /// LISTEN of this generation is in effect.
        var confirmed = false
    }

    private struct State {
        var channels: [String: Channel] = [:]
        var nextGeneration = 1
        var inboxes: [[HubEvent]]
        var subscribers = 0
    }

    private let state: Mutex<State>
    /// One eventfd per loop, in that loop's epoll set.
    let wakeFDs: [Int32]
    let settings: Settings
    /// Wakes the listener thread to LISTEN/UNLISTEN what changed.
    let listenerWake = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))

    init(loops: Int, settings: Settings) {
        state = Mutex(State(inboxes: Array(repeating: [], count: loops)))
        wakeFDs = (0..<loops).map { _ in eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK)) }
        self.settings = settings
    }

    /// Takes one of the `maxSubscribers` places; false when all are taken.
    func reserve() -> Bool {
        state.withLock { state in
            guard state.subscribers < settings.maxSubscribers else { return false }
            state.subscribers += 1
            return true
        }
    }

    /// Gives a place back.
    func release() { state.withLock { $0.subscribers -= 1 } }

    /// Loop `loop` has a subscriber for `channel`: the generation to wait for, and whether LISTEN is
    /// in effect already (then the stream may start at once).
    func subscribe(_ channel: String, loop: Int) -> (generation: Int, ready: Bool) {
        let (answer, isNew) = state.withLock { state -> ((Int, Bool), Bool) in
            if var entry = state.channels[channel] {
                entry.counts[loop] += 1
                state.channels[channel] = entry
                return ((entry.generation, entry.confirmed), false)
            }
            var entry = Channel(counts: Array(repeating: 0, count: wakeFDs.count), generation: state.nextGeneration)
            state.nextGeneration += 1
            entry.counts[loop] = 1
            state.channels[channel] = entry
            return ((entry.generation, false), true)
        }
        if isNew { signal(listenerWake) }
        return answer
    }

    /// A subscriber of loop `loop` left; the last one of a channel has it UNLISTENed.
    func unsubscribe(_ channel: String, loop: Int) {
        let gone = state.withLock { state -> Bool in
            guard var entry = state.channels[channel] else { return false }
            entry.counts[loop] -= 1
            if entry.counts.allSatisfy({ $0 <= 0 }) {
                state.channels[channel] = nil
                return true
            }
            state.channels[channel] = entry
            return false
        }
        if gone { signal(listenerWake) }
    }

    /// The channels wanted now, with their generations and whether LISTEN is confirmed.
    func wanted() -> [String: (generation: Int, confirmed: Bool)] {
        state.withLock { state in state.channels.mapValues { ($0.generation, $0.confirmed) } }
    }

    /// LISTEN `channel` is in effect: confirms it, if still wanted in that generation, and tells
    /// the loops that have subscribers of it.
    func confirm(_ channel: String, generation: Int) {
        post(to: channel) { entry in
            guard entry.generation == generation else { return nil }
            entry.confirmed = true
            return .ready(channel: channel, generation: generation)
        }
    }

    /// A notification for the loops that have subscribers of its channel.
    func deliver(channel: String, payload: String) {
        post(to: channel) { _ in .notify(channel: channel, payload: payload) }
    }

    /// The LISTEN connection broke: every channel needs a new LISTEN (a new generation) and every
    /// loop hears that streams may have missed notifications.
    func connectionLost() {
        state.withLock { state in
            for name in state.channels.keys {
                state.channels[name]!.generation = state.nextGeneration
                state.channels[name]!.confirmed = false
                state.nextGeneration += 1
            }
            for loop in state.inboxes.indices { state.inboxes[loop].append(.lost) }
        }
        for fd in wakeFDs { signal(fd) }
    }

    /// What happened for loop `loop` since it last looked.
    func take(_ loop: Int) -> [HubEvent] {
        state.withLock { state in
            defer { state.inboxes[loop].removeAll(keepingCapacity: true) }
            return state.inboxes[loop]
        }
    }

    private func post(to channel: String, _ event: (inout Channel) -> HubEvent?) {
        let loops = state.withLock { state -> [Int] in
            guard var entry = state.channels[channel], let message = event(&entry) else { return [] }
            state.channels[channel] = entry
            let loops = entry.counts.indices.filter { entry.counts[$0] > 0 }
            for loop in loops { state.inboxes[loop].append(message) }
            return loops
        }
        for loop in loops { signal(wakeFDs[loop]) }
    }

    private func signal(_ fd: Int32) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }
}
