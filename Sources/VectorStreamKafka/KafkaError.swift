import CRdKafka
import VectorStreamCore

/// A failure of the Kafka client, said so that an operator can act on it. Never carries property values
/// (they may be SASL passwords).
public struct KafkaError: Error, CustomStringConvertible, Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// librdkafka is older than the broker protocol needs, or could not be loaded.
        case unsupportedLibrary
        /// A configuration property was refused.
        case configuration
        /// A librdkafka call returned an error code.
        case client
        /// A message was not delivered (after librdkafka's own retries).
        case delivery
        /// The consumer or producer was already closed.
        case closed
        /// A topic could not be created.
        case topicCreation
    }

    public var kind: Kind
    public var message: String
    /// The `rd_kafka_resp_err_t` code, when there is one.
    public var code: Int32?

    public init(_ kind: Kind, _ message: String, code: Int32? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    init(_ kind: Kind, _ context: String, error: rd_kafka_resp_err_t) {
        let text = String(cString: rd_kafka_err2str(error))
        self.init(kind, "\(context): \(text)", code: error.rawValue)
    }

    public var description: String { "Kafka: \(message)" }
}

extension KafkaError: ClassifiedError {
    /// Refusals the same request meets again (too large, not authorised, invalid) are permanent; an unreachable
    /// broker, a timeout or a leader change heals by itself.
    public var failureClass: FailureClass {
        switch kind {
        case .unsupportedLibrary, .configuration: return .permanent
        case .client, .delivery, .closed, .topicCreation: break
        }
        guard let code else { return .transient }
        let permanent: [rd_kafka_resp_err_t] = [
            RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE,
            RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR_INVALID_MSG,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, RD_KAFKA_RESP_ERR__INVALID_ARG,
        ]
        return permanent.contains { $0.rawValue == code } ? .permanent : .transient
    }
}

/// The librdkafka the process actually loaded (not the headers it was compiled against).
public enum KafkaLibrary {
    /// 2.10: older versions (Debian's 2.0.2) fail on tansu's ApiVersions response ("read underflow").
    public static let minimumVersion: Int32 = 0x020A_0000

    public static var version: Int32 { rd_kafka_version() }
    public static var versionString: String { String(cString: rd_kafka_version_str()) }

    /// Throws, naming the fix, when the loaded librdkafka is too old.
    public static func checkVersion() throws {
        guard version >= minimumVersion else {
            throw KafkaError(.unsupportedLibrary, """
                librdkafka \(versionString) is loaded, but 2.10 or newer is required; run scripts/setup.sh, \
                which copies librdkafka 2.16 to .vendor/lib where the vectorstream binary finds it
                """)
        }
    }
}
