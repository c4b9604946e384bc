import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// The server's version, read once at start to choose column types.
public struct ClickHouseVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(major: Int, minor: Int, patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `SELECT version()`: `18.16.1`, `23.8.2.7`.
    public init?(_ text: String) {
        let parts = text.trimmingWhitespace().split(separator: ".").map { Int($0) }
        guard parts.count >= 2, let major = parts[0], let minor = parts[1] else { return nil }
        self.init(major: major, minor: minor, patch: parts.count > 2 ? parts[2] ?? 0 : 0)
    }

    public static func < (a: Self, b: Self) -> Bool { (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch) }
    public var description: String { "\(major).\(minor).\(patch)" }

    /// `DateTime64(3)` arrived in 20.1.
    public var hasDateTime64: Bool { self >= ClickHouseVersion(major: 20, minor: 1) }
    /// `LowCardinality` is experimental (behind a setting) before 19.x; use it only once it is plain.
    public var hasLowCardinality: Bool { self >= ClickHouseVersion(major: 19, minor: 9) }
}

/// Rows sent along with a query and read by it as a temporary table (ClickHouse's "external data").
public struct ClickHouseExternalTable: Sendable {
    public var name: String
    /// Column names and types, as in `CREATE TABLE`: `"key UInt64"`.
    public var structure: String
    /// A ClickHouse input format name: `TabSeparated`, `RowBinary`, ...
    public var format: String
    public var data: ByteBuffer

    public init(name: String, structure: String, format: String, data: ByteBuffer) {
        self.name = name
        self.structure = structure
        self.format = format
        self.data = data
    }
}

/// A small ClickHouse client over the HTTP interface: streamed query results, RowBinary inserts.
///
/// Credentials travel in the `X-ClickHouse-User`/`X-ClickHouse-Key` headers (never in the URL, so never in
/// server or proxy access logs). Owns its `HTTPClient`: call `shutdown()` when done.
public final class ClickHouseClient: Sendable {
    public let configuration: ClickHouseConfiguration
    private let http: HTTPClient
    private let logger: Logger
    private let baseURL: String

    public init(configuration: ClickHouseConfiguration, logger: Logger = Logger(label: "vectorstream.clickhouse")) {
        self.configuration = configuration
        self.logger = logger
        var base = configuration.url
        while base.hasSuffix("/") { base.removeLast() }
        baseURL = base
        var httpConfiguration = HTTPClient.Configuration(
            timeout: .init(connect: TimeAmount(configuration.connectTimeout), read: nil),
            // Below the server's keep_alive_timeout (3 s by default), so a pooled connection is never one the
            // server is about to close under us.
            connectionPool: .init(idleTimeout: .seconds(2)),
            decompression: configuration.compression ? .enabled(limit: .none) : .disabled
        )
        httpConfiguration.httpVersion = .http1Only
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
    }

    /// Closes pooled connections. Required before the client goes away.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: Queries

    /// Runs a statement that returns nothing useful (DDL, OPTIMIZE, ...).
    public func execute(_ sql: String, settings: [String: String] = [:]) async throws {
        let response = try await send(body: .bytes(ByteBuffer(string: sql)), urlQuery: [:], settings: settings,
                                      timeout: configuration.queryTimeout, what: sql)
        for try await _ in response.body {}
    }

    /// Runs a query and returns its rows as they arrive (TabSeparated), without holding the whole result.
    /// Do not add a FORMAT clause: the format is chosen here.
    public func query(_ sql: String, settings: [String: String] = [:]) async throws -> ClickHouseRows {
        let response = try await send(body: .bytes(ByteBuffer(string: sql + "\nFORMAT TabSeparated")), urlQuery: [:],
                                      settings: settings, timeout: configuration.queryTimeout, what: sql)
        return ClickHouseRows(body: response.body)
    }

