import Synchronization
import VectorStreamCore

/// Idempotency keys of one server, in memory and bounded: enough for retries of a client that talks to this
/// server (a Spark sink retrying a chunk). Several servers behind one address share keys through Redis instead.
/// A restart forgets the keys; the events themselves are still deduplicated by the dedup stage.
public final class InMemoryIdempotencyStore: IdempotencyStore, Sendable {
    private enum Entry {
        case inFlight(fingerprint: String, until: ContinuousClock.Instant)
        case done(fingerprint: String, answer: [UInt8], until: ContinuousClock.Instant)
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var order: [String] = []
        var head = 0
    }

    private let state = Mutex(State())
    /// Most keys kept; the oldest go first. Default 100,000 (answers are a few hundred bytes).
    public let capacity: Int

    public init(capacity: Int = 100_000) { self.capacity = capacity }

    public func begin(_ key: String, fingerprint: String, lease: Duration) async throws -> IdempotencyClaim {
        let now = ContinuousClock.now
        let capacity = capacity
        return state.withLock { s in
            switch s.entries[key] {
            case .inFlight(let f, let until) where until > now:
                return .inFlight(fingerprint: f)
            case .done(let f, let answer, let until) where until > now:
                return .completed(answer: answer, fingerprint: f)
            case .some:
                s.entries[key] = .inFlight(fingerprint: fingerprint, until: now.advanced(by: lease))
                return .won
            case nil:
                s.entries[key] = .inFlight(fingerprint: fingerprint, until: now.advanced(by: lease))
                s.order.append(key)
                // Forget the oldest keys over capacity; compact the order list now and then.
                while s.entries.count > capacity, s.head < s.order.count {
                    s.entries[s.order[s.head]] = nil
                    s.head += 1
                }
                if s.head > capacity / 2 {
                    s.order.removeFirst(s.head)
                    s.head = 0
                }
                return .won
            }
        }
    }

    public func complete(_ key: String, fingerprint: String, answer: [UInt8], ttl: Duration) async throws {
        let until = ContinuousClock.now.advanced(by: ttl)
        state.withLock { s in
            if s.entries[key] == nil { s.order.append(key) }
            s.entries[key] = .done(fingerprint: fingerprint, answer: answer, until: until)
        }
    }

    public func abandon(_ key: String, fingerprint: String) async throws {
        state.withLock { s in
            if case .inFlight(let f, _) = s.entries[key], f == fingerprint { s.entries[key] = nil }
        }
    }

    public func renew(_ key: String, fingerprint: String, lease: Duration) async throws -> LeaseRenewal {
        let now = ContinuousClock.now
        return state.withLock { s in
            guard case .inFlight(let f, let until) = s.entries[key], f == fingerprint, until > now else { return .lost }
            s.entries[key] = .inFlight(fingerprint: f, until: now.advanced(by: lease))
            return .renewed
        }
    }
}
