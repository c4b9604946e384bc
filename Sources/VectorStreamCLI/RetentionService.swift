import Logging
import Metrics
import ServiceLifecycle
import VectorStreamCore
import VectorStreamEmbedded

/// Applies the embedded store's retention every `interval`, so a long demo or an endless stream keeps its disk
/// use flat; reports the bytes in use and on disk as gauges.
struct RetentionService: Service {
    let database: EmbeddedDatabase
    let policy: RetentionPolicy
    var interval: Duration = .seconds(30)
    let logger: Logger

    init(database: EmbeddedDatabase, settings: VectorStreamConfiguration.EmbeddedSettings, logger: Logger) {
        self.database = database
        policy = RetentionPolicy(maxAge: settings.retention > .zero ? settings.retention : nil,
                                 maxBytes: settings.maxSizeMB > 0 ? Int64(settings.maxSizeMB) << 20 : nil)
        self.logger = logger
    }

    func run() async throws {
        let inUse = Gauge(label: "vectorstream_embedded_store_bytes", dimensions: [("kind", "in_use")])
        let onDisk = Gauge(label: "vectorstream_embedded_store_bytes", dimensions: [("kind", "on_disk")])
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let report = try database.applyRetention(policy)
                if report.eventsDeleted + report.deadLettersDeleted > 0 {
                    logger.info("retention: deleted old data from the embedded store", metadata: [
                        "events": "\(report.eventsDeleted)", "dead_letters": "\(report.deadLettersDeleted)",
                        "mb_in_use": "\(report.bytesAfter >> 20)",
                    ])
                }
                inUse.record(report.bytesAfter)
                onDisk.record(database.bytesOnDisk())
            } catch {
                logger.warning("retention pass failed; trying again later", metadata: ["error": "\(error)"])
            }
            // Ends the wait at once when the group shuts down, so a finished run does not wait for it.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
