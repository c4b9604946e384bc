import Foundation
import Hummingbird
import Logging
import Synchronization
import VectorStreamCore

/// A dependency the API could not use: it failed, did not answer in time, or its breaker is open.
/// Answered as `503` with `Retry-After` and the dependency's name.
public struct DependencyUnavailable: Error, CustomStringConvertible, Sendable {
    /// The API's name of the dependency: `vector_store`, `analytics_store`, `query_cache`, `live_state`.
    public let dependency: String
    /// When a retry may succeed: until the breaker's next probe when it is open, else a second.
    public let retryAfter: Duration
    /// What the client is told (no internals: those are logged and shown by /health).
    public let detail: String

    public var description: String { "\(dependency) unavailable: \(detail)" }

    /// Whole seconds, at least 1 (the `Retry-After` header has no fractions, and 0 invites a busy loop).
    public var retryAfterSeconds: Int {
        let c = retryAfter.components
        return max(1, Int(c.seconds) + (c.attoseconds > 0 ? 1 : 0))
    }
}

/// The outcome of a call that ran past its time.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let timeout: Duration
    var description: String { "no answer within \(formatDuration(timeout))" }
}

/// Runs `operation` with a deadline, and returns (or throws) when the first of the two comes: the caller is never
/// held longer than `timeout`, even by an operation that ignores cancellation (it is cancelled and left to end
/// on its own).
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.attach(continuation)
            race.add(Task {
                do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
            })
            race.add(Task {
                try? await Task.sleep(for: timeout)
                race.finish(.failure(DeadlineExceeded(timeout: timeout)))
            })
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// One continuation, resumed once by whichever of its racers finishes first; the others are cancelled.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var finished = false
        var tasks: [Task<Void, Never>] = []
    }
    private let state = Mutex(State())

    func attach(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { s in
            if let r = s.result { s.result = nil; return r }
            s.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func add(_ task: Task<Void, Never>) {
        let cancelNow = state.withLock { s in
            if s.finished { return true }
            s.tasks.append(task)
            return false
        }
        if cancelNow { task.cancel() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, tasks): (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) = state.withLock { s in
            guard !s.finished else { return (nil, []) }
            s.finished = true
            let c = s.continuation
            s.continuation = nil
            if c == nil { s.result = result }
            defer { s.tasks = [] }
            return (c, s.tasks)
        }
        continuation?.resume(with: result)
        for task in tasks { task.cancel() }
    }
}

/// A circuit breaker and a per-call deadline around one dependency of the API.
///
/// A call that fails or runs past `timeout` counts as a failure; after `failureThreshold` in a row the breaker
/// opens and calls fail at once (``DependencyUnavailable``, answered 503 + `Retry-After`) until the cool-down is
/// over and a probe call succeeds.
public final class DependencyGuard: Sendable {
    public let name: String
    public let breaker: CircuitBreaker
    public let timeout: Duration
    let logger: Logger

    public init(name: String, timeout: Duration, breaker: CircuitBreaker.Configuration,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
                logger: Logger = Logger(label: "vectorstream.http")) {
        self.name = name
        self.timeout = timeout
        self.breaker = CircuitBreaker(name: name, configuration: breaker, now: now)
        self.logger = logger
    }

    public func call<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        if case .rejected(let after) = breaker.acquire() {
            throw DependencyUnavailable(dependency: name, retryAfter: after,
                                        detail: "\(name) is failing; calls are refused until the next probe")
        }
        let start = ContinuousClock.now
        do {
            let value = try await withDeadline(timeout, operation)
            breaker.recordSuccess(latency: ContinuousClock.now - start)
            return value
        } catch let error as DeadlineExceeded {
            breaker.recordFailure(error.description, latency: ContinuousClock.now - start)
            logger.warning("dependency timed out", metadata: ["dependency": "\(name)", "timeout": "\(formatDuration(timeout))"])
            throw unavailable("\(name) did not answer within \(formatDuration(timeout))")
        } catch is CancellationError where Task.isCancelled {
            // The request went away: nothing was learnt about the dependency.
            breaker.recordAbandoned()
            throw CancellationError()
        } catch {
            breaker.recordFailure(String(describing: error), latency: ContinuousClock.now - start)
            logger.warning("dependency failed", metadata: ["dependency": "\(name)", "error": "\(error)"])
            throw unavailable("\(name) failed; see the server's log and /health")
        }
    }

    private func unavailable(_ detail: String) -> DependencyUnavailable {
        let after = breaker.snapshot().retryAfter ?? .seconds(1)
        return DependencyUnavailable(dependency: name, retryAfter: after, detail: detail)
    }
}

// MARK: Guarded dependencies

/// The vector store behind a guard; every call bounded and counted.
struct GuardedVectorStore: VectorStore {
    let inner: any VectorStore
    let guarded: DependencyGuard

    func upsert(_ vectors: [ProductVector]) async throws {
        try await guarded.call { try await inner.upsert(vectors) }
    }

    func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit] {
        try await guarded.call { try await inner.search(query, k: k, filter: filter, modelVersion: modelVersion) }
    }

    func vector(forProduct id: String) async throws -> ProductVector? {
        try await guarded.call { try await inner.vector(forProduct: id) }
    }

    func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)] {
        try await guarded.call { try await inner.contentHashes(forProducts: ids) }
    }

    func count() async throws -> Int {
        try await guarded.call { try await inner.count() }
    }
}

struct GuardedAnalyticsStore: AnalyticsStore {
    let inner: any AnalyticsStore
    let guarded: DependencyGuard

    func topProducts(eventType: EventType, since: EpochMillis, limit: Int) async throws -> [ProductCount] {
        try await guarded.call { try await inner.topProducts(eventType: eventType, since: since, limit: limit) }
    }

    func funnel(since: EpochMillis) async throws -> Funnel {
        try await guarded.call { try await inner.funnel(since: since) }
    }

    func categories(since: EpochMillis) async throws -> [CategoryStats] {
        try await guarded.call { try await inner.categories(since: since) }
    }

    func recentInteractions(userID: String, limit: Int) async throws -> [UserInteraction] {
        try await guarded.call { try await inner.recentInteractions(userID: userID, limit: limit) }
    }

    func eventCount() async throws -> Int64 {
        try await guarded.call { try await inner.eventCount() }
    }
}

struct GuardedQueryCache: QueryCache {
    let inner: any QueryCache
    let guarded: DependencyGuard

    func cached(_ key: String) async throws -> [UInt8]? {
        try await guarded.call { try await inner.cached(key) }
    }

    func store(_ key: String, value: [UInt8], ttl: Duration) async throws {
        try await guarded.call { try await inner.store(key, value: value, ttl: ttl) }
    }

    func invalidateAll() async throws {
        try await guarded.call { try await inner.invalidateAll() }
    }
}

struct GuardedLiveState: LiveStateStore {
    let inner: any LiveStateStore
    let guarded: DependencyGuard

    func publish(worker: String, stats: PipelineStats) async throws {
        try await guarded.call { try await inner.publish(worker: worker, stats: stats) }
    }

    func workers() async throws -> [String: PipelineStats] {
        try await guarded.call { try await inner.workers() }
    }
}
