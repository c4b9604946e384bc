import Foundation
import S3Client
import Testing
import VectorStreamCore
import VectorStreamEmbedded

/// `vectorstream import` as a user runs it on the production path: the file stored in S3 (SeaweedFS), processed
/// once, and announced on Kafka's `file_processed` topic, read back by confluent-kafka (a client we did not write).
@Suite("File import through S3 and Kafka", .serialized)
struct FileImportEndToEndTests {
    static let catalog = """
    id,name,description,category,price\r
    p-1,Trail Running Shoe,"Light shoe with a grippy sole, for rough paths",Sports,89.90\r
    p-2,Ceramic Pour-Over Kettle,A kettle with a gooseneck spout,Kitchen,45.00\r
    p-3,"Desk Lamp \"\"Arc\"\"",LED lamp with a warm light,Home,39.50\r
    p-4,,missing name,Home,10\r
    p-5,Wool Beanie,Warm knitted hat,Apparel,not-a-price\r
    p-6,Noise-Cancelling Headphones,Over-ear with 30 hours of battery,Electronics,199.99\r

    """

    @Test("import stores the file in S3 under its SHA-256, embeds the valid rows, and file_processed carries every field")
    func importAnnouncesFileProcessed() async throws {
        let binary = try #require(S3Test.binary, "the vectorstream binary is not built")
        let brokers = KafkaTest.brokers
        let topic = KafkaTest.uniqueTopic("file-processed")
        let s3 = try await S3Test.client("import")
        defer { Task { await S3Test.cleanUp(s3) } }
        let endpoint = try S3Test.endpoint()

        let path = S3Test.temporaryPath("catalog.csv")
        let bytes = Data(Self.catalog.utf8)
        try bytes.write(to: URL(fileURLWithPath: path))
        let sha256 = ContentHash.sha256Hex(Array(bytes))
        let dataDirectory = S3Test.temporaryPath("data")

        let environment = [
            "VECTORSTREAM_DATA_DIR": dataDirectory,
            "VECTORSTREAM_KAFKA_BROKERS": brokers,
            "VECTORSTREAM_KAFKA_FILE_PROCESSED_TOPIC": topic,
            "VECTORSTREAM_S3_ENDPOINT": endpoint,
            "VECTORSTREAM_S3_BUCKET": s3.configuration.bucket,
            "VECTORSTREAM_S3_ACCESS_KEY_ID": S3Test.accessKey,
            "VECTORSTREAM_S3_SECRET_ACCESS_KEY": S3Test.secretKey,
        ]
        let run = try await Self.run(binary, ["import", path, "--kind", "catalog", "--name", "nightly.csv"], environment)
        #expect(run.status == 0, "import failed: \(run.output.suffix(2000))")
        #expect(!run.output.contains(S3Test.secretKey), "the secret appears in the output")

        // The object is in the bucket, under a key naming its SHA-256, byte for byte.
        let objects = try await s3.listAllObjects()
        let stored = objects.filter { $0.key.contains(sha256) }
        #expect(stored.count == 1, "objects: \(objects.map(\.key))")
        if let object = stored.first { #expect(object.size == Int64(bytes.count)) }

        // file_processed, read by confluent-kafka from the beginning of the topic.
        let reader = """
        import json, sys, time
        from confluent_kafka import Consumer
        c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "fp-reader-" + sys.argv[2],
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe([sys.argv[2]])
        deadline = time.time() + 30
        while time.time() < deadline:
            m = c.poll(1.0)
            if m is None or m.error():
                continue
            print(m.value().decode())
            break
        c.close()
        """
        let read = try await Self.run("/usr/bin/env", ["python3", "-c", reader, brokers, topic], [:])
        #expect(read.status == 0, "reader failed: \(read.output)")
        let line = try #require(read.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                                "no file_processed message: \(read.output)")
        let notice = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(notice["sha256"] as? String == sha256)
        #expect((notice["object_key"] as? String)?.contains(sha256) == true)
        #expect(notice["name"] as? String == "nightly.csv")
        #expect(notice["kind"] as? String == "catalog")
        #expect(notice["status"] as? String == "done")
        #expect((notice["rows_accepted"] as? NSNumber)?.intValue == 4)
        #expect((notice["rows_rejected"] as? NSNumber)?.intValue == 2)
        #expect((notice["products_embedded"] as? NSNumber)?.intValue == 4)
        #expect((notice["model_version"] as? String)?.isEmpty == false)
        #expect(notice["duration_ms"] is NSNumber)

        // The same bytes again: known, processed once, no second notice needed for the test; nothing embedded.
        let again = try await Self.run(binary, ["import", path, "--kind", "catalog", "--json"], environment)
        #expect(again.status == 0, "second import failed: \(again.output.suffix(2000))")
        #expect(try await s3.listAllObjects().filter { $0.key.contains(sha256) }.count == 1)
    }

    /// A worker killed mid-file leaves its record `processing`; a worker started later without the API
    /// (`run --no-server`, how stream-only workers run) finishes it once the lease has run out. Before the file queue
    /// ran on every worker, only a worker serving the API looked for such files and this one left it unfinished.
    @Test("a stream-only worker finishes a file a dead worker left processing")
    func streamOnlyWorkerFinishesAbandonedFile() async throws {
        let binary = try #require(S3Test.binary, "the vectorstream binary is not built")
        let path = S3Test.temporaryPath("catalog.csv")
        let bytes = Data(Self.catalog.utf8)
        try bytes.write(to: URL(fileURLWithPath: path))
        let sha256 = ContentHash.sha256Hex(Array(bytes))
        let dataDirectory = S3Test.temporaryPath("data")
        let topic = KafkaTest.uniqueTopic("abandoned-file")
        let environment = [
            "VECTORSTREAM_DATA_DIR": dataDirectory,
            "VECTORSTREAM_KAFKA_BROKERS": KafkaTest.brokers,
            "VECTORSTREAM_KAFKA_TOPIC": topic,
            "VECTORSTREAM_KAFKA_GROUP": topic,
            "VECTORSTREAM_KAFKA_DEAD_LETTER_TOPIC": topic + "-dlq",
            "VECTORSTREAM_KAFKA_EMBEDDINGS_READY_TOPIC": topic + "-ready",
            "VECTORSTREAM_KAFKA_FILE_PROCESSED_TOPIC": topic + "-files",
            "VECTORSTREAM_FILES_CLAIM_LEASE": "2s",
        ]
        let imported = try await Self.run(binary, ["import", path, "--kind", "catalog"], environment, isolated: true)
        try #require(imported.status == 0, "import failed: \(imported.output.suffix(2000))")
        // As a worker killed mid-file leaves it: processing, its lease run out, nothing counted yet.
        do {
            let store = SQLiteFileMetadataStore(database: try EmbeddedDatabase(directory: dataDirectory))
            var record = try #require(try await store.record(sha256: sha256))
            record.status = .processing
            record.holder = "dead-worker"
            record.leaseUntil = wallClockMillis() - 1000
            record.counts = FileCounts()
            record.finishedAt = nil
            try store.overwrite(record)
        }
        let worker = try await Self.run(binary, ["run", "--no-server", "--until-idle", "12", "--json"], environment, isolated: true)
        #expect(worker.status == 0, "run failed: \(worker.output.suffix(2000))")
        let store = SQLiteFileMetadataStore(database: try EmbeddedDatabase(directory: dataDirectory))
        let record = try #require(try await store.record(sha256: sha256))
        #expect(record.status == .done, "status \(record.status), holder \(record.holder ?? "-")")
        #expect(record.counts.rowsAccepted == 4 && record.counts.rowsRejected == 2)
        #expect(record.attempts == 2)
    }

    /// Runs a program to its end without holding one of the test process's few cooperative threads meanwhile
    /// (a blocked thread starves the timing-sensitive tests running beside this one).
    /// `isolated`: none of this process's own `VECTORSTREAM_` settings reach the program (a server URL set for the
    /// tests would change which stores it uses).
    static func run(_ binary: String, _ arguments: [String], _ environment: [String: String],
                    isolated: Bool = false) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let inherited = ProcessInfo.processInfo.environment.filter { !isolated || !$0.key.hasPrefix("VECTORSTREAM_") }
        process.environment = inherited.merging(environment) { $1 }
        let outputPath = S3Test.temporaryPath("import.out")
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let exited = AsyncStream<Void> { continuation in
            process.terminationHandler = { _ in continuation.yield(); continuation.finish() }
        }
        try process.run()
        for await _ in exited { break }
        process.waitUntilExit()  // already exited: returns at once
        try? handle.close()
        return (process.terminationStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }
}
