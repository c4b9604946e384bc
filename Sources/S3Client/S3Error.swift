/// A failed S3 request: S3's own code, message and request id when the server answered, or a transport
/// problem (`code` ConnectionFailed, Timeout) when it did not. Names the operation, the object and the
/// endpoint; never a credential.
public struct S3Error: Error, Sendable, Hashable, CustomStringConvertible {
    /// "PutObject", "GetObject", "UploadPart", ...
    public var operation: String
    /// The endpoint as ``S3ClientConfiguration/displayEndpoint`` shows it (no user-info).
    public var endpoint: String
    public var bucket: String?
    public var key: String?
    /// S3's `Code` (`NoSuchKey`, `SignatureDoesNotMatch`, `SlowDown`, ...); for a body-less answer (HEAD) a name
    /// made from the status (`NotFound`, `Forbidden`); `ConnectionFailed` / `Timeout` when no answer came.
    public var code: String
    public var message: String
    public var requestID: String?
    /// HTTP status when the server answered.
    public var status: Int?

    public init(operation: String, endpoint: String, bucket: String? = nil, key: String? = nil, code: String,
                message: String, requestID: String? = nil, status: Int? = nil) {
        self.operation = operation
        self.endpoint = endpoint
        self.bucket = bucket
        self.key = key
        self.code = code
        self.message = message
        self.requestID = requestID
        self.status = status
    }

    /// Worth another try: the server's fault or overload (5xx, SlowDown, RequestTimeout), or no answer at all.
    public var isRetryable: Bool {
        if let status {
            return status >= 500 || status == 429 || ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"].contains(code)
        }
        return code == "ConnectionFailed" || code == "Timeout"
    }

    public var description: String {
        var object = ""
        if let bucket { object = " s3://\(bucket)" + (key.map { "/\($0)" } ?? "") }
        let http = status.map { " (HTTP \($0))" } ?? ""
        let request = requestID.map { ", request id \($0)" } ?? ""
        return "S3 \(operation)\(object) at \(endpoint) failed: \(code)\(http): \(message)\(request)"
    }
}
