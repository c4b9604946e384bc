import Logging
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the caller hands the channel: one or more encoded commands and where their replies go.
struct RedisRequest: Sendable {
    var payload: ByteBuffer
    var replyCount: Int
    var promise: EventLoopPromise<[RESPValue]>
    var timeout: Duration
    /// Command names only, for the timeout error.
    var label: String
}

/// Matches replies to requests in order (RESP is strictly ordered per connection) and enforces timeouts.
///
/// Many requests may be in flight at once: that is what lets concurrent callers share one connection.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: EventLoopPromise<[RESPValue]>
        var count: Int
        var timeout: Scheduled<Void>?
    }

    private var pending = CircularBuffer<Pending>()
    /// Replies so far of the oldest request; kept outside `pending` so appending never copies the array.
    private var headReplies: [RESPValue] = []
    private let endpoint: String
    private var failure: RedisClientError?

    init(endpoint: String) {
        self.endpoint = endpoint
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            request.promise.fail(failure)
            promise?.fail(failure)
            return
        }
        var entry = Pending(promise: request.promise, count: request.replyCount, timeout: nil)
        let promiseID = ObjectIdentifier(request.promise.futureResult)
        let endpoint = self.endpoint
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let label = request.label
        let after = request.timeout
        entry.timeout = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(after.nanoseconds)) { [weak self] in
            // The reply order is lost for good once one reply is missing: close, failing everything in flight.
            guard let self, self.pending.contains(where: { ObjectIdentifier($0.promise.futureResult) == promiseID }) else { return }
            self.failAll(with: .timeout(endpoint: endpoint, command: label, after: after), context: loopBoundContext.value)
        }
        pending.append(entry)
        context.write(wrapOutboundOut(request.payload), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        if case .push = value { return }  // Not a reply; we never subscribe, but tracking could send some.
        guard !pending.isEmpty else {
            failAll(with: .protocolError("reply without a request"), context: context)
            return
        }
        if headReplies.isEmpty { headReplies.reserveCapacity(pending[pending.startIndex].count) }
        headReplies.append(value)
        if headReplies.count == pending[pending.startIndex].count {
            let done = pending.removeFirst()
            let replies = headReplies
            headReplies = []
            done.timeout?.cancel()
            done.promise.succeed(replies)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let reason = (error as? RedisClientError) ?? .unavailable(endpoint: endpoint, reason: "\(error)")
        failAll(with: reason, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(with: .connectionClosed(endpoint: endpoint), context: nil)
        context.fireChannelInactive()
    }

    /// Closes first, then fails the callers: a caller that retries at once must find the channel inactive
    /// (and so reconnect), not this dying connection.
    private func failAll(with error: RedisClientError, context: ChannelHandlerContext?) {
        if failure == nil { failure = error }
        var failed: [Pending] = []
        while let entry = pending.popFirst() { failed.append(entry) }
        headReplies = []
        context?.close(promise: nil)
        for entry in failed {
            entry.timeout?.cancel()
            entry.promise.fail(error)
        }
    }
}

/// One TCP (or TLS) connection, handshaken (protocol, auth, database) and ready for commands.
final class RedisConnection: Sendable {
    let channel: any Channel
    let endpoint: String
    /// The protocol the server agreed to.
    let protocolVersion: RedisClient.Configuration.ProtocolVersion

    private init(channel: any Channel, endpoint: String, protocolVersion: RedisClient.Configuration.ProtocolVersion) {
        self.channel = channel
        self.endpoint = endpoint
        self.protocolVersion = protocolVersion
    }

    var isActive: Bool { channel.isActive }

    /// Writes every command in one go and waits for all their replies (pipelining).
    func send(_ commands: [RedisCommand], timeout: Duration) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        let payload = RESPEncoder.encode(commands, allocator: channel.allocator)
        let promise = channel.eventLoop.makePromise(of: [RESPValue].self)
        var label = commands[0].name
        if commands.count > 1 { label += " (+\(commands.count - 1) pipelined)" }
        let request = RedisRequest(payload: payload, replyCount: commands.count, promise: promise,
                                   timeout: timeout, label: label)
        let endpoint = self.endpoint
        // A closed channel may drop the write before the handler sees it: fail the promise then, too.
        channel.writeAndFlush(request).whenFailure { _ in
            promise.fail(RedisClientError.connectionClosed(endpoint: endpoint))
        }
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }

    static func connect(configuration: RedisClient.Configuration, group: any EventLoopGroup,
                        logger: Logger) async throws -> RedisConnection {
        let endpoint = configuration.endpoint
        let sslContext: NIOSSLContext?
        do {
            sslContext = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        } catch {
            throw RedisClientError.unavailable(endpoint: endpoint, reason: "TLS setup failed: \(error)")
        }
        let host = configuration.host
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(configuration.connectTimeout.nanoseconds))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        let serverName = host.first?.isNumber == true || host.contains(":") ? nil : host
                        try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    try sync.addHandler(ByteToMessageHandler(RESPFrameDecoder()))
                    try sync.addHandler(RedisCommandHandler(endpoint: endpoint))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw RedisClientError.unavailable(endpoint: endpoint, reason: Self.describe(error))
        }
        do {
            let version = try await handshake(channel: channel, configuration: configuration)
            logger.debug("redis connection ready", metadata: ["endpoint": "\(endpoint)", "protocol": "\(version.rawValue)"])
            return RedisConnection(channel: channel, endpoint: endpoint, protocolVersion: version)
        } catch {
            try? await channel.close()
            if let error = error as? RedisClientError { throw error }
            throw RedisClientError.unavailable(endpoint: endpoint, reason: Self.describe(error))
        }
    }

    /// HELLO (RESP3, with AUTH) or AUTH (RESP2), then SELECT and CLIENT SETNAME, pipelined in one round trip.
    private static func handshake(channel: any Channel, configuration c: RedisClient.Configuration)
        async throws -> RedisClient.Configuration.ProtocolVersion
    {
        let endpoint = c.endpoint
        let probe = RedisConnection(channel: channel, endpoint: endpoint, protocolVersion: .resp2)
        let timeout = c.connectTimeout
        var auth: [RedisArgument] = []
        if let password = c.password {
            auth = [.string(c.username ?? "default"), .string(password)]
        }
        var tail: [RedisCommand] = []
        if c.database != 0 { tail.append(RedisCommand("SELECT", .integer(Int64(c.database)))) }
        if let name = c.clientName { tail.append(RedisCommand("CLIENT", "SETNAME", .string(name))) }

        if c.protocolVersion == .resp3 {
            var hello: [RedisArgument] = [3]
            if !auth.isEmpty { hello += ["AUTH"] + auth }
            let replies = try await probe.send([RedisCommand("HELLO", hello)] + tail, timeout: timeout)
            if case .error(let error) = replies[0] {
                // Servers before 6.0 do not know HELLO: fall through to RESP2. Anything else (auth) is final.
                guard error.message.lowercased().contains("unknown command") else {
                    throw RedisClientError.handshakeFailed(endpoint: endpoint, reason: error.message)
                }
            } else {
                try check(replies.dropFirst(), endpoint: endpoint)
                return .resp3
            }
        }
        var commands: [RedisCommand] = []
        if !auth.isEmpty {
            commands.append(c.username == nil ? RedisCommand("AUTH", auth[1]) : RedisCommand("AUTH", auth))
        }
        commands += tail
        if commands.isEmpty { commands.append(RedisCommand("PING")) }
        try check(try await probe.send(commands, timeout: timeout)[...], endpoint: endpoint)
        return .resp2
    }

    private static func check(_ replies: ArraySlice<RESPValue>, endpoint: String) throws {
        for reply in replies {
            if case .error(let error) = reply {
                throw RedisClientError.handshakeFailed(endpoint: endpoint, reason: error.message)
            }
        }
    }

    /// `connection refused (errno 111)` rather than a type dump.
    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError {
            return "\(String(cString: strerror(error.errnoCode)).lowercased()) (errno \(error.errnoCode))"
        }
        if let error = error as? ChannelError {
            switch error {
            case .connectTimeout(let t): return "connect timed out after \(t)"
            default: return "\(error)"
            }
        }
        if let error = error as? NIOConnectionError {
            let inner = error.connectionErrors.first.map { describe($0.error) }
            return inner ?? (error.dnsAAAAError ?? error.dnsAError).map { "DNS lookup failed: \($0)" } ?? "\(error)"
        }
        return "\(error)"
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
