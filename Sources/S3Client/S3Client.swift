import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// An object as S3 describes it.
public struct S3Object: Sendable, Hashable {
    public var key: String
    /// Bytes of the object; for a ranged GET, the bytes of the range received.
    public var size: Int64
    /// As S3 gives it, quotes included (`"d41d8cd98f00b204e9800998ecf8427e"`; `"...-3"` after a multipart upload).
    public var etag: String?
    public var lastModified: Date?
    public var contentType: String?

    public init(key: String, size: Int64, etag: String? = nil, lastModified: Date? = nil, contentType: String? = nil) {
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.contentType = contentType
    }
}

/// One page of ListObjectsV2.
public struct S3ListPage: Sendable, Hashable {
    public var objects: [S3Object]
    public var commonPrefixes: [String]
    public var isTruncated: Bool
    /// Pass to the next call to continue; nil on the last page.
    public var nextContinuationToken: String?
}

/// A multipart upload that was started and neither completed nor aborted.
public struct S3MultipartUpload: Sendable, Hashable {
    public var key: String
    public var uploadID: String
    public var initiated: Date?
}

public struct S3MultipartUploadsPage: Sendable, Hashable {
    public var uploads: [S3MultipartUpload]
    public var isTruncated: Bool
    public var nextKeyMarker: String?
    public var nextUploadIDMarker: String?
}

/// A part as CompleteMultipartUpload needs it.
public struct S3CompletedPart: Sendable, Hashable {
    public var partNumber: Int
    public var etag: String
    public init(partNumber: Int, etag: String) {
        self.partNumber = partNumber
        self.etag = etag
    }
}

public enum S3CreateBucketOutcome: Sendable, Hashable {
    case created
    /// The bucket exists and belongs to these credentials already.
    case alreadyOwned
}

public enum S3AbortOutcome: Sendable, Hashable {
    case aborted
    /// S3 no longer knows the upload (completed, aborted by someone else, or expired).
    case alreadyGone
}

/// A small S3 client on AsyncHTTPClient: SigV4 header signing with the payload's SHA-256 on every request,
/// presigned URLs, files streamed in both directions through bounded memory, retries with backoff and jitter,
/// and errors that carry S3's code, message and request id. One bucket per client.
public final class S3Client: Sendable {
    public let configuration: S3ClientConfiguration
    let endpoint: Endpoint
    let signer: SigV4Signer
    let http: HTTPClient
    let logger: Logger

