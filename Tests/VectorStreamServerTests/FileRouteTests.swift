import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamServer

/// The file routes on a real server over the embedded stores: uploads (raw and multipart) stored by SHA-256 and
/// processed once in the background, known bytes answered 200, the file size limit apart from the JSON body limit,
/// reads with paging and a download URL field, retries, every bad input a 400/404/409, and the document.
@Suite("Files: API routes")
struct FileRouteTests {
    struct Fixture {
        let server: StubServer
        let service: FileService
        let worker: Task<Void, Never>
        let vectors: EmbeddedVectorIndex

        func stop() {
            worker.cancel()
            server.stop()
        }
    }

    static func start(maxBytes: Int = 1 << 20, key: String? = nil) async throws -> Fixture {
        let directory = NSTemporaryDirectory() + "vectorstream-files-\(UUID().uuidString.prefix(8))"
        let database = try EmbeddedDatabase(directory: directory)
        let embedder = StubEmbedder()
        let vectors = try EmbeddedVectorIndex(database: database, dimension: embedder.dimension)
        let events = SQLiteEventStore(database: database)
        var settings = VectorStreamConfiguration.FilesSettings()
        settings.maxBytes = maxBytes
        let stages = PipelineStages(source: EmptySource(), dedup: InMemoryDedupStore(), embedder: embedder, vectors: vectors,
                                    events: events, deadLetters: events)
        let catalog = FileCatalog(configuration: .init(workerID: "api-1", settings: settings),
                                  objects: try DirectoryObjectStore(root: directory + "/files/objects"),
                                  metadata: SQLiteFileMetadataStore(database: database),
                                  local: try LocalFiles(workDirectory: directory + "/files/work"), stages: stages,
                                  makeEventSource: { try JSONLinesFileSource(path: $0, database: database) })
        let service = FileService(catalog: catalog, queue: FileWorkQueue(catalog: catalog),
                                  incomingDirectory: directory + "/files/incoming")
        var dependencies = APIDependencies(embedder: embedder, vectors: vectors, analytics: StubAnalyticsStore())
        dependencies.files = service
        let server = try await StubServer.start(
            APIServerConfiguration(host: "127.0.0.1", port: 0, apiKey: key, maxBodyBytes: 1024), dependencies)
        let worker = Task { await service.queue.run() }
        return Fixture(server: server, service: service, worker: worker, vectors: vectors)
    }

    static let csv = "id,name,description,category,price\r\n"
        + (1...40).map { "p-\($0),Product \($0),\"A thing, number \($0)\",toys,\($0).5\r\n" }.joined()
        + "bad,,no name,toys,1\r\n"

