import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import VectorStreamCore

/// The writer as a service of the runner's group: a graceful shutdown ends sampling, and the last points are
/// written if PostgreSQL answers within 5 s.
public struct PostgresMetricsService: Service {
    let store: PostgresMetricsStore
    let observe: @Sendable () async -> MetricsObservation

    public init(store: PostgresMetricsStore, observe: @escaping @Sendable () async -> MetricsObservation) {
        self.store = store
        self.observe = observe
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await store.run(observe: observe) }
    }
}

/// Counts dead letters by reason as they are stored (`vectorstream_dead_letters_total{reason}`, and the metrics
/// history's `dead_letters` series).
public final class DeadLetterCounter: DeadLetterSink {
    public let inner: any DeadLetterSink
    private let counts = Mutex<[String: Int64]>([:])

    public init(_ inner: any DeadLetterSink) { self.inner = inner }

    public func store(_ rejected: [RejectedRecord]) async throws {
        try await inner.store(rejected)
        var byReason: [String: Int] = [:]
        for r in rejected { byReason[r.reason.code, default: 0] += 1 }
        counts.withLock { c in for (reason, n) in byReason { c[reason, default: 0] += Int64(n) } }
        for (reason, n) in byReason { Counter(label: "vectorstream_dead_letters_total", dimensions: [("reason", reason)]).increment(by: n) }
    }

    /// Cumulative dead letters by reason code.
    public func byReason() -> [String: Int64] { counts.withLock { $0 } }
}

/// Each health check's answer, with a bound on how long one may take (a hung dependency reads as down).
public func dependencyStates(_ checks: [any HealthCheckable], timeout: Duration = .seconds(2)) async -> [String: DependencyHealth] {
    await withTaskGroup(of: (String, DependencyHealth).self) { group in
        for check in checks {
            group.addTask {
                let health = (try? await withTimeout(timeout) { await check.checkHealth() }) ?? .down("health check timed out")
                return (check.dependencyName, health)
            }
        }
        var out: [String: DependencyHealth] = [:]
        for await (name, health) in group { out[name] = health }
        return out
    }
}

/// Checks every dependency each `interval` and keeps the answers, so that neither `/metrics`
/// (`vectorstream_dependency_up{dependency}`: 1 ok, 0.5 degraded, 0 down) nor the history's `dependency_up`
/// series ever waits on a check.
public final class DependencyMonitor: Service, Sendable {
    let checks: [any HealthCheckable]
    let interval: Duration
    private let states = Mutex<[String: DependencyHealth]>([:])

    public init(checks: [any HealthCheckable], interval: Duration = .seconds(5)) {
        self.checks = checks
        self.interval = interval
    }

    /// The last answers (empty before the first round).
    public func latest() -> [String: DependencyHealth] { states.withLock { $0 } }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let now = await dependencyStates(checks)
            states.withLock { $0 = now }
            for (name, health) in now {
                let up: Double = switch health { case .ok: 1; case .degraded: 0.5; case .down: 0 }
                Gauge(label: "vectorstream_dependency_up", dimensions: [("dependency", name)]).record(up)
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }
}
