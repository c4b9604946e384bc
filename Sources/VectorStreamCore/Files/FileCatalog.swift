import Crypto
import Logging
import Synchronization

extension VectorStreamConfiguration {
    /// Uploaded files (`vectorstream import`, `POST /v1/files`).
    public struct FilesSettings: Sendable, Hashable {
        /// Largest accepted file, in bytes (its own limit: the API's JSON body limit does not apply). Default 1 GiB.
        public var maxBytes = 1 << 30
        /// How long a processing claim holds off other workers without renewal (renewed every third of it while
        /// the file is processed); a file whose worker died is taken over after it. Default 60 s.
        public var claimLease: Duration = .seconds(60)
        /// Rejected rows kept with their reason per file (all are counted). Default 100.
        public var rejectedSamples = 100

        public init() {}
    }
}

/// Reads a local file in chunks (implemented by the embedded module; the core does no I/O itself).
public protocol ByteReader: AnyObject {
    /// Up to `count` bytes; empty at the end of the file.
    func read(upTo count: Int) throws -> [UInt8]
    func close()
}

/// The local files the file manager needs: reading, removing, a work directory.
public protocol LocalFileAccess: Sendable {
    func openForReading(_ path: String) throws -> any ByteReader
    /// Removing an absent file is not an error.
    func remove(_ path: String)
    /// A fresh path in the work directory (nothing there yet), named after `hint`.
    func temporaryPath(_ hint: String) -> String
}

/// SHA-256 of bytes fed in pieces (a file streamed to disk is hashed as it arrives).
public struct StreamingSHA256 {
    private var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        count += Int64(bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// 64 lowercase hex digits.
    public func finalize() -> String { ContentHash.hex(hasher.finalize()) }
}

/// Where processing of a file stands, for a progress bar.
public struct FileProgress: Sendable, Hashable {
    public var rows: Int64
    public var bytesRead: Int64
    public var bytesTotal: Int64
}

/// How a request to process a file ended.
public enum FileProcessOutcome: Sendable, Hashable {
    /// Processed now by this worker: `done`.
    case processed(FileRecord)
    /// Processed now and failed (the record says why).
    case failed(FileRecord)
    /// Done before (the same bytes): nothing was processed again.
    case alreadyDone(FileRecord)
    /// Another worker is processing it now.
    case heldElsewhere(FileRecord)
    /// It failed before and waits for a retry (`retry`).
    case awaitingRetry(FileRecord)
    case notFound(sha256: String)

    public var record: FileRecord? {
        switch self {
        case .processed(let r), .failed(let r), .alreadyDone(let r), .heldElsewhere(let r), .awaitingRetry(let r): r
        case .notFound: nil
        }
    }
}

/// The processing claim was lost (the lease ran out and another worker took the file over).
struct FileClaimLost: Error, CustomStringConvertible {
    var sha256: String
    var description: String { "the claim on file \(sha256) was lost (lease ran out; another worker took it over)" }
}

/// The file manager: stores files by content hash, records them, and processes each once.
///
/// A file's identity is its SHA-256; its bytes live in the object store under `objectKey(sha256:)` and its record
/// in the metadata store. Processing is claimed with a lease in the metadata store (renewed while it runs), so the
/// same bytes added on two workers at once are processed once, and a file whose worker died is finished by the
/// next worker that starts (`finishUnfinished`) or asks (`process`).
public final class FileCatalog: Sendable {
    public struct Configuration: Sendable {
        public var workerID: String
        public var settings: VectorStreamConfiguration.FilesSettings
        /// The engine settings of the events backfill (limits, batch size).
        public var engine: EngineConfiguration
        /// Products per vector-store write (claims, cache lookups, one upsert). Default 256.
        public var productBatchSize = 256
        /// How long a download URL is valid (S3 presigned). Default 1 h.
        public var downloadURLExpiry: Duration = .seconds(3600)

        public init(workerID: String, settings: VectorStreamConfiguration.FilesSettings = .init(),
                    engine: EngineConfiguration = EngineConfiguration()) {
            self.workerID = workerID
            self.settings = settings
            self.engine = engine
        }
    }

