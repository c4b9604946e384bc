import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamGenerator
import VectorStreamServer

/// `POST /v1/ingest` on a real engine over the embedded stores (SQLite events and dead letters, the in-process
/// index, in-memory dedup), with a four-dimensional embedder: counts are checked against what the stores hold.
@Suite("Ingest route")
struct IngestTests {
    /// An embedder that holds every call until `open()`: keeps a request in flight for as long as a test needs.
    final class GateEmbedder: TextEmbedder, Sendable {
        private let isOpen = Mutex(false)
        let calls = Mutex(0)
        var modelVersion: String { "stub-model" }
        var dimension: Int { 4 }
        func open() { isOpen.withLock { $0 = true } }
        func embed(_ texts: [String]) async throws -> [[Float]] {
            calls.withLock { $0 += 1 }
            while !isOpen.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            return texts.map { _ in [1, 0, 0, 0] }
        }
    }

    /// An event store that fails its first `failures` calls (a store that is down), then stores.
    final class FlakyEvents: EventSink, Sendable {
        let inner: any EventSink
        let failures: Mutex<Int>
        init(_ inner: any EventSink, failures: Int) {
            self.inner = inner
            self.failures = Mutex(failures)
        }
        func store(_ events: [AcceptedEvent]) async throws {
            let fail = failures.withLock { n -> Bool in
                guard n > 0 else { return false }
                n -= 1
                return true
            }
            if fail { throw StubFailure(description: "event store down") }
            try await inner.store(events)
        }
    }

    struct Harness {
        let server: StubServer
        let store: SQLiteEventStore
        let vectors: EmbeddedVectorIndex
        let service: IngestService
        let key: String?

        static func make(settings: IngestSettings = IngestSettings(), embedder: any TextEmbedder = StubEmbedder(),
                         key: String? = nil, failingStores: Int = 0) async throws -> Harness {
            let directory = NSTemporaryDirectory() + "vectorstream-ingest-\(UUID().uuidString.prefix(8))"
            let database = try EmbeddedDatabase(directory: directory)
            let store = SQLiteEventStore(database: database)
            let vectors = try EmbeddedVectorIndex(database: database, dimension: 4)
            let dedup = InMemoryDedupStore()
            let events: any EventSink = failingStores > 0 ? FlakyEvents(store, failures: failingStores) : store
            let pipeline = IngestPipeline(configuration: EngineConfiguration(), settings: settings) { _ in
                PipelineStages(source: NoEventSource(), dedup: dedup, embedder: embedder, vectors: vectors,
                               events: events, deadLetters: store)
            }
            let service = IngestService(pipeline: pipeline, idempotency: InMemoryIdempotencyStore())
            var dependencies = APIDependencies(embedder: embedder, vectors: vectors, analytics: store)
            dependencies.ingest = service
            let server = try await StubServer.start(
                APIServerConfiguration(host: "127.0.0.1", port: 0, apiKey: key), dependencies)
            return Harness(server: server, store: store, vectors: vectors, service: service, key: key)
        }

        struct Reply: Sendable {
            let status: Int
            let body: [UInt8]
            let headers: HTTPHeaders
            var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
            var detail: String { json["detail"] as? String ?? "" }
        }

