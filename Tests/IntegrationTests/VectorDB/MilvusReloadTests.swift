import Foundation
import Synchronization
import Testing
import VectorStreamCore
@testable import VectorStreamVectorDB
#if canImport(Glibc)
import Glibc
#endif

/// Issue #16 F6: after a restart Milvus reloads its collections for a while and reads fail with "collection not
/// loaded"; the store loads the collection (REST v2) or waits for Milvus's own reload (REST v1 has no load call),
/// retries the read once, and its health check says degraded until the collection is loaded.
///
/// Against a scripted stand-in of Milvus's REST API: the real server is shared by the suites running in parallel
/// and cannot be restarted under them (nor can a second one run beside it: its embedded etcd's port is fixed).
@Suite("Milvus reload after a restart")
struct MilvusReloadTests {
    static func store(_ fake: FakeMilvus) -> MilvusVectorStore {
        MilvusVectorStore(configuration: .init(url: "http://127.0.0.1:\(fake.port)", collection: "products", dimension: 4,
                                               requestTimeout: .seconds(5), loadTimeout: .seconds(10)))
    }

    @Test func v1ReadWaitsForMilvussOwnReloadAndRetriesOnce() async throws {
        let fake = try FakeMilvus(api: .v1)
        defer { fake.stop() }
        let store = Self.store(fake)
        try await store.prepare()
        #expect(await store.checkHealth() == .ok)

        fake.restart(loadingFor: 4)  // the next four load-state reads say Loading, then Loaded
        let health = await store.checkHealth()
        if case .degraded(let reason) = health {
            #expect(reason.contains("not loaded"))
        } else {
            Issue.record("expected degraded while the collection loads, got \(health)")
        }

        let hits = try await store.search([1, 0, 0, 0], k: 3, filter: SearchFilter(), modelVersion: "m1")
        #expect(hits.map(\.productID) == ["p-1"])
        #expect(fake.counts.withLock { $0.reads } == 2)  // refused once, retried once
        #expect(fake.counts.withLock { $0.loads } == 0)  // v1 has no load call
        #expect(await store.checkHealth() == .ok)
    }

    @Test func v2ReadLoadsTheCollectionAndRetriesOnce() async throws {
        let fake = try FakeMilvus(api: .v2)
        defer { fake.stop() }
        let store = Self.store(fake)
        try await store.prepare()
        #expect(await store.checkHealth() == .ok)

        fake.release()  // NotLoad until the store asks for a load; then Loading twice, then Loaded
        let health = await store.checkHealth()
        if case .degraded = health {} else { Issue.record("expected degraded while the collection is released, got \(health)") }
        let product = try await store.vector(forProduct: "p-1")
        #expect(product?.productID == "p-1")
        #expect(fake.counts.withLock { $0.loads } == 1)
        #expect(fake.counts.withLock { $0.reads } == 2)
        #expect(await store.checkHealth() == .ok)
    }

    @Test func aReadThatStillFailsAfterTheReloadFailsOnce() async throws {
        let fake = try FakeMilvus(api: .v2)
        defer { fake.stop() }
        let store = Self.store(fake)
        try await store.prepare()
        fake.refuseReadsEvenWhenLoaded()
        await #expect(throws: VectorDatabaseError.self) {
            try await store.search([1, 0, 0, 0], k: 3, filter: SearchFilter(), modelVersion: "m1")
        }
        #expect(fake.counts.withLock { $0.reads } == 2)  // one retry, not a loop
    }
}

/// A scripted Milvus REST server (v1 or v2) on a loopback socket: one collection, "products", of dimension 4.
final class FakeMilvus: Sendable {
    enum API { case v1, v2 }
    struct Counts { var reads = 0; var loads = 0 }
    private struct State {
        var load = "LoadStateLoaded"
        /// Load-state reads left before a loading collection reads as loaded.
        var loadingReads = 0
        var refuseReads = false
    }

    let port: Int
    let api: API
    let counts = Mutex(Counts())
    private let state = Mutex(State())
    private let listener: Int32

