import CRdKafka
import Dispatch
import Logging
import Synchronization
import VectorStreamCore

/// The partitions a consumer owns, and the rebalance generation that a commit must still belong to.
final class AssignmentState: Sendable {
    struct State: Sendable {
        /// Bumped on every revocation (and lost assignment): a batch read before it must not be committed.
        var generation = 0
        var assigned: Set<TopicPartition> = []
        /// False until the group first gave this consumer an assignment (possibly empty).
        var hasJoined = false
        /// When partitions were last assigned or revoked (`--until-idle` counts idleness from it too).
        var changedAt = ContinuousClock.now
    }

    let state = Mutex(State())

    func assigned(_ partitions: [TopicPartition]) {
        state.withLock { s in
            s.assigned.formUnion(partitions)
            s.hasJoined = true
            s.changedAt = .now
        }
    }

    func revoked(_ partitions: [TopicPartition]) {
        state.withLock { s in
            s.assigned.subtract(partitions)
            s.generation += 1
            s.changedAt = .now
        }
    }

    var generation: Int { state.withLock { $0.generation } }
}

/// One consumed Kafka message.
public struct KafkaConsumerMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    /// Milliseconds since the epoch (CreateTime set by the producer, or LogAppendTime); nil when absent.
    public var timestamp: EpochMillis?
    public var headers: [(name: String, value: [UInt8]?)] { headerPairs.map { ($0.name, $0.value) } }
    var headerPairs: [Header]

    struct Header: Sendable, Hashable {
        var name: String
        var value: [UInt8]?
    }

    /// The value of the first header with this name.
    public func header(_ name: String) -> [UInt8]? {
        headerPairs.first { $0.name == name }?.value ?? nil
    }
}

/// A group consumer over librdkafka.
///
/// Every call that serves the consumer queue (and so runs the rebalance callback) happens on one serial
/// dispatch queue, outside Swift's cooperative pool, in slices of at most 100 ms so that cancellation and
/// `close()` are noticed. Offsets are never committed automatically: only ``commit(_:generation:)`` does.
public final class KafkaConsumer: Sendable {
    public let configuration: KafkaConfiguration
    let handle: RdKafkaHandle
    let assignment: AssignmentState
    private let queue: ConsumerQueue
    private let pollQueue = DispatchQueue(label: "vectorstream.kafka.consumer.poll")
    private let queryQueue = DispatchQueue(label: "vectorstream.kafka.consumer.query", attributes: .concurrent)
    private let closed = Atomic<Bool>(false)
    /// Committed offsets as last known (our own commits, or asked once): `lag()` must not cost a broker
    /// round trip per partition after every batch.
    private let committedCache = Mutex<[TopicPartition: Int64]>([:])
    private let logger: Logger

