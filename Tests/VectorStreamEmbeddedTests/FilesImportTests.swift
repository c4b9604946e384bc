import Foundation
import Testing
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamGenerator

/// The file manager end to end on the embedded stores: a catalog file into the vector store once, again unchanged
/// (nothing embedded), with prices changed (payloads rewritten, no text embedded again); the same bytes on two
/// workers at once processed once; a file a dead worker left `processing` finished at start; events files stored
/// exactly once beside the stream.
@Suite("Files: embedded imports")
struct FilesImportTests {
    /// The embedded stores of one data directory, and file catalogs (workers) over them.
    final class Harness: Sendable {
        let directory: String
        let database: EmbeddedDatabase
        let vectors: EmbeddedVectorIndex
        let events: SQLiteEventStore
        let embedder = CountingHashEmbedder()
        let dedup = InMemoryDedupStore()
        let metadata: SQLiteFileMetadataStore
        let objects: DirectoryObjectStore
        let local: LocalFiles

        init(_ name: String = #function) throws {
            directory = temporaryDirectory(name)
            database = try EmbeddedDatabase(directory: directory)
            vectors = try EmbeddedVectorIndex(database: database, dimension: 384)
            events = SQLiteEventStore(database: database)
            metadata = SQLiteFileMetadataStore(database: database)
            objects = try DirectoryObjectStore(root: directory + "/files/objects")
            local = try LocalFiles(workDirectory: directory + "/files/work")
        }

        /// No embedding cache: the price-only path must reuse the stored vector, as a fresh process would.
        func catalog(worker: String = "w1", lease: Duration = .seconds(30)) -> FileCatalog {
            var settings = VectorStreamConfiguration.FilesSettings()
            settings.claimLease = lease
            settings.rejectedSamples = 20
            var configuration = FileCatalog.Configuration(workerID: worker, settings: settings)
            configuration.productBatchSize = 64
            let stages = PipelineStages(source: ArraySource([]), dedup: dedup, embedder: embedder, vectors: vectors,
                                        events: events, deadLetters: events)
            let database = database
            return FileCatalog(configuration: configuration, objects: objects, metadata: metadata, local: local,
                               stages: stages, makeEventSource: { try JSONLinesFileSource(path: $0, database: database) })
        }

        func write(_ text: String, name: String) throws -> String {
            let path = directory + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }

        var embedCalls: Int { embedder.embeddedTexts.values.reduce(0, +) }
    }

    static func products(_ n: Int) -> [Product] {
        Array(EventGenerator(configuration: GeneratorConfiguration(seed: 7, productCount: n)).catalog.prefix(n))
    }

