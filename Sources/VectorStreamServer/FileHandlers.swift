import Foundation
import HTTPTypes
import Hummingbird
import Logging
import VectorStreamCore

/// What the file routes run on: the file manager, its background queue, and where uploads are streamed to.
public struct FileService: Sendable {
    public let catalog: FileCatalog
    public let queue: FileWorkQueue
    /// Uploads are written here while they arrive (hashed on the way), then stored and removed.
    public let incomingDirectory: String

    public init(catalog: FileCatalog, queue: FileWorkQueue, incomingDirectory: String) {
        self.catalog = catalog
        self.queue = queue
        self.incomingDirectory = incomingDirectory
    }
}

/// `POST /v1/files`, `GET /v1/files`, `GET /v1/files/{sha256}`, `POST /v1/files/{sha256}/retry`.
///
/// The upload is the raw body or the first file of a multipart/form-data body, streamed to disk and hashed as it
/// arrives (never whole in memory), limited by `files.max_bytes` (not the API's JSON body limit: this route reads
/// its body itself). New bytes answer 202 and are processed in the background; known bytes answer 200 with their
/// record (202 again when they were failed: a re-upload is a retry).
struct FileHandlers: Sendable {
    let service: FileService
    let logger: Logger

    static let dependency = "file_store"

    /// Store errors are the dependency's unavailability (503, Retry-After), never a 500 with internals.
    func guarded<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as APIError {
            throw error
        } catch let error as FileTooLarge {
            throw APIError(.contentTooLarge, "body_too_large", error.description)
        } catch {
            logger.error("file store failed", metadata: ["operation": "\(what)", "error": "\(error)"])
            throw DependencyUnavailable(dependency: Self.dependency, retryAfter: .seconds(5),
                                        detail: "the file store could not \(what); see /health and the server log")
        }
    }

    static func recordJSON(_ record: FileRecord, downloadURL: String?? = nil) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard var object = try JSONSerialization.jsonObject(with: encoder.encode(record)) as? [String: Any] else {
            throw JSON.EncodingFailure(description: "a file record did not encode as an object")
        }
        for key in ["error", "holder", "lease_until", "started_at", "finished_at", "duration_ms", "model_version"]
        where object[key] == nil { object[key] = NSNull() }
        if let downloadURL { object["download_url"] = downloadURL ?? NSNull() }
        return object
    }

    // MARK: Upload

    func upload(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let maxBytes = Int64(service.catalog.configuration.settings.maxBytes)
        if let length = request.headers[.contentLength], let n = Int64(length.trimmingCharacters(in: .whitespaces)), n > maxBytes {
            throw APIError(.contentTooLarge, "body_too_large",
                           "the body is \(n) bytes; the limit is \(maxBytes) (files.max_bytes)")
        }
        var kindText = query["kind"].map(String.init)
        var name = query["name"].map(String.init)
        let contentTypeHeader = request.headers[.contentType] ?? "application/octet-stream"
        var contentType = contentTypeHeader
        let path = service.incomingDirectory + "/upload-" + UUID().uuidString
        defer { unlink(path) }
        var hasher = StreamingSHA256()
        do {
            try FileManager.default.createDirectory(atPath: service.incomingDirectory, withIntermediateDirectories: true)
        } catch {
            throw DependencyUnavailable(dependency: Self.dependency, retryAfter: .seconds(5), detail: "the upload directory is not writable")
        }
        guard let output = FileHandle(forWritingAtPath: path) ?? {
            FileManager.default.createFile(atPath: path, contents: nil) ? FileHandle(forWritingAtPath: path) : nil
        }() else {
            throw DependencyUnavailable(dependency: Self.dependency, retryAfter: .seconds(5), detail: "the upload could not be written")
        }
        defer { try? output.close() }
        func sink(_ bytes: UnsafeRawBufferPointer) throws {
            guard !bytes.isEmpty else { return }
            hasher.update(bytes)
            if hasher.count > maxBytes {
                throw APIError(.contentTooLarge, "body_too_large", "the body is over the limit of \(maxBytes) bytes (files.max_bytes)")
            }
            output.write(Data(bytes))
        }
        if let boundary = Self.multipartBoundary(contentTypeHeader) {
            var parser = MultipartFileParser(boundary: boundary)
            for try await buffer in request.body {
                try buffer.readableBytesView.withContiguousStorageIfAvailable { try parser.feed(UnsafeRawBufferPointer($0), sink) }
                    ?? Array(buffer.readableBytesView).withUnsafeBytes { try parser.feed($0, sink) }
            }
            guard parser.finished, parser.sawFile else {
                throw APIError.badRequest("the multipart body holds no complete file part (a part with a filename, or named 'file')")
            }
            // A form field is checked even when the query string also gives it (the query wins): a body that says
            // something invalid is refused, not silently overruled.
            if let field = parser.fields["kind"], FileKind(rawValue: field) == nil {
                throw APIError.badRequest("kind must be one of \(FileKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(field.prefix(80))' (form field)")
            }
            if let field = parser.fields["name"], field.isEmpty {
                throw APIError.badRequest("name must be 1 to 1024 characters (form field)")
            }
            kindText = kindText ?? parser.fields["kind"]
            name = name ?? parser.fields["name"] ?? parser.fileName
            contentType = parser.fileContentType ?? "application/octet-stream"
        } else {
            for try await buffer in request.body {
                try buffer.readableBytesView.withContiguousStorageIfAvailable { try sink(UnsafeRawBufferPointer($0)) }
                    ?? Array(buffer.readableBytesView).withUnsafeBytes { try sink($0) }
            }
        }
        try output.synchronize()
        guard let kind = FileKind(rawValue: kindText ?? FileKind.catalog.rawValue) else {
            throw APIError.badRequest("kind must be one of \(FileKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(kindText ?? "")'")
        }
        let fileName = name ?? "upload"
        guard !fileName.isEmpty, fileName.count <= 1024 else { throw APIError.badRequest("name must be 1 to 1024 characters") }
        let sha256 = hasher.finalize()
        let size = hasher.count
        let registration = try await guarded("store the file") {
            try await service.catalog.add(path: path, sha256: sha256, size: size, name: fileName, kind: kind,
                                          contentType: contentType)
        }
        let record = registration.record
        if record.status == .queued { service.queue.enqueue(record.sha256) }
        let status: HTTPResponse.Status = record.status == .queued ? .accepted : .ok
        return try JSON.response(try Self.recordJSON(record), status: status)
    }

    static func multipartBoundary(_ contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() where part.lowercased().hasPrefix("boundary=") {
            var value = String(part.dropFirst("boundary=".count))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty ? nil : value
        }
        return nil
    }

    // MARK: Reads

    func list(query: Parameters) async throws -> Response {
        var limit = 50
        if let text = query["limit"] {
            guard let n = Int(text), (1...1000).contains(n) else { throw APIError.badRequest("limit must be an integer 1...1000, got '\(text)'") }
            limit = n
        }
        var cursor: FileCursor?
        if let text = query["cursor"] {
            guard let c = FileCursor(String(text)) else {
                throw APIError.badRequest("cursor must be the 'next' of a previous page (<uploaded_at>-<sha256>), got '\(text.prefix(80))'")
            }
            cursor = c
        }
        let page = try await guarded("list files") { try await service.catalog.list(limit: limit, after: cursor) }
        let items = try page.records.map { try Self.recordJSON($0) }
        return try JSON.response(["items": items, "next": page.next ?? NSNull()] as [String: Any])
    }

    static func sha256Parameter(_ raw: String) throws -> String {
        let sha = raw.lowercased()
        guard FileRecord.isSHA256(sha) else {
            throw APIError.badRequest("sha256 must be 64 hex digits, got '\(raw.prefix(80))'")
        }
        return sha
    }

    func show(sha256 raw: String) async throws -> Response {
        let sha256 = try Self.sha256Parameter(raw)
        guard let record = try await guarded("read the file record", { try await service.catalog.record(sha256: sha256) }) else {
            throw APIError.notFound("no file with sha256 \(sha256)")
        }
        let url = try await guarded("make a download URL") { try await service.catalog.downloadURL(for: record) }
        return try JSON.response(try Self.recordJSON(record, downloadURL: .some(url)))
    }

    func retry(sha256 raw: String) async throws -> Response {
        let sha256 = try Self.sha256Parameter(raw)
        switch try await guarded("requeue the file", { try await service.catalog.retry(sha256: sha256) }) {
        case .notFound: throw APIError.notFound("no file with sha256 \(sha256)")
        case .notFailed(let record):
            throw APIError(.conflict, "not_failed", "file \(sha256) is \(record.status.rawValue); only a failed file is retried")
        case .requeued(let record):
            service.queue.enqueue(sha256)
            return try JSON.response(try Self.recordJSON(record), status: .accepted)
        }
    }

    /// Registers the routes; without a file service they answer 404 (and are not in the document).
    static func register(on router: Router<BasicRequestContext>, service: FileService?, logger: Logger) {
        guard let service else {
            let absent: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
                throw APIError.notFound("this server keeps no files (it was started without a file store)")
            }
            router.post("/v1/files", use: absent)
            router.get("/v1/files", use: absent)
            router.get("/v1/files/:sha256", use: absent)
            router.post("/v1/files/:sha256/retry", use: absent)
            return
        }
        let h = FileHandlers(service: service, logger: logger)
        router.post("/v1/files") { request, _ in try await h.upload(request) }
        router.get("/v1/files") { request, _ in try await h.list(query: request.uri.queryParameters) }
        router.get("/v1/files/:sha256") { _, context in
            try await h.show(sha256: APIHandlers.pathParameter(context.parameters.require("sha256"), name: "sha256"))
        }
        router.post("/v1/files/:sha256/retry") { _, context in
            try await h.retry(sha256: APIHandlers.pathParameter(context.parameters.require("sha256"), name: "sha256"))
        }
    }

    static let routes: [(method: HTTPRequest.Method, path: String)] = [
        (.post, "/v1/files"), (.get, "/v1/files"), (.get, "/v1/files/:sha256"), (.post, "/v1/files/:sha256/retry"),
    ]
}