    public init(configuration: S3ClientConfiguration, logger: Logger = Logger(label: "vectorstream.s3")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.endpoint = try Endpoint(configuration)
        self.signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region, service: "s3")
        self.logger = logger
        // No redirects (a redirected request would carry a signature for another host) and no decompression
        // (objects are stored and returned as their bytes). The read timeout bounds silence while a body streams.
        let http = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: Self.timeAmount(configuration.requestTimeout)),
            decompression: .disabled)
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    /// Closes the connections; call once when done.
    public func shutdown() async throws { try await http.shutdown() }

    /// "s3://BUCKET at ENDPOINT": for messages, never with credentials.
    public var location: String { "s3://\(configuration.bucket) at \(configuration.displayEndpoint)" }

    // MARK: Buckets

    /// CreateBucket (PUT /bucket); outside us-east-1 with the region as LocationConstraint, as S3 requires.
    @discardableResult
    public func createBucket() async throws -> S3CreateBucketOutcome {
        var body: [UInt8] = []
        if configuration.region != "us-east-1" {
            body = Array(("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                + "<LocationConstraint>\(xmlEscape(configuration.region))</LocationConstraint></CreateBucketConfiguration>").utf8)
        }
        do {
            try await withRetries("CreateBucket", key: nil) {
                let response = try await self.execute("CreateBucket", method: .PUT, key: nil, body: .bytes(body), expect: [200])
                _ = try await response.body.collect(upTo: 1 << 20)
            }
            return .created
        } catch let error as S3Error where error.code == "BucketAlreadyOwnedByYou" {
            return .alreadyOwned
        }
    }

    /// DeleteBucket (the bucket must be empty). For tests and tools: a server that keeps storage per bucket (SeaweedFS
    /// gives each its own volumes) runs out when buckets are only ever created.
    public func deleteBucket() async throws {
        try await withRetries("DeleteBucket", key: nil) {
            let response = try await self.execute("DeleteBucket", method: .DELETE, key: nil, body: .bytes([]), expect: [204, 200])
            _ = try await response.body.collect(upTo: 1 << 20)
        }
    }

    // MARK: Objects

    /// PutObject of bytes in memory (small objects: records, tests).
    @discardableResult
    public func putObject(key: String, bytes: [UInt8], contentType: String = "application/octet-stream") async throws -> S3Object {
        try await withRetries("PutObject", key: key) {
            let response = try await self.execute("PutObject", method: .PUT, key: key, headers: [("Content-Type", contentType)],
                                                  body: .bytes(bytes), expect: [200])
            _ = try await response.body.collect(upTo: 1 << 20)
            return S3Object(key: key, size: Int64(bytes.count), etag: response.headers.first(name: "etag"), contentType: contentType)
        }
    }

    /// PutObject of a whole file in one request, streamed from disk. The file is read twice: once to hash it
    /// (S3 checks `x-amz-content-sha256` against the body) and once while sending. Up to 5 GiB (S3's limit);
    /// ``uploadFile(_:key:contentType:)`` picks multipart above the threshold.
    @discardableResult
    public func putObject(key: String, file path: String, contentType: String = "application/octet-stream") async throws -> S3Object {
        let size = try localFile("PutObject", key: key) { try LocalFile.size(of: path) }
        let hash = try localFile("PutObject", key: key) { try LocalFile.sha256(path: path, offset: 0, length: size) }
        return try await withRetries("PutObject", key: key) {
            let response = try await self.execute("PutObject", method: .PUT, key: key, headers: [("Content-Type", contentType)],
                                                  body: .file(path: path, offset: 0, length: size), payloadHash: hash, expect: [200])
            _ = try await response.body.collect(upTo: 1 << 20)
            return S3Object(key: key, size: size, etag: response.headers.first(name: "etag"), contentType: contentType)
        }
    }

    /// GetObject streamed into `path` (written beside it and renamed when complete, so `path` is never half
    /// written); `range` is inclusive, as HTTP's. A failed attempt starts over. Throws S3Error NoSuchKey when absent.
    @discardableResult
    public func getObject(key: String, range: ClosedRange<Int64>? = nil, to path: String) async throws -> S3Object {
        try await withRetries("GetObject", key: key) {
            let response = try await self.execute("GetObject", method: .GET, key: key, headers: Self.rangeHeader(range),
                                                  expect: [200, 206])
            var writer = try self.localFile("GetObject", key: key) { try StreamedFileWriter(path: path) }
            do {
                for try await buffer in response.body { try writer.write(buffer) }
                try writer.finish()
            } catch {
                writer.discard()
                throw self.transportError(error, operation: "GetObject", key: key)
            }
            return self.objectInfo(key: key, headers: response.headers, size: writer.written)
        }
    }

    /// GetObject streamed to `handler`, one buffer at a time. Retried only until the first byte reached the
    /// handler (after that a retry would hand it the same bytes twice).
    @discardableResult
    public func getObject(key: String, range: ClosedRange<Int64>? = nil,
                          handler: (ByteBuffer) async throws -> Void) async throws -> S3Object {
        let response = try await withRetries("GetObject", key: key) {
            try await self.execute("GetObject", method: .GET, key: key, headers: Self.rangeHeader(range), expect: [200, 206])
        }
        var received: Int64 = 0
        do {
            for try await buffer in response.body {
                received += Int64(buffer.readableBytes)
                try await handler(buffer)
            }
        } catch let error as S3Error {
            throw error
        } catch {
            throw transportError(error, operation: "GetObject", key: key)
        }
        return objectInfo(key: key, headers: response.headers, size: received)
    }

    /// GetObject into memory, refusing more than `limit` bytes (small objects and tests).
    public func getObjectBytes(key: String, range: ClosedRange<Int64>? = nil, limit: Int = 64 << 20) async throws -> [UInt8] {
        try await withRetries("GetObject", key: key) {
            let response = try await self.execute("GetObject", method: .GET, key: key, headers: Self.rangeHeader(range),
                                                  expect: [200, 206])
            do {
                let buffer = try await response.body.collect(upTo: limit)
                return Array(buffer.readableBytesView)
            } catch {
                throw self.transportError(error, operation: "GetObject", key: key)
            }
        }
    }

    /// HeadObject; nil when there is no such object.
    public func headObject(key: String) async throws -> S3Object? {
        do {
            return try await withRetries("HeadObject", key: key) {
                let response = try await self.execute("HeadObject", method: .HEAD, key: key, expect: [200])
                let size = response.headers.first(name: "content-length").flatMap { Int64($0) } ?? 0
                return self.objectInfo(key: key, headers: response.headers, size: size)
            }
        } catch let error as S3Error where error.status == 404 {
            return nil
        }
    }

    /// DeleteObject; S3 answers 204 whether or not the key existed.
    public func deleteObject(key: String) async throws {
        try await withRetries("DeleteObject", key: key) {
            let response = try await self.execute("DeleteObject", method: .DELETE, key: key, expect: [200, 204])
            _ = try await response.body.collect(upTo: 1 << 20)
        }
    }

    /// One page of ListObjectsV2 (`list-type=2`): keys in UTF-8 binary order, at most `maxKeys` (S3 caps at 1,000).
    public func listObjectsV2(prefix: String? = nil, delimiter: String? = nil, startAfter: String? = nil,
                              continuationToken: String? = nil, maxKeys: Int? = nil) async throws -> S3ListPage {
        var query: [(name: String, value: String)] = [("list-type", "2")]
        if let prefix { query.append(("prefix", prefix)) }
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let startAfter { query.append(("start-after", startAfter)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let maxKeys { query.append(("max-keys", String(maxKeys))) }
        let root = try await xmlRequest("ListObjectsV2", method: .GET, key: nil, query: query)
        let objects = root.all("Contents").map { node in
            S3Object(key: node.value("Key") ?? "", size: node.value("Size").flatMap { Int64($0) } ?? 0, etag: node.value("ETag"),
                     lastModified: node.value("LastModified").flatMap(S3Dates.iso8601))
        }
        let prefixes = root.all("CommonPrefixes").compactMap { $0.value("Prefix") }
        let truncated = root.value("IsTruncated") == "true"
        let token = root.value("NextContinuationToken").flatMap { $0.isEmpty ? nil : $0 }
        return S3ListPage(objects: objects, commonPrefixes: prefixes, isTruncated: truncated, nextContinuationToken: truncated ? token : nil)
    }

    /// Every object under `prefix`, page after page.
    public func listAllObjects(prefix: String? = nil, pageSize: Int = 1000) async throws -> [S3Object] {
        var all: [S3Object] = []
        var token: String?
        repeat {
            let page = try await listObjectsV2(prefix: prefix, continuationToken: token, maxKeys: pageSize)
            all += page.objects
            token = page.nextContinuationToken
        } while token != nil
        return all
    }

    /// CopyObject within the bucket (server side, up to 5 GiB). S3 may answer 200 with an error in the body; that
    /// is an error here too.
    @discardableResult
    public func copyObject(from sourceKey: String, to key: String) async throws -> S3Object {
        let source = "/\(configuration.bucket)/\(SigV4Signer.encodePath(sourceKey))"
        let root = try await xmlRequest("CopyObject", method: .PUT, key: key, headers: [("x-amz-copy-source", source)])
        return S3Object(key: key, size: -1, etag: root.value("ETag"), lastModified: root.value("LastModified").flatMap(S3Dates.iso8601))
    }

    // MARK: Multipart

    /// CreateMultipartUpload; returns the upload id. Not retried on connection errors (a retry could start a
    /// second upload that nobody completes); ``S3Client/listMultipartUploads(prefix:keyMarker:uploadIDMarker:)``
    /// finds such leftovers.
    public func createMultipartUpload(key: String, contentType: String = "application/octet-stream") async throws -> String {
        let root = try await xmlRequest("CreateMultipartUpload", method: .POST, key: key, query: [("uploads", "")],
                                        headers: [("Content-Type", contentType)], idempotent: false)
        guard let id = root.value("UploadId"), !id.isEmpty else {
            throw S3Error(operation: "CreateMultipartUpload", endpoint: configuration.displayEndpoint, bucket: configuration.bucket,
                          key: key, code: "InvalidResponse", message: "no UploadId in the answer")
        }
        return id
    }

    /// UploadPart of `length` bytes of `path` from `offset`: hashed while read from disk, then streamed from disk;
    /// each part retried on its own.
    public func uploadPart(key: String, uploadID: String, partNumber: Int, file path: String, offset: Int64,
                           length: Int64) async throws -> S3CompletedPart {
        let hash = try localFile("UploadPart", key: key) { try LocalFile.sha256(path: path, offset: offset, length: length) }
        return try await withRetries("UploadPart", key: key) {
            let response = try await self.execute("UploadPart", method: .PUT, key: key,
                                                  query: [("partNumber", String(partNumber)), ("uploadId", uploadID)],
                                                  body: .file(path: path, offset: offset, length: length), payloadHash: hash,
                                                  expect: [200])
            _ = try await response.body.collect(upTo: 1 << 20)
            guard let etag = response.headers.first(name: "etag") else {
                throw S3Error(operation: "UploadPart", endpoint: self.configuration.displayEndpoint, bucket: self.configuration.bucket,
                              key: key, code: "InvalidResponse", message: "part \(partNumber) answered without an ETag")
            }
            return S3CompletedPart(partNumber: partNumber, etag: etag)
        }
    }

    /// CompleteMultipartUpload with the parts in order; returns the object's ETag.
    @discardableResult
    public func completeMultipartUpload(key: String, uploadID: String, parts: [S3CompletedPart]) async throws -> String? {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts.sorted(by: { $0.partNumber < $1.partNumber }) {
            xml += "<Part><PartNumber>\(part.partNumber)</PartNumber><ETag>\(xmlEscape(part.etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let root = try await xmlRequest("CompleteMultipartUpload", method: .POST, key: key, query: [("uploadId", uploadID)],
                                        headers: [("Content-Type", "application/xml")], body: Array(xml.utf8))
        return root.value("ETag")
    }

    /// AbortMultipartUpload: the parts are deleted.
    @discardableResult
    public func abortMultipartUpload(key: String, uploadID: String) async throws -> S3AbortOutcome {
        do {
            try await withRetries("AbortMultipartUpload", key: key) {
                let response = try await self.execute("AbortMultipartUpload", method: .DELETE, key: key,
                                                      query: [("uploadId", uploadID)], expect: [200, 204])
                _ = try await response.body.collect(upTo: 1 << 20)
            }
            return .aborted
        } catch let error as S3Error where error.code == "NoSuchUpload" {
            return .alreadyGone
        }
    }

    /// One page of ListMultipartUploads.
    public func listMultipartUploads(prefix: String? = nil, keyMarker: String? = nil,
                                     uploadIDMarker: String? = nil) async throws -> S3MultipartUploadsPage {
        var query: [(name: String, value: String)] = [("uploads", "")]
        if let prefix { query.append(("prefix", prefix)) }
        if let keyMarker { query.append(("key-marker", keyMarker)) }
        if let uploadIDMarker { query.append(("upload-id-marker", uploadIDMarker)) }
        let root = try await xmlRequest("ListMultipartUploads", method: .GET, key: nil, query: query)
        let uploads = root.all("Upload").map {
            S3MultipartUpload(key: $0.value("Key") ?? "", uploadID: $0.value("UploadId") ?? "",
                              initiated: $0.value("Initiated").flatMap(S3Dates.iso8601))
        }
        return S3MultipartUploadsPage(uploads: uploads, isTruncated: root.value("IsTruncated") == "true",
                                      nextKeyMarker: root.value("NextKeyMarker").flatMap { $0.isEmpty ? nil : $0 },
                                      nextUploadIDMarker: root.value("NextUploadIdMarker").flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Every unfinished multipart upload under `prefix`.
    public func listAllMultipartUploads(prefix: String? = nil) async throws -> [S3MultipartUpload] {
        var all: [S3MultipartUpload] = []
        var keyMarker: String?
        var idMarker: String?
        while true {
            let page = try await listMultipartUploads(prefix: prefix, keyMarker: keyMarker, uploadIDMarker: idMarker)
            all += page.uploads
            guard page.isTruncated, page.nextKeyMarker != nil || page.nextUploadIDMarker != nil else { return all }
            if page.nextKeyMarker == keyMarker && page.nextUploadIDMarker == idMarker { return all }  // no progress
            keyMarker = page.nextKeyMarker
            idMarker = page.nextUploadIDMarker
        }
    }

    /// Uploads a file of any size: one PutObject up to the threshold, else a multipart upload with
    /// `uploadConcurrency` parts in flight, each hashed and streamed from disk. A failed multipart upload is
    /// aborted before the error is rethrown (a killed process leaves it; see `listMultipartUploads`).
    @discardableResult
    public func uploadFile(_ path: String, key: String, contentType: String = "application/octet-stream") async throws -> S3Object {
        let size = try localFile("PutObject", key: key) { try LocalFile.size(of: path) }
        let threshold = Int64(configuration.multipartThreshold ?? configuration.partSize)
        if size <= threshold { return try await putObject(key: key, file: path, contentType: contentType) }
        let partSize = Self.partSize(for: size, configured: Int64(configuration.partSize))
        let uploadID = try await createMultipartUpload(key: key, contentType: contentType)
        do {
            let parts = try await uploadParts(path: path, size: size, partSize: partSize, key: key, uploadID: uploadID)
            let etag = try await completeMultipartUpload(key: key, uploadID: uploadID, parts: parts)
            return S3Object(key: key, size: size, etag: etag, contentType: contentType)
        } catch {
            // Detached: the abort must run even when this task was cancelled.
            let abort = Task.detached { [self] in try? await self.abortMultipartUpload(key: key, uploadID: uploadID) }
            _ = await abort.value
            throw error
        }
    }

    /// The configured part size, raised (to whole MiB) when the file would need more than S3's 10,000 parts.
    static func partSize(for size: Int64, configured: Int64) -> Int64 {
        let mib: Int64 = 1 << 20
        let needed = (size + 9_999) / 10_000
        return max(configured, (needed + mib - 1) / mib * mib)
    }

    func uploadParts(path: String, size: Int64, partSize: Int64, key: String, uploadID: String) async throws -> [S3CompletedPart] {
        let count = Int((size + partSize - 1) / partSize)
        let concurrency = max(1, configuration.uploadConcurrency)
        return try await withThrowingTaskGroup(of: S3CompletedPart.self) { group in
            var next = 0
            var done: [S3CompletedPart] = []
            func schedule(_ index: Int) {
                let offset = Int64(index) * partSize
                let length = min(partSize, size - offset)
                group.addTask {
                    try await self.uploadPart(key: key, uploadID: uploadID, partNumber: index + 1, file: path, offset: offset, length: length)
                }
            }
            while next < min(concurrency, count) { schedule(next); next += 1 }
            while let part = try await group.next() {
                done.append(part)
                if next < count { schedule(next); next += 1 }
            }
            return done.sorted { $0.partNumber < $1.partNumber }
        }
    }

    /// SHA-256 (lowercase hex) of a whole file, read in 256 KiB chunks.
    public static func sha256Hex(ofFile path: String) throws -> String {
        try LocalFile.sha256(path: path, offset: 0, length: LocalFile.size(of: path))
    }

    // MARK: Presigned URLs

    /// A URL that performs `method` on `key` without credentials until it expires (1 s ... 7 days, S3's bounds).
    /// Only `host` is signed, and the payload is `UNSIGNED-PAYLOAD` (see ``SigV4Signer/unsignedPayload``).
    public func presignedURL(method: String = "GET", key: String, expiresIn: Duration, date: Date = Date()) -> String {
        let seconds = Int(min(max(expiresIn.components.seconds, 1), 604_800))
        let path = endpoint.path(key: key)
        let request = SigV4Signer.Request(method: method, path: path, headers: [("host", endpoint.hostHeader)])
        let signed = signer.presign(request, date: date, expires: seconds)
        return endpoint.url(path: path, query: signed.query)
    }

    // MARK: Requests

    enum RequestBody: Sendable {
        case bytes([UInt8])
        case file(path: String, offset: Int64, length: Int64)

        static let empty = RequestBody.bytes([])

        var length: Int64 {
            switch self {
            case .bytes(let b): Int64(b.count)
            case .file(_, _, let length): length
            }
        }
    }

    /// Sends one signed request and returns the response when its status is expected; otherwise reads S3's error
    /// document and throws it. Transport failures become S3Error `ConnectionFailed` or `Timeout`.
    func execute(_ operation: String, method: HTTPMethod, key: String?, query: [(name: String, value: String)] = [],
                 headers extra: [(name: String, value: String)] = [], body: RequestBody = .empty, payloadHash: String? = nil,
                 expect: Set<Int>) async throws -> HTTPClientResponse {
        let path = endpoint.path(key: key)
        var signedHeaders: [(name: String, value: String)] = [("Host", endpoint.hostHeader)] + extra
        let hash: String
        switch body {
        case .bytes(let bytes): hash = payloadHash ?? SigV4Signer.sha256Hex(bytes)
        case .file: hash = payloadHash!
        }
        let signature = signer.signHeaders(SigV4Signer.Request(method: method.rawValue, path: path, query: query, headers: signedHeaders),
                                           payloadHash: hash, date: Date())
        signedHeaders += signature.headersToAdd
        var request = HTTPClientRequest(url: endpoint.url(path: path, query: query))
        request.method = method
        for (name, value) in signedHeaders { request.headers.add(name: name, value: value) }
        switch body {
        case .bytes(let bytes):
            if !bytes.isEmpty || method == .PUT || method == .POST {
                request.body = .bytes(ByteBuffer(bytes: bytes))
            }
        case .file(let path, let offset, let length):
            request.body = .stream(FileChunks(path: path, offset: offset, length: length), length: .known(length))
        }
        // Until the response head: the timeout, plus the body's time at 1 MiB/s.
        let deadline = NIODeadline.now() + Self.timeAmount(configuration.requestTimeout) + .seconds(body.length >> 20)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, deadline: deadline, logger: logger)
        } catch {
            throw transportError(error, operation: operation, key: key)
        }
        guard expect.contains(Int(response.status.code)) else {
            throw await serviceError(operation: operation, key: key, response: response)
        }
        return response
    }

    /// A request whose answer is an XML document: S3 may answer 200 and still put an `<Error>` in it
    /// (CopyObject, CompleteMultipartUpload), which is thrown like any other error.
    func xmlRequest(_ operation: String, method: HTTPMethod, key: String?, query: [(name: String, value: String)] = [],
                    headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                    idempotent: Bool = true) async throws -> XMLElementNode {
        try await withRetries(operation, key: key, idempotent: idempotent) {
            let response = try await self.execute(operation, method: method, key: key, query: query, headers: headers,
                                                  body: .bytes(body), expect: [200])
            let data: ByteBuffer
            do {
                data = try await response.body.collect(upTo: 64 << 20)
            } catch {
                throw self.transportError(error, operation: operation, key: key)
            }
            guard let root = XMLElementNode.parse(Data(data.readableBytesView)) else {
                throw S3Error(operation: operation, endpoint: self.configuration.displayEndpoint, bucket: self.configuration.bucket,
                              key: key, code: "InvalidResponse", message: "the answer is not XML", status: Int(response.status.code))
            }
            if root.name == "Error" {
                throw self.error(from: root, operation: operation, key: key, status: Int(response.status.code),
                                 headers: response.headers)
            }
            return root
        }
    }

    /// Retries `body` on retryable errors with exponential backoff (base, 2x each time, at most 5 s) and full
    /// jitter. A non-idempotent request is retried only when S3 answered (it then did nothing).
    func withRetries<T>(_ operation: String, key: String?, idempotent: Bool = true,
                        _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let error as S3Error where error.isRetryable && attempt < configuration.maxAttempts
                && (idempotent || error.status != nil) {
                let base = Double(configuration.retryBaseDelay.components.seconds)
                    + Double(configuration.retryBaseDelay.components.attoseconds) / 1e18
                let cap = min(5.0, base * Double(1 << min(attempt - 1, 20)))
                let delay = Double.random(in: 0...cap)
                logger.warning("S3 \(operation) failed, retrying", metadata: [
                    "code": "\(error.code)", "status": "\(error.status.map(String.init) ?? "-")", "attempt": "\(attempt)",
                    "delay_ms": "\(Int(delay * 1000))", "endpoint": "\(configuration.displayEndpoint)",
                ])
                try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                attempt += 1
            }
        }
    }

    func serviceError(operation: String, key: String?, response: HTTPClientResponse) async -> S3Error {
        let status = Int(response.status.code)
        let data = try? await response.body.collect(upTo: 1 << 20)
        if let data, data.readableBytes > 0, let root = XMLElementNode.parse(Data(data.readableBytesView)), root.name == "Error" {
            return error(from: root, operation: operation, key: key, status: status, headers: response.headers)
        }
        // HEAD answers carry no body: name the status the way S3's SDKs do.
        let code: String = switch status {
        case 301: "PermanentRedirect"
        case 400: "BadRequest"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 409: "Conflict"
        case 412: "PreconditionFailed"
        case 503: "SlowDown"
        default: "HTTP\(status)"
        }
        return S3Error(operation: operation, endpoint: configuration.displayEndpoint, bucket: configuration.bucket, key: key,
                       code: code, message: response.status.reasonPhrase, requestID: response.headers.first(name: "x-amz-request-id"),
                       status: status)
    }

    func error(from root: XMLElementNode, operation: String, key: String?, status: Int, headers: HTTPHeaders) -> S3Error {
        S3Error(operation: operation, endpoint: configuration.displayEndpoint, bucket: configuration.bucket, key: key,
                code: root.value("Code") ?? "HTTP\(status)", message: root.value("Message") ?? "",
                requestID: root.value("RequestId") ?? headers.first(name: "x-amz-request-id"), status: status)
    }

    func transportError(_ error: Error, operation: String, key: String?) -> Error {
        if error is S3Error || error is CancellationError { return error }
        if let failure = error as? LocalFile.Failure {
            return S3Error(operation: operation, endpoint: configuration.displayEndpoint, bucket: configuration.bucket, key: key,
                           code: "LocalFileError", message: failure.description)
        }
        let timeout: Bool
        if let e = error as? HTTPClientError {
            timeout = [HTTPClientError.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(e)
        } else {
            timeout = false
        }
        return S3Error(operation: operation, endpoint: configuration.displayEndpoint, bucket: configuration.bucket, key: key,
                       code: timeout ? "Timeout" : "ConnectionFailed", message: "\(error)")
    }

    func localFile<T>(_ operation: String, key: String?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as LocalFile.Failure {
            throw S3Error(operation: operation, endpoint: configuration.displayEndpoint, bucket: configuration.bucket, key: key,
                          code: "LocalFileError", message: failure.description)
        }
    }

    func objectInfo(key: String, headers: HTTPHeaders, size: Int64) -> S3Object {
        S3Object(key: key, size: size, etag: headers.first(name: "etag"),
                 lastModified: headers.first(name: "last-modified").flatMap(S3Dates.rfc1123),
                 contentType: headers.first(name: "content-type"))
    }

    static func rangeHeader(_ range: ClosedRange<Int64>?) -> [(name: String, value: String)] {
        guard let range else { return [] }
        return [("Range", "bytes=\(range.lowerBound)-\(range.upperBound)")]
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