    /// Creates the consumer and subscribes to `topics` (default: the configuration's raw-events topic).
    public init(configuration: KafkaConfiguration, topics: [String]? = nil,
                logger: Logger = Logger(label: "vectorstream.kafka.consumer")) throws {
        self.configuration = configuration
        self.logger = logger
        let assignment = AssignmentState()
        self.assignment = assignment
        let handle = try RdKafkaHandle(role: .consumer, properties: configuration.consumerProperties,
                                       context: ClientContext(logger: logger, assignment: assignment)) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, kafkaRebalanceCallback)
        }
        self.handle = handle
        rd_kafka_poll_set_consumer(handle.pointer)
        guard let queue = rd_kafka_queue_get_consumer(handle.pointer) else {
            throw KafkaError(.client, "no consumer queue")
        }
        self.queue = ConsumerQueue(pointer: queue)
        let subscription = topics ?? [configuration.topic]
        let list = rd_kafka_topic_partition_list_new(Int32(subscription.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in subscription { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let err = rd_kafka_subscribe(handle.pointer, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            // deinit closes the consumer and destroys the queue.
            throw KafkaError(.client, "subscribe to \(subscription)", error: err)
        }
        logger.info("kafka consumer subscribed", metadata: [
            "topics": "\(subscription)", "group": "\(configuration.groupID)",
            "brokers": "\(configuration.bootstrapServers)", "librdkafka": "\(KafkaLibrary.versionString)",
        ])
    }

    deinit {
        if !closed.load(ordering: .acquiring) {
            rd_kafka_consumer_close(handle.pointer)
        }
        rd_kafka_queue_destroy(queue.pointer)
    }

    /// Leaves the group (its partitions move to the other workers at once) without committing anything.
    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let handle = self.handle
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            pollQueue.async {
                rd_kafka_consumer_close(handle.pointer)
                continuation.resume()
            }
        }
    }

    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// The messages, pulled one batch at a time: nothing is fetched beyond librdkafka's own prefetch until the
    /// sequence is iterated, so a slow reader slows consumption (pull-based backpressure).
    public var messages: KafkaConsumerMessages { KafkaConsumerMessages(consumer: self) }

    // MARK: Polling

    struct Polled<Item: Sendable>: Sendable {
        var items: [Item]
        /// The generation when polling began: a revocation during the poll makes the batch stale.
        var generation: Int
    }

    /// Up to `maxMessages` messages, waiting at most until `deadline` for the first ones.
    ///
    /// Returns early once at least one message is there and `returnEarly` is set (the async sequence);
    /// otherwise it fills the batch until it is full or the deadline passes (micro-batches).
    func poll<Item: Sendable>(maxMessages: Int, deadline: ContinuousClock.Instant, returnEarly: Bool,
                              transform: @escaping @Sendable (UnsafePointer<rd_kafka_message_t>) -> Item?
    ) async throws -> Polled<Item> {
        let cancelled = CancelFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Polled<Item>, Error>) in
                pollQueue.async { [self] in
                    continuation.resume(with: Result {
                        try pollBlocking(maxMessages: maxMessages, deadline: deadline, returnEarly: returnEarly,
                                         cancelled: cancelled, transform: transform)
                    })
                }
            }
        } onCancel: {
            cancelled.value.store(true, ordering: .releasing)
        }
    }

    private func pollBlocking<Item: Sendable>(maxMessages: Int, deadline: ContinuousClock.Instant, returnEarly: Bool,
                                              cancelled: CancelFlag,
                                              transform: (UnsafePointer<rd_kafka_message_t>) -> Item?) throws -> Polled<Item> {
        guard !isClosed else { throw KafkaError(.closed, "the consumer is closed") }
        let generation = assignment.generation
        var out: [Item] = []
        out.reserveCapacity(min(maxMessages, 65_536))
        let chunk = min(max(maxMessages, 1), 4096)
        let buffer = UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>.allocate(capacity: chunk)
        defer { buffer.deallocate() }
        while out.count < maxMessages && !isClosed && !cancelled.value.load(ordering: .acquiring) {
            let remaining = ContinuousClock.now.duration(to: deadline).milliseconds
            let timeout = Int32(clamping: max(0, min(remaining, 100)))
            let requested = min(chunk, maxMessages - out.count)
            let n = rd_kafka_consume_batch_queue(queue.pointer, timeout, buffer, requested)
            if n < 0 { throw KafkaError(.client, "consume", error: rd_kafka_last_error()) }
            for i in 0..<n {
                guard let message = buffer[i] else { continue }
                defer { rd_kafka_message_destroy(message) }
                if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    try handleConsumerError(message)
                    continue
                }
                if let converted = transform(message) { out.append(converted) }
            }
            if returnEarly && !out.isEmpty { break }
            // Past the deadline, wait no longer but take what is already queued: behind a backlog the batch
            // fills up to `maxMessages` (larger batches amortise each commit), as a Spark trigger would.
            if remaining <= 0 && n < requested { break }
        }
        return Polled(items: out, generation: generation)
    }

    private func handleConsumerError(_ message: UnsafeMutablePointer<rd_kafka_message_t>) throws {
        let err = message.pointee.err
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
        let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
        var reason = [CChar](repeating: 0, count: 512)
        if rd_kafka_fatal_error(handle.pointer, &reason, reason.count) != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(.client, "fatal consumer error: \(RdKafkaHandle.string(reason))", code: err.rawValue)
        }
        // Transient (broker down, topic not yet there): librdkafka retries by itself.
        logger.warning("kafka consumer error", metadata: ["error": "\(text)", "code": "\(err.rawValue)"])
    }

    static func message(from m: UnsafePointer<rd_kafka_message_t>) -> KafkaConsumerMessage? {
        let topic = String(cString: rd_kafka_topic_name(m.pointee.rkt))
        let value = m.pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.pointee.len)) } ?? []
        let key = m.pointee.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.pointee.key_len)) }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(m, &timestampType)
        var headers: [KafkaConsumerMessage.Header] = []
        var hdrs: OpaquePointer?
        if rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            var index = 0
            var name: UnsafePointer<CChar>?
            var valuePointer: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(hdrs, index, &name, &valuePointer, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers.append(.init(name: name.map { String(cString: $0) } ?? "",
                                     value: valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
                index += 1
            }
        }
        return KafkaConsumerMessage(topic: topic, partition: m.pointee.partition, offset: m.pointee.offset,
                                    key: key, value: value,
                                    timestamp: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp,
                                    headerPairs: headers)
    }

    // MARK: Offsets

    /// Commits exactly `offsets` (next offset to read per partition), synchronously, unless a rebalance
    /// revoked partitions since `generation`: then nothing is committed and false is returned. The records
    /// will be read again by whoever owns the partitions now, and the dedup stage absorbs them.
    @discardableResult
    public func commit(_ offsets: [TopicPartition: Int64], generation: Int) async throws -> Bool {
        guard !offsets.isEmpty else { return true }
        let handle = self.handle
        let assignment = self.assignment
        let logger = self.logger
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, Error>) in
            // On the poll queue: a rebalance cannot run between the generation check and the commit.
            pollQueue.async { [self] in
                guard !isClosed else {
                    continuation.resume(throwing: KafkaError(.closed, "the consumer is closed"))
                    return
                }
                let current = assignment.generation
                guard current == generation else {
                    logger.info("batch from before a rebalance: not committed", metadata: [
                        "batch_generation": "\(generation)", "generation": "\(current)",
                    ])
                    continuation.resume(returning: false)
                    return
                }
                let list = makeList(offsets)
                defer { rd_kafka_topic_partition_list_destroy(list) }
                let err = rd_kafka_commit(handle.pointer, list, 0)
                if err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET {
                    committedCache.withLock { $0.merge(offsets) { max($0, $1) } }
                    continuation.resume(returning: true)
                } else if err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION
                            || err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID {
                    // The group moved on while we committed: same as a stale token.
                    logger.info("commit refused by the group coordinator: partitions moved", metadata: [
                        "error": "\(String(cString: rd_kafka_err2str(err)))",
                    ])
                    continuation.resume(returning: false)
                } else {
                    continuation.resume(throwing: KafkaError(.client, "commit", error: err))
                }
            }
        }
    }

    /// The partitions this consumer owns now.
    public var assignedPartitions: Set<TopicPartition> { assignment.state.withLock { $0.assigned } }

    /// How long ago partitions were last assigned to or revoked from this consumer.
    public var timeSinceRebalance: Duration { assignment.state.withLock { $0.changedAt.duration(to: .now) } }

    /// True once the group has given this consumer its first assignment.
    public var hasJoinedGroup: Bool { assignment.state.withLock { $0.hasJoined } }

    /// Per owned partition: committed offset (or -1), consumed position (or -1), low and high watermarks.
    public struct PartitionOffsets: Sendable, Hashable {
        public var committed: Int64
        public var position: Int64
        public var low: Int64
        public var high: Int64

        /// Messages not yet committed by the group.
        public var lag: Int64 { max(0, high - (committed >= 0 ? committed : low)) }
        /// Messages this consumer has not yet read.
        public var unread: Int64 { max(0, high - (position >= 0 ? position : committed >= 0 ? committed : low)) }
    }

    /// Lag per owned partition from what the client already knows: its own commits and the high watermarks
    /// of its latest fetches. Asks the brokers only for committed offsets of partitions it has not seen yet.
    public func cachedLag() async throws -> [TopicPartition: Int64] {
        let owned = assignedPartitions
        let unknown = committedCache.withLock { cache in owned.filter { cache[$0] == nil } }
        if !unknown.isEmpty {
            let fetched = try await offsets(for: Set(unknown))
            committedCache.withLock { cache in
                for (tp, o) in fetched where cache[tp] == nil { cache[tp] = o.committed }
            }
        }
        let committed = committedCache.withLock { $0 }
        var result: [TopicPartition: Int64] = [:]
        for tp in owned {
            var low: Int64 = -1
            var high: Int64 = -1
            guard rd_kafka_get_watermark_offsets(handle.pointer, tp.topic, tp.partition, &low, &high)
                    == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { continue }
            let position = committed[tp] ?? -1
            result[tp] = max(0, high - (position >= 0 ? position : max(low, 0)))
        }
        return result
    }

    /// True when this consumer has fetched from every partition it owns and its position is at the end that
    /// the partition's latest fetch reply reported. Local knowledge only: no ListOffsets request, whose
    /// "latest" answer some brokers get wrong (tansu); a partition not fetched from yet is not caught up.
    public func hasReadToLastFetchedEnd() -> Bool {
        let owned = assignedPartitions
        guard !owned.isEmpty else { return true }
        let list = makeList(Dictionary(uniqueKeysWithValues: owned.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard rd_kafka_position(handle.pointer, list) == RD_KAFKA_RESP_ERR_NO_ERROR else { return false }
        // Nothing consumed since the assignment (a group already at the end): the position is the committed offset.
        var committed: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        defer { if let committed { rd_kafka_topic_partition_list_destroy(committed) } }
        for i in 0..<Int(list.pointee.cnt) {
            let e = list.pointee.elems[i]
            var low: Int64 = -1
            var high: Int64 = -1
            guard rd_kafka_get_watermark_offsets(handle.pointer, e.topic, e.partition, &low, &high)
                    == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return false }
            var position = e.offset
            if position < 0 {
                if committed == nil {
                    let query = makeList(Dictionary(uniqueKeysWithValues: owned.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }))
                    guard rd_kafka_committed(handle.pointer, query, 2_000) == RD_KAFKA_RESP_ERR_NO_ERROR else {
                        rd_kafka_topic_partition_list_destroy(query)
                        return false
                    }
                    committed = query
                }
                let found = committed!
                for j in 0..<Int(found.pointee.cnt) {
                    let c = found.pointee.elems[j]
                    if c.partition == e.partition, String(cString: c.topic) == String(cString: e.topic) { position = c.offset }
                }
                if position < 0 { position = low }  // no commit either: from the start
            }
            if position < high { return false }
        }
        return true
    }

    /// Asks the brokers for offsets of the owned partitions (or of `partitions`).
    public func offsets(for partitions: Set<TopicPartition>? = nil,
                        timeout: Duration = .seconds(5)) async throws -> [TopicPartition: PartitionOffsets] {
        let wanted = partitions ?? assignedPartitions
        guard !wanted.isEmpty else { return [:] }
        let handle = self.handle
        let timeoutMillis = Int32(clamping: timeout.milliseconds)
        return try await withCheckedThrowingContinuation { continuation in
            queryQueue.async {
                continuation.resume(with: Result {
                    let list = makeList(Dictionary(uniqueKeysWithValues: wanted.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }))
                    defer { rd_kafka_topic_partition_list_destroy(list) }
                    let err = rd_kafka_committed(handle.pointer, list, timeoutMillis)
                    guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.client, "committed offsets", error: err) }
                    var committed: [TopicPartition: Int64] = [:]
                    for i in 0..<Int(list.pointee.cnt) {
                        let e = list.pointee.elems[i]
                        committed[TopicPartition(topic: String(cString: e.topic), partition: e.partition)] = e.offset
                    }
                    _ = rd_kafka_position(handle.pointer, list)
                    var result: [TopicPartition: PartitionOffsets] = [:]
                    for i in 0..<Int(list.pointee.cnt) {
                        let e = list.pointee.elems[i]
                        let tp = TopicPartition(topic: String(cString: e.topic), partition: e.partition)
                        var low: Int64 = 0
                        var high: Int64 = 0
                        let werr = rd_kafka_query_watermark_offsets(handle.pointer, e.topic, e.partition,
                                                                    &low, &high, timeoutMillis)
                        guard werr == RD_KAFKA_RESP_ERR_NO_ERROR else {
                            throw KafkaError(.client, "watermarks of \(tp)", error: werr)
                        }
                        result[tp] = PartitionOffsets(committed: committed[tp] ?? -1, position: e.offset,
                                                      low: low, high: high)
                    }
                    return result
                })
            }
        }
    }
}

