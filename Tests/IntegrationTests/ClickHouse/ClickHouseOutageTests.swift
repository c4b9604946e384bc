import Foundation
import Synchronization
import Testing
import VectorStreamClickHouse
import VectorStreamCore

/// ClickHouse stopped in the middle of a run, on a private server (port 18124) so other suites keep theirs.
@Suite("ClickHouse outage", .serialized)
struct ClickHouseOutageTests {
    static let environment = [
        "VECTORSTREAM_RUN_DIR": TestServices.repoRoot.appendingPathComponent(".run/clickhouse-outage").path,
        "VECTORSTREAM_CLICKHOUSE_HTTP_PORT": "18124",
        "VECTORSTREAM_CLICKHOUSE_TCP_PORT": "19001",
    ]

    @Test func intakeWaitsWritesRetryAndNothingIsLostAcrossAnOutage() async throws {
        let url = try CH.serviceScript("start", environment: Self.environment)
        defer { _ = try? CH.serviceScript("stop", environment: Self.environment) }
        let events = CH.events(count: 6_000, seed: 21)
        let source = GatedSource(records: events.map { accepted in
            RawRecord(bytes: Self.json(accepted.event), position: accepted.position, arrivalNanos: monotonicNanos())
        }, batchesBeforeGate: 4)

        // A short connect timeout: a stopped server is noticed at once (the default 2 s would only slow the test).
        try await CH.withStore(url: url, connectTimeout: .milliseconds(200)) { store in
            try await store.prepare()
            var configuration = EngineConfiguration()
            configuration.triggerInterval = .milliseconds(20)
            configuration.maxEventsPerTrigger = 500
            configuration.retryInitialBackoff = .milliseconds(50)
            configuration.retryMaxBackoff = .milliseconds(400)
            let engine = MicroBatchEngine(configuration: configuration, stages: PipelineStages(
                source: source, dedup: AlwaysNew(), embedder: ZeroEmbedder(), vectors: DiscardingVectors(),
                events: store, deadLetters: CountingDeadLetters()))
            let run = Task { try await engine.run() }

            // Four batches stored, then the server goes away.
            try await waitUntil { source.state.withLock { $0.waitingAtGate } }
            #expect(try await store.eventCount() == 2_000)
            try CH.serviceScript("stop", environment: Self.environment)

            // While it is down the store fails with a clear, transient error...
            do {
                try await store.store(Array(events[2_000..<2_010]))
                Issue.record("stored while the server was down")
            } catch let error as ClickHouseError {
                #expect(error.isTransient)
                guard case .unavailable = error else { Issue.record("\(error)"); return }
            }
            // ...and the engine retries its batch with backoff without pulling more: intake stops.
            source.state.withLock { $0.gateOpen = true }
            try await waitUntil { engine.stats.batchRetries >= 2 }
            let pulledWhileDown = source.state.withLock { $0.batchesPulled }
            #expect(pulledWhileDown == 5)
            #expect(source.state.withLock { $0.acknowledged } == 2_000)

            // Back up: the retried batch and everything after it is stored, each event once.
            _ = try CH.serviceScript("start", environment: Self.environment)
            try await run.value
            #expect(source.state.withLock { $0.acknowledged } == 6_000)
            #expect(try await store.eventCount() == 6_000)
            #expect(try await store.funnel(since: 0) == CH.funnel(events, since: 0))
            #expect(engine.stats.eventsStored == 6_000)
        }
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<3_000 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("condition not reached")
        throw CancellationError()
    }

    static func json(_ e: Event) -> [UInt8] {
        func s(_ text: String) -> String {
            var out = "\""
            for ch in text.unicodeScalars {
                switch ch {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\t": out += "\\t"
                case "\n": out += "\\n"
                default: out.unicodeScalars.append(ch)
                }
            }
            return out + "\""
        }
        let p = e.product
        let text = #"{"event_id":\#(s(e.eventID)),"timestamp":\#(s(ISO8601.format(e.timestamp))),"user_id":\#(s(e.userID)),"event_type":\#(s(e.type.rawValue)),"product":{"id":\#(s(p.id)),"name":\#(s(p.name)),"description":\#(s(p.description)),"category":\#(s(p.category)),"price":\#(p.price)},"session_id":\#(s(e.sessionID))}"#
        return Array(text.utf8)
    }
}

// MARK: Stand-ins for the stages this test is not about.

/// Hands out fixed records; after `batchesBeforeGate` batches it holds the next one until the gate opens.
final class GatedSource: EventSource {
    struct State {
        var next = 0
        var batchesPulled = 0
        var acknowledged = 0
        var waitingAtGate = false
        var gateOpen = false
    }

    let records: [RawRecord]
    let batchesBeforeGate: Int
    let state = Mutex(State())

    init(records: [RawRecord], batchesBeforeGate: Int) {
        self.records = records
        self.batchesBeforeGate = batchesBeforeGate
    }

    func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? {
        while true {
            let hold = state.withLock { s in
                let hold = s.batchesPulled == batchesBeforeGate && !s.gateOpen
                s.waitingAtGate = hold && s.acknowledged == s.next
                return hold
            }
            if !hold { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        return state.withLock { s in
            guard s.next < records.count else { return nil }
            let end = min(s.next + maxRecords, records.count)
            let batch = Array(records[s.next..<end])
            s.next = end
            s.batchesPulled += 1
            return RecordBatch(records: batch, commitToken: CommitToken(nextOffsets: [
                TopicPartition(topic: "gate", partition: 0): Int64(end),
            ]))
        }
    }

    func acknowledge(_ token: CommitToken) async throws {
        let end = Int(token.nextOffsets.values.first ?? 0)
        state.withLock { $0.acknowledged = end }
    }
}

struct AlwaysNew: DedupStore {
    func claim(_ keys: [String], in namespace: DedupNamespace) async throws -> [ClaimOutcome] { keys.map { _ in .won } }
    func confirm(_ keys: [String], in namespace: DedupNamespace) async throws {}
    func release(_ keys: [String], in namespace: DedupNamespace) async throws {}
}

struct ZeroEmbedder: TextEmbedder {
    var modelVersion: String { "zero-test" }
    var dimension: Int { 4 }
    func embed(_ texts: [String]) async throws -> [[Float]] { texts.map { _ in [1, 0, 0, 0] } }
}

struct DiscardingVectors: VectorStore {
    func upsert(_ vectors: [ProductVector]) async throws {}
    func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit] { [] }
    func vector(forProduct id: String) async throws -> ProductVector? { nil }
    func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)] { [:] }
    func count() async throws -> Int { 0 }
}

struct CountingDeadLetters: DeadLetterSink {
    func store(_ rejected: [RejectedRecord]) async throws {
        if !rejected.isEmpty { Issue.record("unexpected rejected records: \(rejected.map(\.reason))") }
    }
}
