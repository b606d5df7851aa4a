import Testing
@testable import GatewayCore

/// The hub between the LISTEN connection and the loops, without a database: which loops hear of a
/// channel, the generations that keep a stale LISTEN confirmation from starting a newer subscriber's
/// stream, a broken connection, and the cap on subscribers.
@Suite struct EventHubTests {
    private func hub(loops: Int = 2, max: Int = 10) -> EventHub {
        EventHub(loops: loops, settings: .init(maxSubscribers: max, maxBufferBytes: 1 << 20, keepAliveNanoseconds: 1))
    }

    /// A loop's events as text, to compare.
    private func taken(_ hub: EventHub, _ loop: Int) -> [String] {
        hub.take(loop).map { event in
            switch event {
            case .ready(let channel, let generation): return "ready \(channel) \(generation)"
            case .notify(let channel, let payload): return "notify \(channel) \(payload)"
            case .lost: return "lost"
            }
        }
    }

    @Test func aChannelIsReadyOnceConfirmedAndNotificationsGoToTheLoopsListeningToIt() {
        let hub = hub()
        let first = hub.subscribe("a", loop: 0)
        #expect(!first.ready)
        #expect(hub.subscribe("a", loop: 0).generation == first.generation)   // still waiting for the same LISTEN
        #expect(hub.wanted()["a"]?.confirmed == false)
        hub.confirm("a", generation: first.generation)
        #expect(taken(hub, 0) == ["ready a \(first.generation)"])
        #expect(taken(hub, 1) == [])
        #expect(hub.subscribe("a", loop: 1).ready)                               // in effect: start at once
        hub.deliver(channel: "a", payload: "x")
        hub.deliver(channel: "b", payload: "nobody listens")
        #expect(taken(hub, 0) == ["notify a x"])
        #expect(taken(hub, 1) == ["notify a x"])
    }

    @Test func aConfirmationOfAnUndoneListenStartsNoNewerSubscriber() {
        let hub = hub()
        let old = hub.subscribe("a", loop: 0)
        hub.unsubscribe("a", loop: 0)                      // gone before its LISTEN: UNLISTEN wanted
        #expect(hub.wanted().isEmpty)
        let new = hub.subscribe("a", loop: 1)
        #expect(new.generation > old.generation)
        hub.confirm("a", generation: old.generation)       // the first LISTEN, since undone
        #expect(taken(hub, 1) == [])
        #expect(hub.wanted()["a"]?.confirmed == false)
        hub.confirm("a", generation: new.generation)
        #expect(taken(hub, 1) == ["ready a \(new.generation)"])
    }

    @Test func aLostConnectionTellsEveryLoopAndNeedsANewListen() {
        let hub = hub()
        let first = hub.subscribe("a", loop: 0)
        hub.confirm("a", generation: first.generation)
        _ = taken(hub, 0)
        hub.connectionLost()
        #expect(taken(hub, 0) == ["lost"])
        #expect(taken(hub, 1) == ["lost"])
        let wanted = hub.wanted()["a"]
        #expect(wanted?.confirmed == false)
        #expect((wanted?.generation ?? 0) > first.generation)
        #expect(!hub.subscribe("a", loop: 1).ready)
    }

    @Test func subscribersAreCapped() {
        let hub = hub(max: 2)
        #expect(hub.reserve())
        #expect(hub.reserve())
        #expect(!hub.reserve())
        hub.release()
        #expect(hub.reserve())
    }
}