    public let configuration: Configuration
    public let objects: any ObjectStore
    public let metadata: any FileMetadataStore
    public let local: any LocalFileAccess
    /// The worker's stages; a file's events replace the source, its products use the rest.
    let stages: PipelineStages
    /// An event source over a local JSON-lines file (the embedded module's, committing offsets there).
    let makeEventSource: @Sendable (String) throws -> any EventSource
    let fileNotifier: (any FileProcessedNotifier)?
    let logger: Logger

    public init(configuration: Configuration, objects: any ObjectStore, metadata: any FileMetadataStore,
                local: any LocalFileAccess, stages: PipelineStages,
                makeEventSource: @escaping @Sendable (String) throws -> any EventSource,
                notifier: (any FileProcessedNotifier)? = nil, logger: Logger = Logger(label: "vectorstream.files")) {
        self.configuration = configuration
        self.objects = objects
        self.metadata = metadata
        self.local = local
        self.stages = stages
        self.makeEventSource = makeEventSource
        fileNotifier = notifier
        self.logger = logger
    }

    /// Content-addressed: `files/sha256/ab/cd/<sha256>` (two levels of fan-out keep directories and listings small).
    public static func objectKey(sha256: String) -> String {
        let u = Array(sha256.utf8)
        return "files/sha256/\(String(decoding: u[0..<2], as: UTF8.self))/\(String(decoding: u[2..<4], as: UTF8.self))/\(sha256)"
    }

    // MARK: Adding files

    /// The SHA-256 and size of a local file, streamed.
    public func digest(of path: String) throws -> (sha256: String, size: Int64) {
        let reader = try local.openForReading(path)
        defer { reader.close() }
        var hasher = StreamingSHA256()
        while true {
            let chunk = try reader.read(upTo: 1 << 20)
            if chunk.isEmpty { break }
            hasher.update(chunk)
        }
        return (hasher.finalize(), hasher.count)
    }

    /// Stores a local file (hashing it first) and records it; see `add(path:sha256:size:...)`.
    public func add(path: String, name: String, kind: FileKind, contentType: String) async throws -> FileRegistration {
        let (sha256, size) = try digest(of: path)
        return try await add(path: path, sha256: sha256, size: size, name: name, kind: kind, contentType: contentType)
    }

    /// Stores the bytes at `path` (already hashed) under their content-addressed key unless the store has them,
    /// then records the file as `queued` unless it is known. The object is stored before the record, so a record
    /// never names missing bytes. A known file whose status is `failed` is queued again (a re-upload is a retry).
    public func add(path: String, sha256: String, size: Int64, name: String, kind: FileKind,
                    contentType: String) async throws -> FileRegistration {
        guard size <= Int64(configuration.settings.maxBytes) else {
            throw FileTooLarge(size: size, limit: Int64(configuration.settings.maxBytes))
        }
        if let known = try await metadata.record(sha256: sha256) {
            if known.status == .failed, case .requeued(let again) = try await metadata.requeue(sha256: sha256) {
                return .existing(again)
            }
            return .existing(known)
        }
        let key = Self.objectKey(sha256: sha256)
        if try await objects.head(key: key)?.size != size {
            _ = try await objects.upload(file: path, to: key, contentType: contentType)
        }
        let record = FileRecord(sha256: sha256, name: name, size: size, kind: kind, contentType: contentType,
                                objectKey: key, uploadedAt: wallClockMillis())
        let registration = try await metadata.register(record)
        if case .created = registration {
            logger.info("file stored", metadata: ["sha256": "\(sha256)", "name": "\(name)", "kind": "\(kind.rawValue)",
                                                  "bytes": "\(size)", "store": "\(objects.location)"])
        }
        return registration
    }

    public func record(sha256: String) async throws -> FileRecord? { try await metadata.record(sha256: sha256) }

    public func list(limit: Int, after cursor: FileCursor?) async throws -> FilePage {
        try await metadata.list(limit: limit, after: cursor)
    }

