import CRdKafka
import Dispatch
import Logging
import Synchronization
import VectorStreamCore

/// One message to produce.
public struct KafkaOutgoingMessage: Sendable, Hashable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]
    /// CreateTime in epoch milliseconds; nil lets librdkafka stamp the moment of producing.
    public var timestamp: EpochMillis?

    public init(topic: String, key: [UInt8]? = nil, value: [UInt8], headers: [KafkaHeader] = [],
                timestamp: EpochMillis? = nil) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }
}

public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]

    public init(_ name: String, _ value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.init(name, Array(value.utf8))
    }
}

/// Counts the delivery reports of one `send`; each in-flight message holds a reference.
final class DeliveryTracker: Sendable {
    struct State {
        var remaining: Int
        var firstError: KafkaError?
    }

    let state: Mutex<State>

    init(count: Int) { state = Mutex(State(remaining: count)) }

    func report(_ error: KafkaError?) {
        state.withLock { s in
            s.remaining -= 1
            if s.firstError == nil, let error { s.firstError = error }
        }
    }
}

/// An idempotent producer (enable.idempotence, acks=all) over librdkafka.
///
/// All produce and poll calls run on one serial dispatch queue, outside Swift's cooperative pool. A full
/// local queue is handled by serving delivery reports until there is room again (backpressure), never by
/// dropping messages.
///
/// The librdkafka client is replaced when it cannot deliver any more: after a send saw no delivery report within
/// the delivery timeout, or after a fatal error (an idempotent producer whose broker forgot its producer id, as a
/// restarted broker does, never recovers by itself). The old client's queue is purged (its messages are reported
/// failed, so the send that owned them is retried by its caller; dead letters and notices are at-least-once).
public final class KafkaProducer: Sendable {
    private let current: Mutex<RdKafkaHandle>
    private let makeHandle: @Sendable () throws -> RdKafkaHandle
    private let context: ClientContext
    private let queue = DispatchQueue(label: "vectorstream.kafka.producer")
    private let logger: Logger
    private let deliveryTimeout: Duration
    private let replacements = Mutex(0)

    /// - Parameter lingerMillis: how long librdkafka waits to fill a batch; small for notifications,
    ///   larger for bulk production.
    public init(configuration: KafkaConfiguration, lingerMillis: Int = 5, extraProperties: [(String, String)] = [],
                logger: Logger = Logger(label: "vectorstream.kafka.producer")) throws {
        self.logger = logger
        self.deliveryTimeout = configuration.deliveryTimeout
        let properties = configuration.producerProperties(lingerMillis: lingerMillis, extra: extraProperties)
        let context = ClientContext(logger: logger)
        self.context = context
        makeHandle = {
            try RdKafkaHandle(role: .producer, properties: properties, context: context) { conf in
                rd_kafka_conf_set_dr_msg_cb(conf, kafkaDeliveryCallback)
            }
        }
        current = Mutex(try makeHandle())
    }

    deinit {
        // Give in-flight messages a last chance; rd_kafka_destroy would otherwise drop them.
        _ = rd_kafka_flush(handle.pointer, 5000)
    }

    var handle: RdKafkaHandle { current.withLock { $0 } }

    /// How many times the client was replaced after it stopped delivering (tests, logs).
    public var clientReplacements: Int { replacements.withLock { $0 } }

