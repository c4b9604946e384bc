import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A Redis client over a small pool of pipelined connections.
///
/// Connections open lazily, one per slot, and are shared: concurrent calls on the same slot are pipelined,
/// their replies matched in order. When the server goes away, the slot reconnects on the next call with
/// exponential backoff; calls made inside the backoff window fail at once with the last reason instead of
/// piling up, which is what a caller that retries whole batches (the pipeline engine) wants.
///
/// Blocking commands (`BLPOP`, `SUBSCRIBE`) would stall the other callers of a shared connection and are
/// not supported; `MULTI`/`EXEC` work inside one `pipeline` call, which is written contiguously.
public final class RedisClient: Sendable {
    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let slots: [Slot]
    /// Shared by all slots: an outage is the server's, not one connection's.
    private let backoff = Backoff()
    private let nextSlot = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    public init(configuration: Configuration,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "vectorstream.redis")) {
        self.configuration = configuration
        self.group = eventLoopGroup
        self.logger = logger
        self.slots = (0..<max(configuration.poolSize, 1)).map { _ in Slot() }
    }

    /// Sends one command; an error reply is thrown as `RedisError`.
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        let reply = try await pipeline([command])[0]
        if case .error(let error) = reply { throw error }
        return reply
    }

    @discardableResult
    public func send(_ name: String, _ arguments: RedisArgument...) async throws -> RESPValue {
        try await send(RedisCommand(name, arguments))
    }

    /// Sends all commands in one write and returns their replies in order, in one round trip.
    ///
    /// Error replies come back as `.error` values in place, since the other commands did run.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        let connection = try await connection()
        return try await connection.send(commands, timeout: configuration.commandTimeout)
    }

    /// Runs a Lua script with `EVAL`. The server caches compiled scripts by their text, so sending the
    /// source each time costs only its bytes, and nothing breaks when a restarted server forgot it.
    public func eval(_ script: String, keys: [RedisArgument], arguments: [RedisArgument]) async throws -> RESPValue {
        try await send(Self.evalCommand(script, keys: keys, arguments: arguments))
    }

    public static func evalCommand(_ script: String, keys: [RedisArgument], arguments: [RedisArgument]) -> RedisCommand {
        RedisCommand("EVAL", [.string(script), .integer(Int64(keys.count))] + keys + arguments)
    }

    /// `PING` within `timeout`: nil when the server answered, else why not (for health checks).
    public func ping(timeout: Duration = .seconds(1)) async -> String? {
        do {
            let connection = try await connection()
            let reply = try await connection.send([RedisCommand("PING")], timeout: timeout)[0]
            if case .error(let error) = reply { return error.message }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The protocol the current connections speak (after `HELLO` negotiation).
    public func negotiatedProtocol() async throws -> Configuration.ProtocolVersion {
        try await connection().protocolVersion
    }

    /// Closes every connection; later calls fail with `clientClosed`.
    public func close() async {
        closed.store(true, ordering: .releasing)
        for slot in slots {
            if let connection = slot.takeConnection() { await connection.close() }
        }
    }

    // MARK: Connection slots

    private func connection() async throws -> RedisConnection {
        guard !closed.load(ordering: .acquiring) else { throw RedisClientError.clientClosed }
        let index = nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count
        let slot = slots[index]
        let configuration = self.configuration
        let group = self.group
        let logger = self.logger
        let backoff = self.backoff
        if let (reason, until) = backoff.waiting(now: .now), !slot.hasUsableConnection {
            let wait = ContinuousClock.now.duration(to: until)
            throw RedisClientError.unavailable(endpoint: configuration.endpoint,
                                               reason: "\(reason) (next attempt in \(wait.formatted))")
        }
        let acquired = slot.acquire { generation in
            Task<RedisConnection, any Error> {
                do {
                    let connection = try await RedisConnection.connect(configuration: configuration, group: group, logger: logger)
                    backoff.succeeded()
                    if slot.connected(connection, generation: generation) {
                        logger.info("redis reconnected", metadata: ["endpoint": "\(configuration.endpoint)"])
                    }
                    return connection
                } catch {
                    slot.failed(generation: generation)
                    let delay = backoff.failed(reason: Self.reason(error), initial: configuration.reconnectInitialBackoff,
                                               max: configuration.reconnectMaxBackoff)
                    logger.warning("redis connect failed", metadata: [
                        "endpoint": "\(configuration.endpoint)", "error": "\(error)", "retry_in": "\(delay.formatted)",
                    ])
                    throw error
                }
            }
        }
        switch acquired {
        case .ready(let connection):
            return connection
        case .await(let task):
            return try await task.value
        }
    }

    private static func reason(_ error: any Error) -> String {
        if case .unavailable(_, let reason)? = error as? RedisClientError { return reason }
        return "\(error)"
    }
}

/// Connect attempts after failures wait `initial`, doubling up to `max`; one success resets it.
final class Backoff: Sendable {
    private struct State {
        var failures = 0
        var retryAt: ContinuousClock.Instant?
        var lastFailure = ""
    }

    private let state = Mutex(State())

    /// The last failure and when the next attempt is allowed, while inside the backoff window.
    func waiting(now: ContinuousClock.Instant) -> (String, ContinuousClock.Instant)? {
        state.withLock { s in
            guard let retryAt = s.retryAt, now < retryAt else { return nil }
            return (s.lastFailure, retryAt)
        }
    }

    func failed(reason: String, initial: Duration, max maximum: Duration) -> Duration {
        state.withLock { s in
            s.failures += 1
            var delay = initial
            for _ in 1..<min(s.failures, 30) { delay = min(delay * 2, maximum) }
            s.retryAt = .now + delay
            s.lastFailure = reason
            return delay
        }
    }

    func succeeded() {
        state.withLock { $0 = State() }
    }
}

/// One pooled connection's life: absent, connecting, or connected.
final class Slot: Sendable {
    enum Acquired {
        case ready(RedisConnection)
        case await(Task<RedisConnection, any Error>)
    }

    private struct State {
        var connection: RedisConnection?
        var connecting: Task<RedisConnection, any Error>?
        /// Bumped on each connect attempt so a late result of an older attempt is ignored.
        var generation = 0
        var everConnected = false
        var closed = false
    }

    private let state = Mutex(State())

    var hasUsableConnection: Bool {
        state.withLock { $0.connection?.isActive == true }
    }

    /// The connection, the attempt under way, or a new attempt made by `connect` (inside the lock, so that
    /// concurrent callers share one attempt).
    func acquire(connect: (Int) -> Task<RedisConnection, any Error>) -> Acquired {
        state.withLock { s in
            if let connection = s.connection {
                if connection.isActive { return .ready(connection) }
                s.connection = nil  // The server closed it (restart, timeout): reconnect below.
            }
            if let task = s.connecting { return .await(task) }
            s.generation += 1
            let task = connect(s.generation)
            s.connecting = task
            return .await(task)
        }
    }

    /// Returns whether this is a reconnect (for the log).
    func connected(_ connection: RedisConnection, generation: Int) -> Bool {
        state.withLock { s in
            guard s.generation == generation, !s.closed else {
                Task { await connection.close() }
                return false
            }
            let again = s.everConnected
            s.connection = connection
            s.connecting = nil
            s.everConnected = true
            return again
        }
    }

    func failed(generation: Int) {
        state.withLock { s in
            if s.generation == generation { s.connecting = nil }
        }
    }

    func takeConnection() -> RedisConnection? {
        state.withLock { s in
            s.closed = true
            defer { s.connection = nil }
            return s.connection
        }
    }
}

extension Duration {
    /// `250ms`, `1.5s`: short, for messages.
    var formatted: String {
        let ms = Double(nanoseconds) / 1e6
        return ms < 1000 ? "\(Int(ms.rounded()))ms" : "\((ms / 100).rounded() / 10)s"
    }
}
