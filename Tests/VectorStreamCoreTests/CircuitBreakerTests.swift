import Synchronization
import Testing
import VectorStreamCore

/// A clock a test moves by hand.
final class ManualClock: Sendable {
    private let base = ContinuousClock.now
    private let offset = Mutex<Duration>(.zero)
    func advance(_ d: Duration) { offset.withLock { $0 += d } }
    var now: ContinuousClock.Instant { base + offset.withLock { $0 } }
}

@Suite("Circuit breaker")
struct CircuitBreakerTests {
    func breaker(threshold: Int = 3, cooldown: Duration = .seconds(10)) -> (CircuitBreaker, ManualClock) {
        let clock = ManualClock()
        let breaker = CircuitBreaker(name: "store", configuration: .init(failureThreshold: threshold, cooldown: cooldown),
                                     now: { clock.now }, wallMillis: { 1_000 })
        return (breaker, clock)
    }

    @Test func opensAfterConsecutiveFailuresOnly() {
        let (b, _) = breaker(threshold: 3)
        #expect(b.state == .closed)
        b.recordFailure("a")
        b.recordFailure("b")
        b.recordSuccess()  // a success in between starts the count again
        b.recordFailure("c")
        b.recordFailure("d")
        #expect(b.state == .closed)
        #expect(b.acquire() == .allowed)
        b.recordFailure("e")
        #expect(b.state == .open)
        let s = b.snapshot()
        #expect(s.consecutiveFailures == 3)
        #expect(s.lastError == "e")
    }

    @Test func openRefusesWithTheTimeUntilTheProbe() {
        let (b, clock) = breaker(threshold: 1, cooldown: .seconds(10))
        b.recordFailure("down")
        #expect(b.acquire() == .rejected(retryAfter: .seconds(10)))
        clock.advance(.seconds(4))
        #expect(b.acquire() == .rejected(retryAfter: .seconds(6)))
        #expect(b.snapshot().retryAfter == .seconds(6))
        #expect(b.state == .open)
    }

    @Test func halfOpenLetsOneProbeThroughAndClosesOnSuccess() {
        let (b, clock) = breaker(threshold: 2, cooldown: .seconds(5))
        b.recordFailure("x")
        b.recordFailure("x")
        clock.advance(.seconds(5))
        #expect(b.state == .halfOpen)  // the next call will be the probe
        #expect(b.acquire() == .probe)
        // While the probe is out, everyone else is still refused.
        #expect(!b.acquire().isAllowed)
        #expect(!b.acquire().isAllowed)
        b.recordSuccess(latency: .milliseconds(12))
        #expect(b.state == .closed)
        #expect(b.acquire() == .allowed)
        let s = b.snapshot()
        #expect(s.consecutiveFailures == 0)
        #expect(s.lastLatency == .milliseconds(12))
        #expect(s.lastError == "x")  // kept for /health after recovery
        #expect(s.since == clock.now)
    }

    @Test func failedProbeOpensForAnotherCooldown() {
        let (b, clock) = breaker(threshold: 5, cooldown: .seconds(5))
        for _ in 0..<5 { b.recordFailure("x") }
        clock.advance(.seconds(6))
        #expect(b.acquire() == .probe)
        clock.advance(.seconds(1))
        b.recordFailure("still down")  // one failure is enough when probing
        #expect(b.state == .open)
        #expect(b.acquire() == .rejected(retryAfter: .seconds(5)))
        clock.advance(.seconds(5))
        #expect(b.acquire() == .probe)
    }

    @Test func abandonedProbeFreesTheSlot() {
        let (b, clock) = breaker(threshold: 1, cooldown: .seconds(5))
        b.recordFailure("x")
        clock.advance(.seconds(5))
        #expect(b.acquire() == .probe)
        b.recordAbandoned()
        #expect(b.acquire() == .probe)
    }

    @Test func probeThatNeverReportsIsGivenUpAfterACooldown() {
        let (b, clock) = breaker(threshold: 1, cooldown: .seconds(5))
        b.recordFailure("x")
        clock.advance(.seconds(5))
        #expect(b.acquire() == .probe)
        clock.advance(.seconds(2))
        #expect(b.acquire() == .rejected(retryAfter: .seconds(3)))
        clock.advance(.seconds(3))
        #expect(b.acquire() == .probe)
    }

    @Test func lateFailuresOfCallsStartedBeforeOpeningDoNotExtendTheCooldown() {
        let (b, clock) = breaker(threshold: 1, cooldown: .seconds(5))
        b.recordFailure("x")
        clock.advance(.seconds(4))
        b.recordFailure("late")
        clock.advance(.seconds(1))
        #expect(b.acquire() == .probe)
    }

    @Test func concurrentUseKeepsCountsExact() async {
        let b = CircuitBreaker(name: "c", configuration: .init(failureThreshold: 10_000, cooldown: .seconds(1)))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<1000 { _ = b.acquire(); b.recordFailure("x") } }
            }
        }
        #expect(b.snapshot().consecutiveFailures == 8000)
        #expect(b.state == .closed)
        b.recordFailure("x")
        #expect(b.snapshot().consecutiveFailures == 8001)
    }

    @Test func thresholdIsAtLeastOne() {
        let b = CircuitBreaker(name: "c", configuration: .init(failureThreshold: 0, cooldown: .seconds(1)))
        #expect(b.configuration.failureThreshold == 1)
        b.recordFailure("x")
        #expect(b.state == .open)
    }
}
