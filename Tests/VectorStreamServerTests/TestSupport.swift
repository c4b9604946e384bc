import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import VectorStreamCore
import VectorStreamServer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: Raw HTTP

/// HTTP/1.1 written byte for byte over a plain socket: the request line goes out as written (`//v1/...` stays
/// `//v1/...`, a `Content-Length` can lie), which HTTP clients that normalise or check requests do not allow.
enum RawHTTP {
    struct Reply: Sendable {
        let status: Int
        let headers: [(name: String, value: String)]
        let body: [UInt8]
        /// From connecting to the end of the response's body.
        let seconds: Double

        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends `head` (the request line and headers, without the blank line) and `body`, then reads one response.
    /// Fails when no whole response arrived within `timeout` seconds.
    static func send(port: Int, head: String, body: [UInt8] = [], timeout: Double = 5) async throws -> Reply {
        let bytes = Array((head + "\r\n\r\n").utf8) + body
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try exchange(port: port, bytes: bytes, timeout: timeout) })
            }
        }
    }

    private static func exchange(port: Int, bytes: [UInt8], timeout: Double) throws -> Reply {
        let start = Date()
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect: errno \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send: errno \(errno)") }
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let reply = parse(received, start: start) { return reply }
            if Date().timeIntervalSince(start) > timeout {
                throw Failure(description: "no whole response within \(timeout) s (got \(received.count) bytes)")
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                received += buffer[0..<n]
            } else if n == 0 {
                if let reply = parse(received, start: start, closed: true) { return reply }
                throw Failure(description: "connection closed after \(received.count) bytes: \(String(decoding: received, as: UTF8.self))")
            } else {
                throw Failure(description: "no whole response within \(timeout) s (errno \(errno), got \(received.count) bytes)")
            }
        }
    }

    private static func parse(_ bytes: [UInt8], start: Date, closed: Bool = false) -> Reply? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4,
              let end = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == separator })
        else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let body = Array(bytes[(end + 4)...])
        if let length = headers.first(where: { $0.name.lowercased() == "content-length" }).flatMap({ Int($0.value) }) {
            guard body.count >= length else { return nil }
            return Reply(status: status, headers: headers, body: Array(body.prefix(length)),
                         seconds: Date().timeIntervalSince(start))
        }
        guard closed else { return nil }
        return Reply(status: status, headers: headers, body: body, seconds: Date().timeIntervalSince(start))
    }
}

extension APIFixture {
    var port: Int { Int(baseURL.split(separator: ":").last!)! }
}

// MARK: Stub dependencies

/// What a stub dependency does when called.
enum StubMode: Sendable {
    case healthy
    /// Sleeps this long before answering (a server that accepted the connection and went quiet).
    case hang(Duration)
    case fail(String)
}

struct StubFailure: Error, CustomStringConvertible {
    let description: String
}

/// A four-dimensional embedder: no model, instant answers.
struct StubEmbedder: TextEmbedder {
    var modelVersion: String { "stub-model" }
    var dimension: Int { 4 }
    func embed(_ texts: [String]) async throws -> [[Float]] { texts.map { _ in [1, 0, 0, 0] } }
}

/// A vector store whose behaviour a test switches between healthy, hanging and failing.
final class StubVectorStore: VectorStore, Sendable {
    let mode = Mutex(StubMode.healthy)
    let calls = Atomic<Int>(0)

    func set(_ mode: StubMode) { self.mode.withLock { $0 = mode } }

    private func behave() async throws {
        calls.add(1, ordering: .relaxed)
        switch mode.withLock({ $0 }) {
        case .healthy: return
        case .hang(let d): try await Task.sleep(for: d)
        case .fail(let message): throw StubFailure(description: message)
        }
    }

    func upsert(_ vectors: [ProductVector]) async throws { try await behave() }

    func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit] {
        try await behave()
        return (1...3).map { SearchHit(productID: "p-\($0 + 10)", score: 0.9, name: "n", category: "c", price: 1) }
    }

    /// Every product exists except those whose id starts with "missing".
    func vector(forProduct id: String) async throws -> ProductVector? {
        try await behave()
        if id.hasPrefix("missing") { return nil }
        return ProductVector(productID: id, vector: [1, 0, 0, 0], name: "n", category: "c", price: 1,
                             modelVersion: "stub-model", contentHash: "h", updatedAt: 0)
    }

    func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)] {
        try await behave()
        return [:]
    }

    func count() async throws -> Int {
        try await behave()
        return 3
    }
}