    /// A URL the file can be fetched from without credentials (S3 presigned); nil where the store has none.
    public func downloadURL(for record: FileRecord) async throws -> String? {
        try await objects.downloadURL(key: record.objectKey, expiresIn: configuration.downloadURLExpiry)
    }

    /// A failed file back to `queued`; then `process` it.
    public func retry(sha256: String) async throws -> FileRequeueOutcome {
        try await metadata.requeue(sha256: sha256)
    }

    /// At start: removes partial uploads, then processes every file left `queued` or `processing` with an expired
    /// lease (a worker that died mid-file). Returns what each ended as.
    public func finishUnfinished(progress: (@Sendable (FileRecord, FileProgress) -> Void)? = nil) async -> [FileProcessOutcome] {
        do {
            let removed = try await objects.removeIncompleteUploads(olderThan: .seconds(3600))
            if removed > 0 { logger.notice("removed \(removed) incomplete uploads from \(objects.location)") }
        } catch {
            logger.warning("could not clean incomplete uploads", metadata: ["error": "\(error)"])
        }
        var outcomes: [FileProcessOutcome] = []
        do {
            let pending = try await metadata.unfinished(now: wallClockMillis(), limit: 1000)
            for record in pending {
                logger.notice("finishing a file left unfinished", metadata: [
                    "sha256": "\(record.sha256)", "status": "\(record.status.rawValue)", "holder": "\(record.holder ?? "-")"])
                var perFile: (@Sendable (FileProgress) -> Void)? = nil
                if let progress { perFile = { @Sendable step in progress(record, step) } }
                outcomes.append(await process(sha256: record.sha256, progress: perFile))
            }
        } catch {
            logger.error("could not list unfinished files", metadata: ["error": "\(error)"])
        }
        return outcomes
    }

    // MARK: Processing

    /// Claims and processes the file; errors of processing become the record's `failed` status (and this
    /// outcome), never a throw. Store errors of the claim itself are reported as `failed` too, unrecorded.
    public func process(sha256: String, progress: (@Sendable (FileProgress) -> Void)? = nil) async -> FileProcessOutcome {
        let claim: FileClaimOutcome
        do {
            claim = try await metadata.claim(sha256: sha256, holder: configuration.workerID,
                                              lease: configuration.settings.claimLease, now: wallClockMillis())
        } catch {
            logger.error("file claim failed", metadata: ["sha256": "\(sha256)", "error": "\(error)"])
            guard let record = try? await metadata.record(sha256: sha256) else { return .notFound(sha256: sha256) }
            var failed = record
            failed.error = "claim failed in the \(metadata.backendName) store: \(error)"
            return .failed(failed)
        }
        switch claim {
        case .notFound: return .notFound(sha256: sha256)
        case .done(let r): return .alreadyDone(r)
        case .heldElsewhere(let r): return .heldElsewhere(r)
        case .failed(let r): return .awaitingRetry(r)
        case .won(let record): return await run(record, progress: progress)
        }
    }

