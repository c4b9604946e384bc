// The object-store contract: the file manager stores uploads through it; VectorStreamS3 and the embedded
// directory store implement it. Two engineers rely on this exact shape: change it only together.

/// An object as a store reports it.
public struct StoredObject: Sendable, Hashable, Codable {
    public var key: String
    public var size: Int64
    public var etag: String?
    /// Milliseconds since the epoch, when the store reports it.
    public var lastModified: EpochMillis?

    public init(key: String, size: Int64, etag: String? = nil, lastModified: EpochMillis? = nil) {
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
    }
}

/// Where uploaded files live: S3-compatible storage (VectorStreamS3) or a directory (the embedded default).
/// Paths are local files, so that any size goes through bounded memory (implementations stream from and to disk).
public protocol ObjectStore: Sendable {
    /// For messages: "s3://BUCKET at ENDPOINT" or "directory PATH" (never credentials).
    var location: String { get }
    /// Stores the file at `path` under `key` (S3: multipart above the part size); returns what was stored.
    func upload(file path: String, to key: String, contentType: String) async throws -> StoredObject
    /// Writes the object to `path` (replacing it), streamed; throws ObjectStoreError.notFound when absent.
    func download(key: String, to path: String) async throws -> StoredObject
    /// nil when the object does not exist.
    func head(key: String) async throws -> StoredObject?
    /// Deleting an absent key is not an error.
    func delete(key: String) async throws
    /// Keys after `startAfter` in lexicographic order, at most `limit`, and whether more remain.
    func list(prefix: String, startAfter: String?, limit: Int) async throws -> (objects: [StoredObject], isTruncated: Bool)
    /// A URL a client can GET the object from without credentials for `expiresIn` (S3: presigned); nil where the store has none.
    func downloadURL(key: String, expiresIn: Duration) async throws -> String?
    /// Aborts multipart uploads (S3) or removes partial files (directory) started before `olderThan` ago,
    /// left by a killed process; returns how many. Called at start.
    func removeIncompleteUploads(olderThan: Duration) async throws -> Int
}

public enum ObjectStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    case notFound(key: String)
    /// The store refused or failed: its code (e.g. S3's "SignatureDoesNotMatch"), message and request id where known.
    case failed(location: String, operation: String, code: String, message: String, requestID: String?)

    /// Names the location, operation and code; never credentials (the location never carries any).
    public var description: String {
        switch self {
        case .notFound(let key):
            "object '\(key)' not found"
        case .failed(let location, let operation, let code, let message, let requestID):
            "\(operation) on \(location) failed: \(code): \(message)" + (requestID.map { " (request id \($0))" } ?? "")
        }
    }
}
