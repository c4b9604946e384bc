import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamPostgres
import VectorStreamServer

/// Runs the engine (and, when asked, the HTTP API) under swift-service-lifecycle until the source ends or a signal.
struct PipelineRunner {
    let assembly: PipelineAssembly
    let engineConfiguration: EngineConfiguration
    let http: APIServerConfiguration?
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    /// For the progress bar: how many events are expected, when known.
    let expectedEvents: Int?
    /// Stop when the source has been idle this long (Kafka `--until-idle`).
    var untilIdle: Duration?
    /// For `--until-idle` with Kafka: whether the group has read up to the high watermarks.
    var isCaughtUp: (@Sendable () async -> Bool)?
    /// Keep serving the API after the source ends (until interrupted).
    var serveAfterSource = false
    /// How long a batch being stored may take to finish after SIGTERM/SIGINT.
    var shutdownGrace: Duration = .seconds(10)
    /// `POST /v1/ingest`; nil: one over the assembly's stages (`serve` passes its own to report its figures).
    var ingest: IngestService?

    /// Returns the engine's final figures. The caller shuts the assembly down (after reading its summary).
    func run(source: any EventSource) async throws -> PipelineStats {
        let engine = MicroBatchEngine(configuration: engineConfiguration, stages: assembly.stages(source: source),
                                      logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: PipelineService(engine: engine, untilIdle: untilIdle, isCaughtUp: isCaughtUp, logger: logger),
                  successTerminationBehavior: serveAfterSource ? .ignore : .gracefullyShutdownGroup,
                  failureTerminationBehavior: .gracefullyShutdownGroup)
        ]
        // The file queue runs on every worker, serving or not: a file whose worker died mid-processing (or that was
        // uploaded to a worker that has since stopped) is finished by whichever worker looks next (docs/files.md).
        // A file store that cannot open leaves the queue and the file routes out, said once.
        var files: FileService?
        do {
            let service = try assembly.fileService(logger: logger)
            files = service
            services.append(.init(service: FileQueueService(queue: service.queue), successTerminationBehavior: .ignore,
                                  failureTerminationBehavior: .ignore))
        } catch {
            logger.warning("file queue and routes disabled: \(error)")
        }
        if let http {
            // The console's sources: dead letters and metrics history from the embedded store (with Kafka it
            // mirrors the dead-letter topic), its size, and the embedder's measured rate.
            let database = assembly.database
            let history = SnapshotMetricsHistory { from, to, thin, worker in
                try database.metricsSnapshots(from: from, to: to, bucketMillis: thin, worker: worker)
                    .map { MetricsSnapshot(worker: $0.worker, at: $0.at, stats: $0.stats) }
            }
            let storeSize: @Sendable () -> StoreSize = {
                StoreSize(bytesInUse: try? database.bytesInUse(), bytesOnDisk: database.bytesOnDisk())
            }
            var embedderDetails: (@Sendable () -> EmbedderDetails)?
            if let metered = assembly.embedder as? MeteredEmbedder { embedderDetails = { metered.details() } }
            var dependencies = APIDependencies(
                embedder: assembly.embedder, vectors: assembly.vectors, analytics: assembly.analytics,
                queryCache: assembly.queryCache, liveState: assembly.liveState, health: assembly.health,
                prometheus: registry, localStats: { engine.stats })
            dependencies.deadLetters = assembly.sqliteEvents
            // With PostgreSQL the history is every worker's, from there (docs/metrics.md).
            dependencies.metricsHistory = assembly.metricsStore?.history ?? history
            dependencies.storeSize = storeSize
            dependencies.embedderDetails = embedderDetails
            dependencies.files = files
            dependencies.ingest = ingest ?? assembly.ingestService(engine: engineConfiguration)
            let server = APIServer(configuration: http, dependencies: dependencies)
            let app = server.makeApplication(logger: logger) { port in
                FileHandle.standardError.write(Data("vectorstream: API and dashboard on http://\(http.host):\(port)/\n".utf8))
            }
            services.append(.init(service: app))
        }
        // Dependency states for /metrics and the metrics history, checked apart from both (docs/metrics.md).
        let monitor = DependencyMonitor(checks: assembly.health)
        services.append(.init(service: monitor, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        if let store = assembly.metricsStore {
            let counter = assembly.deadLetterCounter
            services.append(.init(service: PostgresMetricsService(store: store) {
                MetricsObservation(at: wallClockMillis(), stats: engine.stats, deadLettersByReason: counter?.byReason() ?? [:],
                                   dependencies: monitor.latest())
            }, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        services.append(.init(service: RetentionService(database: assembly.database,
                                                        settings: assembly.configuration.embedded, logger: logger),
                              successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        let progress = Task { await reportProgress(engine) }
        defer { progress.cancel() }
        var groupConfiguration = ServiceGroupConfiguration(services: services,
                                                           gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)
        // A batch being stored gets this long to finish after a signal; then it is cancelled (never acknowledged).
        groupConfiguration.maximumGracefulShutdownDuration = shutdownGrace
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
        progress.cancel()
        return engine.stats
    }

    /// The rate shown is the engine's, over its recent window: counters move once per batch, so a rate over
    /// the half second between two redraws reads 0 or double.
    private func reportProgress(_ engine: MicroBatchEngine) async {
        let reporter = ProgressReporter(total: expectedEvents, label: "events")
        let interval: Duration = reporter.isTerminal ? .milliseconds(500) : .seconds(5)
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { break }
            let s = engine.stats
            reporter.update(done: Int(s.eventsTotal), rate: s.recentEventsPerSecond,
                            extra: "rejected \(ProgressReporter.grouped(Int(s.eventsRejected))) · embedded \(s.productsEmbedded) · p99 \(String(format: "%.0f", s.recentLatencyP99Millis)) ms (1 min)")
        }
        reporter.finish()
    }
}

/// The engine as a Service: a graceful shutdown (SIGTERM, SIGINT) ends a poll at once and lets a batch being
/// stored finish; a batch that is only waiting (retry backoff, another worker's claims) is abandoned
/// unacknowledged. `--until-idle` is decided by the engine itself: polls that bring nothing, nothing in flight.
struct PipelineService: Service {
    let engine: MicroBatchEngine
    let untilIdle: Duration?
    let isCaughtUp: (@Sendable () async -> Bool)?
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await engine.run(untilIdle: untilIdle, isCaughtUp: isCaughtUp)
        } onGracefulShutdown: {
            engine.requestStop()
        }
    }
}