    /// Processes a won file with its lease renewed alongside; saves the end state (while still the holder).
    private func run(_ claimed: FileRecord, progress: (@Sendable (FileProgress) -> Void)?) async -> FileProcessOutcome {
        let started = ContinuousClock.now
        let startedMillis = wallClockMillis()
        var record = claimed
        record.counts = FileCounts()
        record.rejectedSamples = []
        record.rejectedByCode = [:]
        record.modelVersion = stages.embedder.modelVersion
        logger.info("processing file", metadata: ["sha256": "\(record.sha256)", "kind": "\(record.kind.rawValue)",
                                                  "attempt": "\(record.attempts)"])
        let workPath = local.temporaryPath("\(record.sha256).\(record.kind.rawValue)")
        defer { local.remove(workPath) }
        let outcome: Result<FileRecord, any Error>
        do {
            outcome = .success(try await processWithLease(record, workPath: workPath, progress: progress))
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .success(var done):
            done.status = .done
            done.error = nil
            done.finishedAt = wallClockMillis()
            done.durationMillis = started.duration(to: .now).wholeMilliseconds
            done.startedAt = startedMillis
            done.leaseUntil = nil
            if let fileNotifier {
                do {
                    try await fileNotifier.fileProcessed(FileProcessed(record: done, modelVersion: stages.embedder.modelVersion,
                                                                       timestamp: wallClockMillis()))
                } catch {
                    // Not announced: the file fails, so a retry (which embeds nothing again) announces it.
                    return await fail(record, error: "processed, but the file_processed notice was not delivered: \(error)",
                                      started: started)
                }
            }
            guard (try? await metadata.save(done, holder: configuration.workerID)) == true else {
                logger.warning("file processed but its claim was lost before the record was saved",
                               metadata: ["sha256": "\(done.sha256)"])
                return .heldElsewhere((try? await metadata.record(sha256: done.sha256)) ?? done)
            }
            logger.info("file processed", metadata: [
                "sha256": "\(done.sha256)", "rows": "\(done.counts.rowsTotal)", "rejected": "\(done.counts.rowsRejected)",
                "embedded": "\(done.counts.productsEmbedded)", "events_stored": "\(done.counts.eventsStored)",
                "ms": "\(done.durationMillis ?? 0)"])
            return .processed(done)
        case .failure(let error):
            if error is CancellationError || Task.isCancelled {
                // Shutting down: not the file's fault. Its claim is handed back (lease ended now), so the next
                // worker to start or sweep finishes it.
                var interrupted = record
                interrupted.leaseUntil = wallClockMillis()
                _ = try? await metadata.save(interrupted, holder: configuration.workerID)
                logger.notice("file processing interrupted; left for the next worker", metadata: ["sha256": "\(record.sha256)"])
                return .heldElsewhere(interrupted)
            }
            if error is FileClaimLost {
                return .heldElsewhere((try? await metadata.record(sha256: record.sha256)) ?? record)
            }
            return await fail(record, error: "\(error)", started: started)
        }
    }

    /// Downloads and processes the file while a sibling task renews its lease; the first to end decides.
    private func processWithLease(_ record: FileRecord, workPath: String,
                                  progress: (@Sendable (FileProgress) -> Void)?) async throws -> FileRecord {
        try await withThrowingTaskGroup(of: FileRecord?.self, returning: FileRecord.self) { group in
            group.addTask {
                _ = try await self.objects.download(key: record.objectKey, to: workPath)
                switch record.kind {
                case .catalog: return try await self.processCatalog(record, path: workPath, progress: progress)
                case .events: return try await self.processEvents(record, path: workPath, progress: progress)
                }
            }
            group.addTask {
                try await self.renewLease(record.sha256)
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let done = next { return done }
            }
            throw CancellationError()
        }
    }

    private func fail(_ record: FileRecord, error: String, started: ContinuousClock.Instant) async -> FileProcessOutcome {
        var failed = record
        failed.status = .failed
        failed.error = error
        failed.finishedAt = wallClockMillis()
        failed.durationMillis = started.duration(to: .now).wholeMilliseconds
        failed.leaseUntil = nil
        logger.error("file failed", metadata: ["sha256": "\(record.sha256)", "error": "\(error)"])
        do {
            guard try await metadata.save(failed, holder: configuration.workerID) else {
                return .heldElsewhere((try? await metadata.record(sha256: record.sha256)) ?? record)
            }
        } catch {
            logger.error("could not record the failure", metadata: ["sha256": "\(record.sha256)", "error": "\(error)"])
        }
        return .failed(failed)
    }

    /// Renews the lease every third of it until cancelled; throws `FileClaimLost` when another worker has it.
    private func renewLease(_ sha256: String) async throws {
        let lease = configuration.settings.claimLease
        while true {
            try await Task.sleep(for: lease / 3)
            let held = try await metadata.renew(sha256: sha256, holder: configuration.workerID, lease: lease,
                                                now: wallClockMillis())
            if !held { throw FileClaimLost(sha256: sha256) }
        }
    }

    /// Adds a rejected row to the record: counted always, kept as a sample while there is room.
    private func reject(_ record: inout FileRecord, row: Int, line: Int, code: String, reason: String) {
        record.counts.rowsRejected += 1
        record.rejectedByCode[code, default: 0] += 1
        if record.rejectedSamples.count < configuration.settings.rejectedSamples {
            record.rejectedSamples.append(RejectedRow(row: row, line: line, code: code, reason: reason))
        }
    }

