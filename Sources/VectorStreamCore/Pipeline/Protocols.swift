// The small protocols every backend implements. The engine depends on these alone.

/// A batch of raw records pulled from a source; acknowledged as a whole once durably stored.
public struct RecordBatch: Sendable {
    public var records: [RawRecord]
    /// Opaque to the engine: what the source needs to commit this batch (e.g. next offsets per partition).
    public var commitToken: CommitToken

    public init(records: [RawRecord], commitToken: CommitToken) {
        self.records = records
        self.commitToken = commitToken
    }
}

/// The positions to commit after a batch: for each (topic, partition), the next offset to read.
public struct CommitToken: Sendable, Hashable {
    public var nextOffsets: [TopicPartition: Int64]
    /// Rebalance generation the batch was read in; a source refuses to commit a token from an older one.
    public var generation: Int

    public init(nextOffsets: [TopicPartition: Int64] = [:], generation: Int = 0) {
        self.nextOffsets = nextOffsets
        self.generation = generation
    }
}

public struct TopicPartition: Sendable, Hashable, Codable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// Where events come from: a file, stdin, the generator, Kafka.
///
/// Pull-based: the engine asks for the next batch only when it has finished the previous one,
/// so a slow stage slows intake instead of growing a queue (backpressure).
public protocol EventSource: Sendable {
    /// Returns up to `maxRecords` records, waiting at most until `deadline` for them to arrive.
    /// Returns an empty batch when nothing came in time, and nil once the source is exhausted.
    func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch?
    /// Commits the batch's positions. Called only after every sink has stored the batch.
    func acknowledge(_ token: CommitToken) async throws
    /// Consumer lag per partition where the source has offsets; empty otherwise.
    func lag() async -> [TopicPartition: Int64]
}

extension EventSource {
    public func lag() async -> [TopicPartition: Int64] { [:] }
}

/// Namespaces of dedup claims, so an event id and a text hash never collide.
public enum DedupNamespace: String, Sendable, Hashable {
    case event
    case productText = "text"
}

/// How a claim on one key ended. Three cases, because "someone else holds it" is neither "mine" nor "done":
/// folding it into "done" acknowledged a crashed worker's unstored events and lost them.
public enum ClaimOutcome: Sendable, Hashable {
    /// This caller holds the key now: do the work, then `confirm` (or `release` on failure).
    case won
    /// The work was stored and confirmed: skip it.
    case done
    /// Another claimant holds an unconfirmed lease: it may still store the work or die. Neither do it nor
    /// acknowledge it; ask again until it is `done` or the lease runs out and this caller `won`.
    case heldElsewhere
}

/// "Check the hash, process only what is new", shared by all workers.
///
/// Two-phase so that a crash never loses work: `claim` takes a short lease, `confirm` makes it permanent
/// after the batch is stored, `release` gives it back when the batch fails.
public protocol DedupStore: Sendable {
    /// Atomically claims each key; one outcome per key, in order.
    func claim(_ keys: [String], in namespace: DedupNamespace) async throws -> [ClaimOutcome]
    /// Makes claims permanent after the work is durably stored.
    func confirm(_ keys: [String], in namespace: DedupNamespace) async throws
    /// Gives claims back so that a retry (here or on another worker) processes them.
    func release(_ keys: [String], in namespace: DedupNamespace) async throws
}

/// Turns texts into unit-length sentence vectors.
public protocol TextEmbedder: Sendable {
    /// Identifies the weights; vectors of different versions never mix.
    var modelVersion: String { get }
    var dimension: Int { get }
    func embed(_ texts: [String]) async throws -> [[Float]]
}

/// Recently computed vectors by text hash, so a text is embedded once across restarts and workers.
public protocol EmbeddingCache: Sendable {
    func vectors(for textHashes: [String]) async throws -> [[Float]?]
    func store(_ vectors: [String: [Float]]) async throws
}

/// One vector per product, with the payload the search routes return and filter on.
public struct ProductVector: Sendable, Hashable {
    public var productID: String
    public var vector: [Float]
    public var name: String
    public var category: String
    public var price: Double
    public var modelVersion: String
    /// `ContentHash.productRecord`: what this record was made from (text, model version, payload). Stored as
    /// `text_hash` in every backend (the name of earlier versions, when it covered the text only).
    public var contentHash: String
    public var updatedAt: EpochMillis

    public init(productID: String, vector: [Float], name: String, category: String, price: Double,
                modelVersion: String, contentHash: String, updatedAt: EpochMillis) {
        self.productID = productID
        self.vector = vector
        self.name = name
        self.category = category
        self.price = price
        self.modelVersion = modelVersion
        self.contentHash = contentHash
        self.updatedAt = updatedAt
    }
}

public struct SearchFilter: Sendable, Hashable, Codable {
    public var category: String?
    public var minPrice: Double?
    public var maxPrice: Double?
    /// Products to leave out (the query product itself, products already bought).
    public var excludedProductIDs: Set<String>

    public init(category: String? = nil, minPrice: Double? = nil, maxPrice: Double? = nil,
                excludedProductIDs: Set<String> = []) {
        self.category = category
        self.minPrice = minPrice
        self.maxPrice = maxPrice
        self.excludedProductIDs = excludedProductIDs
    }

