/// One rejected record as the console and `GET /v1/dead-letters` show it: why, where from, and the start of it.
public struct DeadLetterSample: Sendable, Hashable, Codable {
    public var code: String
    public var reason: String
    public var position: SourcePosition
    /// Wall-clock milliseconds when it was rejected.
    public var rejectedAt: EpochMillis
    /// The record's size as it came, in bytes.
    public var bytes: Int
    /// The first `DeadLetterSample.excerptBytes` bytes, as text (invalid UTF-8 replaced).
    public var excerpt: String

    public static let excerptBytes = 512

    public init(code: String, reason: String, position: SourcePosition, rejectedAt: EpochMillis, raw: [UInt8]) {
        self.code = code
        self.reason = reason
        self.position = position
        self.rejectedAt = rejectedAt
        bytes = raw.count
        excerpt = String(decoding: raw.prefix(Self.excerptBytes), as: UTF8.self)
    }

    /// Where the next page starts: strictly older than this sample.
    public var cursor: DeadLetterCursor {
        DeadLetterCursor(rejectedAt: rejectedAt, topic: position.topic, partition: position.partition, offset: position.offset)
    }

    enum CodingKeys: String, CodingKey {
        case code, reason, position, bytes, excerpt
        case rejectedAt = "rejected_at"
    }
}

/// A position in the newest-first order of dead letters: (rejected at, topic, partition, offset), descending.
/// Its text form `rejectedAt.partition.offset.topic` is what `before=` takes.
public struct DeadLetterCursor: Sendable, Hashable {
    public var rejectedAt: EpochMillis
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(rejectedAt: EpochMillis, topic: String, partition: Int32, offset: Int64) {
        self.rejectedAt = rejectedAt
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public var text: String { "\(rejectedAt).\(partition).\(offset).\(topic)" }

    /// nil when `text` is not a cursor this type wrote.
    public init?(text: String) {
        // Split on scalars, not characters: a topic starting with a combining mark or an emoji modifier would join
        // the dot before it into one character, and the cursor would not parse.
        let parts = text.unicodeScalars.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, let at = EpochMillis(String(parts[0])), let partition = Int32(String(parts[1])),
              let offset = Int64(String(parts[2]))
        else { return nil }
        self.init(rejectedAt: at, topic: String(String.UnicodeScalarView(parts[3])), partition: partition, offset: offset)
    }
}

/// The dead letters a worker keeps where it can read them (its embedded store), newest first.
public protocol DeadLetterReader: Sendable {
    /// Up to `limit` samples older than `before`, with `reason` as their code when given.
    func deadLetters(reason: String?, limit: Int, before: DeadLetterCursor?) async throws -> [DeadLetterSample]
    /// Kept dead letters per reason code.
    func deadLetterCounts() async throws -> [String: Int64]
}

/// Stores dead letters in `primary` (the Kafka topic, say) and then a copy in `mirror` (the local store the
/// console reads). The batch waits for both: a rejection is acknowledged only once it is in the primary.
public struct MirroredDeadLetterSink: DeadLetterSink {
    public let primary: any DeadLetterSink
    public let mirror: any DeadLetterSink

    public init(primary: any DeadLetterSink, mirror: any DeadLetterSink) {
        self.primary = primary
        self.mirror = mirror
    }

    public func store(_ rejected: [RejectedRecord]) async throws {
        try await primary.store(rejected)
        try await mirror.store(rejected)
    }
}
