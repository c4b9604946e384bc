import Foundation
import Logging
/// Users of the store see the client's types (S3Error, S3ClientConfiguration) without importing it themselves.
@_exported import S3Client
import VectorStreamCore

/// The object store on S3-compatible storage (AWS S3, SeaweedFS, MinIO): every operation of the contract on one
/// bucket, files streamed from and to disk, multipart above the part size.
public final class S3ObjectStore: ObjectStore {
    public let client: S3Client

    public init(client: S3Client) {
        self.client = client
    }

    public convenience init(configuration: S3ClientConfiguration, logger: Logger = Logger(label: "vectorstream.s3")) throws {
        self.init(client: try S3Client(configuration: configuration, logger: logger))
    }

    public func shutdown() async throws { try await client.shutdown() }

    public var location: String { client.location }

    public func upload(file path: String, to key: String, contentType: String) async throws -> StoredObject {
        let object = try await mapped("upload", key: key) { try await self.client.uploadFile(path, key: key, contentType: contentType) }
        return Self.stored(object)
    }

    public func download(key: String, to path: String) async throws -> StoredObject {
        let object = try await mapped("download", key: key) { try await self.client.getObject(key: key, to: path) }
        return Self.stored(object)
    }

    public func head(key: String) async throws -> StoredObject? {
        try await mapped("head", key: key) { try await self.client.headObject(key: key) }.map(Self.stored)
    }

    public func delete(key: String) async throws {
        try await mapped("delete", key: key) { try await self.client.deleteObject(key: key) }
    }

    public func list(prefix: String, startAfter: String?, limit: Int) async throws -> (objects: [StoredObject], isTruncated: Bool) {
        // S3 returns at most 1,000 keys per page: ask page after page until `limit` are gathered.
        var objects: [StoredObject] = []
        var token: String?
        var truncated = false
        repeat {
            let want = min(1000, max(1, limit - objects.count))
            let page = try await mapped("list", key: nil) {
                try await self.client.listObjectsV2(prefix: prefix.isEmpty ? nil : prefix, startAfter: token == nil ? startAfter : nil,
                                                    continuationToken: token, maxKeys: want)
            }
            objects += page.objects.map(Self.stored)
            truncated = page.isTruncated
            token = page.nextContinuationToken
        } while truncated && token != nil && objects.count < limit
        if objects.count > limit {
            objects.removeLast(objects.count - limit)
            truncated = true
        }
        return (objects, truncated)
    }

    public func downloadURL(key: String, expiresIn: Duration) async throws -> String? {
        client.presignedURL(method: "GET", key: key, expiresIn: expiresIn)
    }

    /// Aborts every multipart upload of the bucket initiated more than `olderThan` ago (an upload of a running
    /// process is younger). Uploads S3 reports without an initiation time are aborted too.
    public func removeIncompleteUploads(olderThan: Duration) async throws -> Int {
        let uploads = try await mapped("removeIncompleteUploads", key: nil) { try await self.client.listAllMultipartUploads() }
        let cutoff = Date().addingTimeInterval(-Double(olderThan.components.seconds))
        var aborted = 0
        for upload in uploads where upload.initiated.map({ $0 <= cutoff }) ?? true {
            let outcome = try await mapped("removeIncompleteUploads", key: upload.key) {
                try await self.client.abortMultipartUpload(key: upload.key, uploadID: upload.uploadID)
            }
            if outcome == .aborted { aborted += 1 }
        }
        return aborted
    }

    static func stored(_ object: S3Object) -> StoredObject {
        StoredObject(key: object.key, size: object.size, etag: object.etag,
                     lastModified: object.lastModified.map { EpochMillis(($0.timeIntervalSince1970 * 1000).rounded()) })
    }

    /// S3's errors as the contract's: absent objects as `notFound`, the rest with S3's code, message and request id.
    func mapped<T>(_ operation: String, key: String?, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as S3Error {
            if let key, error.status == 404, ["NoSuchKey", "NotFound"].contains(error.code) {
                throw ObjectStoreError.notFound(key: key)
            }
            throw ObjectStoreError.failed(location: location, operation: "\(operation) (\(error.operation))", code: error.code,
                                          message: error.message + (error.status.map { " (HTTP \($0))" } ?? ""),
                                          requestID: error.requestID)
        }
    }
}
