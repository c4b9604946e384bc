import Foundation

/// Monotonic nanoseconds for latency measurement (never goes backwards, unlike wall time).
@inlinable
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Wall-clock milliseconds since the epoch.
@inlinable
public func wallClockMillis() -> EpochMillis {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return EpochMillis(ts.tv_sec) * 1000 + EpochMillis(ts.tv_nsec / 1_000_000)
}