/// The first file part of a multipart/form-data body, streamed: its bytes go to `sink` as they arrive; small text
/// fields (`kind`, `name`) are kept. Bounded memory: a carry of one delimiter's length, headers up to 16 KiB.
struct MultipartFileParser {
    enum State { case preamble, headers, body, done }
    let delimiter: [UInt8]
    private(set) var state = State.preamble
    private var carry: [UInt8] = []
    private var headerBytes: [UInt8] = []
    private var partIsFile = false
    private var partField: String?
    private var fieldValue: [UInt8] = []
    private(set) var sawFile = false
    private(set) var fileDone = false
    private(set) var fileName: String?
    private(set) var fileContentType: String?
    private(set) var fields: [String: String] = [:]

    var finished: Bool { fileDone }

    init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        carry = Array("\r\n".utf8)  // the first delimiter has no CRLF before it
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        carry.append(contentsOf: bytes)
        var progressed = true
        while progressed {
            progressed = false
            switch state {
            case .preamble, .body:
                if let at = Self.find(delimiter, in: carry) {
                    try emit(carry[..<at], sink)
                    // After the delimiter: "--" ends the body, CRLF starts a part's headers.
                    let after = at + delimiter.count
                    guard carry.count >= after + 2 else {
                        carry.removeFirst(at)
                        return
                    }
                    endPart()
                    if carry[after] == UInt8(ascii: "-") && carry[after + 1] == UInt8(ascii: "-") {
                        state = .done
                        carry = []
                        return
                    }
                    carry.removeFirst(after + 2)
                    state = .headers
                    headerBytes = []
                    progressed = true
                } else {
                    let keep = min(carry.count, delimiter.count + 1)
                    try emit(carry[..<(carry.count - keep)], sink)
                    carry.removeFirst(carry.count - keep)
                }
            case .headers:
                if let end = Self.find(Array("\r\n\r\n".utf8), in: carry) {
                    headerBytes += carry[..<end]
                    carry.removeFirst(end + 4)
                    startPart(String(decoding: headerBytes, as: UTF8.self))
                    state = .body
                    progressed = true
                } else if carry.count + headerBytes.count > 16 * 1024 {
                    throw APIError.badRequest("a multipart part's headers are over 16 KiB")
                }
            case .done:
                carry = []
            }
        }
    }

    private mutating func emit(_ bytes: ArraySlice<UInt8>, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard state == .body, !bytes.isEmpty else { return }
        if partIsFile {
            try bytes.withUnsafeBytes { try sink($0) }
        } else if partField != nil, fieldValue.count < 1024 {
            fieldValue += bytes.prefix(1024 - fieldValue.count)
        }
    }

    private mutating func startPart(_ headers: String) {
        var disposition = ""
        var type: String?
        for line in headers.split(separator: "\r\n") {
            let pair = line.split(separator: ":", maxSplits: 1)
            guard pair.count == 2 else { continue }
            let key = pair[0].trimmingCharacters(in: .whitespaces).lowercased()
            let value = pair[1].trimmingCharacters(in: .whitespaces)
            if key == "content-disposition" { disposition = value }
            if key == "content-type" { type = value }
        }
        let name = Self.parameter("name", in: disposition)
        let filename = Self.parameter("filename", in: disposition)
        partIsFile = !sawFile && (filename != nil || name == "file")
        if partIsFile {
            sawFile = true
            fileName = filename
            fileContentType = type
            partField = nil
        } else {
            partField = name
            fieldValue = []
        }
    }

    private mutating func endPart() {
        guard state == .body else { return }
        if partIsFile {
            fileDone = true
            partIsFile = false
        } else if let partField {
            fields[partField] = String(decoding: fieldValue, as: UTF8.self)
        }
        partField = nil
    }

    static func parameter(_ name: String, in disposition: String) -> String? {
        for piece in disposition.split(separator: ";") {
            let p = piece.trimmingCharacters(in: .whitespaces)
            guard p.lowercased().hasPrefix(name + "=") else { continue }
            var value = String(p.dropFirst(name.count + 1))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count, let first = needle.first else { return nil }
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}

/// The file routes in the OpenAPI document (merged by `OpenAPIDocument.json` when the server keeps files).
extension FileHandlers {
    static func openAPI() -> (paths: [String: Any], schemas: [String: Any]) {
        let security: [[String: [String]]] = [["bearer": []], ["apiKey": []]]
        func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/responses/\(name)"] }
        func body(_ schema: String, _ description: String) -> [String: Any] {
            ["description": description, "content": ["application/json": ["schema": ["$ref": "#/components/schemas/\(schema)"]]]]
        }
        let common: [String: Any] = ["401": ref("Error"), "500": ref("InternalError"), "503": ref("Unavailable")]
        func responses(_ specific: [String: Any]) -> [String: Any] { common.merging(specific) { _, b in b } }
        let sha: [String: Any] = ["name": "sha256", "in": "path", "required": true, "description": "the file's SHA-256",
                                  "schema": ["type": "string", "pattern": "^[0-9a-fA-F]{64}$"]]
        let paths: [String: Any] = [
            "/v1/files": [
                "post": [
                    "summary": "Upload a file (raw body, or the first file of multipart/form-data), streamed to disk and stored by its SHA-256; processed once, in the background",
                    "operationId": "uploadFile",
                    "security": security,
                    "parameters": [
                        ["name": "kind", "in": "query", "required": false,
                         "description": "catalog (CSV with id,name,description,category,price, or JSON lines of products) or events (JSON lines in the source schema); default catalog",
                         "schema": ["type": "string", "enum": ["catalog", "events"]]],
                        ["name": "name", "in": "query", "required": false,
                         "description": "the file's name (default: the multipart filename, else 'upload')",
                         "schema": ["type": "string", "minLength": 1, "maxLength": 1024]],
                    ],
                    "requestBody": ["required": true, "content": [
                        // A raw body is the file's bytes, whatever they are: no schema can make bytes invalid (the
                        // file's rows are validated when it is processed), so none is claimed (a fuzzer sent a
                        // "number" as text/csv and expected a 4xx for bytes the server rightly stores).
                        "application/octet-stream": ["schema": ["description": "the file's bytes"]],
                        "text/csv": ["schema": ["description": "the file's bytes"]],
                        "application/x-ndjson": ["schema": ["description": "the file's bytes"]],
                        // The file part is what is uploaded: a body without it is refused (400).
                        "multipart/form-data": ["schema": ["type": "object", "required": ["file"], "properties": [
                            "file": ["type": "string", "format": "binary"],
                            "kind": ["type": "string", "enum": ["catalog", "events"]],
                            // Any text; its first 1,024 bytes are kept (no type: a form field is text, whatever it reads as).
                            "name": ["minLength": 1, "description": "the file's name (the query's name wins)"]]]],
                    ]],
                    "responses": responses([
                        "200": body("File", "Known bytes (same SHA-256): the existing record; nothing is processed again"),
                        "202": body("File", "Stored and queued (or a failed file queued again): processing runs in the background"),
                        "400": ref("Error"),
                        "413": ref("Error"),
                    ]),
                ],
                "get": [
                    "summary": "Files, newest first, paged by cursor",
                    "operationId": "listFiles",
                    "security": security,
                    "parameters": [
                        ["name": "limit", "in": "query", "required": false,
                         "schema": ["type": "integer", "minimum": 1, "maximum": 1000, "default": 50]],
                        ["name": "cursor", "in": "query", "required": false,
                         "description": "the 'next' of the previous page",
                         "schema": ["type": "string", "pattern": "^[0-9]{1,18}-[0-9a-f]{64}$"]],
                    ],
                    "responses": responses(["200": body("FilePage", "OK"), "400": ref("Error")]),
                ],
            ],
            "/v1/files/{sha256}": [
                "get": [
                    "summary": "A file's record: status, counts, rejected-row samples with reasons, and a download URL (presigned on S3; null for the directory store)",
                    "operationId": "showFile",
                    "security": security,
                    "parameters": [sha],
                    "responses": responses(["200": body("FileWithURL", "OK"), "400": ref("Error"), "404": ref("Error")]),
                ],
            ],
            "/v1/files/{sha256}/retry": [
                "post": [
                    "summary": "Queue a failed file again",
                    "operationId": "retryFile",
                    "security": security,
                    "parameters": [sha],
                    "responses": responses([
                        "202": body("File", "Queued again"), "400": ref("Error"), "404": ref("Error"),
                        "409": ref("Error"),
                    ]),
                ],
            ],
        ]
        let int: [String: Any] = ["type": "integer"]
        let nullableInt: [String: Any] = ["type": "integer", "nullable": true]
        let nullableString: [String: Any] = ["type": "string", "nullable": true]
        let fileProperties: [String: Any] = [
            "sha256": ["type": "string"], "name": ["type": "string"], "size": int,
            "kind": ["type": "string", "enum": ["catalog", "events"]], "content_type": ["type": "string"],
            "object_key": ["type": "string"], "uploaded_at": ["type": "integer", "description": "ms since the epoch"],
            "status": ["type": "string", "enum": ["queued", "processing", "done", "failed"]],
            "counts": ["type": "object", "properties": [
                "rows_total": int, "rows_accepted": int, "rows_rejected": int, "products_embedded": int,
                "products_payload_updated": int, "products_unchanged": int, "events_stored": int, "events_deduplicated": int,
            ]],
            "error": nullableString,
            "rejected_samples": ["type": "array", "items": ["type": "object", "properties": [
                "row": int, "line": int, "code": ["type": "string"], "reason": ["type": "string"]]]],
            "rejected_by_code": ["type": "object", "additionalProperties": int],
            "attempts": int, "holder": nullableString, "lease_until": nullableInt, "started_at": nullableInt,
            "finished_at": nullableInt, "duration_ms": nullableInt, "model_version": nullableString,
        ]
        let required = ["sha256", "name", "size", "kind", "content_type", "object_key", "uploaded_at", "status", "counts"]
        var withURL = fileProperties
        withURL["download_url"] = nullableString
        let schemas: [String: Any] = [
            "File": ["type": "object", "required": required, "properties": fileProperties],
            "FileWithURL": ["type": "object", "required": required + ["download_url"], "properties": withURL],
            "FilePage": ["type": "object", "required": ["items", "next"], "properties": [
                "items": ["type": "array", "items": ["$ref": "#/components/schemas/File"]],
                "next": ["type": "string", "nullable": true]]],
        ]
        return (paths, schemas)
    }
}

extension OpenAPIDocument {
    /// The document with the file routes and schemas added (when `enabled`), security as the rest of `/v1`.
    static func addingFiles(_ document: [UInt8], enabled: Bool, requiresKey: Bool) -> [UInt8] {
        guard enabled, var doc = (try? JSONSerialization.jsonObject(with: Data(document))) as? [String: Any] else {
            return document
        }
        var (paths, schemas) = FileHandlers.openAPI()
        if !requiresKey {
            for (path, value) in paths {
                guard var operations = value as? [String: Any] else { continue }
                for (method, op) in operations {
                    guard var operation = op as? [String: Any] else { continue }
                    operation["security"] = nil
                    if var responses = operation["responses"] as? [String: Any] {
                        responses["401"] = nil
                        operation["responses"] = responses
                    }
                    operations[method] = operation
                }
                paths[path] = operations
            }
        }
        var allPaths = doc["paths"] as? [String: Any] ?? [:]
        allPaths.merge(paths) { a, _ in a }
        doc["paths"] = allPaths
        var components = doc["components"] as? [String: Any] ?? [:]
        var allSchemas = components["schemas"] as? [String: Any] ?? [:]
        allSchemas.merge(schemas) { a, _ in a }
        components["schemas"] = allSchemas
        doc["components"] = components
        schemas = [:]
        return (try? JSON.encode(doc)) ?? document
    }
}
