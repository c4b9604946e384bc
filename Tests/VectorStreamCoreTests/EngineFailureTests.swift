import Foundation
import Synchronization
import Testing
import VectorStreamCore

/// The engine's promises under failure, with stand-in stages: a claim held by another worker is waited for,
/// never taken as done; a failure retrying cannot heal stops the worker; a stop request ends every wait at
/// once; `untilIdle` never ends a run while a batch is in flight. Nothing unstored is ever acknowledged.
@Suite("Engine under failure: held claims, permanent errors, stop requests, idleness")
struct EngineFailureTests {
    // MARK: Stand-ins

    static func record(_ n: Int, price: String = "10") -> [UInt8] {
        Array(#"{"event_id":"e-\#(n)","timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"view","product":{"id":"p-\#(n % 7)","name":"Product \#(n % 7)","description":"d","category":"c","price":\#(price)},"session_id":"s"}"#.utf8)
    }

    /// Hands out `records` in batches, then empty batches (a Kafka topic with nothing new) or nil (a file).
    final class Source: EventSource {
        let records: [[UInt8]]
        let endless: Bool
        let pollDelay: Duration
        let cursor = Mutex(0)
        let acknowledged = Mutex<[Int64]>([])

        init(_ records: [[UInt8]], endless: Bool = false, pollDelay: Duration = .zero) {
            self.records = records
            self.endless = endless
            self.pollDelay = pollDelay
        }

        func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? {
            if pollDelay > .zero { try await Task.sleep(for: pollDelay) }
            let range: Range<Int>? = cursor.withLock { c in
                guard c < records.count else { return nil }
                defer { c = min(c + maxRecords, records.count) }
                return c..<min(c + maxRecords, records.count)
            }
            guard let range else {
                guard endless else { return nil }
                try await Task.sleep(for: .milliseconds(20))
                return RecordBatch(records: [], commitToken: CommitToken())
            }
            let batch = range.map {
                RawRecord(bytes: records[$0], position: SourcePosition(topic: "t", partition: 0, offset: Int64($0)),
                          arrivalNanos: monotonicNanos())
            }
            return RecordBatch(records: batch, commitToken: CommitToken(nextOffsets: [TopicPartition(topic: "t", partition: 0): Int64(range.upperBound)]))
        }

        func acknowledge(_ token: CommitToken) async throws {
            acknowledged.withLock { $0.append(contentsOf: token.nextOffsets.values) }
        }

        func lag() async -> [TopicPartition: Int64] {
            let read = cursor.withLock { $0 }
            return [TopicPartition(topic: "t", partition: 0): Int64(records.count - read)]
        }
    }

    /// Dedup whose answers a test scripts: keys listed in `heldUntil` are `heldElsewhere` for that many claims.
    final class ScriptedDedup: DedupStore {
        struct State { var heldFor: [String: Int] = [:]; var done = Set<String>(); var pending = Set<String>(); var claims = 0 }
        let state: Mutex<State>
        init(heldFor: [String: Int] = [:], done: Set<String> = []) {
            state = Mutex(State(heldFor: heldFor, done: done))
        }
        func claim(_ keys: [String], in namespace: DedupNamespace) async throws -> [ClaimOutcome] {
            state.withLock { s in
                s.claims += 1
                return keys.map { key in
                    if let n = s.heldFor[key], n > 0 { s.heldFor[key] = n - 1; return .heldElsewhere }
                    if s.done.contains(key) { return .done }
                    return s.pending.insert(key).inserted ? .won : .heldElsewhere
                }
            }
        }
        func confirm(_ keys: [String], in namespace: DedupNamespace) async throws {
            state.withLock { s in for k in keys { s.pending.remove(k); s.done.insert(k) } }
        }
        func release(_ keys: [String], in namespace: DedupNamespace) async throws {
            state.withLock { s in for k in keys { s.pending.remove(k) } }
        }
    }

    struct Embedder: TextEmbedder {
        var delay: Duration = .zero
        let modelVersion = "stub-1"
        let dimension = 2
        func embed(_ texts: [String]) async throws -> [[Float]] {
            if delay > .zero { try await Task.sleep(for: delay) }
            return texts.map { _ in [1, 0] }
        }
    }

    final class Vectors: VectorStore {
        let stored = Mutex<[String: ProductVector]>([:])
        func upsert(_ vectors: [ProductVector]) async throws { stored.withLock { for v in vectors { $0[v.productID] = v } } }
        func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit] { [] }
        func vector(forProduct id: String) async throws -> ProductVector? { stored.withLock { $0[id] } }
        func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)] {
            stored.withLock { s in
                var out: [String: (contentHash: String, modelVersion: String)] = [:]
                for id in ids { if let v = s[id] { out[id] = (v.contentHash, v.modelVersion) } }
                return out
            }
        }
        func count() async throws -> Int { stored.withLock { $0.count } }
    }

    struct Failure: ClassifiedError, CustomStringConvertible {
        var failureClass: FailureClass
        var description: String { "stub failure (\(failureClass))" }
    }

    /// Stores events (by id), or fails as told.
    final class Sink: EventSink, DeadLetterSink {
        let events = Mutex<[String: Int]>([:])
        let deadLetters = Mutex<[String]>([])
        let failWith: FailureClass?
        let attempts = Atomic<Int>(0)
        let delay: Duration
        init(failWith: FailureClass? = nil, delay: Duration = .zero) {
            self.failWith = failWith
            self.delay = delay
        }
        func store(_ batch: [AcceptedEvent]) async throws {
            attempts.add(1, ordering: .relaxed)
            if delay > .zero { try await Task.sleep(for: delay) }
            if let failWith { throw Failure(failureClass: failWith) }
            events.withLock { for e in batch { $0[e.event.eventID, default: 0] += 1 } }
        }
        func store(_ rejected: [RejectedRecord]) async throws {
            deadLetters.withLock { $0.append(contentsOf: rejected.map(\.reason.code)) }
        }
    }

    func engine(_ source: Source, dedup: any DedupStore = ScriptedDedup(), sink: Sink = Sink(),
                vectors: Vectors = Vectors(), embedder: Embedder = Embedder(),
                configure: (inout EngineConfiguration) -> Void = { _ in }) -> MicroBatchEngine {
        var c = EngineConfiguration()
        c.triggerInterval = .milliseconds(20)
        c.maxEventsPerTrigger = 100
        c.retryInitialBackoff = .milliseconds(10)
        c.retryMaxBackoff = .milliseconds(50)
        c.claimRetryInterval = .milliseconds(10)
        configure(&c)
        return MicroBatchEngine(configuration: c, stages: PipelineStages(
            source: source, dedup: dedup, embedder: embedder, vectors: vectors, events: sink, deadLetters: sink))
    }

    /// Runs the engine; fails the test (and stops the engine) if it has not ended within `limit`.
    func runBounded(_ engine: MicroBatchEngine, limit: Duration = .seconds(90), untilIdle: Duration? = nil,
                    sourceLocation: SourceLocation = #_sourceLocation) async -> (Result<Void, any Error>, Duration) {
        let start = ContinuousClock.now
        let task = Task { try await engine.run(untilIdle: untilIdle) }
        let watchdog = Task {
            try await Task.sleep(for: limit)
            Issue.record("the engine did not end within \(limit)", sourceLocation: sourceLocation)
            task.cancel()
        }
        let result = await task.result
        watchdog.cancel()
        return (result, start.duration(to: .now))
    }

    // MARK: F1: claims held by another worker

    @Test("events another worker holds are waited for and then stored here, never counted as done (F1)")
    func heldClaimsAreWaitedForNotSkipped() async throws {
        let records = (0..<50).map { Self.record($0) }
        // e-0 ... e-24 are held by a crashed worker whose lease runs out after 5 more claims.
        let dedup = ScriptedDedup(heldFor: Dictionary(uniqueKeysWithValues: (0..<25).map { ("e-\($0)", 5) }))
        let sink = Sink()
        let vectors = Vectors()
        let source = Source(records)
        let e = engine(source, dedup: dedup, sink: sink, vectors: vectors)
        let (result, _) = await runBounded(e)
        try result.get()
        #expect(sink.events.withLock { $0.count } == 50, "every event stored, the held ones too")
        #expect(e.stats.eventsStored == 50)
        #expect(e.stats.eventsDeduplicated == 0)
        #expect(e.stats.eventsWaitedForClaims == 25)
        #expect(try await vectors.count() == 7)
    }

    @Test("events confirmed by another worker are skipped without waiting")
    func doneClaimsAreSkipped() async throws {
        let records = (0..<20).map { Self.record($0) }
        let dedup = ScriptedDedup(done: Set((0..<10).map { "e-\($0)" }))
        let sink = Sink()
        let e = engine(Source(records), dedup: dedup, sink: sink)
        let (result, _) = await runBounded(e)
        try result.get()
        #expect(sink.events.withLock { $0.count } == 10)
        #expect(e.stats.eventsDeduplicated == 10)
        #expect(e.stats.eventsWaitedForClaims == 0)
    }

    @Test("product records another worker holds are written here once its lease runs out (F1, product claims)")
    func heldProductRecordsAreWrittenAfterTheLease() async throws {
        let records = (0..<14).map { Self.record($0) }
        final class ProductHeld: DedupStore {
            let inner = ScriptedDedup()
            let textClaims = Atomic<Int>(0)
            func claim(_ keys: [String], in namespace: DedupNamespace) async throws -> [ClaimOutcome] {
                // Every product record is held for the first three claims, as by a crashed writer.
                if namespace == .productText, textClaims.add(1, ordering: .relaxed).newValue <= 3 {
                    return keys.map { _ in .heldElsewhere }
                }
                return try await inner.claim(keys, in: namespace)
            }
            func confirm(_ keys: [String], in namespace: DedupNamespace) async throws { try await inner.confirm(keys, in: namespace) }
            func release(_ keys: [String], in namespace: DedupNamespace) async throws { try await inner.release(keys, in: namespace) }
        }
        let vectors = Vectors()
        let e = engine(Source(records), dedup: ProductHeld(), vectors: vectors)
        let (result, _) = await runBounded(e)
        try result.get()
        #expect(try await vectors.count() == 7, "every product has its vector")
    }

    @Test("a stop request while waiting for held claims ends the run at once, acknowledging nothing")
    func stopWhileWaitingForClaims() async throws {
        let records = (0..<10).map { Self.record($0) }
        let dedup = ScriptedDedup(heldFor: ["e-3": Int.max])
        let source = Source(records)
        let sink = Sink()
        let e = engine(source, dedup: dedup, sink: sink)
        let stopped = Mutex<ContinuousClock.Instant?>(nil)
        Task {
            // Once the won events are stored and the batch waits for e-3 (a lease that never runs out here).
            while sink.events.withLock({ $0.count }) < 9 { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(100))
            stopped.withLock { $0 = .now }
            e.requestStop()
        }
        let (result, _) = await runBounded(e)
        try result.get()
        let sinceStop = stopped.withLock { $0 }.map { $0.duration(to: .now) } ?? .seconds(999)
        #expect(sinceStop < .seconds(20), "ended \(sinceStop) after the stop request, waiting on a lease that never ends")
        #expect(source.acknowledged.withLock { $0.isEmpty }, "nothing acknowledged")
        // What was won is stored and confirmed before waiting (so a replay skips it); the held event is not.
        #expect(sink.events.withLock { Set($0.keys) } == Set((0..<10).filter { $0 != 3 }.map { "e-\($0)" }))
        #expect(dedup.state.withLock { $0.pending.isEmpty }, "no claim is left held")
    }

    // MARK: F2: failures that do not heal, stop requests

    @Test("a batch failing with a permanent error stops the engine after the configured attempts, unacknowledged (F2)")
    func permanentFailureStops() async throws {
        let source = Source((0..<10).map { Self.record($0) })
        let sink = Sink(failWith: .permanent)
        let e = engine(source, sink: sink) { $0.maxPermanentFailureAttempts = 4 }
        let (result, _) = await runBounded(e)
        guard case .failure(let error) = result, case EngineError.permanentFailure(let attempts, _, _) = error else {
            Issue.record("expected EngineError.permanentFailure, got \(result)")
            return
        }
        #expect(attempts == 4)
        #expect(sink.attempts.load(ordering: .relaxed) == 4)
        #expect(source.acknowledged.withLock { $0.isEmpty })
    }

    @Test("a transient failure is retried for as long as it lasts; a stop request during the backoff ends it (F2)")
    func stopDuringRetries() async throws {
        let source = Source((0..<10).map { Self.record($0) })
        let sink = Sink(failWith: .transient)
        let e = engine(source, sink: sink) { $0.retryMaxBackoff = .seconds(300); $0.retryInitialBackoff = .seconds(300) }
        let stopped = Mutex<ContinuousClock.Instant?>(nil)
        Task {
            while sink.attempts.load(ordering: .relaxed) < 1 { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(100))
            stopped.withLock { $0 = .now }
            e.requestStop()
        }
        let (result, _) = await runBounded(e)
        try result.get()
        let sinceStop = stopped.withLock { $0 }.map { $0.duration(to: .now) } ?? .seconds(999)
        #expect(sinceStop < .seconds(20), "ended \(sinceStop) after the stop request, inside a 300 s backoff")
        #expect(source.acknowledged.withLock { $0.isEmpty })
        #expect(sink.attempts.load(ordering: .relaxed) >= 1)
    }

    @Test("a stop request ends a long poll at once; its records are not acknowledged")
    func stopDuringPoll() async throws {
        let source = Source((0..<10).map { Self.record($0) }, pollDelay: .seconds(300))
        let e = engine(source) { $0.triggerInterval = .seconds(300) }
        Task { try await Task.sleep(for: .milliseconds(200)); e.requestStop() }
        let (result, elapsed) = await runBounded(e)
        try result.get()
        #expect(elapsed < .seconds(30), "a 300 s poll ended \(elapsed) after start by the stop request")
        #expect(source.acknowledged.withLock { $0.isEmpty })
    }

    // MARK: F4: idleness

    @Test("untilIdle never ends a run while the first batch is still being stored (F4)")
    func untilIdleWaitsForTheBatchInFlight() async throws {
        let source = Source((0..<300).map { Self.record($0) }, endless: true)
        let sink = Sink(delay: .milliseconds(400))
        let e = engine(source, sink: sink, embedder: Embedder(delay: .milliseconds(300)))
        let (result, _) = await runBounded(e, untilIdle: .milliseconds(100))
        try result.get()
        #expect(sink.events.withLock { $0.count } == 300)
        #expect(source.acknowledged.withLock { $0.last } == 300)
    }

    @Test("rejected records are counted when their dead letters are stored, so the figures match the store")
    func rejectedCountMatchesDeadLetters() async throws {
        var records = (0..<20).map { Self.record($0) }
        records.append(Self.record(99, price: "1.797e308"))
        records.append(Array("not json".utf8))
        let sink = Sink()
        let e = engine(Source(records), sink: sink)
        let (result, _) = await runBounded(e)
        try result.get()
        #expect(e.stats.eventsRejected == 2)
        #expect(sink.deadLetters.withLock { $0.sorted() } == ["not_json", "price_too_high"])
    }
}