    /// Runs a query that reads `external` as a table of that name: rows sent with the query (multipart form)
    /// instead of spelled out in its text, which `max_query_size` would limit and the parser would
    /// have to read value by value.
    public func query(_ sql: String, external: ClickHouseExternalTable, settings: [String: String] = [:]) async throws
        -> ClickHouseRows
    {
        let boundary = "vectorstream-\(UInt64.random(in: 0...UInt64.max))"
        var body = ByteBuffer(string: "--\(boundary)\r\n"
            + "Content-Disposition: form-data; name=\"\(external.name)\"; filename=\"\(external.name)\"\r\n"
            + "Content-Type: application/octet-stream\r\n\r\n")
        var rows = external.data
        body.writeBuffer(&rows)
        body.writeString("\r\n--\(boundary)--\r\n")
        let urlQuery = ["query": sql + "\nFORMAT TabSeparated", "\(external.name)_structure": external.structure,
                        "\(external.name)_format": external.format]
        let response = try await send(body: .bytes(body), urlQuery: urlQuery, settings: settings,
                                      contentType: "multipart/form-data; boundary=\(boundary)",
                                      timeout: configuration.queryTimeout, what: sql)
        return ClickHouseRows(body: response.body)
    }

    /// Runs a query and collects every row (for small answers).
    public func rows(_ sql: String, settings: [String: String] = [:]) async throws -> [[String]] {
        var result: [[String]] = []
        for try await row in try await query(sql, settings: settings) { result.append(row) }
        return result
    }

    /// The first field of the first row, or nil for an empty answer.
    public func scalar(_ sql: String, settings: [String: String] = [:]) async throws -> String? {
        try await rows(sql, settings: settings).first?.first
    }