    /// Replaces the client (on the producer queue): purges what the old one still holds, serves the purge's
    /// delivery reports (releasing their trackers), then drops it. Keeps the old client when a new one cannot
    /// be created (the next failure tries again).
    private func replaceClient(reason: String) {
        let old = handle
        let fresh: RdKafkaHandle
        do { fresh = try makeHandle() } catch {
            logger.error("Kafka producer: could not create a new client after '\(reason)': \(error)")
            return
        }
        _ = rd_kafka_purge(old.pointer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
        rd_kafka_poll(old.pointer, 0)
        _ = rd_kafka_flush(old.pointer, 100)
        current.withLock { $0 = fresh }
        let count = replacements.withLock { n -> Int in n += 1; return n }
        logger.warning("Kafka producer: new client (\(count) so far) after: \(reason)")
    }

    /// librdkafka's fatal error, if the client is in that state (idempotence violated; only a new client helps).
    private func fatalError(of handle: RdKafkaHandle) -> String? {
        var buffer = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(handle.pointer, &buffer, buffer.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return RdKafkaHandle.string(buffer)
    }

    /// Produces the messages and returns once the brokers acknowledged every one (acks=all), so the
    /// caller can treat them as durable. Throws the first delivery error.
    public func send(_ messages: [KafkaOutgoingMessage]) async throws {
        guard !messages.isEmpty else { return }
        let timeout = deliveryTimeout
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            queue.async { [self] in
                continuation.resume(with: Result { try sendBlocking(messages, timeout: timeout) })
            }
        }
    }

    private func sendBlocking(_ messages: [KafkaOutgoingMessage], timeout: Duration) throws {
        let tracker = DeliveryTracker(count: messages.count)
        for message in messages {
            let reference = Unmanaged.passRetained(tracker)
            if let error = produceBlocking(message, opaque: reference.toOpaque()) {
                reference.release()
                tracker.report(error)
            }
        }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while tracker.state.withLock({ $0.remaining }) > 0 {
            guard ContinuousClock.now < deadline else {
                let error = KafkaError(.delivery, "no delivery report within \(timeout) for \(tracker.state.withLock { $0.remaining }) message(s)")
                replaceClient(reason: error.description)
                throw error
            }
            rd_kafka_poll(handle.pointer, 50)
        }
        if let error = tracker.state.withLock({ $0.firstError }) {
            if let fatal = fatalError(of: handle) { replaceClient(reason: "fatal error: \(fatal)") }
            throw error
        }
    }

    /// Enqueues without waiting for delivery; only a failure to enqueue is thrown. Deliveries are counted
    /// in ``deliveryCounts`` once served by ``flush(timeout:)`` or later sends.
    public func enqueue(_ messages: [KafkaOutgoingMessage]) async throws {
        guard !messages.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            queue.async { [self] in
                continuation.resume(with: Result {
                    for message in messages {
                        if let error = produceBlocking(message, opaque: nil) { throw error }
                    }
                    rd_kafka_poll(handle.pointer, 0)
                })
            }
        }
    }

    /// Delivered and failed counts of messages enqueued with ``enqueue(_:)``.
    public var deliveryCounts: (delivered: Int64, failed: Int64) {
        handle.context.deliveries.withLock { ($0.delivered, $0.failed) }
    }

    /// Waits until everything enqueued is delivered (or failed); throws on timeout or the first failure.
    public func flush(timeout: Duration = .seconds(60)) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            queue.async { [self] in
                let err = rd_kafka_flush(handle.pointer, Int32(clamping: timeout.milliseconds))
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    continuation.resume(throwing: KafkaError(.delivery, "flush: \(rd_kafka_outq_len(handle.pointer)) message(s) undelivered", error: err))
                } else if let error = handle.context.deliveries.withLock({ $0.firstError }) {
                    continuation.resume(throwing: error)
                } else {
                    continuation.resume()
                }
            }
        }
    }

    /// Produces one message, serving delivery reports while the local queue is full. Returns an error
    /// when the message could not be enqueued.
    private func produceBlocking(_ message: KafkaOutgoingMessage, opaque: UnsafeMutableRawPointer?) -> KafkaError? {
        var headers: OpaquePointer?
        while true {
            if !message.headers.isEmpty {
                headers = rd_kafka_headers_new(message.headers.count)
                for header in message.headers {
                    header.value.withUnsafeBytes { bytes in
                        _ = rd_kafka_header_add(headers, header.name, -1, bytes.baseAddress, bytes.count)
                    }
                }
            }
            let err = message.value.withUnsafeBytes { value in
                withOptionalBytes(message.key) { key in
                    vs_rd_kafka_produce(handle.pointer, message.topic, value.baseAddress, value.count,
                                        key?.baseAddress, key?.count ?? 0, message.timestamp ?? 0, headers, opaque)
                }
            }
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return nil }
            if let headers { rd_kafka_headers_destroy(headers) }
            headers = nil
            if err == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                rd_kafka_poll(handle.pointer, 10)
                continue
            }
            return KafkaError(.delivery, "produce to \(message.topic)", error: err)
        }
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}

/// Served inside `rd_kafka_poll`/`rd_kafka_flush` on the producer queue.
private let kafkaDeliveryCallback: @convention(c) (
    OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?
) -> Void = { rk, message, _ in
    guard let message else { return }
    let err = message.pointee.err
    let error: KafkaError? = err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil
        : KafkaError(.delivery, "delivery to \(String(cString: rd_kafka_topic_name(message.pointee.rkt)))", error: err)
    if let opaque = message.pointee._private {
        let tracker = Unmanaged<DeliveryTracker>.fromOpaque(opaque)
        tracker.takeUnretainedValue().report(error)
        tracker.release()
    } else if let context = RdKafkaHandle.context(of: rk) {
        context.deliveries.withLock { d in
            if let error {
                d.failed += 1
                if d.firstError == nil { d.firstError = error }
            } else {
                d.delivered += 1
            }
        }
    }
}
