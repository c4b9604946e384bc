import Synchronization

/// A circuit breaker for one dependency: stop calling what is failing, and try again after a pause.
///
/// - **closed**: calls go through. `failureThreshold` consecutive failures open it.
/// - **open**: calls are refused at once (`acquire()` says how long until the next probe) for `cooldown`.
/// - **half-open**: after the cool-down, exactly one call (the probe) goes through; the others are still refused.
///   The probe's success closes the breaker; its failure opens it for another cool-down. A probe that never
///   reports (its caller was cancelled) stops blocking others after one more cool-down.
///
/// Pure bookkeeping: the caller runs the call, times it out and reports the outcome (`recordSuccess` /
/// `recordFailure`). Thread-safe; time comes from an injectable clock so tests need not sleep.
public final class CircuitBreaker: Sendable {
    public enum State: String, Sendable, Hashable {
        case closed
        case open
        case halfOpen = "half_open"
    }

    public struct Configuration: Sendable, Hashable {
        /// Consecutive failures that open the breaker. At least 1.
        public var failureThreshold: Int
        /// How long an open breaker refuses calls before it lets one probe through.
        public var cooldown: Duration

        public init(failureThreshold: Int = 5, cooldown: Duration = .seconds(10)) {
            self.failureThreshold = max(1, failureThreshold)
            self.cooldown = max(cooldown, .zero)
        }
    }

    /// What `acquire()` allows.
    public enum Permission: Sendable, Hashable {
        /// Call; report the outcome.
        case allowed
        /// Call: this is the half-open probe; its outcome decides the state.
        case probe
        /// Do not call; the next probe may go in `retryAfter`.
        case rejected(retryAfter: Duration)

        public var isAllowed: Bool {
            if case .rejected = self { return false }
            return true
        }
    }

    /// The breaker as `/health` shows it.
    public struct Snapshot: Sendable, Hashable {
        public var state: State
        public var consecutiveFailures: Int
        /// The last failure's description, kept after recovery so that it can still be read.
        public var lastError: String?
        /// When the state last changed, on the breaker's clock.
        public var since: ContinuousClock.Instant
        /// When the state last changed, in wall-clock milliseconds since 1970.
        public var sinceWallMillis: Int64
        /// How long the last reported call took.
        public var lastLatency: Duration?
        /// Until the next probe may go, when open (zero once it may).
        public var retryAfter: Duration?
    }

    public let name: String
    public let configuration: Configuration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let wallMillis: @Sendable () -> Int64

    private struct Inner {
        var state: State = .closed
        var failures = 0
        var lastError: String?
        var lastLatency: Duration?
        var since: ContinuousClock.Instant
        var sinceWall: Int64
        var openUntil: ContinuousClock.Instant?
        /// When the outstanding half-open probe started; nil when none is out.
        var probeStarted: ContinuousClock.Instant?
    }
    private let inner: Mutex<Inner>

    /// - Parameters:
    ///   - now: the clock decisions use (tests pass a settable one).
    ///   - wallMillis: wall-clock time for `Snapshot.sinceWallMillis` only.
    public init(name: String, configuration: Configuration = Configuration(),
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
                wallMillis: @escaping @Sendable () -> Int64 = { wallClockMillis() }) {
        self.name = name
        self.configuration = configuration
        self.now = now
        self.wallMillis = wallMillis
        inner = Mutex(Inner(since: now(), sinceWall: wallMillis()))
    }

    /// Asks to make one call. `.allowed` and `.probe` must be followed by `recordSuccess`, `recordFailure` or
    /// `recordAbandoned`.
    public func acquire() -> Permission {
        let t = now()
        return inner.withLock { s in
            switch s.state {
            case .closed:
                return .allowed
            case .open:
                let until = s.openUntil ?? t
                guard t >= until else { return .rejected(retryAfter: until - t) }
                transition(&s, to: .halfOpen, at: t)
                s.probeStarted = t
                return .probe
            case .halfOpen:
                if let started = s.probeStarted, t - started < configuration.cooldown {
                    // One probe at a time; the others may try when it would have been given up on.
                    return .rejected(retryAfter: started + configuration.cooldown - t)
                }
                s.probeStarted = t
                return .probe
            }
        }
    }

    /// The call succeeded: the breaker closes and the failure count starts again.
    public func recordSuccess(latency: Duration? = nil) {
        let t = now()
        inner.withLock { s in
            s.failures = 0
            if let latency { s.lastLatency = latency }
            s.probeStarted = nil
            s.openUntil = nil
            if s.state != .closed { transition(&s, to: .closed, at: t) }
        }
    }

    /// The call failed or timed out. Opens the breaker at the threshold, or at once when it was a probe.
    public func recordFailure(_ error: String, latency: Duration? = nil) {
        let t = now()
        inner.withLock { s in
            s.failures += 1
            s.lastError = error
            if let latency { s.lastLatency = latency }
            switch s.state {
            case .closed:
                if s.failures >= configuration.failureThreshold { open(&s, at: t) }
            case .halfOpen:
                s.probeStarted = nil
                open(&s, at: t)
            case .open:
                // A call allowed before the breaker opened ended late: it extends nothing.
                break
            }
        }
    }

    /// The call ended without telling anything about the dependency (its caller went away): a probe slot is
    /// given back, nothing is counted.
    public func recordAbandoned() {
        inner.withLock { s in
            if s.state == .halfOpen { s.probeStarted = nil }
        }
    }

    /// The state now; an open breaker whose cool-down is over reads as half-open (its next call is the probe).
    public var state: State { snapshot().state }

    public func snapshot() -> Snapshot {
        let t = now()
        return inner.withLock { s in
            var state = s.state
            var retryAfter: Duration?
            if state == .open, let until = s.openUntil {
                if t >= until { state = .halfOpen; retryAfter = .zero } else { retryAfter = until - t }
            }
            return Snapshot(state: state, consecutiveFailures: s.failures, lastError: s.lastError, since: s.since,
                            sinceWallMillis: s.sinceWall, lastLatency: s.lastLatency, retryAfter: retryAfter)
        }
    }

    private func open(_ s: inout Inner, at t: ContinuousClock.Instant) {
        transition(&s, to: .open, at: t)
        s.openUntil = t + configuration.cooldown
    }

    private func transition(_ s: inout Inner, to state: State, at t: ContinuousClock.Instant) {
        guard s.state != state else { return }
        s.state = state
        s.since = t
        s.sinceWall = wallMillis()
    }
}