/// The consumer queue handle; `@unchecked Sendable` because librdkafka queues are thread-safe.
struct ConsumerQueue: @unchecked Sendable {
    let pointer: OpaquePointer
}

final class CancelFlag: Sendable {
    let value = Atomic<Bool>(false)
}

func makeList(_ offsets: [TopicPartition: Int64]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
    for (tp, offset) in offsets {
        rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)!.pointee.offset = offset
    }
    return list
}

func partitions(of list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
    guard let list else { return [] }
    return (0..<Int(list.pointee.cnt)).map {
        TopicPartition(topic: String(cString: list.pointee.elems[$0].topic), partition: list.pointee.elems[$0].partition)
    }
}

/// Runs inside a poll on the consumer's poll queue. Applies the assignment change (incrementally under the
/// cooperative protocol) and bumps the generation on every revocation so that a batch read before it is
/// abandoned instead of committed.
private let kafkaRebalanceCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { rk, err, list, _ in
    guard let rk, let context = RdKafkaHandle.context(of: rk), let state = context.assignment else { return }
    let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
    let changed = partitions(of: list)
    if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
        context.logger.info("kafka partitions assigned", metadata: [
            "partitions": "\(changed.map(\.description))", "cooperative": "\(cooperative)",
        ])
        if cooperative {
            if let error = rd_kafka_incremental_assign(rk, list) {
                context.logger.error("incremental assign failed", metadata: ["error": "\(String(cString: rd_kafka_error_string(error)))"])
                rd_kafka_error_destroy(error)
            }
        } else {
            rd_kafka_assign(rk, list)
        }
        state.assigned(changed)
    } else {
        let lost = rd_kafka_assignment_lost(rk) != 0
        context.logger.info("kafka partitions revoked", metadata: [
            "partitions": "\(changed.map(\.description))", "lost": "\(lost)",
        ])
        state.revoked(changed)
        if cooperative {
            if let error = rd_kafka_incremental_unassign(rk, list) { rd_kafka_error_destroy(error) }
        } else {
            rd_kafka_assign(rk, nil)
        }
    }
}

/// The consumer's messages as an `AsyncSequence`, in the manner of swift-kafka-client's
/// `KafkaConsumerMessages`: each `next()` pulls from librdkafka only when the buffer is empty.
/// Ends when the consumer is closed or the task is cancelled. Offsets are committed by the caller.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage
    let consumer: KafkaConsumer
    /// Messages fetched per pull.
    public var batchSize = 500

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: consumer, batchSize: batchSize) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: KafkaConsumer
        let batchSize: Int
        var buffer: [KafkaConsumerMessage] = []
        var index = 0

        public mutating func next() async throws -> KafkaConsumerMessage? {
            while index >= buffer.count {
                if Task.isCancelled || consumer.isClosed { return nil }
                let polled: KafkaConsumer.Polled<KafkaConsumerMessage>
                do {
                    polled = try await consumer.poll(maxMessages: batchSize,
                                                     deadline: .now.advanced(by: .milliseconds(500)),
                                                     returnEarly: true, transform: KafkaConsumer.message(from:))
                } catch let error as KafkaError where error.kind == .closed {
                    return nil
                }
                buffer = polled.items
                index = 0
            }
            defer { index += 1 }
            return buffer[index]
        }
    }
}
