import Crypto
import Synchronization

/// Limits and lifetimes of `POST /v1/ingest` (keys `ingest.*`).
public struct IngestSettings: Sendable, Hashable {
    /// Largest request body; larger is refused with 413 before it is read whole. Default 16 MiB (the other routes
    /// keep `http.max_body_bytes`, 64 KiB: only this route takes batches).
    public var maxBodyBytes = 16 << 20
    /// Most records in one request; more is refused with 413. Default 100,000.
    public var maxRecords = 100_000
    /// Requests processed at once; one more is answered 429 with `Retry-After` instead of queueing without bound.
    /// Default 2 (the stages are CPU- and store-bound: more at once only makes each slower).
    public var maxConcurrent = 2
    /// How long the answer of a request with an `Idempotency-Key` is kept for its retries. Default 24 h.
    public var idempotencyTTL: Duration = .seconds(24 * 3600)
    /// How long a key in flight blocks its duplicates when its server dies before answering. The server renews it
    /// every third of it while the request runs, so a slow request keeps its key. Default 30 s: a client retrying
    /// after a crash (the Spark sink backs off for minutes) gets the key well within its retries.
    public var idempotencyLease: Duration = .seconds(30)

    public init() {}
}

/// What one stored batch did, counted as the engine did it.
struct BatchCounts: Sendable {
    var accepted = 0
    var rejected: [RejectedRecord] = []
    var deduplicated = 0
    var stored = 0
    var productsEmbedded = 0
    var embeddingCacheHits = 0
}

/// One record of an ingest request that failed validation (it is in the dead letters, with this reason).
public struct IngestRejection: Sendable, Hashable {
    /// The record's place in the request, from 0.
    public var index: Int
    public var code: String
    public var reason: String
}

/// The answer to an ingest request once everything of it is stored.
public struct IngestReport: Sendable, Hashable {
    public var received = 0
    /// Valid records (stored now, or already stored before: `deduplicated`).
    public var accepted = 0
    /// Invalid records, each in the dead letters with its reason.
    public var rejected = 0
    /// The first `IngestPipeline.listedRejections` rejections, by index.
    public var rejections: [IngestRejection] = []
    public var rejectedByReason: [String: Int] = [:]
    /// Valid records stored before (by an earlier request, another worker or the stream) or repeated in this one.
    public var deduplicated = 0
    /// Events stored by this request.
    public var stored = 0
    /// Products whose vector was computed for this request (cache hits not counted).
    public var productsEmbedded = 0
    public var embeddingCacheHits = 0

    public init() {}
}

/// How an ingest request ended.
public enum IngestOutcome: Sendable, Hashable {
    /// Every record is stored (or in the dead letters).
    case stored(IngestReport)
    /// The server is stopping; nothing of the request may be relied on (a retry redoes what is missing).
    case stopped
}

/// Why a request body holds no records that can be ingested.
public enum IngestBodyError: Error, Sendable, Hashable, CustomStringConvertible {
    case empty
    case malformedArray(String)

    public var description: String {
        switch self {
        case .empty: "the body holds no records (send a JSON array of events, or one event per line)"
        case .malformedArray(let detail): "the body starts with '[' but is not a JSON array: \(detail)"
        }
    }
}

/// Splits a request body into raw records without parsing them (the engine validates each, and keeps the bytes of
/// a bad one whole for the dead letters): a JSON array's elements, or JSON lines.
public enum IngestBody {
    /// The records of `body`: a JSON array (its first non-blank byte is `[`) or one record per line (blank lines
    /// skipped, `\r\n` allowed, each line's bytes kept as they are).
    /// - Parameter jsonLines: the body was sent as JSON lines (`application/x-ndjson`): one record per line even when
    ///   the first record starts with `[` (an invalid record such as `["e1"]` is a record, a dead letter, not the
    ///   opening of an array: a Spark chunk that began with one was refused whole with 400).
    public static func records(_ body: [UInt8], jsonLines: Bool = false) -> Result<[ArraySlice<UInt8>], IngestBodyError> {
        var start = 0
        while start < body.count, isBlank(body[start]) { start += 1 }
        guard start < body.count else { return .failure(.empty) }
        if !jsonLines, body[start] == UInt8(ascii: "[") { return array(body, from: start) }
        var out: [ArraySlice<UInt8>] = []
        var lineStart = 0
        for i in 0...body.count where i == body.count || body[i] == UInt8(ascii: "\n") {
            // The record's bytes as sent, blanks included (a dead letter must be the record that came, e.g. one cut
            // after a space); only the line ending goes: `\n`, or `\r\n`. Lines of blanks alone are skipped.
            var line = body[lineStart..<i]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if !line.allSatisfy(isBlank) { out.append(line) }
            lineStart = i + 1
        }
        return out.isEmpty ? .failure(.empty) : .success(out)
    }