    private func processCatalog(_ start: FileRecord, path: String,
                                progress: (@Sendable (FileProgress) -> Void)?) async throws -> FileRecord {
        var record = start
        let reader = try local.openForReading(path)
        defer { reader.close() }
        let first = try reader.read(upTo: 1 << 20)
        let format = CatalogFormat.detect(name: record.name, contentType: record.contentType, firstBytes: first)
        var rows = CatalogRowReader(format: format, limits: configuration.engine.limits)
        let writer = CatalogProductWriter(stages: stages, claimRetryInterval: configuration.engine.claimRetryInterval)
        var pending: [Product] = []
        var batchNumber = 0
        var bytesRead = Int64(first.count)
        func take(_ parsed: [CatalogRow]) async throws {
            for row in parsed {
                record.counts.rowsTotal += 1
                switch row.result {
                case .success(let product):
                    record.counts.rowsAccepted += 1
                    pending.append(product)
                case .failure(let error):
                    reject(&record, row: row.row, line: row.line, code: error.code, reason: error.description)
                }
                if pending.count >= configuration.productBatchSize { try await flush() }
            }
        }
        func flush() async throws {
            guard !pending.isEmpty else { return }
            batchNumber += 1
            let result = try await writer.write(pending, batchID: "file-\(record.sha256.prefix(16))-\(batchNumber)")
            record.counts.productsEmbedded += Int64(result.embedded)
            record.counts.productsPayloadUpdated += Int64(result.payloadUpdated)
            record.counts.productsUnchanged += Int64(result.unchanged)
            pending.removeAll(keepingCapacity: true)
            progress?(FileProgress(rows: record.counts.rowsTotal, bytesRead: bytesRead, bytesTotal: record.size))
        }
        var chunk = first
        do {
            while !chunk.isEmpty {
                try Task.checkCancellation()
                try await take(try rows.feed(chunk))
                chunk = try reader.read(upTo: 1 << 20)
                bytesRead += Int64(chunk.count)
            }
            try await take(try rows.finish())
        } catch let error as CatalogFileError {
            throw error
        }
        try await flush()
        progress?(FileProgress(rows: record.counts.rowsTotal, bytesRead: bytesRead, bytesTotal: record.size))
        return record
    }

    /// Replays the file's events through a second engine over the worker's stages: event dedup stores each once,
    /// whether it came through Kafka, another file or this one.
    private func processEvents(_ start: FileRecord, path: String,
                               progress: (@Sendable (FileProgress) -> Void)?) async throws -> FileRecord {
        var record = start
        let samples = SampledDeadLetters(inner: stages.deadLetters, limit: configuration.settings.rejectedSamples)
        var fileStages = stages
        fileStages.source = try makeEventSource(path)
        fileStages.deadLetters = samples
        fileStages.liveState = nil
        var engineConfiguration = configuration.engine
        engineConfiguration.workerID = configuration.workerID + "-file-" + String(record.sha256.prefix(8))
        let engine = MicroBatchEngine(configuration: engineConfiguration, stages: fileStages, logger: logger)
        let size = record.size
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            if let progress {
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(500))
                        let s = engine.stats
                        progress(FileProgress(rows: s.eventsTotal, bytesRead: 0, bytesTotal: size))
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
        let stats = engine.stats
        record.counts.rowsTotal = stats.eventsTotal
        record.counts.rowsAccepted = stats.eventsValid
        record.counts.eventsStored = stats.eventsStored
        record.counts.eventsDeduplicated = stats.eventsDeduplicated
        record.counts.productsEmbedded = stats.productsEmbedded
        // Rejections: all counted by the engine; the sampled ones get their line numbers from one more pass.
        let rejected = samples.taken()
        record.counts.rowsRejected = stats.eventsRejected
        record.rejectedByCode = samples.codes()
        let lines = try lineNumbers(of: rejected.map(\.offset), in: path)
        record.rejectedSamples = rejected.map { r in
            RejectedRow(row: lines[r.offset] ?? 0, line: lines[r.offset] ?? 0, code: r.code, reason: r.reason)
        }
        progress?(FileProgress(rows: record.counts.rowsTotal, bytesRead: record.size, bytesTotal: record.size))
        return record
    }

