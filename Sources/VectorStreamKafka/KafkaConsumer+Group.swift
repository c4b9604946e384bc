import CRdKafka
import Dispatch
import Logging
import VectorStreamCore

extension KafkaConsumer {
    /// Whether the group has committed every partition of the subscribed topic that this worker does NOT own
    /// up to its end.
    ///
    /// `run --until-idle` is "the source has nothing more", and for a group the source is the whole topic: a
    /// worker whose own partitions are done must not end while a dead partner's partitions hold unread records
    /// (they are handed over only after the partner's session times out; RELIABILITY.md finding 2). Partitions
    /// owned by a live partner count too: an idle run waits for the group, not only for itself.
    ///
    /// The end is found by fetching, not by ListOffsets (tansu answers "latest" below the real end): a probe
    /// consumer outside the group is assigned each such partition at the group's committed offset; a record
    /// there means unread data, an end-of-partition event means none. Anything undecided within `timeout`
    /// counts as not caught up (the engine asks again after its next empty poll).
    public func groupHasCommittedOtherPartitionsToEnd(timeout: Duration = .seconds(3)) async -> Bool {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { [self] in
                continuation.resume(returning: probeOtherPartitions(timeout: timeout))
            }
        }
    }

    private func probeOtherPartitions(timeout: Duration) -> Bool {
        let topic = configuration.topic
        let milliseconds = Int32(clamping: max(timeout.milliseconds, 1))
        guard let partitions = partitionIDs(of: topic, timeoutMillis: milliseconds), !partitions.isEmpty else { return false }
        let owned = assignedPartitions
        let others = partitions.map { TopicPartition(topic: topic, partition: $0) }.filter { !owned.contains($0) }
        guard !others.isEmpty else { return true }
        let query = makeList(Dictionary(uniqueKeysWithValues: others.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }))
        defer { rd_kafka_topic_partition_list_destroy(query) }
        guard rd_kafka_committed(handle.pointer, query, milliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR else { return false }
        var start: [TopicPartition: Int64] = [:]
        for i in 0..<Int(query.pointee.cnt) {
            let entry = query.pointee.elems[i]
            // No commit yet: whatever the partition holds from its beginning is unread.
            start[TopicPartition(topic: topic, partition: entry.partition)] = entry.offset >= 0 ? entry.offset : Int64(RD_KAFKA_OFFSET_BEGINNING)
        }
        return probeHasNothingAfter(start, timeout: timeout)
    }

    /// The partition ids of `topic` from the brokers' metadata; nil when the metadata request fails.
    private func partitionIDs(of topic: String, timeoutMillis: Int32) -> [Int32]? {
        guard let topicHandle = rd_kafka_topic_new(handle.pointer, topic, nil) else { return nil }
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        guard rd_kafka_metadata(handle.pointer, 0, topicHandle, &metadata, timeoutMillis) == RD_KAFKA_RESP_ERR_NO_ERROR,
              let metadata else { return nil }
        defer { rd_kafka_metadata_destroy(metadata) }
        var partitions: [Int32] = []
        for t in 0..<Int(metadata.pointee.topic_cnt) {
            let entry = metadata.pointee.topics[t]
            guard String(cString: entry.topic) == topic, entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            for p in 0..<Int(entry.partition_cnt) { partitions.append(entry.partitions[p].id) }
        }
        return partitions
    }

    /// A consumer outside the group (assign, never subscribe or commit) fetches from each offset: true only when
    /// every partition reports its end before any record arrives.
    private func probeHasNothingAfter(_ offsets: [TopicPartition: Int64], timeout: Duration) -> Bool {
        var properties = configuration.consumerProperties.filter {
            !["group.id", "enable.partition.eof", "client.id"].contains($0.0)
        }
        properties += [("group.id", "\(configuration.groupID).idle-probe"), ("enable.partition.eof", "true"),
                       ("client.id", "\(configuration.clientID)-idle-probe")]
        let probe: RdKafkaHandle
        do {
            probe = try RdKafkaHandle(role: .consumer, properties: properties,
                                      context: ClientContext(logger: Logger(label: "vectorstream.kafka.idle-probe")))
        } catch {
            return false
        }
        rd_kafka_poll_set_consumer(probe.pointer)
        defer { rd_kafka_consumer_close(probe.pointer) }
        let list = makeList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard rd_kafka_assign(probe.pointer, list) == RD_KAFKA_RESP_ERR_NO_ERROR else { return false }
        var pending = Set(offsets.keys.map(\.partition))
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !pending.isEmpty, ContinuousClock.now < deadline {
            guard let message = rd_kafka_consumer_poll(probe.pointer, 100) else { continue }
            defer { rd_kafka_message_destroy(message) }
            switch message.pointee.err {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                return false  // a record at or after the committed offset: unread data
            case RD_KAFKA_RESP_ERR__PARTITION_EOF:
                pending.remove(message.pointee.partition)
            default:
                continue  // transient (a broker still starting); undecided partitions count as not done
            }
        }
        return pending.isEmpty
    }
}
