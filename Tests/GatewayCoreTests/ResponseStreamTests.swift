import Testing
@testable import GatewayCore

/// The body produced over time: bytes taken in order in pieces the socket accepts, waits when empty,
/// wakes the connection on writes and ends, signals draining once after passing the high-water
/// mark, tells the producer once when the connection is gone.
@Suite struct ResponseStreamTests {
    /// Takes up to `max` bytes as the server would.
    private func take(_ stream: ResponseStream, _ max: Int) -> (ResponseStream.Taken, [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: max)
        let taken = buffer.withUnsafeMutableBytes { stream.take(into: $0) }
        if case .bytes(let count) = taken { return (taken, Array(buffer[0..<count])) }
        return (taken, [])
    }

    @Test func bytesComeOutInOrderInPiecesThenWaitThenEnd() {
        let stream = ResponseStream()
        #expect(take(stream, 8).0 == .wait)
        stream.write(Array("hello ".utf8))
        Array("world".utf8).withUnsafeBytes { stream.write($0) }
        #expect(stream.buffered == 11)
        #expect(take(stream, 4).1 == Array("hell".utf8))
        #expect(take(stream, 100).1 == Array("o world".utf8))
        #expect(stream.buffered == 0)
        #expect(take(stream, 8).0 == .wait)
        stream.write([1, 2])
        stream.finish()
        stream.write([3])                          // after finish: dropped
        #expect(take(stream, 8).1 == [1, 2])
        #expect(take(stream, 8).0 == .end)
    }

    @Test func abortDropsWhatIsBufferedAndClosesWithoutTheEnd() {
        let stream = ResponseStream()
        stream.write([1, 2, 3])
        stream.abort()
        #expect(stream.buffered == 0)
        #expect(take(stream, 8).0 == .abort)
    }

    @Test func writesAndEndsWakeTheConnection() {
        let stream = ResponseStream()
        var wakes = 0
        stream.wake = { wakes += 1 }
        stream.write([])                           // nothing to send: no wake
        stream.write([1])
        stream.finish()
        #expect(wakes == 2)
    }

    @Test func drainedIsSignalledOnceBelowHalfTheHighWaterAfterExceedingIt() {
        let stream = ResponseStream(highWater: 10)
        var drained = 0
        stream.onDrained = { drained += 1 }
        stream.write([UInt8](repeating: 7, count: 8))
        _ = take(stream, 8)
        #expect(drained == 0)                      // never above the mark
        stream.write([UInt8](repeating: 7, count: 12))
        _ = take(stream, 4)                        // 8 left: not below 5 yet
        #expect(drained == 0)
        _ = take(stream, 4)                        // 4 left
        #expect(drained == 1)
        _ = take(stream, 4)
        #expect(drained == 1)
    }

    @Test func closedIsSignalledOnceAndLaterWritesAreDropped() {
        let stream = ResponseStream()
        var closes = 0
        stream.onClosed = { closes += 1 }
        stream.write([1, 2])
        stream.connectionClosed()
        stream.connectionClosed()
        #expect(closes == 1)
        #expect(stream.closed)
        stream.write([3])
        #expect(stream.buffered == 0)
    }

    @Test func shutdownFinishesUnlessTheProducerSaysOtherwise() {
        let finishing = ResponseStream()
        finishing.shutdown()
        #expect(take(finishing, 8).0 == .end)
        let aborting = ResponseStream()
        aborting.onShutdown = { [unowned aborting] in aborting.abort() }
        aborting.shutdown()
        #expect(take(aborting, 8).0 == .abort)
    }
}
