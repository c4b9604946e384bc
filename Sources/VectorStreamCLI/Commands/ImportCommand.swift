import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamKafka
import VectorStreamRedis
import VectorStreamS3
import VectorStreamServer

/// Where the file manager's pieces come from: records in Redis when configured (shared by every worker), else the
/// embedded store; bytes in S3 when `s3.endpoint` is set, else a directory under the data directory.
enum FileStores {
    static func metadata(configuration: VectorStreamConfiguration, database: EmbeddedDatabase,
                         dedup: (any DedupStore)?) throws -> any FileMetadataStore {
        if let redis = dedup as? RedisDedupStore {
            return RedisFileMetadataStore(client: redis.client, keyPrefix: redis.configuration.keyPrefix)
        }
        return SQLiteFileMetadataStore(database: database)
    }

    static func objects(configuration: VectorStreamConfiguration, dataDirectory: String, logger: Logger) throws -> any ObjectStore {
        if let s3 = try makeS3ObjectStore(configuration, logger) { return s3 }
        return try DirectoryObjectStore(root: (dataDirectory as NSString).appendingPathComponent("files/objects"))
    }

    static func workDirectory(_ dataDirectory: String) -> String {
        (dataDirectory as NSString).appendingPathComponent("files/work")
    }
}

extension PipelineAssembly {
    /// The file manager over this worker's stages (the same dedup, embedder, cache and vector store as the stream).
    func fileCatalog(logger: Logger) throws -> FileCatalog {
        let local = try LocalFiles(workDirectory: FileStores.workDirectory(configuration.dataDirectory))
        local.removeStale(olderThan: .seconds(24 * 3600))
        var notifier: (any FileProcessedNotifier)?
        if configuration.kafka.brokers != nil {
            notifier = try KafkaFileProcessedNotifier(
                configuration: try KafkaConfiguration(settings: configuration.kafka, clientID: configuration.pipeline.workerID + "-files"))
        }
        var catalogConfiguration = FileCatalog.Configuration(workerID: configuration.pipeline.workerID,
                                                             settings: configuration.files, engine: configuration.engine)
        catalogConfiguration.productBatchSize = max(configuration.embedder.batchSize * 8, 64)
        let database = database
        return FileCatalog(
            configuration: catalogConfiguration,
            objects: try FileStores.objects(configuration: configuration, dataDirectory: configuration.dataDirectory, logger: logger),
            metadata: try FileStores.metadata(configuration: configuration, database: database, dedup: dedup),
            local: local, stages: stages(source: NoEventSource()),
            makeEventSource: { try JSONLinesFileSource(path: $0, database: database) },
            notifier: notifier, logger: logger)
    }

    /// The API's file routes and their background queue.
    func fileService(logger: Logger) throws -> FileService {
        let catalog = try fileCatalog(logger: logger)
        return FileService(catalog: catalog, queue: FileWorkQueue(catalog: catalog),
                           incomingDirectory: (configuration.dataDirectory as NSString).appendingPathComponent("files/incoming"))
    }
}

/// A source with nothing in it: the file manager replaces it per file.
struct NoEventSource: EventSource {
    func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? { nil }
    func acknowledge(_ token: CommitToken) async throws {}
}

