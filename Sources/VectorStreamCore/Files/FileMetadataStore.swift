import Synchronization

/// How registering a file's record ended: the bytes were new, or already known (same SHA-256).
public enum FileRegistration: Sendable, Hashable {
    case created(FileRecord)
    case existing(FileRecord)

    public var record: FileRecord {
        switch self {
        case .created(let r), .existing(let r): r
        }
    }
}

/// How a claim to process a file ended. Four cases: "another worker holds it" is neither "mine" nor "done"
/// (folding it into done would leave a crashed worker's file unprocessed), and a failed file waits for a retry.
public enum FileClaimOutcome: Sendable, Hashable {
    /// This worker holds the file now (status `processing`, its lease): process it, renew, then save it done or failed.
    case won(FileRecord)
    /// Processed already: nothing to do.
    case done(FileRecord)
    /// Another worker holds an unexpired lease: it may finish or die (then its lease runs out and a claim wins).
    case heldElsewhere(FileRecord)
    /// It failed; only a retry (`requeue`) makes it claimable again.
    case failed(FileRecord)
    case notFound
}

/// How a retry request ended.
public enum FileRequeueOutcome: Sendable, Hashable {
    /// It was `failed` and is `queued` again.
    case requeued(FileRecord)
    /// It is not failed (queued, processing or done): nothing changed.
    case notFailed(FileRecord)
    case notFound
}

/// One page of records, newest first, and the cursor of the next page (nil at the end).
public struct FilePage: Sendable, Hashable {
    public var records: [FileRecord]
    public var next: String?

    public init(records: [FileRecord], next: String?) {
        self.records = records
        self.next = next
    }
}

/// A position in the newest-first listing: `<uploaded_at>-<sha256>`, exclusive.
public struct FileCursor: Sendable, Hashable {
    public var uploadedAt: EpochMillis
    public var sha256: String

    public init(uploadedAt: EpochMillis, sha256: String) {
        self.uploadedAt = uploadedAt
        self.sha256 = sha256
    }

    public init(_ record: FileRecord) { self.init(uploadedAt: record.uploadedAt, sha256: record.sha256) }

    /// nil when `text` is not a cursor this listing wrote.
    public init?(_ text: String) {
        // Digits only, at most 18 (always an Int64): exactly what the document's pattern allows.
        guard let dash = text.firstIndex(of: "-"), (1...18).contains(text[..<dash].utf8.count),
              text[..<dash].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let t = EpochMillis(text[..<dash]) else { return nil }
        let sha = String(text[text.index(after: dash)...])
        guard FileRecord.isSHA256(sha) else { return nil }
        self.init(uploadedAt: t, sha256: sha)
    }

    public var text: String { "\(uploadedAt)-\(sha256)" }

    /// Whether `record` comes after this cursor in the newest-first order.
    public func precedes(_ record: FileRecord) -> Bool {
        record.uploadedAt < uploadedAt || (record.uploadedAt == uploadedAt && record.sha256 < sha256)
    }
}

/// Where file records live: Redis when configured (shared by every worker), the embedded SQLite store otherwise.
///
/// Claims are atomic in the store, so the same bytes uploaded to two workers at once are processed once.
public protocol FileMetadataStore: Sendable {
    /// "redis" or "embedded", for messages.
    var backendName: String { get }
    /// Inserts the record when its SHA-256 is new; otherwise returns the stored one unchanged.
    func register(_ record: FileRecord) async throws -> FileRegistration
    func record(sha256: String) async throws -> FileRecord?
    /// Newest first (by upload time, then SHA-256), after `cursor`.
    func list(limit: Int, after cursor: FileCursor?) async throws -> FilePage
    /// Atomically claims the file for `holder` until `now + lease` (see `FileClaimRule`).
    func claim(sha256: String, holder: String, lease: Duration, now: EpochMillis) async throws -> FileClaimOutcome
    /// Extends `holder`'s lease; false when it no longer holds the file (its lease ran out and another took over).
    func renew(sha256: String, holder: String, lease: Duration, now: EpochMillis) async throws -> Bool
    /// Writes the record (progress, or its final `done`/`failed` status, which ends the claim) only while
    /// `holder` holds the file; false when it does not (nothing written).
    func save(_ record: FileRecord, holder: String) async throws -> Bool
    /// A `failed` file back to `queued` (keeping its error until it succeeds).
    func requeue(sha256: String) async throws -> FileRequeueOutcome
    /// Files a worker should finish at start: `queued` ones, and `processing` ones whose lease ran out (their
    /// worker died). Oldest first.
    func unfinished(now: EpochMillis, limit: Int) async throws -> [FileRecord]
    /// How many files are in each status (the console's stores panel).
    func statusCounts() async throws -> [FileStatus: Int]
}

