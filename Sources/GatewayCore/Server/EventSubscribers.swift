#if canImport(Glibc)
import Glibc
#endif

/// The server-sent event streams of one loop. A subscriber first waits (its connection suspended)
/// until LISTEN on its channel is in effect, so that its 200 goes out only then and every
/// notification committed afterwards reaches it; then it gets each notification of the channel
/// as an event, in the order the hub hands them over, and a comment every keep-alive period (which
/// is also how a client that left is noticed: a suspended connection sees nothing until it writes).
/// A subscriber whose unsent bytes would pass `server-sse-max-buffer-bytes` is dropped; a stream
/// ends when its caller's token expires. Lives on the loop's thread.
final class EventSubscribers {
    final class Subscriber {
        let channel: String
        let generation: Int
        let headers: [(String, String)]
        /// While waiting for LISTEN: its request, and when it gives up.
        var request: RequestContext?
        let deadline: UInt64
        /// When the caller's token expires: the stream ends then.
        let expires: UInt64?
        var stream: ResponseStream?
        var ended = false

        init(channel: String, generation: Int, headers: [(String, String)], request: RequestContext, deadline: UInt64,
             expires: UInt64?) {
            self.channel = channel
            self.generation = generation
            self.headers = headers
            self.request = request
            self.deadline = deadline
            self.expires = expires
        }
    }

    /// How long a subscriber waits for its LISTEN (the listener reconnecting) before a 503.
    static let listenWait: UInt64 = 10_000_000_000

    let hub: EventHub
    private unowned let loop: EventLoop
    private var waiting: [ObjectIdentifier: Subscriber] = [:]
    private var streaming: [String: [ObjectIdentifier: Subscriber]] = [:]
    private var streams = 0
    private var nextKeepAlive = UInt64.max
    /// The earliest token expiry among the open streams.
    private var nextExpiry = UInt64.max

    init(hub: EventHub, loop: EventLoop) {
        self.hub = hub
        self.loop = loop
    }

    var wakeFD: Int32 { hub.wakeFDs[loop.index] }

    /// A caller allowed to listen to `channel`: the 200 with its stream now, or nil (answered by
    /// `loop.deliver` once LISTEN is in effect), or a 503 when the gateway's streams are all taken.
    func subscribe(_ channel: String, headers: [(String, String)], expires: UInt64?, request: RequestContext,
                   now: UInt64) -> HTTPResponse? {
        guard hub.reserve() else {
            return HTTPResponse(error: APIError.listen(.tooManySubscribers(limit: hub.settings.maxSubscribers)), authenticated: true)
                .adding(headers)
        }
        let (generation, ready) = hub.subscribe(channel, loop: loop.index)
        let subscriber = Subscriber(channel: channel, generation: generation, headers: headers, request: request,
                                    deadline: now + Self.listenWait, expires: expires)
        if ready {
            subscriber.request = nil
            return start(subscriber)
        }
        waiting[ObjectIdentifier(subscriber)] = subscriber
        return nil
    }

    /// What the listener reported, in order.
    func receive(_ events: [HubEvent]) {
        for event in events {
            switch event {
            case .ready(let channel, let generation):
                for subscriber in waiting.values where subscriber.channel == channel && subscriber.generation <= generation {
                    waiting[ObjectIdentifier(subscriber)] = nil
                    answer(subscriber, start(subscriber))
                }
            case .notify(let channel, let payload):
                guard let subscribers = streaming[channel] else { continue }
                let event = EventStreamText.event(payload)
                for subscriber in subscribers.values { send(event, to: subscriber) }
            case .lost:
                for subscribers in streaming.values {
                    for subscriber in subscribers.values where !subscriber.ended { drop(subscriber, finish: true) }
                }
            }
        }
    }

