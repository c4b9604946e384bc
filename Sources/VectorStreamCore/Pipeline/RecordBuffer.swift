/// A bounded hand-off between a producer task (generator, stdin reader) and the engine.
///
/// The producer waits while the buffer is full, so a slow pipeline slows the producer instead of
/// growing memory; the consumer takes up to a batch, waiting at most until its trigger deadline.
public actor RecordBuffer {
    private var items: [RawRecord] = []
    private var head = 0
    private var finished = false
    private let capacity: Int
    private var producers: [CheckedContinuation<Void, Never>] = []
    private var consumer: CheckedContinuation<Void, Never>?
    private var consumerWants = 0

    public init(capacity: Int) { self.capacity = max(capacity, 1) }

    private var available: Int { items.count - head }

    /// Appends records, waiting while the buffer is full.
    public func push(_ records: [RawRecord]) async {
        while available >= capacity && !finished {
            await withCheckedContinuation { producers.append($0) }
        }
        guard !finished else { return }
        items.append(contentsOf: records)
        if available >= consumerWants { wakeConsumer() }
    }

    /// No more records will come; the consumer drains what is left and then gets nil.
    public func finish() {
        finished = true
        wakeConsumer()
        for p in producers { p.resume() }
        producers.removeAll()
    }

    /// Up to `max` records: at once when that many are ready, else what arrived by `deadline`.
    /// Nil once finished and drained.
    public func pop(max: Int, deadline: ContinuousClock.Instant) async -> [RawRecord]? {
        if available < max && !finished && ContinuousClock.now < deadline {
            consumerWants = max
            let timer = Task { [weak self] in
                try? await Task.sleep(until: deadline, clock: .continuous)
                await self?.wakeConsumer()
            }
            await withCheckedContinuation { consumer = $0 }
            timer.cancel()
            consumerWants = 0
        }
        if available == 0 && finished { return nil }
        let n = min(max, available)
        let batch = Array(items[head..<(head + n)])
        head += n
        if head > 4096 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        if available < capacity {
            for p in producers { p.resume() }
            producers.removeAll()
        }
        return batch
    }

    private func wakeConsumer() {
        consumer?.resume()
        consumer = nil
    }
}