/// `vectorstream import FILE...`: stores each file by its SHA-256, processes it once, prints a summary.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Store files by content hash and process each once (catalog: products into the vector store; events: a backfill).",
        discussion: """
            A catalog is CSV with the header id,name,description,category,price (RFC 4180, UTF-8 BOM and CRLF allowed) or
            JSON lines of products; events are JSON lines in the source schema. The same bytes are processed once
            (again: the record is shown, nothing is embedded). Rejected rows are counted with their reason.
            Exit status: 0 every file done; 1 an error before any file; 2 a file failed; 3 a file is being processed by
            another worker (its lease has not run out).
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Files to import.") var files: [String] = []
    @Option(help: "catalog or events.") var kind: String = "catalog"
    @Option(help: "Name to record (default: the file's name; only with one file).") var name: String?
    @Option(help: "Queue a failed file again by its SHA-256, and process it.") var retry: [String] = []
    @Flag(help: "Print one JSON record per file on stdout.") var json = false

    func validate() throws {
        if files.isEmpty && retry.isEmpty { throw ValidationError("give FILE... or --retry SHA256") }
        if FileKind(rawValue: kind) == nil { throw ValidationError("--kind must be catalog or events, got '\(kind)'") }
        if name != nil && files.count != 1 { throw ValidationError("--name goes with exactly one file") }
        for sha in retry where !FileRecord.isSHA256(sha.lowercased()) { throw ValidationError("--retry needs a SHA-256 (64 hex digits), got '\(sha)'") }
    }

    func run() async throws {
        let config = try global.loadConfiguration()
        try Preflight.checkModel(config)
        _ = Observability.bootstrap(logLevel: global.logLevel)
        let logger = global.makeLogger("vectorstream.import")
        for path in files where !FileManager.default.isReadableFile(atPath: path) {
            throw CLIError("cannot read '\(path)'")
        }
        let assembly = try await PipelineAssembly.make(configuration: config, dataDirectory: config.dataDirectory, logger: logger)
        let catalog: FileCatalog
        do {
            catalog = try assembly.fileCatalog(logger: logger)
        } catch {
            await assembly.shutdown()
            throw error
        }
        var worst: Int32 = 0
        var shas: [(String, String)] = []
        do {
            for sha in retry.map({ $0.lowercased() }) {
                switch try await catalog.retry(sha256: sha) {
                case .notFound: throw CLIError("no file with sha256 \(sha) (`vectorstream files list` shows them)")
                case .notFailed(let r): printError("\(sha) is \(r.status.rawValue), not failed; processing it as it is")
                case .requeued: break
                }
                shas.append((sha, sha))
            }
            for path in files {
                let fileName = name ?? (path as NSString).lastPathComponent
                let contentType = fileName.lowercased().hasSuffix(".csv") ? "text/csv" : "application/x-ndjson"
                let registration = try await catalog.add(path: path, name: fileName, kind: FileKind(rawValue: kind)!,
                                                         contentType: contentType)
                if case .existing(let r) = registration {
                    printError("\(path): known already (sha256 \(r.sha256), \(r.status.rawValue))")
                }
                shas.append((path, registration.record.sha256))
            }
            for (label, sha) in shas {
                let reporter = ProgressReporter(total: nil, label: (label as NSString).lastPathComponent)
                let started = ContinuousClock.now
                let outcome = await catalog.process(sha256: sha) { p in
                    let seconds = Double(started.duration(to: .now).components.seconds) + 0.001
                    let share = p.bytesTotal > 0 && p.bytesRead > 0 ? " · \(min(100, p.bytesRead * 100 / p.bytesTotal))% of the bytes" : ""
                    reporter.update(done: Int(p.rows), rate: Double(p.rows) / seconds, extra: "rows" + share)
                }
                reporter.finish()
                worst = max(worst, report(label, outcome))
            }
        } catch {
            await assembly.shutdown()
            throw error
        }
        await assembly.shutdown()
        if worst != 0 { throw ExitCode(worst) }
    }

    /// Prints the outcome; returns its exit status.
    private func report(_ label: String, _ outcome: FileProcessOutcome) -> Int32 {
        let (status, note): (Int32, String) = switch outcome {
        case .processed: (0, "processed")
        case .alreadyDone: (0, "already processed (same bytes): nothing done")
        case .failed(let r): (2, "FAILED: \(r.error ?? "unknown")")
        case .awaitingRetry(let r): (2, "failed before (\(r.error ?? "unknown")); `vectorstream import --retry \(r.sha256)` runs it again")
        case .heldElsewhere(let r): (3, "being processed by \(r.holder ?? "another worker") (lease until \(r.leaseUntil.map(String.init) ?? "?") ms); run again once it is done or its lease ran out")
        case .notFound(let sha): (2, "no record for \(sha)")
        }
        if json, let record = outcome.record {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            if let data = try? encoder.encode(record) { print(String(decoding: data, as: UTF8.self)) }
        }
        guard let r = outcome.record else {
            printError("\(label): \(note)")
            return status
        }
        let c = r.counts
        var lines = ["\(label): \(note)", "  sha256 \(r.sha256) · \(r.kind.rawValue) · \(ProgressReporter.grouped(Int(r.size))) bytes · \(r.objectKey)"]
        lines.append("  rows \(c.rowsTotal): accepted \(c.rowsAccepted), rejected \(c.rowsRejected)"
                     + (r.rejectedByCode.isEmpty ? "" : " (" + r.rejectedByCode.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"))
        switch r.kind {
        case .catalog:
            lines.append("  products embedded \(c.productsEmbedded), payload updated \(c.productsPayloadUpdated), unchanged \(c.productsUnchanged)")
        case .events:
            lines.append("  events stored \(c.eventsStored), already stored \(c.eventsDeduplicated), products embedded \(c.productsEmbedded)")
        }
        if let ms = r.durationMillis { lines.append("  \(ms) ms") }
        for sample in r.rejectedSamples.prefix(5) { lines.append("  row \(sample.row) (line \(sample.line)): \(sample.reason)") }
        if r.rejectedSamples.count > 5 { lines.append("  ... `vectorstream files show \(r.sha256)` lists \(r.rejectedSamples.count) samples") }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        return status
    }
}

/// The S3 store when `s3.endpoint` (`VECTORSTREAM_S3_ENDPOINT`) is set, else nil (the directory store).
func makeS3ObjectStore(_ configuration: VectorStreamConfiguration, _ logger: Logger) throws -> (any ObjectStore)? {
    try S3ObjectStore.fromConfiguration(configuration, logger: logger)
}

/// The file queue as a service of the worker: files uploaded through the API, and files left unfinished by a
/// worker that died (finished at start and then every claim lease).
struct FileQueueService: Service {
    let queue: FileWorkQueue

    func run() async throws {
        await cancelWhenGracefulShutdown { await queue.run() }
    }
}