    init(api: API) throws {
        self.api = api
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { a -> Bool in
                bind(fd, a, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, a, &length) == 0
            }
        }
        guard bound else { throw VectorDatabaseError(.unreachable, "fake milvus: cannot listen (errno \(errno))") }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in serve() }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// As after a restart: Loading for `reads` load-state reads, then Loaded (Milvus reloads by itself).
    func restart(loadingFor reads: Int) {
        state.withLock { $0.load = "LoadStateLoading"; $0.loadingReads = reads }
    }

    /// As after a release: NotLoad until a load call.
    func release() { state.withLock { $0.load = "LoadStateNotLoad" } }

    func refuseReadsEvenWhenLoaded() { state.withLock { $0.refuseReads = true } }

    /// The load state as a read of it sees it (a loading collection finishes after its scripted reads).
    private func readLoadState() -> String {
        state.withLock { s in
            if s.load == "LoadStateLoading" {
                if s.loadingReads <= 0 { s.load = "LoadStateLoaded" } else { s.loadingReads -= 1 }
            }
            return s.load
        }
    }

    private func respond(method: String, path: String) -> (status: Int, body: String) {
        let ok = api == .v1 ? 200 : 0
        func answer(_ data: String) -> (Int, String) { (200, #"{"code":\#(ok),"data":\#(data)}"#) }
        let notLoaded = (200, #"{"code":101,"message":"failed to search/query: collection not loaded[collection=products]"}"#)
        switch (api, path.split(separator: "?").first.map(String.init) ?? path) {
        case (.v1, "/v2/vectordb/collections/list"): return (404, "404 page not found")
        case (.v1, "/v1/vector/collections"), (.v2, "/v2/vectordb/collections/list"): return answer(#"["products"]"#)
        case (.v1, "/v1/vector/collections/describe"):
            return answer(#"{"collectionName":"products","fields":[{"name":"id","type":"Int64"},"#
                          + #"{"name":"vector","type":"FloatVector(4)"}],"load":"\#(readLoadState())"}"#)
        case (.v2, "/v2/vectordb/collections/has"): return answer(#"{"has":true}"#)
        case (.v2, "/v2/vectordb/collections/describe"):
            return answer(#"{"fields":[{"name":"product_id","primaryKey":true},{"name":"vector","params":[{"key":"dim","value":"4"}]}]}"#)
        case (.v2, "/v2/vectordb/collections/get_load_state"): return answer(#"{"loadState":"\#(readLoadState())"}"#)
        case (.v2, "/v2/vectordb/collections/load"):
            counts.withLock { $0.loads += 1 }
            state.withLock { $0.load = "LoadStateLoading"; $0.loadingReads = 2 }
            return answer("{}")
        case (_, "/v1/vector/search"), (_, "/v1/vector/query"), (_, "/v2/vectordb/entities/search"),
             (_, "/v2/vectordb/entities/query"):
            counts.withLock { $0.reads += 1 }
            let refused = state.withLock { $0.load != "LoadStateLoaded" || $0.refuseReads }
            if refused { return notLoaded }
            return answer(#"[{"product_id":"p-1","distance":0.9,"name":"n","category":"c","price":1,"#
                          + #""vector":[1,0,0,0],"model_version":"m1","text_hash":"h","updated_at":1}]"#)
        default:
            return (404, "no such path \(method) \(path)")
        }
    }

    private func serve() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            handle(connection)
            close(connection)
        }
    }

    /// One request per connection (`Connection: close`).
    private func handle(_ fd: Int32) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        var contentLength = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return }
            received += buffer[0..<n]
            if headerEnd == nil, received.count >= 4,
               let end = (0...(received.count - 4)).first(where: { Array(received[$0..<$0 + 4]) == separator }) {
                headerEnd = end
                let head = String(decoding: received[..<end], as: UTF8.self).lowercased()
                for line in head.components(separatedBy: "\r\n") where line.hasPrefix("content-length:") {
                    contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let end = headerEnd, received.count >= end + 4 + contentLength { break }
        }
        let requestLine = String(decoding: received.prefix { $0 != 13 }, as: UTF8.self).split(separator: " ")
        let (status, body) = respond(method: String(requestLine.first ?? ""), path: String(requestLine.dropFirst().first ?? ""))
        let bytes = Array(body.utf8)
        let response = Array("HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n".utf8) + bytes
        var sent = 0
        while sent < response.count {
            let n = response[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            sent += n
        }
    }
}