    /// Keep-alive comments when due, streams whose token expired ended, 503 for subscribers that
    /// waited too long; the next deadline.
    func tick(now: UInt64) -> UInt64 {
        if now >= nextExpiry {
            nextExpiry = UInt64.max
            for subscribers in streaming.values {
                for subscriber in subscribers.values where !subscriber.ended {
                    guard let expires = subscriber.expires else { continue }
                    if expires <= now {
                        subscriber.ended = true
                        subscriber.stream?.finish()
                    } else {
                        nextExpiry = min(nextExpiry, expires)
                    }
                }
            }
        }
        if now >= nextKeepAlive {
            let comment = EventStreamText.comment("keep-alive")
            for subscribers in streaming.values {
                for subscriber in subscribers.values { send(comment, to: subscriber) }
            }
            nextKeepAlive = streams > 0 ? now + hub.settings.keepAliveNanoseconds : UInt64.max
        }
        var next = min(nextKeepAlive, nextExpiry)
        for subscriber in waiting.values {
            if now >= subscriber.deadline {
                waiting[ObjectIdentifier(subscriber)] = nil
                answer(subscriber, HTTPResponse(error: APIError.listen(.listenerUnavailable), authenticated: true).adding(subscriber.headers))
                leave(subscriber.channel)
            } else {
                next = min(next, subscriber.deadline)
            }
        }
        return next
    }

    /// Shutdown: subscribers still waiting get 503 (the open streams end with the loop's streams).
    func shutdown() {
        for subscriber in waiting.values {
            answer(subscriber, HTTPResponse(error: APIError.shuttingDown, authenticated: true).adding(subscriber.headers))
            leave(subscriber.channel)
        }
        waiting.removeAll()
    }

    /// The 200 whose stream the subscriber's events go to, from now on.
    private func start(_ subscriber: Subscriber) -> HTTPResponse {
        let stream = ResponseStream(highWater: hub.settings.maxBufferBytes)
        subscriber.stream = stream
        let key = ObjectIdentifier(subscriber)
        streaming[subscriber.channel, default: [:]][key] = subscriber
        streams += 1
        GatewayMetrics.shared.eventStreamsChanged(by: 1)
        if nextKeepAlive == UInt64.max { nextKeepAlive = monotonicNanoseconds() + hub.settings.keepAliveNanoseconds }
        if let expires = subscriber.expires { nextExpiry = min(nextExpiry, expires) }
        stream.onClosed = { [unowned self] in
            streaming[subscriber.channel]?[key] = nil
            if streaming[subscriber.channel]?.isEmpty == true { streaming[subscriber.channel] = nil }
            streams -= 1
            GatewayMetrics.shared.eventStreamsChanged(by: -1)
            leave(subscriber.channel)
        }
        // Sent with the headers: the client knows LISTEN is in effect.
        stream.write(EventStreamText.comment("listening"))
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                                                   ("X-Accel-Buffering", "no")] + subscriber.headers,
                            stream: stream)
    }

    /// Writes to a subscriber, or drops it when the bytes would pass its bound.
    private func send(_ bytes: [UInt8], to subscriber: Subscriber) {
        guard let stream = subscriber.stream, !subscriber.ended else { return }
        if stream.buffered + bytes.count > hub.settings.maxBufferBytes {
            drop(subscriber, finish: false)
        } else {
            stream.write(bytes)
        }
    }

    /// Ends a stream that cannot keep every event: a slow client's is cut (no terminating chunk:
    /// it sees an incomplete body), one whose LISTEN connection broke is finished.
    private func drop(_ subscriber: Subscriber, finish: Bool) {
        subscriber.ended = true
        GatewayMetrics.shared.eventStreamDropped()
        if finish { subscriber.stream?.finish() } else { subscriber.stream?.abort() }
    }

    /// Answers a waiting subscriber's request (once).
    private func answer(_ subscriber: Subscriber, _ response: @autoclosure () -> HTTPResponse) {
        guard let request = subscriber.request else { return }
        subscriber.request = nil
        loop.deliver(response(), to: request)
    }

    /// A subscriber is gone (its stream closed, or it never got one).
    private func leave(_ channel: String) {
        hub.unsubscribe(channel, loop: loop.index)
        hub.release()
    }
}