        func post(_ body: [UInt8], idempotencyKey: String? = nil, contentType: String = "application/x-ndjson",
                  withKey: Bool = true) async throws -> Reply {
            var request = HTTPClientRequest(url: server.baseURL + "/v1/ingest")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: contentType)
            if withKey, let key { request.headers.add(name: "X-API-Key", value: key) }
            if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            let bytes = Array(buffer: try await response.body.collect(upTo: 16 << 20))
            return Reply(status: Int(response.status.code), body: bytes, headers: response.headers)
        }
    }

    /// Generated events (some invalid), as JSON lines.
    static func events(_ count: Int, seed: UInt64 = 7, invalidRatio: Double = 0.1) -> (body: [UInt8], valid: Int, products: Int) {
        var stream = EventGenerator(configuration: GeneratorConfiguration(seed: seed, productCount: 200,
                                                                          invalidRatio: invalidRatio)).makeStream()
        let records = (0..<count).map { _ in stream.next() }
        let body = Array(records.map { $0.bytes }.joined(separator: Array("\n".utf8)))
        let valid = records.compactMap(\.event)
        return (body, Set(valid.map(\.eventID)).count, Set(valid.map(\.product.id)).count)
    }

    @Test func sameChunkTwiceWithOneKeyIsStoredOnce() async throws {
        let h = try await Harness.make()
        defer { h.server.stop() }
        let (body, valid, products) = Self.events(400)
        let first = try await h.post(body, idempotencyKey: "query-1:0:0:0")
        #expect(first.status == 200, "\(String(decoding: first.body, as: UTF8.self))")
        #expect(first.json["received"] as? Int == 400)
        #expect(first.json["stored"] as? Int == valid)
        #expect(first.json["products_embedded"] as? Int == products)
        let rejected = first.json["rejected"] as? Int ?? -1
        #expect(rejected > 0 && (first.json["accepted"] as? Int ?? 0) + rejected == 400)
        // The counts are what the stores hold.
        #expect(try await h.store.eventCount() == Int64(valid))
        #expect(try await h.store.deadLetterCount() == Int64(rejected))
        #expect(try await h.vectors.count() == products)
        let byReason = first.json["rejected_by_reason"] as? [String: Int] ?? [:]
        #expect(byReason.values.reduce(0, +) == rejected)
        let samples = first.json["rejections"] as? [[String: Any]] ?? []
        #expect(!samples.isEmpty && samples.allSatisfy { !($0["reason"] as? String ?? "").isEmpty })

        // The retry gets the first answer, unprocessed: nothing more stored, no dead letter kept twice.
        let retry = try await h.post(body, idempotencyKey: "query-1:0:0:0")
        #expect(retry.status == 200)
        #expect(retry.body == first.body)
        #expect(retry.headers.first(name: "Idempotent-Replayed") == "true")
        #expect(try await h.store.eventCount() == Int64(valid))
        #expect(try await h.store.deadLetterCount() == Int64(rejected))
        #expect(h.service.pipeline.stats.eventsTotal == 400)

        // Without the key the records go through again and the dedup stage keeps every event out.
        let again = try await h.post(body)
        #expect(again.status == 200)
        #expect(again.json["stored"] as? Int == 0)
        #expect(again.json["deduplicated"] as? Int == valid)
        #expect(try await h.store.eventCount() == Int64(valid))
    }

    @Test func jsonArrayWithRepeatsCountsWhatTheStoreHolds() async throws {
        let h = try await Harness.make()
        defer { h.server.stop() }
        let (lines, valid, _) = Self.events(100, seed: 11, invalidRatio: 0)
        let records = lines.split(separator: UInt8(ascii: "\n")).map(Array.init)
        // Each event twice, and one that is not an object.
        let array = "[" + (records + records).map { String(decoding: $0, as: UTF8.self) }.joined(separator: ",\n") + ", 42]"
        let reply = try await h.post(Array(array.utf8), contentType: "application/json")
        #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
        #expect(reply.json["received"] as? Int == 201)
        #expect(reply.json["rejected"] as? Int == 1)
        #expect((reply.json["rejections"] as? [[String: Any]])?.first?["index"] as? Int == 200)
        #expect(reply.json["stored"] as? Int == valid)
        #expect(reply.json["deduplicated"] as? Int == 200 - valid)
        #expect(try await h.store.eventCount() == Int64(valid))
    }

    @Test func concurrentRequestsWithTheSameEventsStoreEachOnce() async throws {
        var settings = IngestSettings()
        settings.maxConcurrent = 4
        let h = try await Harness.make(settings: settings)
        defer { h.server.stop() }
        let (body, valid, products) = Self.events(600, seed: 13, invalidRatio: 0)
        // Four lanes at once, the same events under four keys: the dedup stage lets each event through once.
        let replies = try await withThrowingTaskGroup(of: Harness.Reply.self) { group in
            for n in 0..<4 { group.addTask { try await h.post(body, idempotencyKey: "parallel-\(n)") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.allSatisfy { $0.status == 200 })
        #expect(replies.map { $0.json["stored"] as? Int ?? 0 }.reduce(0, +) == valid)
        #expect(replies.map { $0.json["products_embedded"] as? Int ?? 0 }.reduce(0, +) == products)
        #expect(try await h.store.eventCount() == Int64(valid))
        #expect(try await h.vectors.count() == products)
    }

    @Test func saturatedServerAnswers429WithRetryAfter() async throws {
        let gate = GateEmbedder()
        var settings = IngestSettings()
        settings.maxConcurrent = 1
        let h = try await Harness.make(settings: settings, embedder: gate)
        defer { h.server.stop() }
        let (body, valid, _) = Self.events(50, seed: 3, invalidRatio: 0)
        let first = Task { try await h.post(body, idempotencyKey: "k-first") }
        // Wait until the first is inside the embedder, holding the only lane.
        let deadline = ContinuousClock.now + .seconds(20)
        while gate.calls.withLock({ $0 }) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(h.service.pipeline.inFlight == 1)
        let second = try await h.post(body, idempotencyKey: "k-second")
        #expect(second.status == 429)
        #expect(second.headers.first(name: "Retry-After") == "1")
        #expect((second.json["detail"] as? String ?? "").contains("ingest.max_concurrent"))
        gate.open()
        let done = try await first.value
        #expect(done.status == 200)
        #expect(done.json["stored"] as? Int == valid)
        // Once the lane is free the refused request goes through and finds everything stored.
        let retried = try await h.post(body, idempotencyKey: "k-second")
        #expect(retried.status == 200)
        #expect(retried.json["stored"] as? Int == 0)
        #expect(try await h.store.eventCount() == Int64(valid))
    }

    @Test func duplicateInFlightAndKeyReusedForAnotherBodyAre409() async throws {
        let gate = GateEmbedder()
        let h = try await Harness.make(embedder: gate)
        defer { h.server.stop() }
        let (body, valid, _) = Self.events(30, seed: 5, invalidRatio: 0)
        let first = Task { try await h.post(body, idempotencyKey: "same") }
        let deadline = ContinuousClock.now + .seconds(20)
        while gate.calls.withLock({ $0 }) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let duplicate = try await h.post(body, idempotencyKey: "same")
        #expect(duplicate.status == 409 && duplicate.json["error"] as? String == "request_in_flight")
        #expect(duplicate.headers.first(name: "Retry-After") == "1")
        let other = try await h.post(Array(body.dropLast(5)), idempotencyKey: "same")
        #expect(other.status == 409 && other.json["error"] as? String == "idempotency_key_reused")
        gate.open()
        #expect(try await first.value.status == 200)
        let afterwards = try await h.post(Array(body.dropLast(5)), idempotencyKey: "same")
        #expect(afterwards.status == 409 && afterwards.json["error"] as? String == "idempotency_key_reused")
        #expect(try await h.store.eventCount() == Int64(valid))
    }

    /// A request slower than the key's lease keeps its key (renewed while it runs): a duplicate three leases later is
    /// still told "in flight", not handed the key to process the same records beside it. The lease is short (30 s
    /// by default, was 5 min) so that a crashed server's key frees within a client's retries.
    @Test func aSlowRequestKeepsItsKeyPastTheLease() async throws {
        #expect(IngestSettings().idempotencyLease <= .seconds(30), "a crashed server's key must free within the Spark sink's retries")
        let gate = GateEmbedder()
        var settings = IngestSettings()
        settings.idempotencyLease = .seconds(1)  // renewed every 333 ms: a renewal may be late by 600 ms under load
        let h = try await Harness.make(settings: settings, embedder: gate)
        defer { h.server.stop() }
        let (body, valid, _) = Self.events(20, seed: 11, invalidRatio: 0)
        let first = Task { try await h.post(body, idempotencyKey: "slow") }
        let deadline = ContinuousClock.now + .seconds(20)
        while gate.calls.withLock({ $0 }) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(3_500))
        let probe = try await h.service.idempotency.begin("slow", fingerprint: "probe", lease: .seconds(1))
        if case .inFlight = probe {} else { Issue.record("after three leases the key was \(probe), not in flight") }
        gate.open()
        #expect(try await first.value.status == 200)
        #expect(try await h.store.eventCount() == Int64(valid))
        // Done: the lease no longer matters and cannot be renewed.
        #expect(try await h.service.idempotency.renew("slow", fingerprint: "probe", lease: .seconds(1)) == .lost)
    }

    @Test func badBodiesGet4xxWithAReason() async throws {
        var settings = IngestSettings()
        settings.maxBodyBytes = 4096
        settings.maxRecords = 5
        let h = try await Harness.make(settings: settings, key: "ingest-key")
        defer { h.server.stop() }
        let empty = try await h.post(Array("  \n ".utf8))
        #expect(empty.status == 400 && empty.detail.contains("no records"))
        let unterminated = try await h.post(Array(#"[{"a": 1}, {"b": "]"}"#.utf8), contentType: "application/json")
        #expect(unterminated.status == 400 && unterminated.detail.contains("not a JSON array"))
        let trailing = try await h.post(Array("[{}] x".utf8), contentType: "application/json")
        #expect(trailing.status == 400)
        let plain = try await h.post(Array("{}".utf8), contentType: "text/plain")
        #expect(plain.status == 415)
        let big = try await h.post([UInt8](repeating: UInt8(ascii: "x"), count: 5000))
        #expect(big.status == 413 && big.detail.contains("ingest.max_body_bytes"))
        let many = try await h.post(Array(String(repeating: "{}\n", count: 6).utf8))
        #expect(many.status == 413 && many.detail.contains("ingest.max_records"))
        let badKey = try await h.post(Array("{}".utf8), idempotencyKey: String(repeating: "k", count: 300))
        #expect(badKey.status == 400 && badKey.detail.contains("Idempotency-Key"))
        let noKey = try await h.post(Array("{}".utf8), withKey: false)
        #expect(noKey.status == 401)
        // Records that are not events are not a bad body: they are stored as dead letters, each with its reason.
        let junk = try await h.post(Array("not json\n{\"event_id\": 1}".utf8))
        #expect(junk.status == 200)
        #expect(junk.json["rejected"] as? Int == 2)
        #expect(try await h.store.deadLetterCount() == 2)
    }

    @Test func failedStoreIs503AndTheRetryStoresOnce() async throws {
        let h = try await Harness.make(failingStores: 1)
        defer { h.server.stop() }
        let (body, valid, _) = Self.events(60, seed: 9, invalidRatio: 0.1)
        let failed = try await h.post(body, idempotencyKey: "flaky-1")
        #expect(failed.status == 503)
        #expect(failed.headers.first(name: "Retry-After") != nil)
        #expect(!(failed.json["detail"] as? String ?? "").isEmpty)
        #expect(try await h.store.eventCount() == 0)
        let retry = try await h.post(body, idempotencyKey: "flaky-1")
        #expect(retry.status == 200)
        #expect(retry.json["stored"] as? Int == valid)
        #expect(try await h.store.eventCount() == Int64(valid))
        // Same key, same positions: the retry's dead letters replaced the first attempt's.
        #expect(try await h.store.deadLetterCount() == Int64(retry.json["rejected"] as? Int ?? -1))
    }

    @Test(arguments: ["the-key", nil] as [String?])
    func documentDeclaresTheRouteAndItsStatuses(key: String?) async throws {
        let h = try await Harness.make(key: key)
        defer { h.server.stop() }
        let document = try await h.server.request(.GET, "/openapi.json").reply.json
        let operation = (document["paths"] as? [String: Any])?["/v1/ingest"] as? [String: Any]
        let post = operation?["post"] as? [String: Any]
        #expect(post != nil)
        let declared = Set(((post?["responses"] as? [String: Any]) ?? [:]).keys)
        var expected: Set<String> = ["200", "400", "409", "413", "415", "429", "500", "503"]
        if key != nil { expected.insert("401") }
        #expect(declared == expected)
        #expect(((document["components"] as? [String: Any])?["schemas"] as? [String: Any])?["IngestResult"] != nil)
        // Another method on the route: 405 naming POST.
        let reply = try await RawHTTP.send(port: h.server.port, head: """
            GET /v1/ingest HTTP/1.1\r
            Host: 127.0.0.1\r
            \(key.map { "X-API-Key: \($0)\r\n" } ?? "")Content-Length: 0\r
            Connection: close
            """)
        #expect(reply.status == 405)
        #expect(reply.header("Allow") == "POST")
    }

    @Test func splitterFindsTopLevelElementsOnly() {
        let body = Array(#"  [ {"a": "x,]}"}, {"b": [1, {"c": "\""}]} ,"s" ] "#.utf8)
        guard case .success(let parts) = IngestBody.records(body) else {
            Issue.record("not split")
            return
        }
        #expect(parts.map { String(decoding: $0, as: UTF8.self) } == [#"{"a": "x,]}"}"#, #"{"b": [1, {"c": "\""}]}"#, #""s""#])
        #expect(IngestBody.records(Array("[]".utf8)) == .failure(.empty))
        guard case .failure(.malformedArray) = IngestBody.records(Array("[1,,2]".utf8)) else {
            Issue.record("an empty element was accepted")
            return
        }
        guard case .success(let lines) = IngestBody.records(Array("{}\r\n\n  {\"x\":1}\n".utf8)) else {
            Issue.record("lines not split")
            return
        }
        #expect(lines.map { String(decoding: $0, as: UTF8.self) } == ["{}", #"  {"x":1}"#])
        // A record keeps its bytes, blanks included: one cut after a space is its dead letter as it came (the
        // blanks were trimmed, so the dead letter differed from the Kafka record: found by the Spark fault scenario).
        guard case .success(let cut) = IngestBody.records(Array("{\"name\": \"Blue \n\t{\"a\": 1} \r\n \t\r\n".utf8)) else {
            Issue.record("lines not split")
            return
        }
        #expect(cut.map { Array($0) } == [Array("{\"name\": \"Blue ".utf8), Array("\t{\"a\": 1} ".utf8)])
        // Sent as JSON lines, a first record that starts with '[' is a record (an invalid one), not an array: a
        // Spark chunk that began with `["e1"]` was refused whole with 400 and stopped the query (fault suite).
        guard case .success(let lines2) = IngestBody.records(Array("[\"e1\"]\n{\"a\": 1}\n".utf8), jsonLines: true) else {
            Issue.record("JSON lines starting with '[' refused")
            return
        }
        #expect(lines2.map { String(decoding: $0, as: UTF8.self) } == [#"["e1"]"#, #"{"a": 1}"#])
    }

    @Test func jsonLinesWhoseFirstRecordIsAnArrayAreRecords() async throws {
        let h = try await Harness.make()
        defer { h.server.stop() }
        let (body, valid, _) = Self.events(10, seed: 13, invalidRatio: 0)
        let reply = try await h.post(Array(#"["e1"]"#.utf8) + Array("\n".utf8) + body, contentType: "application/x-ndjson")
        #expect(reply.status == 200, "\(reply.detail)")
        #expect(reply.json["rejected"] as? Int == 1)
        #expect(try await h.store.eventCount() == Int64(valid))
    }
}