    @Test func catalogImportedOnceThenUnchangedThenPricesOnly() async throws {
        let h = try Harness()
        let products = Self.products(300)
        let csv = CatalogCSV.document(products, badRowsPercent: 3)
        let badRows = csv.split(separator: "\r\n").count - 1 - products.count
        #expect(badRows > 0)
        let catalog = h.catalog()
        let registration = try await catalog.add(path: try h.write(csv, name: "catalog.csv"), name: "catalog.csv",
                                                 kind: .catalog, contentType: "text/csv")
        guard case .created(let queued) = registration else { Issue.record("not created"); return }
        #expect(queued.status == .queued)
        #expect(try await h.objects.head(key: queued.objectKey)?.size == queued.size)

        guard case .processed(let done) = await catalog.process(sha256: queued.sha256) else {
            Issue.record("not processed: \(String(describing: try await h.metadata.record(sha256: queued.sha256)))"); return
        }
        #expect(done.status == .done)
        #expect(done.counts.rowsAccepted == Int64(products.count))
        #expect(done.counts.rowsRejected == Int64(badRows))
        #expect(done.counts.rowsTotal == done.counts.rowsAccepted + done.counts.rowsRejected)
        #expect(done.counts.productsEmbedded == Int64(products.count))
        #expect(done.rejectedSamples.count == min(badRows, 20))
        #expect(done.rejectedSamples.allSatisfy { !$0.reason.isEmpty && $0.row > 0 })
        #expect(Set(done.rejectedByCode.keys).isSubset(of: ["ragged_row", "bad_price", "empty_field", "duplicate_id"]))
        #expect(try await h.vectors.count() == products.count)
        // Every product embedded once (two products of the generator may share a text: each has its own record).
        #expect(h.embedCalls == products.count)
        #expect(Set(h.embedder.embeddedTexts.keys) == Set(products.map(\.embeddingText)))
        let stored = try #require(try await h.vectors.vector(forProduct: products[10].id))
        #expect(stored.contentHash == ContentHash.productRecord(products[10], modelVersion: h.embedder.modelVersion))
        #expect(try await h.metadata.record(sha256: queued.sha256)?.status == .done)

        // The same bytes again: known, not processed again.
        guard case .existing = try await catalog.add(path: try h.write(csv, name: "again.csv"), name: "again.csv",
                                                     kind: .catalog, contentType: "text/csv") else {
            Issue.record("same bytes registered twice"); return
        }
        if case .alreadyDone = await catalog.process(sha256: queued.sha256) {} else { Issue.record("processed twice") }

        // Other bytes, same products (rows in another order): nothing embedded, nothing written.
        let reordered = CatalogCSV.header + products.reversed().map(CatalogCSV.row).joined()
        let second = try await catalog.add(path: try h.write(reordered, name: "reordered.csv"), name: "reordered.csv",
                                           kind: .catalog, contentType: "text/csv").record
        let callsBefore = h.embedCalls
        guard case .processed(let unchanged) = await catalog.process(sha256: second.sha256) else { Issue.record("second"); return }
        #expect(unchanged.counts.productsEmbedded == 0)
        #expect(unchanged.counts.productsUnchanged == Int64(products.count))
        #expect(h.embedCalls == callsBefore)

        // 1 % of the prices changed: only those rewritten, and their texts not embedded again.
        var repriced = products
        let changed = Set(stride(from: 0, to: products.count, by: 100))
        for i in changed { repriced[i].price += 1 }
        let third = try await catalog.add(path: try h.write(CatalogCSV.document(repriced), name: "repriced.csv"),
                                          name: "repriced.csv", kind: .catalog, contentType: "text/csv").record
        guard case .processed(let prices) = await catalog.process(sha256: third.sha256) else { Issue.record("third"); return }
        #expect(prices.counts.productsEmbedded == 0)
        #expect(prices.counts.productsPayloadUpdated == Int64(changed.count))
        #expect(prices.counts.productsUnchanged == Int64(products.count - changed.count))
        #expect(h.embedCalls == callsBefore)
        for i in changed {
            let v = try #require(try await h.vectors.vector(forProduct: repriced[i].id))
            #expect(v.price == repriced[i].price)
            #expect(v.vector == CountingHashEmbedder.vector(repriced[i].embeddingText))
        }
        #expect(try await h.vectors.count() == products.count)

        let page = try await catalog.list(limit: 2, after: nil)
        #expect(page.records.count == 2 && page.next != nil)
    }

