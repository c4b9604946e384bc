import VectorStreamCore

/// The generator as an event source: a producer task fills a bounded buffer at the requested rate.
///
/// Generation runs beside the pipeline (another core), and the buffer's bound is the backpressure.
public final class GeneratorSource: EventSource, Sendable {
    private let buffer: RecordBuffer
    private let producer: Task<Void, Never>

    /// - Parameters:
    ///   - events: how many to produce; nil for an endless stream.
    ///   - rate: events per second; nil for as fast as the pipeline takes them.
    public init(generator: EventGenerator, events: Int?, rate: Double?, bufferCapacity: Int = 100_000) {
        let buffer = RecordBuffer(capacity: bufferCapacity)
        self.buffer = buffer
        producer = Task.detached(priority: .medium) {
            var stream = generator.makeStream()
            var pacer = Pacer(ratePerSecond: rate)
            var produced: Int64 = 0
            let chunk = 1024
            while !Task.isCancelled {
                var wanted = chunk
                if let events { wanted = min(wanted, events - Int(produced)) }
                if wanted <= 0 { break }
                guard let granted = try? await pacer.acquire(wanted) else { break }
                wanted = granted
                var records: [RawRecord] = []
                records.reserveCapacity(wanted)
                for _ in 0..<wanted {
                    let record = stream.next()
                    records.append(RawRecord(bytes: record.bytes,
                                             position: SourcePosition(topic: "generator", partition: 0, offset: produced),
                                             arrivalNanos: monotonicNanos()))
                    produced += 1
                }
                await buffer.push(records)
            }
            await buffer.finish()
        }
    }

    deinit { producer.cancel() }

    public func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? {
        guard let records = await buffer.pop(max: maxRecords, deadline: deadline) else { return nil }
        return RecordBatch(records: records, commitToken: CommitToken())
    }

    /// Generated events are not durable anywhere before the pipeline; there is nothing to commit.
    public func acknowledge(_ token: CommitToken) async throws {}

    public func stop() async {
        producer.cancel()
        await buffer.finish()
    }
}