    public static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// The top-level elements of a JSON array, found by tracking strings and nesting only (each element is
    /// validated later, as a record).
    static func array(_ body: [UInt8], from open: Int) -> Result<[ArraySlice<UInt8>], IngestBodyError> {
        var out: [ArraySlice<UInt8>] = []
        var depth = 0
        var inString = false
        var escaped = false
        var elementStart = open + 1
        var closed: Int?
        var i = open + 1
        func element(_ end: Int) -> ArraySlice<UInt8>? {
            var e = body[elementStart..<end]
            while let first = e.first, isBlank(first) { e = e.dropFirst() }
            while let last = e.last, isBlank(last) { e = e.dropLast() }
            return e.isEmpty ? nil : e
        }
        scan: while i < body.count {
            let b = body[i]
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
            } else {
                switch b {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if depth == 0 {
                        guard b == UInt8(ascii: "]") else { return .failure(.malformedArray("unbalanced '}' at byte \(i)")) }
                        if let e = element(i) { out.append(e) } else if !out.isEmpty {
                            return .failure(.malformedArray("an empty element before byte \(i)"))
                        }
                        closed = i
                        break scan
                    }
                    depth -= 1
                case UInt8(ascii: ",") where depth == 0:
                    guard let e = element(i) else { return .failure(.malformedArray("an empty element before byte \(i)")) }
                    out.append(e)
                    elementStart = i + 1
                default: break
                }
            }
            i += 1
        }
        guard let closed else { return .failure(.malformedArray("it does not end (no closing ']')")) }
        if body[(closed + 1)...].contains(where: { !isBlank($0) }) {
            return .failure(.malformedArray("bytes follow the closing ']' at byte \(closed)"))
        }
        return out.isEmpty ? .failure(.empty) : .success(out)
    }
}

/// A source with nothing in it: `vectorstream serve` runs the engine's loop (live state, the console's figures)
/// while every record comes through `POST /v1/ingest`. Each poll waits out its deadline and returns an empty batch.
public struct NoEventSource: EventSource {
    public init() {}

    public func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? {
        try await Task.sleep(until: deadline, clock: .continuous)
        return RecordBatch(records: [], commitToken: CommitToken())
    }

    public func acknowledge(_ token: CommitToken) async throws {}
}

/// Runs ingested batches through the same stages as a stream's batches: validate, dead letters, dedup, embed,
/// upsert, store, notify. Answers only once everything is stored.
///
/// Why lanes: `MicroBatchEngine.process` may run beside the engine's own loop and beside itself (its state is
/// behind a lock), but two batches must not share a dedup claimant: Redis treats a claim by the same token as the
/// caller's own (a retry after a lost reply), so two batches of one store instance holding the same event would
/// both store it (twice in ClickHouse, which keys events by position). Each lane is a separate engine whose
/// `stages(lane)` have their own dedup store (own token), and a lane takes one batch at a time. The number of lanes
/// bounds the requests in flight: when all are busy, `admit` says so at once (the API answers 429).
public final class IngestPipeline: Sendable {
    public let settings: IngestSettings
    /// Rejections listed one by one in a report; the rest are only counted by reason.
    public static let listedRejections = 100
    private let lanes: [MicroBatchEngine]
    private let free: Mutex<[Int]>

    /// - Parameter stages: the stages of lane `n` (0..<maxConcurrent); each should have its own dedup claimant.
    public init(configuration: EngineConfiguration, settings: IngestSettings,
                stages: (Int) -> PipelineStages) {
        self.settings = settings
        let count = max(settings.maxConcurrent, 1)
        lanes = (0..<count).map { n in
            var c = configuration
            c.workerID = configuration.workerID + "-ingest-\(n)"
            return MicroBatchEngine(configuration: c, stages: stages(n))
        }
        free = Mutex(Array((0..<count).reversed()))
    }