    @Test func sameBytesOnTwoWorkersAtOnceAreProcessedOnce() async throws {
        let h = try Harness()
        let products = Self.products(200)
        let path = try h.write(CatalogCSV.document(products), name: "feed.csv")
        let workers = [h.catalog(worker: "w1"), h.catalog(worker: "w2")]
        let outcomes = await withTaskGroup(of: FileProcessOutcome.self) { group in
            for worker in workers {
                group.addTask {
                    guard let registration = try? await worker.add(path: path, name: "feed.csv", kind: .catalog,
                                                                   contentType: "text/csv") else {
                        return .notFound(sha256: "")
                    }
                    return await worker.process(sha256: registration.record.sha256)
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let processed = outcomes.filter { if case .processed = $0 { true } else { false } }
        let others = outcomes.filter { switch $0 { case .alreadyDone, .heldElsewhere: true; default: false } }
        #expect(processed.count == 1, "\(outcomes)")
        #expect(others.count == 1, "\(outcomes)")
        #expect(h.embedCalls == products.count)
        #expect(Set(h.embedder.embeddedTexts.keys) == Set(products.map(\.embeddingText)))
        #expect(try await h.vectors.count() == products.count)
        #expect(try await h.metadata.list(limit: 10, after: nil).records.count == 1)
    }

    @Test func aFileLeftProcessingByADeadWorkerIsFinishedAtStart() async throws {
        let h = try Harness()
        let products = Self.products(50)
        let first = h.catalog(worker: "dead")
        let record = try await first.add(path: try h.write(CatalogCSV.document(products), name: "c.csv"), name: "c.csv",
                                         kind: .catalog, contentType: "text/csv").record
        // As a killed worker leaves it: claimed, lease running.
        guard case .won(var claimed) = try await h.metadata.claim(sha256: record.sha256, holder: "dead", lease: .seconds(60),
                                                                   now: wallClockMillis()) else { Issue.record("claim"); return }
        let restarted = h.catalog(worker: "w2")
        // While its lease runs, nobody else takes it.
        if case .heldElsewhere = await restarted.process(sha256: record.sha256) {} else { Issue.record("a live lease was taken") }
        #expect(await restarted.finishUnfinished().isEmpty)
        // Once it has run out, the next start finishes it.
        claimed.leaseUntil = wallClockMillis() - 1
        try h.metadata.overwrite(claimed)
        let outcomes = await restarted.finishUnfinished()
        guard outcomes.count == 1, case .processed(let done) = outcomes[0] else { Issue.record("\(outcomes)"); return }
        #expect(done.attempts == 2)
        #expect(done.holder == "w2")
        #expect(try await h.vectors.count() == products.count)
        #expect(try await h.metadata.record(sha256: record.sha256)?.status == .done)
    }

    @Test func aFailedFileKeepsItsReasonAndCanBeRetried() async throws {
        let h = try Harness()
        let catalog = h.catalog()
        let record = try await catalog.add(path: try h.write("id,name,category,price\r\na,b,c,1\r\n", name: "bad.csv"),
                                           name: "bad.csv", kind: .catalog, contentType: "text/csv").record
        guard case .failed(let failed) = await catalog.process(sha256: record.sha256) else { Issue.record("not failed"); return }
        #expect(failed.error?.contains("'description'") == true)
        #expect(try await h.metadata.record(sha256: record.sha256)?.status == .failed)
        if case .awaitingRetry = await catalog.process(sha256: record.sha256) {} else { Issue.record("reprocessed without a retry") }
        guard case .requeued = try await catalog.retry(sha256: record.sha256) else { Issue.record("not requeued"); return }
        guard case .failed(let again) = await catalog.process(sha256: record.sha256) else { Issue.record("retry"); return }
        #expect(again.attempts == 2)
        // A re-upload of failed bytes is a retry too.
        let reupload = try await catalog.add(path: try h.write("id,name,category,price\r\na,b,c,1\r\n", name: "bad2.csv"),
                                             name: "bad2.csv", kind: .catalog, contentType: "text/csv")
        #expect(reupload.record.status == .queued)
    }

    @Test func eventsFileStoredExactlyOnceBesideTheStream() async throws {
        let h = try Harness()
        var stream = EventGenerator(configuration: GeneratorConfiguration(seed: 3, productCount: 40)).makeStream()
        let records = (0..<600).map { _ in stream.next().bytes }
        // The first 400 arrive through the stream (as through Kafka) ...
        let streamed = PipelineStages(source: ArraySource(Array(records.prefix(400)), topic: "kafka"), dedup: h.dedup,
                                      embedder: h.embedder, vectors: h.vectors, events: h.events, deadLetters: h.events)
        var engineConfiguration = EngineConfiguration()
        engineConfiguration.triggerInterval = .milliseconds(10)
        try await MicroBatchEngine(configuration: engineConfiguration, stages: streamed).run()
        #expect(try await h.events.eventCount() == 400)
        // ... and the file has all 600, plus two bad lines.
        let lines = records.map { String(decoding: $0, as: UTF8.self) }
        let file = (lines.prefix(300) + ["{\"event_id\": 1}", "not json"] + lines.dropFirst(300)).joined(separator: "\n") + "\n"
        let catalog = h.catalog()
        let record = try await catalog.add(path: try h.write(file, name: "backfill.jsonl"), name: "backfill.jsonl",
                                           kind: .events, contentType: "application/x-ndjson").record
        guard case .processed(let done) = await catalog.process(sha256: record.sha256) else { Issue.record("events"); return }
        #expect(done.counts.rowsTotal == 602)
        #expect(done.counts.rowsAccepted == 600)
        #expect(done.counts.rowsRejected == 2)
        #expect(done.counts.eventsStored == 200)
        #expect(done.counts.eventsDeduplicated == 400)
        #expect(done.rejectedSamples.map(\.line) == [301, 302])
        #expect(done.rejectedSamples.map(\.code) == ["wrong_type", "not_json"])
        #expect(try await h.events.eventCount() == 600)
    }
}
