import Synchronization

/// The pipeline the event loops serve with, swapped whole when the configuration is reloaded: a
/// request takes the current one once, when it is dispatched, and finishes with it (its answer is a
/// closure of that pipeline), so a reload never changes a request in flight.
final class PipelineSlot: Sendable {
    private let slot: Mutex<Pipeline>

    init(_ pipeline: Pipeline) { slot = Mutex(pipeline) }

    /// The pipeline new requests go through.
    var current: Pipeline { slot.withLock { $0 } }

    /// Puts `pipeline` in place for the requests that come next.
    func replace(_ pipeline: Pipeline) { slot.withLock { $0 = pipeline } }
}