    public func matches(category c: String, price p: Double) -> Bool {
        if let category, category != c { return false }
        if let minPrice, p < minPrice { return false }
        if let maxPrice, p > maxPrice { return false }
        return true
    }
}

public struct SearchHit: Sendable, Hashable {
    public var productID: String
    public var score: Float
    public var name: String
    public var category: String
    public var price: Double

    public init(productID: String, score: Float, name: String, category: String, price: Double) {
        self.productID = productID
        self.score = score
        self.name = name
        self.category = category
        self.price = price
    }
}

/// A vector database: one vector per product id, searched by inner product (vectors are unit length).
public protocol VectorStore: Sendable {
    /// Inserts or replaces by product id; durable when it returns.
    func upsert(_ vectors: [ProductVector]) async throws
    /// Nearest products of `modelVersion` to `query`, best first.
    func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit]
    /// The stored vector of a product, or nil.
    func vector(forProduct id: String) async throws -> ProductVector?
    /// Content hash and model version per product id, for the products given (what is already stored).
    func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)]
    /// Number of stored vectors.
    func count() async throws -> Int
}

/// Stores accepted events and keeps the aggregates current. Idempotent: replaying a batch changes nothing.
public protocol EventSink: Sendable {
    func store(_ events: [AcceptedEvent]) async throws
}

/// Keeps rejected records whole, with their reason, for later inspection or replay.
public protocol DeadLetterSink: Sendable {
    func store(_ rejected: [RejectedRecord]) async throws
}

/// What a batch produced, announced to other systems (Kafka topic `embeddings_ready`).
public struct EmbeddingsReady: Sendable, Hashable, Codable {
    public var productIDs: [String]
    public var modelVersion: String
    public var batchID: String
    public var timestamp: EpochMillis

    public init(productIDs: [String], modelVersion: String, batchID: String, timestamp: EpochMillis) {
        self.productIDs = productIDs
        self.modelVersion = modelVersion
        self.batchID = batchID
        self.timestamp = timestamp
    }
}

public protocol Notifier: Sendable {
    func embeddingsReady(_ notice: EmbeddingsReady) async throws
}

// MARK: Read side, used by the HTTP API.

public struct ProductCount: Sendable, Hashable, Codable {
    public var productID: String
    public var name: String
    public var category: String
    public var count: Int64
    public var revenue: Double

    public init(productID: String, name: String, category: String, count: Int64, revenue: Double) {
        self.productID = productID
        self.name = name
        self.category = category
        self.count = count
        self.revenue = revenue
    }
}

public struct Funnel: Sendable, Hashable, Codable {
    public var views: Int64
    public var carts: Int64
    public var purchases: Int64

    public init(views: Int64, carts: Int64, purchases: Int64) {
        self.views = views
        self.carts = carts
        self.purchases = purchases
    }

    public var viewToCart: Double { views == 0 ? 0 : Double(carts) / Double(views) }
    public var cartToPurchase: Double { carts == 0 ? 0 : Double(purchases) / Double(carts) }
    public var viewToPurchase: Double { views == 0 ? 0 : Double(purchases) / Double(views) }
}

public struct CategoryStats: Sendable, Hashable, Codable {
    public var category: String
    public var events: Int64
    public var purchases: Int64
    public var revenue: Double

    public init(category: String, events: Int64, purchases: Int64, revenue: Double) {
        self.category = category
        self.events = events
        self.purchases = purchases
        self.revenue = revenue
    }
}

/// One past interaction of a user, for recommendations.
public struct UserInteraction: Sendable, Hashable {
    public var productID: String
    public var type: EventType
    public var timestamp: EpochMillis

    public init(productID: String, type: EventType, timestamp: EpochMillis) {
        self.productID = productID
        self.type = type
        self.timestamp = timestamp
    }
}

/// The questions the analytics and recommendation routes ask of stored events.
public protocol AnalyticsStore: Sendable {
    func topProducts(eventType: EventType, since: EpochMillis, limit: Int) async throws -> [ProductCount]
    func funnel(since: EpochMillis) async throws -> Funnel
    func categories(since: EpochMillis) async throws -> [CategoryStats]
    /// The user's most recent interactions, newest first.
    func recentInteractions(userID: String, limit: Int) async throws -> [UserInteraction]
    /// Total stored events (each exactly once).
    func eventCount() async throws -> Int64
}

/// Health of one dependency, for /health.
public enum DependencyHealth: Sendable, Hashable {
    case ok
    case degraded(String)
    case down(String)
}

/// Anything whose health /health reports.
public protocol HealthCheckable: Sendable {
    var dependencyName: String { get }
    func checkHealth() async -> DependencyHealth
}

/// Cached answers to frequent read queries, invalidated when new data would change them.
public protocol QueryCache: Sendable {
    func cached(_ key: String) async throws -> [UInt8]?
    func store(_ key: String, value: [UInt8], ttl: Duration) async throws
    /// Drops every cached answer (new data arrived).
    func invalidateAll() async throws
}

/// Current pipeline figures per worker, readable by the API without touching the other stores.
public protocol LiveStateStore: Sendable {
    func publish(worker: String, stats: PipelineStats) async throws
    func workers() async throws -> [String: PipelineStats]
}