    /// Inserts rows already encoded in RowBinary, in the given column order.
    public func insert(into table: String, columns: [String], rowBinary: ByteBuffer,
                       settings: [String: String] = [:]) async throws {
        let statement = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) FORMAT RowBinary"
        let response = try await send(body: .bytes(rowBinary), urlQuery: ["query": statement], settings: settings,
                                      timeout: configuration.insertTimeout, what: statement)
        for try await _ in response.body {}
    }

    /// `SELECT version()`.
    public func serverVersion() async throws -> ClickHouseVersion {
        guard let text = try await scalar("SELECT version()"), let version = ClickHouseVersion(text) else {
            throw ClickHouseError.malformedResult("version() did not return a version")
        }
        return version
    }

    /// `GET /ping`: cheap liveness, no query parsing, no authentication.
    public func ping() async throws {
        var request = HTTPClientRequest(url: baseURL + "/ping")
        request.method = .GET
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(2), logger: logger)
        } catch {
            throw ClickHouseError.unavailable(url: configuration.displayURL, reason: Self.describe(error))
        }
        let body = try await response.body.collect(upTo: 1024)
        guard response.status == .ok, String(buffer: body).hasPrefix("Ok.") else {
            throw ClickHouseError.unexpectedResponse(status: Int(response.status.code), body: String(buffer: body))
        }
    }

    // MARK: Transport

    private func send(body: HTTPClientRequest.Body, urlQuery: [String: String], settings: [String: String],
                      contentType: String? = nil, timeout: Duration, what: String) async throws -> HTTPClientResponse {
        var parameters = configuration.settings.merging(settings) { $1 }
        if configuration.compression { parameters["enable_http_compression"] = "1" }
        parameters.merge(urlQuery) { $1 }
        var request = HTTPClientRequest(url: baseURL + "/?" + Self.encodeQuery(parameters))
        request.method = .POST
        request.headers.add(name: "X-ClickHouse-User", value: configuration.user)
        if let password = configuration.password, !password.isEmpty {
            request.headers.add(name: "X-ClickHouse-Key", value: password)
        }
        if configuration.compression { request.headers.add(name: "Accept-Encoding", value: "gzip") }
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        request.body = body

        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: TimeAmount(timeout), logger: logger)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ClickHouseError.unavailable(url: configuration.displayURL, reason: Self.describe(error))
        }
        guard response.status == .ok else {
            let text = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
            let headerCode = response.headers.first(name: "X-ClickHouse-Exception-Code").flatMap { Int($0) }
            var error = ClickHouseError.parse(text, headerCode: headerCode, status: Int(response.status.code))
            if case .unexpectedResponse(let status, let body) = error, body.isEmpty {
                // Nothing from the server (an HTTP-level refusal): say which statement it refused.
                error = .unexpectedResponse(status: status, body: "no message, in reply to: \(what.prefix(120))")
            }
            logger.debug("ClickHouse refused a statement", metadata: [
                "statement": "\(what.prefix(200))", "error": "\(error)",
            ])
            throw error
        }
        return response
    }

    /// Connection errors without anything that could hold a secret (URLs are not part of NIO's errors).
    private static func describe(_ error: any Error) -> String {
        String(describing: error).prefix(300).description
    }

    static func encodeQuery(_ parameters: [String: String]) -> String {
        parameters.sorted { $0.key < $1.key }.map { "\(percentEncode($0.key))=\(percentEncode($0.value))" }
            .joined(separator: "&")
    }

    static func percentEncode(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF")
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out.append("%")
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Rows of a TabSeparated answer, decoded as the body streams in: memory is one chunk, not the whole result.
public struct ClickHouseRows: AsyncSequence, Sendable {
    public typealias Element = [String]
    let body: HTTPClientResponse.Body

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(chunks: body.makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var chunks: HTTPClientResponse.Body.AsyncIterator
        var partial: [UInt8] = []
        var ready: [[String]] = []
        var readyIndex = 0
        var finished = false

        public mutating func next() async throws -> [String]? {
            while true {
                if readyIndex < ready.count {
                    defer { readyIndex += 1 }
                    return ready[readyIndex]
                }
                ready.removeAll(keepingCapacity: true)
                readyIndex = 0
                if finished { return nil }
                guard let chunk = try await chunks.next() else {
                    finished = true
                    if !partial.isEmpty {
                        try appendRow(partial[...])
                        partial.removeAll()
                    }
                    continue
                }
                try consume(chunk)
            }
        }

        private mutating func consume(_ chunk: ByteBuffer) throws {
            try chunk.withUnsafeReadableBytes { bytes in
                var start = 0
                for index in 0..<bytes.count where bytes[index] == 0x0A {
                    if partial.isEmpty {
                        try appendRow(ArraySlice(bytes[start..<index]))
                    } else {
                        partial.append(contentsOf: bytes[start..<index])
                        try appendRow(partial[...])
                        partial.removeAll(keepingCapacity: true)
                    }
                    start = index + 1
                }
                if start < bytes.count { partial.append(contentsOf: bytes[start..<bytes.count]) }
            }
        }

        private mutating func appendRow(_ line: ArraySlice<UInt8>) throws {
            let row = TabSeparated.decodeRow(line)
            // A query that fails after the first bytes were sent cannot change the status: the server appends
            // its exception text to the body instead.
            if row.count == 1, ClickHouseError.looksLikeException(row[0]) {
                throw ClickHouseError.parse(row[0])
            }
            ready.append(row)
        }
    }
}

/// ClickHouse's TabSeparated escaping: `\t`, `\n`, `\\` and friends inside fields, `\N` for NULL.
enum TabSeparated {
    static func decodeRow(_ line: ArraySlice<UInt8>) -> [String] {
        var fields: [String] = []
        var field: [UInt8] = []
        var escaped = false
        for byte in line {
            if escaped {
                escaped = false
                switch byte {
                case UInt8(ascii: "t"): field.append(0x09)
                case UInt8(ascii: "n"): field.append(0x0A)
                case UInt8(ascii: "r"): field.append(0x0D)
                case UInt8(ascii: "0"): field.append(0x00)
                case UInt8(ascii: "b"): field.append(0x08)
                case UInt8(ascii: "f"): field.append(0x0C)
                case UInt8(ascii: "N"): field.append(contentsOf: [0x5C, 0x4E])  // NULL stays `\N`
                default: field.append(byte)
                }
            } else if byte == 0x5C {
                escaped = true
            } else if byte == 0x09 {
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
            } else {
                field.append(byte)
            }
        }
        fields.append(String(decoding: field, as: UTF8.self))
        return fields
    }

    /// Quotes a string literal for SQL text.
    static func quote(_ text: String) -> String {
        var out = "'"
        for ch in text.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\0": out += "\\0"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "'"
    }
}