    /// 1-based line numbers of the given byte offsets (line starts), in one pass up to the largest.
    private func lineNumbers(of offsets: [Int64], in path: String) throws -> [Int64: Int] {
        guard let last = offsets.max() else { return [:] }
        let wanted = Set(offsets)
        var result: [Int64: Int] = [:]
        let reader = try local.openForReading(path)
        defer { reader.close() }
        var position: Int64 = 0
        var line = 1
        if wanted.contains(0) { result[0] = 1 }
        while position <= last {
            let chunk = try reader.read(upTo: 1 << 20)
            if chunk.isEmpty { break }
            for b in chunk {
                position += 1
                if b == 0x0A {
                    line += 1
                    if wanted.contains(position) { result[position] = line }
                }
            }
        }
        return result
    }
}

/// A file larger than `files.max_bytes`.
public struct FileTooLarge: Error, Sendable, Hashable, CustomStringConvertible {
    public var size: Int64
    public var limit: Int64
    public var description: String { "the file is \(size) bytes, over the limit of \(limit) (files.max_bytes)" }
}

/// Passes rejected records on to the worker's dead-letter sink and keeps the first few (and counts by code)
/// for the file's record.
final class SampledDeadLetters: DeadLetterSink {
    struct Sample: Sendable { var offset: Int64; var code: String; var reason: String }
    let inner: any DeadLetterSink
    let limit: Int
    private let state = Mutex<(samples: [Sample], codes: [String: Int64])>(([], [:]))

    init(inner: any DeadLetterSink, limit: Int) {
        self.inner = inner
        self.limit = limit
    }

    func store(_ rejected: [RejectedRecord]) async throws {
        try await inner.store(rejected)
        state.withLock { s in
            for r in rejected {
                s.codes[r.reason.code, default: 0] += 1
                if s.samples.count < limit {
                    s.samples.append(Sample(offset: r.position.offset, code: r.reason.code, reason: r.reason.description))
                }
            }
        }
    }

    func taken() -> [Sample] { state.withLock { $0.samples } }
    func codes() -> [String: Int64] { state.withLock { $0.codes } }
}

/// Processes uploaded files in the background, one at a time (the API answers 202 at once): files enqueued by
/// the API, and at start and then every `sweepInterval` the files left unfinished (queued, or a dead worker's with
/// an expired lease), so a crash mid-file is finished by whichever worker runs next.
public final class FileWorkQueue: Sendable {
    public let catalog: FileCatalog
    /// How often unfinished files are looked for. Default: the claim lease (a dead worker's file waits at most
    /// about two leases).
    public let sweepInterval: Duration
    private let stream: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    public init(catalog: FileCatalog, sweepInterval: Duration? = nil) {
        self.catalog = catalog
        self.sweepInterval = sweepInterval ?? catalog.configuration.settings.claimLease
        (stream, continuation) = AsyncStream.makeStream(of: String.self)
    }

    /// Asks for the file to be processed soon (a duplicate request finds it done or held, and does nothing).
    public func enqueue(_ sha256: String) { continuation.yield(sha256) }

    /// Runs until cancelled.
    public func run() async {
        let sweeps = Task { [catalog, sweepInterval, continuation] in
            while !Task.isCancelled {
                if let unfinished = try? await catalog.metadata.unfinished(now: wallClockMillis(), limit: 1000) {
                    for record in unfinished { continuation.yield(record.sha256) }
                }
                try? await Task.sleep(for: sweepInterval)
            }
        }
        defer { sweeps.cancel() }
        _ = try? await catalog.objects.removeIncompleteUploads(olderThan: .seconds(3600))
        await withTaskCancellationHandler {
            for await sha256 in stream {
                if Task.isCancelled { break }
                _ = await catalog.process(sha256: sha256)
            }
        } onCancel: { [continuation] in
            continuation.finish()
        }
    }
}
