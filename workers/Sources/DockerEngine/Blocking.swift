import Foundation

/// Runs async engine calls from the workers' synchronous loops (they block on the gateway the same
/// way): the call runs as a task, the calling thread waits for its result. Never call it from inside
/// an async context.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = BlockingBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.set(.success(try await body())) } catch { box.set(.failure(error)) }
        done.signal()
    }
    done.wait()
    return try box.get()
}

private final class BlockingBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, any Error>?
    func set(_ value: Result<T, any Error>) { lock.withLock { result = value } }
    func get() throws -> T { try lock.withLock { result! }.get() }
}

/// An engine call running in the background while a synchronous loop does other work (the build
/// worker heartbeats its lease while the engine builds): poll `result`, or `cancel()` it.
public final class Pending<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, any Error>?
    private var task: Task<Void, Never>?

    public init(_ body: @escaping @Sendable () async throws -> T) {
        let task = Task { [self] in
            let outcome: Result<T, any Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            lock.withLock { value = outcome }
        }
        lock.withLock { self.task = task }
    }

    /// nil while the call runs.
    public var result: Result<T, any Error>? { lock.withLock { value } }

    /// Cancels the call (async-http-client closes the request's connection).
    public func cancel() { lock.withLock { task }?.cancel() }
}
