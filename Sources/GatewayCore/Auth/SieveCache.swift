import Synchronization

/// A bounded cache with SIEVE eviction (PostgREST 14's JWT cache, cachemon.github.io/SIEVE-website)
/// and a deadline per entry. Entries sit in insertion order; a hit only marks its entry visited, and
/// when the cache is full a hand walks from the oldest entry towards the newest, clearing marks, and
/// evicts the first unmarked (or expired) one. Thread-safe: the event loops share one cache, each
/// lookup or insert a few dictionary and array operations under one lock. Time is passed in (Unix
/// seconds), so tests drive the clock.
final class SieveCache<Value: Sendable>: Sendable {
    private struct Node {
        var key: String
        var value: Value?
        /// The first second at which the entry is gone.
        var deadline: Int64
        var visited = false
        var newer = -1, older = -1
    }

    private struct Storage {
        var index: [String: Int] = [:]
        var nodes: [Node] = []
        var free: [Int] = []
        var newest = -1, oldest = -1, hand = -1
    }

    let capacity: Int
    private let storage = Mutex(Storage())
    private let evicted: @Sendable () -> Void

    /// `evicted` is called for each entry pushed out to make room or found expired.
    init(capacity: Int, evicted: @escaping @Sendable () -> Void = {}) {
        self.capacity = max(0, capacity)
        self.evicted = evicted
    }

    var count: Int { storage.withLock { $0.index.count } }

    /// The live value under `key`, marked as visited; an expired one is dropped.
    func value(for key: String, now: Int64) -> Value? {
        let (value, expired) = storage.withLock { storage -> (Value?, Bool) in
            guard let slot = storage.index[key] else { return (nil, false) }
            guard storage.nodes[slot].deadline > now else {
                Self.remove(slot, from: &storage)
                return (nil, true)
            }
            storage.nodes[slot].visited = true
            return (storage.nodes[slot].value, false)
        }
        if expired { evicted() }
        return value
    }

    /// Stores `value` until `deadline` (exclusive); an entry already past it is not stored.
    func insert(_ value: Value, for key: String, deadline: Int64, now: Int64) {
        guard capacity > 0, deadline > now else { return }
        let evictions = storage.withLock { storage -> Int in
            if let slot = storage.index[key] {
                storage.nodes[slot].value = value
                storage.nodes[slot].deadline = deadline
                return 0
            }
            var evictions = 0
            while storage.index.count >= capacity {
                Self.evictOne(from: &storage, now: now)
                evictions += 1
            }
            let node = Node(key: key, value: value, deadline: deadline, older: storage.newest)
            let slot: Int
            if let reused = storage.free.popLast() { slot = reused; storage.nodes[slot] = node }
            else { slot = storage.nodes.count; storage.nodes.append(node) }
            if storage.newest >= 0 { storage.nodes[storage.newest].newer = slot }
            storage.newest = slot
            if storage.oldest < 0 { storage.oldest = slot }
            storage.index[key] = slot
            return evictions
        }
        for _ in 0..<evictions { evicted() }
    }

    /// SIEVE: from the hand (else the oldest entry) towards the newest, wrapping around, clear the
    /// visited marks until an unvisited or expired entry, evict it and leave the hand after it.
    private static func evictOne(from storage: inout Storage, now: Int64) {
        var slot = storage.hand >= 0 ? storage.hand : storage.oldest
        while storage.nodes[slot].visited && storage.nodes[slot].deadline > now {
            storage.nodes[slot].visited = false
            slot = storage.nodes[slot].newer >= 0 ? storage.nodes[slot].newer : storage.oldest
        }
        storage.hand = storage.nodes[slot].newer
        remove(slot, from: &storage)
    }

    private static func remove(_ slot: Int, from storage: inout Storage) {
        let node = storage.nodes[slot]
        if node.newer >= 0 { storage.nodes[node.newer].older = node.older } else { storage.newest = node.older }
        if node.older >= 0 { storage.nodes[node.older].newer = node.newer } else { storage.oldest = node.newer }
        if storage.hand == slot { storage.hand = node.newer }
        storage.index[node.key] = nil
        storage.nodes[slot] = Node(key: "", value: nil, deadline: 0)
        storage.free.append(slot)
    }
}
