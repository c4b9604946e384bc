import Foundation

/// Where and how to reach one bucket. Defaults follow AWS: region us-east-1, parts of 8 MiB.
public struct S3ClientConfiguration: Sendable {
    /// `http(s)://host[:port]` of an S3-compatible server; nil means AWS itself (`https://s3.REGION.amazonaws.com`).
    public var endpoint: String?
    public var bucket: String
    /// Part of every signature's scope. Default us-east-1 (what SeaweedFS and MinIO accept unless configured).
    public var region: String
    public var credentials: AWSCredentials
    /// Path-style (`endpoint/bucket/key`) or virtual-hosted (`bucket.endpoint/key`). nil: path-style for a custom
    /// endpoint (local servers rarely have wildcard DNS), virtual-hosted for AWS (its default since 2020).
    public var pathStyle: Bool?
    /// Bytes per multipart part. Default 8 MiB; S3 requires at least 5 MiB for every part but the last.
    public var partSize: Int
    /// Files larger than this go up in parts. Default: the part size.
    public var multipartThreshold: Int?
    /// Parts in flight at once. Default 2: each holds one connection and no more than a read buffer in memory.
    public var uploadConcurrency: Int
    /// Longest wait for a response's head (and, for a body, the time it takes at 1 MiB/s on top), and the longest
    /// silence while a response body streams. Default 60 s.
    public var requestTimeout: Duration
    /// Tries of one request that fails with 5xx, SlowDown or a connection error. Default 4.
    public var maxAttempts: Int
    /// First backoff; doubled each retry up to 5 s, with full jitter. Default 200 ms.
    public var retryBaseDelay: Duration

    public static let minimumPartSize = 5 * 1024 * 1024
    public static let defaultPartSize = 8 * 1024 * 1024

    public init(endpoint: String?, bucket: String, region: String = "us-east-1", credentials: AWSCredentials,
                pathStyle: Bool? = nil, partSize: Int = S3ClientConfiguration.defaultPartSize,
                multipartThreshold: Int? = nil, uploadConcurrency: Int = 2, requestTimeout: Duration = .seconds(60),
                maxAttempts: Int = 4, retryBaseDelay: Duration = .milliseconds(200)) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.credentials = credentials
        self.pathStyle = pathStyle
        self.partSize = partSize
        self.multipartThreshold = multipartThreshold
        self.uploadConcurrency = uploadConcurrency
        self.requestTimeout = requestTimeout
        self.maxAttempts = maxAttempts
        self.retryBaseDelay = retryBaseDelay
    }

    /// Refuses what S3 would refuse later, naming the setting.
    public func validate() throws {
        func fail(_ text: String) -> S3Error {
            S3Error(operation: "configure", endpoint: displayEndpoint, code: "InvalidConfiguration", message: text)
        }
        guard !bucket.isEmpty else { throw fail("the bucket name is empty") }
        guard !region.isEmpty else { throw fail("the region is empty") }
        guard !credentials.accessKeyID.isEmpty, !credentials.secretAccessKey.isEmpty else {
            throw fail("the access key id or the secret access key is empty")
        }
        guard partSize >= Self.minimumPartSize, partSize <= 5 * 1024 * 1024 * 1024 else {
            throw fail("the part size \(partSize) is outside 5 MiB...5 GiB (S3's limits)")
        }
        guard uploadConcurrency >= 1, maxAttempts >= 1, requestTimeout > .zero else {
            throw fail("upload concurrency, attempts and the request timeout must be positive")
        }
        guard let parsed = try? Endpoint(self) else { throw fail("the endpoint '\(displayEndpoint)' is not an http(s) URL") }
        if !parsed.pathStyle && bucket.contains(".") && parsed.scheme == "https" {
            throw fail("bucket '\(bucket)' has a dot: virtual-hosted addressing over https cannot match the certificate; use path-style")
        }
    }

    /// The endpoint without any user-info or query: what messages show.
    public var displayEndpoint: String {
        guard let endpoint else { return "https://s3.\(region).amazonaws.com" }
        guard var components = URLComponents(string: endpoint) else { return "(unparsable endpoint)" }
        components.user = nil
        components.password = nil
        components.query = nil
        return components.string ?? "(unparsable endpoint)"
    }
}

/// The endpoint taken apart once: scheme, host, port, and the addressing style.
struct Endpoint: Sendable {
    var scheme: String
    var host: String
    var port: Int?
    var pathStyle: Bool
    var bucket: String

    struct Invalid: Error {}

    init(_ configuration: S3ClientConfiguration) throws {
        let text = configuration.endpoint ?? "https://s3.\(configuration.region).amazonaws.com"
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else { throw Invalid() }
        self.scheme = scheme
        self.host = host
        self.port = components.port
        self.pathStyle = configuration.pathStyle ?? (configuration.endpoint != nil)
        self.bucket = configuration.bucket
    }

    /// `Host` as signed and sent: the port only when it is not the scheme's default.
    var hostHeader: String {
        let h = pathStyle ? host : "\(bucket).\(host)"
        guard let port, !(scheme == "http" && port == 80), !(scheme == "https" && port == 443) else { return h }
        return "\(h):\(port)"
    }

    /// The decoded path of an object (`key` non-nil) or of the bucket.
    func path(key: String?) -> String {
        let base = pathStyle ? "/\(bucket)" : ""
        guard let key else { return base.isEmpty ? "/" : base }
        return "\(base)/\(key)"
    }

    func url(path: String, query: [(name: String, value: String)]) -> String {
        let encodedQuery = query.isEmpty ? "" : "?" + SigV4Signer.encodeQuery(query)
        return "\(scheme)://\(hostHeader)\(SigV4Signer.encodePath(path))\(encodedQuery)"
    }
}
