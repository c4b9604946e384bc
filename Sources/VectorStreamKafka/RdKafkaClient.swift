import CRdKafka
import Logging
import Synchronization

/// What librdkafka's callbacks reach through the handle's opaque pointer.
///
/// Callbacks run on librdkafka's threads or inside poll calls; everything here is thread-safe.
final class ClientContext: Sendable {
    let logger: Logger
    /// Set for consumers: the rebalance callback updates it.
    let assignment: AssignmentState?
    /// Fire-and-forget deliveries (no per-message tracker) are counted here.
    let deliveries = Mutex(DeliveryCounters())

    init(logger: Logger, assignment: AssignmentState? = nil) {
        self.logger = logger
        self.assignment = assignment
    }
}

struct DeliveryCounters: Sendable {
    var delivered: Int64 = 0
    var failed: Int64 = 0
    var firstError: KafkaError?
}

/// An `rd_kafka_t` and the context its callbacks use, destroyed together.
///
/// `@unchecked Sendable`: librdkafka handles are thread-safe by design; the pointer itself never changes.
final class RdKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let context: ClientContext
    private let contextReference: Unmanaged<ClientContext>

    enum Role {
        case producer
        case consumer
    }

    /// Creates the handle; `configure` may install callbacks on the configuration before it is consumed.
    init(role: Role, properties: [(String, String)], context: ClientContext,
         configure: (OpaquePointer) -> Void = { _ in }) throws {
        try KafkaLibrary.checkVersion()
        guard let conf = rd_kafka_conf_new() else { throw KafkaError(.client, "rd_kafka_conf_new failed") }
        var conf_owned = true
        defer { if conf_owned { rd_kafka_conf_destroy(conf) } }
        var errorBuffer = [CChar](repeating: 0, count: 512)
        for (name, value) in properties {
            let result = rd_kafka_conf_set(conf, name, value, &errorBuffer, errorBuffer.count)
            guard result == RD_KAFKA_CONF_OK else {
                // The property's name only: its value may be a password, so it is cut out of librdkafka's text.
                let reason = Self.redact(Self.string(errorBuffer), values: [value])
                throw KafkaError(.configuration, "property '\(name)' refused: \(reason)")
            }
        }
        let reference = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, reference.toOpaque())
        rd_kafka_conf_set_log_cb(conf, kafkaLogCallback)
        configure(conf)
        guard let rk = rd_kafka_new(role == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, conf,
                                    &errorBuffer, errorBuffer.count) else {
            reference.release()
            let reason = Self.redact(Self.string(errorBuffer), values: properties.map(\.1))
            throw KafkaError(.client, "could not create the client: \(reason)")
        }
        conf_owned = false  // rd_kafka_new took it
        self.pointer = rk
        self.context = context
        self.contextReference = reference
    }

    deinit {
        rd_kafka_destroy(pointer)
        contextReference.release()
    }

    static func string(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Replaces every configured value found in `text` with `****` (librdkafka quotes values in errors).
    static func redact(_ text: String, values: [String]) -> String {
        var result = text
        for value in values where value.count >= 3 {
            while let range = result.firstRange(of: value) { result.replaceSubrange(range, with: "****") }
        }
        return result
    }

    static func context(of rk: OpaquePointer?) -> ClientContext? {
        guard let rk, let opaque = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// Routes librdkafka's log lines to swift-log (syslog levels: 0 emergency ... 7 debug).
private let kafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, facility, message in
    guard let context = RdKafkaHandle.context(of: rk) else { return }
    let logLevel: Logger.Level = switch level {
    case ...3: .error
    case 4: .warning
    case 5, 6: .info
    default: .debug
    }
    context.logger.log(level: logLevel, "\(message.map { String(cString: $0) } ?? "")", metadata: [
        "rdkafka.facility": "\(facility.map { String(cString: $0) } ?? "")",
    ])
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