    /// Polls the record until it is done or failed.
    static func settled(_ f: Fixture, _ sha: String, key: String? = nil) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let json = try await f.server.request(.GET, "/v1/files/\(sha)", key: key).reply.json
            if let status = json["status"] as? String, status == "done" || status == "failed" { return json }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("file \(sha) did not settle")
        return [:]
    }

    @Test func rawUploadIsStoredProcessedOnceAndKnownAfterwards() async throws {
        let f = try await Self.start()
        defer { f.stop() }
        // 2.2 KB: over the API's JSON limit (1 KiB here), which this route does not use.
        let body = Array(Self.csv.utf8)
        #expect(body.count > 1024)
        let (reply, _, _) = try await f.server.request(.POST, "/v1/files?kind=catalog&name=feed.csv", body: body, contentType: "text/csv")
        #expect(reply.status == 202, "\(reply.text)")
        let sha = try #require(reply.json["sha256"] as? String)
        #expect(sha == ContentHash.sha256Hex(body))
        #expect(reply.json["status"] as? String == "queued")
        #expect(reply.json["object_key"] as? String == FileCatalog.objectKey(sha256: sha))
        let done = try await Self.settled(f, sha)
        #expect(done["status"] as? String == "done")
        let counts = done["counts"] as? [String: Any] ?? [:]
        #expect(counts["rows_accepted"] as? Int == 40)
        #expect(counts["rows_rejected"] as? Int == 1)
        #expect(counts["products_embedded"] as? Int == 40)
        let samples = done["rejected_samples"] as? [[String: Any]] ?? []
        #expect(samples.first?["reason"] as? String == "field 'name' is empty")
        #expect(samples.first?["row"] as? Int == 41)
        #expect(done.keys.contains("download_url"))
        #expect(try await f.vectors.count() == 40)

        let again = try await f.server.request(.POST, "/v1/files?kind=catalog&name=other.csv", body: body, contentType: "text/csv").reply
        #expect(again.status == 200)
        #expect(again.json["status"] as? String == "done")
        #expect(again.json["name"] as? String == "feed.csv")

        let list = try await f.server.request(.GET, "/v1/files?limit=1").reply
        #expect(list.status == 200)
        #expect((list.json["items"] as? [[String: Any]])?.first?["sha256"] as? String == sha)
        #expect(list.json["next"] is NSNull)
        let retry = try await f.server.request(.POST, "/v1/files/\(sha)/retry").reply
        #expect(retry.status == 409)
    }

    @Test func multipartUploadTakesTheFilePartAndItsFields() async throws {
        let f = try await Self.start()
        defer { f.stop() }
        let boundary = "----vs-boundary-7"
        let csv = Self.csv.replacingOccurrences(of: "toys", with: "games")
        let body = "--\(boundary)\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ncatalog\r\n"
            + "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"shop feed.csv\"\r\n"
            + "Content-Type: text/csv\r\n\r\n\(csv)\r\n--\(boundary)--\r\n"
        let reply = try await f.server.request(.POST, "/v1/files", body: Array(body.utf8),
                                               contentType: "multipart/form-data; boundary=\(boundary)").reply
        #expect(reply.status == 202, "\(reply.text)")
        #expect(reply.json["name"] as? String == "shop feed.csv")
        #expect(reply.json["content_type"] as? String == "text/csv")
        #expect(reply.json["sha256"] as? String == ContentHash.sha256Hex(Array(csv.utf8)))
        let done = try await Self.settled(f, reply.json["sha256"] as? String ?? "")
        #expect((done["counts"] as? [String: Any])?["rows_accepted"] as? Int == 40)

        let broken = try await f.server.request(.POST, "/v1/files", body: Array("--\(boundary)\r\nno end".utf8),
                                                contentType: "multipart/form-data; boundary=\(boundary)").reply
        #expect(broken.status == 400)
    }

    @Test func theFileLimitIsItsOwnAndBadInputIsRefused() async throws {
        let f = try await Self.start(maxBytes: 500)
        defer { f.stop() }
        let big = try await f.server.request(.POST, "/v1/files", body: [UInt8](repeating: 0x41, count: 600), contentType: "text/csv").reply
        #expect(big.status == 413)
        #expect((big.json["detail"] as? String ?? "").contains("files.max_bytes"))
        #expect(try await f.server.request(.POST, "/v1/files?kind=nope", body: Array("x".utf8)).reply.status == 400)
        #expect(try await f.server.request(.POST, "/v1/files?name=", body: Array("x".utf8)).reply.status == 400)
        #expect(try await f.server.request(.GET, "/v1/files/not-a-hash").reply.status == 400)
        #expect(try await f.server.request(.GET, "/v1/files/" + String(repeating: "a", count: 64)).reply.status == 404)
        #expect(try await f.server.request(.POST, "/v1/files/" + String(repeating: "a", count: 64) + "/retry").reply.status == 404)
        #expect(try await f.server.request(.GET, "/v1/files?cursor=garbage").reply.status == 400)
        #expect(try await f.server.request(.GET, "/v1/files?limit=0").reply.status == 400)
        // A failed file (no usable header) keeps its reason and is retried by the route.
        let bad = try await f.server.request(.POST, "/v1/files?name=bad.csv", body: Array("id,name\r\na,b\r\n".utf8), contentType: "text/csv").reply
        #expect(bad.status == 202)
        let sha = bad.json["sha256"] as? String ?? ""
        let failed = try await Self.settled(f, sha)
        #expect(failed["status"] as? String == "failed")
        #expect((failed["error"] as? String ?? "").contains("'description'"))
        let retried = try await f.server.request(.POST, "/v1/files/\(sha)/retry").reply
        #expect(retried.status == 202)
        #expect(retried.json["status"] as? String == "queued")
    }

    @Test func documentAndKeyCoverTheRoutesOnlyWhereFilesAreKept() async throws {
        let f = try await Self.start(key: "k")
        defer { f.stop() }
        #expect(try await f.server.request(.GET, "/v1/files").reply.status == 401)
        #expect(try await f.server.request(.GET, "/v1/files", key: "k").reply.status == 200)
        let doc = try await f.server.request(.GET, "/openapi.json").reply.json
        let paths = doc["paths"] as? [String: Any] ?? [:]
        for path in ["/v1/files", "/v1/files/{sha256}", "/v1/files/{sha256}/retry"] { #expect(paths[path] != nil, "\(path)") }
        let upload = ((paths["/v1/files"] as? [String: Any])?["post"] as? [String: Any])?["responses"] as? [String: Any] ?? [:]
        #expect(Set(upload.keys) == ["200", "202", "400", "401", "413", "500", "503"])
        // What the server does, the document says (schemathesis found both): any bytes are a valid raw body, and a
        // multipart body needs its file part (without one the answer is 400).
        let content = (((paths["/v1/files"] as? [String: Any])?["post"] as? [String: Any])?["requestBody"] as? [String: Any])?["content"] as? [String: Any] ?? [:]
        for media in ["application/octet-stream", "text/csv", "application/x-ndjson"] {
            let schema = (content[media] as? [String: Any])?["schema"] as? [String: Any]
            #expect(schema != nil && schema?["type"] == nil, "\(media): \(String(describing: schema))")
        }
        let multipart = (content["multipart/form-data"] as? [String: Any])?["schema"] as? [String: Any]
        #expect(multipart?["required"] as? [String] == ["file"])
        let noFile = try await f.server.request(.POST, "/v1/files?kind=catalog",
                                                body: Array("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--b--\r\n".utf8),
                                                contentType: "multipart/form-data; boundary=b", key: "k").reply
        #expect(noFile.status == 400)
        // A form field that says something invalid is refused even when the query string gives a valid value.
        #expect((multipart?["properties"] as? [String: Any])?["kind"].flatMap { ($0 as? [String: Any])?["enum"] as? [String] } == ["catalog", "events"])
        let badField = try await f.server.request(.POST, "/v1/files?kind=catalog",
                                                  body: Array("--b\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nnope\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n\r\nid,name,description,category,price\r\n--b--\r\n".utf8),
                                                  contentType: "multipart/form-data; boundary=b", key: "k").reply
        #expect(badField.status == 400, "\(badField.text)")
        let delete = try await f.server.request(.DELETE, "/v1/files", key: "k").reply
        #expect(delete.status == 405)

        let plain = try await StubServer.start(APIServerConfiguration(host: "127.0.0.1", port: 0),
                                               APIDependencies(embedder: StubEmbedder(), vectors: StubVectorStore(),
                                                               analytics: StubAnalyticsStore()))
        defer { plain.stop() }
        #expect(try await plain.request(.GET, "/v1/files").reply.status == 404)
        let plainDoc = try await plain.request(.GET, "/openapi.json").reply.json
        #expect((plainDoc["paths"] as? [String: Any])?["/v1/files"] == nil)
    }
}

/// Nothing to read: the file manager replaces the source per file.
struct EmptySource: EventSource {
    func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? { nil }
    func acknowledge(_ token: CommitToken) async throws {}
}
