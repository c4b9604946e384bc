/// The kinds of shop behaviour the source schema allows.
public enum EventType: String, Sendable, CaseIterable, Codable, Hashable {
    case view
    case addToCart = "add_to_cart"
    case removeFromCart = "remove_from_cart"
    case purchase
    case wishlistAdd = "wishlist_add"
    case search
}

/// The product carried by every event; its text is what gets embedded.
public struct Product: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var description: String
    public var category: String
    public var price: Double

    public init(id: String, name: String, description: String, category: String, price: Double) {
        self.id = id
        self.name = name
        self.description = description
        self.category = category
        self.price = price
    }

    /// The text the embedder sees. Name and description carry the meaning; the category anchors it.
    public var embeddingText: String { "\(name). \(category). \(description)" }
}

/// Milliseconds since the Unix epoch, UTC. An integer keeps sorting, bucketing and storage cheap.
public typealias EpochMillis = Int64

/// A validated behaviour event in exactly the source schema.
public struct Event: Sendable, Hashable {
    public var eventID: String
    public var timestamp: EpochMillis
    public var userID: String
    public var type: EventType
    public var product: Product
    public var sessionID: String

    public init(eventID: String, timestamp: EpochMillis, userID: String, type: EventType, product: Product,
                sessionID: String) {
        self.eventID = eventID
        self.timestamp = timestamp
        self.userID = userID
        self.type = type
        self.product = product
        self.sessionID = sessionID
    }
}

/// Where a record came from, so sinks can be idempotent on replay and offsets can be committed.
public struct SourcePosition: Sendable, Hashable, Codable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// One record as it arrived: raw bytes, never parsed before the engine sees them.
public struct RawRecord: Sendable {
    public var bytes: [UInt8]
    public var position: SourcePosition
    /// Monotonic arrival time (nanoseconds, `ContinuousClock`-based) for end-to-end latency.
    public var arrivalNanos: UInt64

    public init(bytes: [UInt8], position: SourcePosition, arrivalNanos: UInt64) {
        self.bytes = bytes
        self.position = position
        self.arrivalNanos = arrivalNanos
    }
}

/// An event that passed validation, with its raw form (unknown fields are kept) and position.
public struct AcceptedEvent: Sendable {
    public var event: Event
    public var raw: [UInt8]
    public var position: SourcePosition
    public var arrivalNanos: UInt64

    public init(event: Event, raw: [UInt8], position: SourcePosition, arrivalNanos: UInt64) {
        self.event = event
        self.raw = raw
        self.position = position
        self.arrivalNanos = arrivalNanos
    }
}

/// A record that failed validation: kept whole, with the reason, for the dead-letter sink.
public struct RejectedRecord: Sendable {
    public var raw: [UInt8]
    public var reason: ValidationError
    public var position: SourcePosition

    public init(raw: [UInt8], reason: ValidationError, position: SourcePosition) {
        self.raw = raw
        self.reason = reason
        self.position = position
    }
}