/// Analytics with fixed rows; `revenue` lets a test produce sums no JSON can carry.
final class StubAnalyticsStore: AnalyticsStore, Sendable {
    let revenue: Double
    let mode = Mutex(StubMode.healthy)

    init(revenue: Double = 12.5) { self.revenue = revenue }

    func set(_ mode: StubMode) { self.mode.withLock { $0 = mode } }

    private func behave() async throws {
        switch mode.withLock({ $0 }) {
        case .healthy: return
        case .hang(let d): try await Task.sleep(for: d)
        case .fail(let message): throw StubFailure(description: message)
        }
    }

    func topProducts(eventType: EventType, since: EpochMillis, limit: Int) async throws -> [ProductCount] {
        try await behave()
        return [ProductCount(productID: "p-1", name: "n", category: "c", count: 3, revenue: revenue)]
    }

    func funnel(since: EpochMillis) async throws -> Funnel {
        try await behave()
        return Funnel(views: 10, carts: 5, purchases: 2)
    }

    func categories(since: EpochMillis) async throws -> [CategoryStats] {
        try await behave()
        return [CategoryStats(category: "c", events: 10, purchases: 2, revenue: revenue)]
    }

    func recentInteractions(userID: String, limit: Int) async throws -> [UserInteraction] {
        try await behave()
        return []
    }

    func eventCount() async throws -> Int64 {
        try await behave()
        return 10
    }
}

/// A live state store that a test can make hang.
final class StubLiveState: LiveStateStore, Sendable {
    let mode = Mutex(StubMode.healthy)

    func set(_ mode: StubMode) { self.mode.withLock { $0 = mode } }

    func publish(worker: String, stats: PipelineStats) async throws {}

    func workers() async throws -> [String: PipelineStats] {
        switch mode.withLock({ $0 }) {
        case .healthy: return [:]
        case .hang(let d): try await Task.sleep(for: d)
        case .fail(let message): throw StubFailure(description: message)
        }
        return [:]
    }
}

// MARK: A server per test

/// An API server on stub dependencies, listening on a free port until the test ends.
struct StubServer: Sendable {
    let baseURL: String
    let port: Int
    let task: Task<Void, any Error>

    /// The server's log, kept for assertions instead of printed.
    let log: LogCapture

    static func start(_ configuration: APIServerConfiguration, _ dependencies: APIDependencies) async throws -> StubServer {
        var configuration = configuration
        configuration.port = 0
        let log = LogCapture()
        let logger = Logger(label: "stub-server") { _ in CapturingLogHandler(capture: log) }
        let server = APIServer(configuration: configuration, dependencies: dependencies, logger: logger)
        let port = AsyncStream<Int>.makeStream()
        let app = server.makeApplication(logger: logger) { p in
            port.continuation.yield(p)
        }
        let task = Task { try await app.runService() }
        var iterator = port.stream.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw CancellationError() }
        return StubServer(baseURL: "http://127.0.0.1:\(bound)", port: bound, task: task, log: log)
    }

    func stop() { task.cancel() }

    /// A request through AsyncHTTPClient, and how long it took.
    func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json",
                 key: String? = nil, timeout: Int64 = 10) async throws -> (reply: APIFixture.Reply, seconds: Double,
                                                                          headers: HTTPHeaders) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let start = ContinuousClock.now
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (APIFixture.Reply(status: Int(response.status.code), body: Array(buffer: bytes),
                                 contentType: response.headers.first(name: "Content-Type")), seconds, response.headers)
    }
}

// MARK: Logs

/// What a server logged, in order.
final class LogCapture: Sendable {
    struct Entry: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }
    private let entries = Mutex<[Entry]>([])

    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }
    var all: [Entry] { entries.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        capture.append(.init(level: event.level, message: event.message.description,
                             metadata: all.mapValues { "\($0)" }))
    }
}
