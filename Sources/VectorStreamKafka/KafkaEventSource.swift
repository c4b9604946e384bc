import CRdKafka
import Logging
import VectorStreamCore

/// The raw-events topic as the engine's `EventSource`, for one worker of a consumer group.
///
/// At-least-once: `acknowledge` commits exactly a batch's next offsets, after the engine stored the batch.
/// A batch read before a rebalance revoked partitions is abandoned, never committed (nor half-committed):
/// the partitions' new owner reads those records again and the dedup stage absorbs them.
public final class KafkaEventSource: EventSource {
    public let configuration: KafkaConfiguration
    public let consumer: KafkaConsumer
    private let logger: Logger

    /// Creates the configured topics when asked to (``KafkaConfiguration/topicCreation``), then joins the group.
    public init(configuration: KafkaConfiguration,
                logger: Logger = Logger(label: "vectorstream.kafka.source")) async throws {
        try KafkaLibrary.checkVersion()
        try await KafkaAdmin.createConfiguredTopics(configuration, logger: logger)
        self.configuration = configuration
        self.logger = logger
        self.consumer = try KafkaConsumer(configuration: configuration, logger: logger)
    }

    /// Drains the consumer queue until `maxRecords` records are there or `deadline` passes.
    /// Returns nil once ``close()`` was called.
    public func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? {
        guard !consumer.isClosed else { return nil }
        let fromTimestamp = configuration.latencyFromMessageTimestamp
        let names = TopicNames()
        let polled: KafkaConsumer.Polled<RawRecord>
        do {
            polled = try await consumer.poll(maxMessages: maxRecords, deadline: deadline, returnEarly: false) { message in
                Self.record(from: message, topicNames: names, latencyFromTimestamp: fromTimestamp)
            }
        } catch let error as KafkaError where error.kind == .closed {
            return nil
        }
        var next: [TopicPartition: Int64] = [:]
        for record in polled.items {
            let tp = TopicPartition(topic: record.position.topic, partition: record.position.partition)
            next[tp] = max(next[tp] ?? 0, record.position.offset + 1)
        }
        return RecordBatch(records: polled.items, commitToken: CommitToken(nextOffsets: next, generation: polled.generation))
    }

    /// Commits the token's offsets, unless a rebalance happened since its batch was read (then it is
    /// abandoned: logged, not thrown, so the engine does not retry a batch that is already stored).
    public func acknowledge(_ token: CommitToken) async throws {
        let committed = try await consumer.commit(token.nextOffsets, generation: token.generation)
        if !committed {
            logger.info("batch abandoned after a rebalance; its records will be redelivered",
                        metadata: ["partitions": "\(token.nextOffsets.keys.map(\.description).sorted())"])
        }
    }

    /// Messages the group has not yet committed, per partition this worker owns, from the client's own
    /// knowledge (the engine asks after every batch): its commits and the high watermarks of its fetches.
    public func lag() async -> [TopicPartition: Int64] {
        do {
            return try await consumer.cachedLag()
        } catch {
            logger.warning("kafka lag unavailable", metadata: ["error": "\(error)"])
            return [:]
        }
    }

    /// True when this worker is in the group and has read up to the end its latest fetch of each owned
    /// partition reported. `run --until-idle` also requires that polls brought nothing for the idle time, so a
    /// high watermark reported below the real end (tansu does, at times) cannot end a run early on its own, and
    /// no ListOffsets "latest" answer is trusted (tansu's can be wrong).
    ///
    /// - Parameter quietFor: also require that no partition was assigned or revoked for this long: a rebalance
    ///   (another worker gone) hands over partitions this worker has not read yet.
    /// - Parameter wholeGroup: also require that the group committed the partitions this worker does not own up
    ///   to their end (a dead partner's partitions come to this worker only after its session times out).
    public func isCaughtUp(quietFor: Duration = .zero, wholeGroup: Bool = false) async -> Bool {
        guard consumer.hasJoinedGroup, consumer.timeSinceRebalance >= quietFor, consumer.hasReadToLastFetchedEnd() else {
            return false
        }
        guard wholeGroup else { return true }
        return await consumer.groupHasCommittedOtherPartitionsToEnd()
    }

    /// Leaves the group without committing; ``nextBatch(maxRecords:deadline:)`` returns nil afterwards.
    public func close() async {
        await consumer.close()
    }

    static func record(from m: UnsafePointer<rd_kafka_message_t>, topicNames: TopicNames,
                       latencyFromTimestamp: Bool) -> RawRecord {
        let bytes = m.pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.pointee.len)) } ?? []
        let position = SourcePosition(topic: topicNames.name(of: m.pointee.rkt),
                                      partition: m.pointee.partition, offset: m.pointee.offset)
        var arrival = monotonicNanos()
        if latencyFromTimestamp {
            var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let produced = rd_kafka_message_timestamp(m, &type)
            if type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE {
                // Map the wall-clock produce time onto the monotonic clock the engine measures with.
                let age = max(0, wallClockMillis() - produced)
                arrival = arrival &- min(arrival, UInt64(age) * 1_000_000)
            }
        }
        return RawRecord(bytes: bytes, position: position, arrivalNanos: arrival)
    }
}

/// Topic names by librdkafka topic handle, so a batch does not build the same string per message.
/// `@unchecked Sendable`: used by one poll call at a time, on the consumer's poll queue.
final class TopicNames: @unchecked Sendable {
    private var last: (handle: OpaquePointer, name: String)?

    func name(of handle: OpaquePointer?) -> String {
        guard let handle else { return "" }
        if let last, last.handle == handle { return last.name }
        let name = String(cString: rd_kafka_topic_name(handle))
        last = (handle, name)
        return name
    }
}