/// The claim decision every store applies inside its atomic step, so that all agree.
public enum FileClaimRule {
    public enum Decision: Sendable, Hashable {
        case win, done, held, failed
    }

    /// `queued` wins; `processing` wins for its own holder (a retry after a lost reply) or once its lease ran
    /// out (the holder died); otherwise it is held. `done` and `failed` are final until a retry.
    public static func decide(status: FileStatus, holder: String?, leaseUntil: EpochMillis?, claimant: String,
                              now: EpochMillis) -> Decision {
        switch status {
        case .done: return .done
        case .failed: return .failed
        case .queued: return .win
        case .processing:
            if holder == claimant { return .win }
            if (leaseUntil ?? 0) <= now { return .win }
            return .held
        }
    }

    /// The record as a won claim leaves it.
    public static func won(_ record: FileRecord, claimant: String, lease: Duration, now: EpochMillis) -> FileRecord {
        var r = record
        if r.status != .processing || r.holder != claimant { r.attempts += 1 }
        r.status = .processing
        r.holder = claimant
        r.leaseUntil = now + lease.wholeMilliseconds
        r.startedAt = now
        return r
    }
}

extension Duration {
    /// Whole milliseconds (rounded down).
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

/// File records in memory, for one process (tests, and the pieces that need no persistence).
public final class InMemoryFileMetadataStore: FileMetadataStore {
    private let records = Mutex<[String: FileRecord]>([:])

    public init() {}

    public var backendName: String { "memory" }

    public func register(_ record: FileRecord) async throws -> FileRegistration {
        records.withLock { r in
            if let existing = r[record.sha256] { return .existing(existing) }
            r[record.sha256] = record
            return .created(record)
        }
    }

    public func record(sha256: String) async throws -> FileRecord? { records.withLock { $0[sha256] } }

    public func list(limit: Int, after cursor: FileCursor?) async throws -> FilePage {
        let all = records.withLock { Array($0.values) }
            .filter { cursor?.precedes($0) ?? true }
            .sorted { ($0.uploadedAt, $0.sha256) > ($1.uploadedAt, $1.sha256) }
        let page = Array(all.prefix(limit))
        return FilePage(records: page, next: all.count > limit ? page.last.map { FileCursor($0).text } : nil)
    }

    public func claim(sha256: String, holder: String, lease: Duration, now: EpochMillis) async throws -> FileClaimOutcome {
        records.withLock { r in
            guard let record = r[sha256] else { return .notFound }
            switch FileClaimRule.decide(status: record.status, holder: record.holder, leaseUntil: record.leaseUntil,
                                        claimant: holder, now: now) {
            case .win:
                let won = FileClaimRule.won(record, claimant: holder, lease: lease, now: now)
                r[sha256] = won
                return .won(won)
            case .done: return .done(record)
            case .held: return .heldElsewhere(record)
            case .failed: return .failed(record)
            }
        }
    }

    public func renew(sha256: String, holder: String, lease: Duration, now: EpochMillis) async throws -> Bool {
        records.withLock { r in
            guard var record = r[sha256], record.status == .processing, record.holder == holder else { return false }
            record.leaseUntil = now + lease.wholeMilliseconds
            r[sha256] = record
            return true
        }
    }

    public func save(_ record: FileRecord, holder: String) async throws -> Bool {
        records.withLock { r in
            guard let current = r[record.sha256], current.status == .processing, current.holder == holder else { return false }
            var next = record
            next.holder = holder
            r[record.sha256] = next
            return true
        }
    }

    public func requeue(sha256: String) async throws -> FileRequeueOutcome {
        records.withLock { r in
            guard var record = r[sha256] else { return .notFound }
            guard record.status == .failed else { return .notFailed(record) }
            record.status = .queued
            record.holder = nil
            record.leaseUntil = nil
            r[sha256] = record
            return .requeued(record)
        }
    }

    public func unfinished(now: EpochMillis, limit: Int) async throws -> [FileRecord] {
        records.withLock { r in
            r.values.filter { $0.status == .queued || ($0.status == .processing && ($0.leaseUntil ?? 0) <= now) }
                .sorted { ($0.uploadedAt, $0.sha256) < ($1.uploadedAt, $1.sha256) }
                .prefix(limit).map { $0 }
        }
    }

    public func statusCounts() async throws -> [FileStatus: Int] {
        records.withLock { r in
            var counts: [FileStatus: Int] = [:]
            for record in r.values { counts[record.status, default: 0] += 1 }
            return counts
        }
    }

    /// Test hook: the record as a crashed worker left it (processing, lease already run out).
    public func overwrite(_ record: FileRecord) { records.withLock { $0[record.sha256] = record } }
}
