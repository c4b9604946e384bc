import Foundation
import GRDB
import Synchronization
import VectorStreamCore

/// Dedup for a single worker: claims in memory, bounded.
///
/// A forgotten key is harmless: the embedded event store is idempotent by event id and the vector index by text
/// hash, so the bound trades a little repeated work for flat memory on endless streams.
public final class InMemoryDedupStore: DedupStore, Sendable {
    private struct Space {
        var pending = Set<String>()
        var done = Set<String>()
        var order: [String] = []
        var head = 0
    }

    // One lock per namespace, each mutated in place (no copy of the sets per call).
    private let events = Mutex(Space())
    private let texts = Mutex(Space())
    /// Most confirmed keys kept per namespace. Default one million.
    public let capacity: Int

    public init(capacity: Int = 1_000_000) { self.capacity = capacity }

    private func withSpace<T>(_ namespace: DedupNamespace, _ body: (inout Space) -> T) -> T {
        switch namespace {
        case .event: events.withLock { body(&$0) }
        case .productText: texts.withLock { body(&$0) }
        }
    }

    /// A pending key is `heldElsewhere`: in one process only a concurrent batch can hold it, and that batch
    /// either confirms or releases it.
    public func claim(_ keys: [String], in namespace: DedupNamespace) async throws -> [ClaimOutcome] {
        withSpace(namespace) { space in
            keys.map { key in
                if space.done.contains(key) { return .done }
                return space.pending.insert(key).inserted ? .won : .heldElsewhere
            }
        }
    }

    public func confirm(_ keys: [String], in namespace: DedupNamespace) async throws {
        let capacity = capacity
        withSpace(namespace) { space in
            for key in keys {
                space.pending.remove(key)
                if space.done.insert(key).inserted { space.order.append(key) }
            }
            // Forget the oldest when over capacity; compact the order list now and then.
            while space.done.count > capacity, space.head < space.order.count {
                space.done.remove(space.order[space.head])
                space.head += 1
            }
            if space.head > capacity / 2 {
                space.order.removeFirst(space.head)
                space.head = 0
            }
        }
    }

    public func release(_ keys: [String], in namespace: DedupNamespace) async throws {
        withSpace(namespace) { space in
            for key in keys { space.pending.remove(key) }
        }
    }
}

/// Recently computed vectors by text hash, bounded; evicts the oldest first.
public final class InMemoryEmbeddingCache: EmbeddingCache, Sendable {
    private struct State {
        var vectors: [String: [Float]] = [:]
        var order: [String] = []
        var head = 0
    }

    private let state = Mutex(State())
    public let capacity: Int

    public init(capacity: Int = 20_000) { self.capacity = capacity }

    public func vectors(for textHashes: [String]) async throws -> [[Float]?] {
        state.withLock { s in textHashes.map { s.vectors[$0] } }
    }

    public func store(_ vectors: [String: [Float]]) async throws {
        state.withLock { s in
            for (hash, vector) in vectors where s.vectors.updateValue(vector, forKey: hash) == nil {
                s.order.append(hash)
            }
            while s.vectors.count > capacity, s.head < s.order.count {
                s.vectors[s.order[s.head]] = nil
                s.head += 1
            }
            if s.head > capacity {
                s.order.removeFirst(s.head)
                s.head = 0
            }
        }
    }
}

/// Query answers with a TTL, dropped whenever new data arrives.
public final class InMemoryQueryCache: QueryCache, Sendable {
    private let entries = Mutex<[String: (value: [UInt8], expires: ContinuousClock.Instant)]>([:])
    public let capacity: Int

    public init(capacity: Int = 1_000) { self.capacity = capacity }

    public func cached(_ key: String) async throws -> [UInt8]? {
        entries.withLock { e in
            guard let entry = e[key] else { return nil }
            if entry.expires < .now { e[key] = nil; return nil }
            return entry.value
        }
    }

    public func store(_ key: String, value: [UInt8], ttl: Duration) async throws {
        entries.withLock { e in
            if e.count >= capacity { e.removeAll(keepingCapacity: true) }
            e[key] = (value, ContinuousClock.now.advanced(by: ttl))
        }
    }

    public func invalidateAll() async throws {
        entries.withLock { $0.removeAll(keepingCapacity: true) }
    }
}

/// Live state in memory, with a time series of the pipeline's figures in SQLite (one row per publish).
public final class SQLiteLiveState: LiveStateStore, Sendable {
    private let database: EmbeddedDatabase
    private let latest = Mutex<[String: PipelineStats]>([:])
    private let lastWrite = Mutex<EpochMillis>(0)
    /// Shortest gap between two rows of the time series.
    public let historyInterval: EpochMillis

    public init(database: EmbeddedDatabase, historyIntervalMillis: EpochMillis = 1_000) {
        self.database = database
        self.historyInterval = historyIntervalMillis
    }

    public func publish(worker: String, stats: PipelineStats) async throws {
        latest.withLock { $0[worker] = stats }
        let now = wallClockMillis()
        let due = lastWrite.withLock { last -> Bool in
            guard now - last >= historyInterval else { return false }
            last = now
            return true
        }
        guard due else { return }
        let json = String(decoding: try JSONEncoder().encode(stats), as: UTF8.self)
        try await database.pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO metrics_history(ts, worker, stats) VALUES (?, ?, ?)",
                           arguments: [now, worker, json])
        }
    }

    public func workers() async throws -> [String: PipelineStats] { latest.withLock { $0 } }

    /// The time series of one worker's figures since `since`.
    public func history(worker: String, since: EpochMillis) async throws -> [(EpochMillis, PipelineStats)] {
        let rows = try database.pool.read { (db: Database) -> [Row] in
            try Row.fetchAll(db, sql: "SELECT ts, stats FROM metrics_history WHERE worker = ? AND ts >= ? ORDER BY ts",
                             arguments: [worker, since])
        }
        let decoder = JSONDecoder()
        return rows.compactMap { row in
            let text: String = row[1]
            guard let stats = try? decoder.decode(PipelineStats.self, from: Data(text.utf8)) else { return nil }
            return (row[0], stats)
        }
    }
}
