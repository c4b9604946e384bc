// What the file manager knows about one uploaded file: identity, status, counts, rejected-row samples.

/// What a file holds, which decides how it is processed.
public enum FileKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Products (CSV with a header, or JSON lines): validated, embedded where new, upserted as vectors.
    case catalog
    /// Events in the source schema (JSON lines): replayed through the engine, stored exactly once.
    case events
}

/// Where a file is in its life. `failed` keeps the reason and can be retried; `done` is final.
public enum FileStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case queued
    case processing
    case done
    case failed
}

/// A row that was refused, with its place in the file and why.
public struct RejectedRow: Sendable, Hashable, Codable {
    /// 1-based data row (the CSV header is not counted; for JSON lines, the line's number).
    public var row: Int
    /// Physical line where the row starts (differs from `row` when quoted fields hold newlines).
    public var line: Int
    /// Stable code for counting (`missing_field`, `bad_price`, `duplicate_id`, ...).
    public var code: String
    /// Precise reason, naming the field and the value's problem.
    public var reason: String

    public init(row: Int, line: Int, code: String, reason: String) {
        self.row = row
        self.line = line
        self.code = code
        self.reason = reason
    }
}

/// What processing a file produced. Every row is counted once: accepted + rejected = total.
public struct FileCounts: Sendable, Hashable, Codable {
    public var rowsTotal: Int64 = 0
    public var rowsAccepted: Int64 = 0
    public var rowsRejected: Int64 = 0
    /// Catalog: products whose text was embedded by this run (not from the cache or the stored vector).
    public var productsEmbedded: Int64 = 0
    /// Catalog: products whose record was rewritten without embedding (price-only change, vector reused).
    public var productsPayloadUpdated: Int64 = 0
    /// Catalog: products already stored exactly so (nothing written).
    public var productsUnchanged: Int64 = 0
    /// Events: stored by this file (not seen before).
    public var eventsStored: Int64 = 0
    /// Events: already stored (through Kafka, an earlier file) and skipped.
    public var eventsDeduplicated: Int64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case rowsTotal = "rows_total", rowsAccepted = "rows_accepted", rowsRejected = "rows_rejected"
        case productsEmbedded = "products_embedded", productsPayloadUpdated = "products_payload_updated"
        case productsUnchanged = "products_unchanged", eventsStored = "events_stored"
        case eventsDeduplicated = "events_deduplicated"
    }
}

/// One file's metadata, as the metadata store keeps it and the API returns it.
public struct FileRecord: Sendable, Hashable, Codable {
    /// Identity: the SHA-256 of the bytes, 64 lowercase hex digits.
    public var sha256: String
    public var name: String
    public var size: Int64
    public var kind: FileKind
    public var contentType: String
    /// Where the bytes live in the object store (content-addressed: `FileCatalog.objectKey(sha256:)`).
    public var objectKey: String
    public var uploadedAt: EpochMillis
    public var status: FileStatus
    public var counts = FileCounts()
    /// Why the file failed (status `failed`); kept after a retry until it succeeds.
    public var error: String?
    /// The first rejected rows (bounded by `files.rejected_samples`), in file order.
    public var rejectedSamples: [RejectedRow] = []
    /// Rejected rows by code, all of them (not bounded like the samples).
    public var rejectedByCode: [String: Int64] = [:]
    /// Processing attempts started (a takeover after a crash or a retry adds one).
    public var attempts = 0
    /// The worker that holds (or last held) the processing claim, and until when its lease runs.
    public var holder: String?
    public var leaseUntil: EpochMillis?
    public var startedAt: EpochMillis?
    public var finishedAt: EpochMillis?
    public var durationMillis: Int64?
    /// The embedder's model version the products were embedded with (catalog).
    public var modelVersion: String?

    public init(sha256: String, name: String, size: Int64, kind: FileKind, contentType: String, objectKey: String,
                uploadedAt: EpochMillis, status: FileStatus = .queued) {
        self.sha256 = sha256
        self.name = name
        self.size = size
        self.kind = kind
        self.contentType = contentType
        self.objectKey = objectKey
        self.uploadedAt = uploadedAt
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case sha256, name, size, kind, status, counts, error, attempts, holder
        case contentType = "content_type", objectKey = "object_key", uploadedAt = "uploaded_at"
        case rejectedSamples = "rejected_samples", rejectedByCode = "rejected_by_code", leaseUntil = "lease_until"
        case startedAt = "started_at", finishedAt = "finished_at", durationMillis = "duration_ms"
        case modelVersion = "model_version"
    }

    /// Whether `text` is a SHA-256 as records name them (64 lowercase hex digits).
    public static func isSHA256(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// The `file_processed` notice: what other systems learn when a file is done.
public struct FileProcessed: Sendable, Hashable, Codable {
    public var sha256: String
    public var objectKey: String
    public var name: String
    public var kind: FileKind
    public var status: FileStatus
    public var rowsAccepted: Int64
    public var rowsRejected: Int64
    public var productsEmbedded: Int64
    public var eventsStored: Int64
    public var modelVersion: String
    public var durationMillis: Int64
    public var timestamp: EpochMillis

    public init(record: FileRecord, modelVersion: String, timestamp: EpochMillis) {
        sha256 = record.sha256
        objectKey = record.objectKey
        name = record.name
        kind = record.kind
        status = record.status
        rowsAccepted = record.counts.rowsAccepted
        rowsRejected = record.counts.rowsRejected
        productsEmbedded = record.counts.productsEmbedded
        eventsStored = record.counts.eventsStored
        self.modelVersion = modelVersion
        durationMillis = record.durationMillis ?? 0
        self.timestamp = timestamp
    }

    enum CodingKeys: String, CodingKey {
        case sha256, name, kind, status, timestamp
        case objectKey = "object_key", rowsAccepted = "rows_accepted", rowsRejected = "rows_rejected"
        case productsEmbedded = "products_embedded", eventsStored = "events_stored", modelVersion = "model_version"
        case durationMillis = "duration_ms"
    }
}

/// Announces processed files to other systems (Kafka topic `file_processed`).
public protocol FileProcessedNotifier: Sendable {
    func fileProcessed(_ notice: FileProcessed) async throws
}