    /// A lane for one request, or nil when every lane is busy (the request should be retried later).
    public func admit() -> IngestLane? {
        guard let n = free.withLock({ $0.popLast() }) else { return nil }
        return IngestLane(pipeline: self, index: n)
    }

    fileprivate func release(_ index: Int) { free.withLock { $0.append(index) } }

    /// Lanes in use now.
    public var inFlight: Int { lanes.count - free.withLock { $0.count } }

    /// Stops waiting batches (another worker's claims) at once: they end `.stopped`.
    public func requestStop() { for lane in lanes { lane.requestStop() } }

    /// The lanes' running totals, summed.
    public var stats: PipelineStats {
        var total = PipelineStats()
        for lane in lanes {
            let s = lane.stats
            total.eventsTotal += s.eventsTotal
            total.eventsValid += s.eventsValid
            total.eventsRejected += s.eventsRejected
            total.eventsDeduplicated += s.eventsDeduplicated
            total.eventsStored += s.eventsStored
            total.productsEmbedded += s.productsEmbedded
            total.embeddingCacheHits += s.embeddingCacheHits
            total.batches += s.batches
            total.batchRetries += s.batchRetries
            total.latencyP99Millis = max(total.latencyP99Millis, s.latencyP99Millis)
            total.updatedAt = max(total.updatedAt, s.updatedAt)
        }
        return total
    }

    /// Where record `index` of a request is kept (dead letters, ClickHouse's replay key): topic `ingest`,
    /// partition 0, an offset hashed from the request's key and the index. The same request retried with the same
    /// `Idempotency-Key` gets the same positions, so its dead letters are not kept twice.
    public static func position(requestKey: String, index: Int) -> SourcePosition {
        let digest = SHA256.hash(data: Array((requestKey + "\u{1F}" + String(index)).utf8))
        var offset: UInt64 = 0
        for byte in digest.prefix(8) { offset = offset << 8 | UInt64(byte) }
        return SourcePosition(topic: "ingest", partition: 0, offset: Int64(offset & UInt64(Int64.max)))
    }

    fileprivate func run(lane index: Int, records: [ArraySlice<UInt8>], requestKey: String,
                         arrivalNanos: UInt64) async throws -> IngestOutcome {
        var indexByOffset: [Int64: Int] = [:]
        indexByOffset.reserveCapacity(records.count)
        let raw = records.enumerated().map { i, bytes in
            let position = Self.position(requestKey: requestKey, index: i)
            indexByOffset[position.offset] = i
            return RawRecord(bytes: Array(bytes), position: position, arrivalNanos: arrivalNanos)
        }
        var deadLettersStored = false
        let (outcome, counts) = try await lanes[index].processCounting(
            RecordBatch(records: raw, commitToken: CommitToken()), deadLettersStored: &deadLettersStored, acknowledge: false)
        guard outcome == .stored else { return .stopped }
        var report = IngestReport()
        report.received = records.count
        report.accepted = counts.accepted
        report.rejected = counts.rejected.count
        for r in counts.rejected {
            report.rejectedByReason[r.reason.code, default: 0] += 1
            if report.rejections.count < Self.listedRejections {
                report.rejections.append(IngestRejection(index: indexByOffset[r.position.offset] ?? -1,
                                                         code: r.reason.code, reason: r.reason.description))
            }
        }
        report.rejections.sort { $0.index < $1.index }
        report.deduplicated = counts.deduplicated
        report.stored = counts.stored
        report.productsEmbedded = counts.productsEmbedded
        report.embeddingCacheHits = counts.embeddingCacheHits
        return .stored(report)
    }
}

/// One admitted request's lane; give it back with `finish()` (or by ingesting through it, which does).
public struct IngestLane: Sendable {
    let pipeline: IngestPipeline
    let index: Int

    /// Runs the records through the stages and gives the lane back. `requestKey` names the request for the
    /// records' positions (the `Idempotency-Key`, or a random one); `arrivalNanos` starts end-to-end latency.
    public func ingest(_ records: [ArraySlice<UInt8>], requestKey: String,
                       arrivalNanos: UInt64 = monotonicNanos()) async throws -> IngestOutcome {
        defer { pipeline.release(index) }
        return try await pipeline.run(lane: index, records: records, requestKey: requestKey, arrivalNanos: arrivalNanos)
    }

    /// Gives the lane back without ingesting (the request was refused after admission).
    public func finish() { pipeline.release(index) }
}
